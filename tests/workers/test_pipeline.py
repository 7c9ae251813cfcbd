"""Pipeline steps called directly (as the tasks do): sweeping, failing once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import (
    AppSettings,
    CoreSettings,
    GatewaySettings,
    ObservabilitySettings,
    UISettings,
    WorkerSettings,
)
from jobs.keys import input_key, job_key, part_key, plan_key, sources_key, upload_mark_key
from jobs.models import RUNNING, JobRecord
from workers.context import WorkerContext
from workers.pipeline import fail_job, sweep_orphans


@pytest.fixture
def ctx(redis_url: str, tmp_path: Path) -> Iterator[WorkerContext]:
    from urllib.parse import urlparse

    url = urlparse(redis_url)._replace(path="/3").geturl()
    settings = AppSettings(
        CoreSettings(redis_url=url, blob_url=(tmp_path / "blobs").as_uri(), state_dir=tmp_path),
        GatewaySettings(),
        WorkerSettings(),
        UISettings(),
        ObservabilitySettings(),
    )
    context = WorkerContext.open(settings)
    context.jobs.client.flushdb()
    yield context
    context.close()


def _job(ctx: WorkerContext, job_id: str) -> None:
    record = JobRecord(
        id=job_id,
        owner="alice",
        status=RUNNING,
        filename="x.csv",
        input_key=input_key(job_id),
        input_bytes=1,
        model_version="1",
    )
    ctx.jobs.put(record)


def test_sweep_deletes_blobs_whose_job_record_expired(ctx: WorkerContext) -> None:
    for job_id in ("alive", "expired", "uploading"):
        ctx.blobs.put_bytes(input_key(job_id), b"x")
    for job_id in ("alive", "expired"):
        ctx.blobs.put_bytes(plan_key(job_id), b"{}")  # a planned job's plan is in its folder
    _job(ctx, "alive")
    ctx.jobs.client.set(upload_mark_key("uploading"), "1")

    removed = sweep_orphans(ctx)

    assert removed == ["expired"]
    assert ctx.blobs.size(input_key("alive")) == 1
    assert ctx.blobs.size(input_key("expired")) is None
    assert ctx.blobs.size(plan_key("expired")) is None
    assert ctx.blobs.size(plan_key("alive")) == 2
    assert ctx.blobs.size(input_key("uploading")) == 1


def test_sweep_keeps_a_marked_file_list_and_removes_it_once_the_mark_is_gone(
    ctx: WorkerContext,
) -> None:
    # A pointer job's file list is written before its record: the gateway died between.
    ctx.blobs.put_bytes(sources_key("submitting"), b"[]")
    ctx.jobs.client.set(upload_mark_key("submitting"), "1", ex=60)

    assert sweep_orphans(ctx) == []
    ctx.jobs.client.delete(upload_mark_key("submitting"))  # the mark expires (6 h)
    removed = sweep_orphans(ctx)

    assert removed == ["submitting"]
    assert ctx.blobs.size(sources_key("submitting")) is None


def test_fail_job_happens_once_and_drops_parts(ctx: WorkerContext) -> None:
    _job(ctx, "j1")
    ctx.blobs.put_bytes(part_key("j1", 0), b"rows")

    assert fail_job(ctx, "j1", "chunk 0 failed 3 times")
    assert not fail_job(ctx, "j1", "again")

    record = ctx.jobs.get("j1")
    assert record is not None
    assert record.error == "chunk 0 failed 3 times"
    assert ctx.blobs.size(part_key("j1", 0)) is None
    assert 0 < ctx.jobs.client.ttl(job_key("j1")) <= WorkerSettings().result_ttl_seconds

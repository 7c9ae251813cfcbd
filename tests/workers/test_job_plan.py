"""The chunk plan and a pointer job's file list live in the blob store: a chunk step reads
the same few fields whatever the job's size, and never the plan; jobs planned the old way
(plan or file list in the hash) finish."""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from core.settings import (
    AppSettings,
    CoreSettings,
    GatewaySettings,
    ObservabilitySettings,
    UISettings,
    WorkerSettings,
)
from jobs.blobs import BLOCK_BYTES
from jobs.file_list import save_sources
from jobs.keys import input_key, job_key, job_prefix, manifest_key, plan_key, sources_key
from jobs.manifest import ResultManifest
from jobs.models import FAILED, SUCCEEDED, JobRecord
from jobs.pointer import SourceFile
from jobs.store import STEP_FIELDS, JobStore
from jobs.sync_blobs import SyncBlobStore
from tests.support.houses import houses_csv
from tests.support.model import ModelRegistry
from workers import pipeline
from workers.chunking import InputLimits, plan_chunks
from workers.context import WorkerContext
from workers.job_plan import ChunkTask
from workers.model_cache import ModelCache

ROWS_PER_CHUNK = 10


class ReadCountingBlobs(SyncBlobStore):
    """A blob store that notes the key of every read."""

    def __init__(self, url: str) -> None:
        opened = SyncBlobStore.open(url)
        super().__init__(opened.store)
        self.reads: list[str] = []

    def get_range(self, key: str, start: int, end: int) -> bytes:
        self.reads.append(key)
        return super().get_range(key, start, end)

    def iter_bytes(self, key: str, *, block: int = BLOCK_BYTES) -> Generator[bytes, None, None]:
        self.reads.append(key)
        return super().iter_bytes(key, block=block)


class GetCountingJobs(JobStore):
    """A job store that counts whole-record reads (``get``: every field of the hash)."""

    def __init__(self, url: str) -> None:
        store = JobStore.from_url(url, ttl_seconds=3600)
        super().__init__(store.client, ttl_seconds=3600)
        self.whole_reads = 0

    def get(self, job_id: str) -> JobRecord | None:
        self.whole_reads += 1
        return super().get(job_id)


@pytest.fixture
def ctx(redis_url: str, tmp_path: Path, model_registry: ModelRegistry) -> Iterator[WorkerContext]:
    """A worker's context on Redis database 4 with the session's model, without audit."""
    url = urlparse(redis_url)._replace(path="/4").geturl()
    core = CoreSettings(
        redis_url=url,
        blob_url=(tmp_path / "blobs").as_uri(),
        state_dir=tmp_path,
        mlflow_tracking_uri=model_registry.tracking_uri,
        audit_enabled=False,
    )
    settings = AppSettings(
        core,
        GatewaySettings(),
        WorkerSettings(chunk_rows=ROWS_PER_CHUNK),
        UISettings(),
        ObservabilitySettings(),
    )
    jobs = GetCountingJobs(url)
    jobs.client.flushdb()
    context = WorkerContext(
        settings=settings,
        jobs=jobs,
        blobs=ReadCountingBlobs(core.resolved_blob_url()),
        models=ModelCache(core),
    )
    yield context
    context.close()


def upload_job(ctx: WorkerContext, job_id: str, rows: int, version: str) -> bytes:
    """A queued upload job of ``rows`` houses; returns its input."""
    data = houses_csv(rows, seed=len(job_id))
    ctx.blobs.put_bytes(input_key(job_id), data)
    record = JobRecord(
        id=job_id,
        owner="alice",
        filename="houses.csv",
        input_key=input_key(job_id),
        input_bytes=len(data),
        model_version=version,
    )
    ctx.jobs.put(record)
    return data


def plan(ctx: WorkerContext, job_id: str) -> tuple[list[ChunkTask], list[str]]:
    """Run the plan step; the chunk messages it queued and the finalize steps it asked for."""
    queued: list[ChunkTask] = []
    finalize: list[str] = []
    pipeline.plan_job(
        ctx,
        job_id,
        enqueue_chunks=lambda owner, chunks: queued.extend(chunks),
        enqueue_finalize=finalize.append,
    )
    return queued, finalize


def score_all(ctx: WorkerContext, tasks: list[ChunkTask]) -> list[str]:
    """Run every chunk step, then finalize once all asked for it."""
    finalize: list[str] = []
    outcomes = [
        pipeline.score_chunk_job(ctx, task, enqueue_finalize=finalize.append) for task in tasks
    ]
    assert finalize, outcomes
    return [*outcomes, pipeline.finalize_job(ctx, finalize[0])]


def step_read_bytes(ctx: WorkerContext, job_id: str) -> int:
    """Bytes of the hash fields a chunk step reads (names and values)."""
    values = ctx.jobs.client.hmget(job_key(job_id), STEP_FIELDS)
    return sum(len(n) + len(v) for n, v in zip(STEP_FIELDS, values, strict=True) if v is not None)


def hash_bytes(ctx: WorkerContext, job_id: str) -> int:
    """Bytes of the whole job hash (names and values)."""
    return sum(len(n) + len(v) for n, v in ctx.jobs.client.hgetall(job_key(job_id)).items())


def test_a_chunk_step_reads_the_same_few_fields_and_no_plan_however_many_chunks(
    ctx: WorkerContext, model_registry: ModelRegistry
) -> None:
    blobs, jobs = ctx.blobs, ctx.jobs
    assert isinstance(blobs, ReadCountingBlobs)
    assert isinstance(jobs, GetCountingJobs)
    sizes: dict[int, tuple[int, int, int]] = {}
    for chunks in (20, 90):
        job_id = f"job-of-{chunks}-chunks"
        upload_job(ctx, job_id, chunks * ROWS_PER_CHUNK, model_registry.version)
        queued, _ = plan(ctx, job_id)
        assert len(queued) == chunks
        plan_size = blobs.size(plan_key(job_id)) or 0
        sizes[chunks] = (hash_bytes(ctx, job_id), step_read_bytes(ctx, job_id), plan_size)

    # The plan (about 70 bytes a chunk) grew with the chunks; the hash did not (a digit of a
    # timestamp may differ): the old hash held the plan and grew by the plan's growth.
    plan_growth = sizes[90][2] - sizes[20][2]
    assert plan_growth > 70 * 60
    assert abs(sizes[90][0] - sizes[20][0]) < 8
    assert abs(sizes[90][1] - sizes[20][1]) < 8

    task = queued[57]  # of the 90-chunk job: its message says where its rows start
    assert task.first_row == 57 * ROWS_PER_CHUNK + 1
    blobs.reads.clear()
    jobs.whole_reads = 0
    assert pipeline.score_chunk_job(ctx, task, enqueue_finalize=lambda _: None) == "counted"
    assert blobs.reads == [input_key(task.job_id)]  # its own byte range: no plan
    assert jobs.whole_reads == 0  # only the step's fields (HMGET), never the whole hash


def test_a_redelivered_plan_step_queues_the_same_chunks_from_the_stored_plan(
    ctx: WorkerContext, model_registry: ModelRegistry
) -> None:
    upload_job(ctx, "twice", 35, model_registry.version)
    first, _ = plan(ctx, "twice")
    assert ctx.blobs.size(plan_key("twice"))
    record = ctx.jobs.get("twice")
    assert record is not None
    assert (record.plan, record.plan_blob, record.chunks_total) == (None, plan_key("twice"), 4)
    assert pipeline.score_chunk_job(ctx, first[1], enqueue_finalize=lambda _: None) == "counted"
    ctx.blobs.put_bytes(input_key("twice"), b"\x00")  # a second plan would fail the job

    again, _ = plan(ctx, "twice")

    assert again == [first[0], *first[2:]]  # the counted chunk is not queued again
    assert [t.first_row for t in first] == [1, 11, 21, 31]


def test_a_plan_step_killed_before_marking_the_job_plans_again_the_same(
    ctx: WorkerContext, model_registry: ModelRegistry
) -> None:
    data = upload_job(ctx, "killed", 25, model_registry.version)
    limits = InputLimits(chunk_rows=ROWS_PER_CHUNK)
    ctx.blobs.put_bytes(plan_key("killed"), b"{}")  # a partial plan blob, no mark on the job

    queued, _ = plan(ctx, "killed")

    expected = plan_chunks([data], limits=limits)
    assert [(t.start, t.end) for t in queued] == [(c.start, c.end) for c in expected.chunks]
    stored = json.loads(ctx.blobs.read_bytes(plan_key("killed")))
    assert stored["rows_total"] == 25


def test_a_job_planned_the_old_way_still_finishes(
    ctx: WorkerContext, model_registry: ModelRegistry
) -> None:
    data = upload_job(ctx, "old", 30, model_registry.version)
    old_plan = plan_chunks([data], limits=InputLimits(chunk_rows=ROWS_PER_CHUNK))
    ctx.jobs.start("old")
    ctx.jobs.client.hset(  # as a worker before the upgrade left it: the plan in the hash
        job_key("old"),
        mapping={
            "plan": json.dumps(old_plan.to_json()),
            "columns": json.dumps(old_plan.columns),
            "feature_positions": json.dumps(old_plan.feature_positions),
            "rows_total": str(old_plan.rows_total),
            "chunks_total": str(len(old_plan.chunks)),
        },
    )
    chunk = old_plan.chunks[2]
    in_flight = ChunkTask("old", 2, chunk.start, chunk.end)  # an old message: five fields

    assert pipeline.score_chunk_job(ctx, in_flight, enqueue_finalize=lambda _: None) == "counted"
    queued, _ = plan(ctx, "old")  # the plan step delivered again after the upgrade
    assert [t.index for t in queued] == [0, 1]
    assert [t.first_row for t in queued] == [1, 11]
    outcomes = score_all(ctx, queued)

    assert outcomes == ["counted", "counted", "succeeded"]
    record = ctx.jobs.get("old")
    assert record is not None
    assert (record.status, record.rows_done, record.plan_blob) == (SUCCEEDED, 30, "")
    manifest = ResultManifest.model_validate_json(ctx.blobs.read_bytes(manifest_key("old")))
    assert [p.rows for p in manifest.parts] == [10, 10, 10]
    assert ctx.blobs.size(plan_key("old")) is None


def test_a_blob_planned_job_finishes_with_every_row_numbered_once(
    ctx: WorkerContext, model_registry: ModelRegistry
) -> None:
    upload_job(ctx, "new", 23, model_registry.version)
    queued, _ = plan(ctx, "new")

    assert score_all(ctx, list(reversed(queued)))[-1] == "succeeded"
    record = ctx.jobs.get("new")
    assert record is not None
    assert (record.status, record.rows_done) == (SUCCEEDED, 23)
    assert "plan" not in ctx.jobs.client.hkeys(job_key("new"))
    manifest = ResultManifest.model_validate_json(ctx.blobs.read_bytes(manifest_key("new")))
    assert [p.rows for p in manifest.parts] == [10, 10, 3]


def pointer_job(
    ctx: WorkerContext, job_id: str, version: str, *, files: int, list_in_hash: bool = False
) -> bytes:
    """A queued job from a pointer to ``files`` CSV files of 12 houses each, its file list
    in the blob store as the gateway writes it (or in its hash, as before); returns the
    houses in order (one header)."""
    data = houses_csv(12 * files, seed=files)
    header, *rows = data.splitlines(keepends=True)
    sources = []
    for n in range(files):
        body = header + b"".join(rows[12 * n : 12 * (n + 1)])
        key = f"inputs/alice/{job_id}/{n:03d}.csv"
        ctx.blobs.put_bytes(key, body)
        sources.append(SourceFile(key=key, format="csv", bytes=len(body)))
    record = JobRecord(
        id=job_id,
        owner="alice",
        filename=job_id,
        input_key=f"inputs/alice/{job_id}/",
        model_version=version,
        input_files=0 if list_in_hash else files,
        sources_blob=""
        if list_in_hash
        else ctx.blobs.run(save_sources(ctx.blobs.store, job_id, sources)),
        sources=[s.model_dump() for s in sources] if list_in_hash else None,
    )
    ctx.jobs.put(record)
    return data


@pytest.mark.parametrize("list_in_hash", [False, True], ids=["list-blob", "list-in-hash"])
def test_a_pointer_job_plans_from_its_file_list_wherever_it_is_kept(
    ctx: WorkerContext, model_registry: ModelRegistry, list_in_hash: bool
) -> None:
    pointer_job(ctx, "files", model_registry.version, files=3, list_in_hash=list_in_hash)
    fields = ctx.jobs.client.hkeys(job_key("files"))
    assert ("sources" in fields) == list_in_hash  # new jobs: only the count and the blob's key

    queued, _ = plan(ctx, "files")

    assert [t.file["key"] for t in queued if t.file] == [
        f"inputs/alice/files/{n:03d}.csv" for n in range(3) for _ in range(2)
    ]
    assert [t.first_row for t in queued] == [1, 11, 13, 23, 25, 35]
    assert score_all(ctx, queued)[-1] == "succeeded"
    record = ctx.jobs.get("files")
    assert record is not None
    assert (record.status, record.rows_done) == (SUCCEEDED, 36)
    assert record.to_job().input_files == 3


def test_a_pointer_job_whose_file_list_is_gone_fails_saying_so(
    ctx: WorkerContext, model_registry: ModelRegistry
) -> None:
    pointer_job(ctx, "lost", model_registry.version, files=2)
    ctx.blobs.delete_prefix(job_prefix("lost"))
    assert ctx.blobs.size(sources_key("lost")) is None

    queued, _ = plan(ctx, "lost")

    record = ctx.jobs.get("lost")
    assert record is not None
    assert queued == []
    assert (record.status, record.error) == (
        FAILED,
        "the job's list of input files is gone; submit it again",
    )

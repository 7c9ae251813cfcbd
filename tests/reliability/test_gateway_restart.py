"""The gateway stopped in the middle of an upload: the client gets an error, no job is half-made.

The upload streams to a temp file that only becomes the job's input when the body is
complete, and the job record is written after that, so a gateway killed mid-upload leaves
no job (nothing listed, nothing queued) and only a temp file, which the orphan sweep
deletes once the upload mark expires. A gateway stopped with SIGTERM (a deploy) either
finishes the upload (a whole job, its input intact) or refuses it; never half of one.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from jobs.keys import job_key, upload_mark_key
from tests.support.batch_env import BatchEnv
from tests.support.gateway_process import start_gateway, stop_gateway
from tests.support.houses import HEADER
from tests.support.keys import ALICE
from tests.support.redis_state import flush

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

BLOCK = b"1656,3,1.5,North Ames,1960,Average\n" * 30_000  # ~1 MB of valid rows
SIGNAL_AFTER = 20
TOTAL_BLOCKS = 40


@pytest.fixture(scope="module")
def env(batch_env: BatchEnv) -> BatchEnv:
    """Redis database 9; no worker listens, so a created job would stay visible as queued."""
    env = batch_env.with_database(9)
    flush(env.redis_url)
    return env


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_gateway_stopped_during_upload_leaves_no_half_job(
    env: BatchEnv, tmp_path: Path, how: str
) -> None:
    gateway = start_gateway(env, tmp_path / "gw.log")
    client = redis.Redis.from_url(env.redis_url, decode_responses=True)
    jobs_before = set(client.scan_iter(job_key("*")))
    folders_before = set(_job_folders(env))  # other tests' jobs share the blob folder
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        yield (HEADER + "\n").encode()
        for i in range(TOTAL_BLOCKS):
            if i == SIGNAL_AFTER:
                gateway.process.send_signal(getattr(signal, how))
            sent += len(BLOCK)
            yield BLOCK

    try:
        response: httpx.Response | None = httpx.post(
            f"{gateway.url}/v1/jobs",
            content=body(),
            headers={**ALICE, "Content-Type": "text/csv"},
            timeout=60,
        )
        error = None
    except httpx.HTTPError as exc:
        response, error = None, type(exc).__name__
    gateway.process.wait(timeout=60)
    new_jobs = set(client.scan_iter(job_key("*"))) - jobs_before
    uploads = [key.split(":")[-1] for key in client.scan_iter(upload_mark_key("*"))]
    restarted = start_gateway(env, tmp_path / "gw2.log")
    try:
        listed = httpx.get(f"{restarted.url}/v1/jobs", headers=ALICE, timeout=30).json()["jobs"]
    finally:
        stop_gateway(restarted)
        client.close()

    folders = {
        p.name: sorted(f.name for f in p.rglob("*"))
        for p in _job_folders(env)
        if p not in folders_before
    }
    print(
        f"\ngateway {how} after {SIGNAL_AFTER} MB of {TOTAL_BLOCKS} MB: client saw "
        f"{response.status_code if response else error}; new job records={len(new_jobs)} "
        f"listed after restart={len(listed)} blob folders={folders}"
    )
    if response is None or response.status_code != 202:
        assert not new_jobs  # no job record, nothing listed, nothing queued
        assert not listed
        for name, files in folders.items():
            assert "input.csv" not in files, name  # only a temp file, never a named input
            assert name in uploads  # marked as an upload in progress: the sweep waits, then deletes
    else:  # a graceful stop finished the upload: the job must be whole
        job = response.json()
        assert [j["id"] for j in listed] == [job["id"]]
        input_file = env.state_dir / "blobs" / "jobs" / job["id"] / "input.csv"
        assert input_file.stat().st_size == sent + len(HEADER) + 1
    if how == "SIGKILL":
        assert response is None  # the connection died under the client


def _job_folders(env: BatchEnv) -> list[Path]:
    root = env.state_dir / "blobs" / "jobs"
    return sorted(root.iterdir()) if root.is_dir() else []

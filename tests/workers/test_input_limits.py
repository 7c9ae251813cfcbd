"""Hostile sizes through a real gateway and worker: each fails fast, plainly, in bounded memory.

| input                                   | outcome                                                |
|-----------------------------------------|--------------------------------------------------------|
| a header of 1,000,000 columns (7 MB)    | failed: the header row is larger than 64 KiB           |
| 5,006 short columns (30 KB)             | failed: 5,006 columns, at most 1,000                   |
| two duplicate 10 MiB column names       | failed on the header size; error, list, log all short  |
| two duplicate 30,000-character names    | failed: duplicate names, cut to 500 characters         |
| 120 MB on line 2, no newline            | failed: line 2 larger than the row limit; no retry     |
| one 120 MB row among short ones         | failed the same way; worker memory stays flat          |
| a chunk that hangs (soft limit heard)   | failed: chunk 0 did not finish within the soft limit   |
| a chunk that hangs deaf to the soft one | the process is killed at the hard limit, job failed    |

The worker runs with a 2 MiB row limit (``HPP_MAX_RECORD_BYTES``) so the long-line files
can stay at 120 MB, and with 2 s / 4 s time limits and the hang hook armed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import httpx
import psutil
import pytest

from tests.support.batch_env import BatchEnv
from tests.support.fault_injection import DEAF_SUFFIX, armed
from tests.support.gateway_process import GatewayProcess, start_gateway, stop_gateway
from tests.support.houses import HEADER, houses_csv
from tests.support.jobs import submit, wait_final
from tests.support.keys import ALICE
from tests.support.redis_state import flush
from tests.support.worker_process import StartWorker, WorkerProcess

GOOD = "1656,3,1.5,North Ames,1960,Average"
ROW_LIMIT = 2 << 20
SOFT_SECONDS, HARD_SECONDS = 2, 4
HANG = "hang-here"
LONG_BYTES = 120 << 20
MAX_ERROR_CHARS = 600  # "the file cannot be read: " and the reason, cut at 500


@dataclass
class Stack:
    """A gateway and a worker sharing one Redis database."""

    env: BatchEnv
    gateway: GatewayProcess
    worker: WorkerProcess
    http: httpx.Client


@pytest.fixture(scope="module")
def stack(
    batch_env: BatchEnv, start_worker: StartWorker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Redis database 3: the limits above, one worker, one gateway."""
    env = batch_env.with_database(
        3,
        extra={
            "HPP_MAX_RECORD_BYTES": str(ROW_LIMIT),
            "HPP_TASK_SOFT_TIME_LIMIT_SECONDS": str(SOFT_SECONDS),
            "HPP_TASK_TIME_LIMIT_SECONDS": str(HARD_SECONDS),
            **armed(hang=HANG),
        },
    )
    flush(env.redis_url)
    worker = start_worker(env)
    gateway = start_gateway(env, tmp_path_factory.mktemp("limits") / "gateway.log")
    with httpx.Client(base_url=gateway.url, timeout=120) as http:
        yield Stack(env, gateway, worker, http)
    stop_gateway(gateway)
    worker.stop()


def _fails(stack: Stack, data: bytes) -> dict:
    response = submit(stack.http, data)
    assert response.status_code == 202, response.text
    job = wait_final(stack.http, response.json()["id"], timeout=120)
    assert job["status"] == "failed", job
    return job


@pytest.mark.slow
def test_a_million_column_header_fails_in_seconds_with_the_reason(stack: Stack) -> None:
    header = ",".join(f"column_{i}" for i in range(1_000_000))
    job = _fails(stack, f"{header}\n{GOOD}\n".encode())

    assert job["error"] == (
        "the file cannot be read: the header row (column names) is larger than 64 KiB: "
        "is the first line really a header?"
    )
    print(f"\n1,000,000 columns: failed {_seconds(job):.2f} s after submission")


@pytest.mark.slow
def test_more_columns_than_allowed_fail_with_the_count(stack: Stack) -> None:
    header = HEADER + "," + ",".join(f"c{i}" for i in range(5_000))

    job = _fails(stack, f"{header}\n{GOOD}\n".encode())

    assert job["error"].endswith("the header has 5,006 columns; at most 1,000 are allowed")


@pytest.mark.slow
@pytest.mark.parametrize("name_chars", [10 << 20, 30_000], ids=["10-MiB", "30k-chars"])
def test_huge_duplicate_column_names_give_short_errors_lists_and_logs(
    stack: Stack, name_chars: int
) -> None:
    name = "n" * name_chars
    job = _fails(stack, f"{HEADER},{name},{name}\n{GOOD},1,2\n".encode())

    listing = stack.http.get("/v1/jobs", params={"limit": 5}, headers=ALICE)
    assert len(job["error"]) <= MAX_ERROR_CHARS
    assert len(listing.content) < 20 * 1024
    failed = [e for e in _log(stack.worker) if e.get("job_id") == job["id"]]
    assert failed
    assert all(len(json.dumps(e)) < 4 * 1024 for e in failed)
    assert max(len(line) for line in stack.worker.log().splitlines()) < 20 * 1024
    if name_chars < 64 << 10:  # under the header limit: the duplicate names, cut
        assert job["error"].startswith("the file cannot be read: duplicate column names: nnn")
        assert job["error"].endswith("characters, cut]")


@pytest.mark.slow
@pytest.mark.parametrize(
    "tail", [b"", b"\n" + (GOOD + "\n").encode() * 10], ids=["no-newline", "one-long-row"]
)
def test_a_long_line_fails_fast_without_retries_in_bounded_memory(
    stack: Stack, tail: bytes
) -> None:
    data = f"{HEADER}\n{GOOD}\n".encode() + b"1656,3,1.5," + b"x" * LONG_BYTES + tail
    peak_before = _peak_rss(stack.worker)

    job = _fails(stack, data)

    growth = _peak_rss(stack.worker) - peak_before
    assert job["error"] == (
        "the file cannot be read: line 3 is larger than 2 MiB, the limit for one row: "
        "is the file missing its line breaks?"
    )
    errors = [e for e in _log(stack.worker) if e.get("event") == "job_step_error"]
    assert [e for e in errors if e.get("job_id") == job["id"]] == []  # no retry
    assert growth < 64 << 20, f"worker peak RSS grew by {growth / 2**20:.0f} MiB"
    print(
        f"\n{len(data) / 2**20:.0f} MiB: failed in {_seconds(job):.2f} s, "
        f"peak RSS growth {growth / 2**20:.1f} MiB"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("marker", "limit"),
    [(HANG, SOFT_SECONDS), (HANG + DEAF_SUFFIX, HARD_SECONDS)],
    ids=["soft", "hard"],
)
def test_a_hung_chunk_is_stopped_by_the_time_limit_and_the_worker_goes_on(
    stack: Stack, marker: str, limit: int
) -> None:
    job = _fails(stack, f"{HEADER},note\n{GOOD},{marker}\n".encode())

    assert job["error"] == (
        f"chunk 0 did not finish within {limit} s, the time limit for one step "
        "(a file this slow to read is refused rather than retried)"
    )
    after = submit(stack.http, houses_csv(50))
    assert wait_final(stack.http, after.json()["id"])["status"] == "succeeded"


def _log(worker: WorkerProcess) -> list[dict]:
    return [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]


def _peak_rss(worker: WorkerProcess) -> int:
    """The largest peak resident set (VmHWM) among the worker's pool processes."""
    children = psutil.Process(worker.process.pid).children(recursive=True)
    return max(_vm_hwm(p.pid) for p in children)


def _vm_hwm(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def _seconds(job: dict) -> float:
    created = datetime.fromisoformat(job["created_at"])
    return (datetime.fromisoformat(job["finished_at"]) - created).total_seconds()

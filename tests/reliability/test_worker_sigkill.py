"""Workers SIGKILLed at several points of large jobs: every run succeeds, rows exactly once.

Sizes (2 shared cores; the whole reliability suite stays within a few minutes): one
1,000,000-row job killed twice (at ~25 % and ~65 %), and a 300,000-row job run once per
kill point (at the start, early, middle, late). Each faulty result is compared byte for
byte with a fault-free run of the same input, and its row ids are counted: none lost,
none duplicated. Two workers run; a killed one (its whole process group, SIGKILL) is
replaced at once, and its unacknowledged chunk comes back after the 5 s visibility timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support.batch_env import BatchEnv
from tests.support.houses import numbered_houses
from tests.support.jobs import run_clean, submit, wait_final, wait_for
from tests.support.keys import ALICE
from tests.support.redis_state import broker_state, flush, queue_drained
from tests.support.row_accounting import account_rows
from tests.support.worker_process import StartWorker, WorkerProcess

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

LARGE_ROWS = 1_000_000
REPEATED_ROWS = 300_000
CHUNK_ROWS = 10_000
WORKERS = 2


@pytest.fixture(scope="module")
def env(batch_env: BatchEnv) -> BatchEnv:
    """Redis database 5, 10k-row chunks, a 5 s visibility timeout."""
    env = batch_env.with_database(5, chunk_rows=CHUNK_ROWS, visibility_timeout_seconds=5)
    flush(env.redis_url)
    return env


class Fleet:
    """The running workers of one environment; killed ones are replaced."""

    def __init__(self, env: BatchEnv, start: StartWorker) -> None:
        self.env, self.start = env, start
        self.workers: list[WorkerProcess] = [start(env) for _ in range(WORKERS)]
        self.kills = 0

    def kill(self, *, everyone: bool = False) -> None:
        """SIGKILL one worker (round robin) or all of them, then start replacements."""
        victims = list(self.workers) if everyone else [self.workers[self.kills % WORKERS]]
        for worker in victims:
            worker.kill()
            self.kills += 1
        self.workers = [w for w in self.workers if w not in victims]
        self.workers += [self.start(self.env) for _ in victims]

    def stop(self) -> None:
        """Stop every worker."""
        for worker in self.workers:
            worker.stop()


@pytest.fixture(scope="module")
def fleet(env: BatchEnv, start_worker: StartWorker) -> Iterator[Fleet]:
    """Two workers on this module's database."""
    workers = Fleet(env, start_worker)
    yield workers
    workers.stop()


@pytest.fixture(scope="module")
def repeated_input(gateway: str, fleet: Fleet) -> tuple[bytes, bytes]:
    """The 300k-row input and its fault-free result."""
    data = numbered_houses(REPEATED_ROWS, seed=21)
    with httpx.Client(base_url=gateway, timeout=120) as http:
        _, result = run_clean(http, data)
    return data, result


Predicate = Callable[[dict[str, Any]], bool]
KILL_POINTS: dict[str, tuple[Predicate, bool]] = {
    # right after the submission, while the plan task reads the input: the whole fleet dies
    "start": (lambda job: True, True),
    "early": (lambda job: job["rows_done"] >= 0.1 * REPEATED_ROWS, False),
    "middle": (lambda job: job["rows_done"] >= 0.5 * REPEATED_ROWS, False),
    "late": (lambda job: job["rows_done"] >= 0.9 * REPEATED_ROWS, False),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_sigkill_at_each_point_loses_and_duplicates_nothing(
    gateway: str, fleet: Fleet, env: BatchEnv, repeated_input: tuple[bytes, bytes], point: str
) -> None:
    data, clean = repeated_input
    condition, everyone = KILL_POINTS[point]
    with httpx.Client(base_url=gateway, timeout=120) as http:
        job = submit(http, data).json()
        at_kill = wait_for(http, job["id"], condition)
        fleet.kill(everyone=everyone)
        final, result = _finish(http, job["id"], env)

    account = account_rows(data, result)
    print(
        f"\nSIGKILL {point}: rows={REPEATED_ROWS:,} killed={'all' if everyone else 'one'} "
        f"rows done at kill={at_kill['rows_done']:,} status={final['status']} "
        f"rows out={account.rows:,} lost={account.lost} duplicated={account.duplicated} "
        f"identical to fault-free={result == clean}"
    )
    assert final["status"] == "succeeded", final
    assert at_kill["rows_done"] < REPEATED_ROWS
    assert (account.lost, account.duplicated, account.out_of_order) == (0, 0, False)
    assert final["rows_done"] == REPEATED_ROWS
    assert result == clean
    assert _eventually(lambda: queue_drained(env.redis_url))


@pytest.mark.timeout(900)  # two 1M-row runs and two worker restarts on a busy machine
def test_million_row_job_survives_two_kills(gateway: str, fleet: Fleet, env: BatchEnv) -> None:
    data = numbered_houses(LARGE_ROWS, seed=5)
    with httpx.Client(base_url=gateway, timeout=300) as http:
        clean_job, clean = run_clean(http, data)
        job = submit(http, data).json()
        kills = []
        for share in (0.25, 0.65):
            at = wait_for(http, job["id"], lambda j, s=share: j["rows_done"] >= s * LARGE_ROWS)
            fleet.kill()
            kills.append(at["rows_done"])
        final, result = _finish(http, job["id"], env, timeout=450)

    account = account_rows(data, result)
    print(
        f"\nSIGKILL 1M: rows={LARGE_ROWS:,} kills at rows done={kills} status={final['status']} "
        f"rows out={account.rows:,} lost={account.lost} duplicated={account.duplicated} "
        f"rows failed={final['rows_failed']:,} (fault-free {clean_job['rows_failed']:,}) "
        f"identical to fault-free={result == clean}"
    )
    assert final["status"] == "succeeded", final
    assert all(done < LARGE_ROWS for done in kills)
    assert (account.rows, account.lost, account.duplicated) == (LARGE_ROWS, 0, 0)
    assert not account.out_of_order
    assert (final["rows_done"], final["rows_failed"]) == (LARGE_ROWS, clean_job["rows_failed"])
    assert result == clean


def _finish(
    http: httpx.Client, job_id: str, env: BatchEnv, *, timeout: float = 300
) -> tuple[dict[str, Any], bytes]:
    try:
        final = wait_final(http, job_id, timeout=timeout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; broker: {broker_state(env.redis_url, job_id)}") from exc
    response = http.get(f"/v1/jobs/{job_id}/result", headers=ALICE)
    return final, response.content if response.status_code == 200 else b""


def _eventually(check: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()

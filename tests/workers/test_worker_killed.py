"""A worker SIGKILLed mid-job: another worker finishes it, the result is byte-identical."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.batch_env import BatchEnv
from tests.support.gateway_process import GatewayProcess, start_gateway, stop_gateway
from tests.support.houses import houses_csv
from tests.support.jobs import submit, wait_final
from tests.support.keys import ALICE
from tests.support.worker_process import StartWorker

ROWS = 200_000
CHUNK_ROWS = 10_000


@pytest.fixture(scope="module")
def kill_env(batch_env: BatchEnv) -> BatchEnv:
    """Redis database 1 (no other worker listens), 10k-row chunks, a 5 s visibility timeout."""
    return batch_env.with_database(1, chunk_rows=CHUNK_ROWS, visibility_timeout_seconds=5)


@pytest.fixture(scope="module")
def kill_gateway(kill_env: BatchEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A gateway on the kill test's database."""
    gateway: GatewayProcess = start_gateway(kill_env, tmp_path_factory.mktemp("kill") / "gw.log")
    yield gateway.url
    stop_gateway(gateway)


@pytest.mark.slow
@pytest.mark.reliability
def test_job_survives_a_worker_killed_with_sigkill(
    kill_env: BatchEnv, kill_gateway: str, start_worker: StartWorker
) -> None:
    data = houses_csv(ROWS, seed=9, invalid_every=997)
    with httpx.Client(base_url=kill_gateway, timeout=120) as http:
        first = start_worker(kill_env)
        clean = submit(http, data).json()
        clean_job = wait_final(http, clean["id"], timeout=300)
        clean_result = http.get(f"/v1/jobs/{clean['id']}/result", headers=ALICE).content

        job = submit(http, data).json()
        done_at_kill = _wait_for_rows(http, job["id"], at_least=2 * CHUNK_ROWS)
        first.kill()
        killed_at = time.monotonic()
        after_kill = http.get(f"/v1/jobs/{job['id']}", headers=ALICE).json()
        second = start_worker(kill_env)
        final = wait_final(http, job["id"], timeout=300)
        recovered_in = time.monotonic() - killed_at
        result = http.get(f"/v1/jobs/{job['id']}/result", headers=ALICE).content
        second.stop()

    print(
        f"\nkill -9 figures: rows={ROWS:,} chunks={ROWS // CHUNK_ROWS} "
        f"rows done at kill={done_at_kill:,} status after kill={after_kill['status']} "
        f"clean run={_seconds(clean_job):.1f}s faulty run={_seconds(final):.1f}s "
        f"kill to success={recovered_in:.1f}s result bytes={len(result):,}"
    )
    assert clean_job["status"] == "succeeded"
    assert after_kill["status"] == "running"
    assert after_kill["rows_done"] < ROWS
    assert final["status"] == "succeeded"
    assert (final["rows_done"], final["rows_failed"]) == (ROWS, clean_job["rows_failed"])
    assert result == clean_result  # every row once, same order, same prices
    assert result.count(b"\n") == ROWS + 1


def _wait_for_rows(http: httpx.Client, job_id: str, *, at_least: int) -> int:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        job = http.get(f"/v1/jobs/{job_id}", headers=ALICE).json()
        if job["rows_done"] >= at_least:
            return int(job["rows_done"])
        time.sleep(0.05)
    raise AssertionError("the job made no progress")


def _seconds(job: dict) -> float:
    from datetime import datetime

    start = datetime.fromisoformat(job["created_at"])
    end = datetime.fromisoformat(job["finished_at"])
    return (end - start).total_seconds()


@pytest.mark.slow
@pytest.mark.reliability
def test_sigterm_finishes_the_current_chunk_and_hands_the_rest_back(
    kill_env: BatchEnv, kill_gateway: str, start_worker: StartWorker
) -> None:
    data = houses_csv(100_000, seed=4)
    with httpx.Client(base_url=kill_gateway, timeout=120) as http:
        first = start_worker(kill_env)
        job = submit(http, data).json()
        _wait_for_rows(http, job["id"], at_least=CHUNK_ROWS)
        first.process.terminate()  # SIGTERM: soft shutdown
        exit_code = first.process.wait(timeout=60)
        stopped = http.get(f"/v1/jobs/{job['id']}", headers=ALICE).json()
        second = start_worker(kill_env)
        final = wait_final(http, job["id"], timeout=300)
        second.stop()

    assert exit_code == 0
    assert stopped["status"] == "running"
    assert stopped["rows_done"] % CHUNK_ROWS == 0  # only whole chunks are ever counted
    assert final["status"] == "succeeded"
    assert final["rows_done"] == 100_000

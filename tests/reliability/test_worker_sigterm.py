"""A worker SIGTERMed mid-job (a deploy): it stops cleanly, nothing is lost or duplicated.

Celery's warm shutdown lets the in-flight chunk finish (chunks take well under a second
here) and hands every message it held back to the queue at once: with prefetch 1 and
late acks nothing stays unacknowledged. The visibility timeout is left at its 900 s
default, so the job can only finish within the test's deadline if nothing waits for it.
"""

from __future__ import annotations

import signal
import time

import httpx
import pytest

from tests.support.batch_env import BatchEnv
from tests.support.houses import numbered_houses
from tests.support.jobs import run_clean, submit, wait_final, wait_for
from tests.support.keys import ALICE
from tests.support.redis_state import broker_state, flush
from tests.support.row_accounting import account_rows
from tests.support.worker_process import StartWorker

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

ROWS = 300_000
CHUNK_ROWS = 10_000


@pytest.fixture(scope="module")
def env(batch_env: BatchEnv) -> BatchEnv:
    """Redis database 6, 10k-row chunks, the default 900 s visibility timeout."""
    env = batch_env.with_database(6, chunk_rows=CHUNK_ROWS, visibility_timeout_seconds=900)
    flush(env.redis_url)
    return env


def test_sigterm_mid_job_hands_back_work_at_once(
    gateway: str, env: BatchEnv, start_worker: StartWorker
) -> None:
    data = numbered_houses(ROWS, seed=33)
    first = start_worker(env)
    with httpx.Client(base_url=gateway, timeout=120) as http:
        _, clean = run_clean(http, data)
        job = submit(http, data).json()
        at_signal = wait_for(http, job["id"], lambda j: j["rows_done"] >= 0.3 * ROWS)
        signalled = time.monotonic()
        first.process.send_signal(signal.SIGTERM)
        exit_code = first.process.wait(timeout=60)
        stopped_in = time.monotonic() - signalled
        held = broker_state(env.redis_url, job["id"])
        after_stop = http.get(f"/v1/jobs/{job['id']}", headers=ALICE).json()
        second = start_worker(env)
        final = wait_final(http, job["id"], timeout=240)
        result = http.get(f"/v1/jobs/{job['id']}/result", headers=ALICE).content
        second.stop()

    account = account_rows(data, result)
    print(
        f"\nSIGTERM: rows={ROWS:,} rows done at signal={at_signal['rows_done']:,} "
        f"worker exit={exit_code} after {stopped_in:.1f}s, rows done at exit="
        f"{after_stop['rows_done']:,} unacked after exit={held['unacked']} queued={held['queued']} "
        f"status={final['status']} rows out={account.rows:,} lost={account.lost} "
        f"duplicated={account.duplicated} identical to fault-free={result == clean}"
    )
    assert exit_code == 0  # a clean warm shutdown, not a kill
    assert "Warm shutdown" in first.log() or "warm shutdown" in first.log().lower()
    assert held["unacked"] == 0  # nothing waits for the visibility timeout
    assert after_stop["status"] == "running"
    assert after_stop["rows_done"] < ROWS
    assert final["status"] == "succeeded", final
    assert (account.rows, account.lost, account.duplicated) == (ROWS, 0, 0)
    assert result == clean

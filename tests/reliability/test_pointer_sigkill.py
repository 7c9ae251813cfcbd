"""A job from a pointer (CSV, gzip CSV and Parquet files) survives a worker SIGKILLed mid-way.

Two workers score a 200,000-row input split over eight files; at ~40 % one worker's whole
process group is SIGKILLed and replaced. Its unacknowledged chunk comes back after the
5 s visibility timeout; the result must hold every row once, in input order, and be
byte-identical to the upload of the same rows as one CSV (a fault-free run).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import httpx
import pytest

from tests.support.batch_env import BatchEnv
from tests.support.gateway_process import start_gateway, stop_gateway
from tests.support.houses import numbered_houses
from tests.support.jobs import run_clean, wait_final, wait_for
from tests.support.keys import ALICE
from tests.support.pointer_inputs import INPUT_PREFIXES, put_files, split_files, submit_pointer
from tests.support.redis_state import flush
from tests.support.row_accounting import account_rows
from tests.support.worker_process import StartWorker

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

ROWS = 200_000
KINDS = ["parquet", "csv", "parquet", "csv.gz", "parquet", "csv", "parquet", "parquet"]


@pytest.fixture(scope="module")
def env(batch_env: BatchEnv) -> BatchEnv:
    """Redis database 9, 10k-row chunks, a 5 s visibility timeout."""
    env = batch_env.with_database(9, chunk_rows=10_000, visibility_timeout_seconds=5)
    flush(env.redis_url)
    return env


@pytest.fixture(scope="module")
def gateway(env: BatchEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A gateway that lets alice read inputs/alice/."""
    log = tmp_path_factory.mktemp("pointer-sigkill") / "gw.log"
    process = start_gateway(env, log, HPP_INPUT_PREFIXES=json.dumps(INPUT_PREFIXES))
    yield process.url
    stop_gateway(process)


def test_pointer_job_killed_mid_way_gives_every_row_once(
    gateway: str, env: BatchEnv, start_worker: StartWorker
) -> None:
    workers = [start_worker(env), start_worker(env)]
    data = numbered_houses(ROWS, seed=13)
    folder = f"inputs/alice/kill-{secrets.token_hex(3)}/"
    files = split_files(data, KINDS, row_group_rows=5_000)
    put_files(
        env.blob_url,
        folder,
        {f"{i:02d}.{k}": b for i, (k, b) in enumerate(zip(KINDS, files, strict=True))},
    )
    try:
        with httpx.Client(base_url=gateway, timeout=120) as http:
            _, clean = run_clean(http, data)
            job = submit_pointer(http, {"input": folder}).json()
            at_kill = wait_for(http, job["id"], lambda j: j["rows_done"] >= 0.4 * ROWS)
            workers[0].kill()
            workers.append(start_worker(env))
            final = wait_final(http, job["id"], timeout=300)
            result = http.get(f"/v1/jobs/{job['id']}/result", headers=ALICE).content
    finally:
        for worker in workers:
            worker.stop()

    account = account_rows(data, result)
    print(
        f"\nSIGKILL pointer job: {ROWS:,} rows in {len(KINDS)} files, killed at "
        f"{at_kill['rows_done']:,} done, status={final['status']}, rows out={account.rows:,} "
        f"lost={account.lost} duplicated={account.duplicated} identical={result == clean}"
    )
    assert final["status"] == "succeeded", final
    assert at_kill["rows_done"] < ROWS
    assert (account.rows, account.lost, account.duplicated) == (ROWS, 0, 0)
    assert not account.out_of_order
    assert final["rows_done"] == ROWS
    assert result == clean

"""Redis restarted mid-job: the job ends (never stuck in running); the gateway degrades cleanly.

Redis here persists to an append-only file, as a managed Redis with a replica or a
snapshot does, and comes back on the same port after a few seconds. While it is down:
job submissions get 503 problem details with Retry-After, single predictions keep
answering, /readyz reports the broker unreachable. After it is back the job either
completes (every row exactly once) or fails with a reason, and new jobs run.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hpp.redis_server import free_port, redis_server_binary
from ml.contract import EXAMPLE_HOUSE
from tests.support.batch_env import BatchEnv
from tests.support.gateway_process import start_gateway, stop_gateway
from tests.support.houses import HEADER, numbered_houses
from tests.support.jobs import run_clean, submit, wait_final, wait_for
from tests.support.keys import ALICE
from tests.support.model import ModelRegistry
from tests.support.redis_state import broker_state
from tests.support.row_accounting import account_rows
from tests.support.worker_process import StartWorker

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

ROWS = 300_000
OUTAGE_SECONDS = 4.0
HOUSE = dict(EXAMPLE_HOUSE)


class DurableRedis:
    """A redis-server with an append-only file that can be stopped and started on one port."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        persistence = ["--dir", str(self.folder), "--appendonly", "yes", "--appendfsync", "always"]
        server = [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1"]
        self.process = subprocess.Popen(
            [*server, *persistence, "--save", "", "--daemonize", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                import redis

                if redis.Redis.from_url(self.url, socket_timeout=0.5).ping():
                    return
            except Exception:
                time.sleep(0.05)
        raise RuntimeError("redis did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def durable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DurableRedis]:
    """A private Redis for this module (it gets restarted)."""
    server = DurableRedis(tmp_path_factory.mktemp("aof"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def env(
    durable: DurableRedis, model_registry: ModelRegistry, tmp_path_factory: pytest.TempPathFactory
) -> BatchEnv:
    """10k-row chunks and a 20 s visibility timeout on the private Redis."""
    state = tmp_path_factory.mktemp("restart")
    return BatchEnv(
        redis_url=durable.url,
        blob_url=(state / "blobs").as_uri(),
        tracking_uri=model_registry.tracking_uri,
        state_dir=state,
        chunk_rows=10_000,
        visibility_timeout_seconds=20,
    )


def test_redis_restart_mid_job(
    durable: DurableRedis, env: BatchEnv, start_worker: StartWorker
) -> None:
    data = numbered_houses(ROWS, seed=8)
    worker = start_worker(env)
    gateway = start_gateway(env, env.state_dir / "gw.log")
    try:
        with httpx.Client(base_url=gateway.url, timeout=60) as http:
            job = submit(http, data).json()
            at_stop = wait_for(http, job["id"], lambda j: j["rows_done"] >= 0.3 * ROWS)
            durable.stop()
            down_at = time.monotonic()
            refused = submit(http, f"{HEADER}\n1656,3,1.5,North Ames,1960,Average\n".encode())
            predictions = [
                http.post("/v1/predict", json=HOUSE, headers=ALICE).status_code for _ in range(20)
            ]
            ready = http.get("/readyz")
            time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
            durable.start()
            back_at = time.monotonic()
            final = wait_final(http, job["id"], timeout=240)
            settled_in = time.monotonic() - back_at
            state = broker_state(env.redis_url, job["id"])
            result = b""
            if final["status"] == "succeeded":
                result = http.get(f"/v1/jobs/{job['id']}/result", headers=ALICE).content
            _, after = run_clean(http, numbered_houses(1_000, seed=2))
    finally:
        stop_gateway(gateway)
        worker.stop()

    account = account_rows(data, result) if result else None
    print(
        f"\nRedis restart: rows={ROWS:,} rows done at stop={at_stop['rows_done']:,} "
        f"outage={OUTAGE_SECONDS}s submit during outage={refused.status_code} "
        f"predictions during outage={sorted(set(predictions))}x{len(predictions)} "
        f"readyz broker={ready.json()['broker']['status']} final={final['status']} "
        f"error={final['error']!r} settled {settled_in:.1f}s after Redis was back; "
        f"rows out={account.rows if account else 0:,} lost={account.lost if account else '-'} "
        f"duplicated={account.duplicated if account else '-'}; queue={state['queued']} "
        f"unacked={state['unacked']}; next job rows={len(after.splitlines()) - 1}"
    )
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert "retry-after" in refused.headers
    assert predictions == [200] * len(predictions)
    assert ready.status_code == 200
    assert ready.json()["broker"]["status"] == "unreachable"
    assert final["status"] in {"succeeded", "failed"}
    if final["status"] == "failed":
        assert final["error"]
    else:
        assert account is not None
        assert (account.rows, account.lost, account.duplicated) == (ROWS, 0, 0)
    assert len(after.splitlines()) == 1_001

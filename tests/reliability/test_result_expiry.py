"""Results past their expiry are gone: the job answers 404 and its blobs are deleted.

The result TTL is 3 s here (``HPP_RESULT_TTL_SECONDS``). The job record expires in Redis
at the TTL; the blobs of a job whose record is gone are deleted by the orphan sweep,
which a worker runs when it plans a job, at most every 10 minutes (on S3 the bucket's
lifecycle rule expires them too). The test stands in for those 10 minutes by dropping
the sweep's lock before the next job.
"""

from __future__ import annotations

import time

import httpx
import pytest
import redis

from jobs.keys import SWEEP_LOCK_KEY
from tests.support.batch_env import BatchEnv
from tests.support.gateway_process import start_gateway, stop_gateway
from tests.support.houses import numbered_houses
from tests.support.jobs import run_clean
from tests.support.keys import ALICE
from tests.support.redis_state import flush
from tests.support.worker_process import StartWorker

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

TTL_SECONDS = 3


def test_expired_result_is_404_and_its_blobs_are_deleted(
    batch_env: BatchEnv, start_worker: StartWorker, tmp_path_factory: pytest.TempPathFactory
) -> None:
    env = batch_env.with_database(8, extra={"HPP_RESULT_TTL_SECONDS": str(TTL_SECONDS)})
    flush(env.redis_url)
    worker = start_worker(env)
    gateway = start_gateway(env, tmp_path_factory.mktemp("expiry") / "gw.log")
    broker = redis.Redis.from_url(env.redis_url)
    try:
        with httpx.Client(base_url=gateway.url, timeout=60) as http:
            job, result = run_clean(http, numbered_houses(500, seed=1))
            folder = env.state_dir / "blobs" / "jobs" / job["id"]
            assert (folder / "result.json").exists()  # the manifest of the result's parts
            waited = _wait_until_gone(http, job["id"])
            statuses = [
                http.get(f"/v1/jobs/{job['id']}{route}", headers=ALICE).status_code
                for route in ("", "/result", "/events")
            ]
            listed = [j["id"] for j in http.get("/v1/jobs", headers=ALICE).json()["jobs"]]
            kept_until_sweep = folder.exists()
            broker.delete(SWEEP_LOCK_KEY)  # the sweep interval has passed
            run_clean(http, numbered_houses(10, seed=2))
    finally:
        broker.close()
        stop_gateway(gateway)
        worker.stop()

    print(
        f"\nexpiry: ttl={TTL_SECONDS}s result bytes={len(result):,} gone after {waited:.1f}s "
        f"statuses after expiry={statuses} blobs kept until the sweep={kept_until_sweep} "
        f"blobs after the sweep={folder.exists()}"
    )
    assert statuses == [404, 404, 404]
    assert job["id"] not in listed
    assert not folder.exists()


def _wait_until_gone(http: httpx.Client, job_id: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < 60:
        if http.get(f"/v1/jobs/{job_id}", headers=ALICE).status_code == 404:
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError("the job did not expire")

"""A job end to end with its files on S3 (a moto server), as in the cloud deployment."""

from __future__ import annotations

import asyncio
import csv
import io
import secrets
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from aiobotocore.session import get_session

from tests.support.batch_env import BatchEnv
from tests.support.gateway_process import GatewayProcess, start_gateway, stop_gateway
from tests.support.houses import houses_csv
from tests.support.jobs import submit, wait_final
from tests.support.keys import ALICE
from tests.support.worker_process import StartWorker


async def _make_bucket(endpoint: str, bucket: str) -> None:
    async with get_session().create_client("s3", endpoint_url=endpoint) as s3:
        await s3.create_bucket(Bucket=bucket)


async def _keys(endpoint: str, bucket: str) -> list[str]:
    async with get_session().create_client("s3", endpoint_url=endpoint) as s3:
        page = await s3.list_objects_v2(Bucket=bucket)
        return [item["Key"] for item in page.get("Contents", [])]


@pytest.fixture(scope="module")
def s3_env(batch_env: BatchEnv, moto_server: str) -> tuple[BatchEnv, str, str]:
    """Redis database 6 and blobs in a fresh bucket; AWS_ENDPOINT_URL points at moto."""
    bucket = f"hpp-jobs-{secrets.token_hex(4)}"
    asyncio.run(_make_bucket(moto_server, bucket))
    env = batch_env.with_database(6)
    env = replace(
        env, blob_url=f"s3://{bucket}/hpp", extra={**env.extra, "AWS_ENDPOINT_URL": moto_server}
    )
    return env, moto_server, bucket


@pytest.fixture(scope="module")
def s3_gateway(
    s3_env: tuple[BatchEnv, str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    gateway = start_gateway(s3_env[0], tmp_path_factory.mktemp("s3") / "gateway.log")
    yield gateway
    stop_gateway(gateway)


@pytest.mark.slow
def test_job_with_blobs_on_s3(
    s3_env: tuple[BatchEnv, str, str], s3_gateway: GatewayProcess, start_worker: StartWorker
) -> None:
    env, endpoint, bucket = s3_env
    worker = start_worker(env)
    data = houses_csv(2_500, seed=8, invalid_every=500)
    with httpx.Client(base_url=s3_gateway.url, timeout=60) as http:
        job = submit(http, data).json()
        final = wait_final(http, job["id"])
        result = http.get(f"/v1/jobs/{job['id']}/result", headers=ALICE).text
        keys = asyncio.run(_keys(endpoint, bucket))
        assert http.delete(f"/v1/jobs/{job['id']}", headers=ALICE).status_code == 204
        after = asyncio.run(_keys(endpoint, bucket))
    worker.stop()

    assert final["status"] == "succeeded", final
    rows = list(csv.DictReader(io.StringIO(result)))
    assert len(rows) == 2_500
    assert sum(1 for r in rows if r["error"]) == 5
    assert f"hpp/jobs/{job['id']}/result.json" in keys  # the manifest: parts are the result
    assert f"hpp/jobs/{job['id']}/parts/000002.csv" in keys
    assert not any(job["id"] in k for k in after)

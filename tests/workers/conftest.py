"""Batch-job fixtures: a real gateway process and a real worker process on a test Redis."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.settings import hash_api_key
from hpp.redis_server import free_port
from tests.fixtures.redis import ROOT, BatchEnv, WorkerProcess

ALICE = {"X-API-Key": "alice-key-0123456789"}
BOB = {"X-API-Key": "bob-key-9876543210"}
HEADER = "sqft,bedrooms,bathrooms,location,year_built,condition"
LOCATIONS = ("North Ames", "College Creek", "Old Town", "Edwards", "Somerset")
UPLOAD_LIMIT = 150 * 1024 * 1024
FINAL = {"succeeded", "failed", "cancelled"}


@dataclass
class GatewayProcess:
    """A running ``hpp gateway`` subprocess."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path


def start_gateway(env: BatchEnv, log_path: Path, **extra: str) -> GatewayProcess:
    """Run ``hpp gateway`` on a free port with two API keys and wait until it is ready."""
    return start_gateway_within(env, log_path, ready_seconds=90.0, extra=extra)


def start_gateway_within(
    env: BatchEnv, log_path: Path, *, ready_seconds: float, extra: dict[str, str]
) -> GatewayProcess:
    """``start_gateway`` with its own readiness deadline (a loaded machine starts slowly)."""
    port = free_port()
    keys = {"alice": hash_api_key(ALICE["X-API-Key"]), "bob": hash_api_key(BOB["X-API-Key"])}
    environ = {
        **env.environ(),
        "HPP_PORT": str(port),
        "HPP_HOST": "127.0.0.1",
        "HPP_API_KEYS": json.dumps(keys),
        "HPP_MODEL_POLL_SECONDS": "0",
        "HPP_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
        "HPP_LOG_LEVEL": "WARNING",
        **extra,
    }
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "hpp.cli", "gateway"],
            cwd=ROOT,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited:\n{log_path.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return GatewayProcess(url, process, log_path)
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"gateway not ready:\n{log_path.read_text()[-4000:]}")


def stop_gateway(gateway: GatewayProcess) -> None:
    """SIGTERM the gateway and wait for it."""
    gateway.process.terminate()
    try:
        gateway.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        gateway.process.kill()


@pytest.fixture(scope="session")
def jobs_gateway(
    batch_env: BatchEnv, celery_worker: WorkerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    """A gateway process sharing Redis, blobs and model with the session's worker."""
    gateway = start_gateway(batch_env, tmp_path_factory.mktemp("gateway") / "gateway.log")
    yield gateway
    stop_gateway(gateway)


@pytest.fixture
def client(jobs_gateway: GatewayProcess) -> Iterator[httpx.Client]:
    """An HTTP client of the gateway process."""
    with httpx.Client(base_url=jobs_gateway.url, timeout=60) as http:
        yield http


def houses_csv(rows: int, *, seed: int = 0, invalid_every: int = 0, header: str = HEADER) -> bytes:
    """A CSV of plausible houses; every ``invalid_every``-th row has a negative sqft."""
    rng = random.Random(seed)
    lines = [header]
    for i in range(rows):
        bad = invalid_every and i % invalid_every == invalid_every - 1
        sqft = -5 if bad else rng.randint(600, 3500)
        lines.append(
            f"{sqft},{rng.randint(1, 5)},{rng.choice((1, 1.5, 2, 2.5))},"
            f"{rng.choice(LOCATIONS)},{rng.randint(1900, 2020)},Average"
        )
    return ("\n".join(lines) + "\n").encode()


def submit(
    http: httpx.Client,
    data: bytes,
    *,
    headers: dict[str, str] | None = None,
    filename: str = "houses.csv",
) -> httpx.Response:
    """POST a CSV body as a job."""
    return http.post(
        "/v1/jobs",
        content=data,
        params={"filename": filename},
        headers={**(headers or ALICE), "Content-Type": "text/csv"},
    )


def wait_final(
    http: httpx.Client,
    job_id: str,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 180.0,
) -> dict[str, Any]:
    """Poll the job until it reaches a final state; returns its JSON."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = http.get(f"/v1/jobs/{job_id}", headers=headers or ALICE).json()
        if job["status"] in FINAL:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} not final after {timeout}s")

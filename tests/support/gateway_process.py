"""A real ``hpp gateway`` subprocess with alice's and bob's keys, on a batch environment."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from core.settings import hash_api_key
from hpp.redis_server import free_port
from tests.support.batch_env import BatchEnv
from tests.support.keys import ALICE, BOB
from tests.support.paths import ROOT

UPLOAD_LIMIT = 150 * 1024 * 1024


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

"""The gateway under a real uvicorn (``hpp gateway``) on a free port, over real TCP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.settings import hash_api_key
from gateway.connections import set_nodelay
from hpp.redis_server import free_port
from tests.support.keys import USER, USER_KEY
from tests.support.model import ModelRegistry

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gateway_url(
    model_registry: ModelRegistry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """``hpp gateway`` with two uvicorn workers, serving the session's model, and its log."""
    port = free_port()
    env = {
        **os.environ,
        "HPP_HOST": "127.0.0.1",
        "HPP_PORT": str(port),
        "HPP_WEB_WORKERS": "2",
        "HPP_API_KEYS": json.dumps({"client": hash_api_key(USER_KEY)}),
        "HPP_MLFLOW_TRACKING_URI": model_registry.tracking_uri,
        "HPP_REGISTERED_MODEL": model_registry.name,
        "HPP_STATE_DIR": str(tmp_path_factory.mktemp("gateway-state")),
        "HPP_LOG_FORMAT": "json",
    }
    env.pop("HPP_REDIS_URL", None)
    log_path = tmp_path_factory.mktemp("gateway-log") / "gateway.log"
    log = log_path.open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "hpp.cli", "gateway"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process, log)
        yield url, log_path
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def wait_until_ready(url: str, process: subprocess.Popen[bytes], log: Any) -> None:
    """Poll /readyz until 200; fail with the server's log if it dies or never gets ready."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            pytest.fail(f"gateway exited with {process.returncode}:\n{log.read()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    log.seek(0)
    pytest.fail(f"gateway never became ready:\n{log.read()[-3000:]}")


@pytest.mark.slow
def test_real_server_predicts_and_guards(
    gateway_url: tuple[str, Path], house: dict[str, Any], model_registry: ModelRegistry
) -> None:
    url, log_path = gateway_url
    with httpx.Client(base_url=url, timeout=10) as http:
        answers = [http.post("/v1/predict", json=house, headers=USER) for _ in range(20)]
        denied = http.post("/v1/predict", json=house)
        health = http.get("/healthz")
        too_big = http.post(
            "/v1/predict",
            content=b"x" * 2_000_000,
            headers={**USER, "Content-Type": "application/json"},
        )
    assert [a.status_code for a in answers] == [200] * 20, answers[-1].text
    assert {a.json()["model_version"] for a in answers} == {model_registry.version}
    assert denied.status_code == 401
    assert health.json() == {"status": "ok"}
    assert "server" not in health.headers
    assert too_big.status_code == 413
    log = log_path.read_text()
    assert '"event":"request"' in log or '"event": "request"' in log
    assert "uvicorn.access" not in log  # one line per request, the middleware's
    assert USER_KEY not in log


def test_refuses_to_start_without_keys(tmp_path: Path) -> None:
    env = {**os.environ, "HPP_API_KEYS": "{}", "HPP_STATE_DIR": str(tmp_path)}
    env.pop("HPP_ALLOW_OPEN_ACCESS", None)
    result = subprocess.run(
        [sys.executable, "-m", "hpp.cli", "gateway"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "HPP_API_KEYS" in result.stderr


def test_set_nodelay_on_an_accepted_tcp_socket() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
        with client, accepted:
            accepted.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
            set_nodelay(FakeTransport(accepted))
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


class FakeTransport(asyncio.BaseTransport):
    """Just enough of an asyncio transport to hand over its socket."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.sock if name == "socket" else default

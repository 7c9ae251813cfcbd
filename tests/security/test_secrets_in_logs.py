"""The UI's storage secret and the API keys never appear in any process's logs.

Real processes (gateway, worker, web UI) run at DEBUG with JSON logs; the test uses the
keys (and a wrong one), submits a job, opens UI pages, then searches every byte the
processes printed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hpp.redis_server import free_port
from tests.support.batch_env import BatchEnv
from tests.support.gateway_process import start_gateway, stop_gateway
from tests.support.houses import numbered_houses
from tests.support.jobs import run_clean
from tests.support.keys import ALICE, BOB
from tests.support.paths import ROOT
from tests.support.redis_state import flush
from tests.support.worker_process import StartWorker

STORAGE_SECRET = "storage-secret-5b1e0c9a7d3f"
WRONG_KEY = "wrong-key-d41d8cd98f00b204"


@pytest.mark.slow
def test_no_secret_reaches_any_log(
    batch_env: BatchEnv, start_worker: StartWorker, tmp_path: Path
) -> None:
    env = batch_env.with_database(12, extra={"HPP_LOG_LEVEL": "DEBUG"})
    flush(env.redis_url)
    worker = start_worker(env)
    gateway = start_gateway(env, tmp_path / "gateway.log", HPP_LOG_LEVEL="DEBUG")
    ui_log = tmp_path / "ui.log"
    ui_port = free_port()
    ui = _start_ui(env, gateway.url, ui_port, ui_log)
    try:
        with httpx.Client(base_url=gateway.url, timeout=60) as http:
            run_clean(http, numbered_houses(200, seed=3))
            http.get("/v1/jobs", headers={"X-API-Key": WRONG_KEY})
            http.get("/v1/model", headers=BOB)
        with httpx.Client(base_url=f"http://127.0.0.1:{ui_port}", timeout=60) as browser:
            pages = [browser.get(path).status_code for path in ("/", "/batch", "/model")]
    finally:
        ui.terminate()
        ui.wait(timeout=30)
        stop_gateway(gateway)
        worker.stop()

    logs = {
        "gateway": (tmp_path / "gateway.log").read_text(errors="replace"),
        "worker": worker.log(),
        "ui": ui_log.read_text(errors="replace"),
    }
    secrets = {
        "ui storage secret": STORAGE_SECRET,
        "alice's key": ALICE["X-API-Key"],
        "bob's key": BOB["X-API-Key"],
        "a wrong key": WRONG_KEY,
    }
    leaks = [
        f"{what} in the {name} log"
        for name, text in logs.items()
        for what, secret in secrets.items()
        if secret in text
    ]
    sizes = {name: len(text.splitlines()) for name, text in logs.items()}
    print(f"\nlog lines searched: {sizes}; UI pages {pages}; leaks: {leaks}")
    assert all(code == 200 for code in pages)
    assert all(sizes.values())
    assert leaks == []


def _start_ui(env: BatchEnv, gateway_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    environ = {
        **env.environ(),
        "HPP_UI_PORT": str(port),
        "HPP_GATEWAY_URL": gateway_url,
        "HPP_UI_API_KEY": ALICE["X-API-Key"],
        "HPP_UI_STORAGE_SECRET": STORAGE_SECRET,
        "HPP_LOG_LEVEL": "DEBUG",
    }
    # NiceGUI takes a process with PYTEST_CURRENT_TEST set for its own screen tests.
    environ = {k: v for k, v in environ.items() if not k.startswith("PYTEST")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "hpp.cli", "ui"],
            cwd=ROOT,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ui exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("ui not ready")

"""The whole system as real processes for browser tests: gateway and UI subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from core.settings import hash_api_key
from hpp.redis_server import free_port
from tests.support.batch_env import BatchEnv
from tests.support.keys import UI_KEY
from tests.support.paths import ROOT
from tests.support.threaded_server import wait_for_http


@dataclass
class ServiceProcess:
    """One ``hpp <command>`` subprocess that can be stopped and started again on its port."""

    command: str
    port: int
    environ: dict[str, str]
    log_path: Path
    health_path: str = "/healthz"
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The service's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 120.0) -> ServiceProcess:
        """Start the process and wait until it answers on its health path."""
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hpp.cli", self.command],
                cwd=ROOT,
                env=self.environ,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_for_http(self.url + self.health_path, timeout=timeout, alive=self.alive)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{exc}\n{self.log()[-4000:]}") from exc
        return self

    def alive(self) -> bool:
        """Whether the process is running."""
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL after 20 s."""
        if not self.alive():
            return
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log(self) -> str:
        """What the process printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def gateway_process(env: BatchEnv, logs: Path) -> ServiceProcess:
    """``hpp gateway`` on a free port, on the batch fixtures' Redis, blobs and model."""
    port = free_port()
    environ = _clean(env.environ()) | {
        "HPP_HOST": "127.0.0.1",
        "HPP_PORT": str(port),
        "HPP_API_KEYS": json.dumps({"webui": hash_api_key(UI_KEY)}),
        "HPP_DELEGATE_KEY_NAMES": json.dumps(["webui"]),
        "HPP_MODEL_POLL_SECONDS": "0",
        "HPP_LOG_LEVEL": "WARNING",
    }
    return ServiceProcess("gateway", port, environ, logs / "gateway.log")


def ui_process(gateway: ServiceProcess, logs: Path) -> ServiceProcess:
    """``hpp ui`` on a free port, talking to ``gateway`` with the UI's key."""
    port = free_port()
    environ = _clean(dict(os.environ)) | {
        "HPP_UI_HOST": "127.0.0.1",
        "HPP_UI_PORT": str(port),
        "HPP_GATEWAY_URL": gateway.url,
        "HPP_UI_API_KEY": UI_KEY,
        "HPP_LOG_LEVEL": "INFO",
    }
    return ServiceProcess("ui", port, environ, logs / "ui.log", health_path="/")


@contextmanager
def web_system(
    env: BatchEnv, logs: Path, *, gateway_environ: dict[str, str] | None = None
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    """Gateway and UI processes on ``env`` (gateway environment amended), stopped at the end."""
    gateway = gateway_process(env, logs)
    gateway.environ |= gateway_environ or {}
    gateway.start()
    try:
        ui = ui_process(gateway, logs).start()
        try:
            yield gateway, ui
        finally:
            ui.stop()
    finally:
        gateway.stop()


def _clean(environ: dict[str, str]) -> dict[str, str]:
    # NiceGUI treats a process with PYTEST_CURRENT_TEST as its own test harness.
    return {k: v for k, v in environ.items() if not k.startswith("PYTEST_")}

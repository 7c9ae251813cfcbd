"""``hpp up`` as a user runs it: the UI after a ready gateway, a quiet terminal, Ctrl-C in order."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
from pathlib import Path

import pytest

from hpp.redis_server import free_port
from tests.support.model import ModelRegistry
from tests.support.service_process import ServiceProcess

pytestmark = pytest.mark.slow
UP_TIMEOUT_SECONDS = 180.0


def test_up_starts_the_ui_after_the_gateway_and_ctrl_c_stops_everything_quietly(
    model_registry: ModelRegistry, tmp_path: Path
) -> None:
    ui_port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HPP_"))}
    environ |= {
        "HPP_STATE_DIR": str(tmp_path / "state"),
        "HPP_MLFLOW_TRACKING_URI": model_registry.tracking_uri,
        "HPP_REGISTERED_MODEL": model_registry.name,
        "HPP_PORT": str(free_port()),
        "HPP_UI_PORT": str(ui_port),
        "HPP_LOG_FORMAT": "json",
    }
    # In its own session, as a terminal's foreground job: Ctrl-C goes to the whole group.
    up = ServiceProcess("up", ui_port, environ, tmp_path / "up.log", health_path="/")
    up.start(timeout=UP_TIMEOUT_SECONDS)  # the UI answers: everything is up
    assert up.process is not None
    try:
        _wait_for(up, "Ctrl-C stops everything.")
        os.killpg(up.process.pid, signal.SIGINT)
        code = up.process.wait(timeout=90)
    finally:
        up.stop()
    text = up.log()
    lines = text.splitlines()

    assert code == 0, text[-3000:]
    events = [json.loads(line) for line in lines if line.startswith("{")]
    names = [(e.get("service"), e.get("event")) for e in events]
    gateway_ready = names.index(("gateway", "Application startup complete."))
    assert names.index(("webui", "webui_starting")) > gateway_ready
    assert "[config]" not in text  # no Celery banner
    assert not [line for line in lines if "Warning" in line and not line.startswith("{")]
    stopping = text[text.index("stopping: ui, gateway, notifier, trainer, worker") :]
    assert not re.search(r"(?i)connection|cannot connect|refused|traceback", stopping), stopping
    redis = re.search(r"embedded Redis at redis://127\.0\.0\.1:(\d+)", text)
    assert redis is not None
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", int(redis[1]))) != 0  # stopped last, and gone


def _wait_for(service: ServiceProcess, needle: str) -> None:
    deadline = time.monotonic() + 30
    while needle not in service.log():
        assert time.monotonic() < deadline, f"{needle!r} not printed:\n{service.log()[-3000:]}"
        time.sleep(0.2)

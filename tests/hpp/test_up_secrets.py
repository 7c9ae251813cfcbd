"""``hpp up`` keeps secrets apart: a Redis password, private blobs, each child its own keys."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from hpp.redis_server import free_port
from hpp.up import ALL_SECRETS, CHILD_SECRETS, _child_environment, own_secrets_only
from tests.support.model import ModelRegistry
from tests.support.service_process import ServiceProcess
from tests.support.up_settings import up_settings


def test_each_child_gets_only_its_own_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HPP_UI_API_KEY", "from-the-operators-shell")
    env = _child_environment(
        up_settings(tmp_path), redis_url="redis://:pw@r:6379/0", state=tmp_path
    )

    worker, gateway, ui = (own_secrets_only(env, c) for c in ("worker", "gateway", "ui"))

    assert ALL_SECRETS & set(worker) == {"HPP_REDIS_URL"}
    assert ALL_SECRETS & set(gateway) == {"HPP_REDIS_URL", "HPP_API_KEYS"}
    assert ALL_SECRETS & set(ui) == {"HPP_UI_API_KEY", "HPP_UI_STORAGE_SECRET"}
    assert ui["HPP_UI_API_KEY"] != "from-the-operators-shell"  # the generated delegate key
    assert set(CHILD_SECRETS) == {"worker", "trainer", "notifier", "gateway", "ui"}
    notifier = own_secrets_only({**env, "HPP_WEBHOOK_SECRETS": '{"local": "s"}'}, "notifier")
    assert ALL_SECRETS & set(notifier) == {"HPP_REDIS_URL", "HPP_WEBHOOK_SECRETS"}
    assert "HPP_WEBHOOK_SECRETS" not in own_secrets_only(
        {**env, "HPP_WEBHOOK_SECRETS": "{}"}, "gateway"
    )


@dataclass
class Up:
    """A running ``hpp up``."""

    service: ServiceProcess
    state: Path
    gateway_url: str

    @property
    def pid(self) -> int:
        """The ``hpp up`` process id."""
        assert self.service.process is not None
        return self.service.process.pid


@pytest.fixture(scope="module")
def up(model_registry: ModelRegistry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """``hpp up`` on free ports and its own state folder, serving the session's model."""
    state = tmp_path_factory.mktemp("up-state")
    port, ui_port = free_port(), free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HPP_"))}
    environ |= {
        "HPP_STATE_DIR": str(state),
        "HPP_PORT": str(port),
        "HPP_UI_PORT": str(ui_port),
        "HPP_MLFLOW_TRACKING_URI": model_registry.tracking_uri,
        "HPP_REGISTERED_MODEL": model_registry.name,
        "HPP_LOG_FORMAT": "json",
    }
    service = ServiceProcess("up", ui_port, environ, state / "up.log", health_path="/")
    service.start(timeout=240)  # the UI answers: everything is up
    yield Up(service, state, f"http://127.0.0.1:{port}")
    service.stop()


@pytest.mark.slow
def test_hpp_up_keeps_redis_blobs_and_keys_private(up: Up) -> None:
    children = _children(up.pid)
    environ = {name: _environ(pid) for name, pid in children.items()}
    password_file = up.state / "redis-password"
    password = password_file.read_text().strip()
    redis_pid = next(pid for name, pid in children.items() if name == "redis-server")
    port = int(environ["gateway"]["HPP_REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
    key = json.loads((up.state / "api-keys.json").read_text())["local"]
    with httpx.Client(base_url=up.gateway_url, timeout=60) as http:
        job = http.post(
            "/v1/jobs",
            content=b"sqft,bedrooms,bathrooms,location,year_built,condition\n"
            b"1656,3,1.5,North Ames,1960,Average\n",
            headers={"X-API-Key": key, "Content-Type": "text/csv"},
        )
    assert job.status_code == 202, job.text

    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert password.encode() not in Path(f"/proc/{redis_pid}/cmdline").read_bytes()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port).ping()
    assert password not in up.service.log()
    assert ALL_SECRETS & set(environ["ui"]) == {"HPP_UI_API_KEY", "HPP_UI_STORAGE_SECRET"}
    assert ALL_SECRETS & set(environ["gateway"]) == {"HPP_REDIS_URL", "HPP_API_KEYS"}
    assert ALL_SECRETS & set(environ["worker"]) == {"HPP_REDIS_URL"}
    blobs = up.state / "blobs"
    entries = [blobs, *blobs.rglob("*")]
    assert any(p.is_file() for p in entries)
    for path in entries:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path


def _children(parent: int) -> dict[str, int]:
    """``hpp up``'s children by role: worker, gateway, ui (``hpp.cli <role>``), redis-server."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid != parent:
            continue
        if b"hpp.cli" in argv:
            found[argv[argv.index(b"hpp.cli") + 1].decode()] = int(entry.name)
        elif b"redis-server" in argv[0]:
            found["redis-server"] = int(entry.name)
    return found


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    pairs = (item.decode(errors="replace").partition("=") for item in raw if item)
    return {name: value for name, _, value in pairs}

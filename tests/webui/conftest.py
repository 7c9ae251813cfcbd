"""UI fixtures: a real gateway around the session's model, and NiceGUI's simulated user."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from nicegui import app, core
from nicegui.storage import Storage
from nicegui.testing.user import User
from playwright.sync_api import Browser

from core.settings import AppSettings
from gateway.main import create_app
from hpp.redis_server import free_port
from ml.predict import Predictor
from tests.support.batch_env import BatchEnv
from tests.support.browser import chromium
from tests.support.model import ModelRegistry
from tests.support.service_process import ServiceProcess, web_system
from tests.support.simulated_ui import simulated_ui
from tests.support.system_settings import build_settings
from tests.support.threaded_server import ThreadedServer
from tests.support.worker_process import WorkerProcess


@pytest.fixture(scope="session", autouse=True)
def _nicegui_storage() -> Iterator[None]:
    """Keep NiceGUI's storage files in a temporary folder, not the working directory."""
    folder = Path(tempfile.mkdtemp(prefix="nicegui-test-storage-"))
    Storage.path = folder
    app.storage = Storage()
    yield
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def predictor(model_registry: ModelRegistry) -> Predictor:
    """The session's champion, loaded once."""
    return Predictor.load(model_registry.model_uri, tracking_uri=model_registry.tracking_uri)


@pytest.fixture(scope="session")
def gateway_settings(batch_env: BatchEnv) -> AppSettings:
    """Settings of the session's gateway: the batch fixtures' Redis, blobs and model."""
    return build_settings(
        batch_env.state_dir / "webui",
        tracking_uri=batch_env.tracking_uri,
        redis_url=batch_env.redis_url,
        blob_url=batch_env.blob_url,
        gateway_port=free_port(),
    )


@pytest.fixture(scope="session")
def gateway(gateway_settings: AppSettings, predictor: Predictor) -> Iterator[ThreadedServer]:
    """The real gateway, serving the session's model over HTTP on a free port."""
    server = ThreadedServer(
        create_app(gateway_settings, predictor=predictor), gateway_settings.gateway.port
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def system(
    batch_env: BatchEnv,
    celery_worker: WorkerProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    """Gateway and UI subprocesses on the session's Redis, worker and model."""
    with web_system(batch_env, tmp_path_factory.mktemp("e2e-logs")) as processes:
        yield processes


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium driven by Playwright (skipped when chromium is not installed)."""
    with chromium() as instance:
        yield instance


@pytest.fixture
async def user(
    gateway: ThreadedServer, gateway_settings: AppSettings, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[User]:
    """A simulated user of the UI, which talks to the session's real gateway."""
    async with simulated_ui(gateway_settings) as simulated:
        yield simulated
    errors = [r for r in caplog.get_records("call") if r.levelname == "ERROR"]
    assert not errors, f"unexpected ERROR logs: {[r.getMessage() for r in errors]}"


@pytest.fixture
async def another_user(user: User) -> AsyncIterator[User]:
    """A second browser on the same web app: its own cookies, so its own browser id."""
    transport = httpx.ASGITransport(core.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield User(client)

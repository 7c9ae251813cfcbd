"""UI fixtures: a real gateway around the session's model, and NiceGUI's simulated user."""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from nicegui import app, core, ui
from nicegui.functions.download import download
from nicegui.functions.navigate import Navigate
from nicegui.functions.notify import notify
from nicegui.storage import Storage
from nicegui.testing.general import nicegui_reset_globals
from nicegui.testing.user import User
from playwright.sync_api import Browser

from core.settings import AppSettings
from gateway.main import create_app
from ml.predict import Predictor
from tests.fixtures.model import ModelRegistry
from tests.fixtures.redis import BatchEnv
from tests.webui.browser import chromium
from tests.webui.servers import ThreadedServer, build_settings, free_port


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
def browser() -> Iterator[Browser]:
    """Debian's chromium driven by Playwright (skipped when chromium is not installed)."""
    with chromium() as instance:
        yield instance


@asynccontextmanager
async def simulated_ui(settings: AppSettings) -> AsyncIterator[User]:
    """The web app built by ``webui.main.run_ui`` with a simulated user (no browser)."""
    with nicegui_reset_globals():
        os.environ["NICEGUI_USER_SIMULATION"] = "true"
        try:
            # Imported fresh: the reset above drops the page modules from sys.modules.
            importlib.import_module("webui.main").start_ui(settings)
            async with core.app.router.lifespan_context(core.app):
                transport = httpx.ASGITransport(core.app)
                async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                    yield User(client)
        finally:
            os.environ.pop("NICEGUI_USER_SIMULATION", None)
            ui.navigate = Navigate()
            ui.notify = notify
            ui.download = download


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

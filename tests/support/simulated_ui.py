"""The web app with NiceGUI's simulated user (no browser), and what such a user does."""

from __future__ import annotations

import importlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from nicegui import core, ui
from nicegui.elements.upload_files import SmallFileUpload
from nicegui.functions.download import download
from nicegui.functions.navigate import Navigate
from nicegui.functions.notify import notify
from nicegui.testing.general import nicegui_reset_globals
from nicegui.testing.user import User

from core.settings import AppSettings
from tests.support.keys import UI_KEY
from tests.support.threaded_server import ThreadedServer

WAIT = 1200  # retries of 0.1 s: a cold worker may take a while to load the model


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


async def upload(user: User, name: str, content: bytes) -> None:
    """Drop a file on the page's uploader, as the browser would."""
    element = user.find(marker="batch-upload").elements.pop()
    assert isinstance(element, ui.upload)
    await element.handle_uploads([SmallFileUpload(name, "text/csv", content)])


def browser_id(user: User) -> str:
    """The id the web app gave this simulated browser (it sends it as X-On-Behalf-Of)."""
    assert user.client is not None, "open a page first"
    assert user.client.request is not None
    return str(user.client.request.session["id"])


def as_browser(user: User) -> dict[str, str]:
    """Headers to ask the gateway directly, as the web app does for this browser."""
    return {"X-API-Key": UI_KEY, "X-On-Behalf-Of": browser_id(user)}


def ui_job_id(
    gateway: ThreadedServer, user: User, filename: str, *, missing_ok: bool = False
) -> str | None:
    """The id of this browser's newest job for ``filename``, asked of the gateway directly."""
    response = httpx.get(f"{gateway.url}/v1/jobs", headers=as_browser(user), timeout=10)
    response.raise_for_status()
    ids = [job["id"] for job in response.json()["jobs"] if job["filename"] == filename]
    if not ids:
        assert missing_ok, f"no job for {filename}"
        return None
    return ids[0]

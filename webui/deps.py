"""What every page needs, built once by ``webui.main`` and passed to the page builders."""

from __future__ import annotations

from dataclasses import dataclass

from nicegui import app

from core.settings import AppSettings
from webui.api import GatewayClient


@dataclass(frozen=True)
class UIDeps:
    """The gateway client and the settings, shared by all pages of one process."""

    api: GatewayClient
    settings: AppSettings

    def browser_api(self) -> GatewayClient:
        """The gateway client acting for the browser of the current request (its own jobs)."""
        return self.api.acting_for(browser_id())


def browser_id() -> str:
    """The current browser's opaque random id (NiceGUI's, kept in its signed session cookie)."""
    return str(app.storage.browser["id"])

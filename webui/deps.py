"""What every page needs, built once by ``webui.main`` and passed to the page builders."""

from __future__ import annotations

from dataclasses import dataclass

from hpp.settings import AppSettings
from webui.api import GatewayClient


@dataclass(frozen=True)
class UIDeps:
    """The gateway client and the settings, shared by all pages of one process."""

    api: GatewayClient
    settings: AppSettings

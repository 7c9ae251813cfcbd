"""The frame every page shares: header with navigation, the error banner, a centred body."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from nicegui import ui

from webui.api import GatewayClient
from webui.components.banner import GatewayBanner
from webui.components.marks import testid
from webui.deps import UIDeps

APP_TITLE = "House Price Predictor"
NAV: tuple[tuple[str, str, str], ...] = (
    ("/", "Predict", "sell"),
    ("/batch", "Batch", "upload_file"),
    ("/jobs", "Jobs", "list_alt"),
    ("/model", "Model", "insights"),
    ("/monitoring", "Monitoring", "monitor_heart"),
)


@dataclass(frozen=True)
class Frame:
    """What a page body gets: the services, the banner, a gateway client acting for this browser."""

    deps: UIDeps
    banner: GatewayBanner
    api: GatewayClient


@contextmanager
def frame(title: str, *, path: str, deps: UIDeps) -> Iterator[Frame]:
    """Open the shared page frame; the page's content goes inside the ``with`` block."""
    ui.page_title(f"{title} · {APP_TITLE}")
    ui.colors(primary="#1d4ed8")
    with ui.header(elevated=True).classes("items-center justify-between flex-wrap gap-x-4 py-2"):
        with ui.link(target="/").classes("flex items-center gap-2 text-white no-underline"):
            ui.icon("home_work", size="md")
            ui.label(APP_TITLE).classes("text-lg font-semibold")
        with ui.element("nav").classes("flex flex-wrap gap-1").props('aria-label="Main"'):
            for target, label, icon in NAV:
                current = target == path
                # Icons alone on phones (the label stays for screen readers and tooltips),
                # so the navigation fits one row; icon and label from 600 px on.
                button = ui.button(icon=icon, on_click=lambda t=target: ui.navigate.to(t))
                button.props(f'flat no-caps color=white aria-label="{label}" title="{label}"')
                with button:
                    ui.label(label).classes("gt-xs q-ml-sm")  # Quasar: shown from 600 px
                if current:
                    button.classes("bg-white/20").props('aria-current="page"')
                button.mark(f"nav-{label.lower()}").props(testid(f"nav-{label.lower()}"))
    banner = GatewayBanner(deps.api)
    with ui.column().classes("w-full max-w-5xl mx-auto p-3 sm:p-6 gap-4"):
        ui.label(title).classes("text-2xl font-semibold")
        yield Frame(deps=deps, banner=banner, api=deps.browser_api())

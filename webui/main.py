"""The web app's entry point: builds the gateway client, registers pages and routes, runs."""

from __future__ import annotations

import secrets
from pathlib import Path

from nicegui import app, ui

from core.settings import AppSettings
from observability.logging import configure_logging, get_logger
from webui.api import GatewayClient
from webui.deps import UIDeps
from webui.layout import APP_TITLE
from webui.pages import batch, jobs, model, monitoring, predict
from webui.routes import register_routes
from webui.security import UISecurityHeadersMiddleware

FAVICON = Path(__file__).parent / "static" / "favicon.svg"
log = get_logger("webui")


def register_pages(settings: AppSettings) -> UIDeps:
    """Create the gateway client and register every page and route on the NiceGUI app."""
    # One button case everywhere: as written ("Predict price"), never Quasar's capitals.
    ui.button.default_props("no-caps")
    api = GatewayClient(settings.ui.gateway_url, api_key=settings.ui.ui_api_key)
    deps = UIDeps(api=api, settings=settings)

    @ui.page(predict.PATH)
    async def predict_page() -> None:
        await predict.page(deps)

    @ui.page(batch.PATH)
    async def batch_page(job: str | None = None) -> None:
        await batch.page(deps, job)

    @ui.page(jobs.PATH)
    async def jobs_page() -> None:
        await jobs.page(deps)

    @ui.page(model.PATH)
    async def model_page() -> None:
        await model.page(deps)

    @ui.page(monitoring.PATH)
    async def monitoring_page() -> None:
        await monitoring.page(deps)

    register_routes(api)
    app.on_shutdown(api.aclose)
    return deps


def run_ui(settings: AppSettings) -> None:
    """``hpp ui``: configure logging, then serve the app until stopped."""
    configure_logging("webui", settings.observability)
    start_ui(settings)


def start_ui(settings: AppSettings) -> None:
    """Register everything and serve on ``ui_host:ui_port`` (returns at once when simulated)."""
    register_pages(settings)
    if settings.ui.ui_api_key is None:
        log.warning("ui_without_api_key", message="HPP_UI_API_KEY is not set")
    if settings.ui.ui_storage_secret is None:
        log.warning(
            "ui_without_storage_secret",
            message="HPP_UI_STORAGE_SECRET is not set: browsers get new ids (and no longer "
            "see their jobs) whenever this process restarts, and differ between UI processes",
        )
    # No trailing-slash redirects: Starlette builds them from the Host header.
    app.router.redirect_slashes = False
    if not any(m.cls is UISecurityHeadersMiddleware for m in app.user_middleware):
        app.add_middleware(UISecurityHeadersMiddleware, https=settings.ui.ui_behind_https)
    log.info(
        "webui_starting",
        url=f"http://{settings.ui.ui_host}:{settings.ui.ui_port}",
        gateway_url=settings.ui.gateway_url,
    )
    ui.run(
        host=settings.ui.ui_host,
        port=settings.ui.ui_port,
        title=APP_TITLE,
        favicon=FAVICON,
        storage_secret=_storage_secret(settings),
        # Over HTTPS (behind the ALB) the browser's id cookie is sent over HTTPS only.
        session_middleware_kwargs={"https_only": settings.ui.ui_behind_https},
        reload=False,
        show=False,
        show_welcome_message=False,
        server_header=False,
        timeout_keep_alive=settings.gateway.keep_alive_seconds,  # outlasts the ALB's idle
    )


def _storage_secret(settings: AppSettings) -> str:
    secret = settings.ui.ui_storage_secret
    # It signs each browser's id, whose jobs the UI shows: a per-process one works for one
    # process until it restarts (warned about in start_ui).
    return secret.get_secret_value() if secret else secrets.token_urlsafe(32)


if __name__ in {"__main__", "__mp_main__"}:
    run_ui(AppSettings.from_env())

"""Gateway down or failing: a clear banner, no made-up numbers, recovery on its own."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from nicegui import ui

from core.settings import AppSettings
from gateway.main import create_app
from hpp.redis_server import free_port
from ml.predict import Predictor
from tests.support.model import ModelRegistry
from tests.support.simulated_ui import simulated_ui
from tests.support.system_settings import build_settings
from tests.support.threaded_server import ThreadedServer

pytestmark = pytest.mark.slow
BANNER_WAIT = 100  # retries of 0.1 s; the banner polls the gateway every 3 s


def settings_on_port(tmp_path: Path, tracking_uri: str, port: int) -> AppSettings:
    """UI and gateway settings for a gateway on ``port`` without Redis."""
    return build_settings(tmp_path, tracking_uri=tracking_uri, gateway_port=port)


async def test_a_gateway_not_up_yet_is_starting_then_the_page_recovers(
    tmp_path: Path, predictor: Predictor, model_registry: ModelRegistry
) -> None:
    port = free_port()
    settings = settings_on_port(tmp_path, model_registry.tracking_uri, port)
    async with simulated_ui(settings) as user:
        await user.open("/")
        await user.should_see(marker="gateway-banner", retries=BANNER_WAIT)
        await user.should_see("The prediction service is starting")
        select = user.find(marker="input-location").elements.pop()
        assert isinstance(select, ui.select)
        assert (list(select.options), select.value) == (["North Ames"], "North Ames")
        user.find(marker="predict-button").click()
        await user.should_not_see(marker="predicted-price")
        await user.should_not_see("Please fix the highlighted fields.")
        assert select.error is None

        server = ThreadedServer(create_app(settings, predictor=predictor), port).start()
        try:
            await user.should_not_see(marker="gateway-banner", retries=BANNER_WAIT)
            await user.should_see(f"Serving model version {predictor.version}", retries=50)
            known = predictor.card.categories["location"]
            assert list(select.options)[: len(known)] == known
        finally:
            server.stop()


async def test_gateway_stopping_mid_session_shows_the_banner_not_a_price(
    tmp_path: Path, predictor: Predictor, model_registry: ModelRegistry
) -> None:
    port = free_port()
    settings = settings_on_port(tmp_path, model_registry.tracking_uri, port)
    server = ThreadedServer(create_app(settings, predictor=predictor), port).start()
    async with simulated_ui(settings) as user:
        await user.open("/")
        await user.should_see(f"Serving model version {predictor.version}", retries=50)
        user.find(marker="predict-button").click()
        await user.should_see(marker="predicted-price", retries=50)

        server.stop()
        user.find(marker="input-bedrooms").clear().type("4")
        user.find(marker="predict-button").click()
        await user.should_see(marker="gateway-banner", retries=BANNER_WAIT)
        await user.should_not_see(marker="predicted-price")


async def test_gateway_error_is_reported_in_the_banner(
    tmp_path: Path, predictor: Predictor, model_registry: ModelRegistry
) -> None:
    port = free_port()
    settings = settings_on_port(tmp_path, model_registry.tracking_uri, port)
    server = ThreadedServer(create_app(settings, predictor=predictor), port).start()
    # The UI presents a key the gateway does not know: every call is refused.
    wrong = replace(settings, ui=settings.ui.model_copy(update={"ui_api_key": None}))
    try:
        async with simulated_ui(wrong) as user:
            await user.open("/model")
            await user.should_see(marker="gateway-banner", retries=50)
            await user.should_see("The gateway answered 401")
            await user.should_see("The model card is not available right now.")
    finally:
        server.stop()

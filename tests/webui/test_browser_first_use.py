"""A new user's first minutes in Debian's chromium: start-up, a phone, a value out of range.

The UI runs before the gateway does (as when a page is opened while the system starts),
then the gateway comes up; every page is real, in its own process.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from ml.predict import Predictor
from tests.support.batch_env import BatchEnv
from tests.support.browser import LAPTOP, PHONE, shoot, shot_path
from tests.support.service_process import ServiceProcess, gateway_process, ui_process

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BANNER_TIMEOUT_MS = 20_000
STARTING = "The prediction service is starting"


@pytest.fixture(scope="module")
def services(
    batch_env: BatchEnv, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    """The UI, started first, and a gateway (not started: each test decides)."""
    logs = tmp_path_factory.mktemp("first-use-logs")
    gateway = gateway_process(batch_env, logs)
    ui = ui_process(gateway, logs).start()
    yield gateway, ui
    ui.stop()
    gateway.stop()


def ready_page(
    browser: Browser,
    services: tuple[ServiceProcess, ServiceProcess],
    predictor: Predictor,
    *,
    phone: bool = False,
) -> Page:
    """The predict page with the gateway up and the model card loaded."""
    gateway, ui = services
    if not gateway.alive():
        gateway.start()
    page = open_page(browser, ui.url + "/", phone=phone)
    page.get_by_text(f"Serving model version {predictor.version}").wait_for()
    return page


def open_page(browser: Browser, url: str, *, phone: bool = False) -> Page:
    """A fresh tab at laptop or phone size (a touch screen for the phone)."""
    context = browser.new_context(
        viewport=PHONE if phone else LAPTOP, is_mobile=phone, has_touch=phone
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(url)
    return page


def test_a_page_opened_before_the_gateway_is_ready_says_it_is_starting(
    browser: Browser, services: tuple[ServiceProcess, ServiceProcess], predictor: Predictor
) -> None:
    gateway, ui = services
    gateway.stop()
    page = open_page(browser, ui.url + "/")
    banner = page.get_by_test_id("gateway-banner")
    banner.wait_for(state="visible", timeout=BANNER_TIMEOUT_MS)
    assert STARTING in banner.inner_text()
    assert page.get_by_label("Location (neighbourhood)").input_value() == "North Ames"

    page.get_by_test_id("predict-button").click()
    page.wait_for_timeout(1500)

    assert STARTING in banner.inner_text()
    assert page.get_by_test_id("form-message").inner_text() == ""
    assert page.get_by_text("Required").count() == 0
    assert not page.get_by_test_id("predicted-price").is_visible()
    shoot(page, "predict-starting")

    gateway.start()
    banner.wait_for(state="hidden", timeout=BANNER_TIMEOUT_MS)
    page.get_by_text(f"Serving model version {predictor.version}").wait_for()
    page.get_by_test_id("predict-button").click()
    page.get_by_test_id("predicted-price").wait_for()
    assert page.get_by_test_id("predicted-price").inner_text().startswith("$")
    page.context.close()


def test_on_a_phone_the_price_is_brought_into_view(
    browser: Browser, services: tuple[ServiceProcess, ServiceProcess], predictor: Predictor
) -> None:
    page = ready_page(browser, services, predictor, phone=True)
    card = page.get_by_test_id("result-card")

    page.get_by_test_id("predict-button").tap()
    page.get_by_test_id("predicted-price").wait_for()

    # The card starts below the fold (the form fills the screen); the page scrolls to it.
    page.wait_for_function(
        "() => { const r = document.querySelector('[data-testid=result-card]')"
        ".getBoundingClientRect(); return r.top >= 0 && r.top < window.innerHeight / 2; }",
        timeout=10_000,
    )
    assert page.evaluate("window.scrollY") > 0
    price = page.get_by_test_id("predicted-price").bounding_box()
    assert price is not None
    assert price["y"] >= 0
    assert price["y"] + price["height"] <= PHONE["height"]
    assert card.is_visible()
    page.screenshot(path=shot_path("predict-result-phone"))
    page.context.close()


def test_a_value_out_of_range_is_explained_not_changed(
    browser: Browser, services: tuple[ServiceProcess, ServiceProcess], predictor: Predictor
) -> None:
    page = ready_page(browser, services, predictor)
    area = page.get_by_label("Living area (sq ft)")

    area.fill("-5")
    page.get_by_test_id("predict-button").click()
    page.wait_for_timeout(1000)

    assert area.input_value() == "-5"
    assert page.get_by_text("Must be at least 100").is_visible()
    assert page.get_by_test_id("form-message").inner_text() == "Please fix the highlighted fields."
    assert not page.get_by_test_id("predicted-price").is_visible()
    case = "e => getComputedStyle(e).textTransform"
    assert page.get_by_test_id("predict-button").evaluate(case) == "none"  # as written
    shoot(page, "predict-out-of-range", phone=False)
    page.context.close()


def test_monitoring_sets_the_command_to_run_as_code(
    browser: Browser, services: tuple[ServiceProcess, ServiceProcess], predictor: Predictor
) -> None:
    page = ready_page(browser, services, predictor)
    page.goto(services[1].url + "/monitoring")
    card = page.get_by_test_id("challenger-card")
    card.wait_for()
    page.get_by_text("Drift of the latest batch job").wait_for()

    assert card.locator("code").inner_text() == "hpp compare --challenger VERSION"
    assert "`" not in card.inner_text()
    case = "e => getComputedStyle(e).textTransform"
    assert page.get_by_role("button", name="Refresh").evaluate(case) == "none"
    shoot(page, "monitoring-no-replay")
    page.context.close()

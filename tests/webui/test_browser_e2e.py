"""End to end in Debian's chromium: Redis, a worker, the gateway and the UI as real processes.

Screenshots of every page land in ``test-artifacts/screenshots/`` (laptop 1366x768 and phone
390x844).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from ml.predict import Predictor
from tests.support.browser import LAPTOP, shoot
from tests.support.keys import UI_KEY
from tests.support.service_process import ServiceProcess
from tests.support.ui_csv import houses_csv, read_csv

pytestmark = [pytest.mark.browser, pytest.mark.slow]

System = tuple[ServiceProcess, ServiceProcess]
JOB_TIMEOUT_MS = 180_000
BANNER_TIMEOUT_MS = 20_000


@pytest.fixture
def page(browser: Browser, system: tuple[ServiceProcess, ServiceProcess]) -> Iterator[Page]:
    """A fresh laptop-sized tab with downloads allowed."""
    context = browser.new_context(viewport=LAPTOP, accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    yield tab
    context.close()


def price_house(page: Page, ui: ServiceProcess, predictor: Predictor, *, sqft: int) -> None:
    """Open the Predict page, enter ``sqft`` (other fields as given) and ask for a price."""
    page.goto(ui.url + "/")
    page.get_by_text(f"Serving model version {predictor.version}").wait_for()
    page.get_by_label("Living area (sq ft)").fill(str(sqft))
    page.get_by_test_id("predict-button").click()


def test_price_one_house(page: Page, system: System, predictor: Predictor) -> None:
    gateway, ui = system
    price_house(page, ui, predictor, sqft=2100)
    price = page.get_by_test_id("predicted-price")
    price.wait_for()
    house = {
        "sqft": 2100,
        "bedrooms": 3,
        "bathrooms": 1.5,
        "location": "North Ames",
        "year_built": 1960,
        "condition": "Average",
    }
    expected = httpx.post(
        gateway.url + "/v1/predict", json=house, headers={"X-API-Key": UI_KEY}, timeout=10
    ).json()
    assert price.inner_text() == f"${expected['predicted_price']:,.0f}"
    assert page.get_by_test_id("model-version").inner_text() == (
        f"Model version {expected['model_version']}"
    )
    page.locator("[data-testid=contributions-chart] canvas").first.wait_for()
    shoot(page, "predict")
    assert page.title() == "Price a house · House Price Predictor"
    favicon = httpx.get(ui.url + "/favicon.ico", timeout=10)
    assert favicon.status_code == 200
    assert b"<svg" in favicon.content


def test_price_one_house_lists_its_comparable_sales(
    page: Page, system: System, predictor: Predictor
) -> None:
    _, ui = system
    price_house(page, ui, predictor, sqft=1800)
    table = page.get_by_test_id("comparables-table")
    table.wait_for()
    page.locator("[data-testid=comparables-chart] canvas").first.wait_for()
    assert table.locator("tbody tr").count() == 5
    assert "Median of 5 sales adjusted to this house" in (
        page.get_by_test_id("comparables-median").inner_text()
    )
    shoot(page, "predict-comparables")


def test_upload_10000_rows_watch_progress_and_download(
    page: Page, system: System, predictor: Predictor, tmp_path: Path
) -> None:
    _, ui = system
    csv_path = tmp_path / "houses-10k.csv"
    csv_path.write_bytes(houses_csv(10_000, categories=predictor.card.categories, bad_rows=7))
    page.goto(ui.url + "/batch")
    page.get_by_text("Download a sample CSV").wait_for()
    idle = page.get_by_test_id("batch-upload").inner_text()
    assert "Drop a CSV here or click to choose — up to 500 MB" in idle
    assert "0.0B" not in idle
    assert "%" not in idle
    shoot(page, "batch-empty", phone=False)
    page.locator("[data-testid=batch-upload] input[type=file]").set_input_files(str(csv_path))

    percent = page.get_by_test_id("batch-progress-percent")
    percent.wait_for()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=batch-progress-percent]')"
        "?.innerText === '100%'",
        timeout=JOB_TIMEOUT_MS,
    )
    assert (
        page.get_by_test_id("batch-progress-label").inner_text().startswith("10,000 / 10,000 rows")
    )
    summary = page.get_by_test_id("batch-summary")
    summary.wait_for(timeout=JOB_TIMEOUT_MS)
    assert summary.inner_text() == (
        f"9,993 of 10,000 rows priced by model version {predictor.version}"
    )
    assert "7 rows rejected" in page.get_by_test_id("batch-rejected").inner_text()
    page.locator("[data-testid=batch-histogram] canvas").first.wait_for()
    assert page.locator("[data-testid=batch-preview] tbody tr").count() == 10
    shoot(page, "batch-done")

    with page.expect_download() as download_info:
        page.get_by_test_id("batch-download").click()
    assert download_info.value.suggested_filename == "houses-10k-scored.csv"  # as the API names it
    scored = read_csv(Path(download_info.value.path()).read_bytes())
    original = read_csv(csv_path.read_bytes())
    assert len(scored) == 10_000
    assert scored["sqft"].tolist() == original["sqft"].tolist()
    assert {"predicted_price", "price_low", "price_high", "error"} <= set(scored.columns)
    assert (scored["error"] != "").sum() == 7

    page.goto(ui.url + "/jobs")
    page.get_by_text("houses-10k.csv").first.wait_for()
    shoot(page, "jobs")


def test_cancel_a_running_job_keeps_it_listed(
    page: Page, system: System, predictor: Predictor, tmp_path: Path
) -> None:
    _, ui = system
    csv_path = tmp_path / "big.csv"
    csv_path.write_bytes(houses_csv(300_000, categories=predictor.card.categories))
    page.goto(ui.url + "/batch")
    page.locator("[data-testid=batch-upload] input[type=file]").set_input_files(str(csv_path))
    status = page.get_by_test_id("batch-status")
    page.wait_for_function(
        "() => /^[1-9]/.test(document.querySelector('[data-testid=batch-progress-label]')"
        "?.innerText || '')",
        timeout=JOB_TIMEOUT_MS,
    )
    assert status.inner_text() == "running"
    shoot(page, "batch-running", phone=False)
    page.get_by_test_id("batch-cancel").click()
    page.get_by_test_id("batch-cancelled").wait_for()
    assert status.inner_text() == "cancelled"
    label = page.get_by_test_id("batch-progress-label").inner_text()
    assert not re.match(r"^300,000 / 300,000", label)
    shoot(page, "batch-cancelled", phone=False)

    page.goto(ui.url + "/jobs")
    card = page.locator("[data-testid^=job-]", has_text="big.csv").first
    card.wait_for()
    assert card.get_by_test_id("job-status").inner_text() == "cancelled"
    assert card.get_by_test_id("job-cancel").count() == 0
    assert card.get_by_test_id("job-delete").is_visible()


def test_model_page(page: Page, system: System, predictor: Predictor) -> None:
    _, ui = system
    page.goto(ui.url + "/model")
    page.get_by_test_id("metrics-table").wait_for()
    assert page.get_by_test_id("model-version").inner_text() == str(predictor.version)
    for chart in ("pred-vs-actual-chart", "residuals-chart", "importance-chart"):
        page.locator(f"[data-testid={chart}] canvas").first.wait_for()
    page.wait_for_timeout(800)  # let the charts' entry animation end
    shoot(page, "model")


def test_gateway_stopped_mid_session_shows_banner_then_recovers(
    page: Page, system: System, predictor: Predictor
) -> None:
    gateway, ui = system
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(ui.url + "/")
    page.get_by_text(f"Serving model version {predictor.version}").wait_for()
    banner = page.get_by_test_id("gateway-banner")
    assert not banner.is_visible()

    gateway.stop()
    try:
        banner.wait_for(state="visible", timeout=BANNER_TIMEOUT_MS)
        assert "unreachable" in banner.inner_text()
        page.get_by_test_id("predict-button").click()
        page.wait_for_timeout(1000)
        assert not page.get_by_test_id("predicted-price").is_visible()
        shoot(page, "gateway-down")
    finally:
        gateway.start()
    banner.wait_for(state="hidden", timeout=BANNER_TIMEOUT_MS)
    page.get_by_test_id("predict-button").click()
    page.get_by_test_id("predicted-price").wait_for()
    assert page.get_by_test_id("predicted-price").inner_text().startswith("$")
    assert errors == []

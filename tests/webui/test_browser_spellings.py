"""Spellings in the browser: the Predict form reads North_Ames, the Batch page lists rewrites.

Screenshots land in ``test-artifacts/screenshots/`` (``predict-underscored``,
``batch-rewrites``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from ml.predict import Predictor
from tests.support.batch_env import BatchEnv
from tests.support.browser import LAPTOP, shoot
from tests.support.keys import UI_KEY
from tests.support.service_process import ServiceProcess, gateway_process, ui_process
from tests.support.worker_process import WorkerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]

System = tuple[ServiceProcess, ServiceProcess]
JOB_TIMEOUT_MS = 180_000
HOUSE = {
    "sqft": 1656,
    "bedrooms": 3,
    "bathrooms": 1.5,
    "location": "North Ames",
    "year_built": 1960,
    "condition": "Average",
}


@pytest.fixture(scope="module")
def system(
    batch_env: BatchEnv,
    celery_worker: WorkerProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[System]:
    """Gateway and UI subprocesses on the session's Redis, worker and model."""
    logs = tmp_path_factory.mktemp("spellings-logs")
    gateway = gateway_process(batch_env, logs).start()
    ui = ui_process(gateway, logs).start()
    yield gateway, ui
    ui.stop()
    gateway.stop()


@pytest.fixture
def page(browser: Browser, system: System) -> Iterator[Page]:
    context = browser.new_context(viewport=LAPTOP)
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    yield tab
    context.close()


def test_predict_reads_an_underscored_neighbourhood(
    page: Page, system: System, predictor: Predictor
) -> None:
    gateway, ui = system
    page.goto(ui.url + "/")
    page.get_by_text(f"Serving model version {predictor.version}").wait_for()
    location = page.get_by_label("Location (neighbourhood)")
    location.click()
    location.fill("North_Ames")
    location.press("Enter")
    page.get_by_text("Read 'North_Ames' as North Ames").wait_for()
    page.keyboard.press("Escape")
    page.get_by_test_id("predict-button").click()
    price = page.get_by_test_id("predicted-price")
    price.wait_for()

    expected = httpx.post(
        gateway.url + "/v1/predict", json=HOUSE, headers={"X-API-Key": UI_KEY}, timeout=10
    ).json()
    assert price.inner_text() == f"${expected['predicted_price']:,.0f}"
    shoot(page, "predict-underscored", phone=False)


def test_batch_page_lists_the_spellings_read(
    page: Page, system: System, predictor: Predictor, tmp_path: Path
) -> None:
    _, ui = system
    rows = ["sqft,bedrooms,bathrooms,location,year_built,condition"]
    spellings = [("North_Ames", "Above_Average"), ("CollgCr", "TA"), ("old town", "Good")]
    for i in range(300):
        location, condition = spellings[i % 3]
        rows.append(f"{1200 + i},3,2,{location},{1950 + i % 60},{condition}")
    rows.append("1500,3,2,Nrth Ames,1970,Average")
    csv_path = tmp_path / "spelled.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    page.goto(ui.url + "/batch")
    page.get_by_text("Download a sample CSV").wait_for()
    page.locator("[data-testid=batch-upload] input[type=file]").set_input_files(str(csv_path))

    summary = page.get_by_test_id("batch-summary")
    summary.wait_for(timeout=JOB_TIMEOUT_MS)
    assert summary.inner_text().startswith("300 of 301 rows priced")
    rewrites = page.get_by_test_id("batch-rewrites").inner_text()
    assert "location: North_Ames -> North Ames: 100 rows" in rewrites
    assert "location: CollgCr -> College Creek: 100 rows" in rewrites
    assert "condition: TA -> Average: 100 rows" in rewrites
    reasons = page.get_by_test_id("batch-reasons").inner_text()
    assert "did you mean 'North Ames'?" in reasons
    shoot(page, "batch-rewrites", phone=False)

"""The Monitoring page: simulated, and in Debian's chromium with real feedback, drift and a replay.

The browser test saves ``test-artifacts/screenshots/monitoring.png`` (and the phone width).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
import redis
from nicegui import ui
from nicegui.testing.user import User
from playwright.sync_api import sync_playwright

from hpp.replay import run_compare
from hpp.settings import (
    AppSettings,
    CoreSettings,
    GatewaySettings,
    ObservabilitySettings,
    UISettings,
    WorkerSettings,
)
from tests.fixtures.model import DATA, ModelRegistry
from tests.fixtures.redis import BatchEnv, StartWorker
from tests.webui.browser import CHROMIUM_ARGS, LAPTOP, PHONE
from tests.webui.servers import UI_KEY
from tests.webui.system import ROOT, ServiceProcess, gateway_process, ui_process

SHOTS = ROOT / "test-artifacts" / "screenshots"
MONITOR_DB = 12
KEY = {"X-API-Key": UI_KEY}
COLUMNS = ["sqft", "bedrooms", "bathrooms", "location", "year_built", "condition"]


async def test_monitoring_page_shows_the_sections(user: User) -> None:
    await user.open("/monitoring")

    await user.should_see("Live accuracy vs the training gates")
    await user.should_see("Drift of live traffic vs training (PSI per feature)")
    await user.should_see("Latest challenger replay")
    # The command is set as code (markdown), not shown with literal backticks.
    (none_yet,) = user.find(marker="challenger-none").elements
    assert isinstance(none_yet, ui.markdown)
    await user.should_see("Drift of the latest batch job")
    await user.should_see(marker="nav-monitoring")


@pytest.fixture(scope="module")
def monitored_system(
    batch_env: BatchEnv,
    model_registry: ModelRegistry,
    start_worker: StartWorker,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServiceProcess, ServiceProcess, Path]]:
    """Gateway, worker and UI processes on a Redis database of their own."""
    env = batch_env.with_database(MONITOR_DB)
    redis.Redis.from_url(env.redis_url).flushdb()
    start_worker(env)
    logs = tmp_path_factory.mktemp("monitoring-logs")
    gateway = gateway_process(env, logs).start()
    ui = ui_process(gateway, logs).start()
    yield gateway, ui, logs
    ui.stop()
    gateway.stop()


def feed_traffic_and_prices(gateway: ServiceProcess) -> int:
    """Price 300 real houses and report their sale prices; then 150 houses twice as big."""
    data = pd.read_csv(DATA).sample(450, random_state=21).reset_index(drop=True)
    calm, big = data.iloc[:300], data.iloc[300:].assign(sqft=lambda f: f["sqft"] * 2)
    with httpx.Client(base_url=gateway.url, headers=KEY, timeout=30) as http:
        answer = http.post("/v1/predict/batch", json={"rows": calm[COLUMNS].to_dict("records")})
        items = [
            {"prediction_id": p["prediction_id"], "actual_price": float(price)}
            for p, price in zip(answer.json()["predictions"], calm["price"], strict=True)
        ]
        accepted = http.post("/v1/feedback", json={"items": items}).json()["accepted"]
        http.post("/v1/predict/batch", json={"rows": big[COLUMNS].to_dict("records")})
    return int(accepted)


def write_shifted_houses(path: Path) -> Path:
    """A CSV of 400 real houses, each twice as big (scored as a job through the browser)."""
    data = pd.read_csv(DATA).sample(400, random_state=22)
    path.write_bytes(data[COLUMNS].assign(sqft=data["sqft"] * 2).to_csv(index=False).encode())
    return path


@pytest.mark.browser
@pytest.mark.slow
def test_monitoring_page_in_chromium(
    monitored_system: tuple[ServiceProcess, ServiceProcess, Path],
    batch_env: BatchEnv,
    model_registry: ModelRegistry,
    tmp_path: Path,
) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    gateway, ui, _ = monitored_system
    assert feed_traffic_and_prices(gateway) == 300
    challenger = model_registry.register_another(seed=11, promote=False)
    settings = AppSettings(
        CoreSettings(
            state_dir=tmp_path,
            redis_url=batch_env.with_database(MONITOR_DB).redis_url,
            mlflow_tracking_uri=model_registry.tracking_uri,
            registered_model=model_registry.name,
        ),
        GatewaySettings(),
        WorkerSettings(),
        UISettings(),
        ObservabilitySettings(),
    )
    config = ROOT / "ml" / "config.yaml"
    assert (
        run_compare(
            challenger=challenger,
            job_id=None,
            champion=None,
            config=config,
            out=None,
            settings=settings,
        )
        == 0
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(next((tmp_path / "reports").glob("replay-*.md")), SHOTS / "replay-report.md")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=LAPTOP)
        page.set_default_timeout(30_000)
        # The job is this browser's own (the UI acts for each browser), so it is sent here.
        page.goto(ui.url + "/batch")
        shifted = write_shifted_houses(tmp_path / "bigger-houses.csv")
        page.locator("[data-testid=batch-upload] input[type=file]").set_input_files(str(shifted))
        page.get_by_test_id("batch-summary").wait_for(timeout=180_000)
        page.goto(ui.url + "/monitoring")
        page.locator("[data-testid=drift-chart] canvas").first.wait_for()
        page.get_by_test_id("challenger-verdict").wait_for()
        page.wait_for_timeout(800)  # let the chart animation settle before the picture
        page.screenshot(path=str(SHOTS / "monitoring.png"), full_page=True)
        summary = page.get_by_test_id("drift-summary").inner_text()
        table = page.get_by_test_id(f"live-metrics-{model_registry.version}").inner_text()
        coverage = page.get_by_test_id("live-coverage").inner_text()
        job_summary = page.get_by_test_id("job-drift-summary").inner_text()
        page.set_viewport_size(PHONE)
        page.wait_for_timeout(300)
        page.screenshot(path=str(SHOTS / "monitoring-phone.png"), full_page=True)
        browser.close()

    assert "shifted: Living area" in summary
    assert "450 recent houses" in summary
    assert "MAE" in table
    assert "≤ $" in table
    assert "Interval coverage" in coverage
    assert job_summary.startswith("bigger-houses.csv: 400 rows; shifted: Living area")

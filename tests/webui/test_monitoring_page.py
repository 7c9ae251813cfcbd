"""The Monitoring page: simulated, and in Debian's chromium with real feedback, drift and a replay.

The browser test saves ``test-artifacts/screenshots/monitoring.png`` (and the phone width).
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from nicegui import ui
from nicegui.testing.user import User
from playwright.sync_api import sync_playwright

from core.settings import (
    AppSettings,
    CoreSettings,
    GatewaySettings,
    ObservabilitySettings,
    UISettings,
    WorkerSettings,
    hash_api_key,
)
from hpp.replay import run_compare
from tests.support.batch_env import BatchEnv
from tests.support.browser import CHROMIUM_ARGS, LAPTOP, PHONE
from tests.support.keys import UI_KEY
from tests.support.model import ModelRegistry
from tests.support.paths import DATA, ROOT
from tests.support.private_database import worker_on_database
from tests.support.service_process import ServiceProcess, web_system
from tests.support.simulated_ui import as_browser
from tests.support.threaded_server import ThreadedServer
from tests.support.worker_process import StartWorker

SHOTS = ROOT / "test-artifacts" / "screenshots"
MONITOR_DB = 12
KEY = {"X-API-Key": UI_KEY}
OPS_KEY = "ops-key-0123456789"
OPS = {"X-API-Key": OPS_KEY}  # the operators' key, trusted for feedback
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
    await user.should_see("Retraining triggers")
    await user.should_see(marker="trigger-history")


async def test_monitoring_page_says_whose_figures_each_section_shows(
    user: User, gateway: ThreadedServer
) -> None:
    await user.open("/monitoring")
    await user.should_see("All users: sale prices reported by the operators' trusted keys")
    await user.should_see("All users: the recent houses priced by every key.")
    await user.should_see("Only you: the newest finished job of this browser.")
    await user.should_not_see(marker="own-accuracy-card")

    # This browser's prices (sent with the web app's key, as the app acts for it) count for
    # it alone: they show in a card of their own, and the shared figures do not move.
    before = (await monitoring_as(gateway, KEY))["accuracy"]
    data = pd.read_csv(DATA).sample(30, random_state=23)
    async with httpx.AsyncClient(base_url=gateway.url, headers=as_browser(user)) as http:
        answer = await http.post(
            "/v1/predict/batch", json={"rows": data[COLUMNS].to_dict("records")}
        )
        items = [
            {"prediction_id": p["prediction_id"], "actual_price": 2 * p["predicted_price"]}
            for p in answer.json()["predictions"]
        ]
        posted = (await http.post("/v1/feedback", json={"items": items})).json()
    user.find(marker="monitoring-refresh").click()

    await user.should_see(marker="own-accuracy-card")
    await user.should_see("Only you: prices reported from this browser count here")
    await user.should_see("30 prices in the window")
    assert (posted["scope"], posted["accepted"]) == ("own", 30)
    assert (await monitoring_as(gateway, KEY))["accuracy"] == before


async def monitoring_as(gateway: ThreadedServer, headers: dict[str, str]) -> dict:
    """GET /v1/monitoring with these headers."""
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers) as http:
        body: dict = (await http.get("/v1/monitoring")).json()
    return body


@pytest.fixture(scope="module")
def monitored_system(
    batch_env: BatchEnv,
    model_registry: ModelRegistry,
    start_worker: StartWorker,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServiceProcess, ServiceProcess, Path]]:
    """Gateway, worker and UI processes on a Redis database of their own."""
    logs = tmp_path_factory.mktemp("monitoring-logs")
    keys = {"webui": hash_api_key(UI_KEY), "ops": hash_api_key(OPS_KEY)}
    extra = {"HPP_API_KEYS": json.dumps(keys), "HPP_FEEDBACK_KEY_NAMES": json.dumps(["ops"])}
    with (
        worker_on_database(batch_env, start_worker, MONITOR_DB) as env,
        web_system(env, logs, gateway_environ=extra) as (gateway, ui),
    ):
        yield gateway, ui, logs


def feed_traffic_and_prices(gateway: ServiceProcess) -> int:
    """Price 300 real houses and report their sale prices; then 150 houses twice as big."""
    data = pd.read_csv(DATA).sample(450, random_state=21).reset_index(drop=True)
    calm, big = data.iloc[:300], data.iloc[300:].assign(sqft=lambda f: f["sqft"] * 2)
    with httpx.Client(base_url=gateway.url, headers=OPS, timeout=30) as http:
        answer = http.post("/v1/predict/batch", json={"rows": calm[COLUMNS].to_dict("records")})
        items = [
            {"prediction_id": p["prediction_id"], "actual_price": float(price)}
            for p, price in zip(answer.json()["predictions"], calm["price"], strict=True)
        ]
        accepted = http.post("/v1/feedback", json={"items": items}).json()["accepted"]
        http.post("/v1/predict/batch", json={"rows": big[COLUMNS].to_dict("records")})
    return int(accepted)


def browser_headers(cookies: list) -> dict[str, str]:
    """What the web app sends for this browser: its key and the id in the session cookie."""
    (session,) = [c["value"] for c in cookies if c["name"] == "session"]
    payload = session.split(".", 1)[0]  # Starlette's cookie: base64 JSON, then the signature
    data = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
    return {**KEY, "X-On-Behalf-Of": data["id"]}


def report_job_prices_as(gateway: ServiceProcess, headers: dict[str, str]) -> dict:
    """Report the real sale prices of the browser's job (3 of them as $1) as the browser."""
    prices = pd.read_csv(DATA).sample(400, random_state=22)["price"].to_numpy(dtype=float)
    prices[:3] = 1.0
    with httpx.Client(base_url=gateway.url, headers=headers, timeout=30) as http:
        (job,) = http.get("/v1/jobs").json()["jobs"]
        feedback = pd.DataFrame({"row": range(1, 401), "actual_price": prices})
        answer = http.post(
            "/v1/feedback",
            params={"job_id": job["id"]},
            content=feedback.to_csv(index=False).encode(),
            headers={"Content-Type": "text/csv"},
        )
    assert answer.status_code == 200, answer.text
    body: dict = answer.json()
    return body


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
        posted = report_job_prices_as(gateway, browser_headers(page.context.cookies()))
        page.goto(ui.url + "/monitoring")
        page.locator("[data-testid=drift-chart] canvas").first.wait_for()
        page.get_by_test_id("challenger-verdict").wait_for()
        page.wait_for_timeout(800)  # let the chart animation settle before the picture
        page.screenshot(path=str(SHOTS / "monitoring.png"), full_page=True)
        summary = page.get_by_test_id("drift-summary").inner_text()
        scopes = [
            page.get_by_test_id(mark).inner_text()
            for mark in ("accuracy-scope", "drift-scope", "job-drift-scope")
        ]
        table = page.get_by_test_id(f"live-metrics-{model_registry.version}").inner_text()
        coverage = page.get_by_test_id("live-coverage").inner_text()
        job_summary = page.get_by_test_id("job-drift-summary").inner_text()
        own = page.get_by_test_id("own-accuracy-card").inner_text()
        held = page.get_by_test_id("held-feedback").inner_text()
        page.set_viewport_size(PHONE)
        page.wait_for_timeout(300)
        page.screenshot(path=str(SHOTS / "monitoring-phone.png"), full_page=True)
        browser.close()

    assert [s.split(":")[0] for s in scopes] == ["All users", "All users", "Only you"]
    assert "shifted: Living area" in summary
    assert "450 recent houses" in summary
    assert "MAE" in table
    assert "≤ $" in table
    assert "Interval coverage" in coverage
    assert job_summary.startswith("bigger-houses.csv: 400 rows; shifted: Living area")
    assert (posted["scope"], posted["accepted"], len(posted["held"])) == ("own", 397, 3)
    assert "Only you" in own
    assert "397 prices in the window" in own
    assert held.startswith("3 implausible reported prices are held for review")
    shared = httpx.get(gateway.url + "/v1/monitoring", headers=OPS).json()["accuracy"]
    assert shared[0]["metrics"]["n"] == 300  # the browser's prices did not join these

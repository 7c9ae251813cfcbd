"""Batch page views of a large finished job keep the web app's memory flat (issue 17).

In Debian's chromium, against real gateway, worker and UI processes: a 300,000-row file
(an 85 MB result) is uploaded and scored, then its Batch page is opened in three tabs at
once, twice. The UI process's peak resident memory over those six views (``VmHWM``, reset
just before them) must stay under a quarter of the result's size: the page used to download
and parse the whole result on every view. Saves ``batch-large.png`` (and the phone width).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import Page

from tests.support.batch_env import BatchEnv
from tests.support.browser import LAPTOP, chromium, shoot
from tests.support.jobs import stored_result
from tests.support.memory import peak_since_reset, reset_peak
from tests.support.private_database import worker_on_database
from tests.support.service_process import ServiceProcess, web_system
from tests.support.worker_process import StartWorker

pytestmark = [pytest.mark.browser, pytest.mark.slow]
MEMORY_DB = 7
ROWS = 300_000
TABS = 3
ROUNDS = 2
JOB_TIMEOUT_MS = 600_000


@pytest.fixture(scope="module")
def large_system(
    batch_env: BatchEnv, start_worker: StartWorker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceProcess, ServiceProcess, BatchEnv]]:
    """Gateway, worker (50,000-row chunks) and UI processes on a Redis database of their own."""
    logs = tmp_path_factory.mktemp("batch-memory-logs")
    with (
        worker_on_database(batch_env, start_worker, MEMORY_DB, chunk_rows=50_000) as env,
        web_system(env, logs) as (gateway, ui),
    ):
        yield gateway, ui, env


def large_csv(path: Path) -> Path:
    """300,000 houses with a 200-character note each; every 1,000th has no sqft."""
    frame = pd.DataFrame(
        {
            "sqft": [("" if i % 1_000 == 999 else str(800 + i % 2_500)) for i in range(ROWS)],
            "bedrooms": [1 + i % 5 for i in range(ROWS)],
            "bathrooms": [1 + (i % 4) / 2 for i in range(ROWS)],
            "location": "North Ames",
            "year_built": [1900 + i % 110 for i in range(ROWS)],
            "condition": "Average",
            "note": "n" * 200,
        }
    )
    frame.to_csv(path, index=False)
    return path


def view(page: Page, url: str) -> None:
    """Open a finished job's Batch page and wait until its chart and preview are drawn."""
    page.goto(url)
    page.locator("[data-testid=batch-histogram] canvas").first.wait_for(timeout=60_000)
    page.locator("[data-testid=batch-preview] tbody tr").nth(9).wait_for()


def test_batch_page_views_of_a_large_job_keep_ui_memory_flat(
    large_system: tuple[ServiceProcess, ServiceProcess, BatchEnv], tmp_path: Path
) -> None:
    _, ui, env = large_system
    assert ui.process is not None
    pid = ui.process.pid
    with chromium() as browser:
        context = browser.new_context(viewport=LAPTOP)
        context.set_default_timeout(30_000)
        page = context.new_page()
        page.goto(ui.url + "/batch")
        upload = page.locator("[data-testid=batch-upload] input[type=file]")
        upload.set_input_files(str(large_csv(tmp_path / "large.csv")))
        page.get_by_test_id("batch-summary").wait_for(timeout=JOB_TIMEOUT_MS)
        page.goto(ui.url + "/jobs")
        href = page.locator("a[href^='/batch?job=']").first.get_attribute("href")
        assert href is not None
        job_id = href.split("=", 1)[1]
        with ThreadPoolExecutor(1) as thread:  # Playwright's loop runs in this thread
            result_bytes = len(thread.submit(stored_result, env.blob_url, job_id).result())

        baseline = reset_peak(pid)
        tabs = [context.new_page() for _ in range(TABS)]
        for _ in range(ROUNDS):
            for tab in tabs:  # start all three loads, then wait for each
                tab.goto(ui.url + href, wait_until="commit")
            for tab in tabs:
                view(tab, ui.url + href)
        peak = peak_since_reset(pid)

        shown = tabs[0]
        summary = shown.get_by_test_id("batch-summary").inner_text()
        rejected = shown.get_by_test_id("batch-rejected").inner_text()
        first_row = shown.locator("[data-testid=batch-preview] tbody tr").first.inner_text()
        shown.get_by_text("Show the first 10 rejected rows").click()
        first_rejected = shown.locator("[data-testid=batch-rejected-rows] tbody tr").first
        rejected_row = first_rejected.inner_text()
        rejected_number = first_rejected.locator("td").first.inner_text()
        shoot(shown, "batch-large")

    growth = peak - baseline
    print(
        f"result {result_bytes / 1e6:.1f} MB; UI RSS {baseline / 2**20:.0f} MB, peak over "
        f"{TABS * ROUNDS} views {peak / 2**20:.0f} MB (+{growth / 1e6:.1f} MB)"
    )
    assert result_bytes > 80_000_000
    assert summary.startswith("299,700 of 300,000 rows priced")
    assert "300 rows rejected" in rejected
    assert first_row.split("\t")[:6] == ["800", "1", "1.0", "North Ames", "1900", "Average"]
    assert rejected_number.strip() == "1000", rejected_row  # row 1,000 has no sqft
    assert "sqft: missing" in rejected_row
    assert growth < result_bytes / 4

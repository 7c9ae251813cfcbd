"""The batch page: upload, live progress from the event stream, result, download."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import httpx
import pandas as pd
import pytest
from nicegui import ui
from nicegui.testing.user import User

from jobs.keys import summary_key
from ml.contract import FEATURE_COLUMNS
from ml.predict import Predictor
from tests.support.batch_env import BatchEnv
from tests.support.histograms import assert_like_numpy
from tests.support.simulated_ui import WAIT, as_browser, upload
from tests.support.threaded_server import ThreadedServer
from tests.support.ui_csv import houses_csv, read_csv
from tests.support.worker_process import WorkerProcess

pytestmark = pytest.mark.slow


async def test_sample_csv_has_the_contract_columns_and_model_categories(
    user: User, gateway: object, predictor: Predictor
) -> None:
    await user.open("/batch")
    await user.should_see("up to 500 MB")
    user.find(marker="sample-download").click()
    response = await user.download.next(timeout=10)
    sample = read_csv(response.content)
    assert list(sample.columns) == list(FEATURE_COLUMNS)
    assert set(sample["location"]) <= set(predictor.card.categories["location"])
    assert len(sample) == 5


async def test_upload_scores_live_and_offers_the_result(
    user: User, celery_worker: WorkerProcess, predictor: Predictor
) -> None:
    content = houses_csv(2_500, categories=predictor.card.categories, bad_rows=3)
    await user.open("/batch")
    await upload(user, "houses.csv", content)
    await user.should_see(marker="batch-progress", retries=50)
    await user.should_see(marker="batch-summary", retries=WAIT)

    bar = user.find(marker="batch-progress").elements.pop()
    assert isinstance(bar, ui.linear_progress)
    assert bar.value == 1.0
    await user.should_see("2,500 / 2,500 rows")
    await user.should_see(f"2,497 of 2,500 rows priced by model version {predictor.version}")
    await user.should_see("3 rows rejected. Most common reasons:")
    await user.should_see("3 × sqft: not a number")
    table = user.find(marker="batch-preview").elements.pop()
    assert isinstance(table, ui.table)
    assert len(table.rows) == 10
    assert "predicted_price" in [c["name"] for c in table.columns]
    rejected = user.find(marker="batch-rejected-rows").elements.pop()
    assert isinstance(rejected, ui.table)
    assert [r["row"] for r in rejected.rows] == [2_498, 2_499, 2_500]
    histogram = user.find(marker="batch-histogram").elements.pop()
    assert isinstance(histogram, ui.echart)
    assert sum(histogram.options["series"][0]["data"]) == 2_497

    user.find(marker="batch-download").click()
    response = await user.download.next(timeout=20)
    assert response.status_code == 200
    scored = read_csv(response.content)
    assert len(scored) == 2_500
    assert (scored["sqft"].tolist()) == read_csv(content)["sqft"].tolist()
    assert (scored["error"] != "").sum() == 3
    # The page shows what the whole result holds, though it never downloaded it (the bars
    # are merged from the chunks' fine price bins: tests.support.histograms says how close).
    prices = pd.to_numeric(scored["predicted_price"]).dropna().to_numpy()
    assert_like_numpy(prices, histogram.options["series"][0]["data"])
    shown = [[row[c["field"]] for c in table.columns] for row in table.rows]
    assert shown == scored.head(10).values.tolist()


async def test_a_file_without_the_columns_is_explained(
    user: User, celery_worker: WorkerProcess
) -> None:
    await user.open("/batch")
    await upload(user, "wrong.csv", b"price,colour\n1,red\n2,blue\n")
    await user.should_see(marker="file-error", retries=WAIT)
    error = user.find(marker="file-error").elements.pop()
    assert isinstance(error, ui.label)
    assert "sqft" in error.text, error.text
    await user.should_not_see(marker="batch-summary")


async def test_a_job_without_a_summary_still_offers_its_result(
    user: User,
    celery_worker: WorkerProcess,
    predictor: Predictor,
    batch_env: BatchEnv,
    gateway: ThreadedServer,
) -> None:
    await user.open("/batch")
    await upload(user, "older.csv", houses_csv(40, categories=predictor.card.categories))
    await user.should_see(marker="batch-summary", retries=WAIT)
    async with httpx.AsyncClient(base_url=gateway.url, headers=as_browser(user)) as http:
        (job, *_) = (await http.get("/v1/jobs")).json()["jobs"]
    # As for a job an older version scored: the result is there, the summary is not.
    (Path(urlparse(batch_env.blob_url).path) / summary_key(job["id"])).unlink()

    await user.open(f"/batch?job={job['id']}")

    await user.should_see(marker="batch-no-summary", retries=WAIT)
    await user.should_see("40 of 40 rows priced.")
    user.find(marker="batch-download").click()
    response = await user.download.next(timeout=20)
    assert len(read_csv(response.content)) == 40

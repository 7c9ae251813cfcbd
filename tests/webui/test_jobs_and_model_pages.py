"""The jobs page (list, download, delete) and the model page (card, gates, plots)."""

from __future__ import annotations

import pytest
from nicegui import ui
from nicegui.testing.user import User

from ml.predict import Predictor
from tests.support.simulated_ui import WAIT, ui_job_id, upload
from tests.support.threaded_server import ThreadedServer
from tests.support.ui_csv import houses_csv, read_csv
from tests.support.worker_process import WorkerProcess


@pytest.mark.slow
async def test_jobs_page_lists_downloads_and_deletes_a_job(
    user: User, celery_worker: WorkerProcess, predictor: Predictor, gateway: ThreadedServer
) -> None:
    await user.open("/batch")
    await upload(user, "for-jobs.csv", houses_csv(300, categories=predictor.card.categories))
    await user.should_see(marker="batch-summary", retries=WAIT)

    job_id = ui_job_id(gateway, user, "for-jobs.csv")
    await user.open("/jobs")
    await user.should_see(marker=f"job-{job_id}", retries=50)
    with user.scope(marker=f"job-{job_id}"):
        await user.should_see("succeeded")
        await user.should_see("300 / 300 rows")
        await user.should_see(str(predictor.version))
        user.find(marker="job-download").click()
    response = await user.download.next(timeout=20)
    assert len(read_csv(response.content)) == 300

    await user.open(f"/batch?job={job_id}")
    await user.should_see(marker="batch-summary", retries=50)
    await user.should_see("300 of 300 rows priced")

    await user.open("/jobs")
    await user.should_see(marker=f"job-{job_id}", retries=50)
    with user.scope(marker=f"job-{job_id}"):
        user.find(marker="job-delete").click()
    await user.should_not_see(marker=f"job-{job_id}", retries=50)
    assert ui_job_id(gateway, user, "for-jobs.csv", missing_ok=True) is None


async def test_model_page_shows_the_card_against_the_gates(
    user: User, predictor: Predictor
) -> None:
    card = predictor.card
    await user.open("/model")
    await user.should_see(marker="metrics-table", retries=50)
    version = user.find(marker="model-version").elements.pop()
    assert isinstance(version, ui.label)
    assert version.text == str(predictor.version)
    table = user.find(marker="metrics-table").elements.pop()
    assert isinstance(table, ui.table)
    r2 = next(row for row in table.rows if row["metric"] == "R²")
    estimate = card.gates.estimate
    assert estimate is not None
    cv = estimate.metrics["r2"]
    assert r2["value"] == f"{cv.mean:.3f}"  # judged: the repeated-CV mean...
    assert r2["interval"] == f"{cv.low:.3f} – {cv.high:.3f}"  # ...with its interval
    assert r2["holdout"] == f"{card.metrics['r2']:.3f}"  # the hold-out, a report
    assert r2["gate"] == f"≥ {card.gates.r2_min:.3f}"
    expected = "✔ pass" if cv.mean >= (card.gates.r2_min or 0) else "✘ fail"
    assert r2["result"].startswith(expected)
    await user.should_see(f"Judged on the mean of {estimate.repeats} × {estimate.folds}-fold")
    await user.should_see("Against the champion: not applicable (no champion to compare with).")
    # The headline quotes the same houses as the table (its "all" row), the hold-out beside.
    [overall] = [g for g in card.interval.by_group if g.partition == "all"]
    await user.should_see(
        f"covered {overall.coverage:.1%} of {overall.houses:,} prices the model never saw"
    )
    await user.should_see(f"(on the hold-out alone: {card.interval.coverage:.1%})")
    coverage = user.find(marker="coverage-table").elements.pop()
    assert isinstance(coverage, ui.table)
    shown = {(row["group"], row["coverage"]) for row in coverage.rows}
    assert shown == {(g.group, f"{g.coverage:.1%}") for g in card.interval.by_group}
    assert {"cheapest fifth", "before 1940", "Average"} <= {group for group, _ in shown}
    await user.should_see(f"Measured on {card.interval.by_group_measured_on}.")
    assert "training houses" in (card.interval.by_group_measured_on or "")
    scatter = user.find(marker="pred-vs-actual-chart").elements.pop()
    assert isinstance(scatter, ui.echart)
    assert len(scatter.options["series"][0]["data"]) == len(card.holdout_sample)
    importance = user.find(marker="importance-chart").elements.pop()
    assert isinstance(importance, ui.echart)
    assert len(importance.options["series"][0]["data"]) == len(card.feature_importances)
    await user.should_see("Version timeline")
    await user.should_see(marker="version-timeline")

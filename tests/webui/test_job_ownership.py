"""Cancel keeps a job (batch and jobs pages); each browser sees only its own jobs."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from nicegui import ui
from nicegui.testing.user import User

from core.settings import AppSettings
from ml.predict import Predictor
from tests.support.redis_state import wait_until_idle
from tests.support.simulated_ui import WAIT, as_browser, ui_job_id, upload
from tests.support.threaded_server import ThreadedServer
from tests.support.ui_csv import houses_csv
from tests.support.worker_process import WorkerProcess
from webui.routes import result_url

pytestmark = pytest.mark.slow
BIG = 300_000  # rows: long enough to still be running when the test cancels it
START_SECONDS = 180.0  # a cold worker may take a while to load the model


async def test_cancel_on_the_batch_page_keeps_the_job_as_cancelled(
    user: User,
    celery_worker: WorkerProcess,
    predictor: Predictor,
    gateway: ThreadedServer,
    gateway_settings: AppSettings,
) -> None:
    await user.open("/batch")
    await upload(user, "to-cancel.csv", houses_csv(BIG, categories=predictor.card.categories))
    await user.should_see(marker="batch-progress", retries=WAIT)
    job_id = ui_job_id(gateway, user, "to-cancel.csv")
    assert job_id is not None
    await _wait_rows(gateway, user, job_id)

    user.find(marker="batch-cancel").click()

    await user.should_see(marker="batch-cancelled", retries=100)
    badge = user.find(marker="batch-status").elements.pop()
    assert isinstance(badge, ui.badge)
    assert badge.text == "cancelled"
    await user.should_not_see(marker="batch-cancel")
    job = await _job(gateway, user, job_id)
    assert job["status"] == "cancelled"
    # Every step of the job dropped or finished, none held by a worker: counts are final.
    await asyncio.to_thread(wait_until_idle, str(gateway_settings.core.redis_url))
    assert (await _job(gateway, user, job_id))["rows_done"] == job["rows_done"] < BIG

    await user.open("/jobs")
    await user.should_see(marker=f"job-{job_id}", retries=50)
    with user.scope(marker=f"job-{job_id}"):
        await user.should_see("cancelled")
        await user.should_see(marker="job-delete")
        await user.should_not_see(marker="job-cancel")
        await user.should_not_see(marker="job-download")


async def test_cancel_on_the_jobs_page_keeps_the_job_and_delete_removes_it(
    user: User, celery_worker: WorkerProcess, predictor: Predictor, gateway: ThreadedServer
) -> None:
    await user.open("/jobs")
    await user.should_see(marker="jobs-summary")
    content = houses_csv(BIG, categories=predictor.card.categories, seed=6)
    job_id = await _submit(gateway, user, "cancel-from-list.csv", content)
    await _wait_rows(gateway, user, job_id)
    await user.open("/jobs")
    await user.should_see(marker=f"job-{job_id}", retries=50)

    with user.scope(marker=f"job-{job_id}"):
        user.find(marker="job-cancel").click()
    await user.should_see("Cancelled cancel-from-list.csv", retries=50)

    with user.scope(marker=f"job-{job_id}"):
        await user.should_see("cancelled", retries=50)
        await user.should_not_see(marker="job-cancel")
        user.find(marker="job-delete").click()
    await user.should_not_see(marker=f"job-{job_id}", retries=50)
    async with _gateway(gateway) as http:
        assert (await http.get(f"/v1/jobs/{job_id}", headers=as_browser(user))).status_code == 404


async def test_two_browsers_do_not_see_each_others_jobs(
    user: User,
    another_user: User,
    celery_worker: WorkerProcess,
    predictor: Predictor,
    gateway: ThreadedServer,
) -> None:
    await user.open("/batch")
    content = houses_csv(200, categories=predictor.card.categories)
    await upload(user, "first-browser.csv", content)
    await user.should_see(marker="batch-summary", retries=WAIT)
    job_id = ui_job_id(gateway, user, "first-browser.csv")

    await another_user.open("/jobs")
    await another_user.should_see("No jobs yet.", retries=50)
    await another_user.should_not_see("first-browser.csv")
    await another_user.open(f"/batch?job={job_id}")
    await another_user.should_see("The gateway answered 404", retries=50)
    await another_user.should_not_see(marker="batch-summary")
    download = await another_user.http_client.get(result_url(str(job_id)))
    assert download.status_code == 404

    await user.open("/jobs")
    await user.should_see(marker=f"job-{job_id}", retries=50)
    await user.should_see("first-browser.csv")
    assert as_browser(user) != as_browser(another_user)


async def _wait_rows(gateway: ThreadedServer, user: User, job_id: str) -> dict[str, Any]:
    """Wait until the job runs and has scored some rows (without blocking the UI's loop)."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        job = await _job(gateway, user, job_id)
        assert job["status"] in ("queued", "running"), job
        if job["rows_done"] > 0:
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} scored nothing in {START_SECONDS} s")


async def _job(gateway: ThreadedServer, user: User, job_id: str) -> dict[str, Any]:
    async with _gateway(gateway) as http:
        response = await http.get(f"/v1/jobs/{job_id}", headers=as_browser(user))
    response.raise_for_status()
    job: dict[str, Any] = response.json()
    return job


async def _submit(gateway: ThreadedServer, user: User, filename: str, content: bytes) -> str:
    """Submit a job straight to the gateway, as the web app would for this browser."""
    async with _gateway(gateway) as http:
        response = await http.post(
            "/v1/jobs",
            content=content,
            params={"filename": filename},
            headers={**as_browser(user), "Content-Type": "text/csv"},
        )
    response.raise_for_status()
    return str(response.json()["id"])


def _gateway(gateway: ThreadedServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=gateway.url, timeout=60)

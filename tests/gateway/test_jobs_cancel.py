"""POST /v1/jobs/{id}/cancel: the job stops, stays listed as cancelled, and has no result."""

from __future__ import annotations

import httpx

from tests.support.batch_env import BatchEnv
from tests.support.houses import houses_csv
from tests.support.jobs import submit, wait_final, wait_for
from tests.support.keys import ALICE, BOB
from tests.support.redis_state import wait_until_idle

PROBLEM = "application/problem+json"


def test_a_cancelled_running_job_stays_listed_and_its_workers_stop(
    jobs_client: httpx.Client, batch_env: BatchEnv
) -> None:
    job = submit(jobs_client, houses_csv(60_000, seed=8), filename="to-cancel.csv").json()
    running = wait_for(
        jobs_client, job["id"], lambda j: j["status"] == "running" and j["rows_done"] > 0
    )

    response = jobs_client.post(f"/v1/jobs/{job['id']}/cancel", headers=ALICE)

    assert response.status_code == 200
    cancelled = response.json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["finished_at"] is not None
    assert running["rows_done"] <= cancelled["rows_done"] < 60_000
    wait_until_idle(batch_env.redis_url)  # its steps are dropped or done, none is held
    again = jobs_client.get(f"/v1/jobs/{job['id']}", headers=ALICE).json()
    assert again["status"] == "cancelled"
    assert again["rows_done"] == cancelled["rows_done"]  # no chunk was counted after
    listed = jobs_client.get("/v1/jobs", params={"limit": 100}, headers=ALICE).json()["jobs"]
    assert {"id": job["id"], "status": "cancelled"} in [
        {"id": j["id"], "status": j["status"]} for j in listed
    ]
    result = jobs_client.get(f"/v1/jobs/{job['id']}/result", headers=ALICE)
    assert result.status_code == 409
    assert result.json()["detail"] == "This job was cancelled. It has no result."
    assert not (batch_env.state_dir / "blobs" / "jobs" / job["id"]).exists()


def test_cancelling_a_final_job_is_409_and_another_key_gets_404(
    jobs_client: httpx.Client,
) -> None:
    job = submit(jobs_client, houses_csv(5)).json()
    assert wait_final(jobs_client, job["id"])["status"] == "succeeded"

    twice = jobs_client.post(f"/v1/jobs/{job['id']}/cancel", headers=ALICE)
    intruder = jobs_client.post(f"/v1/jobs/{job['id']}/cancel", headers=BOB)
    unknown = jobs_client.post("/v1/jobs/no-such-job/cancel", headers=BOB)

    assert twice.status_code == 409
    assert twice.headers["content-type"] == PROBLEM
    assert twice.json()["type"] == "urn:hpp:problem:job-final"
    assert "succeeded" in twice.json()["detail"]
    assert intruder.status_code == 404
    assert intruder.headers["content-type"] == PROBLEM
    assert intruder.json() | {"instance": None} == unknown.json() | {"instance": None}
    assert jobs_client.get(f"/v1/jobs/{job['id']}", headers=ALICE).json()["status"] == "succeeded"


def test_a_second_cancel_is_409(jobs_client: httpx.Client) -> None:
    job = submit(jobs_client, houses_csv(30_000, seed=9)).json()

    first = jobs_client.post(f"/v1/jobs/{job['id']}/cancel", headers=ALICE)
    second = jobs_client.post(f"/v1/jobs/{job['id']}/cancel", headers=ALICE)

    assert first.status_code == 200
    assert second.status_code == 409
    assert "cancelled" in second.json()["detail"]
    assert jobs_client.delete(f"/v1/jobs/{job['id']}", headers=ALICE).status_code == 204
    assert jobs_client.get(f"/v1/jobs/{job['id']}", headers=ALICE).status_code == 404

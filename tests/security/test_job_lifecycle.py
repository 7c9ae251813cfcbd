"""A Hypothesis state machine over the job lifecycle, against a real gateway and worker.

Rules submit good and unreadable files, poll, fetch results, delete, and try every job
as another key; after every step the model of what must be true is checked: states only
move forward (queued → running → final, final is final), a result exists exactly when the
job succeeded and holds every row, a deleted job is gone (404, also for its owner), and
another key never sees a job. At the end every live job must reach the outcome its file
calls for.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, rule

from tests.support.gateway_process import GatewayProcess
from tests.support.houses import houses_csv
from tests.support.jobs import submit, wait_final
from tests.support.keys import ALICE, BOB

ORDER = {"queued": 0, "running": 1, "succeeded": 2, "failed": 2, "cancelled": 2}


@dataclass
class Tracked:
    """What the machine knows about one submitted job."""

    id: str
    rows: int
    readable: bool
    status: str = "queued"


class JobLifecycle(RuleBasedStateMachine):
    """Submit, poll, fetch, delete, intrude; the model checks every answer."""

    jobs = Bundle("jobs")
    url = ""
    calls: ClassVar[Counter[str]] = Counter()

    def __init__(self) -> None:
        super().__init__()
        self.http = httpx.Client(base_url=self.url, timeout=60)
        self.live: dict[str, Tracked] = {}
        self.deleted: list[str] = []

    @rule(target=jobs, rows=st.integers(1, 40), readable=st.booleans())
    def submit(self, rows: int, readable: bool) -> Tracked:
        data = houses_csv(rows, seed=rows, invalid_every=7) if readable else b"not a csv\x00\n"
        self.calls["submit"] += 1
        response = submit(self.http, data)
        assert response.status_code == 202, response.text
        job = Tracked(response.json()["id"], rows, readable)
        assert response.json()["status"] == "queued"
        self.live[job.id] = job
        return job

    @rule(job=jobs)
    def poll(self, job: Tracked) -> None:
        self.calls["poll"] += 1
        response = self.http.get(f"/v1/jobs/{job.id}", headers=ALICE)
        if job.id in self.deleted:
            assert response.status_code == 404
            return
        assert response.status_code == 200
        view = response.json()
        assert ORDER[view["status"]] >= ORDER[job.status], (job.status, view["status"])
        if ORDER[job.status] == 2:
            assert view["status"] == job.status  # final is final
        assert 0.0 <= view["progress"] <= 1.0
        assert view["rows_done"] <= job.rows
        job.status = view["status"]

    @rule(job=jobs)
    def fetch_result(self, job: Tracked) -> None:
        self.calls["result"] += 1
        before = job.status
        response = self.http.get(f"/v1/jobs/{job.id}/result", headers=ALICE)
        if job.id in self.deleted:
            assert response.status_code == 404
        elif response.status_code == 200:
            assert job.readable
            assert response.text.count("\n") == job.rows + 1
        else:
            assert response.status_code == 409
            assert before != "succeeded"

    @rule(job=jobs)
    def intrude(self, job: Tracked) -> None:
        self.calls["intrude"] += 1
        for method, path in [
            ("GET", ""),
            ("GET", "/result"),
            ("GET", "/events"),
            ("DELETE", ""),
        ]:
            response = self.http.request(method, f"/v1/jobs/{job.id}{path}", headers=BOB)
            assert response.status_code == 404

    @rule(job=consumes(jobs))
    def delete(self, job: Tracked) -> None:
        self.calls["delete"] += 1
        response = self.http.delete(f"/v1/jobs/{job.id}", headers=ALICE)
        assert response.status_code == (404 if job.id in self.deleted else 204)
        self.deleted.append(job.id)
        self.live.pop(job.id, None)
        assert self.http.get(f"/v1/jobs/{job.id}", headers=ALICE).status_code == 404

    def teardown(self) -> None:
        try:
            for job in self.live.values():
                self.calls["finished"] += 1
                final = wait_final(self.http, job.id, timeout=120)
                expected = "succeeded" if job.readable else "failed"
                assert final["status"] == expected, final
                if job.readable:
                    assert final["rows_done"] == job.rows
        finally:
            self.http.close()


@pytest.mark.slow
def test_job_lifecycle_state_machine(jobs_gateway: GatewayProcess) -> None:
    JobLifecycle.url = jobs_gateway.url
    machine = settings(
        max_examples=10,
        stateful_step_count=15,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )(JobLifecycle)
    machine.TestCase().runTest()
    print(f"\njob lifecycle state machine: {dict(JobLifecycle.calls)}")
    assert JobLifecycle.calls["submit"]
    assert JobLifecycle.calls["finished"]

"""A scripted session against real gateway and worker processes: /metrics and the logs.

Both processes share one Prometheus multiprocess folder, so the gateway's ``/metrics`` shows
the worker's counters too (one scrape sees the whole system), and both write EMF lines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from observability.metrics import multiprocess_env
from tests.support.batch_env import BatchEnv
from tests.support.gateway_process import GatewayProcess, start_gateway, stop_gateway
from tests.support.houses import HOUSE, houses_csv
from tests.support.jobs import submit, wait_final
from tests.support.keys import ALICE
from tests.support.worker_process import StartWorker

JOB_ROWS, INVALID_EVERY = 2_500, 250


@dataclass
class Session:
    """What the scripted session left behind."""

    metrics_text: str
    gateway_log: list[dict[str, Any]]
    worker_log: list[dict[str, Any]]
    job: dict[str, Any]


@pytest.fixture(scope="module")
def session(
    batch_env: BatchEnv, start_worker: StartWorker, tmp_path_factory: pytest.TempPathFactory
) -> Session:
    folder = tmp_path_factory.mktemp("observability-session")
    env = batch_env.with_database(
        13,
        extra={
            **multiprocess_env(folder / "prometheus"),
            "HPP_METRICS_BACKEND": "emf",
            "HPP_METRICS_FLUSH_SECONDS": "1",
            "HPP_ENVIRONMENT": "test",
        },
    )
    worker = start_worker(env)
    gateway = start_gateway(env, folder / "gateway.log", HPP_LOG_LEVEL="INFO")
    try:
        job, metrics_text = run_script(gateway)
    finally:
        stop_gateway(gateway)
        worker.stop()
    return Session(metrics_text, json_lines(gateway.log_path), json_lines(worker.log_path), job)


def run_script(gateway: GatewayProcess) -> tuple[dict[str, Any], str]:
    with httpx.Client(base_url=gateway.url, timeout=60) as http:
        for _ in range(3):
            assert http.post("/v1/predict", json=HOUSE, headers=ALICE).status_code == 200
        batch = http.post("/v1/predict/batch", json={"rows": [HOUSE] * 4}, headers=ALICE)
        assert batch.status_code == 200
        invalid = http.post("/v1/predict", json={**HOUSE, "sqft": -1}, headers=ALICE)
        assert invalid.status_code == 422
        accepted = submit(http, houses_csv(JOB_ROWS, invalid_every=INVALID_EVERY))
        assert accepted.status_code == 202
        job = wait_final(http, accepted.json()["id"])
        return job, http.get("/metrics").text


def json_lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    for raw in path.read_text(errors="replace").splitlines():
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


def sample(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


@pytest.mark.slow
def test_metrics_show_the_sessions_requests_predictions_and_job(session: Session) -> None:
    text, rejected = session.metrics_text, JOB_ROWS // INVALID_EVERY
    assert session.job["status"] == "succeeded"

    assert (
        sample(text, "http_requests_total", route="/v1/predict", method="POST", status="200") == 3
    )
    assert sample(text, "http_requests_total", route="/v1/predict", status="422") == 1
    assert sample(text, "http_requests_total", route="/v1/jobs", method="POST", status="202") == 1
    assert sample(text, "http_request_duration_seconds_count", route="/v1/predict/batch") == 1
    assert sample(text, "predictions_total", source="single") == 3
    assert sample(text, "predictions_total", source="batch") == 4
    assert sample(text, "jobs_submitted_total") == 1
    # written by the worker's pool process, served by the gateway
    assert sample(text, "jobs_finished_total", status="succeeded") == 1
    assert sample(text, "rows_scored_total", outcome="ok") == JOB_ROWS - rejected
    assert sample(text, "rows_scored_total", outcome="rejected") == rejected
    assert sample(text, "chunk_duration_seconds_count") >= 1
    assert sample(text, "model_info") == 1


@pytest.mark.slow
def test_logs_are_json_with_one_line_per_request_and_job_ids(session: Session) -> None:
    requests = [line for line in session.gateway_log if line.get("event") == "request"]
    predicts = [line for line in requests if line["route"] == "/v1/predict"]

    assert len(predicts) == 4
    assert all(line["service"] == "gateway" for line in requests)
    assert all(line["api_key_name"] == "alice" for line in predicts)
    assert all(line["model_version"] for line in predicts if line["status"] == 200)
    assert len({line["request_id"] for line in requests}) == len(requests)
    job_lines = [line for line in session.worker_log if line.get("job_id") == session.job["id"]]
    assert {"job_planned", "job_succeeded"} <= {line["event"] for line in job_lines}
    logs = [line for line in session.worker_log if "_aws" not in line]  # EMF: metrics
    assert all(line["service"] == "worker" for line in logs)


@pytest.mark.slow
def test_worker_writes_emf_lines_with_rows_and_backlog(session: Session) -> None:
    emf = [line for line in session.worker_log if "_aws" in line]

    assert emf, "the worker wrote no EMF line"
    assert {line["Service"] for line in emf} == {"worker"}
    assert sum(line.get("RowsScored", 0) for line in emf) == 2490
    assert any("BacklogPerWorker" in line for line in emf)


@pytest.mark.slow
def test_gateway_writes_emf_lines_with_its_request_counts(session: Session) -> None:
    emf = [line for line in session.gateway_log if "_aws" in line]

    assert emf, "the gateway wrote no EMF line"
    assert {line["Service"] for line in emf} == {"gateway"}
    assert {line["Environment"] for line in emf} == {"test"}
    assert sum(line.get("RequestCount", 0) for line in emf) >= 6

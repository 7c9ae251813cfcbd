"""Prometheus metrics: the helpers count, and one scrape sees several processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from observability import metrics
from observability.sink import MemorySink

ROOT = Path(__file__).resolve().parents[2]


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_helpers_count_in_prometheus_and_in_the_sink() -> None:
    sink = MemorySink()
    before = {
        "single": value("predictions_total", model_version="9", source="single"),
        "ok": value("rows_scored_total", outcome="ok"),
        "rejected": value("rows_scored_total", outcome="rejected"),
        "failed": value("jobs_finished_total", status="failed"),
        "submitted": value("jobs_submitted_total"),
        "chunks": value("chunk_duration_seconds_count"),
    }

    metrics.record_prediction(model_version="9", source="single", count=2, sink=sink)
    metrics.record_rows(ok=90, rejected=10, sink=sink)
    metrics.record_job_submitted()
    metrics.record_job_finished("failed", sink=sink)
    metrics.record_job_finished("succeeded", sink=sink)
    metrics.observe_chunk(0.25)
    metrics.record_backlog(queue="hpp-jobs", depth=30, workers=4, sink=sink)

    assert value("predictions_total", model_version="9", source="single") - before["single"] == 2
    assert value("rows_scored_total", outcome="ok") - before["ok"] == 90
    assert value("rows_scored_total", outcome="rejected") - before["rejected"] == 10
    assert value("jobs_finished_total", status="failed") - before["failed"] == 1
    assert value("jobs_submitted_total") - before["submitted"] == 1
    assert value("chunk_duration_seconds_count") - before["chunks"] == 1
    assert value("queue_depth", queue="hpp-jobs") == 30
    assert sink.total("Predictions") == 2
    assert sink.total("RowsScored") == 90
    assert sink.total("JobsFailed") == 1
    assert sink.total("QueueDepth") == 30
    assert sink.total("BacklogPerWorker") == 7.5


def test_model_info_marks_only_the_served_version() -> None:
    metrics.set_model_version("41")
    metrics.set_model_version("42")

    assert value("model_info", version="42") == 1
    assert value("model_info", version="41") == 0


def test_metrics_response_is_prometheus_text() -> None:
    body, content_type = metrics.metrics_response()

    assert content_type.startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(body.decode())}
    assert {"http_requests", "predictions", "rows_scored", "queue_depth", "model_info"} <= names


def test_one_scrape_sees_every_process_in_multiprocess_mode(tmp_path: Path) -> None:
    env = {**os.environ, **metrics.multiprocess_env(tmp_path / "prom")}
    script = (
        "from observability import metrics\n"
        "metrics.record_prediction(model_version='5', source='job', count=3)\n"
        "metrics.record_rows(ok=100, rejected=2)\n"
    )
    for _ in range(2):  # two worker processes
        subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, check=True)
    scrape = (
        "from observability import metrics\n"
        "import sys; sys.stdout.write(metrics.metrics_response()[0].decode())\n"
    )  # a third process (the gateway) serves /metrics

    text = subprocess.run(
        [sys.executable, "-c", scrape],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("predictions_total", (("model_version", "5"), ("source", "job")))] == 6
    assert samples[("rows_scored_total", (("outcome", "ok"),))] == 200
    assert metrics.multiprocess_env(tmp_path / "prom")
    assert not any((tmp_path / "prom").iterdir())


def test_worker_metrics_server_serves_the_registry() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    metrics.record_job_submitted()

    metrics.start_worker_metrics_server(port, host="127.0.0.1")
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)

    assert response.status_code == 200
    assert "jobs_submitted_total" in response.text

"""instrument_celery: Celery's signals drive our logging, the main sink and backlog probe.

A pool process's sink is its worker context's (tests/workers/test_tasks.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from celery import signals

from core.settings import ObservabilitySettings
from observability import celery as instrumentation
from observability.celery import BacklogSource, instrument_celery
from tests.support.logs import LogCapture

SETTINGS = ObservabilitySettings(
    log_format="json", metrics_backend="emf", metrics_flush_seconds=3600
)


@pytest.fixture(autouse=True)
def disconnect() -> Iterator[None]:
    yield
    instrumentation._disconnect()


def test_setup_logging_signal_configures_our_json_logging(
    logs: LogCapture, capsys: pytest.CaptureFixture[str]
) -> None:
    instrument_celery(settings=SETTINGS, environment="test", service="batch-worker")

    signals.setup_logging.send(
        sender=None, loglevel="INFO", logfile=None, format="", colorize=False
    )
    logging.getLogger("celery.worker.consumer").info("Connected to redis")

    (line,) = [json.loads(raw) for raw in capsys.readouterr().out.splitlines()]
    assert (line["service"], line["logger"]) == ("batch-worker", "celery.worker.consumer")
    assert line["event"] == "Connected to redis"


def test_worker_ready_starts_the_backlog_probe(logs: LogCapture) -> None:
    depth_asked = []

    def depth() -> int:
        depth_asked.append(True)
        return 40

    backlog = BacklogSource(queue="jobs", depth=depth, workers=lambda: 2, interval_seconds=3600)
    instrument_celery(settings=SETTINGS, environment="test", backlog=backlog)

    signals.worker_ready.send(sender=None)
    signals.worker_shutdown.send(sender=None)

    assert depth_asked  # probed at once on start
    (line,) = [line for line in logs.lines() if "_aws" in line]
    assert (line["QueueDepth"], line["BacklogPerWorker"]) == (40, 20)

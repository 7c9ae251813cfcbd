"""instrument_celery: Celery's signals drive our logging, sinks and backlog probe."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator

import pytest
from celery import signals

from core.settings import ObservabilitySettings
from observability import celery as instrumentation
from observability.celery import BacklogSource, instrument_celery, process_sink
from observability.emf import EmfSink
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


def test_each_pool_process_gets_a_sink_flushed_on_exit(logs: LogCapture) -> None:
    instrument_celery(settings=SETTINGS, environment="test")

    signals.worker_process_init.send(sender=None)
    sink = process_sink()
    assert isinstance(sink, EmfSink)
    sink.record("RowsScored", 1234)
    signals.worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)

    assert process_sink() is None
    (line,) = [line for line in logs.lines() if "_aws" in line]
    assert (line["RowsScored"], line["Service"], line["Environment"]) == (1234, "worker", "test")


def test_worker_ready_starts_the_backlog_probe(logs: LogCapture) -> None:
    depth_asked = []

    def depth() -> int:
        depth_asked.append(True)
        return 40

    backlog = BacklogSource(queue="jobs", depth=depth, workers=lambda: 2, interval_seconds=3600)
    instrument_celery(settings=SETTINGS, environment="test", backlog=backlog)

    signals.worker_ready.send(sender=None)
    assert isinstance(process_sink(), EmfSink)
    signals.worker_shutdown.send(sender=None)

    assert depth_asked  # probed at once on start
    (line,) = [line for line in logs.lines() if "_aws" in line]
    assert (line["QueueDepth"], line["BacklogPerWorker"]) == (40, 20)

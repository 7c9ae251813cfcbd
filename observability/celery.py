"""Celery wiring in one call: our logging, the main process's metrics sink, the metrics port,
backlog.

``instrument_celery(settings=..., environment=...)`` connects Celery's signals:

- ``setup_logging``: ``configure_logging("worker", ...)`` instead of Celery's own setup
  (connecting it is what stops Celery from installing its handlers);
- ``worker_init`` (main process, before the pool forks): ``start_worker_metrics_server``
  when ``worker_metrics_port`` is set, serving every pool process's samples in
  multiprocess mode;
- ``worker_ready`` / ``worker_shutdown`` (main process): a sink and, when ``backlog`` is
  given, a ``BacklogProbe`` publishing QueueDepth and BacklogPerWorker;
- ``worker_process_shutdown`` (each pool process): the process's Prometheus files marked
  dead.

A pool process's own sink belongs to what the tasks run with (``workers.context``), built
when the process starts, so tasks are handed it instead of looking it up.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery import signals

from core.settings import ObservabilitySettings
from observability.backlog import BacklogProbe
from observability.logging import configure_logging
from observability.metrics import mark_process_dead, start_worker_metrics_server
from observability.sink import MetricsSink, build_sink, start_sink_in_thread


@dataclass(frozen=True)
class BacklogSource:
    """How the worker measures its queue: ``depth()`` messages, ``workers()`` consumers."""

    queue: str
    depth: Callable[[], int]
    workers: Callable[[], int]
    interval_seconds: float = 15.0


@dataclass
class _Running:
    sink: MetricsSink | None = None
    stop_sink: Callable[[], None] | None = None
    probe: BacklogProbe | None = None


_handlers: list[Callable[..., None]] = []  # Celery holds receivers weakly


def instrument_celery(
    *,
    settings: ObservabilitySettings,
    environment: str,
    service: str = "worker",
    backlog: BacklogSource | None = None,
) -> None:
    """Connect Celery's worker signals to our logging, metrics sink and backlog probe."""
    _disconnect()
    main = _Running()

    def on_setup_logging(**_: Any) -> None:
        configure_logging(service, settings)

    def on_worker_init(**_: Any) -> None:
        if settings.worker_metrics_port:
            start_worker_metrics_server(settings.worker_metrics_port)

    def on_worker_ready(**_: Any) -> None:
        _start(main, build_sink(settings, service=service, environment=environment))
        if backlog is not None:
            main.probe = BacklogProbe(
                queue=backlog.queue,
                depth=backlog.depth,
                workers=backlog.workers,
                sink=main.sink,
                interval_seconds=backlog.interval_seconds,
            )
            main.probe.start()

    def on_worker_shutdown(**_: Any) -> None:
        if main.probe is not None:
            main.probe.stop()
        _stop(main)

    def on_process_shutdown(pid: int | None = None, **_: Any) -> None:
        mark_process_dead(pid or os.getpid())

    for signal, handler in (
        (signals.setup_logging, on_setup_logging),
        (signals.worker_init, on_worker_init),
        (signals.worker_ready, on_worker_ready),
        (signals.worker_shutdown, on_worker_shutdown),
        (signals.worker_process_shutdown, on_process_shutdown),
    ):
        signal.connect(handler, weak=False)
        _handlers.append(handler)


def _start(running: _Running, sink: MetricsSink) -> None:
    _stop(running)
    running.sink, running.stop_sink = sink, start_sink_in_thread(sink)


def _stop(running: _Running) -> None:
    if running.stop_sink is not None:
        running.stop_sink()
    running.sink, running.stop_sink, running.probe = None, None, None


def _disconnect() -> None:
    for signal in (
        signals.setup_logging,
        signals.worker_init,
        signals.worker_ready,
        signals.worker_shutdown,
        signals.worker_process_shutdown,
    ):
        for handler in _handlers:
            signal.disconnect(handler)
    _handlers.clear()

"""BacklogProbe: queue depth and backlog per worker, published on an interval."""

from __future__ import annotations

import threading

from prometheus_client import REGISTRY

from observability.backlog import BacklogProbe
from observability.sink import MemorySink


def test_probe_publishes_depth_and_backlog_per_worker() -> None:
    sink = MemorySink()
    probe = BacklogProbe(queue="probe-test", depth=lambda: 90, workers=lambda: 4, sink=sink)

    assert probe.probe_once() == (90, 4)
    assert REGISTRY.get_sample_value("queue_depth", {"queue": "probe-test"}) == 90
    assert sink.samples == [("QueueDepth", 90, "Count"), ("BacklogPerWorker", 22.5, "Count")]


def test_no_workers_counts_the_whole_queue_as_backlog() -> None:
    sink = MemorySink()
    BacklogProbe(queue="q", depth=lambda: 7, workers=lambda: 0, sink=sink).probe_once()

    assert sink.total("BacklogPerWorker") == 7


def test_the_thread_keeps_probing_after_an_error() -> None:
    calls = 0
    third_call = threading.Event()

    def depth() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("broker down")
        if calls >= 3:
            third_call.set()
        return 5

    sink = MemorySink()
    probe = BacklogProbe(
        queue="q", depth=depth, workers=lambda: 1, sink=sink, interval_seconds=0.01
    )
    probe.start()
    assert third_call.wait(timeout=10)
    probe.stop()

    assert sink.total("QueueDepth") >= 10

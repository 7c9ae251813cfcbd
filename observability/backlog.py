"""A periodic probe publishing queue depth and backlog per worker (the workers' scaling metric).

The worker's main process runs one (start it on Celery's ``worker_ready``, after the pool
has forked): every ``interval_seconds`` it asks ``depth()`` (e.g. the broker queue's
length) and ``workers()`` (e.g. worker tasks alive) and records ``queue_depth{queue}`` in
Prometheus plus QueueDepth and BacklogPerWorker on the sink, whose Service dimension
("worker") is what the dashboard and autoscaling read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from observability.logging import get_logger
from observability.metrics import record_backlog
from observability.sink import MetricsSink

log = get_logger(__name__)


class BacklogProbe:
    """Calls ``depth()`` and ``workers()`` every interval and publishes the backlog."""

    def __init__(
        self,
        *,
        queue: str,
        depth: Callable[[], int],
        workers: Callable[[], int],
        sink: MetricsSink | None,
        interval_seconds: float = 15.0,
    ) -> None:
        self.queue, self.sink, self.interval_seconds = queue, sink, interval_seconds
        self._depth, self._workers = depth, workers
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def probe_once(self) -> tuple[int, int]:
        """Measure and publish once; returns (depth, workers)."""
        depth, workers = self._depth(), self._workers()
        record_backlog(queue=self.queue, depth=depth, workers=workers, sink=self.sink)
        return depth, workers

    def start(self) -> None:
        """Probe in a daemon thread until ``stop``."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="backlog-probe", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop probing (waits for the thread)."""
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval_seconds + 5)
            self._thread = None

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self.probe_once()
            except Exception as error:  # a broker hiccup must not kill the probe
                log.warning("backlog_probe_failed", queue=self.queue, error=str(error))
            self._stopped.wait(self.interval_seconds)

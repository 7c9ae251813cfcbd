"""CloudWatch Embedded Metric Format: metrics as JSON log lines CloudWatch Logs extracts.

This is the default on ECS: the awslogs driver ships stdout to CloudWatch Logs and
CloudWatch turns each EMF line into metric data, with no API calls from the task. Samples
are aggregated per flush interval (one line per interval per process, not per request; see
``aggregate.py``): counters are emitted as the interval's sum; gauges and time metrics as up
to 100 values spread over the interval's distribution (quantile points), so Average,
Maximum and p99 stay right while SampleCount of Latency is not the request count (use
RequestCount's Sum for that).

Specification: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any

from observability.aggregate import Aggregate, Aggregator
from observability.logging import write_json_line

DIMENSIONS = ("Service", "Environment")
MAX_METRICS_PER_DIRECTIVE = 100
MAX_VALUES_PER_METRIC = 100


def render_emf(
    aggregates: list[Aggregate],
    *,
    namespace: str,
    service: str,
    environment: str,
    timestamp_ms: int,
) -> list[dict[str, Any]]:
    """EMF documents (one per 100 metrics) for one interval's aggregates."""
    documents = []
    for start in range(0, len(aggregates), MAX_METRICS_PER_DIRECTIVE):
        chunk = aggregates[start : start + MAX_METRICS_PER_DIRECTIVE]
        document: dict[str, Any] = {
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [
                    {
                        "Namespace": namespace,
                        "Dimensions": [list(DIMENSIONS)],
                        "Metrics": [{"Name": a.name, "Unit": a.unit} for a in chunk],
                    }
                ],
            },
            "Service": service,
            "Environment": environment,
            "event": "metrics",
        }
        for aggregate in chunk:
            document[aggregate.name] = _emf_value(aggregate)
        documents.append(document)
    return documents


class EmfSink:
    """A MetricsSink writing aggregated EMF lines to stdout every ``flush_seconds``."""

    def __init__(
        self,
        *,
        namespace: str,
        service: str,
        environment: str,
        flush_seconds: float = 10.0,
        emit: Callable[[Mapping[str, Any]], None] = write_json_line,
    ) -> None:
        self.namespace, self.service, self.environment = namespace, service, environment
        self.flush_seconds = flush_seconds
        self._emit = emit
        self._aggregator = Aggregator()
        self._task: asyncio.Task[None] | None = None

    def record(self, name: str, value: float, unit: str = "Count") -> None:
        """Fold one sample into the current interval (non-blocking)."""
        self._aggregator.add(name, value, unit)

    def flush(self) -> int:
        """Emit the current interval as EMF lines now; returns how many lines."""
        aggregates = self._aggregator.drain()
        if not aggregates:
            return 0
        documents = render_emf(
            aggregates,
            namespace=self.namespace,
            service=self.service,
            environment=self.environment,
            timestamp_ms=int(time.time() * 1000),
        )
        for document in documents:
            self._emit(document)
        return len(documents)

    async def start(self) -> None:
        """Flush every ``flush_seconds`` on the running loop."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="emf-flush")

    async def stop(self) -> None:
        """Stop the periodic flush and emit what is left."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            self.flush()


def _emf_value(aggregate: Aggregate) -> float | list[float]:
    if aggregate.kind == "counter":
        return aggregate.total
    points = aggregate.quantile_points(MAX_VALUES_PER_METRIC)
    return points[0] if len(points) == 1 else points

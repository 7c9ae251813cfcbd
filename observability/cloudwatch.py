"""Batched ``PutMetricData`` through aiobotocore, off the request path.

``record`` folds a sample into the current interval (see ``aggregate.py``); every
``flush_seconds`` an asyncio task seals the interval into metric datums (counters and
gauges as ``StatisticValues``, a counter as one report per interval so its Average is the
per-task count; time metrics as ``Values``/``Counts`` so CloudWatch can compute p99),
appends them to a bounded buffer and sends the buffer in ``PutMetricData`` calls of up to
1,000 datums. A failed call is retried with exponential backoff and jitter; what still
fails stays buffered for the next flush. When the buffer is full the oldest datums are
dropped and counted (``dropped`` and the ``cloudwatch_datums_dropped_total`` counter), so a
CloudWatch outage costs bounded memory and never blocks or fails a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections import deque
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from core.settings import ObservabilitySettings
from observability import metrics
from observability.aggregate import Aggregate, Aggregator
from observability.logging import get_logger

MAX_DATUMS_PER_CALL = 1000
MAX_VALUES_PER_DATUM = 150

log = get_logger(__name__)


class CloudWatchExporter:
    """A MetricsSink that batches samples into ``PutMetricData`` every ``flush_seconds``."""

    def __init__(
        self,
        *,
        namespace: str,
        service: str,
        environment: str,
        region: str,
        endpoint_url: str | None = None,
        flush_seconds: float = 10.0,
        buffer_size: int = 10_000,
        max_attempts: int = 5,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        self.namespace, self.region, self.endpoint_url = namespace, region, endpoint_url
        self.dimensions = [
            {"Name": "Service", "Value": service},
            {"Name": "Environment", "Value": environment},
        ]
        self.flush_seconds = flush_seconds
        self.max_attempts = max_attempts
        self.backoff_seconds, self.max_backoff_seconds = backoff_seconds, max_backoff_seconds
        self.buffer_size = buffer_size
        self.dropped = 0
        self.sent = 0
        self._aggregator = Aggregator()
        self._buffer: deque[dict[str, Any]] = deque()
        self._buffer_lock = threading.Lock()
        self._send_lock = asyncio.Lock()
        self._stack: AsyncExitStack | None = None
        self._client: Any = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(
        cls, settings: ObservabilitySettings, *, service: str, environment: str
    ) -> CloudWatchExporter:
        """An exporter configured from the observability settings."""
        return cls(
            namespace=settings.metrics_namespace,
            service=service,
            environment=environment,
            region=settings.aws_region,
            endpoint_url=settings.aws_endpoint_url,
            flush_seconds=settings.metrics_flush_seconds,
            buffer_size=settings.metrics_buffer_size,
        )

    def record(self, name: str, value: float, unit: str = "Count") -> None:
        """Fold one sample into the current interval (non-blocking)."""
        self._aggregator.add(name, value, unit)

    def seal(self) -> int:
        """Move the current interval into the send buffer; returns datums dropped to fit."""
        datums = self._datums(self._aggregator.drain(), datetime.now(UTC))
        return self._buffer_extend(datums)

    def buffered(self) -> list[dict[str, Any]]:
        """A copy of the datums waiting to be sent, oldest first."""
        with self._buffer_lock:
            return list(self._buffer)

    async def start(self) -> None:
        """Open the CloudWatch client and start the periodic flush (idempotent)."""
        if self._task is not None:
            return
        self._stack = AsyncExitStack()
        self._client = await self._stack.enter_async_context(
            get_session().create_client(
                "cloudwatch",
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                config=AioConfig(retries={"total_max_attempts": 1}),  # we retry ourselves
            )
        )
        self._task = asyncio.create_task(self._run(), name="cloudwatch-flush")

    async def flush(self, *, max_attempts: int | None = None) -> int:
        """Seal the interval and send the buffer now; returns how many datums were sent."""
        self.seal()
        if self._client is None:  # not started: keep everything for when it is
            return 0
        async with self._send_lock:
            return await self._send_buffer(max_attempts or self.max_attempts)

    async def stop(self) -> None:
        """Stop the periodic flush, send what is left (two attempts) and close the client."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self.flush(max_attempts=2)
        if self._stack is not None:
            await self._stack.aclose()
        self._stack, self._client = None, None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            try:
                await self.flush()
            except Exception:
                log.exception("cloudwatch_flush_failed")

    async def _send_buffer(self, max_attempts: int) -> int:
        sent = 0
        while batch := self._take(MAX_DATUMS_PER_CALL):
            if not await self._put_with_retries(batch, max_attempts):
                self._buffer_requeue(batch)
                break
            sent += len(batch)
        self.sent += sent
        return sent

    async def _put_with_retries(self, batch: list[dict[str, Any]], max_attempts: int) -> bool:
        for attempt in range(max_attempts):
            try:
                await self._client.put_metric_data(Namespace=self.namespace, MetricData=batch)
                return True
            except Exception as error:
                log.warning(
                    "cloudwatch_put_failed",
                    attempt=attempt + 1,
                    datums=len(batch),
                    error=str(error),
                )
                if attempt + 1 < max_attempts:
                    await asyncio.sleep(self._backoff(attempt))
        return False

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.max_backoff_seconds, self.backoff_seconds * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)

    def _datums(self, aggregates: list[Aggregate], timestamp: datetime) -> list[dict[str, Any]]:
        datums: list[dict[str, Any]] = []
        for aggregate in aggregates:
            base = {
                "MetricName": aggregate.name,
                "Dimensions": self.dimensions,
                "Timestamp": timestamp,
                "Unit": aggregate.unit,
            }
            if aggregate.kind != "distribution":
                datums.append({**base, "StatisticValues": _statistic_values(aggregate)})
                continue
            items = sorted(aggregate.histogram.items())
            for start in range(0, len(items), MAX_VALUES_PER_DATUM):
                chunk = items[start : start + MAX_VALUES_PER_DATUM]
                values, counts = [v for v, _ in chunk], [float(c) for _, c in chunk]
                datums.append({**base, "Values": values, "Counts": counts})
        return datums

    def _buffer_extend(self, datums: list[dict[str, Any]]) -> int:
        with self._buffer_lock:
            self._buffer.extend(datums)
            overflow = max(0, len(self._buffer) - self.buffer_size)
            for _ in range(overflow):
                self._buffer.popleft()
        self._count_dropped(overflow)
        return overflow

    def _buffer_requeue(self, batch: list[dict[str, Any]]) -> None:
        with self._buffer_lock:
            room = max(0, self.buffer_size - len(self._buffer))
            kept = batch[len(batch) - room :] if room < len(batch) else batch
            self._buffer.extendleft(reversed(kept))
        self._count_dropped(len(batch) - len(kept))

    def _take(self, limit: int) -> list[dict[str, Any]]:
        with self._buffer_lock:
            return [self._buffer.popleft() for _ in range(min(limit, len(self._buffer)))]

    def _count_dropped(self, count: int) -> None:
        if count:
            self.dropped += count
            metrics.CLOUDWATCH_DATUMS_DROPPED.inc(count)


def _statistic_values(aggregate: Aggregate) -> dict[str, float]:
    if aggregate.kind == "counter":  # one report per process per interval (see aggregate.py)
        total = aggregate.total
        return {"SampleCount": 1.0, "Sum": total, "Minimum": total, "Maximum": total}
    return {
        "SampleCount": float(aggregate.count),
        "Sum": aggregate.total,
        "Minimum": aggregate.minimum,
        "Maximum": aggregate.maximum,
    }

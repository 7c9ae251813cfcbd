"""Per-interval aggregation shared by the CloudWatch sinks (EMF and PutMetricData).

Each ``record`` folds a sample into the current interval, keyed by metric name and unit,
so memory and CloudWatch cost stay flat at any request rate. How a metric folds depends on
its kind (``metric_kind``):

- counter (RequestCount, 5XXError, RowsScored, ...): summed, and reported once per process
  per interval, as 0 when nothing happened once the name has been seen. CloudWatch's Sum
  is then the total and its Average the count per process (per ECS task) per interval,
  which falls as tasks are added: what target-tracking autoscaling needs.
- gauge (QueueDepth, BacklogPerWorker, the live accuracy and drift levels): every sample
  kept, so Average and Maximum are the gauge's.
- distribution (time units, e.g. Latency in Milliseconds): a histogram of values rounded
  to two significant digits (at most ~5% off), from which CloudWatch computes p99.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["counter", "gauge", "distribution"]
GAUGES = frozenset(
    {
        "QueueDepth",
        "BacklogPerWorker",
        # Live model quality and drift: levels, not counts (missing when nobody computed them).
        "LiveMAE",
        "LiveRMSE",
        "LiveR2",
        "LiveIntervalCoverage",
        "LiveGateBreached",
        "DriftMaxPSI",
    }
)
DISTRIBUTION_UNITS = frozenset({"Milliseconds", "Seconds", "Microseconds"})


def metric_kind(name: str, unit: str) -> Kind:
    """How samples of this metric are folded within an interval."""
    if name in GAUGES:
        return "gauge"
    if unit in DISTRIBUTION_UNITS:
        return "distribution"
    return "counter"


@dataclass
class Aggregate:
    """One metric's samples over one interval."""

    name: str
    unit: str
    kind: Kind = "counter"
    count: int = 0
    total: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    histogram: dict[float, int] = field(default_factory=dict)

    def add(self, value: float) -> None:
        """Fold one sample in."""
        self.count += 1
        self.total += value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)
        if self.kind != "counter":
            bucket = round_significant(value) if self.kind == "distribution" else value
            self.histogram[bucket] = self.histogram.get(bucket, 0) + 1

    def quantile_points(self, limit: int = 100) -> list[float]:
        """At most ``limit`` values whose distribution matches the samples'."""
        items = sorted(self.histogram.items())
        if self.count <= limit:
            return [value for value, count in items for _ in range(count)]
        points: list[float] = []
        cumulative, index = 0, 0
        for i in range(limit):
            rank = (i + 0.5) * self.count / limit
            while cumulative + items[index][1] < rank:
                cumulative += items[index][1]
                index += 1
            points.append(items[index][0])
        return points


class Aggregator:
    """Thread-safe aggregates of the current interval; ``drain`` starts the next one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: dict[tuple[str, str], Aggregate] = {}
        self._counters_seen: set[tuple[str, str]] = set()

    def add(self, name: str, value: float, unit: str) -> None:
        """Fold one sample into the current interval."""
        key = (name, unit)
        with self._lock:
            aggregate = self._current.get(key)
            if aggregate is None:
                aggregate = Aggregate(name, unit, metric_kind(name, unit))
                self._current[key] = aggregate
            aggregate.add(float(value))

    def drain(self) -> list[Aggregate]:
        """The interval's aggregates (sorted), with seen counters at 0 when they were idle."""
        with self._lock:
            current, self._current = self._current, {}
            for key in self._counters_seen - current.keys():
                current[key] = Aggregate(*key, count=1, total=0.0, minimum=0.0, maximum=0.0)
            self._counters_seen.update(k for k, a in current.items() if a.kind == "counter")
        return sorted(current.values(), key=lambda a: (a.name, a.unit))


def round_significant(value: float, digits: int = 2) -> float:
    """``value`` rounded to ``digits`` significant digits (0 stays 0)."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))

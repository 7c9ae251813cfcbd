"""The live monitoring picture: accuracy per model version against its gates, and drift.

Reads the windows in ``MonitoringStore``, computes with the pure functions of
``ml.monitoring`` and ``ml.profile``, builds the report models of ``ml.monitoring_report``
(what GET /v1/monitoring answers), and publishes the results as Prometheus gauges and to
the CloudWatch sink, so whoever asks (GET /v1/monitoring, a feedback post) also refreshes
the metrics.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pandas as pd

from gateway.monitoring_store import MonitoringStore
from jobs.models import iso_time
from ml.card import ModelCard
from ml.contract import FEATURE_COLUMNS
from ml.monitoring import check_gates, coverage_check, live_metrics
from ml.monitoring_report import (
    DriftReport,
    GateThresholds,
    GateVerdict,
    LiveMetrics,
    MonitoringReport,
    Scope,
    VersionGates,
    VersionQuality,
)
from ml.profile import frame_drift
from observability.metrics import record_drift, record_live_quality
from observability.sink import MetricsSink


async def version_quality(
    store: MonitoringStore,
    version: str,
    *,
    fallback: VersionGates | None,
    sink: MetricsSink | None = None,
    owner: str | None = None,
) -> VersionQuality:
    """Live metrics of one version's feedback window, judged against its training gates.

    The shared window (``owner`` None) also feeds the gauges and CloudWatch; an owner's own
    window is only reported back to them.
    """
    entries = await store.feedback_window_of(version, owner)
    columns: list[list[float]] = [[e[i] for e in entries] for i in range(4)]
    metrics = live_metrics(*columns)
    known = (await store.gates_of()).get(version) or fallback or VersionGates()
    verdict = check_gates(metrics, None if known.gates is None else known.gates.model_dump())
    level = known.level
    if owner is None:
        record_live_quality(
            model_version=version,
            metrics=metrics,
            breached={name: r["status"] == "breached" for name, r in verdict["gates"].items()},
            sink=sink,
        )
    return VersionQuality(
        model_version=version,
        scope="shared" if owner is None else "own",
        window=store.feedback_window,
        metrics=LiveMetrics.model_validate(metrics),
        gates=GateVerdict.model_validate(verdict),
        interval_level=level,
        coverage_status=coverage_check(metrics, level),
        newest_at=iso_time(entries[0][4]) if entries else None,
        oldest_at=iso_time(entries[-1][4]) if entries else None,
    )


async def own_quality(
    store: MonitoringStore, owner: str, *, card: ModelCard | None
) -> list[VersionQuality]:
    """Live accuracy of one owner's own feedback, per model version (nothing is published)."""
    fallback = card_gates(card)
    return [
        await version_quality(store, version, fallback=fallback, owner=owner)
        for version in await store.feedback_versions(owner)
    ]


async def live_drift(
    store: MonitoringStore,
    version: str,
    profile: dict[str, Any] | None,
    *,
    threshold: float,
    sink: MetricsSink | None = None,
) -> DriftReport | None:
    """PSI per feature of the live-traffic window against the training profile."""
    if not profile:
        return None
    houses = await store.traffic_window_of(version)
    if not houses:
        return DriftReport(threshold=threshold, rows=0, enough_rows=False)
    frame = pd.DataFrame(houses, columns=list(FEATURE_COLUMNS))
    report = await asyncio.to_thread(frame_drift, profile, frame, threshold=threshold)
    record_drift({f: v["psi"] for f, v in report["features"].items()}, source="live", sink=sink)
    return DriftReport.model_validate(report)


async def snapshot(
    store: MonitoringStore,
    *,
    version: str | None,
    card: ModelCard | None,
    threshold: float,
    scope: Scope,
    own: list[VersionQuality],
    held: int,
    sink: MetricsSink | None = None,
) -> MonitoringReport:
    """Everything GET /v1/monitoring shows: accuracy per version, drift, the latest replay,
    with the caller's feedback ``scope``, their ``own`` accuracy and the ``held`` count."""
    fallback = card_gates(card)
    versions = await store.feedback_versions()
    if version is not None and version not in versions:
        versions.append(version)
    quality = [
        await version_quality(store, v, fallback=fallback if v == version else None, sink=sink)
        for v in versions
    ]
    profile = card.profile if card else None
    drift = (
        await live_drift(store, version, profile, threshold=threshold, sink=sink)
        if version
        else None
    )
    return MonitoringReport(
        model_version=version,
        accuracy=quality,
        drift=drift,
        drift_available=bool(profile),
        challenger=await store.latest_replay(),
        feedback_scope=scope,
        own_accuracy=own,
        held_feedback=held,
    )


def card_gates(card: ModelCard | None) -> VersionGates | None:
    """The serving model's gates and interval level, for versions not recorded yet."""
    if card is None:
        return None
    thresholds = GateThresholds.model_validate(card.gates.model_dump())
    return VersionGates(gates=thresholds, level=card.interval.level)

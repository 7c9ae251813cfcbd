"""The live monitoring picture: accuracy per model version against its gates, and drift.

Reads the windows in ``MonitoringStore``, computes with the pure functions of
``ml.monitoring`` and ``ml.profile``, and publishes the results as Prometheus gauges and to
the CloudWatch sink, so whoever asks (GET /v1/monitoring, a feedback post) also refreshes
the metrics.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pandas as pd

from gateway.monitoring_store import MonitoringStore
from jobs.models import iso_time
from ml.contract import FEATURE_COLUMNS
from ml.monitoring import check_gates, coverage_check, live_metrics
from ml.profile import frame_drift
from observability.metrics import record_drift, record_live_quality
from observability.sink import MetricsSink


async def version_quality(
    store: MonitoringStore,
    version: str,
    *,
    fallback: dict[str, Any] | None,
    sink: MetricsSink | None = None,
    owner: str | None = None,
) -> dict[str, Any]:
    """Live metrics of one version's feedback window, judged against its training gates.

    The shared window (``owner`` None) also feeds the gauges and CloudWatch; an owner's own
    window is only reported back to them.
    """
    entries = await store.feedback_window_of(version, owner)
    columns: list[list[float]] = [[e[i] for e in entries] for i in range(4)]
    metrics = live_metrics(*columns)
    known = (await store.gates_of()).get(version) or fallback or {}
    verdict = check_gates(metrics, known.get("gates"))
    level = known.get("level")
    if owner is None:
        record_live_quality(
            model_version=version,
            metrics=metrics,
            breached={name: r["status"] == "breached" for name, r in verdict["gates"].items()},
            sink=sink,
        )
    return {
        "model_version": version,
        "scope": "shared" if owner is None else "own",
        "window": store.feedback_window,
        "metrics": metrics,
        "gates": verdict,
        "interval_level": level,
        "coverage_status": coverage_check(metrics, level),
        "newest_at": iso_time(entries[0][4]) if entries else None,
        "oldest_at": iso_time(entries[-1][4]) if entries else None,
    }


async def own_quality(
    store: MonitoringStore, owner: str, *, card: dict[str, Any] | None
) -> list[dict[str, Any]]:
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
) -> dict[str, Any] | None:
    """PSI per feature of the live-traffic window against the training profile."""
    if not profile:
        return None
    houses = await store.traffic_window_of(version)
    if not houses:
        return {"threshold": threshold, "rows": 0, "max_psi": None, "drifted": [], "features": {}}
    frame = pd.DataFrame(houses, columns=list(FEATURE_COLUMNS))
    report = await asyncio.to_thread(frame_drift, profile, frame, threshold=threshold)
    record_drift({f: v["psi"] for f, v in report["features"].items()}, source="live", sink=sink)
    return report


async def snapshot(
    store: MonitoringStore,
    *,
    version: str | None,
    card: dict[str, Any] | None,
    threshold: float,
    sink: MetricsSink | None = None,
) -> dict[str, Any]:
    """Everything GET /v1/monitoring shows: accuracy per version, drift, the latest replay."""
    fallback = card_gates(card)
    versions = await store.feedback_versions()
    if version is not None and version not in versions:
        versions.append(version)
    quality = [
        await version_quality(store, v, fallback=fallback if v == version else None, sink=sink)
        for v in versions
    ]
    profile = card.get("profile") if card else None
    drift = (
        await live_drift(store, version, profile, threshold=threshold, sink=sink)
        if version
        else None
    )
    return {
        "model_version": version,
        "accuracy": quality,
        "drift": drift,
        "drift_available": bool(profile),
        "challenger": await store.latest_replay(),
    }


def card_gates(card: dict[str, Any] | None) -> dict[str, Any] | None:
    """The serving model's gates and interval level, for versions not recorded yet."""
    if card is None:
        return None
    return {"gates": card.get("gates"), "level": card.get("interval", {}).get("level")}

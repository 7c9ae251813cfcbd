"""Champion vs challenger from live feedback: paired points in, the monitoring section out.

When trusted feedback names a prediction that both versions priced (one answered, the
other in shadow), ``record_pairs`` keeps a paired point. ``experiment_section`` is what
``GET /v1/monitoring`` shows under ``experiment``: the mode and split, houses per arm, and
the paired comparison of the current pair (``ml.paired.compare_paired``) with its errors
over time for the web app's chart.
"""

from __future__ import annotations

import time
from typing import Any

from gateway.experiment import CHALLENGER, CHAMPION, Experiment
from gateway.monitoring_store import FeedbackPoint, MonitoringStore
from jobs.keys import served_field
from ml.paired import PairedPoint, compare_paired, error_series

SERIES_BUCKETS = 30


async def record_pairs(
    store: MonitoringStore, points: list[FeedbackPoint], duplicates: list[str]
) -> int:
    """Keep a paired point for each newly accepted price of a house both versions priced."""
    seen = set(duplicates)
    fresh = [p for p in points if p.key not in seen and not p.key.startswith("job:")]
    if not fresh:
        return 0
    stored = await store.get_predictions([p.key for p in fresh])
    now = round(time.time(), 3)
    pairs = []
    for point, prediction in zip(fresh, stored, strict=True):
        paired = None if prediction is None else prediction.paired(point.actual, now)
        if paired is not None:
            pairs.append(paired)
    await store.add_pairs(pairs)
    return len(pairs)


async def experiment_section(
    store: MonitoringStore, experiment: Experiment, *, accuracy: list[dict[str, Any]]
) -> dict[str, Any]:
    """The trial as the monitoring report shows it: each arm with the houses it answered
    and its version's live metrics (from ``accuracy``, the report's shared windows)."""
    champion = experiment.champion.current
    champion_version = None if champion is None else str(champion.version)
    challenger_version = experiment.challenger_version()
    served = await store.served()
    live = {quality["model_version"]: quality["metrics"] for quality in accuracy}
    arms = [
        {
            "arm": arm,
            "model_version": version,
            "served": served.get(served_field(arm, version), 0),
            "live": live.get(version),
        }
        for arm, version in ((CHAMPION, champion_version), (CHALLENGER, challenger_version))
        if version is not None
    ]
    section: dict[str, Any] = {
        "mode": experiment.mode,
        "ab_challenger_weight": experiment.weight if experiment.mode == "ab" else None,
        "champion_version": champion_version,
        "challenger_version": challenger_version,
        "arms": arms,
        "paired": None,
        "paired_series": [],
    }
    if champion_version is None or challenger_version is None:
        return section
    points = await store.paired_points(champion_version, challenger_version)
    section["paired"] = paired_summary(points, champion_version, challenger_version)
    section["paired_series"] = [
        b.model_dump() for b in error_series(points, buckets=SERIES_BUCKETS)
    ]
    return section


def paired_summary(
    points: list[PairedPoint], champion_version: str, challenger_version: str
) -> dict[str, Any]:
    """The comparison without its per-house error lists (they stay out of the report)."""
    comparison = compare_paired(
        points, champion_version=champion_version, challenger_version=challenger_version
    )
    return comparison.model_dump(exclude={"champion_errors", "challenger_errors"})

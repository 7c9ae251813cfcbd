"""Champion vs challenger on the same houses: paired errors from live sale prices.

While a challenger is on trial, the gateway prices every live house with both versions
(one answers, the other is scored in shadow after the response) and, when the actual sale
price of such a house is reported, keeps one ``PairedPoint``: the actual price and both
versions' prices. Because both errors come from the same house, their difference is free
of the house-to-house noise that makes two separate windows hard to compare.

``compare_paired`` is the one computation anyone judging a challenger uses (the monitoring
report, the promotion loop); ``read_paired`` reads the points from Redis with a
synchronous client for code outside the gateway. Pure apart from that read: this module
imports nothing of the project.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, Field


class PairedPoint(BaseModel):
    """One house with an actual price, priced by both versions."""

    at: float = Field(description="When the sale price was reported (Unix seconds).")
    actual: float
    champion: float = Field(description="The champion's predicted price.")
    challenger: float = Field(description="The challenger's predicted price.")


class PairedBucket(BaseModel):
    """Consecutive paired houses (in report order) summarised for a chart."""

    at: float = Field(description="When the newest report of the bucket arrived.")
    n: int
    champion_mae: float
    challenger_mae: float


class PairedComparison(BaseModel):
    """Champion vs challenger absolute errors on the same houses."""

    champion_version: str
    challenger_version: str
    n: int = Field(description="Houses with an actual price and both predictions.")
    champion_mae: float | None = None
    challenger_mae: float | None = None
    mean_paired_difference: float | None = Field(
        default=None,
        description="Mean over houses of |challenger error| - |champion error|: "
        "negative when the challenger is closer to the actual prices.",
    )
    challenger_better_share: float | None = Field(
        default=None, description="Share of houses the challenger priced strictly closer."
    )
    champion_errors: list[float] = Field(
        default_factory=list, description="|predicted - actual| per house, oldest first."
    )
    challenger_errors: list[float] = Field(
        default_factory=list, description="The challenger's, for the same houses in order."
    )


def compare_paired(
    points: Sequence[PairedPoint], *, champion_version: str, challenger_version: str
) -> PairedComparison:
    """n, MAE of each version and the mean paired difference of absolute errors."""
    ordered = sorted(points, key=lambda p: p.at)
    if not ordered:
        return PairedComparison(
            champion_version=champion_version, challenger_version=challenger_version, n=0
        )
    actual = np.array([p.actual for p in ordered], dtype=np.float64)
    champion = np.abs(np.array([p.champion for p in ordered], dtype=np.float64) - actual)
    challenger = np.abs(np.array([p.challenger for p in ordered], dtype=np.float64) - actual)
    return PairedComparison(
        champion_version=champion_version,
        challenger_version=challenger_version,
        n=len(ordered),
        champion_mae=float(champion.mean()),
        challenger_mae=float(challenger.mean()),
        mean_paired_difference=float((challenger - champion).mean()),
        challenger_better_share=float((challenger < champion).mean()),
        champion_errors=champion.tolist(),
        challenger_errors=challenger.tolist(),
    )


def error_series(points: Sequence[PairedPoint], *, buckets: int = 30) -> list[PairedBucket]:
    """Both versions' MAE over time: the points in report order cut into ``buckets`` runs."""
    ordered = sorted(points, key=lambda p: p.at)
    if not ordered:
        return []
    series = []
    for run in np.array_split(np.arange(len(ordered)), min(buckets, len(ordered))):
        chosen = [ordered[i] for i in run]
        series.append(
            PairedBucket(
                at=chosen[-1].at,
                n=len(chosen),
                champion_mae=float(np.mean([abs(p.champion - p.actual) for p in chosen])),
                challenger_mae=float(np.mean([abs(p.challenger - p.actual) for p in chosen])),
            )
        )
    return series


def encode_point(point: PairedPoint) -> str:
    """The compact form kept in Redis: ``[at, actual, champion, challenger]``."""
    return json.dumps([point.at, point.actual, point.champion, point.challenger])


def decode_point(raw: bytes | str) -> PairedPoint:
    """A point from its Redis form."""
    at, actual, champion, challenger = json.loads(raw)
    return PairedPoint(at=at, actual=actual, champion=champion, challenger=challenger)


def read_paired(client: Any, key: str, *, limit: int = 10_000) -> list[PairedPoint]:
    """The newest ``limit`` points under ``key`` (``jobs.keys.paired_key``),
    read with a synchronous Redis client (the promotion loop's way in)."""
    return [decode_point(raw) for raw in client.lrange(key, 0, limit - 1)]

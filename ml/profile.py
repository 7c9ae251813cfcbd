"""The training profile: what the model has seen, to flag unusual houses and measure drift.

``build_profile`` summarises the training rows per feature: numeric ranges and quantile
bins (with the share of training rows in each), category counts. ``bin_counts`` puts new
rows into the same bins, ``psi`` compares the shares, and ``DomainCheck`` words the
out-of-domain warnings a prediction carries. The profile is a JSON-ready dict stored in
the model card (``ModelCard.profile``); a card without one simply means no drift checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ml.categories import RARE_CATEGORY_COUNT
from ml.contract import CATEGORY_COLUMNS, NUMERIC_COLUMNS
from ml.frame_rules import coerce_frame
from ml.monitoring_report import MIN_DRIFT_ROWS

BINS = 10
OTHER = "__other__"
PSI_EPSILON = 1e-4
PSI_THRESHOLD = 0.2


def build_profile(frame: pd.DataFrame, *, bins: int = BINS) -> dict[str, Any]:
    """Per-feature ranges, quantile bins and category frequencies of the training rows."""
    values = coerce_frame(frame)
    numeric: dict[str, Any] = {}
    for column in NUMERIC_COLUMNS:
        data = values[column].dropna().to_numpy(dtype=np.float64)
        inner = np.quantile(data, np.linspace(0, 1, bins + 1)[1:-1])
        edges = np.unique(inner).tolist()
        counts = np.bincount(np.searchsorted(edges, data, side="right"), minlength=len(edges) + 1)
        numeric[column] = {
            "min": float(data.min()),
            "max": float(data.max()),
            "mean": float(data.mean()),
            "std": float(data.std()),
            "p01": float(np.quantile(data, 0.01)),
            "p99": float(np.quantile(data, 0.99)),
            "edges": [float(e) for e in edges],
            "fractions": (counts / counts.sum()).round(6).tolist(),
        }
    categorical: dict[str, Any] = {}
    for column in CATEGORY_COLUMNS:
        counts = values[column].dropna().value_counts()
        total = int(counts.sum())
        categorical[column] = {
            "counts": {str(k): int(v) for k, v in counts.items()},
            "fractions": {str(k): round(int(v) / total, 6) for k, v in counts.items()},
        }
    return {"rows": len(frame), "bins": bins, "numeric": numeric, "categorical": categorical}


def bin_counts(profile: dict[str, Any], frame: pd.DataFrame) -> dict[str, list[int]]:
    """How many of ``frame``'s rows fall in each profile bin, per feature (invalid cells skipped).

    Numeric bins follow the profile's edges; categories follow the profile's categories in
    order plus a last bucket for any category training never saw.
    """
    values = coerce_frame(frame)
    out: dict[str, list[int]] = {}
    for column, spec in profile["numeric"].items():
        data = values[column].to_numpy(dtype=np.float64)
        data = data[np.isfinite(data)]
        edges = spec["edges"]
        positions = np.searchsorted(edges, data, side="right")
        out[column] = np.bincount(positions, minlength=len(edges) + 1).tolist()
    for column, spec in profile["categorical"].items():
        names = list(spec["fractions"])
        text = values[column].dropna()
        counts = text.value_counts()
        known = [int(counts.get(name, 0)) for name in names]
        out[column] = [*known, int(len(text) - sum(known))]
    return out


def expected_fractions(profile: dict[str, Any]) -> dict[str, list[float]]:
    """The training share of each bin, aligned with ``bin_counts`` (unseen bucket 0)."""
    out: dict[str, list[float]] = {}
    for column, spec in profile["numeric"].items():
        out[column] = list(spec["fractions"])
    for column, spec in profile["categorical"].items():
        out[column] = [*spec["fractions"].values(), 0.0]
    return out


def psi(expected: list[float], actual_counts: list[int]) -> float | None:
    """Population stability index of observed counts against expected shares (None if empty).

    ``Σ (a - e) · ln(a / e)`` with both shares floored at a small epsilon, so an empty bin
    on either side counts as a large, finite shift.
    """
    total = sum(actual_counts)
    if total == 0:
        return None
    value = 0.0
    for e, count in zip(expected, actual_counts, strict=True):
        a = max(count / total, PSI_EPSILON)
        e = max(e, PSI_EPSILON)
        value += (a - e) * math.log(a / e)
    return value


def drift_report(
    profile: dict[str, Any], counts: dict[str, list[int]], *, threshold: float = PSI_THRESHOLD
) -> dict[str, Any]:
    """PSI per feature for observed bin counts, with which features drifted past ``threshold``."""
    expected = expected_fractions(profile)
    features: dict[str, Any] = {}
    for column, observed in counts.items():
        value = psi(expected[column], observed)
        rows = int(sum(observed))
        features[column] = {
            "psi": None if value is None else round(value, 6),
            "drifted": value is not None and value > threshold and rows >= MIN_DRIFT_ROWS,
            "rows": rows,
        }
    drifted = [c for c, f in features.items() if f["drifted"]]
    scores = [f["psi"] for f in features.values() if f["psi"] is not None]
    rows = max((f["rows"] for f in features.values()), default=0)
    return {
        "threshold": threshold,
        "min_rows": MIN_DRIFT_ROWS,
        "enough_rows": rows >= MIN_DRIFT_ROWS,
        "rows": rows,
        "max_psi": max(scores) if scores else None,
        "drifted": drifted,
        "features": features,
    }


def frame_drift(
    profile: dict[str, Any], frame: pd.DataFrame, *, threshold: float = PSI_THRESHOLD
) -> dict[str, Any]:
    """PSI per feature of a frame of raw rows against the training profile."""
    return drift_report(profile, bin_counts(profile, frame), threshold=threshold)


def add_counts(total: dict[str, list[int]], more: dict[str, list[int]]) -> dict[str, list[int]]:
    """Element-wise sum of two ``bin_counts`` results."""
    if not total:
        return {k: list(v) for k, v in more.items()}
    return {k: [a + b for a, b in zip(total[k], more[k], strict=True)] for k in total}


@dataclass(frozen=True)
class DomainCheck:
    """Out-of-domain warnings for one house: beyond the training range, or a rare category."""

    ranges: dict[str, tuple[float, float]]
    counts: dict[str, dict[str, int]]

    @classmethod
    def from_profile(cls, profile: dict[str, Any] | None) -> DomainCheck | None:
        """The check for a card's profile; None when the card has no profile."""
        if not profile:
            return None
        return cls(
            ranges={c: (s["min"], s["max"]) for c, s in profile["numeric"].items()},
            counts={c: dict(s["counts"]) for c, s in profile["categorical"].items()},
        )

    def warnings(self, house: dict[str, Any]) -> list[str]:
        """Warnings for one house's values (numbers beyond the range, rare categories)."""
        found: list[str] = []
        for column, (low, high) in self.ranges.items():
            value = house.get(column)
            if value is None:
                continue
            if value > high:
                found.append(_beyond(column, value, "max", high))
            elif value < low:
                found.append(_beyond(column, value, "min", low))
        for column, counts in self.counts.items():
            count = counts.get(str(house.get(column)), 0)
            if 0 < count < RARE_CATEGORY_COUNT:
                found.append(_rare(column, house.get(column), count))
        return found

    def frame_warnings(self, values: pd.DataFrame, valid: np.ndarray) -> pd.Series:
        """The same warnings for coerced rows, joined with '; ' (None where there are none)."""
        notes = pd.Series([None] * len(values), index=values.index, dtype=object)
        flagged = np.zeros(len(values), dtype=bool)
        for column, (low, high) in self.ranges.items():
            data = values[column].to_numpy(dtype=np.float64)
            flagged |= valid & ((data > high) | (data < low))
        for column, counts in self.counts.items():
            rare = {k for k, v in counts.items() if v < RARE_CATEGORY_COUNT}
            if rare:
                flagged |= valid & values[column].isin(rare).to_numpy(dtype=bool)
        if not flagged.any():
            return notes
        # Warnings depend only on a row's values: work each distinct row out once.
        columns = list(values.columns)
        cache: dict[tuple[Any, ...], str | None] = {}
        joined: list[str | None] = []
        for row in values.loc[flagged].itertuples(index=False, name=None):
            if row not in cache:
                found = self.warnings({c: _plain(v) for c, v in zip(columns, row, strict=True)})
                cache[row] = "; ".join(found) if found else None
            joined.append(cache[row])
        notes[flagged] = joined
        return notes


def _beyond(column: str, value: float, side: str, limit: float) -> str:
    word = "beyond" if side == "max" else "below"
    return (
        f"{column} {value:,.{_digits(value)}f} is {word} anything seen in training "
        f"({side} {limit:,.{_digits(limit)}f})"
    )


def _rare(column: str, value: Any, count: int) -> str:
    return (
        f"{column} '{value}' was seen fewer than {RARE_CATEGORY_COUNT} times in training ({count})"
    )


def _digits(value: float) -> int:
    return 0 if float(value).is_integer() else 1


def _plain(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return None if value is pd.NA else value

"""Live model quality from real sale prices: pure functions over (actual, predicted, interval).

The gateway keeps a rolling window of feedback per model version (see
``gateway.monitoring_store``); these functions turn a window into MAE, RMSE, R² and
interval coverage and judge them against the gates the model was trained to meet.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ml.evaluate import interval_coverage, regression_metrics

MIN_FEEDBACK_FOR_GATES = 30
GATE_NAMES = ("r2_min", "mae_max", "rmse_max")


def live_metrics(
    actual: Iterable[float],
    predicted: Iterable[float],
    low: Iterable[float],
    high: Iterable[float],
) -> dict[str, float | int | None]:
    """MAE, RMSE, R², interval coverage and bias (mean predicted - actual) of a window."""
    a = np.asarray(list(actual), dtype=np.float64)
    p = np.asarray(list(predicted), dtype=np.float64)
    lo = np.asarray(list(low), dtype=np.float64)
    hi = np.asarray(list(high), dtype=np.float64)
    n = len(a)
    if n == 0:
        return {"n": 0, "mae": None, "rmse": None, "r2": None, "coverage": None, "bias": None}
    scores: dict[str, float | None] = (
        dict(regression_metrics(a, p))
        if n >= 2
        else {
            "mae": float(np.abs(a - p).mean()),
            "rmse": float(np.sqrt(((a - p) ** 2).mean())),
            "r2": None,
        }
    )
    if n >= 2 and float(np.var(a)) == 0.0:
        scores["r2"] = None  # undefined for a constant target
    return {
        "n": n,
        "mae": scores["mae"],
        "rmse": scores["rmse"],
        "r2": scores["r2"],
        "coverage": interval_coverage(a, lo, hi),
        "bias": float((p - a).mean()),
    }


def check_gates(
    metrics: dict[str, Any],
    gates: dict[str, Any] | None,
    *,
    min_feedback: int = MIN_FEEDBACK_FOR_GATES,
) -> dict[str, Any]:
    """Each training gate against the live metrics: ok, breached, or not enough feedback yet."""
    results: dict[str, Any] = {}
    if not gates:
        return {"status": "unknown", "breached": [], "gates": results}
    enough = (metrics.get("n") or 0) >= min_feedback
    for name in GATE_NAMES:
        threshold = gates.get(name)
        value = metrics.get(name.split("_")[0])
        if threshold is None:
            continue
        if value is None or not enough:
            results[name] = {"threshold": threshold, "value": value, "status": "insufficient"}
            continue
        passed = value >= threshold if name.endswith("_min") else value <= threshold
        results[name] = {
            "threshold": threshold,
            "value": value,
            "status": "ok" if passed else "breached",
        }
    breached = [n for n, r in results.items() if r["status"] == "breached"]
    status = "insufficient" if not enough else "breached" if breached else "ok"
    return {"status": status, "breached": breached, "gates": results, "min_feedback": min_feedback}


def coverage_check(metrics: dict[str, Any], level: float | None, *, tolerance: float = 0.1) -> str:
    """'ok', 'low' (coverage more than ``tolerance`` under the nominal level) or 'unknown'."""
    coverage = metrics.get("coverage")
    if coverage is None or level is None or (metrics.get("n") or 0) < MIN_FEEDBACK_FOR_GATES:
        return "unknown"
    return "low" if coverage < level - tolerance else "ok"

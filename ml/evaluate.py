"""Pure metric functions and the quality gates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from ml.config import Gates


def regression_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """R², MAE and RMSE in dollars."""
    return {
        "r2": float(r2_score(actual, predicted)),
        "mae": float(mean_absolute_error(actual, predicted)),
        "rmse": float(np.sqrt(mean_squared_error(actual, predicted))),
    }


def interval_coverage(actual: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """The share of actual values inside their intervals."""
    return float(np.mean((actual >= low) & (actual <= high)))


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict, with the margin by which it passed (positive) or failed."""

    name: str
    value: float
    threshold: float
    passed: bool
    margin: float

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return (
            f"gate {self.name}: {verdict} (value {self.value:,.4g}, threshold "
            f"{self.threshold:,.4g}, margin {self.margin:+,.4g})"
        )


def apply_gates(metrics: dict[str, float], gates: Gates) -> list[GateResult]:
    """Check hold-out metrics against every gate."""
    return [
        _gate("r2_min", metrics["r2"], gates.r2_min, higher_is_better=True),
        _gate("mae_max", metrics["mae"], gates.mae_max, higher_is_better=False),
        _gate("rmse_max", metrics["rmse"], gates.rmse_max, higher_is_better=False),
    ]


def _gate(name: str, value: float, threshold: float, *, higher_is_better: bool) -> GateResult:
    margin = value - threshold if higher_is_better else threshold - value
    return GateResult(name, value, threshold, margin >= 0, margin)

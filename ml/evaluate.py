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


# gate -> (metric, higher is better)
GATE_METRICS: dict[str, tuple[str, bool]] = {
    "r2_min": ("r2", True),
    "mae_max": ("mae", False),
    "rmse_max": ("rmse", False),
}


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict, with the margin by which it passed (positive) or failed.

    ``value`` is what is judged (a repeated-CV mean, or a hold-out value); ``low`` and
    ``high`` its confidence interval when there is one.
    """

    name: str
    value: float
    threshold: float
    passed: bool
    margin: float
    low: float | None = None
    high: float | None = None

    @property
    def straddles(self) -> bool:
        """Whether the interval holds the threshold: the verdict on the mean is less sure."""
        return (
            self.low is not None and self.high is not None and self.low < self.threshold < self.high
        )

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        plain = ".3f" if self.name.startswith("r2") else ",.0f"
        signed = "+" + plain
        if self.low is None or self.high is None:
            return (
                f"gate {self.name}: {verdict} (value {self.value:{plain}}, threshold "
                f"{self.threshold:{plain}}, margin {self.margin:{signed}})"
            )
        sure = (
            f"; {'passes' if self.passed else 'fails'} on the mean, interval straddles"
            if self.straddles
            else ""
        )
        return (
            f"gate {self.name}: {verdict} (mean {self.value:{plain}}, interval "
            f"{self.low:{plain}} to {self.high:{plain}}, threshold {self.threshold:{plain}}, "
            f"margin {self.margin:{signed}}){sure}"
        )


def apply_gates(
    metrics: dict[str, float],
    gates: Gates,
    intervals: dict[str, tuple[float, float]] | None = None,
) -> list[GateResult]:
    """Check metrics (CV means, or hold-out values) against every gate, with their intervals."""
    results = []
    for name, (metric, higher_is_better) in GATE_METRICS.items():
        low, high = (intervals or {}).get(metric, (None, None))
        value, threshold = metrics[metric], float(getattr(gates, name))
        margin = value - threshold if higher_is_better else threshold - value
        results.append(GateResult(name, value, threshold, margin >= 0, margin, low, high))
    return results

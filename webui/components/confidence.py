"""A confidence grade from a prediction interval: its half-width as a share of the price.

Valuation models report a forecast standard deviation; a per-house conformal interval
says the same more plainly. The thresholds are shown on the page with the grade.
"""

from __future__ import annotations

from ml.contract import PredictionInterval

# (grade, half-width share below which it applies); anything wider is "D".
GRADES: tuple[tuple[str, float], ...] = (("A", 0.20), ("B", 0.25), ("C", 0.35))
WIDEST = "D"


def half_width_share(interval: PredictionInterval, price: float) -> float:
    """Half the interval's width as a share of the predicted price."""
    return (interval.high - interval.low) / 2 / price


def confidence_grade(share: float) -> str:
    """A for the tightest intervals, D for the widest."""
    return next((grade for grade, limit in GRADES if share < limit), WIDEST)


def grade_scale() -> str:
    """The thresholds in words: ``A under ±20%, B under ±25%, C under ±35%, D wider``."""
    bands = [f"{grade} under ±{limit:.0%}" for grade, limit in GRADES]
    return ", ".join([*bands, f"{WIDEST} wider"])

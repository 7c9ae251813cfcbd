"""Market drift: how far sale prices have moved away from the champion's prices.

The replay limits (``promotion`` in ``ml/config.yaml``) guard against *unexplained*
change: a challenger that reprices the champion's hold-out by +15 % is suspicious, unless
the sale prices that arrived since show the market itself moved by about that much. The
drift is read from the same paired houses the promotion test uses (sale prices the
challenger never trained on): the median of ``log(actual / champion price)``, with the
distribution-free confidence interval of a median from order statistics (the sign-test
interval; exact, no normality assumed, heavy-tailed price errors are fine). The drift
counts as measured only when at least ``min_paired`` prices back it and its interval
excludes zero.

``explained_change`` then takes from the challenger's own uniform shift on the replayed
houses (the median of ``log(challenger / champion)``) only what the market explains: the
part between zero and the measured drift, in its direction. A challenger that tracks the
move is judged on what it changes beyond it; one that moves further, the other way, or in
one location only keeps that surplus in its report. Pure: numpy and scipy only.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field
from scipy.stats import binom


class MarketDrift(BaseModel):
    """The market move measured on paired sale prices, and whether it explains the replay."""

    n: int = Field(description="Paired sale prices the estimate rests on.")
    change: float | None = Field(
        default=None, description="Median of actual / champion price, minus 1 (+0.15: +15 %)."
    )
    low: float | None = Field(default=None, description="Lower end of the interval (as change).")
    high: float | None = Field(default=None, description="Upper end of the interval (as change).")
    level: float = Field(description="Confidence level of the interval.")
    significant: bool = Field(description="At least min_paired prices and interval excludes 0.")
    enabled: bool = Field(description="promotion.explain_drift in the config.")
    applied: bool = Field(description="Replay movement judged beyond the drift (both above).")
    explained_change: float | None = Field(
        default=None,
        description="The challenger's uniform price shift the drift explains (set by the "
        "replay when applied); its movement limits are judged on prices divided by 1 + this.",
    )

    def describe(self) -> str:
        """One line for reasons and reports."""
        if self.change is None or self.low is None or self.high is None:
            return f"market drift not measured ({self.n} paired sale prices)"
        text = (
            f"market drift {self.change:+.1%} ({self.level:.0%} interval {self.low:+.1%} to "
            f"{self.high:+.1%}, {self.n} sale prices)"
        )
        if self.applied:
            explained = self.explained_change
            return text + (
                f"; it explains a {explained:+.1%} shift of the challenger's prices"
                if explained is not None
                else ""
            )
        if not self.enabled:
            return text + "; not applied (explain_drift off)"
        return text + "; not significant, replay judged as is"


def estimate_drift(
    actual: np.ndarray,
    champion: np.ndarray,
    *,
    level: float,
    min_paired: int,
    enabled: bool = True,
) -> MarketDrift:
    """The median log ratio of sale price to champion price, with its order-statistic interval."""
    ok = (actual > 0) & (champion > 0)
    ratios = np.sort(np.log(actual[ok] / champion[ok]))
    n = len(ratios)
    if n == 0:
        return MarketDrift(n=0, level=level, significant=False, enabled=enabled, applied=False)
    low, high = _median_interval(ratios, level)
    significant = n >= min_paired and (low > 0 or high < 0)
    return MarketDrift(
        n=n,
        change=float(np.expm1(np.median(ratios))),
        low=float(np.expm1(low)),
        high=float(np.expm1(high)),
        level=level,
        significant=significant,
        enabled=enabled,
        applied=significant and enabled,
    )


def explained_shift(
    drift: MarketDrift | None, champion: np.ndarray, challenger: np.ndarray
) -> float:
    """The log shift of the challenger's prices the drift explains (0 when none is)."""
    if drift is None or not drift.applied or drift.change is None or len(champion) == 0:
        return 0.0
    shift = float(np.median(np.log(challenger / champion)))
    bound = float(np.log1p(drift.change))
    return min(max(shift, 0.0), bound) if bound > 0 else max(min(shift, 0.0), bound)


def _median_interval(ratios: np.ndarray, level: float) -> tuple[float, float]:
    """[x_(k), x_(n-k+1)]: covers the median with probability >= ``level`` (Bin(n, 1/2))."""
    n = len(ratios)
    tail = (1 - level) / 2
    j = int(binom.ppf(tail, n, 0.5))
    if binom.cdf(j, n, 0.5) > tail:
        j -= 1
    if j < 0:  # too few prices for any finite interval at this level
        return -np.inf, np.inf
    return float(ratios[j]), float(ratios[n - 1 - j])

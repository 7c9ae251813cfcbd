"""Automatic promotion and rollback: paired tests on the same houses, judged by a policy.

Two versions are compared on houses whose sale prices are known and which neither saw in
training (the loop only pairs feedback that arrived after the challenger was made). The
test is the Wilcoxon signed-rank test on the paired absolute errors, one-sided: it asks
whether one version's errors are systematically smaller, without assuming the differences
are normal (house-price errors have heavy tails), and it uses every house (a sign test
would throw the sizes away). ``decide_promotion`` and ``decide_rollback`` are pure: the
loop (``workers.lifecycle``) gathers the numbers and moves the aliases.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field
from scipy.stats import wilcoxon

from ml.config import AutoPromotion
from ml.market_drift import MarketDrift
from ml.monitoring import check_gates, live_metrics


class PairedTest(BaseModel):
    """Whether ``candidate`` has smaller absolute errors than ``baseline`` on the same houses."""

    n: int
    candidate_mae: float | None
    baseline_mae: float | None
    median_improvement: float | None  # median of baseline error - candidate error ($)
    p_value: float | None  # one-sided: candidate errors smaller
    better: bool


class Decision(BaseModel):
    """What the policy concluded and why (the why goes into the alias history)."""

    act: bool
    reason: str
    test: PairedTest | None = None
    # The market move on the paired prices, and whether the replay was judged beyond it.
    drift: MarketDrift | None = None
    details: dict[str, object] = Field(default_factory=dict)


def paired_test(
    actual: np.ndarray, candidate: np.ndarray, baseline: np.ndarray, *, alpha: float
) -> PairedTest:
    """One-sided Wilcoxon signed-rank test that ``candidate``'s absolute errors are smaller."""
    n = len(actual)
    if n == 0:
        return PairedTest(
            n=0,
            candidate_mae=None,
            baseline_mae=None,
            median_improvement=None,
            p_value=None,
            better=False,
        )
    cand = np.abs(candidate - actual)
    base = np.abs(baseline - actual)
    diff = base - cand
    p_value = (
        1.0 if np.allclose(diff, 0.0) else float(wilcoxon(base, cand, alternative="greater").pvalue)
    )
    return PairedTest(
        n=n,
        candidate_mae=float(cand.mean()),
        baseline_mae=float(base.mean()),
        median_improvement=float(np.median(diff)),
        p_value=p_value,
        better=p_value < alpha and float(np.median(diff)) > 0,
    )


def decide_promotion(
    actual: np.ndarray,
    challenger: np.ndarray,
    champion: np.ndarray,
    *,
    policy: AutoPromotion,
    replay_failures: list[str],
    drift: MarketDrift | None = None,
) -> Decision:
    """Promote when enough paired actuals show the challenger better and the replay is sane.

    ``replay_failures`` are the replay's verdict (judged beyond ``drift`` when it applied);
    ``drift`` is recorded with the decision and named in its reason.
    """
    test = paired_test(actual, challenger, champion, alpha=policy.alpha)
    if test.n < policy.min_paired:
        return Decision(
            act=False,
            reason=f"{test.n} paired actuals, {policy.min_paired} needed",
            test=test,
            drift=drift,
        )
    if not test.better:
        return Decision(
            act=False,
            reason=f"challenger not better on {test.n} paired houses (p={test.p_value:.3g}, "
            f"MAE {test.candidate_mae:,.0f} vs {test.baseline_mae:,.0f})",
            test=test,
            drift=drift,
        )
    context = f" ({drift.describe()})" if drift is not None else ""
    if replay_failures:
        return Decision(
            act=False,
            reason="replay limits: " + "; ".join(replay_failures) + context,
            test=test,
            drift=drift,
        )
    return Decision(
        act=True,
        reason=f"challenger better on {test.n} paired houses (Wilcoxon p={test.p_value:.3g}; "
        f"MAE {test.candidate_mae:,.0f} vs {test.baseline_mae:,.0f}){context}",
        test=test,
        drift=drift,
    )


def decide_rollback(
    actual: np.ndarray,
    champion: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    previous: np.ndarray,
    *,
    gates: dict[str, float],
    policy: AutoPromotion,
) -> Decision:
    """Roll back when the new champion breaks a gate live that the previous one keeps on the
    same houses, or when the previous one is significantly better on them."""
    n = len(actual)
    if n < policy.min_rollback_actuals:
        return Decision(
            act=False, reason=f"{n} actuals since promotion, {policy.min_rollback_actuals} needed"
        )
    metrics = live_metrics(actual, champion, low, high)
    verdict = check_gates(metrics, gates, min_feedback=policy.min_rollback_actuals)
    before = check_gates(
        live_metrics(actual, previous, low, high), gates, min_feedback=policy.min_rollback_actuals
    )
    if verdict["breached"] and set(verdict["breached"]) - set(before["breached"]):
        # Only a gate the previous champion would have kept: when the market moved under
        # both, going back would not help (the retrain trigger handles that).
        return Decision(
            act=True,
            reason=f"live accuracy on {n} houses breaks {', '.join(verdict['breached'])} "
            f"(MAE {metrics['mae']:,.0f}, RMSE {metrics['rmse']:,.0f})",
            details={"metrics": metrics},
        )
    worse = paired_test(actual, previous, champion, alpha=policy.alpha)
    if worse.better:
        return Decision(
            act=True,
            reason=f"previous champion better on {n} paired houses (p={worse.p_value:.3g}; "
            f"MAE {worse.candidate_mae:,.0f} vs {worse.baseline_mae:,.0f})",
            test=worse,
        )
    return Decision(act=False, reason=f"champion holds on {n} houses", test=worse)

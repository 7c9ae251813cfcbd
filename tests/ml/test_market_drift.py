"""Market drift: a real price move explains a challenger's replay, an unproven one does not.

Each case is the loop's promotion decision on small synthetic data: a replay of the
champion's hold-out (``ml.replay.compare``) judged with the drift measured on paired sale
prices (``ml.market_drift.estimate_drift``), then ``ml.promotion.decide_promotion``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.config import AutoPromotion, PromotionLimits
from ml.market_drift import estimate_drift
from ml.promotion import Decision, decide_promotion
from ml.replay import compare, render_markdown

POLICY = AutoPromotion(min_paired=30, alpha=0.05)
LIMITS = PromotionLimits()
LOCATIONS = ("Downtown", "Suburb", "Rural", "Lakeside")


def holdout(n: int = 240, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Houses of the champion's hold-out, its prices, and their (pre-move) sale prices."""
    rng = np.random.default_rng(seed)
    features = pd.DataFrame(
        {
            "sqft": rng.uniform(800, 3000, n),
            "bedrooms": rng.integers(1, 6, n),
            "bathrooms": rng.integers(1, 4, n).astype(float),
            "location": [LOCATIONS[i % len(LOCATIONS)] for i in range(n)],
            "year_built": rng.integers(1920, 2020, n),
            "condition": ["Average"] * n,
        }
    )
    price = rng.lognormal(np.log(180_000), 0.3, n)
    return features, price, price * rng.lognormal(0, 0.12, n)


def scored(prices: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {"predicted_price": prices, "price_low": prices * 0.85, "price_high": prices * 1.15}
    )


def paired(move: float, *, n: int = 80, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """New sale prices (the market moved by ``move``), the champion's and a challenger's
    that tracks the move with a little less noise."""
    rng = np.random.default_rng(seed)
    value = rng.lognormal(np.log(180_000), 0.3, n)
    actual = value * (1 + move) * rng.lognormal(0, 0.05, n)
    return actual, value * rng.lognormal(0, 0.08, n), value * 1.15 * rng.lognormal(0, 0.04, n)


def decide(
    features: pd.DataFrame,
    champion: np.ndarray,
    challenger: np.ndarray,
    holdout_actual: np.ndarray,
    sales: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    limits: PromotionLimits = LIMITS,
) -> tuple[Decision, dict]:
    """What the loop does: drift from the paired prices, replay judged with it, decision."""
    actual, champion_paired, challenger_paired = sales
    drift = estimate_drift(
        actual,
        champion_paired,
        level=limits.drift_level,
        min_paired=POLICY.min_paired,
        enabled=limits.explain_drift,
    )
    report = compare(
        features,
        scored(champion),
        scored(challenger),
        versions=("1", "2"),
        source={"kind": "hold-out"},
        limits=limits,
        actual=pd.Series(holdout_actual),
        drift=drift,
    )
    decision = decide_promotion(
        actual,
        challenger_paired,
        champion_paired,
        policy=POLICY,
        replay_failures=report["verdict"]["failures"],
        drift=drift.model_validate(report["drift"]),
    )
    return decision, report


def test_a_challenger_tracking_a_real_15_percent_move_is_promoted() -> None:
    features, champion, old_sales = holdout()
    rng = np.random.default_rng(2)
    challenger = champion * 1.15 * rng.lognormal(0, 0.02, len(champion))

    decision, report = decide(features, champion, challenger, old_sales, paired(0.15))

    assert decision.act, decision.reason
    assert decision.drift is not None
    assert decision.drift.applied
    assert decision.drift.change == pytest.approx(0.15, abs=0.03)
    assert decision.drift.low is not None
    assert decision.drift.low > 0
    assert decision.drift.explained_change == pytest.approx(0.15, abs=0.02)
    assert "market drift +1" in decision.reason
    # As is, the replay breaks the limits; the drift explains it, and the report says so.
    verdict = report["verdict"]
    assert verdict["judged_beyond_drift"]
    assert any("on average" in f for f in verdict["failures_as_is"])
    assert abs(report["beyond_drift"]["mean_change"]) < 0.01
    assert "Explained by the drift" in render_markdown(report)


def test_the_same_move_without_sale_prices_showing_it_is_refused() -> None:
    features, champion, old_sales = holdout()
    challenger = champion * 1.15
    actual, _, _ = paired(0.0)
    rng = np.random.default_rng(3)
    # A noisy champion, so the +15 % challenger still wins the paired test on flat prices:
    # only the replay limits stand in its way, and no measured drift excuses them.
    sales = (actual, actual * rng.lognormal(0, 0.4, len(actual)), actual * 1.15)

    decision, report = decide(features, champion, challenger, old_sales, sales)

    assert not decision.act
    assert decision.reason.startswith("replay limits")
    assert "prices shift by +15.0% on average" in decision.reason
    assert decision.drift is not None
    assert not decision.drift.applied
    assert report["beyond_drift"] is None
    assert not report["verdict"]["judged_beyond_drift"]


def test_a_move_in_one_location_the_sale_prices_do_not_show_is_refused() -> None:
    features, champion, old_sales = holdout()
    rural = (features["location"] == "Rural").to_numpy()
    challenger = np.where(rural, champion * 1.15, champion)

    decision, report = decide(features, champion, challenger, old_sales, paired(0.0))

    assert not decision.act
    failures = report["verdict"]["failures"]
    assert "Rural: prices shift by +15.0% (limit ±10%)" in failures
    assert not any("on average" in f for f in failures)  # overall the shift is within limits
    assert decision.drift is not None
    assert not decision.drift.significant


def test_a_location_moving_beyond_a_real_market_move_is_refused() -> None:
    features, champion, old_sales = holdout()
    rural = (features["location"] == "Rural").to_numpy()
    challenger = champion * np.where(rural, 1.32, 1.15)

    decision, report = decide(features, champion, challenger, old_sales, paired(0.15))

    assert not decision.act
    assert decision.drift is not None
    assert decision.drift.applied
    assert report["verdict"]["judged_beyond_drift"]
    assert any(f.startswith("Rural: prices shift by +1") for f in report["verdict"]["failures"])


def test_a_challenger_moving_twice_the_market_is_refused() -> None:
    features, champion, old_sales = holdout()

    decision, report = decide(features, champion, champion * 1.32, old_sales, paired(0.15))

    assert not decision.act
    assert decision.drift is not None
    assert decision.drift.explained_change is not None
    assert decision.drift.explained_change < 0.2  # only the measured move is explained
    assert report["beyond_drift"]["mean_change"] > LIMITS.max_mean_change


def test_with_explain_drift_off_the_limits_apply_as_they_are() -> None:
    features, champion, old_sales = holdout()
    limits = PromotionLimits(explain_drift=False)

    decision, _report = decide(
        features, champion, champion * 1.15, old_sales, paired(0.15), limits=limits
    )

    assert not decision.act
    assert decision.drift is not None
    assert decision.drift.significant
    assert not decision.drift.applied
    assert "explain_drift off" in decision.reason


def test_a_challenger_within_limits_stays_within_them_whatever_the_drift() -> None:
    features, champion, old_sales = holdout()
    # The market moved 15 %, the challenger (trained mostly on old sales) only 2 %:
    # nothing to explain, and the drift must not make it fail.
    _, report = decide(features, champion, champion * 1.02, old_sales, paired(0.15))

    assert report["verdict"]["passed"]
    assert report["verdict"]["failures_as_is"] == []


def test_drift_needs_min_paired_prices_and_an_interval_excluding_zero() -> None:
    rng = np.random.default_rng(4)
    champion = rng.lognormal(np.log(180_000), 0.3, 200)

    moved = estimate_drift(champion * 1.1, champion, level=0.95, min_paired=30)
    few = estimate_drift(champion[:20] * 1.1, champion[:20], level=0.95, min_paired=30)
    flat = estimate_drift(
        champion * rng.lognormal(0, 0.1, 200), champion, level=0.95, min_paired=30
    )
    tiny = estimate_drift(champion[:5] * 1.1, champion[:5], level=0.95, min_paired=2)

    assert moved.applied
    assert moved.change == pytest.approx(0.1)
    assert not few.significant
    assert few.change == pytest.approx(0.1)
    assert flat.low is not None
    assert flat.high is not None
    assert flat.low < 0 < flat.high
    assert not flat.applied
    assert not tiny.significant  # five prices give no finite 95 % interval of a median
    assert estimate_drift(np.array([]), np.array([]), level=0.95, min_paired=30).n == 0


def test_the_median_interval_covers_the_true_median_at_its_level() -> None:
    rng = np.random.default_rng(5)
    covered = 0
    for _ in range(400):
        ratios = rng.standard_t(3, 40) * 0.1 + 0.05  # heavy tails around a +5 % move
        drift = estimate_drift(np.exp(ratios), np.ones(40), level=0.9, min_paired=30)
        assert drift.low is not None
        assert drift.high is not None
        covered += drift.low <= np.expm1(0.05) <= drift.high
    assert covered / 400 >= 0.86  # exact interval: at least 90 % up to sampling noise

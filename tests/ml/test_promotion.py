"""The promotion and rollback policy: paired Wilcoxon tests on the same houses."""

from __future__ import annotations

import numpy as np

from ml.config import AutoPromotion
from ml.promotion import decide_promotion, decide_rollback, paired_test

POLICY = AutoPromotion(min_paired=30, alpha=0.05, min_rollback_actuals=30)
GATES = {"r2_min": 0.6, "mae_max": 25_000.0, "rmse_max": 45_000.0}


def houses(n: int, seed: int = 0) -> tuple[np.random.Generator, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng, rng.lognormal(np.log(180_000), 0.35, n)


def test_a_model_closer_on_the_same_houses_is_better() -> None:
    rng, actual = houses(200)
    champion = actual * 0.87 * rng.lognormal(0, 0.1, 200)  # a market that moved 15 % up
    challenger = actual * 0.95 * rng.lognormal(0, 0.1, 200)
    test = paired_test(actual, challenger, champion, alpha=0.05)
    assert test.better
    assert test.p_value is not None
    assert test.p_value < 0.001
    assert test.candidate_mae is not None
    assert test.baseline_mae is not None
    assert test.candidate_mae < test.baseline_mae


def test_a_model_trained_on_shuffled_prices_is_never_promoted() -> None:
    rng, actual = houses(300, seed=1)
    champion = actual * rng.lognormal(0, 0.12, 300)
    shuffled = rng.permutation(actual)  # knows the price distribution, not the houses
    decision = decide_promotion(actual, shuffled, champion, policy=POLICY, replay_failures=[])
    assert not decision.act
    assert "not better" in decision.reason


def test_too_few_paired_actuals_decide_nothing() -> None:
    _, actual = houses(29, seed=2)
    decision = decide_promotion(actual, actual, actual * 0.8, policy=POLICY, replay_failures=[])
    assert not decision.act
    assert "29 paired actuals, 30 needed" in decision.reason


def test_replay_limits_stop_a_better_challenger() -> None:
    rng, actual = houses(100, seed=3)
    decision = decide_promotion(
        actual,
        actual * rng.lognormal(0, 0.05, 100),
        actual * 0.8,
        policy=POLICY,
        replay_failures=["prices shift by +9.0% on average (limit ±5%)"],
    )
    assert not decision.act
    assert decision.reason.startswith("replay limits")


def test_a_champion_worse_than_the_previous_one_is_rolled_back() -> None:
    rng, actual = houses(120, seed=4)
    noise = rng.lognormal(0, 0.08, 120)
    previous = actual * noise
    champion = actual * 1.06 * noise
    decision = decide_rollback(
        actual, champion, champion * 0.8, champion * 1.2, previous, gates=GATES, policy=POLICY
    )
    assert decision.act
    assert "previous champion better" in decision.reason


def test_a_gate_both_versions_break_is_no_reason_to_go_back() -> None:
    rng, actual = houses(120, seed=5)
    champion = actual * 0.8 * rng.lognormal(0, 0.05, 120)  # market moved under both
    previous = actual * 0.75 * rng.lognormal(0, 0.05, 120)
    decision = decide_rollback(
        actual, champion, champion * 0.8, champion * 1.2, previous, gates=GATES, policy=POLICY
    )
    assert not decision.act


def test_a_gate_only_the_new_champion_breaks_rolls_it_back() -> None:
    rng, actual = houses(120, seed=6)
    previous = actual * rng.lognormal(0, 0.05, 120)
    champion = actual * rng.lognormal(0, 0.5, 120)
    decision = decide_rollback(
        actual, champion, champion * 0.8, champion * 1.2, previous, gates=GATES, policy=POLICY
    )
    assert decision.act
    assert "breaks" in decision.reason

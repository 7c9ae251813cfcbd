"""The gates' estimate: repeated CV, nested selection, corrected intervals, the relative gate."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ml.card import ModelCard
from ml.card_builder import build_card
from ml.config import GateCV, Gates, TrainConfig
from ml.contract import FEATURE_COLUMNS, TARGET_COLUMN
from ml.data import load_training_data
from ml.evaluate import apply_gates
from ml.gate_cv import Baseline, corrected_interval, relative_gate, score_fold
from ml.train import TrainingResult, train
from tests.support.model import QUICK_CANDIDATES, TINY_GATE_CV
from tests.support.paths import DATA

METRICS = ("r2", "mae", "rmse")


@pytest.fixture(scope="module")
def houses() -> pd.DataFrame:
    """A small real sample: every test here trains on it in a few seconds."""
    return load_training_data(DATA).sample(n=700, random_state=1).reset_index(drop=True)


@pytest.fixture(scope="module")
def trained(houses: pd.DataFrame) -> TrainingResult:
    """The tiny configuration trained once, with no champion."""
    return train(houses, tiny_config(), progress=lambda _: None)


def tiny_config(**update: object) -> TrainConfig:
    config = TrainConfig(
        cv_folds=2,
        calibration_folds=3,
        candidates=QUICK_CANDIDATES,
        gates=Gates(r2_min=0.5, mae_max=60_000, rmse_max=80_000),
        gate_cv=TINY_GATE_CV,
    )
    return config.model_copy(update=update)


def test_the_corrected_interval_widens_the_naive_one_by_the_test_share() -> None:
    scores = np.array([28_100.0, 30_400.0, 27_900.0, 29_300.0, 31_000.0, 28_800.0])
    naive_half = stats.t.ppf(0.95, df=5) * scores.std(ddof=1) / np.sqrt(6)
    estimate = corrected_interval(scores, ratio=0.25, level=0.90)
    assert estimate.mean == pytest.approx(scores.mean())
    half = (estimate.high - estimate.low) / 2
    assert half == pytest.approx(naive_half * np.sqrt((1 / 6 + 0.25) / (1 / 6)))
    assert estimate.low < estimate.mean < estimate.high


def test_identical_scores_give_an_interval_of_no_width() -> None:
    estimate = corrected_interval(np.zeros(8), ratio=0.25, level=0.90)
    assert (estimate.low, estimate.mean, estimate.high) == (0.0, 0.0, 0.0)


def test_a_gate_whose_interval_holds_the_threshold_passes_on_the_mean_and_says_so() -> None:
    metrics = {"r2": 0.88, "mae": 18_000.0, "rmse": 29_200.0}
    intervals = {"r2": (0.86, 0.90), "mae": (17_000.0, 19_000.0), "rmse": (27_500.0, 30_900.0)}
    gates = {g.name: g for g in apply_gates(metrics, Gates(), intervals)}
    assert gates["rmse_max"].passed
    assert gates["rmse_max"].straddles
    assert "passes on the mean, interval straddles" in str(gates["rmse_max"])
    assert not gates["mae_max"].straddles
    assert "straddles" not in str(gates["mae_max"])


def test_a_mean_over_the_threshold_fails_even_when_the_interval_reaches_below_it() -> None:
    metrics = {"r2": 0.88, "mae": 18_000.0, "rmse": 30_400.0}
    intervals = {"rmse": (28_700.0, 32_100.0)}
    rmse = next(g for g in apply_gates(metrics, Gates(), intervals) if g.name == "rmse_max")
    assert not rmse.passed
    assert "FAILED" in str(rmse)
    assert "fails on the mean, interval straddles" in str(rmse)


def fold_scores(rmse: np.ndarray) -> dict[str, np.ndarray]:
    return {"r2": 1 - rmse / 100_000, "mae": rmse * 0.65, "rmse": rmse}


CHAMPION = Baseline(version="4", model_type="xgboost", params={"max_depth": 4})


def test_a_version_worse_than_the_champion_beyond_noise_fails_the_relative_gate() -> None:
    rng = np.random.default_rng(0)
    champion = 29_000 + rng.normal(0, 2_000, 15)  # folds differ a lot...
    new = champion + 1_500 + rng.normal(0, 300, 15)  # ...but pairing removes that
    gate = relative_gate(
        fold_scores(new), fold_scores(champion), baseline=CHAMPION, ratio=0.25, level=0.90
    )
    assert gate.status == "failed"
    assert set(gate.worse) == {"r2", "mae", "rmse"}
    assert gate.difference["rmse"].low > 0
    assert "worse than champion v4" in gate.reason


def test_the_same_difference_unpaired_would_be_lost_in_the_noise() -> None:
    rng = np.random.default_rng(0)
    champion = 29_000 + rng.normal(0, 2_000, 15)
    new = champion + 1_500 + rng.normal(0, 300, 15)
    alone = corrected_interval(champion, ratio=0.25, level=0.90)
    assert alone.low < new.mean() < alone.high  # each estimate alone cannot tell them apart


def test_a_version_within_noise_of_the_champion_passes_the_relative_gate() -> None:
    rng = np.random.default_rng(1)
    champion = 29_000 + rng.normal(0, 2_000, 15)
    new = champion + rng.normal(0, 500, 15)
    gate = relative_gate(
        fold_scores(new), fold_scores(champion), baseline=CHAMPION, ratio=0.25, level=0.90
    )
    assert gate.status == "passed"
    assert gate.worse == []
    assert gate.difference["rmse"].low < 0 < gate.difference["rmse"].high


def test_each_outer_fold_selects_on_its_own_training_rows(houses: pd.DataFrame) -> None:
    """Nested: corrupting the prices of the rows a fold scores on changes nothing it chose."""
    features, target = houses[list(FEATURE_COLUMNS)], houses[TARGET_COLUMN].to_numpy()
    train_rows, test_rows = np.arange(0, 500), np.arange(500, 700)
    grid: dict[str, dict[str, list[Any]]] = {
        "xgboost": {"n_estimators": [50, 150], "max_depth": [2], "learning_rate": [0.1]}
    }
    clean = score_fold(
        features,
        target,
        train_rows,
        test_rows,
        selection=grid,
        baseline=None,
        inner_folds=2,
        seed=0,
    )
    corrupted = target.copy()
    corrupted[test_rows] = corrupted[test_rows][::-1] * 3
    dirty = score_fold(
        features,
        corrupted,
        train_rows,
        test_rows,
        selection=grid,
        baseline=None,
        inner_folds=2,
        seed=0,
    )
    assert dirty.chosen == clean.chosen  # the choice never saw the fold's test rows
    assert dirty.new["rmse"] > 3 * clean.new["rmse"]  # ...which it was scored on


@pytest.mark.slow
def test_gates_judge_the_cv_mean_and_the_holdout_is_a_report(
    houses: pd.DataFrame, trained: TrainingResult
) -> None:
    result = trained
    estimate = result.estimate
    assert estimate is not None
    assert (estimate.repeats, estimate.folds, estimate.rows) == (2, 2, len(houses))
    for metric in METRICS:
        folds = estimate.fold_metrics[metric]
        assert len(folds) == 4
        assert estimate.metrics[metric].mean == pytest.approx(np.mean(folds))
    gates = {g.name: g for g in result.gates}
    assert gates["rmse_max"].value == pytest.approx(estimate.metrics["rmse"].mean)
    assert gates["rmse_max"].low == pytest.approx(estimate.metrics["rmse"].low)
    holdout = {g.name: g for g in result.holdout_gates}
    assert holdout["rmse_max"].value == pytest.approx(result.metrics["rmse"])
    assert holdout["rmse_max"].low is None
    assert result.relative is not None
    assert result.relative.status == "not_applicable"
    assert result.passed


@pytest.mark.slow
def test_a_strict_gate_fails_on_the_cv_mean_whatever_the_holdout_says(
    houses: pd.DataFrame, trained: TrainingResult
) -> None:
    result = trained
    assert result.estimate is not None
    between = (result.estimate.metrics["rmse"].mean + result.metrics["rmse"]) / 2
    strict = tiny_config(gates=Gates(r2_min=0.5, mae_max=60_000, rmse_max=between))
    judged = train(houses, strict, progress=lambda _: None)
    rmse = next(g for g in judged.gates if g.name == "rmse_max")
    old_rule = next(g for g in judged.holdout_gates if g.name == "rmse_max")
    assert rmse.passed != old_rule.passed  # the threshold lies between the two
    assert judged.passed == rmse.passed


WEAK: dict[str, dict[str, list[Any]]] = {
    "xgboost": {"n_estimators": [20], "max_depth": [1], "learning_rate": [0.3]}
}


@pytest.mark.slow
def test_the_champion_refitted_on_the_same_folds_is_compared_fold_by_fold(
    houses: pd.DataFrame,
) -> None:
    # 2 x 3 folds: with 2 folds a test part is as big as its training part, and the
    # corrected interval is too wide to see even a clear regression.
    config = tiny_config(gate_cv=GateCV(repeats=2, folds=3, inner_folds=2))
    weak_champion = Baseline(
        version="1", model_type="xgboost", params={k: v[0] for k, v in WEAK["xgboost"].items()}
    )
    result = train(houses, config, progress=lambda _: None, baseline=weak_champion)
    relative = result.relative
    assert relative is not None
    assert relative.champion_version == "1"
    assert relative.status == "passed"
    assert relative.difference["rmse"].high < 0  # better beyond noise

    # The roles reversed: the weak configuration as the new version regresses.
    strong = Baseline(version="2", model_type="xgboost", params=result.best.params)
    weak = config.model_copy(update={"candidates": WEAK})
    regressed = train(houses, weak, progress=lambda _: None, baseline=strong)
    assert regressed.relative is not None
    assert regressed.relative.status == "failed"
    assert "rmse" in regressed.relative.worse
    assert regressed.relative.difference["rmse"].low > 0
    assert all(g.passed for g in regressed.gates)  # the absolute gates alone would pass it
    assert not regressed.passed
    assert regressed.failed_gates == ["relative"]


@pytest.mark.slow
def test_the_same_configuration_as_the_champion_is_no_different(
    houses: pd.DataFrame, trained: TrainingResult
) -> None:
    first = trained
    same = Baseline(version="1", model_type=first.best.name, params=first.best.params)
    again = train(houses, tiny_config(), progress=lambda _: None, baseline=same)
    assert again.relative is not None
    assert again.relative.status == "passed"
    assert again.relative.difference["rmse"].mean == 0.0


@pytest.mark.slow
def test_two_processes_give_the_same_estimate_as_one(houses: pd.DataFrame) -> None:
    one = train(houses, tiny_config(n_jobs=1), progress=lambda _: None)
    two = train(houses, tiny_config(n_jobs=2), progress=lambda _: None)
    assert one.estimate is not None
    assert two.estimate is not None
    assert one.estimate.fold_metrics == two.estimate.fold_metrics


@pytest.mark.slow
def test_the_card_carries_the_estimate_the_relative_gate_and_the_holdout(
    houses: pd.DataFrame,
) -> None:
    champion = Baseline(version="3", model_type="linear_regression", params={})
    result = train(houses, tiny_config(), progress=lambda _: None, baseline=champion)
    card = ModelCard.model_validate_json(
        build_card(result, data_path=DATA, data_sha256="x").model_dump_json()
    )
    assert card.gates.estimate is not None
    assert card.gates.estimate.metrics["rmse"].mean == pytest.approx(
        result.estimate.metrics["rmse"].mean if result.estimate else 0.0
    )
    rmse = next(g for g in card.gates.results if g.name == "rmse_max")
    assert rmse.low is not None
    assert rmse.high is not None
    assert rmse.low < rmse.value < rmse.high
    assert card.gates.relative is not None
    assert card.gates.relative.champion_version == "3"
    assert [g.name for g in card.gates.holdout] == ["r2_min", "mae_max", "rmse_max"]


def test_a_card_from_before_the_cv_gates_still_loads() -> None:
    old = {
        "interval": {"level": 0.9, "log_radius": 0.2},
        "gates": {
            "r2_min": 0.6,
            "passed": True,
            "results": [
                {"name": "r2_min", "value": 0.88, "threshold": 0.6, "passed": True, "margin": 0.28}
            ],
        },
    }
    card = ModelCard.model_validate(old)
    assert card.gates.estimate is None
    assert card.gates.relative is None
    assert card.gates.results[0].straddles is False


def test_the_gate_cv_setting_is_validated() -> None:
    with pytest.raises(ValueError, match="folds"):
        GateCV(folds=1)

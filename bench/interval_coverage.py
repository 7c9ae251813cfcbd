"""Held-out coverage and width of the 90 % interval by group: one radius vs per house.

    .venv/bin/python bench/interval_coverage.py [--seed 42]

Trains the champion's candidate (XGBoost, the parameters the full grid picks; see the
README's model section) through ``ml.train.train`` on the same 80/20 split as ``hpp
train``, then scores the 20 % hold-out twice from the same out-of-fold residuals: before,
one log radius for every house (the old split-conformal interval); after, the per-house
normalised conformal interval the model now serves. Prints coverage and mean relative
width ((high - low) / predicted price) overall, by predicted-price quintile, by age band
and by condition group, side by side. Not a test: about a minute of CPU.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ml.card import GroupCoverage
from ml.config import TrainConfig
from ml.coverage import coverage_by_group
from ml.data import load_training_data
from ml.train import TrainingResult, interval_bounds, train

DATA = Path(__file__).resolve().parents[1] / "data" / "house_data.csv"
CHAMPION = {
    "xgboost": {
        "n_estimators": [600],
        "learning_rate": [0.04],
        "max_depth": [4],
        "subsample": [0.8],
        "colsample_bytree": [0.8],
        "min_child_weight": [3],
    }
}
TARGET, MIN_HOUSES = (0.85, 0.95), 30


def main() -> None:
    """Train once, score the hold-out both ways, print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    config = TrainConfig(seed=args.seed, candidates=CHAMPION)
    result = train(load_training_data(DATA), config, progress=lambda _: None)
    before = _table(result, *_single_radius_bounds(result))
    after = _table(
        result, *interval_bounds(result.intervals, result.test_frame, result.test_predicted)
    )
    print(
        f"hold-out: {len(result.test_actual):,} houses, seed {args.seed}, level "
        f"{config.interval_level:.2f}; one radius ±{result.single_log_radius:.4f} in log price"
    )
    print("| partition | group | houses | before: coverage | width | after: coverage | width |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for old, new in zip(before, after, strict=True):
        print(
            f"| {old.partition} | {old.group} | {old.houses} | {_cov(old)} | "
            f"{old.mean_width:.1%} | {_cov(new)} | {new.mean_width:.1%} |"
        )
    print(f"(* outside {TARGET[0]:.2f}-{TARGET[1]:.2f} in a group of {MIN_HOUSES}+ houses)")


def _single_radius_bounds(result: TrainingResult) -> tuple[np.ndarray, np.ndarray]:
    radius, predicted = result.single_log_radius, result.test_predicted
    return predicted * np.exp(-radius), predicted * np.exp(radius)


def _table(result: TrainingResult, low: np.ndarray, high: np.ndarray) -> list[GroupCoverage]:
    return coverage_by_group(
        result.test_frame,
        actual=result.test_actual,
        predicted=result.test_predicted,
        low=low,
        high=high,
    )


def _cov(row: GroupCoverage) -> str:
    off = row.houses >= MIN_HOUSES and not TARGET[0] <= row.coverage <= TARGET[1]
    return f"{row.coverage:.3f}{' *' if off else ''}"


if __name__ == "__main__":
    main()

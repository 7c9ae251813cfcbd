"""What moves accuracy with the same six inputs: each idea vs the plain XGBoost, paired.

    nice -n 10 .venv/bin/python bench/accuracy_experiments.py [--repeats 3] [--folds 5]

Every variant is scored on the SAME repeated K-fold splits of all rows (3 x 5 by default)
as the plain XGBoost (the champion's pipeline and parameters), so each split gives a paired
difference of RMSE. The table reports each variant's mean RMSE, the mean paired difference
and its 90 % interval with the Nadeau-Bengio correction (the folds' training sets overlap,
so the plain variance of the differences is too small: it is scaled by 1/J + n_test/n_train).
A variant improves "beyond its noise" only when its whole interval lies below zero.

Variants:
- ``monotone``: XGBoost with monotone constraints: price never falls with size (sqft,
  sqft per room, size against the neighbourhood) nor with newness (year built, year against
  the neighbourhood; age the other way).
- ``target_encoded``: the location's mean log price learned out-of-fold (scikit-learn's
  ``TargetEncoder``, cross-fitted inside ``fit``) added as a feature beside the one-hot.
- ``stacked``: ``StackingRegressor`` over the four candidates (linear, random forest,
  gradient boosting, XGBoost) with a ridge on their 5-fold out-of-fold predictions.

CPU-heavy (the stack alone fits 24 pipelines per split): run it niced, in the background.
Writes ``bench/results/accuracy_experiments.json``; the README table is rendered from it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from results import write_result
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.ensemble import (
    GradientBoostingRegressor,
    RandomForestRegressor,
    StackingRegressor,
)
from sklearn.linear_model import LinearRegression, RidgeCV
from sklearn.model_selection import KFold, RepeatedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder
from xgboost import XGBRegressor

from ml.contract import FEATURE_COLUMNS, TARGET_COLUMN
from ml.data import load_training_data
from ml.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES, FeatureBuilder, build_preprocessor
from ml.gate_cv import corrected_interval as gate_corrected_interval

DATA = Path(__file__).resolve().parents[1] / "data" / "house_data.csv"
# The parameters the training grid picks for XGBoost (see bench/interval_coverage.py).
XGB = {
    "n_estimators": 600,
    "learning_rate": 0.04,
    "max_depth": 4,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 3,
}
# Price rises with size and newness, all else equal (the derived columns too, or trees
# would route around the constraint through them).
MONOTONE = {
    "sqft": 1,
    "sqft_per_room": 1,
    "loc_sqft_ratio": 1,
    "year_built": 1,
    "loc_year_diff": 1,
    "house_age": -1,
}
LEVEL = 0.90


def main() -> None:
    """Score every variant on the same repeated folds; print and save the paired table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--only", nargs="*", help="variants to run (default: all)")
    args = parser.parse_args()
    frame = load_training_data(DATA)
    x, y = frame[list(FEATURE_COLUMNS)], frame[TARGET_COLUMN].to_numpy(dtype=np.float64)
    splits = list(
        RepeatedKFold(n_splits=args.folds, n_repeats=args.repeats, random_state=args.seed).split(x)
    )
    variants = {name: make for name, make in VARIANTS.items() if not args.only or name in args.only}
    rmse: dict[str, list[float]] = {}
    seconds: dict[str, float] = {}
    for name, make in variants.items():
        started = time.perf_counter()
        rmse[name] = []
        for i, (fit_rows, test_rows) in enumerate(splits):
            model = make(args.seed).fit(x.iloc[fit_rows], y[fit_rows])
            error = model.predict(x.iloc[test_rows]) - y[test_rows]
            rmse[name].append(float(np.sqrt(np.mean(error**2))))
            print(f"  {name:<15} split {i + 1:>2}/{len(splits)}: RMSE {rmse[name][-1]:,.0f}")
        seconds[name] = time.perf_counter() - started
    rows = _table(rmse, test_share=1.0 / args.folds)
    for row in rows:
        print(_line(row))
    write_result(
        "accuracy_experiments",
        parameters={
            "rows": len(frame),
            "folds": args.folds,
            "repeats": args.repeats,
            "seed": args.seed,
            "level": LEVEL,
            "xgboost": XGB,
            "monotone": MONOTONE,
        },
        figures={"variants": rows, "rmse_per_split": rmse, "seconds": seconds},
        note="paired on the same splits; Nadeau-Bengio corrected interval",
    )


def _table(rmse: dict[str, list[float]], *, test_share: float) -> list[dict[str, Any]]:
    """Mean RMSE, paired difference to ``plain`` and its corrected 90 % interval, per variant."""
    base = np.asarray(rmse["plain"])
    rows = []
    for name, values in rmse.items():
        diff = np.asarray(values) - base
        low, high = corrected_interval(diff, test_share=test_share, level=LEVEL)
        rows.append(
            {
                "variant": name,
                "mean_rmse": float(np.mean(values)),
                "sd_rmse": float(np.std(values, ddof=1)),
                "mean_difference": float(diff.mean()),
                "interval": [low, high],
                "better_beyond_noise": bool(high < 0),
            }
        )
    return rows


def corrected_interval(diff: np.ndarray, *, test_share: float, level: float) -> tuple[float, float]:
    """Nadeau & Bengio (2003), as the gates use it (``ml.gate_cv.corrected_interval``)."""
    estimate = gate_corrected_interval(diff, ratio=test_share / (1.0 - test_share), level=level)
    return estimate.low, estimate.high


def _line(row: dict[str, Any]) -> str:
    low, high = row["interval"]
    return (
        f"{row['variant']:<15} RMSE {row['mean_rmse']:>8,.0f}  "
        f"diff {row['mean_difference']:>+7,.0f}"
        f"  90% [{low:+,.0f}, {high:+,.0f}]{'  better' if row['better_beyond_noise'] else ''}"
    )


def _log_target(pipeline: Any) -> TransformedTargetRegressor:
    return TransformedTargetRegressor(
        regressor=pipeline, func=np.log, inverse_func=np.exp, check_inverse=False
    )


def plain(seed: int) -> TransformedTargetRegressor:
    """The champion's pipeline: features, scaling and one-hot, XGBoost on log price."""
    return _log_target(_xgb_pipeline(seed, build_preprocessor()))


def monotone(seed: int) -> TransformedTargetRegressor:
    """The same, with price monotone in size and newness."""
    preprocess = build_preprocessor().set_output(transform="pandas")
    return _log_target(_xgb_pipeline(seed, preprocess, monotone_constraints=MONOTONE))


def target_encoded(seed: int) -> TransformedTargetRegressor:
    """The same, plus the location's out-of-fold mean log price."""
    preprocess = ColumnTransformer(
        [
            ("num", StandardScaler(), list(NUMERIC_FEATURES)),
            (
                "cat",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                list(CATEGORICAL_FEATURES),
            ),
            (
                "te",
                TargetEncoder(
                    target_type="continuous", cv=KFold(5, shuffle=True, random_state=seed)
                ),
                ["location"],
            ),
        ],
        sparse_threshold=0.0,
    )
    return _log_target(_xgb_pipeline(seed, preprocess))


def stacked(seed: int) -> TransformedTargetRegressor:
    """A ridge over the four candidates' out-of-fold predictions (all on log price)."""
    members: dict[str, Any] = {
        "linear_regression": LinearRegression(),
        "random_forest": RandomForestRegressor(
            n_estimators=300, min_samples_leaf=1, max_features=0.5, random_state=seed, n_jobs=1
        ),
        "gradient_boosting": GradientBoostingRegressor(
            n_estimators=400, learning_rate=0.06, max_depth=3, subsample=0.8, random_state=seed
        ),
        "xgboost": XGBRegressor(random_state=seed, n_jobs=1, tree_method="hist", **XGB),
    }
    estimators = [
        (
            name,
            Pipeline(
                [
                    ("features", FeatureBuilder()),
                    ("preprocess", build_preprocessor()),
                    ("model", model),
                ]
            ),
        )
        for name, model in members.items()
    ]
    stack = StackingRegressor(
        estimators=estimators,
        final_estimator=RidgeCV(),
        cv=KFold(5, shuffle=True, random_state=seed),
        n_jobs=1,
    )
    return _log_target(stack)


def _xgb_pipeline(seed: int, preprocess: Any, **extra: Any) -> Pipeline:
    model = XGBRegressor(random_state=seed, n_jobs=1, tree_method="hist", **XGB, **extra)
    return Pipeline([("features", FeatureBuilder()), ("preprocess", preprocess), ("model", model)])


VARIANTS: dict[str, Callable[[int], TransformedTargetRegressor]] = {
    "plain": plain,
    "monotone": monotone,
    "target_encoded": target_encoded,
    "stacked": stacked,
}


if __name__ == "__main__":
    main()

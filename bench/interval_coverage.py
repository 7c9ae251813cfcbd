"""Coverage and width of the 90 % interval by group, every house held out: one radius vs per house.

    nice -n 10 .venv/bin/python bench/interval_coverage.py [--repeats 3] [--folds 5]

An outer K-fold over all rows: for each outer fold, the champion's pipeline (XGBoost with
the parameters the training grid picks) is trained without the fold, and the whole
interval fit is done as ``hpp train`` does it, inside the training part only (10-fold
out-of-fold predictions, then ``ml.train.calibrate_intervals``). The fold's houses are then
priced and given both intervals from the same residuals: before, one log radius for every
house (the old split-conformal interval); after, the per-house interval the model serves.
So every house is judged exactly once per repeat, by a model and an interval that never
saw it; repeats reshuffle the folds to show the spread. Per group: coverage (mean over
repeats), its binomial standard error for one repeat, the range over repeats, and the mean
relative width ((high - low) / predicted price).

Secondary: the fixed 80/20 hold-out of ``hpp train`` (585 houses, seed 42), as the card
also reports it. Writes ``bench/results/interval_coverage.json``; the README table is
rendered from it. About 3 x 55 XGBoost fits: run it niced.
"""

from __future__ import annotations

import argparse
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from results import write_result
from sklearn.base import clone
from sklearn.model_selection import KFold, cross_val_predict

from ml.card import GroupCoverage
from ml.config import TrainConfig
from ml.contract import FEATURE_COLUMNS, TARGET_COLUMN
from ml.coverage import coverage_by_group
from ml.data import load_training_data
from ml.interval_evaluation import radii_of
from ml.intervals import calibrate, conformal_quantile
from ml.train import build_model, interval_bounds, train

DATA = Path(__file__).resolve().parents[1] / "data" / "house_data.csv"
PARAMS = {
    "n_estimators": 600,
    "learning_rate": 0.04,
    "max_depth": 4,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 3,
}
CHAMPION = {"xgboost": {key: [value] for key, value in PARAMS.items()}}
TARGET, OVERALL, MIN_HOUSES, WIDTH_MAX = (0.85, 0.95), (0.88, 0.92), 30, 0.47


@dataclass
class OuterFold:
    """One outer fold: the training part's out-of-fold predictions and the held houses'."""

    fit_rows: np.ndarray
    held_rows: np.ndarray
    out_of_fold: np.ndarray  # for the training part, from the inner calibration folds
    predicted: np.ndarray  # for the held houses, from the model trained on the whole part


def main() -> None:
    """Price every house out of fold, judge both intervals by group, print and save."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--cache", type=Path, help="reuse (or save) the outer folds' prices")
    parser.add_argument("--no-holdout", action="store_true", help="skip the 80/20 hold-out")
    args = parser.parse_args()
    config = TrainConfig(seed=args.seed, candidates=CHAMPION)
    frame = load_training_data(DATA)
    repeats = _cached_repeats(frame, config, args)
    tables = [_judge(frame, folds, config) for folds in repeats]
    rows = _summarise(tables)
    print(f"outer {args.folds}-fold x {args.repeats} over {len(frame):,} houses")
    for row in rows:
        print(_line(row))
    holdout = None if args.no_holdout else _holdout(frame, config)
    write_result(
        "interval_coverage",
        parameters={
            "rows": len(frame),
            "outer_folds": args.folds,
            "repeats": args.repeats,
            "calibration_folds": config.calibration_folds,
            "seed": args.seed,
            "level": config.interval_level,
            "xgboost": PARAMS,
            "targets": {
                "group": TARGET,
                "overall": OVERALL,
                "min_houses": MIN_HOUSES,
                "width_max": WIDTH_MAX,
            },
        },
        figures={"by_group": rows, "holdout": holdout},
        note="every house held out once per repeat (outer K-fold; model and interval "
        "fitted without it)",
    )


def _cached_repeats(frame: pd.DataFrame, config: TrainConfig, args: Any) -> list[list[OuterFold]]:
    if args.cache and args.cache.exists():
        repeats: list[list[OuterFold]] = pickle.loads(args.cache.read_bytes())
        return repeats
    repeats = [
        outer_folds(frame, config, folds=args.folds, seed=args.seed + r)
        for r in range(args.repeats)
    ]
    if args.cache:
        args.cache.write_bytes(pickle.dumps(repeats))
    return repeats


def outer_folds(
    frame: pd.DataFrame, config: TrainConfig, *, folds: int, seed: int
) -> list[OuterFold]:
    """Train the champion's pipeline without each outer fold; keep what calibration needs."""
    x, y = frame[list(FEATURE_COLUMNS)], frame[TARGET_COLUMN].to_numpy(dtype=np.float64)
    model = build_model("xgboost", config.seed).set_params(
        **{f"regressor__model__{key}": value for key, value in PARAMS.items()}
    )
    inner = KFold(config.calibration_folds, shuffle=True, random_state=config.seed)
    result = []
    for k, (fit_rows, held_rows) in enumerate(
        KFold(folds, shuffle=True, random_state=seed).split(x)
    ):
        x_fit, y_fit = x.iloc[fit_rows], y[fit_rows]
        out_of_fold = cross_val_predict(clone(model), x_fit, y_fit, cv=inner)
        predicted = clone(model).fit(x_fit, y_fit).predict(x.iloc[held_rows])
        result.append(OuterFold(fit_rows, held_rows, out_of_fold, predicted))
        print(f"  seed {seed}: outer fold {k + 1}/{folds} priced")
    return result


def _judge(
    frame: pd.DataFrame, folds: list[OuterFold], config: TrainConfig
) -> dict[str, list[GroupCoverage]]:
    """Both intervals for every house of one repeat, by group."""
    actual = frame[TARGET_COLUMN].to_numpy(dtype=np.float64)
    years = frame["year_built"].to_numpy(dtype=np.float64)
    conditions = frame["condition"].astype(str).to_numpy()
    predicted = np.empty(len(frame))
    before, after = np.empty(len(frame)), np.empty(len(frame))
    inner = KFold(config.calibration_folds, shuffle=True, random_state=config.seed)
    for fold in folds:
        fit, held = fold.fit_rows, fold.held_rows
        log_actual, log_oof = np.log(actual[fit]), np.log(fold.out_of_fold)
        model = calibrate(
            log_actual=log_actual,
            log_predicted=log_oof,
            years=years[fit],
            conditions=conditions[fit],
            level=config.interval_level,
            folds=inner,
        )
        predicted[held] = fold.predicted
        before[held] = conformal_quantile(np.abs(log_actual - log_oof), config.interval_level)
        after[held] = radii_of(model, np.log(fold.predicted), years[held], conditions[held])
    return {
        name: coverage_by_group(
            frame,
            actual=actual,
            predicted=predicted,
            low=predicted * np.exp(-radius),
            high=predicted * np.exp(radius),
        )
        for name, radius in (("before", before), ("after", after))
    }


def _summarise(tables: list[dict[str, list[GroupCoverage]]]) -> list[dict[str, Any]]:
    """Per group: mean coverage over repeats, one repeat's standard error, range, width."""
    rows = []
    for i, first in enumerate(tables[0]["before"]):
        row: dict[str, Any] = {
            "partition": first.partition,
            "group": first.group,
            "houses": first.houses,
        }
        for name in ("before", "after"):
            groups = [table[name][i] for table in tables]
            coverages = np.array([g.coverage for g in groups])
            p = float(coverages.mean())
            row[name] = {
                "coverage": p,
                "standard_error": float(np.sqrt(p * (1 - p) / first.houses)),
                "coverage_range": [float(coverages.min()), float(coverages.max())],
                "mean_width": float(np.mean([g.mean_width for g in groups])),
            }
        rows.append(row)
    return rows


def _holdout(frame: pd.DataFrame, config: TrainConfig) -> list[dict[str, Any]]:
    """The fixed 80/20 hold-out of ``hpp train``, both ways, as the card reports it."""
    result = train(frame, config, progress=lambda _: None)
    radius, predicted = result.single_log_radius, result.test_predicted
    tables = {
        "before": (predicted * np.exp(-radius), predicted * np.exp(radius)),
        "after": interval_bounds(result.intervals, result.test_frame, predicted),
    }
    judged = {
        name: coverage_by_group(
            result.test_frame,
            actual=result.test_actual,
            predicted=predicted,
            low=low,
            high=high,
        )
        for name, (low, high) in tables.items()
    }
    return [
        {
            "partition": old.partition,
            "group": old.group,
            "houses": old.houses,
            "before": {"coverage": old.coverage, "mean_width": old.mean_width},
            "after": {"coverage": new.coverage, "mean_width": new.mean_width},
        }
        for old, new in zip(judged["before"], judged["after"], strict=True)
    ]


def _line(row: dict[str, Any]) -> str:
    parts = [f"{row['group']:<28} {row['houses']:>5}"]
    for name in ("before", "after"):
        r = row[name]
        low, high = r["coverage_range"]
        parts.append(
            f"{name} {r['coverage']:.3f} ±{r['standard_error']:.3f} [{low:.3f}-{high:.3f}] "
            f"w {r['mean_width']:.1%}"
        )
    return " | ".join(parts)


if __name__ == "__main__":
    main()

"""Building a model card from a training result (the card itself is defined in ``ml.card``).

Kept apart from the definition because building needs the training stack (pandas,
scikit-learn, XGBoost) while reading a card must not.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
from sklearn.model_selection import KFold

from ml.card import (
    Candidate,
    DataSection,
    GateResult,
    GatesSection,
    GroupCoverage,
    HoldoutPoint,
    IntervalCard,
    ModelCard,
)
from ml.categories import load_aliases
from ml.coverage import coverage_by_group
from ml.evaluate import GateResult as EvaluatedGate
from ml.interval_evaluation import cross_fitted_radii
from ml.intervals import METHOD
from ml.profile import build_profile
from ml.train import TrainingResult, interval_bounds

HOLDOUT_SAMPLE_SIZE = 600


def build_card(result: TrainingResult, *, data_path: Path, data_sha256: str) -> ModelCard:
    """The model card of a training result (the registry adds the version and run id)."""
    best = result.best
    categories = _categories(result)
    return ModelCard(
        trained_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        model_type=best.name,
        params=best.params,
        data=DataSection(
            path=str(data_path),
            rows=result.rows,
            sha256=data_sha256,
            holdout_rows=len(result.test_frame),
        ),
        metrics=result.metrics,
        gates=GatesSection(
            **result.config.gates.model_dump(),
            passed=result.passed,
            results=[_gate(g) for g in result.gates],
            failures=[str(g) for g in result.gates if not g.passed]
            + (
                [f"relative gate: {result.relative.reason}"]
                if result.relative is not None and result.relative.status == "failed"
                else []
            ),
            estimate=result.estimate,
            relative=result.relative,
            holdout=[_gate(g) for g in result.holdout_gates],
        ),
        candidates={
            c.name: Candidate(cv_rmse=c.cv_rmse, **c.holdout, params=c.params)
            for c in result.candidates
        },
        categories=categories,
        untrained_categories=_untrained_categories(result, categories),
        # The spellings read as each category (ml/aliases.yaml as trained with), so a
        # version keeps its own table when the file changes later.
        aliases=load_aliases().columns,
        feature_importances=result.importances,
        interval=interval_section(result),
        holdout_sample=_holdout_sample(
            result.test_actual, result.test_predicted, result.config.seed
        ),
        profile=build_profile(result.train_frame) if len(result.train_frame) else None,
    )


def _gate(gate: EvaluatedGate) -> GateResult:
    return GateResult(
        name=gate.name,
        value=gate.value,
        threshold=gate.threshold,
        passed=gate.passed,
        margin=gate.margin,
        low=gate.low,
        high=gate.high,
        straddles=gate.straddles,
    )


def interval_section(result: TrainingResult) -> IntervalCard:
    """The fitted interval model with coverage and width by group on houses it never saw.

    ``by_group``: every training house, priced out of fold and given an interval fitted
    without it (``ml.interval_evaluation``), so groups are four times the hold-out's size;
    ``holdout_by_group``: the hold-out, priced by the final model.
    """
    low, high = interval_bounds(result.intervals, result.test_frame, result.test_predicted)
    holdout = coverage_by_group(
        result.test_frame,
        actual=result.test_actual,
        predicted=result.test_predicted,
        low=low,
        high=high,
    )
    return IntervalCard(
        method=METHOD,
        level=result.intervals.level,
        coverage=result.interval_coverage,
        mean_width=holdout[0].mean_width,
        single_log_radius=result.single_log_radius,
        model=result.intervals,
        by_group=_cross_fitted_by_group(result) or holdout,
        by_group_measured_on=(
            f"the {len(result.train_frame):,} training houses, each priced out of fold and "
            "given an interval calibrated without it"
            if len(result.train_out_of_fold)
            else f"the {len(result.test_frame):,} held-out houses"
        ),
        holdout_by_group=holdout,
    )


def _cross_fitted_by_group(result: TrainingResult) -> list[GroupCoverage]:
    if not len(result.train_out_of_fold):
        return []
    frame, predicted = result.train_frame, result.train_out_of_fold
    config = result.config
    radii = cross_fitted_radii(
        log_actual=np.log(result.train_actual),
        log_predicted=np.log(predicted),
        years=frame["year_built"].to_numpy(dtype=np.float64),
        conditions=frame["condition"].astype(str).to_numpy(),
        level=config.interval_level,
        folds=KFold(config.calibration_folds, shuffle=True, random_state=config.seed),
    )
    return coverage_by_group(
        frame,
        actual=result.train_actual,
        predicted=predicted,
        low=predicted * np.exp(-radii),
        high=predicted * np.exp(radii),
    )


def _categories(result: TrainingResult) -> dict[str, list[str]]:
    steps = result.best.estimator.regressor_.named_steps
    encoder = steps["preprocess"].named_transformers_["cat"]
    return {
        column: sorted(str(v) for v in values)
        for column, values in zip(("location", "condition"), encoder.categories_, strict=True)
    }


def _untrained_categories(
    result: TrainingResult, categories: dict[str, list[str]]
) -> dict[str, dict[str, int]]:
    """Categories in the data that the training split lacks (all in the hold-out), with counts."""
    untrained: dict[str, dict[str, int]] = {}
    for column, known in categories.items():
        counts = result.test_frame[column].astype(str).value_counts()
        untrained[column] = {str(k): int(v) for k, v in counts.items() if k not in set(known)}
    return untrained


def _holdout_sample(actual: np.ndarray, predicted: np.ndarray, seed: int) -> list[HoldoutPoint]:
    rng = np.random.default_rng(seed)
    size = min(HOLDOUT_SAMPLE_SIZE, len(actual))
    picks = np.sort(rng.choice(len(actual), size=size, replace=False))
    return [
        HoldoutPoint(actual=float(actual[i]), predicted=round(float(predicted[i]), 2))
        for i in picks
    ]

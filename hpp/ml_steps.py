"""The ml steps behind ``hpp validate-data`` and ``hpp train``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from core.settings import AppSettings
from ml.config import load_config
from ml.data import DataError, validate_file

if TYPE_CHECKING:
    from ml.train import TrainingResult


def run_validate_data(path: Path) -> int:
    """Print one line per problem; 0 when the data is fit to train on, 1 otherwise."""
    problems = validate_file(path)
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    if problems:
        print(f"{path}: {len(problems)} problem(s) found", file=sys.stderr)
        return 1
    print(f"{path}: ok")
    return 0


def run_train(
    *, data: Path, config: Path, settings: AppSettings, with_feedback: bool = False
) -> int:
    """Validate, train, gate, log and register. 0 when every gate passed and champion moved.

    ``with_feedback`` adds the accepted sale prices reported through ``POST /v1/feedback``
    (read from Redis) to the shipped data; the run records its data version either way.
    """
    from workers.training import train_version

    train_config = load_config(config)
    print(f"[1/3] validating {data}" + (" and the accepted feedback" if with_feedback else ""))
    print(f"[2/3] training {len(train_config.candidates)} candidates", flush=True)
    try:
        trained = train_version(
            data=data,
            config=train_config,
            config_path=config,
            settings=settings,
            with_feedback=with_feedback,
            alias=settings.core.model_alias,
            progress=lambda line: print(line, flush=True),
        )
    except DataError as exc:
        for problem in exc.problems:
            print(f"{data}: {problem}", file=sys.stderr)
        return 1
    result, registered = trained.result, trained.registered
    print_gates(result)
    name = train_config.registered_model
    if not registered.promoted:
        failed = ", ".join(result.failed_gates)
        print(
            f"registered {name} version {registered.version}, but gates failed ({failed}): "
            f"'{settings.core.model_alias}' was not moved",
            file=sys.stderr,
        )
        return 1
    print(
        f"registered {name} version {registered.version} and moved "
        f"'{settings.core.model_alias}' to it (run {registered.run_id})"
    )
    from workers.lifecycle import record_manual_move

    record_manual_move(
        settings,
        alias=settings.core.model_alias,
        version=registered.version,
        previous=None,
        reason="hpp train" + (" --with-feedback" if with_feedback else "") + ": every gate passed",
    )
    return 0


def print_gates(result: TrainingResult) -> None:
    """The gates as judged (repeated-CV means with intervals), the relative gate, and what
    the fixed hold-out alone would have said."""
    estimate = result.estimate
    how = (
        f"{estimate.repeats} x {estimate.folds}-fold CV, {estimate.level:.0%} intervals"
        if estimate is not None
        else "the hold-out"
    )
    print(f"[3/3] quality gates on {how}, logged to MLflow", flush=True)
    for gate in result.gates:
        print(f"  {gate}", flush=True)
    if result.relative is not None:
        print(f"  relative gate: {result.relative.status}: {result.relative.reason}", flush=True)
    if result.holdout_gates:
        print(f"  the {len(result.test_frame):,}-row hold-out alone (a report, not judged):")
        for gate in result.holdout_gates:
            print(f"    {gate}", flush=True)

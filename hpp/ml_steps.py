"""The ml steps behind ``hpp validate-data`` and ``hpp train``."""

from __future__ import annotations

import sys
from pathlib import Path

from core.settings import AppSettings
from ml.card_builder import build_card
from ml.config import load_config
from ml.data import DataError, file_sha256, load_training_data, validate_file
from ml.registry import log_and_register
from ml.train import train


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


def run_train(*, data: Path, config: Path, settings: AppSettings) -> int:
    """Validate, train, gate, log and register. 0 when every gate passed and champion moved."""
    train_config = load_config(config)
    print(f"[1/4] validating {data}", flush=True)
    try:
        frame = load_training_data(data)
    except DataError as exc:
        for problem in exc.problems:
            print(f"{data}: {problem}", file=sys.stderr)
        return 1
    print(
        f"[2/4] training {len(train_config.candidates)} candidates on {len(frame):,} rows",
        flush=True,
    )
    result = train(frame, train_config, progress=lambda line: print(line, flush=True))
    print("[3/4] quality gates on the hold-out", flush=True)
    for gate in result.gates:
        print(f"  {gate}", flush=True)
    card = build_card(result, data_path=data, data_sha256=file_sha256(data))
    tracking_uri = settings.core.resolved_tracking_uri()
    _ensure_local_store(tracking_uri)
    print(f"[4/4] logging to MLflow at {tracking_uri}", flush=True)
    registered = log_and_register(
        result,
        card,
        tracking_uri=tracking_uri,
        config_path=config,
        alias=settings.core.model_alias,
    )
    name = train_config.registered_model
    if not registered.promoted:
        failed = ", ".join(g.name for g in result.gates if not g.passed)
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
    return 0


def _ensure_local_store(tracking_uri: str) -> None:
    if tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)

"""Do the gates decide by merit? The same verdict on ten data sets a user could easily have.

Each run is the shipped data minus a different random 5 % of its rows, trained by the real
command (``hpp train --data ... --config ml/config.yaml``, a subprocess with a state folder
and MLflow store of its own, so there is no champion and the relative gate is not
applicable). For each run it prints the repeated-CV estimate with its interval and the
verdict the gates gave, beside what the old rule (the fixed 20 % hold-out alone) says for
the same run, and writes ``bench/results/gate_stability.json``.

    .venv/bin/python bench/gate_stability.py            # 10 runs (~3-5 min each on 2 cores)
    .venv/bin/python bench/gate_stability.py --runs 2   # a quicker look
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from results import write_result

from ml.card import ModelCard

ROOT = Path(__file__).resolve().parents[1]
METRICS = {"r2_min": "r2", "mae_max": "mae", "rmse_max": "rmse"}


def main() -> int:
    """Train ``--runs`` times on the data minus ``--drop`` of its rows; compare the verdicts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--drop", type=float, default=0.05, help="share of rows left out")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "house_data.csv")
    parser.add_argument("--config", type=Path, default=ROOT / "ml" / "config.yaml")
    args = parser.parse_args()
    data = pd.read_csv(args.data)
    runs = []
    with tempfile.TemporaryDirectory(prefix="gate-stability-") as tmp:
        for run in range(args.runs):
            picked = np.random.default_rng(run).choice(
                len(data), size=round(args.drop * len(data)), replace=False
            )
            path = Path(tmp) / f"run-{run}.csv"
            data.drop(index=data.index[picked]).to_csv(path, index=False)
            runs.append(train_once(run, path, args.config, Path(tmp) / f"state-{run}"))
            print_run(runs[-1])
            # After every run, so a long benchmark stopped early keeps what it measured.
            write_result(
                "gate_stability",
                parameters={
                    "runs": len(runs),
                    "drop": args.drop,
                    "rows": len(data),
                    "config": str(args.config.resolve().relative_to(ROOT)),
                },
                figures=summarise(runs),
                note="" if len(runs) == args.runs else f"stopped after {len(runs)} of {args.runs}",
            )
    figures = summarise(runs)
    print(
        f"\nnew rule (repeated CV): {figures['new_rule']}; old rule (hold-out alone): "
        f"{figures['old_rule']}"
    )
    return 0


def train_once(run: int, data: Path, config: Path, state: Path) -> dict[str, Any]:
    """``hpp train`` on ``data`` in a store of its own; the verdicts from the card it wrote."""
    env = {
        **os.environ,
        "HPP_STATE_DIR": str(state),
        "HPP_MLFLOW_TRACKING_URI": f"sqlite:///{state / 'mlflow.db'}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{state / 'mlflow.db'}",
    }
    env.pop("HPP_REDIS_URL", None)
    hpp = Path(sys.executable).with_name("hpp")
    started = time.perf_counter()
    done = subprocess.run(
        [str(hpp), "train", "--data", str(data), "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1) or "registered" not in done.stdout + done.stderr:
        raise RuntimeError(f"hpp train failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    card = read_card(f"sqlite:///{state / 'mlflow.db'}")
    estimate = card.gates.estimate
    assert estimate is not None, "the card has no repeated-CV estimate"
    return {
        "run": run,
        "rows": card.data.rows,
        "exit_code": done.returncode,
        "seconds": round(seconds, 1),
        "estimate": {m: estimate.metrics[m].model_dump() for m in METRICS.values()},
        "level": estimate.level,
        "passed": bool(card.gates.passed),
        "straddles": [g.name for g in card.gates.results if g.straddles],
        "holdout": {m: card.metrics[m] for m in METRICS.values()},
        "old_rule_passed": all(g.passed for g in card.gates.holdout),
        "old_rule_failures": [g.name for g in card.gates.holdout if not g.passed],
        "relative": card.gates.relative.status if card.gates.relative else None,
    }


def read_card(tracking_uri: str) -> ModelCard:
    """The card of the one version in the store (passed or not, it is version 1)."""
    import mlflow
    from mlflow import MlflowClient

    details = MlflowClient(tracking_uri=tracking_uri).get_model_version("house-price", "1")
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            run_id=details.run_id,
            artifact_path="card.json",
            dst_path=tmp,
            tracking_uri=tracking_uri,
        )
        return ModelCard.model_validate_json(Path(path).read_text())


def print_run(run: dict[str, Any]) -> None:
    """One line: the estimate and interval, the verdict, and the old rule's for the same run."""
    rmse, mae, r2 = (run["estimate"][m] for m in ("rmse", "mae", "r2"))
    verdict = "pass" if run["passed"] else "FAIL"
    if run["straddles"]:
        verdict += f" (interval straddles {', '.join(run['straddles'])})"
    old = "pass" if run["old_rule_passed"] else f"FAIL ({', '.join(run['old_rule_failures'])})"
    print(
        f"run {run['run']}: {run['rows']:,} rows, {run['seconds']:.0f} s | CV RMSE "
        f"{rmse['mean']:,.0f} [{rmse['low']:,.0f}, {rmse['high']:,.0f}] MAE {mae['mean']:,.0f} "
        f"[{mae['low']:,.0f}, {mae['high']:,.0f}] R² {r2['mean']:.3f} | {verdict} | hold-out "
        f"RMSE {run['holdout']['rmse']:,.0f}: old rule {old}",
        flush=True,
    )


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The runs, and how many passed under each rule."""
    new_passes = sum(r["passed"] for r in runs)
    old_passes = sum(r["old_rule_passed"] for r in runs)
    rmse = [r["estimate"]["rmse"]["mean"] for r in runs]
    holdout = [r["holdout"]["rmse"] for r in runs]
    return {
        "runs": runs,
        "new_rule": f"{new_passes} of {len(runs)} pass",
        "old_rule": f"{old_passes} of {len(runs)} pass",
        "new_rule_unanimous": new_passes in (0, len(runs)),
        "old_rule_unanimous": old_passes in (0, len(runs)),
        "cv_rmse_range": [min(rmse), max(rmse)],
        "holdout_rmse_range": [min(holdout), max(holdout)],
        "median_seconds": float(np.median([r["seconds"] for r in runs])),
    }


if __name__ == "__main__":
    sys.exit(main())

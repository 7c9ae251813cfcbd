"""A version worse than the champion beyond noise is registered but moves no alias: not through
``hpp train`` (champion), not through the loop's retrain (challenger), whatever the absolute
gates say. Tiny data (700 real sales), 2 x 3 folds, a real MLflow store."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from core.settings import AppSettings, CoreSettings
from hpp.ml_steps import run_train
from ml.config import GateCV, Gates, TrainConfig
from ml.data import load_training_data
from ml.registry import alias_history, load_card, resolve_alias
from tests.support.model import QUICK_CANDIDATES
from tests.support.paths import DATA
from workers import lifecycle

pytestmark = pytest.mark.slow
NAME = "house-price"
LENIENT = Gates(r2_min=0.5, mae_max=60_000, rmse_max=80_000)
FOLDS = GateCV(repeats=2, folds=3, inner_folds=2)
STRONG = TrainConfig(
    cv_folds=2, calibration_folds=3, candidates=QUICK_CANDIDATES, gates=LENIENT, gate_cv=FOLDS
)
WEAK = STRONG.model_copy(
    update={
        "candidates": {"xgboost": {"n_estimators": [20], "max_depth": [1], "learning_rate": [0.3]}}
    }
)


def write(path: Path, config: TrainConfig) -> Path:
    path.write_text(yaml.safe_dump(config.model_dump()))
    return path


def settings_for(state: Path, *, config: Path, data: Path) -> AppSettings:
    base = AppSettings.from_env()
    core = CoreSettings(
        state_dir=state,
        mlflow_tracking_uri=f"sqlite:///{state / 'm.db'}",
        redis_url=None,
        training_config=config,
        training_data=data,
    )
    return AppSettings(core, base.gateway, base.worker, base.ui, base.observability)


def test_a_regression_is_refused_by_hpp_train_and_by_the_loop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "houses.csv"
    load_training_data(DATA).sample(n=700, random_state=1).to_csv(data, index=False)
    strong, weak = write(tmp_path / "strong.yaml", STRONG), write(tmp_path / "weak.yaml", WEAK)
    settings = settings_for(tmp_path, config=weak, data=data)
    uri = settings.core.resolved_tracking_uri()

    assert run_train(data=data, config=strong, settings=settings) == 0
    first = capsys.readouterr().out
    assert "relative gate: not_applicable: no champion to compare with" in first
    assert resolve_alias(tracking_uri=uri, name=NAME, alias="champion") == "1"

    # The weak configuration passes every absolute gate, but is worse than v1 on the same folds.
    assert run_train(data=data, config=weak, settings=settings) == 1
    out = capsys.readouterr()
    assert "relative gate: failed: worse than champion v1 (xgboost)" in out.out
    assert "gates failed (relative)" in out.err
    assert resolve_alias(tracking_uri=uri, name=NAME, alias="champion") == "1"
    card = load_card(tracking_uri=uri, name=NAME, alias="champion")
    assert card is not None
    assert card.gates.relative is not None
    assert card.gates.relative.status == "not_applicable"

    # The loop: the same regression is rejected, never challenger.
    outcome = lifecycle.retrain(settings, kind="manual", reason="weak config (test)")
    assert not outcome.passed
    assert not outcome.challenger
    assert any(g.startswith("relative gate failed") for g in outcome.gates)
    assert resolve_alias(tracking_uri=uri, name=NAME, alias="challenger") is None
    rejected = alias_history(tracking_uri=uri, name=NAME)[-1]
    assert (rejected.action, rejected.version) == ("rejected", outcome.version)
    assert "gates failed (relative)" in rejected.reason
    assert rejected.details["relative"]["status"] == "failed"

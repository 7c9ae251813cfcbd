"""Training: gates decide the alias, the same seed gives the same model, the real run passes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from core.settings import AppSettings, CoreSettings
from hpp.ml_steps import run_train
from ml.config import Gates, TrainConfig
from ml.data import load_training_data
from ml.registry import resolve_alias
from ml.train import train
from tests.support.model import QUICK_CANDIDATES, quick_config, train_and_register
from tests.support.paths import DATA


def settings_for(tmp_path: Path) -> AppSettings:
    base = AppSettings.from_env()
    core = CoreSettings(state_dir=tmp_path, mlflow_tracking_uri=f"sqlite:///{tmp_path / 'm.db'}")
    return AppSettings(core, base.gateway, base.worker, base.ui, base.observability)


def write_config(path: Path, config: TrainConfig) -> Path:
    path.write_text(yaml.safe_dump(config.model_dump()))
    return path


@pytest.mark.slow
def test_impossible_gates_exit_nonzero_and_leave_champion_where_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path)
    good = write_config(tmp_path / "good.yaml", quick_config())
    assert run_train(data=DATA, config=good, settings=settings) == 0
    uri = settings.core.resolved_tracking_uri()
    assert resolve_alias(tracking_uri=uri, name="house-price", alias="champion") == "1"

    strict = quick_config().model_copy(update={"gates": Gates(r2_min=0.99, rmse_max=1000)})
    assert (
        run_train(
            data=DATA, config=write_config(tmp_path / "strict.yaml", strict), settings=settings
        )
        == 1
    )
    out = capsys.readouterr()
    assert "gate r2_min: FAILED" in out.out
    assert "gate rmse_max: FAILED" in out.out
    assert "'champion' was not moved" in out.err
    assert resolve_alias(tracking_uri=uri, name="house-price", alias="champion") == "1"


def test_invalid_data_stops_training_before_any_model(tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text("price,sqft\n1,2\n")
    settings = settings_for(tmp_path)
    assert (
        run_train(
            data=broken, config=write_config(tmp_path / "c.yaml", quick_config()), settings=settings
        )
        == 1
    )
    uri = settings.core.resolved_tracking_uri()
    assert resolve_alias(tracking_uri=uri, name="house-price", alias="champion") is None


def test_the_same_seed_gives_the_same_model() -> None:
    frame = load_training_data(DATA)
    config = TrainConfig(seed=3, cv_folds=3, calibration_folds=3, candidates=QUICK_CANDIDATES)
    first, second = (
        train(frame, config, progress=lambda _: None),
        train(frame, config, progress=lambda _: None),
    )
    assert first.best.name == second.best.name
    assert np.array_equal(first.test_predicted, second.test_predicted)
    assert first.intervals == second.intervals


@pytest.mark.slow
def test_every_candidate_is_compared_and_logged(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    registry = train_and_register(f"sqlite:///{tmp_path / 'm.db'}", quick_config())
    client = MlflowClient(registry.tracking_uri)
    experiment = client.get_experiment_by_name("house-price")
    assert experiment is not None
    run = client.search_runs([experiment.experiment_id])[0]
    assert {"linear_regression.cv_rmse", "xgboost.cv_rmse", "holdout_rmse"} <= set(run.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"card.json", "plots", "preprocessor", "config", "evaluation"} <= artifacts
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert "plots/predicted_vs_actual.png" in plots
    assert client.get_model_version("house-price", registry.version).run_id == run.info.run_id


@pytest.mark.slow
def test_full_training_on_the_real_data_passes_every_gate(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    config = Path(__file__).resolve().parents[2] / "ml" / "config.yaml"
    assert run_train(data=DATA, config=config, settings=settings) == 0
    uri = settings.core.resolved_tracking_uri()
    assert resolve_alias(tracking_uri=uri, name="house-price", alias="champion") == "1"

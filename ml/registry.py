"""The only module that talks to MLflow: log a training run, register, move aliases, load."""

from __future__ import annotations

import functools
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from ml.alias_history import AliasEvent, parse_tags, tag_name
from ml.card import ModelCard
from ml.categories import ALIASES_PATH
from ml.comparables import training_sales
from ml.contract import CATEGORY_COLUMNS, FEATURE_COLUMNS
from ml.train import TrainingResult

MODEL_ARTIFACT = "model"
CARD_ARTIFACT = "card.json"
HOLDOUT_ARTIFACT = "evaluation/holdout_predictions.csv"
SALES_ARTIFACT = "comparables/training_sales.csv"
CHAMPION = "champion"  # the alias every service serves
CHALLENGER = "challenger"  # the alias of a version on trial in shadow or A/B
_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")


@dataclass(frozen=True)
class Registered:
    """Where a training run landed in the registry."""

    run_id: str
    version: str
    promoted: bool


def log_and_register(
    result: TrainingResult,
    card: ModelCard,
    *,
    tracking_uri: str,
    config_path: Path | None,
    alias: str = CHAMPION,
    data_version: dict[str, Any] | None = None,
) -> Registered:
    """Log params, metrics, plots and the pipeline; register it; move ``alias`` if gates pass.

    ``data_version`` (``ml.data_version.DataVersion`` as a dict) is logged as tags and
    params, so the run names the rows it was fitted on.
    """
    import mlflow
    from mlflow.models import infer_signature

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(experiment_id=_ensure_experiment(tracking_uri, result.config.experiment))
    name = result.config.registered_model
    with mlflow.start_run(run_name=f"train-{result.best.name}") as run:
        _log_params_and_metrics(mlflow, result)
        if data_version is not None:
            _log_data_version(mlflow, data_version)
        example = result.test_frame.head(5)
        info = mlflow.sklearn.log_model(
            result.best.estimator,
            name=MODEL_ARTIFACT,
            serialization_format="cloudpickle",
            signature=infer_signature(example, result.best.estimator.predict(example)),
            input_example=example,
            registered_model_name=name,
            pip_requirements=model_requirements(),
        )
        version = str(info.registered_model_version)
        card = card.model_copy(update={"version": version, "run_id": run.info.run_id})
        _log_artifacts(mlflow, result, card, config_path)
    if result.passed:
        set_alias(tracking_uri=tracking_uri, name=name, alias=alias, version=version)
    return Registered(run.info.run_id, version, result.passed)


def load_registered(model_uri: str, *, tracking_uri: str | None) -> tuple[Any, ModelCard]:
    """The fitted pipeline and the model card of a registered version."""
    import mlflow
    from mlflow import MlflowClient

    name, alias, version = parse_model_uri(model_uri)
    client = MlflowClient(tracking_uri=tracking_uri)
    details = (
        client.get_model_version_by_alias(name, alias)
        if alias
        else client.get_model_version(name, str(version))
    )
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    pipeline = mlflow.sklearn.load_model(f"models:/{name}/{details.version}")
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            run_id=details.run_id,
            artifact_path=CARD_ARTIFACT,
            dst_path=tmp,
            tracking_uri=tracking_uri,
        )
        card = ModelCard.model_validate_json(Path(path).read_text())
    card = card.model_copy(
        update={"version": str(details.version), "run_id": details.run_id, "name": name}
    )
    return pipeline, card


def load_card(*, tracking_uri: str, name: str, alias: str) -> ModelCard | None:
    """The card of the version ``alias`` points at (with its version), or None without one."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        details = MlflowClient(tracking_uri=tracking_uri).get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = _download(str(details.run_id), CARD_ARTIFACT, tmp, tracking_uri)
        card = ModelCard.model_validate_json(Path(path).read_text())
    return card.model_copy(
        update={"version": str(details.version), "run_id": details.run_id, "name": name}
    )


def load_holdout(*, tracking_uri: str, name: str, version: str) -> pd.DataFrame:
    """The hold-out rows a version was evaluated on (features, actual, predicted)."""
    from mlflow import MlflowClient

    details = MlflowClient(tracking_uri=tracking_uri).get_model_version(name, version)
    with tempfile.TemporaryDirectory() as tmp:
        path = _download(str(details.run_id), HOLDOUT_ARTIFACT, tmp, tracking_uri)
        return pd.read_csv(path)


def load_training_sales(*, tracking_uri: str | None, run_id: str) -> pd.DataFrame | None:
    """The training sales stored with a run (None for versions trained before they were)."""
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = _download(run_id, SALES_ARTIFACT, tmp, tracking_uri)
        except (MlflowException, OSError):
            return None
        return pd.read_csv(path, dtype={c: str for c in CATEGORY_COLUMNS})


def _download(run_id: str, artifact: str, folder: str, tracking_uri: str | None) -> str:
    import mlflow

    return str(
        mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=artifact, dst_path=folder, tracking_uri=tracking_uri
        )
    )


def resolve_alias(*, tracking_uri: str, name: str, alias: str) -> str | None:
    """The version an alias points at, or None when the model or alias does not exist."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return str(
            MlflowClient(tracking_uri=tracking_uri).get_model_version_by_alias(name, alias).version
        )
    except MlflowException:
        return None


def set_alias(*, tracking_uri: str, name: str, alias: str, version: str) -> None:
    """Point ``alias`` at ``version``."""
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=tracking_uri).set_registered_model_alias(name, alias, version)


def delete_alias(*, tracking_uri: str, name: str, alias: str) -> bool:
    """Remove ``alias`` (e.g. the challenger after its trial); False if it was not set."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return False
    client.delete_registered_model_alias(name, alias)
    return True


def record_alias_event(*, tracking_uri: str, name: str, event: AliasEvent) -> AliasEvent:
    """Append ``event`` to the model's alias history (numbered after the last one)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    past = parse_tags(dict(client.get_registered_model(name).tags))
    numbered = event.model_copy(update={"seq": (past[-1].seq if past else 0) + 1})
    client.set_registered_model_tag(name, tag_name(numbered.seq), numbered.model_dump_json())
    return numbered


def alias_history(*, tracking_uri: str, name: str) -> list[AliasEvent]:
    """Every recorded alias move of the model, oldest first (empty when none or no model)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        tags = dict(MlflowClient(tracking_uri=tracking_uri).get_registered_model(name).tags)
    except MlflowException:
        return []
    return parse_tags(tags)


def parse_model_uri(model_uri: str) -> tuple[str, str | None, str | None]:
    """Split ``models:/name@alias`` or ``models:/name/3`` into (name, alias, version)."""
    match = _URI.match(model_uri)
    if not match:
        raise ValueError(f"not a registry URI (models:/name@alias or models:/name/N): {model_uri}")
    return match["name"], match["alias"], match["version"]


def _ensure_experiment(tracking_uri: str, name: str) -> str:
    """The experiment's id; a new one on a local SQLite store keeps artifacts beside it."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    location = None
    if tracking_uri.startswith("sqlite:///"):
        folder = Path(tracking_uri.removeprefix("sqlite:///")).resolve().parent / "artifacts"
        location = folder.as_uri()
    return str(client.create_experiment(name, artifact_location=location))


def _log_params_and_metrics(mlflow: Any, result: TrainingResult) -> None:
    config = result.config
    mlflow.log_params(
        {
            "seed": config.seed,
            "test_size": config.test_size,
            "cv_folds": config.cv_folds,
            "interval_level": config.interval_level,
            "best_model": result.best.name,
            "rows": result.rows,
            **{f"best.{k}": v for k, v in result.best.params.items()},
        }
    )
    metrics = {f"holdout_{k}": v for k, v in result.metrics.items()}
    metrics["interval_coverage"] = result.interval_coverage
    metrics["interval_scale"] = result.intervals.scale
    metrics["interval_single_log_radius"] = result.single_log_radius
    for c in result.candidates:
        metrics[f"{c.name}.cv_rmse"] = c.cv_rmse
        metrics.update({f"{c.name}.holdout_{k}": v for k, v in c.holdout.items()})
    for gate in result.gates:
        metrics[f"gate.{gate.name}.margin"] = gate.margin
    for gate in result.holdout_gates:
        metrics[f"holdout_gate.{gate.name}.margin"] = gate.margin
    tags = {"gates_passed": str(result.passed).lower(), "model_type": result.best.name}
    if result.estimate is not None:
        for metric, value in result.estimate.metrics.items():
            metrics.update({f"cv_{metric}_{k}": v for k, v in value.model_dump().items()})
        mlflow.log_params(
            {
                "gate_cv.repeats": result.estimate.repeats,
                "gate_cv.folds": result.estimate.folds,
                "gate_cv.inner_folds": result.estimate.inner_folds,
                "gate_cv.selection": result.estimate.selection,
                "gate_cv.level": result.estimate.level,
            }
        )
        mlflow.log_dict(result.estimate.model_dump(), "evaluation/gate_cv.json")
    if result.relative is not None:
        tags["relative_gate"] = result.relative.status
        tags["relative_gate.champion"] = result.relative.champion_version or ""
        for metric, diff in result.relative.difference.items():
            metrics.update({f"relative_{metric}_diff_{k}": v for k, v in diff.model_dump().items()})
        mlflow.log_dict(result.relative.model_dump(), "evaluation/relative_gate.json")
    mlflow.log_metrics(metrics)
    mlflow.set_tags(tags)


def _log_data_version(mlflow: Any, version: dict[str, Any]) -> None:
    by_source = version.get("rows_by_source", {})
    mlflow.log_params(
        {
            **{f"data.rows_{source}": rows for source, rows in by_source.items()},
            "data.feedback_rejected": version.get("feedback_rejected", 0),
        }
    )
    mlflow.set_tags(
        {
            "data.sha256": version.get("sha256", ""),
            "data.feedback_first": version.get("feedback_first") or "",
            "data.feedback_last": version.get("feedback_last") or "",
        }
    )
    mlflow.log_dict(version, "data/version.json")


def _log_artifacts(
    mlflow: Any, result: TrainingResult, card: ModelCard, config_path: Path | None
) -> None:
    from ml.plots import save_plots

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / CARD_ARTIFACT).write_text(card.model_dump_json(indent=2))
        mlflow.log_artifact(str(folder / CARD_ARTIFACT))
        mlflow.log_artifact(str(ALIASES_PATH), artifact_path="categories")
        preprocessor = result.best.estimator.regressor_.named_steps["preprocess"]
        joblib.dump(preprocessor, folder / "preprocessor.joblib")
        mlflow.log_artifact(str(folder / "preprocessor.joblib"), artifact_path="preprocessor")
        (folder / "config.json").write_text(result.config.model_dump_json(indent=2))
        mlflow.log_artifact(str(folder / "config.json"), artifact_path="config")
        if config_path is not None and config_path.exists():
            mlflow.log_artifact(str(config_path), artifact_path="config")
        holdout = pd.DataFrame(result.test_frame, columns=list(FEATURE_COLUMNS))
        holdout["actual"], holdout["predicted"] = result.test_actual, result.test_predicted
        holdout.to_csv(folder / "holdout_predictions.csv", index=False)
        mlflow.log_artifact(str(folder / "holdout_predictions.csv"), artifact_path="evaluation")
        _log_training_sales(mlflow, result, folder)
        for path in save_plots(result, folder / "plots"):
            mlflow.log_artifact(str(path), artifact_path="plots")


def _log_training_sales(mlflow: Any, result: TrainingResult, folder: Path) -> None:
    """The rows the model was fitted on, with the model's price for each (for comparables)."""
    if not len(result.train_frame):
        return
    model_prices = result.best.estimator.predict(result.train_frame)
    sales = training_sales(result.train_frame, result.train_actual, model_prices)
    sales.to_csv(folder / "training_sales.csv", index=False)
    mlflow.log_artifact(str(folder / "training_sales.csv"), artifact_path="comparables")


MODEL_MODULES = ("sklearn", "xgboost", "pandas", "numpy", "scipy", "cloudpickle")


@functools.cache
def model_requirements() -> list[str]:
    """The pinned packages the pickled pipeline needs, named rather than inferred: MLflow's
    inference loads the model in a subprocess and took 7 s of every training run. Named by
    the distribution that installed each module (``xgboost`` comes as ``xgboost-cpu`` here)."""
    from importlib.metadata import packages_distributions, version

    installed = packages_distributions()
    return [f"{dist}=={version(dist)}" for module in MODEL_MODULES for dist in installed[module]]

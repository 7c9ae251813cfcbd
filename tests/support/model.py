"""A small real model, trained in seconds on the real data and registered in a real MLflow store."""

from __future__ import annotations

from dataclasses import dataclass

from ml.card_builder import build_card
from ml.config import GateCV, Gates, TrainConfig
from ml.data import file_sha256, load_training_data
from ml.registry import log_and_register
from ml.train import TrainingResult, train
from tests.support.paths import DATA

# The gates' repeated CV at its smallest: 2 x 2 outer folds, 2 inner folds.
TINY_GATE_CV = GateCV(repeats=2, folds=2, inner_folds=2)
QUICK_CANDIDATES = {
    "linear_regression": {},
    "xgboost": {"n_estimators": [150], "max_depth": [3], "learning_rate": [0.1]},
}


@dataclass(frozen=True)
class ModelRegistry:
    """A tracking store holding one registered ``champion``."""

    tracking_uri: str
    name: str
    version: str
    result: TrainingResult

    @property
    def model_uri(self) -> str:
        return f"models:/{self.name}@champion"

    def register_another(self, *, seed: int = 7, promote: bool = True) -> str:
        """Train and register a second, different version; move champion when asked."""
        config = quick_config(seed=seed)
        if not promote:
            config = config.model_copy(update={"gates": Gates(r2_min=2.0)})
        return train_and_register(self.tracking_uri, config).version


def quick_config(*, seed: int = 42) -> TrainConfig:
    """Fast settings: two candidates, three folds; real gates would be met only by the full grid."""
    return TrainConfig(
        seed=seed,
        cv_folds=3,
        calibration_folds=10,
        candidates=QUICK_CANDIDATES,
        gates=Gates(r2_min=0.6, mae_max=40_000, rmse_max=60_000),
        gate_cv=TINY_GATE_CV,
    )


def train_and_register(tracking_uri: str, config: TrainConfig) -> ModelRegistry:
    """Train on the real data with ``config`` and log/register it to ``tracking_uri``."""
    result = train(load_training_data(DATA), config, progress=lambda _: None)
    card = build_card(result, data_path=DATA, data_sha256=file_sha256(DATA))
    registered = log_and_register(result, card, tracking_uri=tracking_uri, config_path=None)
    return ModelRegistry(tracking_uri, config.registered_model, registered.version, result)

"""The candidate pipelines: features, preprocessing and one estimator, modelling log price."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from xgboost import XGBRegressor

from ml.features import FeatureBuilder, build_preprocessor

PARAM_PREFIX = "regressor__model__"


def build_model(name: str, seed: int) -> TransformedTargetRegressor:
    """A candidate pipeline (features, preprocessing, estimator) that models log price."""
    estimators: dict[str, Any] = {
        "linear_regression": LinearRegression(),
        "random_forest": RandomForestRegressor(random_state=seed, n_jobs=1),
        "gradient_boosting": GradientBoostingRegressor(random_state=seed),
        "xgboost": XGBRegressor(random_state=seed, n_jobs=1, tree_method="hist"),
    }
    pipeline = Pipeline(
        [
            ("features", FeatureBuilder()),
            ("preprocess", build_preprocessor()),
            ("model", estimators[name]),
        ]
    )
    # Prices are log-normal-ish: fitting log price evens out the errors across the range.
    return TransformedTargetRegressor(
        regressor=pipeline, func=np.log, inverse_func=np.exp, check_inverse=False
    )


def configured_model(name: str, params: dict[str, Any], seed: int) -> TransformedTargetRegressor:
    """A candidate pipeline with its estimator's hyper-parameters set."""
    model = build_model(name, seed)
    model.set_params(**{f"{PARAM_PREFIX}{key}": value for key, value in params.items()})
    return model


def param_grid(grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """A candidate's grid as the pipeline's parameter names."""
    return {f"{PARAM_PREFIX}{key}": values for key, values in grid.items()}


def estimator_params(pipeline_params: dict[str, Any]) -> dict[str, Any]:
    """The estimator's hyper-parameters from the pipeline's parameter names."""
    return {k.removeprefix(PARAM_PREFIX): v for k, v in pipeline_params.items()}

"""The compiled single-row tree walker is bit-equal to XGBoost's own prediction."""

from __future__ import annotations

import numpy as np

from ml.frame_rules import coerce_frame
from ml.predict import BoosterScorer, Predictor
from tests.support.model import ModelRegistry


def test_compiled_trees_equal_inplace_predict_on_every_holdout_row(
    model_registry: ModelRegistry,
) -> None:
    predictor = Predictor.load(model_registry.model_uri, tracking_uri=model_registry.tracking_uri)
    assert isinstance(predictor.scorer, BoosterScorer)
    trees = predictor.scorer.trees
    assert trees is not None
    encoded = predictor.encoder.encode_frame(coerce_frame(model_registry.result.test_frame))
    reference = predictor.scorer.booster.inplace_predict(encoded)
    walked = np.array([trees.margin_one(encoded[i : i + 1]) for i in range(len(encoded))])
    assert np.array_equal(walked.astype(np.float32), reference)

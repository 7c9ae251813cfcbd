"""The compiled single-row tree walker is bit-equal to XGBoost's own prediction."""

from __future__ import annotations

import numpy as np

from ml.contract import FEATURE_COLUMNS, HouseFeatures
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
    for start in range(0, len(encoded), 50):  # a few rows at a time, as shadow scoring does
        rows = encoded[start : start + 50]
        assert np.array_equal(trees.margin_many(rows), reference[start : start + 50])


def test_prices_alone_equal_predict_one_and_refuse_a_near_miss(
    model_registry: ModelRegistry,
) -> None:
    predictor = Predictor.load(model_registry.model_uri, tracking_uri=model_registry.tracking_uri)
    frame = model_registry.result.test_frame.head(40)
    houses = [HouseFeatures(**row) for row in frame[list(FEATURE_COLUMNS)].to_dict("records")]
    houses.append(houses[0].model_copy(update={"location": "Nrth Ames"}))
    prices = predictor.prices(houses)
    one = [predictor.predict_one(house).predicted_price for house in houses[:-1]]
    assert np.allclose(prices[:-1], one, rtol=1e-12)
    assert np.isnan(prices[-1])

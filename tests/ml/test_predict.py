"""The serving Predictor: equal to the pipeline; intervals and explanations hold."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from ml.contract import FEATURE_COLUMNS, HouseFeatures
from ml.features import CONDITION_ORDER
from ml.predict import Predictor
from tests.support.model import ModelRegistry

HOUSE = HouseFeatures(
    sqft=1656,
    bedrooms=3,
    bathrooms=1.5,
    location="North Ames",
    year_built=1960,
    condition="Average",
)


@pytest.fixture(scope="module")
def predictor(model_registry: ModelRegistry) -> Predictor:
    return Predictor.load(model_registry.model_uri, tracking_uri=model_registry.tracking_uri)


@pytest.fixture(scope="module")
def holdout(model_registry: ModelRegistry) -> pd.DataFrame:
    return model_registry.result.test_frame


def test_loads_the_champion_version_with_its_card(
    predictor: Predictor, model_registry: ModelRegistry
) -> None:
    assert predictor.version == model_registry.version
    assert predictor.card.categories["location"]
    assert predictor.card.interval.level == 0.9


def test_predict_frame_equals_the_pipeline_on_the_whole_holdout(
    predictor: Predictor, holdout: pd.DataFrame
) -> None:
    reference = predictor.pipeline_predict(holdout)
    fast = predictor.predict_frame(holdout.astype(str))["predicted_price"].to_numpy()
    assert np.max(np.abs(fast - reference) / reference) <= 1e-6


def test_encode_frame_equals_the_fitted_preprocessing(
    predictor: Predictor, holdout: pd.DataFrame
) -> None:
    # Hold-out rows plus rows the one-hot never saw: an unknown location, and every
    # condition on the ordinal scale (some never occur in training, yet have a score).
    odd = pd.DataFrame(
        [
            {**HOUSE.model_dump(), "location": "Atlantis"},
            *({**HOUSE.model_dump(), "condition": c} for c in CONDITION_ORDER),
            {**HOUSE.model_dump(), "condition": "Unheard Of"},
        ]
    )
    frame = pd.concat([holdout[list(FEATURE_COLUMNS)], odd], ignore_index=True)
    pipeline = predictor.pipeline.regressor_
    reference = pipeline[:-1].transform(frame)
    fast = predictor.encoder.encode_frame(frame)
    assert fast.dtype == np.float32
    assert fast.flags.c_contiguous
    np.testing.assert_allclose(fast, reference.astype(np.float32), rtol=1e-6, atol=1e-6)


def test_predict_one_equals_the_pipeline_on_the_whole_holdout(
    predictor: Predictor, holdout: pd.DataFrame
) -> None:
    reference = predictor.pipeline_predict(holdout)
    rows = holdout.to_dict("records")
    single = np.array([predictor.predict_one(HouseFeatures(**r)).predicted_price for r in rows])
    batch = np.array(
        [p.predicted_price for p in predictor.predict_batch([HouseFeatures(**r) for r in rows])]
    )
    assert np.max(np.abs(single - reference) / reference) <= 1e-6
    assert np.max(np.abs(batch - reference) / reference) <= 1e-6


def test_interval_brackets_the_price_at_the_configured_level(predictor: Predictor) -> None:
    prediction = predictor.predict_one(HOUSE)
    assert prediction.interval.low < prediction.predicted_price < prediction.interval.high
    assert prediction.interval.level == 0.9
    assert prediction.model_version == predictor.version


def test_interval_coverage_on_holdout_is_within_three_points_of_the_level(
    model_registry: ModelRegistry, predictor: Predictor
) -> None:
    frame = predictor.predict_frame(model_registry.result.test_frame.astype(str))
    actual = model_registry.result.test_actual
    inside = (actual >= frame["price_low"]) & (actual <= frame["price_high"])
    # 585 houses: 3 standard errors of a 0.9 coverage are 0.037.
    assert abs(inside.mean() - 0.9) <= 0.037


def test_contributions_add_up_to_the_prediction(predictor: Predictor) -> None:
    prediction = predictor.predict_one(HOUSE, explain=True)
    assert prediction.contributions is not None
    assert prediction.baseline is not None
    assert set(prediction.contributions) >= {"sqft", "location", "condition", "year_built"}
    total = prediction.baseline + sum(prediction.contributions.values())
    assert total == pytest.approx(prediction.predicted_price, rel=1e-9)


def test_unseen_category_still_scores_with_a_warning(predictor: Predictor) -> None:
    prediction = predictor.predict_one(HOUSE.model_copy(update={"location": "Atlantis"}))
    assert prediction.predicted_price > 0
    assert prediction.warnings == [
        "location 'Atlantis' was not seen in training, so it is scored as unknown"
    ]


def test_a_category_of_the_data_missing_from_the_training_split_says_so(
    predictor: Predictor,
) -> None:
    untrained = predictor.card.untrained_categories["location"]
    assert untrained == {"Landmark": 1}  # its only sale fell in the hold-out
    house = HOUSE.model_copy(update={"location": "Landmark"})

    one = predictor.predict_one(house)
    frame = predictor.predict_frame(pd.DataFrame([house.model_dump()]).astype(str))

    assert "Landmark" not in predictor.card.categories["location"]
    assert one.warnings == [
        "location 'Landmark' has only 1 sale in the data set, none in the training split, "
        "so it is scored as unknown"
    ]
    assert frame["warning"].iloc[0] == one.warnings[0]  # one text on every path


def test_predict_frame_gives_a_reason_per_bad_row_and_keeps_the_rest(
    predictor: Predictor,
) -> None:
    frame = pd.DataFrame([HOUSE.model_dump()] * 4).astype(str)
    frame.loc[1, "sqft"] = "lots"
    frame.loc[2, "location"] = "Atlantis"
    frame.loc[3, "bedrooms"] = ""
    result = predictor.predict_frame(frame)
    assert result["error"].tolist() == [None, "sqft: not a number", None, "bedrooms: missing"]
    assert result["predicted_price"].notna().tolist() == [True, False, True, False]
    assert result["warning"].iloc[2] == (
        "location 'Atlantis' was not seen in training, so it is scored as unknown"
    )


def test_column_order_does_not_change_predictions(
    predictor: Predictor, holdout: pd.DataFrame
) -> None:
    frame = holdout.head(50).astype(str)
    reordered = frame[list(reversed(FEATURE_COLUMNS))].assign(extra="x")
    pd.testing.assert_series_equal(
        predictor.predict_frame(frame)["predicted_price"],
        predictor.predict_frame(reordered)["predicted_price"],
    )


def test_price_rises_with_living_area(predictor: Predictor) -> None:
    prices = [
        predictor.predict_one(HOUSE.model_copy(update={"sqft": s})).predicted_price
        for s in (800, 1600, 3200)
    ]
    assert prices[0] < prices[1] < prices[2]


def test_registered_champion_loads_and_predicts_in_a_fresh_process(
    model_registry: ModelRegistry, predictor: Predictor
) -> None:
    uri, store = model_registry.model_uri, model_registry.tracking_uri
    code = (
        "import json; from ml.predict import Predictor; from ml.contract import HouseFeatures;"
        f"p = Predictor.load({uri!r}, tracking_uri={store!r});"
        f"print(json.dumps(p.predict_one(HouseFeatures(**{HOUSE.model_dump()!r})).model_dump()))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["predicted_price"] == pytest.approx(predictor.predict_one(HOUSE).predicted_price)

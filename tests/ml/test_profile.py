"""The training profile: bins, PSI, out-of-domain warnings, and cards that have none."""

from __future__ import annotations

import pandas as pd
import pytest

from ml.contract import EXAMPLE_HOUSE, HouseFeatures
from ml.monitoring import check_gates, live_metrics
from ml.predict import Predictor
from ml.profile import PSI_THRESHOLD, build_profile, frame_drift, psi
from tests.support.model import ModelRegistry
from tests.support.paths import DATA

HOUSE = dict(EXAMPLE_HOUSE)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(DATA)


@pytest.fixture(scope="module")
def predictor(model_registry: ModelRegistry) -> Predictor:
    return Predictor.load(model_registry.model_uri, tracking_uri=model_registry.tracking_uri)


def test_profile_holds_ranges_bins_and_category_counts(data: pd.DataFrame) -> None:
    profile = build_profile(data)

    sqft = profile["numeric"]["sqft"]
    assert (sqft["min"], sqft["max"]) == (data["sqft"].min(), data["sqft"].max())
    assert sum(sqft["fractions"]) == pytest.approx(1.0, abs=1e-4)
    assert len(sqft["fractions"]) == len(sqft["edges"]) + 1
    counts = profile["categorical"]["location"]["counts"]
    assert counts["North Ames"] == int((data["location"] == "North Ames").sum())


def test_doubled_sqft_drifts_and_an_unshifted_sample_does_not(data: pd.DataFrame) -> None:
    profile = build_profile(data)
    sample = data.sample(500, random_state=1)

    calm = frame_drift(profile, sample)
    shifted = frame_drift(profile, sample.assign(sqft=sample["sqft"] * 2))

    assert calm["max_psi"] < PSI_THRESHOLD
    assert calm["drifted"] == []
    assert shifted["features"]["sqft"]["psi"] > PSI_THRESHOLD
    assert shifted["drifted"] == ["sqft"]


def test_a_handful_of_houses_is_reported_but_never_flagged_as_drift(data: pd.DataFrame) -> None:
    profile = build_profile(data)
    one = frame_drift(profile, data.head(1).assign(sqft=data["sqft"].max()))
    assert one["rows"] == 1
    assert one["features"]["sqft"]["psi"] > PSI_THRESHOLD  # one house fills a single bin
    assert one["drifted"] == []
    assert one["enough_rows"] is False


def test_psi_is_zero_for_identical_shares_and_none_for_no_rows() -> None:
    assert psi([0.5, 0.5], [10, 10]) == pytest.approx(0.0)
    assert psi([0.5, 0.5], [0, 0]) is None


def test_predictions_flag_houses_beyond_the_training_range(predictor: Predictor) -> None:
    profile = predictor.card.profile
    assert profile is not None
    limit = profile["numeric"]["sqft"]["max"]
    huge = HouseFeatures(**{**HOUSE, "sqft": 9000})

    warnings = predictor.predict_one(huge).warnings
    frame = predictor.predict_frame(pd.DataFrame([{**HOUSE, "sqft": 9000}, HOUSE]))

    expected = f"sqft 9,000 is beyond anything seen in training (max {limit:,.0f})"
    assert expected in warnings
    assert expected in frame["warning"].iloc[0]
    assert frame["warning"].iloc[1] is None
    assert predictor.predict_one(HouseFeatures(**HOUSE)).warnings == []


def test_predictions_flag_rare_locations(predictor: Predictor) -> None:
    profile = predictor.card.profile
    assert profile is not None
    counts = profile["categorical"]["location"]["counts"]
    rare, seen = min(counts.items(), key=lambda item: item[1])
    assert seen < 5, "the training data has no rare location to test with"

    warnings = predictor.predict_one(HouseFeatures(**{**HOUSE, "location": rare})).warnings

    assert f"location '{rare}' was seen fewer than 5 times in training ({seen})" in warnings


def test_a_card_without_a_profile_serves_without_drift_checks(predictor: Predictor) -> None:
    card = predictor.card.model_copy(update={"profile": None})
    old = Predictor.from_pipeline(predictor.pipeline, card)

    prediction = old.predict_one(HouseFeatures(**{**HOUSE, "sqft": 9000}))

    assert old.domain is None
    assert prediction.predicted_price > 0
    assert not any("beyond anything" in w for w in prediction.warnings)


def test_live_metrics_and_gates() -> None:
    metrics = live_metrics(
        [100.0, 200.0, 300.0], [110.0, 190.0, 330.0], [90, 180, 250], [120, 210, 290]
    )

    assert metrics["mae"] == pytest.approx(50 / 3)
    assert metrics["coverage"] == pytest.approx(2 / 3)
    verdict = check_gates(metrics, {"r2_min": 0.6, "mae_max": 10, "rmse_max": 100}, min_feedback=3)
    assert verdict["status"] == "breached"
    assert verdict["breached"] == ["mae_max"]
    assert check_gates(metrics, {"r2_min": 0.6}, min_feedback=30)["status"] == "insufficient"

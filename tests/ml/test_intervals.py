"""Per-house intervals: calibrated by group, the same on every path, old cards still served."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import KFold

from ml.card import IntervalCard
from ml.contract import FEATURE_COLUMNS, HouseFeatures
from ml.interval_evaluation import cross_fitted_radii
from ml.intervals import IntervalModel, _interp_one, calibrate
from ml.predict import Predictor, interval_model
from tests.support.model import ModelRegistry

NOISE = {"Fair": 0.40, "Average": 0.10, "Good": 0.05}  # log-price error scale per condition


@pytest.fixture(scope="module")
def predictor(model_registry: ModelRegistry) -> Predictor:
    return Predictor.load(model_registry.model_uri, tracking_uri=model_registry.tracking_uri)


def _synthetic(rows: int, seed: int) -> dict[str, np.ndarray]:
    """Houses whose error scale depends on condition and age: a known truth to calibrate to."""
    rng = np.random.default_rng(seed)
    conditions = rng.choice(list(NOISE), size=rows, p=[0.1, 0.6, 0.3])
    years = rng.integers(1890, 2010, size=rows).astype(np.float64)
    # Older houses are harder: twice the error before 1920, easing to the same from 1960.
    scale = np.array([NOISE[c] for c in conditions]) * np.interp(years, [1920, 1960], [2.0, 1.0])
    predicted = rng.normal(12.0, 0.4, size=rows)
    return {
        "log_predicted": predicted,
        "log_actual": predicted + rng.normal(0.0, 1.0, size=rows) * scale,
        "years": years,
        "conditions": conditions,
    }


@pytest.mark.slow
def test_calibrated_intervals_cover_each_group_at_the_level_on_fresh_data() -> None:
    train = _synthetic(3_000, seed=1)
    model = calibrate(**train, level=0.9, folds=KFold(5, shuffle=True, random_state=0))
    fresh = _synthetic(20_000, seed=2)
    effects = pd.Series(fresh["conditions"]).map(model.condition_effects).to_numpy(np.float64)
    radius = model.log_radius(fresh["log_predicted"], fresh["years"], effects)
    inside = np.abs(fresh["log_actual"] - fresh["log_predicted"]) <= radius
    old = fresh["years"] < 1940
    for condition in NOISE:
        for band in (old, ~old):
            group = (fresh["conditions"] == condition) & band
            # 20,000 houses: the smallest group has ~600, so 3 standard errors is under 0.04.
            assert inside[group].mean() == pytest.approx(0.9, abs=0.04), (condition, band[group][0])
    assert model.condition_effects["Fair"] > model.condition_effects["Average"]
    assert model.condition_effects["Average"] > model.condition_effects["Good"]


def test_card_coverage_by_group_is_measured_on_unseen_houses(
    predictor: Predictor, model_registry: ModelRegistry
) -> None:
    result = model_registry.result  # the quick model: 2,336 training, 585 hold-out houses
    section = predictor.card.interval  # as stored with the version
    assert section.by_group[0].houses == len(result.train_frame)
    assert section.holdout_by_group[0].houses == len(result.test_frame)
    assert section.by_group_measured_on is not None
    assert f"{len(result.train_frame):,} training houses" in section.by_group_measured_on
    # Groups of 150+ houses: a standard error of at most 0.025; about 3 of them either side.
    checked = [g for g in section.by_group if g.houses >= 150]
    assert {g.partition for g in checked} == {"all", "predicted price", "age band", "condition"}
    for group in checked:
        assert 0.82 <= group.coverage <= 0.97, group
    assert 0.87 <= section.by_group[0].coverage <= 0.93
    for group in section.holdout_by_group:
        if group.houses >= 80:
            assert 0.80 <= group.coverage <= 0.99, group
    assert section.mean_width < 2 * np.sinh(result.single_log_radius)
    widths = {g.group: g.mean_width for g in section.by_group}
    assert widths["cheapest fifth"] > widths["middle fifth"]


def test_a_cross_fitted_interval_never_sees_its_own_house() -> None:
    houses = _synthetic(400, seed=3)
    folds = KFold(5, shuffle=True, random_state=0)
    radii = cross_fitted_radii(**houses, level=0.9, folds=folds)
    held = next(iter(folds.split(radii)))[1]
    moved = {**houses, "log_actual": houses["log_actual"].copy()}
    moved["log_actual"][held] += 5.0  # the held fold's prices change wildly...
    again = cross_fitted_radii(**moved, level=0.9, folds=folds)
    np.testing.assert_array_equal(again[held], radii[held])  # ...its own intervals do not
    assert not np.array_equal(np.delete(again, held), np.delete(radii, held))


def test_cross_fitted_intervals_cover_fresh_data_near_the_level() -> None:
    houses = _synthetic(1_500, seed=4)
    radii = cross_fitted_radii(**houses, level=0.9, folds=KFold(5, shuffle=True, random_state=0))
    inside = np.abs(houses["log_actual"] - houses["log_predicted"]) <= radii
    # 1,500 houses: a standard error of 0.008; the bounds are about 4 of them.
    assert 0.865 <= inside.mean() <= 0.935
    fair = houses["conditions"] == "Fair"  # ~150 houses, four times the noise of the best
    assert 0.78 <= inside[fair].mean() <= 0.98
    assert radii[fair].mean() > 2 * radii[houses["conditions"] == "Good"].mean()


def test_every_path_gives_the_same_interval(
    predictor: Predictor, model_registry: ModelRegistry
) -> None:
    holdout = model_registry.result.test_frame[list(FEATURE_COLUMNS)]
    first = holdout.iloc[0].to_dict()
    odd = pd.DataFrame(
        [
            {**first, "condition": "Unheard Of"},
            {**first, "year_built": 1850, "condition": "Poor"},
        ]
    )
    frame = pd.concat([holdout, odd], ignore_index=True)
    houses = [HouseFeatures(**r) for r in frame.to_dict("records")]
    one = [predictor.predict_one(h) for h in houses]
    batch = predictor.predict_batch(houses)
    scored = predictor.predict_frame(frame.astype(str))
    lows = [p.interval.low for p in one]
    highs = [p.interval.high for p in one]
    np.testing.assert_allclose([p.interval.low for p in batch], lows, rtol=1e-6)
    np.testing.assert_allclose([p.interval.high for p in batch], highs, rtol=1e-6)
    np.testing.assert_allclose(scored["price_low"], lows, rtol=1e-6)
    np.testing.assert_allclose(scored["price_high"], highs, rtol=1e-6)
    shares = {round((p.interval.high - p.interval.low) / p.predicted_price, 3) for p in one}
    assert len(shares) > 10  # per house, not one radius


def test_a_card_from_before_per_house_intervals_serves_its_one_radius() -> None:
    model = interval_model(IntervalCard.model_validate({"level": 0.9, "log_radius": 0.25}))
    assert model.log_radius_one(12.0, 1920, "Poor") == pytest.approx(0.25)
    assert model.log_radius_one(13.0, 2005, "Good") == pytest.approx(0.25)
    assert model == IntervalModel.constant(0.9, 0.25)


@pytest.mark.parametrize("value", [1800.0, 1880.0, 1931.5, 1940.0, 1999.9, 2010.0, 2030.0])
def test_single_row_interpolation_equals_numpy(value: float) -> None:
    knots, effects = (1880.0, 1940.0, 2000.0, 2010.0), (0.3, -0.1, 0.2, 0.0)
    assert _interp_one(value, knots, effects) == pytest.approx(np.interp(value, knots, effects))

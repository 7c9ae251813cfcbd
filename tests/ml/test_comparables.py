"""Comparable sales: drawn from the version's own training rows, ranked, priced by the model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from ml.card_builder import build_card
from ml.comparables import (
    CONDITION_WEIGHT,
    DISTANCE_WEIGHTS,
    SalesIndex,
    comparable_column_names,
)
from ml.config import Gates, TrainConfig
from ml.contract import FEATURE_COLUMNS, HouseFeatures
from ml.data import file_sha256, load_training_data
from ml.features import CONDITION_SCORE
from ml.predict import Predictor
from ml.registry import log_and_register
from ml.train import TrainingResult, train
from tests.support.paths import DATA

SMALL_ROWS = 400
pytestmark = pytest.mark.slow  # the module trains and registers its own small model (~1 min)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Predictor, TrainingResult]:
    """A model trained and registered on 400 rows, loaded back from the registry."""
    frame = load_training_data(DATA).sample(SMALL_ROWS, random_state=3).reset_index(drop=True)
    config = TrainConfig(
        seed=5,
        cv_folds=3,
        calibration_folds=5,
        candidates={"xgboost": {"n_estimators": [80], "max_depth": [3], "learning_rate": [0.1]}},
        gates=Gates(r2_min=0.0, mae_max=1e9, rmse_max=1e9),
    )
    result = train(frame, config, progress=lambda _: None)
    card = build_card(result, data_path=DATA, data_sha256=file_sha256(DATA))
    store = f"sqlite:///{tmp_path_factory.mktemp('small-mlflow') / 'mlflow.db'}"
    registered = log_and_register(result, card, tracking_uri=store, config_path=None)
    uri = f"models:/{config.registered_model}/{registered.version}"
    return Predictor.load(uri, tracking_uri=store), result


def _training_rows(result: TrainingResult) -> set[tuple[object, ...]]:
    frame = result.train_frame[list(FEATURE_COLUMNS)]
    return {
        (*_key(row), float(price))
        for row, price in zip(frame.to_dict("records"), result.train_actual, strict=True)
    }


def _key(row: dict[str, Any]) -> tuple[object, ...]:
    return tuple(
        float(row[c]) if c not in ("location", "condition") else row[c] for c in FEATURE_COLUMNS
    )


def _houses(result: TrainingResult) -> list[HouseFeatures]:
    return [HouseFeatures(**row) for row in result.test_frame.head(25).to_dict("records")]


def test_every_comparable_is_a_training_row_of_that_version(
    small: tuple[Predictor, TrainingResult],
) -> None:
    predictor, result = small
    training = _training_rows(result)
    assert predictor.sales is not None
    assert len(predictor.sales) == len(result.train_frame)

    for house in _houses(result):
        comparables = predictor.predict_one(house, comparables=10).comparables
        assert comparables is not None
        assert len(comparables.sales) == 10
        assert comparables.pool_rows == len(result.train_frame)
        for sale in comparables.sales:
            assert (*_key(sale.house.model_dump()), sale.sale_price) in training


def test_comparables_come_from_the_neighbourhood_first_then_by_distance(
    small: tuple[Predictor, TrainingResult],
) -> None:
    predictor, result = small
    counts = result.train_frame["location"].value_counts()
    sparse = counts[(counts >= 2) & (counts <= 6)].index[0]  # fewer sales than asked for
    house = HouseFeatures(**{**result.test_frame.iloc[0].to_dict(), "location": sparse})

    sales = predictor.predict_one(house, comparables=10).comparables.sales  # type: ignore[union-attr]

    flags = [s.same_location for s in sales]
    assert flags == [True] * counts[sparse] + [False] * (10 - counts[sparse])
    for group in (True, False):
        distances = [s.distance for s in sales if s.same_location is group]
        assert distances == sorted(distances)


def test_ranking_matches_a_brute_force_search(small: tuple[Predictor, TrainingResult]) -> None:
    predictor, result = small
    train_rows = result.train_frame
    raw = _coordinates(train_rows)
    scale = raw.std(axis=0) / np.asarray([*DISTANCE_WEIGHTS.values(), CONDITION_WEIGHT])
    for house in _houses(result)[:10]:
        subject = _coordinates(pd.DataFrame([house.model_dump()]))[0]
        distance = np.sqrt((((raw - subject) / scale) ** 2).sum(axis=1))
        other = (train_rows["location"] != house.location).to_numpy()
        expected = np.lexsort((distance, other))[:5]

        sales = predictor.predict_one(house, comparables=5).comparables.sales  # type: ignore[union-attr]

        assert [s.distance for s in sales] == pytest.approx(distance[expected].tolist())
        assert [s.sale_price for s in sales] == result.train_actual[expected].tolist()


def _coordinates(frame: pd.DataFrame) -> np.ndarray:
    """The documented coordinates, written out independently: log size, year, rooms, condition."""
    condition = frame["condition"].map(CONDITION_SCORE).fillna(CONDITION_SCORE["Average"])
    return np.column_stack(
        [
            np.log(frame["sqft"].astype(float)),
            frame["year_built"].astype(float),
            frame["bedrooms"].astype(float),
            frame["bathrooms"].astype(float),
            condition.astype(float),
        ]
    )


def test_an_identical_training_house_comes_first_with_no_differences(
    small: tuple[Predictor, TrainingResult],
) -> None:
    predictor, result = small
    unique = ~result.train_frame.duplicated(keep=False)
    position = int(np.flatnonzero(unique.to_numpy())[7])
    house = HouseFeatures(**result.train_frame.iloc[position].to_dict())

    first = predictor.predict_one(house, comparables=3).comparables.sales[0]  # type: ignore[union-attr]

    assert first.distance == 0.0
    assert first.same_location
    assert first.sale_price == pytest.approx(float(result.train_actual[position]))
    assert first.differences.summary == []
    assert (first.differences.sqft, first.differences.bedrooms, first.differences.years_older) == (
        0,
        0,
        0,
    )


def test_adjusted_prices_are_consistent_with_the_model(
    small: tuple[Predictor, TrainingResult],
) -> None:
    predictor, result = small
    for house in _houses(result)[:10]:
        prediction = predictor.predict_one(house, comparables=6)
        comparables = prediction.comparables
        assert comparables is not None
        frame = pd.DataFrame([s.house.model_dump() for s in comparables.sales])
        model_prices = predictor.predict_frame(frame)["predicted_price"].to_numpy()
        for sale, model_price in zip(comparables.sales, model_prices, strict=True):
            assert sale.model_price == pytest.approx(model_price, rel=1e-5)
            assert sale.adjusted_price == pytest.approx(
                sale.sale_price * prediction.predicted_price / model_price, rel=1e-5
            )
        adjusted = [s.adjusted_price for s in comparables.sales]
        assert comparables.median_adjusted_price == pytest.approx(float(np.median(adjusted)))


def test_differences_are_typed_and_worded(small: tuple[Predictor, TrainingResult]) -> None:
    predictor, result = small
    house = _houses(result)[0]
    for sale in predictor.predict_one(house, comparables=10).comparables.sales:  # type: ignore[union-attr]
        diff, comp = sale.differences, sale.house
        assert diff.sqft == comp.sqft - house.sqft
        assert diff.bedrooms == comp.bedrooms - house.bedrooms
        assert diff.bathrooms == comp.bathrooms - house.bathrooms
        assert diff.years_older == house.year_built - comp.year_built
        assert diff.condition == (None if comp.condition == house.condition else comp.condition)
        if diff.years_older > 0:
            assert f"{diff.years_older} year{'s' if diff.years_older > 1 else ''} older" in (
                diff.summary
            )
        if diff.bedrooms < 0:
            assert any(text.endswith("fewer") and "bedroom" in text for text in diff.summary)


def test_a_version_without_stored_sales_warns_instead(
    small: tuple[Predictor, TrainingResult],
) -> None:
    predictor, result = small
    old = Predictor.from_pipeline(predictor.pipeline, predictor.card)

    prediction = old.predict_one(_houses(result)[0], comparables=3)

    assert prediction.comparables is None
    assert any("comparables are not available" in w for w in prediction.warnings)


def test_predict_frame_adds_the_same_comparables_as_columns(
    small: tuple[Predictor, TrainingResult],
) -> None:
    predictor, result = small
    rows = result.test_frame.head(6).astype(str)
    rows.loc[2, "sqft"] = "-4"

    scored = predictor.predict_frame(rows, comparables=3)

    assert list(scored.columns[-9:]) == comparable_column_names(3)
    assert scored.loc[2, comparable_column_names(3)].isna().all()
    for i in (0, 1, 3, 4, 5):
        house = HouseFeatures(**result.test_frame.iloc[i].to_dict())
        sales = predictor.predict_one(house, comparables=3).comparables.sales  # type: ignore[union-attr]
        for n, sale in enumerate(sales, start=1):
            assert scored.loc[i, f"comp{n}_price"] == pytest.approx(sale.sale_price)
            assert scored.loc[i, f"comp{n}_adjusted"] == pytest.approx(
                sale.adjusted_price, rel=1e-5
            )
            assert scored.loc[i, f"comp{n}_distance"] == pytest.approx(sale.distance)


def test_the_index_never_returns_more_than_it_holds(
    small: tuple[Predictor, TrainingResult],
) -> None:
    predictor, result = small
    tiny = SalesIndex.from_sales(predictor.sales.sales.head(2))  # type: ignore[union-attr]

    comparables = tiny.comparables(_houses(result)[0], price=200_000.0, k=5)

    assert len(comparables.sales) == 2

"""Spellings through a real model: one house and whole frames price as the canonical names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.categories import CategoryError
from ml.contract import EXAMPLE_HOUSE, FEATURE_COLUMNS, HouseFeatures
from ml.predict import Predictor
from tests.support.model import ModelRegistry
from tests.support.paths import DATA


@pytest.fixture(scope="module")
def predictor(model_registry: ModelRegistry) -> Predictor:
    return Predictor.load(model_registry.model_uri, tracking_uri=model_registry.tracking_uri)


@pytest.fixture(scope="module")
def houses() -> pd.DataFrame:
    return pd.read_csv(DATA, dtype=str)[list(FEATURE_COLUMNS)]


@pytest.mark.parametrize(
    ("changes", "canonical"),
    [
        ({"location": "north ames"}, {}),
        ({"location": " North   Ames "}, {}),
        ({"location": "North_Ames", "condition": "Above_Average"}, {"condition": "Above Average"}),
        ({"location": "north-ames"}, {}),
        ({"location": "NAmes", "condition": "6"}, {"condition": "Above Average"}),
        ({"condition": "TA"}, {}),
    ],
)
def test_one_house_spelled_otherwise_gets_the_canonical_price(
    predictor: Predictor, changes: dict[str, str], canonical: dict[str, str]
) -> None:
    expected = predictor.predict_one(HouseFeatures.model_validate({**EXAMPLE_HOUSE, **canonical}))

    got = predictor.predict_one(HouseFeatures.model_validate({**EXAMPLE_HOUSE, **changes}))

    assert got.predicted_price == expected.predicted_price
    assert got.interval == expected.interval
    assert got.warnings == expected.warnings == []


def test_one_near_miss_is_refused_naming_the_field_and_the_suggestion(predictor: Predictor) -> None:
    house = HouseFeatures.model_validate({**EXAMPLE_HOUSE, "location": "Nrth Ames"})

    with pytest.raises(CategoryError) as refused:
        predictor.predict_one(house)

    (problem,) = refused.value.problems
    assert (problem.field, problem.suggestion) == ("location", "North Ames")
    assert "did you mean 'North Ames'?" in problem.message


def test_an_unknown_name_warns_or_is_refused_when_strict(predictor: Predictor) -> None:
    house = HouseFeatures.model_validate({**EXAMPLE_HOUSE, "location": "Atlantis"})

    warned = predictor.predict_one(house)
    with pytest.raises(CategoryError) as refused:
        predictor.predict_one(house, unknown_categories="error")

    assert warned.warnings == [
        "location 'Atlantis' was not seen in training, so it is scored as unknown"
    ]
    assert [p.field for p in refused.value.problems] == ["location"]


def test_a_batch_refusal_names_each_row(predictor: Predictor) -> None:
    rows = [
        HouseFeatures.model_validate({**EXAMPLE_HOUSE, **changes})
        for changes in ({}, {"location": "Nrth Ames"}, {"condition": "Averge"})
    ]

    with pytest.raises(CategoryError) as refused:
        predictor.predict_batch(rows)

    assert [p.field for p in refused.value.problems] == ["rows.1.location", "rows.2.condition"]


@pytest.mark.parametrize(
    "spell",
    [
        lambda s: s.str.replace(" ", "_"),
        lambda s: s.str.lower(),
        lambda s: " " + s.str.upper().str.replace(" ", "-") + "  ",
    ],
    ids=["underscores", "lower-case", "upper-hyphens-padded"],
)
def test_every_sale_spelled_otherwise_prices_as_with_the_exact_names(
    predictor: Predictor, houses: pd.DataFrame, spell: object
) -> None:
    exact = predictor.score_frame(houses)
    spelled = houses.assign(**{c: spell(houses[c]) for c in ("location", "condition")})  # type: ignore[operator]

    scored = predictor.score_frame(spelled)

    np.testing.assert_array_equal(
        scored.table["predicted_price"].to_numpy(), exact.table["predicted_price"].to_numpy()
    )
    assert scored.table["error"].isna().all()
    assert scored.table["warning"].equals(exact.table["warning"])
    assert exact.rewrites == []
    counts = {(r.column, r.canonical): r.rows for r in scored.rewrites}
    assert counts[("location", "North Ames")] == (houses["location"] == "North Ames").sum()
    assert sum(r.rows for r in scored.rewrites if r.column == "condition") == sum(
        houses["condition"] != spelled["condition"]
    )


def test_ames_codes_price_as_the_names(predictor: Predictor, houses: pd.DataFrame) -> None:
    codes = {
        name: aliases[0]
        for name, aliases in predictor.matcher.aliases.columns["location"].items()
        if aliases
    }
    spelled = houses.assign(location=houses["location"].map(lambda n: codes.get(n, n)))

    scored = predictor.score_frame(spelled)

    expected = predictor.score_frame(houses).table["predicted_price"].to_numpy()
    np.testing.assert_array_equal(scored.table["predicted_price"].to_numpy(), expected)
    assert {r.sent: r.canonical for r in scored.rewrites}["NAmes"] == "North Ames"


def test_frame_near_misses_and_strict_unknowns_are_row_errors(predictor: Predictor) -> None:
    frame = pd.DataFrame(
        [
            {**EXAMPLE_HOUSE, "location": "Nrth Ames"},
            {**EXAMPLE_HOUSE, "location": "Atlantis"},
            {**EXAMPLE_HOUSE, "sqft": "x", "condition": "Averge"},
            dict(EXAMPLE_HOUSE),
        ]
    ).astype(str)

    warned = predictor.score_frame(frame).table
    strict = predictor.score_frame(frame, unknown_categories="error").table

    near = "location: 'Nrth Ames' is not a known location, did you mean 'North Ames'?"
    assert warned["error"].tolist()[0] == near
    assert warned["error"].tolist()[1] is None
    assert "Atlantis" in warned["warning"].tolist()[1]
    assert warned["error"].tolist()[2] == (
        "sqft: not a number; condition: 'Averge' is not a known condition, did you mean 'Average'?"
    )
    assert strict["error"].tolist()[1].startswith("location: 'Atlantis' is not a location")
    assert strict["error"].tolist()[3] is None
    assert np.isnan(strict["predicted_price"].to_numpy()[:3]).all()

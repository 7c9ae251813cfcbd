"""The input contract: one house through pydantic, many rows through the vectorised twin."""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from ml.contract import EXAMPLE_HOUSE, HouseFeatures, max_year_built, to_float, validate_frame

HOUSE = dict(EXAMPLE_HOUSE)


def test_a_valid_house_is_accepted_and_categories_are_stripped() -> None:
    house = HouseFeatures(**{**HOUSE, "location": "  North Ames "})
    assert house.location == "North Ames"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sqft", -5),
        ("sqft", 0),
        ("sqft", 10**7),
        ("bedrooms", 51),
        ("bedrooms", 2.5),
        ("bathrooms", 1.3),
        ("bathrooms", -1),
        ("year_built", 1700),
        ("location", "  "),
        ("condition", ""),
        ("bedrooms", False),
        ("sqft", True),
    ],
)
def test_predict_rejects_out_of_contract_values(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        HouseFeatures(**{**HOUSE, field: value})
    assert info.value.errors()[0]["loc"] == (field,)


def test_year_built_may_be_next_year_but_not_later() -> None:
    assert HouseFeatures(**{**HOUSE, "year_built": max_year_built()}).year_built == max_year_built()
    with pytest.raises(ValidationError):
        HouseFeatures(**{**HOUSE, "year_built": max_year_built() + 1})


def test_extra_fields_are_rejected() -> None:
    with pytest.raises(ValidationError):
        HouseFeatures(**{**HOUSE, "pool": True})


def test_vectorised_rules_agree_with_the_model_rules() -> None:
    rows = [
        HOUSE,
        {**HOUSE, "sqft": "abc"},
        {**HOUSE, "sqft": ""},
        {**HOUSE, "bedrooms": 2.5},
        {**HOUSE, "bathrooms": 1.3},
        {**HOUSE, "year_built": 1700},
        {**HOUSE, "location": " "},
        {**HOUSE, "sqft": 50},
        {**HOUSE, "condition": "x" * 65},
    ]
    frame = pd.DataFrame(rows).astype(str)
    reasons = validate_frame(frame).tolist()
    assert reasons == [
        None,
        "sqft: not a number",
        "sqft: missing",
        "bedrooms: must be a whole number between 0 and 50",
        "bathrooms: must be between 0 and 50 in steps of 0.5",
        f"year_built: must be a whole year between 1800 and {max_year_built()}",
        "location: missing",
        "sqft: must be between 100 and 100,000",
        "condition: longer than 64",
    ]
    for row, reason in zip(rows, reasons, strict=True):
        valid = True
        try:
            HouseFeatures(**{k: (v if v != "" else None) for k, v in row.items()})
        except ValidationError:
            valid = False
        assert valid == (reason is None)


def test_to_float_parses_text_and_marks_garbage_as_nan() -> None:
    parsed = to_float(pd.Series([" 12", "1e3", "x", "", None, "3.5"], dtype=object))
    assert parsed.iloc[[0, 1, 5]].tolist() == [12.0, 1000.0, 3.5]
    assert parsed.iloc[[2, 3, 4]].isna().all()

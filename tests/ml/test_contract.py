"""The input contract: one house through pydantic, many rows through the vectorised twin."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ml.contract import (
    EXAMPLE_HOUSE,
    HouseFeatures,
    describe_errors,
    error_message,
    max_year_built,
    parse_number,
)
from ml.frame_rules import coerce_frame, to_float, validate_frame

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


NUMBER_TEXT = st.one_of(
    st.text(alphabet="0123456789.+-eE _x\t", max_size=8),
    st.sampled_from(["inf", "-Infinity", "nan", "NaN", "1e400", "\u00a05", "\u0665", "+.5", "5."]),
)


@given(st.lists(NUMBER_TEXT, min_size=1, max_size=20))
def test_the_vectorised_parser_reads_text_exactly_as_the_scalar_rule(texts: list[str]) -> None:
    parsed = to_float(pd.Series(texts, dtype=object)).tolist()
    for text, value in zip(texts, parsed, strict=True):
        try:
            expected = parse_number(text)
        except ValueError:
            assert math.isnan(value), text
        else:
            assert value == expected, text


@pytest.mark.parametrize(
    ("bathrooms", "read_as"),
    [(1.5000000000000002, 1.5), (1e-9, 0.0), (-1e-9, 0.0), (49.99999999999, 50.0), (2, 2.0)],
)
def test_bathrooms_within_float_noise_of_a_half_step_are_that_step(
    bathrooms: float, read_as: float
) -> None:
    house = HouseFeatures(**{**HOUSE, "bathrooms": bathrooms})
    frame = pd.DataFrame([{**HOUSE, "bathrooms": repr(bathrooms)}], dtype=object)
    assert house.bathrooms == read_as
    assert coerce_frame(frame)["bathrooms"].tolist() == [read_as]
    assert validate_frame(frame).tolist() == [None]


@pytest.mark.parametrize("bathrooms", [1.25, 1.5001, 1.5 + 2e-6])
def test_bathrooms_off_the_half_step_are_refused_on_both_paths(bathrooms: float) -> None:
    with pytest.raises(ValidationError):
        HouseFeatures(**{**HOUSE, "bathrooms": bathrooms})
    frame = pd.DataFrame([{**HOUSE, "bathrooms": repr(bathrooms)}], dtype=object)
    assert validate_frame(frame).tolist() == ["bathrooms: must be between 0 and 50 in steps of 0.5"]


@pytest.mark.parametrize("text", ["1_656", "0x700", "inf", "NaN", "1,656", "\u0661\u0666"])
def test_text_that_python_reads_as_a_number_but_the_contract_does_not_is_refused(
    text: str,
) -> None:
    with pytest.raises(ValidationError) as info:
        HouseFeatures(**{**HOUSE, "sqft": text})
    assert describe_errors(info.value.errors())[0]["message"] == "not a number"
    frame = pd.DataFrame([{**HOUSE, "sqft": text}], dtype=object)
    assert validate_frame(frame).tolist() == ["sqft: not a number"]


def test_a_category_is_trimmed_before_its_length_is_checked() -> None:
    padded = " " + "x" * 64 + "  "
    assert HouseFeatures(**{**HOUSE, "location": padded}).location == "x" * 64
    frame = pd.DataFrame([{**HOUSE, "location": padded}], dtype=object)
    assert validate_frame(frame).tolist() == [None]


def test_a_row_with_several_bad_cells_reports_every_problem_in_column_order() -> None:
    rows = [
        {**HOUSE, "sqft": "", "bedrooms": "", "condition": ""},
        {**HOUSE, "year_built": "1700", "bathrooms": "1.25", "location": "x" * 65},
        {**HOUSE, "bedrooms": "lots"},
        HOUSE,
    ]
    reasons = validate_frame(pd.DataFrame(rows).astype(str)).tolist()
    assert reasons == [
        "sqft: missing; bedrooms: missing; condition: missing",
        "bathrooms: must be between 0 and 50 in steps of 0.5; location: longer than 64; "
        f"year_built: must be a whole year between 1800 and {max_year_built()}",
        "bedrooms: not a number",
        None,
    ]


def test_messages_for_people_carry_no_pydantic_prefix() -> None:
    with pytest.raises(ValidationError) as info:
        HouseFeatures(**{**HOUSE, "year_built": 2050, "sqft": "1_656", "bedrooms": True})
    messages = {e["field"]: e["message"] for e in describe_errors(info.value.errors())}
    assert messages == {
        "year_built": f"year_built must be at most {max_year_built()}",
        "sqft": "not a number",
        "bedrooms": "must be a number, not true or false",
    }
    assert error_message({"msg": "Assertion failed, must hold"}) == "must hold"

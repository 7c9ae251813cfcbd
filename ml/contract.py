"""The model's input and output contract, shared by the gateway, the workers and the UI.

``HouseFeatures`` validates one house; ``ml.frame_rules.validate_frame`` applies the same
rules, vectorised, to a CSV's rows and returns every problem of each bad row instead of
raising.
The rules are written once here (their vectorised form is ``ml/frame_rules.py``, kept
apart so that importing the contract, as the web form does, loads neither pandas nor
pyarrow), so every path (``/v1/predict``, batches, CSV jobs,
``/v2`` inference, the in-process ``Predictor``) accepts and refuses the same inputs:

- a number is ``[+-]digits[.digits][e[+-]digits]`` in ASCII, padding allowed, given as a
  JSON number or as text (``"1_656"``, ``"0x10"``, ``"inf"``, ``"nan"`` are not numbers);
- bathrooms within ``STEP_TOLERANCE`` of a half step are float noise and count as that
  step (``1.5000000000000002`` is 1.5); whole-number fields take no such tolerance;
- categories are trimmed first, then must be 1 to 64 characters.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

SQFT_RANGE = (100.0, 100_000.0)
BEDROOMS_RANGE = (0, 50)
BATHROOMS_RANGE = (0.0, 50.0)
YEAR_BUILT_MIN = 1800
MAX_CATEGORY_LENGTH = 64
BATHROOM_STEP = 0.5
# How far from a half step a bathroom count may be and still be that step (float noise,
# e.g. 1.5000000000000002 or 49.99999999999); anything further is refused.
STEP_TOLERANCE = 1e-6

FEATURE_COLUMNS: tuple[str, ...] = (
    "sqft",
    "bedrooms",
    "bathrooms",
    "location",
    "year_built",
    "condition",
)
NUMERIC_COLUMNS: tuple[str, ...] = ("sqft", "bedrooms", "bathrooms", "year_built")
CATEGORY_COLUMNS: tuple[str, ...] = ("location", "condition")
TARGET_COLUMN = "price"


# One ordinary house (the first sale in the data): the API's example and the tests' default.
EXAMPLE_HOUSE: dict[str, float | int | str] = {
    "sqft": 1656,
    "bedrooms": 3,
    "bathrooms": 1.5,
    "location": "North Ames",
    "year_built": 1960,
    "condition": "Average",
}


def max_year_built() -> int:
    """The latest plausible construction year: next year (houses sold before completion)."""
    return dt.date.today().year + 1


class HouseFeatures(BaseModel):
    """One house, as a client describes it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [dict(EXAMPLE_HOUSE)]},
    )

    sqft: Annotated[
        float,
        Field(
            ge=SQFT_RANGE[0],
            le=SQFT_RANGE[1],
            allow_inf_nan=False,
            description="Above-ground living area in square feet.",
        ),
    ]
    bedrooms: Annotated[
        int, Field(ge=BEDROOMS_RANGE[0], le=BEDROOMS_RANGE[1], description="Bedrooms above grade.")
    ]
    bathrooms: Annotated[
        float,
        Field(
            ge=BATHROOMS_RANGE[0],
            le=BATHROOMS_RANGE[1],
            multiple_of=BATHROOM_STEP,
            allow_inf_nan=False,
            description="Full bathrooms plus half bathrooms counted as 0.5.",
        ),
    ]
    location: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_CATEGORY_LENGTH,
            description="Neighbourhood; one the model has seen scores best (see GET /v1/model).",
        ),
    ]
    year_built: Annotated[
        int, Field(ge=YEAR_BUILT_MIN, description="Original construction year (up to next year).")
    ]
    condition: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_CATEGORY_LENGTH,
            description="Overall condition, e.g. 'Average', 'Good' (see GET /v1/model).",
        ),
    ]

    @field_validator("sqft", "bedrooms", "bathrooms", "year_built", mode="before")
    @classmethod
    def _a_number(cls, value: object, info: ValidationInfo) -> object:
        # pydantic's lax mode reads true/false as 1/0 and "1_656" as 1656; the contract
        # reads a number the same way on every path (``parse_number``).
        if isinstance(value, bool):
            raise ValueError("must be a number, not true or false")
        if isinstance(value, str):
            value = parse_number(value)
        if info.field_name == "bathrooms" and isinstance(value, (int, float)):
            return _snapped(value)
        return value

    @field_validator("year_built")
    @classmethod
    def _not_in_future(cls, value: int) -> int:
        if value > max_year_built():
            raise ValueError(f"year_built must be at most {max_year_built()}")
        return value

    @field_validator("location", "condition", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        # Trimmed before the length limits, as the CSV path does.
        if isinstance(value, str):
            value = value.strip()
            if not value:
                raise ValueError("must not be blank")
        return value


class PredictionInterval(BaseModel):
    """A split-conformal prediction interval in dollars."""

    low: float
    high: float
    level: float = Field(description="Nominal coverage, e.g. 0.9.")


class ComparableDifferences(BaseModel):
    """How a comparable sale differs from the house priced (comparable minus house)."""

    sqft: float = Field(description="Living area difference in square feet (positive: larger).")
    bedrooms: int = Field(description="Bedrooms more (positive) or fewer (negative).")
    bathrooms: float = Field(description="Bathrooms more (positive) or fewer (negative).")
    years_older: int = Field(description="Years built before the house (negative: newer).")
    condition: str | None = Field(description="The comparable's condition where it differs.")
    location: str | None = Field(description="The comparable's neighbourhood where it differs.")
    summary: list[str] = Field(
        description="The differences in words, e.g. '120 sqft larger', '2 bedrooms fewer'."
    )


class ComparableSale(BaseModel):
    """A sale the model version was trained on, and its price adjusted to the house."""

    house: HouseFeatures
    sale_price: float
    model_price: float = Field(description="The model's price for this sale (fixed at training).")
    adjusted_price: float = Field(
        description="sale_price × predicted_price / model_price: the sale priced as the house."
    )
    distance: float = Field(description="Similarity distance (0 = the same size, age and rooms).")
    same_location: bool
    differences: ComparableDifferences


class Comparables(BaseModel):
    """The training sales most similar to a house, most similar first."""

    sales: list[ComparableSale]
    median_adjusted_price: float
    pool_rows: int = Field(description="How many training sales of this version were searched.")


class Prediction(BaseModel):
    """One house's price, with its interval and the model that made it."""

    predicted_price: float
    interval: PredictionInterval
    model_version: str
    warnings: list[str] = Field(default_factory=list)
    contributions: dict[str, float] | None = Field(
        default=None,
        description="Dollars each feature adds to the baseline; baseline + sum = price.",
    )
    baseline: float | None = Field(default=None, description="Price of the average house.")
    prediction_id: str | None = Field(
        default=None,
        description="Id to report the actual sale price with (POST /v1/feedback).",
    )
    comparables: Comparables | None = Field(
        default=None, description="Comparable training sales, on request (?comparables=k)."
    )


# ASCII digits only (Python's \d would take other scripts' digits), ASCII padding only.
NUMBER_PATTERN = (
    r"^[ \t\r\n\f\v]*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?[ \t\r\n\f\v]*$"
)
_NUMBER_TEXT = re.compile(NUMBER_PATTERN)


def parse_number(text: str) -> float:
    """A number written as text, by the contract's grammar; ``ValueError`` if it is not one."""
    if not _NUMBER_TEXT.fullmatch(text):
        raise ValueError("not a number")
    return float(text)


def snap_to_step(values: np.ndarray, step: float = BATHROOM_STEP) -> np.ndarray:
    """Values within ``STEP_TOLERANCE`` of a multiple of ``step`` become that multiple."""
    steps = np.round(values / step)
    with np.errstate(invalid="ignore"):
        near = np.abs(values - steps * step) <= STEP_TOLERANCE
    return np.where(near, steps * step + 0.0, values)  # + 0.0: no negative zero


def _snapped(value: float) -> float:
    try:
        return float(snap_to_step(np.array([value], dtype=np.float64))[0])
    except OverflowError:  # an integer beyond float range: the range check refuses it
        return value


def unseen_category_warning(column: str, value: str, *, in_data: int = 0) -> str:
    """The warning for a category the model never saw (every path words it so).

    ``in_data``: how many sales of the data set have it although the training split has
    none (0: unknown to the data set too). No warning text holds "; ": a CSV's ``warning``
    cell joins a row's warnings with it.
    """
    if in_data:
        sales = f"{in_data} sale{'s' if in_data > 1 else ''}"
        return (
            f"{column} '{value}' has only {sales} in the data set, none in the training "
            "split, so it is scored as unknown"
        )
    return f"{column} '{value}' was not seen in training, so it is scored as unknown"


def describe_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic validation errors as compact ``{field, message, value}`` records."""
    return [
        {
            "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body") or None,
            "message": error_message(err),
            "type": err.get("type"),
        }
        for err in errors
    ]


# What pydantic puts before the text of a ValueError (or assert) raised in a validator.
_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


def error_message(error: Mapping[str, Any]) -> str:
    """A pydantic error's message for a person, without pydantic's "Value error, " prefix."""
    message = str(error.get("msg") or "invalid")
    for prefix in _PYDANTIC_PREFIXES:
        message = message.removeprefix(prefix)
    return message

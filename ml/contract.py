"""The model's input and output contract, shared by the gateway, the workers and the UI.

``HouseFeatures`` validates one house; ``validate_frame`` applies the same rules,
vectorised, to a CSV's rows and returns a reason per bad row instead of raising.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, field_validator

SQFT_RANGE = (100.0, 100_000.0)
BEDROOMS_RANGE = (0, 50)
BATHROOMS_RANGE = (0.0, 50.0)
YEAR_BUILT_MIN = 1800
MAX_CATEGORY_LENGTH = 64

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
            multiple_of=0.5,
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
    def _not_a_boolean(cls, value: object) -> object:
        # pydantic's lax mode reads true/false as 1/0; a house has no 'true' bedrooms.
        if isinstance(value, bool):
            raise ValueError("must be a number, not true or false")
        return value

    @field_validator("year_built")
    @classmethod
    def _not_in_future(cls, value: int) -> int:
        if value > max_year_built():
            raise ValueError(f"year_built must be at most {max_year_built()}")
        return value

    @field_validator("location", "condition")
    @classmethod
    def _strip(cls, value: str) -> str:
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


def validate_frame(frame: pd.DataFrame, coerced: pd.DataFrame | None = None) -> pd.Series:
    """The reason each row breaks the contract (``None`` where it is valid), vectorised.

    ``frame`` holds the raw feature columns (any dtype, typically strings from a CSV);
    pass ``coerced`` (from ``coerce_frame``) when the caller already has it.
    """
    values = coerce_frame(frame) if coerced is None else coerced
    reasons: list[Reason] = []
    for column in NUMERIC_COLUMNS:
        unparsed = values[column].isna()
        blank = pd.Series(False, index=frame.index)
        if unparsed.any():
            text = frame.loc[unparsed, column]
            blank[unparsed] = text.isna() | (text.astype(str).str.strip() == "")
        reasons.append(_reason(blank, f"{column}: missing"))
        reasons.append(_reason(unparsed & ~blank, f"{column}: not a number"))
    reasons.extend(_range_reasons(values))
    for column in CATEGORY_COLUMNS:
        text = values[column]
        reasons.append(_reason(text.isna() | (text == ""), f"{column}: missing"))
        too_long = (text.str.len() > MAX_CATEGORY_LENGTH).fillna(False)
        reasons.append(_reason(too_long, f"{column}: longer than {MAX_CATEGORY_LENGTH}"))
    return _first_reason(reasons, frame.index)


def coerce_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric columns as float64 (unparseable -> NaN), categories as stripped strings."""
    out = pd.DataFrame(index=frame.index)
    for column in NUMERIC_COLUMNS:
        out[column] = to_float(frame[column])
    for column in CATEGORY_COLUMNS:
        out[column] = frame[column].astype("string").str.strip()
    return out


_NUMBER = r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$"


def to_float(values: pd.Series) -> pd.Series:
    """Parse a column as float64 (NaN where it is not a number), at Arrow speed for text."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    # Arrow-backed strings (pandas' default) are handed over without a copy.
    arrow = pa.array(values.astype("string"), pa.string())
    text = arrow if isinstance(arrow, pa.ChunkedArray) else pa.chunked_array([arrow])
    # Clean numbers cast at once; padded ones after a trim; anything else through a regex.
    for prepare in (_unchanged, pc.utf8_trim_whitespace):
        try:
            parsed = pc.cast(prepare(text), pa.float64())
            break
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    else:
        numeric = pc.match_substring_regex(text, _NUMBER)
        parsed = pc.cast(pc.utf8_trim_whitespace(pc.if_else(numeric, text, None)), pa.float64())
    return pd.Series(parsed.to_numpy(), index=values.index, dtype="float64")


def _unchanged(text: pa.ChunkedArray) -> pa.ChunkedArray:
    return text


def _range_reasons(values: pd.DataFrame) -> list[Reason]:
    sqft, beds, baths, year = (values[c] for c in NUMERIC_COLUMNS)
    finite = {c: np.isfinite(values[c]) for c in NUMERIC_COLUMNS}
    return [
        _reason(
            finite["sqft"] & ((sqft < SQFT_RANGE[0]) | (sqft > SQFT_RANGE[1])),
            f"sqft: must be between {SQFT_RANGE[0]:,.0f} and {SQFT_RANGE[1]:,.0f}",
        ),
        _reason(values["sqft"].isin([np.inf, -np.inf]), "sqft: not a finite number"),
        _reason(
            finite["bedrooms"]
            & ((beds < BEDROOMS_RANGE[0]) | (beds > BEDROOMS_RANGE[1]) | (beds % 1 != 0)),
            f"bedrooms: must be a whole number between {BEDROOMS_RANGE[0]} and {BEDROOMS_RANGE[1]}",
        ),
        _reason(
            finite["bathrooms"]
            & ((baths < BATHROOMS_RANGE[0]) | (baths > BATHROOMS_RANGE[1]) | (baths % 0.5 != 0)),
            f"bathrooms: must be between {BATHROOMS_RANGE[0]:g} and {BATHROOMS_RANGE[1]:g} "
            "in steps of 0.5",
        ),
        _reason(
            finite["year_built"]
            & ((year < YEAR_BUILT_MIN) | (year > max_year_built()) | (year % 1 != 0)),
            f"year_built: must be a whole year between {YEAR_BUILT_MIN} and {max_year_built()}",
        ),
    ]


Reason = tuple[np.ndarray, str]


def _reason(mask: pd.Series, text: str) -> Reason:
    return mask.to_numpy(dtype=bool, na_value=False), text


def _first_reason(reasons: list[Reason], index: pd.Index) -> pd.Series:
    """The first failing rule's text per row, None where every rule holds."""
    first = np.full(len(index), None, dtype=object)
    undecided = np.ones(len(index), dtype=bool)
    for mask, text in reasons:
        hit = mask & undecided
        if hit.any():
            first[hit] = text
            undecided &= ~hit
    return pd.Series(first, index=index, dtype=object)


def describe_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic validation errors as compact ``{field, message, value}`` records."""
    return [
        {
            "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body") or None,
            "message": err.get("msg", "invalid"),
            "type": err.get("type"),
        }
        for err in errors
    ]

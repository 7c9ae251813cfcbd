"""The model's input and output contract, shared by the gateway, the workers and the UI.

``HouseFeatures`` validates one house; ``validate_frame`` applies the same rules,
vectorised, to a CSV's rows and returns a reason per bad row instead of raising.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import numpy as np
import pandas as pd
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


def max_year_built() -> int:
    """The latest plausible construction year: next year (houses sold before completion)."""
    return dt.date.today().year + 1


class HouseFeatures(BaseModel):
    """One house, as a client describes it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "sqft": 1656,
                    "bedrooms": 3,
                    "bathrooms": 1.5,
                    "location": "North Ames",
                    "year_built": 1960,
                    "condition": "Average",
                }
            ]
        },
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


def validate_frame(frame: pd.DataFrame) -> pd.Series:
    """The reason each row breaks the contract (``None`` where it is valid), vectorised.

    ``frame`` holds the raw feature columns (any dtype, typically strings from a CSV).
    The returned Series shares its index; numeric columns are coerced in the caller via
    ``coerce_frame``.
    """
    reasons: list[pd.Series] = []
    coerced = coerce_frame(frame)
    for column in NUMERIC_COLUMNS:
        raw = frame[column]
        missing = raw.isna() | (raw.astype("string").str.strip() == "")
        value = coerced[column]
        reasons.append(_reason(missing, f"{column}: missing"))
        reasons.append(_reason(~missing & value.isna(), f"{column}: not a number"))
    reasons.extend(_range_reasons(coerced))
    for column in CATEGORY_COLUMNS:
        text = frame[column].astype("string").str.strip()
        reasons.append(_reason(text.isna() | (text == ""), f"{column}: missing"))
        too_long = text.str.len() > MAX_CATEGORY_LENGTH
        reasons.append(
            _reason(too_long.fillna(False), f"{column}: longer than {MAX_CATEGORY_LENGTH}")
        )
    return _first_reason(reasons, frame.index)


def coerce_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric columns as float64 (unparseable -> NaN), categories as stripped strings."""
    out = pd.DataFrame(index=frame.index)
    for column in NUMERIC_COLUMNS:
        out[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    for column in CATEGORY_COLUMNS:
        out[column] = frame[column].astype("string").str.strip().astype(object)
    return out


def _range_reasons(values: pd.DataFrame) -> list[pd.Series]:
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
            f"bedrooms: must be a whole number between {BEDROOMS_RANGE[0]} and "
            f"{BEDROOMS_RANGE[1]}",
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


def _reason(mask: pd.Series, text: str) -> pd.Series:
    return pd.Series(np.where(mask.to_numpy(dtype=bool), text, None), index=mask.index)


def _first_reason(reasons: list[pd.Series], index: pd.Index) -> pd.Series:
    result = pd.Series([None] * len(index), index=index, dtype=object)
    for reason in reasons:
        result = result.where(result.notna(), reason)
    return result


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

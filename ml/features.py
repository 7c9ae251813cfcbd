"""Engineered features and the preprocessing ColumnTransformer.

Every feature is computed from the six contract inputs only: nothing is derived from
the price, so nothing leaks. Each derived feature is written once, in ``derive``, and
evaluated on floats (one house, the single-row fast path) or on arrays (training and
``encode_frame``); tests hold the paths bit-equal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar, TypeVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import OneHotEncoder, StandardScaler

# Overall condition, worst to best, as the Ames data grades it.
CONDITION_ORDER: tuple[str, ...] = (
    "Very Poor",
    "Poor",
    "Fair",
    "Below Average",
    "Average",
    "Above Average",
    "Good",
    "Very Good",
    "Excellent",
    "Very Excellent",
)
CONDITION_SCORE = {name: float(rank) for rank, name in enumerate(CONDITION_ORDER, start=1)}
# An unknown condition sits at 'Average' on the ordinal scale (the one-hot part ignores it).
AVERAGE_SCORE = CONDITION_SCORE["Average"]
# The Ames sales end in 2010: ages are counted from there so a model means the same
# thing whenever it is served.
REFERENCE_YEAR = 2010

RAW_NUMERIC = ("sqft", "bedrooms", "bathrooms", "year_built")
ENGINEERED = ("house_age", "bed_bath_ratio", "condition_score", "sqft_per_room")
# How a house compares with its neighbourhood, from training *inputs* only (never price).
CONTEXT = ("loc_median_sqft", "loc_median_year", "loc_sqft_ratio", "loc_year_diff")
DERIVED: tuple[str, ...] = ENGINEERED + CONTEXT  # what ``derive`` returns, in this order
NUMERIC_FEATURES: tuple[str, ...] = RAW_NUMERIC + DERIVED
CATEGORICAL_FEATURES: tuple[str, ...] = ("location", "condition")
V = TypeVar("V", float, np.ndarray)  # one house's value, or many houses' values


class FeatureBuilder(TransformerMixin, BaseEstimator):
    """Adds the engineered features; learns each location's median size and age on fit.

    ``transform`` (training, pandas), ``numeric_columns`` (``FastEncoder.encode_frame``, numpy)
    and ``engineer_row`` (``FastEncoder.encode_one``, plain floats) all compute the derived
    features with ``derive``, their one definition; only how values are looked up differs.
    """

    # The derived features ``derive`` returns, in order (a subclass adding one extends both).
    derived: ClassVar[tuple[str, ...]] = DERIVED

    @property
    def numeric_features(self) -> tuple[str, ...]:
        """The numeric columns this builder produces: the raw numbers, then ``derived``."""
        return RAW_NUMERIC + self.derived

    def fit(self, frame: pd.DataFrame, y: object = None) -> FeatureBuilder:
        """Learn per-location medians of sqft and year_built (inputs only, never price)."""
        sqft = frame["sqft"].astype("float64")
        year = frame["year_built"].astype("float64")
        location = frame["location"].astype(str)
        self.default_: tuple[float, float] = (float(sqft.median()), float(year.median()))
        self.sqft_medians_: dict[str, float] = sqft.groupby(location).median().to_dict()
        self.year_medians_: dict[str, float] = year.groupby(location).median().to_dict()
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The contract columns plus every engineered feature, as float64 and strings."""
        location = frame["location"].astype(object)
        condition = frame["condition"].astype(object)
        numeric = self.numeric_columns(frame, Factorized(location), Factorized(condition))
        named = dict(zip(self.numeric_features, numeric, strict=True))
        columns = {
            **{name: named[name] for name in RAW_NUMERIC},
            "location": location,
            "condition": condition,
            **{name: named[name] for name in self.derived},
        }
        return pd.DataFrame(columns, index=frame.index)

    def numeric_columns(
        self, frame: pd.DataFrame, location: Factorized, condition: Factorized
    ) -> tuple[np.ndarray, ...]:
        """Every numeric feature of a frame, in ``numeric_features`` order, as float64 arrays.

        The category columns come factorized, so each lookup runs once per distinct value
        (and a caller that needs the codes again factorizes once).
        """
        sqft, bedrooms, bathrooms, year_built = (
            frame[column].to_numpy(dtype=np.float64) for column in RAW_NUMERIC
        )
        default_sqft, default_year = self.default_
        derived = self.derive(
            sqft=sqft,
            bedrooms=bedrooms,
            bathrooms=bathrooms,
            year_built=year_built,
            condition_score=condition.lookup(CONDITION_SCORE, AVERAGE_SCORE),
            median_sqft=location.lookup(self.sqft_medians_, default_sqft),
            median_year=location.lookup(self.year_medians_, default_year),
            maximum=np.maximum,
        )
        return (sqft, bedrooms, bathrooms, year_built, *derived)

    def engineer_row(
        self,
        *,
        sqft: float,
        bedrooms: float,
        bathrooms: float,
        year_built: float,
        location: str,
        condition: str,
    ) -> tuple[float, ...]:
        """One house's numeric features in ``numeric_features`` order, as ``transform`` does."""
        sqft, bedrooms, bathrooms, year_built = (
            float(sqft),
            float(bedrooms),
            float(bathrooms),
            float(year_built),
        )
        derived = self.derive(
            sqft=sqft,
            bedrooms=bedrooms,
            bathrooms=bathrooms,
            year_built=year_built,
            condition_score=CONDITION_SCORE.get(condition, AVERAGE_SCORE),
            median_sqft=self.sqft_medians_.get(location, self.default_[0]),
            median_year=self.year_medians_.get(location, self.default_[1]),
            maximum=max,
        )
        return (sqft, bedrooms, bathrooms, year_built, *derived)

    @staticmethod
    def derive(
        *,
        sqft: V,
        bedrooms: V,
        bathrooms: V,
        year_built: V,
        condition_score: V,
        median_sqft: V,
        median_year: V,
        maximum: Callable[[V, float], V],
    ) -> tuple[V, ...]:
        """The derived features in ``derived`` order: their one definition.

        The same formulas for one house (floats, ``maximum=max``) and for many (float64 arrays,
        ``maximum=np.maximum``), so both give bit-equal values. The three looked-up values
        (the condition's score, the location's medians) come in already looked up.
        """
        return (
            REFERENCE_YEAR - year_built,  # house_age
            # Half a bathroom stands in for none, so a house without a bathroom stays finite.
            bedrooms / maximum(bathrooms, 0.5),  # bed_bath_ratio
            condition_score,
            sqft / (bedrooms + bathrooms + 1.0),  # sqft_per_room
            median_sqft,  # loc_median_sqft
            median_year,  # loc_median_year
            sqft / median_sqft,  # loc_sqft_ratio
            year_built - median_year,  # loc_year_diff
        )


class Factorized:
    """A category column as codes into its distinct values (missing values: code -1)."""

    def __init__(self, values: pd.Series) -> None:
        codes, uniques = pd.factorize(values)  # Arrow strings: dictionary-encoded in Arrow
        self.codes = np.asarray(codes, dtype=np.int64)
        self.uniques = [str(u) for u in uniques]

    def lookup(self, table: Mapping[str, float], default: float) -> np.ndarray:
        """``table[value]`` for each row, ``default`` where the value is unknown or missing."""
        per_value = [table.get(u, default) for u in self.uniques] + [default]
        return np.asarray(per_value, dtype=np.float64)[self.codes]

    def positions(self, columns: Mapping[str, int]) -> np.ndarray:
        """Each row's one-hot column (-1 where the value is unseen or missing)."""
        per_value = [columns.get(u, -1) for u in self.uniques] + [-1]
        return np.asarray(per_value, dtype=np.int64)[self.codes]


def build_preprocessor(
    scale: bool = True, *, numeric_features: Sequence[str] = NUMERIC_FEATURES
) -> ColumnTransformer:
    """Scaling of numeric features and one-hot encoding of categories, dense output."""
    numeric = StandardScaler() if scale else "passthrough"
    return ColumnTransformer(
        [
            ("num", numeric, list(numeric_features)),
            (
                "cat",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64),
                list(CATEGORICAL_FEATURES),
            ),
        ],
        sparse_threshold=0.0,
        verbose_feature_names_out=False,
    )


# Each model feature is credited to the input a person gave that it mostly describes,
# so explanations speak of the six inputs, not of engineered columns.
INPUT_OF_FEATURE = {
    "sqft": "sqft",
    "sqft_per_room": "sqft",
    "loc_sqft_ratio": "sqft",
    "bedrooms": "bedrooms",
    "bed_bath_ratio": "bedrooms",
    "bathrooms": "bathrooms",
    "year_built": "year_built",
    "house_age": "year_built",
    "loc_year_diff": "year_built",
    "loc_median_sqft": "location",
    "loc_median_year": "location",
    "condition_score": "condition",
}


def feature_groups(output_names: Sequence[str]) -> list[str]:
    """The input each transformed column is credited to (one-hot columns to their category)."""
    groups = []
    for name in output_names:
        category = next((c for c in CATEGORICAL_FEATURES if name.startswith(f"{c}_")), None)
        groups.append(category or INPUT_OF_FEATURE[name])
    return groups

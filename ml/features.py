"""Engineered features and the preprocessing ColumnTransformer.

Every feature is computed from the six contract inputs only: nothing is derived from
the price, so nothing leaks. ``FeatureBuilder.engineer_row`` is the plain-Python twin of
``FeatureBuilder.transform`` used by the single-row fast path; tests hold the two equal.
"""

from __future__ import annotations

from collections.abc import Sequence

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
# The Ames sales end in 2010: ages are counted from there so a model means the same
# thing whenever it is served.
REFERENCE_YEAR = 2010

RAW_NUMERIC = ("sqft", "bedrooms", "bathrooms", "year_built")
ENGINEERED = ("house_age", "bed_bath_ratio", "condition_score", "sqft_per_room")
# How a house compares with its neighbourhood, from training *inputs* only (never price).
CONTEXT = ("loc_median_sqft", "loc_median_year", "loc_sqft_ratio", "loc_year_diff")
NUMERIC_FEATURES: tuple[str, ...] = RAW_NUMERIC + ENGINEERED + CONTEXT
CATEGORICAL_FEATURES: tuple[str, ...] = ("location", "condition")


class FeatureBuilder(TransformerMixin, BaseEstimator):
    """Adds the engineered features; learns each location's median size and age on fit."""

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
        out = add_features(frame)
        location = out["location"]
        out["loc_median_sqft"] = _lookup(location, self.sqft_medians_, self.default_[0])
        out["loc_median_year"] = _lookup(location, self.year_medians_, self.default_[1])
        out["loc_sqft_ratio"] = out["sqft"] / out["loc_median_sqft"]
        out["loc_year_diff"] = out["year_built"] - out["loc_median_year"]
        return out

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
        """One house's numeric features in ``NUMERIC_FEATURES`` order, as ``transform`` does."""
        sqft, bedrooms, bathrooms, year_built = (
            float(sqft),
            float(bedrooms),
            float(bathrooms),
            float(year_built),
        )
        median_sqft = self.sqft_medians_.get(location, self.default_[0])
        median_year = self.year_medians_.get(location, self.default_[1])
        return (
            sqft,
            bedrooms,
            bathrooms,
            year_built,
            REFERENCE_YEAR - year_built,
            bedrooms / max(bathrooms, 0.5),
            CONDITION_SCORE.get(condition, CONDITION_SCORE["Average"]),
            sqft / (bedrooms + bathrooms + 1.0),
            median_sqft,
            median_year,
            sqft / median_sqft,
            year_built - median_year,
        )


def _lookup(keys: pd.Series, table: dict[str, float], default: float) -> pd.Series:
    return keys.map(table).astype("float64").fillna(default)


def add_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The contract columns plus the row-wise engineered features."""
    out = pd.DataFrame(index=frame.index)
    for column in RAW_NUMERIC:
        out[column] = frame[column].astype("float64")
    for column in CATEGORICAL_FEATURES:
        out[column] = frame[column].astype(object)
    out["house_age"] = REFERENCE_YEAR - out["year_built"]
    # Half a bathroom stands in for none, so a house without a bathroom stays finite.
    out["bed_bath_ratio"] = out["bedrooms"] / np.maximum(out["bathrooms"], 0.5)
    # An unknown condition sits at 'Average' on the ordinal scale (the one-hot part ignores it).
    out["condition_score"] = (
        out["condition"].map(CONDITION_SCORE).astype("float64").fillna(CONDITION_SCORE["Average"])
    )
    out["sqft_per_room"] = out["sqft"] / (out["bedrooms"] + out["bathrooms"] + 1.0)
    return out


def build_preprocessor(scale: bool = True) -> ColumnTransformer:
    """Scaling of numeric features and one-hot encoding of categories, dense output."""
    numeric = StandardScaler() if scale else "passthrough"
    return ColumnTransformer(
        [
            ("num", numeric, list(NUMERIC_FEATURES)),
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

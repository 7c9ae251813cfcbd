"""Engineered features: correct, leakage-free, and the fast path's twin equals the frame path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ml.features import NUMERIC_FEATURES, REFERENCE_YEAR, FeatureBuilder, add_features

DATA = Path(__file__).resolve().parents[2] / "data" / "house_data.csv"


def sample() -> pd.DataFrame:
    return pd.read_csv(DATA).head(300)


def test_house_age_and_bed_bath_ratio() -> None:
    frame = pd.DataFrame(
        {
            "sqft": [1000, 800],
            "bedrooms": [3, 2],
            "bathrooms": [1.5, 0.0],
            "location": ["A", "A"],
            "year_built": [1990, 2000],
            "condition": ["Good", "Nope"],
        }
    )
    out = add_features(frame)
    assert out["house_age"].tolist() == [REFERENCE_YEAR - 1990, REFERENCE_YEAR - 2000]
    assert out["bed_bath_ratio"].tolist() == [2.0, 4.0]  # zero bathrooms count as half
    assert np.isfinite(out[list(out.columns.drop(["location", "condition"]))]).all().all()
    assert out["condition_score"].tolist() == [7.0, 5.0]  # unknown condition sits at Average


def test_features_ignore_the_price_so_nothing_leaks() -> None:
    frame = sample()
    builder = FeatureBuilder().fit(frame)
    shuffled = frame.assign(price=frame["price"].sample(frac=1.0, random_state=1).to_numpy())
    refit = FeatureBuilder().fit(shuffled)
    pd.testing.assert_frame_equal(builder.transform(frame), refit.transform(shuffled))
    assert "price" not in builder.transform(frame).columns


def test_engineer_row_equals_transform_row_by_row() -> None:
    frame = sample()
    builder = FeatureBuilder().fit(frame.iloc[:200])
    table = builder.transform(frame)[list(NUMERIC_FEATURES)].to_numpy()
    for i, row in enumerate(frame.to_dict("records")):
        fast = builder.engineer_row(
            sqft=row["sqft"],
            bedrooms=row["bedrooms"],
            bathrooms=row["bathrooms"],
            year_built=row["year_built"],
            location=row["location"],
            condition=row["condition"],
        )
        assert np.array_equal(np.asarray(fast), table[i])


def test_unknown_location_falls_back_to_overall_medians() -> None:
    frame = sample()
    builder = FeatureBuilder().fit(frame)
    out = builder.transform(frame.head(1).assign(location="Atlantis"))
    assert out["loc_median_sqft"].iloc[0] == frame["sqft"].median()

"""Engineered features: correct, leakage-free, written once and bit-equal on every path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.encoding import FastEncoder
from ml.features import (
    DERIVED,
    NUMERIC_FEATURES,
    REFERENCE_YEAR,
    FeatureBuilder,
    build_preprocessor,
)

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
    out = FeatureBuilder().fit(frame).transform(frame)
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


def test_engineer_row_of_an_unknown_location_and_condition_equals_transform() -> None:
    frame = sample()
    builder = FeatureBuilder().fit(frame)
    odd = frame.head(1).assign(location="Atlantis", condition="Unheard Of")
    table = builder.transform(odd)[list(NUMERIC_FEATURES)].to_numpy()
    row = odd.iloc[0]
    fast = builder.engineer_row(
        sqft=row["sqft"],
        bedrooms=row["bedrooms"],
        bathrooms=row["bathrooms"],
        year_built=row["year_built"],
        location="Atlantis",
        condition="Unheard Of",
    )
    assert np.array_equal(np.asarray(fast), table[0])


class WithRooms(FeatureBuilder):
    """The builder plus one feature, written once: the number of rooms."""

    derived = (*DERIVED, "rooms")

    @staticmethod
    def derive(**inputs: Any) -> tuple[Any, ...]:
        return (*FeatureBuilder.derive(**inputs), inputs["bedrooms"] + inputs["bathrooms"])


def test_a_feature_defined_once_reaches_training_encode_one_and_encode_frame() -> None:
    frame = sample()
    builder = WithRooms().fit(frame)
    trained = builder.transform(frame)
    preprocessor = build_preprocessor(numeric_features=builder.numeric_features).fit(trained)
    encoder = FastEncoder.from_steps(builder, preprocessor)
    reference = preprocessor.transform(trained)
    rooms = list(preprocessor.get_feature_names_out()).index("rooms")

    assert trained["rooms"].tolist() == (frame["bedrooms"] + frame["bathrooms"]).tolist()
    one = np.vstack(
        [
            encoder.encode_one(
                **{c: r[c] for c in (*NUMERIC_FEATURES[:4], "location", "condition")}
            )
            for r in frame.to_dict("records")
        ]
    )
    many = encoder.encode_frame(frame)
    assert np.array_equal(one, reference)  # the single-row path: bit-equal to training
    assert np.array_equal(many, reference.astype(np.float32))  # the frame path, as float32
    assert one[:, rooms].std() > 0  # the new column is there and carries the feature

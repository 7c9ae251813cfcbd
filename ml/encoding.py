"""A pandas-free twin of the fitted preprocessing, for the single-row fast path.

``FastEncoder.from_pipeline`` reads the fitted ColumnTransformer (scaler statistics and
one-hot categories) once; ``encode_one`` then fills a preallocated row with plain Python
arithmetic, and ``encode_frame`` does the same vectorised for many rows. Both produce
exactly the matrix the pipeline's own ``transform`` would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer

from ml.features import (
    CATEGORICAL_FEATURES,
    Factorized,
    FeatureBuilder,
    feature_groups,
)

ROWS_PER_BLOCK = 16_384


@dataclass(frozen=True)
class FastEncoder:
    """Scaling and one-hot encoding of the model's features, without pandas."""

    features: FeatureBuilder
    mean: np.ndarray
    scale: np.ndarray
    categories: dict[str, dict[str, int]]
    width: int
    output_names: tuple[str, ...]

    @classmethod
    def from_steps(cls, features: FeatureBuilder, preprocessor: ColumnTransformer) -> FastEncoder:
        """Read the fitted statistics out of the pipeline's feature and preprocessing steps."""
        numeric = preprocessor.named_transformers_["num"]
        n_numeric = len(features.numeric_features)
        if numeric == "passthrough":
            mean, scale = np.zeros(n_numeric), np.ones(n_numeric)
        else:
            mean = np.asarray(numeric.mean_, dtype=np.float64)
            scale = np.asarray(numeric.scale_, dtype=np.float64)
        encoder = preprocessor.named_transformers_["cat"]
        categories: dict[str, dict[str, int]] = {}
        offset = n_numeric
        for column, values in zip(CATEGORICAL_FEATURES, encoder.categories_, strict=True):
            categories[column] = {str(v): offset + i for i, v in enumerate(values)}
            offset += len(values)
        names = tuple(str(n) for n in preprocessor.get_feature_names_out())
        return cls(features, mean, scale, categories, offset, names)

    @property
    def groups(self) -> list[str]:
        """The model feature each encoded column belongs to."""
        return feature_groups(self.output_names)

    def known(self, column: str, value: str) -> bool:
        """Whether the model saw this category in training."""
        return value in self.categories[column]

    def encode_one(
        self,
        *,
        sqft: float,
        bedrooms: float,
        bathrooms: float,
        year_built: float,
        location: str,
        condition: str,
    ) -> np.ndarray:
        """One encoded row of shape (1, width), float64."""
        row = np.zeros((1, self.width), dtype=np.float64)
        numeric = self.features.engineer_row(
            sqft=sqft,
            bedrooms=bedrooms,
            bathrooms=bathrooms,
            year_built=year_built,
            location=location,
            condition=condition,
        )
        row[0, : len(numeric)] = (np.asarray(numeric) - self.mean) / self.scale
        for column, value in (("location", location), ("condition", condition)):
            index = self.categories[column].get(value)
            if index is not None:
                row[0, index] = 1.0
        return row

    def encode_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Encoded rows for a frame of valid, typed contract columns (float32, C order).

        The features come from ``FeatureBuilder.numeric_columns``, as in training; the
        scaling and one-hot are the fitted ColumnTransformer's, done on whole arrays. Each
        category column is factorized once, for the lookups and the one-hot alike. XGBoost
        reads features as float32, so the matrix is float32 (half the memory, the same
        predictions).
        """
        location = Factorized(frame["location"])
        condition = Factorized(frame["condition"])
        numeric = self.features.numeric_columns(frame, location, condition)
        matrix = np.zeros((len(frame), self.width), dtype=np.float32)
        # Block by rows: writing one column of a wide matrix touches every row's cache
        # line, so each block of rows gets all its columns while it is still in cache.
        for start in range(0, len(frame), ROWS_PER_BLOCK):
            block = slice(start, start + ROWS_PER_BLOCK)
            for i, values in enumerate(numeric):
                matrix[block, i] = (values[block] - self.mean[i]) / self.scale[i]
        rows = np.arange(len(frame))
        for column, factorized in (("location", location), ("condition", condition)):
            target = factorized.positions(self.categories[column])
            hit = target >= 0
            matrix[rows[hit], target[hit]] = 1.0
        return matrix

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
    NUMERIC_FEATURES,
    FeatureBuilder,
    feature_groups,
)


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
        n_numeric = len(NUMERIC_FEATURES)
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
        """Encoded rows for a frame of valid, typed contract columns."""
        engineered = self.features.transform(frame)
        matrix = np.zeros((len(frame), self.width), dtype=np.float64)
        numeric = engineered[list(NUMERIC_FEATURES)].to_numpy(dtype=np.float64)
        matrix[:, : len(NUMERIC_FEATURES)] = (numeric - self.mean) / self.scale
        rows = np.arange(len(frame))
        for column in CATEGORICAL_FEATURES:
            lookup = self.categories[column]
            known = list(lookup)
            codes = pd.Categorical(engineered[column], categories=known).codes
            hit = codes >= 0
            columns = np.asarray([lookup[k] for k in known], dtype=np.int64)[codes[hit]]
            matrix[rows[hit], columns] = 1.0
        return matrix

"""Comparable sales: the training sales most like a house, priced as if they were it.

At training, ``training_sales`` keeps the rows the model was fitted on (inputs and sale
price) with the model's own price for each; that table is stored with the version and
loaded by the Predictor as a ``SalesIndex``. Serving then measures distance on size,
age, rooms and condition (each scaled by its spread in training, size on a log scale,
so 10 % larger counts the same at any size), ranks sales in the subject's neighbourhood
before all others, and adjusts each sale price by the model's ratio:
``sale price × model(subject) / model(comparable)``. One search is a few numpy passes
over the table (about 2,300 rows), tens of microseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.contract import (
    FEATURE_COLUMNS,
    TARGET_COLUMN,
    ComparableDifferences,
    Comparables,
    ComparableSale,
    HouseFeatures,
)
from ml.features import CONDITION_SCORE

MAX_COMPARABLES = 10
MAX_JOB_COMPARABLES = 3
MODEL_PRICE_COLUMN = "model_price"
SALES_COLUMNS: tuple[str, ...] = (*FEATURE_COLUMNS, TARGET_COLUMN, MODEL_PRICE_COLUMN)
# Size and age say most about a house's price; rooms and condition refine the match.
DISTANCE_WEIGHTS = {"log_sqft": 1.0, "year_built": 1.0, "bedrooms": 0.5, "bathrooms": 0.5}
CONDITION_WEIGHT = 0.5
# Added to the distance of every sale outside the subject's neighbourhood: larger than any
# real distance, so the neighbourhood's own sales always come first.
OTHER_LOCATION_PENALTY = 1e6
BLOCK_ROWS = 256


def training_sales(
    features: pd.DataFrame, prices: np.ndarray, model_prices: np.ndarray
) -> pd.DataFrame:
    """The table stored with a version: each training row's inputs, sale and model price."""
    table = features[list(FEATURE_COLUMNS)].reset_index(drop=True).copy()
    table[TARGET_COLUMN] = np.asarray(prices, dtype=np.float64)
    table[MODEL_PRICE_COLUMN] = np.asarray(model_prices, dtype=np.float64)
    return table


@dataclass(frozen=True)
class SalesIndex:
    """The training sales of one version, ready for nearest-neighbour searches."""

    sales: pd.DataFrame
    points: np.ndarray  # (n, 5): scaled, weighted distance coordinates
    scale: np.ndarray  # divides raw coordinates; weights folded in
    location_codes: np.ndarray
    locations: dict[str, int]
    prices: np.ndarray
    model_prices: np.ndarray
    houses: list[HouseFeatures]  # each sale's inputs, built once so a search only picks

    @classmethod
    def from_sales(cls, sales: pd.DataFrame) -> SalesIndex:
        """Index a stored sales table (columns ``SALES_COLUMNS``)."""
        sales = sales[list(SALES_COLUMNS)].reset_index(drop=True)
        raw = _coordinates(sales)
        weights = np.asarray([*DISTANCE_WEIGHTS.values(), CONDITION_WEIGHT])
        spread = raw.std(axis=0)
        scale = np.where(spread > 0, spread, 1.0) / weights
        codes, names = pd.factorize(sales["location"].astype(str))
        return cls(
            sales=sales,
            points=raw / scale,
            scale=scale,
            location_codes=np.asarray(codes, dtype=np.int64),
            locations={str(name): i for i, name in enumerate(names)},
            prices=sales[TARGET_COLUMN].to_numpy(dtype=np.float64),
            model_prices=sales[MODEL_PRICE_COLUMN].to_numpy(dtype=np.float64),
            houses=_houses(sales),
        )

    def __len__(self) -> int:
        return len(self.sales)

    def nearest(self, houses: pd.DataFrame, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` closest sales per house (rows of ``sales``, best first) and distances.

        ``houses`` holds typed, valid contract columns. Same-neighbourhood sales rank
        first, each group by distance; searched in blocks so memory stays small.
        """
        codes = np.asarray([self.locations.get(str(v), -1) for v in houses["location"]])
        return self._nearest_points(_coordinates(houses) / self.scale, codes, k)

    def _nearest_points(
        self, points: np.ndarray, codes: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self))
        order = np.empty((len(points), k), dtype=np.int64)
        for start in range(0, len(points), BLOCK_ROWS):
            block = slice(start, start + BLOCK_ROWS)
            order[block] = self._nearest_block(points[block], codes[block], k)
        distances = np.sqrt(
            ((self.points[order] - points[:, None, :]) ** 2).sum(axis=2, dtype=np.float64)
        )
        return order, distances

    def _nearest_block(self, points: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
        squared = np.zeros((len(points), len(self)), dtype=np.float64)
        for j in range(points.shape[1]):
            squared += (self.points[None, :, j] - points[:, j, None]) ** 2
        distance = np.sqrt(squared)
        distance += (self.location_codes[None, :] != codes[:, None]) * OTHER_LOCATION_PENALTY
        top = np.argpartition(distance, k - 1, axis=1)[:, :k]
        ranked = np.argsort(np.take_along_axis(distance, top, axis=1), axis=1, kind="stable")
        return np.take_along_axis(top, ranked, axis=1)

    def comparables(self, house: HouseFeatures, *, price: float, k: int) -> Comparables:
        """The ``k`` comparable sales of one house priced ``price`` by the model."""
        # One house: its coordinates without pandas (a DataFrame alone costs ~0.3 ms).
        average = CONDITION_SCORE["Average"]
        raw = (
            math.log(house.sqft),
            house.year_built,
            house.bedrooms,
            house.bathrooms,
            CONDITION_SCORE.get(house.condition, average),
        )
        points = np.asarray([raw], dtype=np.float64) / self.scale
        codes = np.asarray([self.locations.get(house.location, -1)])
        order, distances = self._nearest_points(points, codes, k)
        sales = [
            self._sale(house, int(row), float(distance), price)
            for row, distance in zip(order[0], distances[0], strict=True)
        ]
        median = float(np.median([s.adjusted_price for s in sales]))
        return Comparables(sales=sales, median_adjusted_price=median, pool_rows=len(self))

    def _sale(
        self, house: HouseFeatures, row: int, distance: float, price: float
    ) -> ComparableSale:
        comparable = self.houses[row]
        sale_price = float(self.prices[row])
        return ComparableSale(
            house=comparable,
            sale_price=sale_price,
            model_price=float(self.model_prices[row]),
            adjusted_price=sale_price * price / float(self.model_prices[row]),
            distance=distance,
            same_location=comparable.location == house.location,
            differences=describe_differences(house, comparable),
        )


def describe_differences(
    subject: HouseFeatures, comparable: HouseFeatures
) -> ComparableDifferences:
    """How ``comparable`` differs from ``subject``, as typed values and in words."""
    sqft = float(comparable.sqft - subject.sqft)
    bedrooms = int(comparable.bedrooms - subject.bedrooms)
    bathrooms = float(comparable.bathrooms - subject.bathrooms)
    older = int(subject.year_built - comparable.year_built)
    condition = comparable.condition if comparable.condition != subject.condition else None
    location = comparable.location if comparable.location != subject.location else None
    summary = [
        text
        for text in (
            _more_or_less(sqft, "sqft", "larger", "smaller", plural="sqft"),
            _more_or_less(bedrooms, "bedroom", "more", "fewer"),
            _more_or_less(bathrooms, "bathroom", "more", "fewer"),
            _more_or_less(older, "year", "older", "newer"),
            f"condition {condition} (this house: {subject.condition})" if condition else None,
            f"in {location}" if location else None,
        )
        if text
    ]
    return ComparableDifferences(
        sqft=sqft,
        bedrooms=bedrooms,
        bathrooms=bathrooms,
        years_older=older,
        condition=condition,
        location=location,
        summary=summary,
    )


def comparable_columns(index: SalesIndex | None, houses: pd.DataFrame, k: int) -> pd.DataFrame:
    """Job columns ``comp{i}_price``, ``comp{i}_adjusted``, ``comp{i}_distance`` (i = 1..k).

    ``houses`` holds valid rows' typed inputs and their ``predicted_price``; columns stay
    empty where the model has no stored sales (or fewer than ``k``).
    """
    empty = np.full(len(houses), np.nan)
    found = 0
    if index is not None and len(houses):
        order, distances = index.nearest(houses, k)
        price = houses["predicted_price"].to_numpy(dtype=np.float64)
        found = order.shape[1]
    values: list[np.ndarray] = []
    for i in range(k):
        if index is not None and i < found:
            rows = order[:, i]
            adjusted = index.prices[rows] * price / index.model_prices[rows]
            values += [index.prices[rows], adjusted, distances[:, i]]
        else:
            values += [empty, empty, empty]
    names = comparable_column_names(k)
    return pd.DataFrame(dict(zip(names, values, strict=True)), index=houses.index)


def comparable_column_names(k: int) -> list[str]:
    """The job columns of ``k`` comparables, in order."""
    return [
        f"comp{i}_{name}" for i in range(1, k + 1) for name in ("price", "adjusted", "distance")
    ]


def _coordinates(frame: pd.DataFrame) -> np.ndarray:
    average = CONDITION_SCORE["Average"]
    condition = [CONDITION_SCORE.get(str(v), average) for v in frame["condition"]]
    return np.column_stack(
        [
            np.log(frame["sqft"].to_numpy(dtype=np.float64)),
            frame["year_built"].to_numpy(dtype=np.float64),
            frame["bedrooms"].to_numpy(dtype=np.float64),
            frame["bathrooms"].to_numpy(dtype=np.float64),
            np.asarray(condition, dtype=np.float64),
        ]
    )


def _more_or_less(
    value: float, unit: str, up: str, down: str, *, plural: str | None = None
) -> str | None:
    if value == 0:
        return None
    size = abs(value)
    amount = f"{size:,.0f}" if float(size).is_integer() else f"{size:g}"
    name = unit if size == 1 else (plural or f"{unit}s")
    return f"{amount} {name} {up if value > 0 else down}"


def _houses(sales: pd.DataFrame) -> list[HouseFeatures]:
    """Each stored sale as a ``HouseFeatures`` (trusted: it passed validation at training)."""
    columns = zip(
        sales["sqft"].astype(float).tolist(),
        sales["bedrooms"].astype(int).tolist(),
        sales["bathrooms"].astype(float).tolist(),
        sales["location"].astype(str).tolist(),
        sales["year_built"].astype(int).tolist(),
        sales["condition"].astype(str).tolist(),
        strict=True,
    )
    return [
        HouseFeatures.model_construct(**dict(zip(FEATURE_COLUMNS, values, strict=True)))
        for values in columns
    ]

"""How well prediction intervals hold by group: predicted-price quintile, age band, condition."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.card import GroupCoverage
from ml.features import CONDITION_SCORE

AGE_BANDS = ((1940, "before 1940"), (1980, "1940-79"), (2000, "1980-99"), (None, "2000 on"))
QUINTILES = ("cheapest fifth", "2nd fifth", "middle fifth", "4th fifth", "dearest fifth")
# Conditions at the ends of the scale are rare: grouped so that each group has houses enough.
WORST_GROUP, BEST_GROUP = "Below Average or worse", "Very Good or better"


def coverage_by_group(
    frame: pd.DataFrame,
    *,
    actual: np.ndarray,
    predicted: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
) -> list[GroupCoverage]:
    """Coverage and mean relative width overall and per group (``frame``: the contract inputs)."""
    inside = (actual >= low) & (actual <= high)
    width = (high - low) / predicted
    partitions = {
        "all": np.full(len(frame), "all houses", dtype=object),
        "predicted price": price_quintiles(predicted),
        "age band": age_bands(frame["year_built"].to_numpy(dtype=np.float64)),
        "condition": condition_groups(frame["condition"].astype(str).to_numpy()),
    }
    table = pd.DataFrame({"inside": inside, "width": width})
    rows = []
    for partition, labels in partitions.items():
        grouped = table.groupby(labels, sort=False)
        for group in _ordered(partition, [str(g) for g in grouped.groups]):
            part = grouped.get_group(group)
            rows.append(
                GroupCoverage(
                    partition=partition,
                    group=str(group),
                    houses=len(part),
                    coverage=float(part["inside"].mean()),
                    mean_width=float(part["width"].mean()),
                )
            )
    return rows


def price_quintiles(predicted: np.ndarray) -> np.ndarray:
    """Each house's fifth of the predicted prices it is evaluated with."""
    edges = np.quantile(predicted, [0.2, 0.4, 0.6, 0.8])
    return np.asarray(QUINTILES, dtype=object)[np.searchsorted(edges, predicted, side="right")]


def age_bands(years: np.ndarray) -> np.ndarray:
    """Before 1940, 1940-79, 1980-99, 2000 on."""
    edges = [edge for edge, _ in AGE_BANDS if edge is not None]
    names = np.asarray([name for _, name in AGE_BANDS], dtype=object)
    return names[np.searchsorted(edges, years, side="right")]


def condition_groups(conditions: np.ndarray) -> np.ndarray:
    """The condition, with the rare ends of the scale pooled."""
    average = CONDITION_SCORE["Average"]
    scores = np.array([CONDITION_SCORE.get(c, average) for c in conditions])
    grouped = np.where(scores <= CONDITION_SCORE["Below Average"], WORST_GROUP, conditions)
    return np.where(scores >= CONDITION_SCORE["Very Good"], BEST_GROUP, grouped).astype(object)


def _ordered(partition: str, present: list[str]) -> list[str]:
    order = {
        "predicted price": QUINTILES,
        "age band": tuple(name for _, name in AGE_BANDS),
    }.get(partition)
    if order is None:
        return sorted(present, key=lambda g: CONDITION_SCORE.get(g.split(" or ")[0], 0.0))
    return [g for g in order if g in present]

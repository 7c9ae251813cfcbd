"""Houses for requests and CSV jobs: one valid house, plausible random ones, real sales."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pandas as pd

from ml.contract import EXAMPLE_HOUSE
from tests.support.paths import DATA

# The contract's example house (the first sale in the data), a location and condition the
# test model knows. Copy it before changing a field.
HOUSE: dict[str, Any] = dict(EXAMPLE_HOUSE)
HEADER = "sqft,bedrooms,bathrooms,location,year_built,condition"
ID_HEADER = "row_id," + HEADER
LOCATIONS = ("North Ames", "College Creek", "Old Town", "Edwards", "Somerset")


def houses_csv(rows: int, *, seed: int = 0, invalid_every: int = 0, header: str = HEADER) -> bytes:
    """A CSV of plausible houses; every ``invalid_every``-th row has a negative sqft."""
    rng = random.Random(seed)
    lines = [header]
    for i in range(rows):
        bad = invalid_every and i % invalid_every == invalid_every - 1
        sqft = -5 if bad else rng.randint(600, 3500)
        lines.append(
            f"{sqft},{rng.randint(1, 5)},{rng.choice((1, 1.5, 2, 2.5))},"
            f"{rng.choice(LOCATIONS)},{rng.randint(1900, 2020)},Average"
        )
    return ("\n".join(lines) + "\n").encode()


def numbered_houses(rows: int, *, seed: int = 0, invalid_every: int = 997) -> bytes:
    """A CSV of ``rows`` houses, each with a unique ``row_id``; some rows invalid (sqft < 0)."""
    rng = np.random.default_rng(seed)
    sqft = rng.integers(600, 3500, rows)
    if invalid_every:
        sqft[invalid_every - 1 :: invalid_every] = -5
    bedrooms = rng.integers(1, 6, rows)
    bathrooms = rng.choice(["1", "1.5", "2", "2.5"], rows)
    location = rng.choice(LOCATIONS, rows)
    year = rng.integers(1900, 2021, rows)
    lines = [ID_HEADER]
    lines.extend(
        f"r{i},{s},{b},{ba},{loc},{y},Average"
        for i, s, b, ba, loc, y in zip(
            range(rows),
            sqft.tolist(),
            bedrooms.tolist(),
            bathrooms.tolist(),
            location.tolist(),
            year.tolist(),
            strict=True,
        )
    )
    return ("\n".join(lines) + "\n").encode()


def houses(count: int, *, seed: int = 3) -> pd.DataFrame:
    """Real houses with their sale prices."""
    return pd.read_csv(DATA).sample(count, random_state=seed).reset_index(drop=True)


def rows_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The contract's columns of each house, as request rows."""
    columns = ["sqft", "bedrooms", "bathrooms", "location", "year_built", "condition"]
    return frame[columns].to_dict(orient="records")

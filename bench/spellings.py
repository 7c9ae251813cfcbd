"""The champion's error on every sale of the data, with its categories spelled four ways.

    .venv/bin/python bench/spellings.py

Scores all rows of ``data/house_data.csv`` (in-sample: the point is the spelling, not the
generalisation) with the names exactly as the model knows them, with underscores
(``North_Ames``, as in R's modeldata and many CSV exports), in lower case, and as the Ames
data's own codes (``NAmes``; conditions as the 1-10 ``Overall Cond`` scale), and prints
the MAE of each with how many rows were priced, rejected and warned. Uses only
``Predictor.predict_frame`` and reads the codes straight from ``ml/aliases.yaml``, so the
same script measures a checkout from before spellings were matched (run it there with
``PYTHONPATH=<that checkout>``). Needs a trained model (``hpp train``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from core.settings import CoreSettings
from ml.contract import FEATURE_COLUMNS
from ml.predict import Predictor

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "house_data.csv"
ALIASES = ROOT / "ml" / "aliases.yaml"


def ames_codes() -> dict[str, dict[str, str]]:
    """Per column, each name's first alias in the table (the Ames code)."""
    table = yaml.safe_load(ALIASES.read_text())
    return {
        column: {str(name): str(aliases[0]) for name, aliases in names.items() if aliases}
        for column, names in table.items()
    }


def spellings() -> dict[str, Callable[[pd.Series, str], pd.Series]]:
    """How each variant writes a category column."""
    codes = ames_codes()
    return {
        "exact names": lambda s, _: s,
        "underscores": lambda s, _: s.str.replace(" ", "_"),
        "lower case": lambda s, _: s.str.lower(),
        "Ames codes": lambda s, column: s.map(lambda v: codes[column].get(v, v)),
    }


def main() -> None:
    """Score each variant and print the table."""
    core = CoreSettings()
    predictor = Predictor.load(core.champion_uri(), tracking_uri=core.resolved_tracking_uri())
    data = pd.read_csv(DATA)
    houses = data[list(FEATURE_COLUMNS)].astype(str)
    actual = data["price"].to_numpy(dtype=np.float64)
    print(f"model {predictor.card.name} v{predictor.version}, {len(data):,} sales")
    print("| spelling | MAE | priced | rejected | warned |")
    print("|---|---:|---:|---:|---:|")
    for name, spell in spellings().items():
        frame = houses.assign(**{c: spell(houses[c], c) for c in ("location", "condition")})
        scored = predictor.predict_frame(frame)
        prices = scored["predicted_price"].to_numpy(dtype=np.float64)
        priced = ~np.isnan(prices)
        mae = float(np.mean(np.abs(prices[priced] - actual[priced]))) if priced.any() else np.nan
        warned = int(scored["warning"].notna().sum())
        print(
            f"| {name} | {mae / 1000:,.1f}K | {int(priced.sum()):,} | "
            f"{int((~priced).sum()):,} | {warned:,} |"
        )


if __name__ == "__main__":
    main()

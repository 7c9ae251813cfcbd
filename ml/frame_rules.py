"""The contract's rules, vectorised: every problem of each row of a frame, without raising.

``validate_frame`` and ``coerce_frame`` apply ``ml.contract``'s rules (numbers by its
grammar, bathrooms on their step, trimmed categories of 1 to 64 characters) to whole
columns at Arrow speed, for CSV jobs, ``/v2`` inference and the data checks. They live
apart from the contract so that the web form, which imports the contract, does not load
pandas and pyarrow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ml.contract import (
    BATHROOM_STEP,
    BATHROOMS_RANGE,
    BEDROOMS_RANGE,
    CATEGORY_COLUMNS,
    FEATURE_COLUMNS,
    MAX_CATEGORY_LENGTH,
    NUMBER_PATTERN,
    NUMERIC_COLUMNS,
    SQFT_RANGE,
    YEAR_BUILT_MIN,
    max_year_built,
    snap_to_step,
)


def range_rules(values: pd.DataFrame) -> list[tuple[str, pd.Series, str]]:
    """``(column, broken, message)`` for the numeric limits, on parsed finite values."""
    sqft, beds, baths, year = (values[c] for c in NUMERIC_COLUMNS)
    return [
        (
            "sqft",
            (sqft < SQFT_RANGE[0]) | (sqft > SQFT_RANGE[1]),
            f"must be between {SQFT_RANGE[0]:,.0f} and {SQFT_RANGE[1]:,.0f}",
        ),
        (
            "bedrooms",
            (beds < BEDROOMS_RANGE[0]) | (beds > BEDROOMS_RANGE[1]) | (beds % 1 != 0),
            f"must be a whole number between {BEDROOMS_RANGE[0]} and {BEDROOMS_RANGE[1]}",
        ),
        (
            "bathrooms",
            (baths < BATHROOMS_RANGE[0])
            | (baths > BATHROOMS_RANGE[1])
            | (baths % BATHROOM_STEP != 0),
            f"must be between {BATHROOMS_RANGE[0]:g} and {BATHROOMS_RANGE[1]:g} "
            f"in steps of {BATHROOM_STEP:g}",
        ),
        (
            "year_built",
            (year < YEAR_BUILT_MIN) | (year > max_year_built()) | (year % 1 != 0),
            f"must be a whole year between {YEAR_BUILT_MIN} and {max_year_built()}",
        ),
    ]


def validate_frame(frame: pd.DataFrame, coerced: pd.DataFrame | None = None) -> pd.Series:
    """Every problem of each row, joined with '; ' (``None`` where it is valid), vectorised.

    ``frame`` holds the raw feature columns (any dtype, typically strings from a CSV);
    pass ``coerced`` (from ``coerce_frame``) when the caller already has it. Problems are
    listed in column order, at most one per column.
    """
    values = coerce_frame(frame) if coerced is None else coerced
    limits = {column: (broken, message) for column, broken, message in range_rules(values)}
    reasons: list[Reason] = []
    for column in FEATURE_COLUMNS:
        if column in CATEGORY_COLUMNS:
            reasons.extend(_category_reasons(column, values[column]))
        else:
            reasons.extend(_number_reasons(column, frame[column], values[column], limits[column]))
    return _joined_reasons(reasons, frame.index)


def coerce_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric columns as float64 (not a number -> NaN, bathrooms on their step), categories
    as stripped strings."""
    out = pd.DataFrame(index=frame.index)
    for column in NUMERIC_COLUMNS:
        out[column] = to_float(frame[column])
    out["bathrooms"] = snap_to_step(out["bathrooms"].to_numpy())
    for column in CATEGORY_COLUMNS:
        out[column] = frame[column].astype("string").str.strip()
    return out


def to_float(values: pd.Series) -> pd.Series:
    """Parse a column as float64 (NaN where it is not a number), at Arrow speed for text."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    # Arrow-backed strings (pandas' default) are handed over without a copy.
    arrow = pa.array(values.astype("string"), pa.string())
    text = arrow if isinstance(arrow, pa.ChunkedArray) else pa.chunked_array([arrow])
    # Clean numbers cast at once; padded ones after a trim; anything else through a regex.
    for prepare in (_unchanged, pc.ascii_trim_whitespace):
        try:
            parsed = pc.cast(prepare(text), pa.float64()).to_numpy()
            break
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    else:
        parsed = _cast_numbers(text).to_numpy()
    infinite = np.isinf(parsed)
    if infinite.any():  # Arrow also reads "inf", "Infinity": not numbers by the contract
        parsed = np.where(infinite, _cast_numbers(text).to_numpy(), parsed)
    return pd.Series(parsed, index=values.index, dtype="float64")


def _cast_numbers(text: pa.ChunkedArray) -> pa.ChunkedArray:
    """The grammar's numbers cast to float64, null for anything else."""
    numeric = pc.match_substring_regex(text, NUMBER_PATTERN)
    return pc.cast(pc.ascii_trim_whitespace(pc.if_else(numeric, text, None)), pa.float64())


def _unchanged(text: pa.ChunkedArray) -> pa.ChunkedArray:
    return text


Reason = tuple[np.ndarray, str]


def _number_reasons(
    column: str, raw: pd.Series, parsed: pd.Series, limit: tuple[pd.Series, str]
) -> list[Reason]:
    unparsed = parsed.isna()
    blank = pd.Series(False, index=raw.index)
    if unparsed.any():
        text = raw.loc[unparsed]
        blank[unparsed] = text.isna() | (text.astype(str).str.strip() == "")
    finite = np.isfinite(parsed)
    broken, message = limit
    return [
        _reason(blank, f"{column}: missing"),
        _reason(unparsed & ~blank, f"{column}: not a number"),
        _reason(~unparsed & ~finite, f"{column}: not a finite number"),
        _reason(finite & broken, f"{column}: {message}"),
    ]


def _category_reasons(column: str, text: pd.Series) -> list[Reason]:
    too_long = (text.str.len() > MAX_CATEGORY_LENGTH).fillna(False)
    return [
        _reason(text.isna() | (text == ""), f"{column}: missing"),
        _reason(too_long, f"{column}: longer than {MAX_CATEGORY_LENGTH}"),
    ]


def _reason(mask: pd.Series, text: str) -> Reason:
    return mask.to_numpy(dtype=bool, na_value=False), text


def _joined_reasons(reasons: list[Reason], index: pd.Index) -> pd.Series:
    """Each row's failing rules' texts joined with '; ', None where every rule holds.

    Vectorised: a row's failing rules become the bits of one integer, and the text is
    built once per distinct combination (a file has few), not once per row.
    """
    codes = np.zeros(len(index), dtype=np.uint64)
    for bit, (mask, _) in enumerate(reasons):
        if mask.any():
            codes |= mask.astype(np.uint64) << np.uint64(bit)
    out = np.full(len(index), None, dtype=object)
    bad = np.flatnonzero(codes)
    if len(bad):
        combos, inverse = np.unique(codes[bad], return_inverse=True)
        texts = np.array([_combined_text(int(c), reasons) for c in combos], dtype=object)
        out[bad] = texts[inverse.reshape(-1)]
    return pd.Series(out, index=index, dtype=object)


def _combined_text(code: int, reasons: list[Reason]) -> str:
    return "; ".join(text for bit, (_, text) in enumerate(reasons) if code >> bit & 1)

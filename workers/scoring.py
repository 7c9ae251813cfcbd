"""Score one chunk: parse its bytes, validate and predict vectorised, render the output CSV.

The output keeps every input row in order with its columns untouched (read as text, so
``007`` stays ``007``), then ``predicted_price``, ``price_low``, ``price_high``, ``error``
and ``warning``. A bad row gets its reason in ``error`` and empty prices; it never fails
the chunk. Cells that a spreadsheet would run as a formula (starting with ``= + - @``,
tab or CR) get a leading ``'``; plain numbers such as ``-3.5`` are left alone.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from ml.contract import FEATURE_COLUMNS
from workers.chunking import MAX_FIELD_BYTES

OUTPUT_COLUMNS: tuple[str, ...] = ("predicted_price", "price_low", "price_high", "error", "warning")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?"


class FramePredictor(Protocol):
    """The part of ``ml.predict.Predictor`` a chunk needs."""

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame: ...


@dataclass(frozen=True)
class ScoredChunk:
    """A chunk's output CSV (no header) and its row counts."""

    data: bytes
    rows: int
    failed: int


def score_chunk(
    data: bytes, *, columns: list[str], feature_positions: dict[str, int],
    predictor: FramePredictor,
) -> ScoredChunk:
    """Parse, validate, score and render one chunk of input bytes."""
    frame, parse_errors = read_chunk(data, width=len(columns))
    features = pd.DataFrame(
        {name: frame[feature_positions[name]] for name in FEATURE_COLUMNS}, index=frame.index
    )
    scored = predictor.predict_frame(features) if len(frame) else _empty_scores()
    errors = scored["error"].astype(object)
    if parse_errors is not None:
        errors = parse_errors.where(parse_errors.notna(), errors)
        scored.loc[parse_errors.notna(), ["predicted_price", "price_low", "price_high"]] = np.nan
    out = neutralise(frame)
    for name in OUTPUT_COLUMNS[:3]:
        out[f"out_{name}"] = scored[name].to_numpy(dtype="float64")
    out["out_error"] = errors.to_numpy(dtype=object)
    out["out_warning"] = scored["warning"].astype(object).to_numpy(dtype=object)
    text = out.to_csv(header=False, index=False, float_format="%.2f", lineterminator="\n")
    return ScoredChunk(text.encode("utf-8"), rows=len(out), failed=int(errors.notna().sum()))


def read_chunk(data: bytes, *, width: int) -> tuple[pd.DataFrame, pd.Series | None]:
    """The chunk's records as text columns 0..width-1, plus per-row parse errors if any.

    The fast path is pandas' C parser. A row with more fields than the header makes it
    give up; then the ``csv`` module reads the chunk and such rows get an error.
    """
    try:
        frame = pd.read_csv(
            io.BytesIO(data), header=None, names=list(range(width)), dtype=str,
            na_filter=False, index_col=False, skip_blank_lines=True, engine="c",
            encoding="utf-8",
        )
        return frame, None
    except pd.errors.EmptyDataError:
        return pd.DataFrame({i: pd.Series(dtype=str) for i in range(width)}), None
    except pd.errors.ParserError:
        return _read_chunk_slowly(data, width=width)


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would evaluate as a formula, prefixed with ``'``."""
    out = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        values = frame[column].astype(str)
        risky = values.str.startswith(FORMULA_PREFIXES)
        if risky.any():
            risky &= ~values.str.fullmatch(PLAIN_NUMBER)
            values = values.where(~risky, "'" + values)
        out[column] = values
    return out


def result_header(columns: list[str]) -> bytes:
    """The result's header line: the input's column names (neutralised) and the outputs."""
    names = [("'" + c) if c.startswith(FORMULA_PREFIXES) else c for c in columns]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([*names, *OUTPUT_COLUMNS])
    return buffer.getvalue().encode("utf-8")


def _read_chunk_slowly(data: bytes, *, width: int) -> tuple[pd.DataFrame, pd.Series]:
    csv.field_size_limit(MAX_FIELD_BYTES)
    rows: list[list[str]] = []
    errors: list[str | None] = []
    for record in csv.reader(io.StringIO(data.decode("utf-8"), newline="")):
        if not record:
            continue
        if len(record) > width:
            errors.append(f"row has {len(record)} fields but the header has {width}")
        else:
            errors.append(None)
        rows.append((record + [""] * width)[:width])
    frame = pd.DataFrame(rows, columns=list(range(width)), dtype=str)
    return frame, pd.Series(errors, index=frame.index, dtype=object)


def _empty_scores() -> pd.DataFrame:
    dtypes = ["float64"] * 3 + ["object"] * 2
    pairs = zip(OUTPUT_COLUMNS, dtypes, strict=True)
    return pd.DataFrame({n: pd.Series(dtype=t) for n, t in pairs})

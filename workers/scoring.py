"""Score one chunk: parse its bytes, validate and predict vectorised, render the output CSV.

The output keeps every input row in order with its columns untouched (read as text, so
``007`` stays ``007``), then ``predicted_price``, ``price_low``, ``price_high``, ``error``
and ``warning``. A bad row gets its reason in ``error`` and empty prices; it never fails
the chunk; errors and warnings are cut to a bounded length (``core.text.clip``). Cells
that a spreadsheet would run as a formula (starting with ``= + - @``, tab or CR) get a
leading ``'``; plain numbers such as ``-3.5`` are left alone.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.text import MAX_ECHO_CHARS, clip
from jobs.chunk_csv import read_chunk as read_chunk  # the seam fault injection wraps
from ml.categories import CategoryRewrite, UnknownCategories
from ml.comparables import comparable_column_names
from ml.contract import FEATURE_COLUMNS
from ml.predict import ScoredFrame

OUTPUT_COLUMNS: tuple[str, ...] = ("predicted_price", "price_low", "price_high", "error", "warning")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?"
_PLAIN_NUMBER = re.compile(PLAIN_NUMBER)
# A cell that may need escaping (a quick test on whole lines before ``escape_formula``).
_RISKY_CELL = re.compile(f"(?:^|,)[{re.escape(''.join(FORMULA_PREFIXES))}]", re.MULTILINE)


class FramePredictor(Protocol):
    """The part of ``ml.predict.Predictor`` a chunk needs."""

    def score_frame(
        self,
        frame: pd.DataFrame,
        *,
        comparables: int = 0,
        unknown_categories: UnknownCategories = "warn",
    ) -> ScoredFrame: ...


@dataclass(frozen=True)
class ScoredChunk:
    """A chunk's output CSV (no header), its row counts, prices and errors per row."""

    data: bytes
    rows: int
    failed: int
    prices: np.ndarray  # (rows, 3): price, low, high as written (NaN where rejected)
    errors: pd.Series  # the error per row (NA where none)
    rewrites: tuple[CategoryRewrite, ...] = ()  # category spellings read as canonical names
    features: pd.DataFrame | None = None  # the rows' six features as sent (for drift)
    parquet: bytes | None = None  # the rows as a Parquet file, when that is the output
    input_text: bytes | None = None  # rows read from Parquet, as CSV (the audit's input)


def score_chunk(
    data: bytes,
    *,
    columns: list[str],
    feature_positions: dict[str, int],
    predictor: FramePredictor,
    comparables: int = 0,
    unknown_categories: UnknownCategories = "warn",
    output: str = "csv",
) -> ScoredChunk:
    """Parse, validate, score and render one chunk of input bytes.

    With ``comparables`` = k, each row also gets its k nearest training sales' columns;
    ``unknown_categories`` = ``error`` rejects rows whose categories the model never saw;
    ``output`` = ``parquet`` also renders the rows as a Parquet file.
    """
    frame, parse_errors = read_chunk(data, width=len(columns))
    lines = _plain_lines(data, rows=len(frame)) if parse_errors is None else None
    return _score_frame(
        frame,
        parse_errors,
        lines,
        columns=columns,
        feature_positions=feature_positions,
        predictor=predictor,
        comparables=comparables,
        unknown_categories=unknown_categories,
        output=output,
    )


def score_table(
    table: pa.Table,
    *,
    columns: list[str],
    feature_positions: dict[str, int],
    predictor: FramePredictor,
    comparables: int = 0,
    unknown_categories: UnknownCategories = "warn",
    output: str = "csv",
    typed: bool = False,
) -> ScoredChunk:
    """``score_chunk`` for rows read from Parquet: each cell is scored as the text a CSV
    would hold (one set of rules for both); a Parquet result keeps the input's types when
    ``typed``, else holds that text."""
    frame = table_text(table)
    lines = table_lines(table, frame)
    scored = _score_frame(
        frame,
        None,
        lines,
        columns=columns,
        feature_positions=feature_positions,
        predictor=predictor,
        comparables=comparables,
        unknown_categories=unknown_categories,
        output=output,
        typed_inputs=table if typed else None,
    )
    if lines is not None:
        text = "".join(f"{line}\n" for line in lines)
    else:
        text = frame.to_csv(header=False, index=False, lineterminator="\n")
    return replace(scored, input_text=text.encode("utf-8"))


def table_text(table: pa.Table) -> pd.DataFrame:
    """A table's cells as text columns 0..width-1 (nulls as empty cells)."""
    columns = {}
    for position, column in enumerate(table.columns):
        text = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())
        columns[position] = pc.fill_null(text, "").to_pandas().astype(object)
    return pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows))


def table_lines(table: pa.Table, frame: pd.DataFrame) -> list[str] | None:
    """The rows as CSV lines when no cell needs quoting (the fast rendering path), else None."""
    text_types = (pa.types.is_string, pa.types.is_large_string)
    for column in table.columns:
        is_text = any(check(column.type) for check in text_types)
        if is_text and pc.any(pc.match_substring_regex(column, r'[,"\r\n]')).as_py():
            return None
    if not len(frame):
        return []
    first, rest = frame[0], [frame[i] for i in range(1, frame.shape[1])]
    lines: list[str] = first.str.cat(rest, sep=",").tolist() if rest else first.tolist()
    return lines


def _score_frame(
    frame: pd.DataFrame,
    parse_errors: pd.Series | None,
    lines: list[str] | None,
    *,
    columns: list[str],
    feature_positions: dict[str, int],
    predictor: FramePredictor,
    comparables: int,
    unknown_categories: UnknownCategories,
    output: str,
    typed_inputs: pa.Table | None = None,
) -> ScoredChunk:
    features = pd.DataFrame(
        {name: frame[feature_positions[name]] for name in FEATURE_COLUMNS}, index=frame.index
    )
    rewrites: list[CategoryRewrite] = []
    if len(frame):
        result = predictor.score_frame(
            features, comparables=comparables, unknown_categories=unknown_categories
        )
        scored, rewrites = result.table, result.rewrites
    else:
        scored = _empty_scores(comparable_column_names(comparables))
    errors = scored["error"].astype(object)
    if parse_errors is not None:
        errors = parse_errors.where(parse_errors.notna(), errors)
        scored.loc[parse_errors.notna(), _numeric_columns(scored)] = np.nan
    if lines is not None:
        text = _render_lines(lines, scored, errors, width=len(columns))
    else:
        text = _render_frame(frame, scored, errors)
    prices = scored[list(OUTPUT_COLUMNS[:3])].to_numpy(dtype="float64").round(2)
    parquet = None
    if output == "parquet":
        inputs = typed_inputs if typed_inputs is not None else _text_table(frame, columns)
        parquet = _render_parquet(inputs, scored, errors)
    return ScoredChunk(
        text.encode("utf-8"),
        rows=len(frame),
        failed=int(errors.notna().sum()),
        prices=prices,
        errors=errors.reset_index(drop=True),
        rewrites=tuple(rewrites),
        features=features,
        parquet=parquet,
    )


def _text_table(frame: pd.DataFrame, columns: list[str]) -> pa.Table:
    arrays = [pa.array(frame[i].tolist(), type=pa.string()) for i in range(len(columns))]
    return pa.table(arrays, names=columns)


def _render_parquet(inputs: pa.Table, scored: pd.DataFrame, errors: pd.Series) -> bytes:
    """The rows as one Parquet file: the input's columns, then the outputs (typed)."""
    arrays = list(inputs.columns)
    names = list(inputs.column_names)
    for name in (*OUTPUT_COLUMNS[:3], *_extra_columns(scored)):
        arrays.append(pa.array(scored[name].to_numpy(dtype="float64").round(2), from_pandas=True))
        names.append(name)
    for name, notes in (("error", _clipped(errors)), ("warning", scored["warning"])):
        values = [None if v is None or v != v else str(v) for v in notes.tolist()]
        arrays.append(pa.array(values, type=pa.string()))
        names.append(name)
    order = [*inputs.column_names, *OUTPUT_COLUMNS, *_extra_columns(scored)]
    table = pa.table(arrays, names=names).select(order)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def escape_formula(cell: str) -> str:
    """The cell with a leading ``'`` when a spreadsheet would run it as a formula.

    A cell starting with ``= + - @``, tab or CR is one, unless it is a plain number such
    as ``-3.5``. The one rule for every cell and column name the result holds.
    """
    if cell.startswith(FORMULA_PREFIXES) and not _PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would evaluate as a formula, escaped (``escape_formula``)."""
    out = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        values = frame[column].astype(str)
        risky = values.str.startswith(FORMULA_PREFIXES)  # few or none: only those are looked at
        if risky.any():
            values = values.where(~risky, values[risky].map(escape_formula))
        out[column] = values
    return out


def result_header(columns: list[str], extra: Sequence[str] = ()) -> bytes:
    """The result's header line: the input's column names (neutralised) and the outputs.

    ``extra`` names output columns after the standard ones (the comparables' columns).
    """
    names = [escape_formula(c) for c in columns]
    buffer = io.StringIO()
    quote_all = any("\r" in c for c in names)
    csv.writer(
        buffer, lineterminator="\n", quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL
    ).writerow([*names, *OUTPUT_COLUMNS, *extra])
    return buffer.getvalue().encode("utf-8")


def _render_frame(frame: pd.DataFrame, scored: pd.DataFrame, errors: pd.Series) -> str:
    """The general path: re-serialise the parsed cells with pandas (quoting as needed)."""
    out = neutralise(frame)
    for name in OUTPUT_COLUMNS[:3]:
        out[f"out_{name}"] = scored[name].to_numpy(dtype="float64")
    out["out_error"] = _clipped(errors).to_numpy(dtype=object)
    out["out_warning"] = _clipped(scored["warning"].astype(object)).to_numpy(dtype=object)
    for name in _extra_columns(scored):
        out[f"out_{name}"] = scored[name].to_numpy(dtype="float64")
    # With "\n" as the line terminator the csv writer leaves a cell holding a bare CR unquoted,
    # and readers (Excel among them) start a new row there: a cell '"x\r=cmd()"' became a row
    # beginning with a live formula. Quote every cell of a chunk that holds a CR.
    quoting = csv.QUOTE_ALL if _has_cr(frame) else csv.QUOTE_MINIMAL
    text: str = out.to_csv(
        header=False, index=False, float_format="%.2f", lineterminator="\n", quoting=quoting
    )
    return text


def _has_cr(frame: pd.DataFrame) -> bool:
    return any(frame[c].astype(str).str.contains("\r", regex=False).any() for c in frame.columns)


def _plain_lines(data: bytes, *, rows: int) -> list[str] | None:
    """The chunk's records as raw lines when no record needs quoting rules, else None.

    Without a quote character a record is exactly one line, so the input's own text
    can be copied through; that is several times faster than pandas' ``to_csv``.
    """
    if b'"' in data:
        return None
    lines = [line.removesuffix("\r") for line in data.decode("utf-8").split("\n")]
    lines = [line for line in lines if line]
    return lines if len(lines) == rows else None


def _render_lines(lines: list[str], scored: pd.DataFrame, errors: pd.Series, *, width: int) -> str:
    """The fast path: each raw input line, neutralised and padded, plus the output cells."""
    prices = [_number_cells(scored[name]) for name in OUTPUT_COLUMNS[:3]]
    quoted: dict[object, str] = {}
    notes = [
        [quoted.setdefault(v, _csv_cell(v)) for v in column]
        for column in (errors.tolist(), scored["warning"].tolist())
    ]
    extra = _extra_columns(scored)
    if extra:  # appended to the last cell of each row: the hot loop below stays as it is
        cells = [_number_cells(scored[name]) for name in extra]
        notes[-1] = [",".join(row) for row in zip(notes[-1], *cells, strict=True)]
    if any(line.count(",") != width - 1 for line in lines) or _RISKY_CELL.search("\n".join(lines)):
        lines = [_neutralise_line(line, width) for line in lines]
    out = [
        f"{line},{p},{lo},{hi},{err},{warn}\n"
        for line, p, lo, hi, err, warn in zip(lines, *prices, *notes, strict=True)
    ]
    return "".join(out)


def _number_cells(values: pd.Series) -> list[str]:
    return ["" if v != v else f"{v:.2f}" for v in values.to_numpy(dtype="float64").tolist()]


def _extra_columns(scored: pd.DataFrame) -> list[str]:
    """Output columns beyond the standard five (the comparables'), in order."""
    return [name for name in scored.columns if name not in OUTPUT_COLUMNS]


def _numeric_columns(scored: pd.DataFrame) -> list[str]:
    return [*OUTPUT_COLUMNS[:3], *_extra_columns(scored)]


def _neutralise_line(line: str, width: int) -> str:
    missing = width - 1 - line.count(",")
    if missing > 0:  # a short row: pad it as pandas did when parsing it
        line += "," * missing
    if not _RISKY_CELL.search(line):
        return line
    return ",".join(escape_formula(cell) for cell in line.split(","))


def _csv_cell(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    text = str(value)
    if len(text) > MAX_ECHO_CHARS:
        text = clip(text)
    if any(ch in text for ch in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _clipped(notes: pd.Series) -> pd.Series:
    """Row errors or warnings, each cut to a bounded length (a rule may quote the row)."""
    present = notes.dropna()
    long = present[present.str.len() > MAX_ECHO_CHARS]
    if long.empty:
        return notes
    notes = notes.copy()
    notes[long.index] = long.map(clip)
    return notes


def _empty_scores(extra: list[str]) -> pd.DataFrame:
    dtypes = ["float64"] * 3 + ["object"] * 2 + ["float64"] * len(extra)
    pairs = zip([*OUTPUT_COLUMNS, *extra], dtypes, strict=True)
    return pd.DataFrame({n: pd.Series(dtype=t) for n, t in pairs})

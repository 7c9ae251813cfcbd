"""A chunk of a job's input read as text columns: the one CSV reader of job rows.

The workers score chunks with it (``workers.scoring``), the audit reads a chunk's payloads
back with it, and feedback for a job's row finds that row's cells with it
(``jobs.job_features``), so every reader numbers a file's rows the same way.
"""

from __future__ import annotations

import csv
import io
import warnings

import pandas as pd


def read_chunk(data: bytes, *, width: int) -> tuple[pd.DataFrame, pd.Series | None]:
    """The chunk's records as text columns 0..width-1, plus per-row parse errors if any.

    The fast path is pandas' C parser. A row with more fields than the header makes it
    give up; then the ``csv`` module reads the chunk and such rows get an error.
    """
    try:
        with warnings.catch_warnings():
            # A first row longer than the header only warns (and loses cells): treat as bad.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.BytesIO(data),
                header=None,
                names=list(range(width)),
                dtype=str,
                na_filter=False,
                index_col=False,
                skip_blank_lines=True,
                engine="c",
                encoding="utf-8",
            )
        return frame, None
    except pd.errors.EmptyDataError:
        return pd.DataFrame({i: pd.Series(dtype=str) for i in range(width)}), None
    except (pd.errors.ParserError, pd.errors.ParserWarning):
        return _read_chunk_slowly(data, width=width)


def read_cells(
    data: bytes, *, width: int, columns: list[int], rows: int
) -> tuple[pd.DataFrame, pd.Series | None]:
    """``read_chunk``'s first ``rows`` records, only ``columns`` of them (numbered alike).

    For a few rows of a chunk (feedback naming a job's rows): the parser keeps the named
    columns of the rows up to the last one wanted, not the whole chunk.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.BytesIO(data),
                header=None,
                names=list(range(width)),
                usecols=columns,
                nrows=rows,
                dtype=str,
                na_filter=False,
                index_col=False,
                skip_blank_lines=True,
                engine="c",
                encoding="utf-8",
            )
        return frame, None
    except pd.errors.EmptyDataError:
        return pd.DataFrame({i: pd.Series(dtype=str) for i in columns}), None
    except (pd.errors.ParserError, pd.errors.ParserWarning):
        frame, errors = _read_chunk_slowly(data, width=width)
        return frame.iloc[:rows][columns], errors.iloc[:rows]


def _read_chunk_slowly(data: bytes, *, width: int) -> tuple[pd.DataFrame, pd.Series]:
    csv.field_size_limit(max(len(data), 1 << 17))  # planning bounded the rows already
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

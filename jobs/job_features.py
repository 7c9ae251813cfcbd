"""The houses of a finished job's rows, read back from its stored input.

Feedback for a job's row (``job:{id}:{row}``) names the row, not the house; to become a
training row the sale price needs that house's features. The job's chunk plan (byte
ranges of the input with their row counts: a blob named by the record's ``plan_blob``, or
inside the record for a job planned before plans were blobs) finds row r in one chunk:
only the chunks holding named rows are read (``get_range``) and parsed with the workers'
own reader (``jobs.chunk_csv``: only the six columns, up to the last row named), and each
row numbers exactly as the scoring numbered it.
The six cells are then read by the contract (``HouseFeatures``) and their categories by
the model's names (``canonical``), as a single prediction's are. A row that cannot be
read back gets the reason instead, so a caller can count it rejected, never drop it.
"""

from __future__ import annotations

import asyncio
import json
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from jobs.blobs import BlobNotFoundError, BlobStore
from jobs.chunk_csv import read_cells
from jobs.keys import input_key
from jobs.models import JobRecord
from ml.categories import CategoryError
from ml.contract import FEATURE_COLUMNS, HouseFeatures, describe_errors

Canonical = Callable[[HouseFeatures], HouseFeatures]
INPUT_GONE = "the job's input is gone (expired or deleted), so the house cannot be read back"


@dataclass(frozen=True)
class ChunkSpan:
    """One chunk of the input: bytes ``[start, end)`` holding rows ``first_row`` onwards."""

    first_row: int  # 1 = the file's first data row
    start: int
    end: int
    rows: int


@dataclass
class JobHouses:
    """Per named row, the house (``HouseFeatures`` fields) or why it is not at hand."""

    houses: dict[int, dict[str, Any]] = field(default_factory=dict)
    problems: dict[int, str] = field(default_factory=dict)


async def job_houses(
    blobs: BlobStore, record: JobRecord, rows: Iterable[int], *, canonical: Canonical
) -> JobHouses:
    """The houses of the named rows (1-based) of a job, from its stored input."""
    wanted = sorted(set(rows))
    out = JobHouses()
    if record.from_pointer:  # its chunks span several files, CSV or Parquet
        out.problems = dict.fromkeys(
            wanted, "the job read its input from a pointer; its houses are not read back"
        )
        return out
    spans = chunk_spans(record.plan or await _plan_text(blobs, record))
    if not spans or record.feature_positions is None:
        out.problems = dict.fromkeys(wanted, "the job has no chunk plan to find its rows by")
        return out
    for span, span_rows in rows_by_span(spans, wanted).items():
        try:
            data = await blobs.get_range(input_key(record.id), span.start, span.end)
        except BlobNotFoundError:
            out.problems.update(dict.fromkeys(span_rows, INPUT_GONE))
            continue
        found = await asyncio.to_thread(
            houses_in_chunk,
            data,
            span=span,
            width=len(record.columns or []),
            positions=record.feature_positions,
            rows=span_rows,
            canonical=canonical,
        )
        out.houses.update(found.houses)
        out.problems.update(found.problems)
    placed = set(out.houses) | set(out.problems)
    out.problems.update({r: "no such row in the job's file" for r in wanted if r not in placed})
    return out


async def _plan_text(blobs: BlobStore, record: JobRecord) -> str | None:
    """The JSON of the job's plan blob (None if it has none, or it is gone)."""
    if not record.plan_blob:
        return None
    try:
        return b"".join([block async for block in blobs.iter_bytes(record.plan_blob)]).decode()
    except BlobNotFoundError:
        return None


def chunk_spans(plan: str | None) -> list[ChunkSpan]:
    """The chunks of a stored plan (``workers.chunking.Plan`` as JSON), each with its first
    row."""
    if not plan:
        return []
    spans: list[ChunkSpan] = []
    first = 1
    for chunk in json.loads(plan).get("chunks", []):
        rows = int(chunk["rows"])
        spans.append(ChunkSpan(first, int(chunk["start"]), int(chunk["end"]), rows))
        first += rows
    return spans


def rows_by_span(spans: list[ChunkSpan], rows: Iterable[int]) -> dict[ChunkSpan, list[int]]:
    """The named rows grouped by the chunk holding them (rows in no chunk are left out)."""
    grouped: dict[ChunkSpan, list[int]] = {}
    starts = [s.first_row for s in spans]
    for row in sorted(set(rows)):
        index = _last_at_or_below(starts, row)
        if index is None:
            continue
        span = spans[index]
        if row < span.first_row + span.rows:
            grouped.setdefault(span, []).append(row)
    return grouped


def houses_in_chunk(
    data: bytes,
    *,
    span: ChunkSpan,
    width: int,
    positions: dict[str, int],
    rows: list[int],
    canonical: Canonical,
) -> JobHouses:
    """The named rows of one chunk's bytes, read as houses (or the reason they are not)."""
    last = max(rows) - span.first_row + 1
    frame, parse_errors = read_cells(
        data, width=width, columns=sorted(set(positions.values())), rows=last
    )
    out = JobHouses()
    for row in rows:
        offset = row - span.first_row
        if offset >= len(frame):
            out.problems[row] = "no such row in the job's file"
        elif parse_errors is not None and parse_errors.iloc[offset] is not None:
            out.problems[row] = str(parse_errors.iloc[offset])
        else:
            record = frame.iloc[offset]
            cells = {name: str(record[positions[name]]) for name in FEATURE_COLUMNS}
            house = read_house(cells, canonical=canonical)
            if isinstance(house, str):
                out.problems[row] = house
            else:
                out.houses[row] = house
    return out


def read_house(cells: dict[str, str], *, canonical: Canonical) -> dict[str, Any] | str:
    """The house of six text cells as the model reads it, or why it cannot be read."""
    try:
        house = canonical(HouseFeatures.model_validate(cells))
    except ValidationError as exc:
        described = describe_errors(exc.errors(include_url=False))
        return "; ".join(f"{e['field']}: {e['message']}" for e in described)
    except CategoryError as exc:
        return "; ".join(f"{p.field}: {p.message}" for p in exc.problems)
    return house.model_dump()


def _last_at_or_below(starts: list[int], row: int) -> int | None:
    index = bisect_right(starts, row) - 1
    return index if index >= 0 else None

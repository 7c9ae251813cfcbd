"""A finished job's summary and its row lookups, prepared while the job is scored.

Each chunk leaves two small blobs beside its part: its rows' (price, low, high) as
little-endian float64 triples (``.prices``) and its stats (``.json``: row counts, the price
range, reasons, its first rows and first rejected rows as the result shows them).
Finalize joins the triples into ``prices.f64`` (row r of the result at byte 24·(r−1), so
feedback reads only the rows it names) and merges the stats into ``summary.json``
(counts, a price histogram, the most common reasons, a preview), so nobody downloads a
whole result to show it. Both live in the job's folder and go with it. A failure here is
logged and never fails the job: the result is what counts.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from jobs.keys import part_prices_key, part_stats_key, prices_key, summary_key
from jobs.models import JobRecord, JobSummary, PriceBin, RejectionReason, SummaryRow
from jobs.row_index import PRICE_DTYPE
from ml.categories import CategoryRewrite
from ml.profile import bin_counts
from observability.logging import get_logger
from workers.context import WorkerContext
from workers.scoring import OUTPUT_COLUMNS, ScoredChunk, result_header

log = get_logger("workers.summary")
PREVIEW_ROWS = 10
TOP_REASONS = 8
CHUNK_REASONS = 100  # distinct reasons kept per chunk (counts are exact below that)
HISTOGRAM_BINS = 20
MAX_CELL_CHARS = 100
MAX_INPUT_COLUMNS = 50  # of the input's columns, the preview shows the first ones
ELLIPSIS = "…"
MAX_REWRITES = 100  # distinct spellings listed (a file has few; a hostile one may not)


def merged_rewrites(groups: list[list[CategoryRewrite]]) -> list[CategoryRewrite]:
    """Rewrites of several chunks summed per (column, spelling), most rows first."""
    rows: Counter[tuple[str, str, str]] = Counter()
    for group in groups:
        for r in group:
            rows[(r.column, r.sent, r.canonical)] += r.rows
    return [
        CategoryRewrite(column=column, sent=sent, canonical=canonical, rows=count)
        for (column, sent, canonical), count in rows.most_common(MAX_REWRITES)
    ]


class ChunkStats(BaseModel):
    """One chunk's share of the summary (rows numbered from 0 within the chunk)."""

    rows: int
    rejected: int
    price_min: float | None
    price_max: float | None
    reasons: dict[str, int]
    head: list[SummaryRow]
    rejected_rows: list[SummaryRow]
    rewrites: list[CategoryRewrite] = Field(default_factory=list)
    # Valid rows per drift bin and feature (``ml.profile.bin_counts``), merged at finalize.
    drift: dict[str, list[int]] = Field(default_factory=dict)


def save_chunk_extras(
    ctx: WorkerContext,
    job_id: str,
    index: int,
    scored: ScoredChunk,
    *,
    width: int,
    profile: dict[str, Any] | None = None,
) -> None:
    """Write a chunk's price triples and stats beside its part (before it is counted)."""
    triples = np.ascontiguousarray(scored.prices, dtype=PRICE_DTYPE)
    ctx.blobs.put_bytes(part_prices_key(job_id, index), triples.tobytes())
    stats = chunk_stats(scored, width=width)
    if profile and scored.features is not None and scored.rows:
        valid = scored.errors.isna().to_numpy()
        stats.drift = bin_counts(profile, scored.features.reset_index(drop=True)[valid])
    ctx.blobs.put_bytes(part_stats_key(job_id, index), stats.model_dump_json().encode())


def chunk_stats(scored: ScoredChunk, *, width: int) -> ChunkStats:
    """Counts, price range, reasons and the rows a preview may show, of one chunk."""
    prices = scored.prices[:, 0]
    priced = prices[~np.isnan(prices)]
    rejected = scored.errors.notna()
    reasons = scored.errors[rejected].astype(str).value_counts().head(CHUNK_REASONS)
    wanted = [int(i) for i in np.flatnonzero(rejected.to_numpy())[:PREVIEW_ROWS]]
    head, picked = _records(scored.data, PREVIEW_ROWS, set(wanted), width=width)
    return ChunkStats(
        rows=scored.rows,
        rejected=scored.failed,
        price_min=float(priced.min()) if priced.size else None,
        price_max=float(priced.max()) if priced.size else None,
        reasons={_cut(str(k)): int(v) for k, v in reasons.items()},
        head=head,
        rejected_rows=[r for r in picked if r.row in wanted],
        rewrites=merged_rewrites([list(scored.rewrites)]),
    )


def record_job_summary(ctx: WorkerContext, job_id: str, record: JobRecord) -> list[ChunkStats]:
    """Join the chunks' price triples and store the job's summary (logged, never raised);
    returns the chunks' stats (none if they could not be read)."""
    total = record.chunks_total
    stats: list[ChunkStats] = []
    try:
        parts = [part_prices_key(job_id, i) for i in range(total)]
        ctx.blobs.compose(prices_key(job_id), b"", parts)
        stats = [
            ChunkStats.model_validate_json(ctx.blobs.read_bytes(part_stats_key(job_id, i)))
            for i in range(total)
        ]
        columns = next(csv.reader([result_header(record.columns or []).decode()]))
        summary = merge_stats(job_id, columns, stats, lambda i: ctx.blobs.read_bytes(parts[i]))
        ctx.blobs.put_bytes(summary_key(job_id), summary.model_dump_json().encode())
    except Exception as exc:  # a summary is a view of the result, never a reason to fail it
        log.warning("job_summary_failed", job_id=job_id, error=repr(exc))
    return stats


def merge_stats(
    job_id: str, columns: list[str], stats: list[ChunkStats], read_prices: Callable[[int], bytes]
) -> JobSummary:
    """The job's summary from its chunks' stats (and, for the histogram, their prices)."""
    offsets = np.concatenate([[0], np.cumsum([s.rows for s in stats])]).tolist()
    reasons: Counter[str] = Counter()
    for s in stats:
        reasons.update(s.reasons)
    rows, rejected = int(offsets[-1]), sum(s.rejected for s in stats)
    width = len(columns) - len(OUTPUT_COLUMNS)
    return JobSummary(
        job_id=job_id,
        rows=rows,
        priced=rows - rejected,
        rejected=rejected,
        columns=_shown(columns, width),
        columns_omitted=max(0, width - MAX_INPUT_COLUMNS),
        price_histogram=_histogram(stats, read_prices),
        reasons=[RejectionReason(reason=r, count=c) for r, c in reasons.most_common(TOP_REASONS)],
        preview=_numbered(stats, offsets, "head"),
        rejected_preview=_numbered(stats, offsets, "rejected_rows"),
        rewrites=merged_rewrites([s.rewrites for s in stats]),
    )


def _histogram(stats: list[ChunkStats], read_prices: Callable[[int], bytes]) -> list[PriceBin]:
    """The same bars ``np.histogram(all_prices, bins=20)`` gives, one chunk at a time."""
    lows = [s.price_min for s in stats if s.price_min is not None]
    highs = [s.price_max for s in stats if s.price_max is not None]
    if not lows:
        return []
    span = (min(lows), max(highs))
    counts = np.zeros(HISTOGRAM_BINS, dtype=np.int64)
    edges = np.histogram_bin_edges([], bins=HISTOGRAM_BINS, range=span)
    for index, chunk in enumerate(stats):
        if chunk.price_min is None:
            continue
        prices = np.frombuffer(read_prices(index), dtype=PRICE_DTYPE)[0::3]
        counts += np.histogram(prices[~np.isnan(prices)], bins=HISTOGRAM_BINS, range=span)[0]
    return [
        PriceBin(low=float(edges[i]), high=float(edges[i + 1]), count=int(counts[i]))
        for i in range(HISTOGRAM_BINS)
    ]


def _numbered(stats: list[ChunkStats], offsets: list[int], field: str) -> list[SummaryRow]:
    rows: list[SummaryRow] = []
    for chunk, offset in zip(stats, offsets, strict=False):
        for item in getattr(chunk, field):
            rows.append(SummaryRow(row=offset + item.row + 1, values=item.values))
            if len(rows) == PREVIEW_ROWS:
                return rows
    return rows


def _records(
    data: bytes, head: int, wanted: set[int], *, width: int
) -> tuple[list[SummaryRow], list[SummaryRow]]:
    """The chunk output's first ``head`` records and those at ``wanted`` positions."""
    first: list[SummaryRow] = []
    picked: list[SummaryRow] = []
    last = max([head - 1, *wanted])
    # A cell of the output may be as long as the chunk (one over the input's limit is kept).
    previous = csv.field_size_limit(len(data) + 1)
    try:
        reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
        for position, record in enumerate(reader):
            if position > last:
                break
            row = SummaryRow(row=position, values=[_cut(v) for v in _shown(record, width)])
            if position < head:
                first.append(row)
            if position in wanted:
                picked.append(row)
    finally:
        csv.field_size_limit(previous)
    return first, picked


def _shown(values: list[str], width: int) -> list[str]:
    """The first input columns and every output column."""
    return values[: min(width, MAX_INPUT_COLUMNS)] + values[width:]


def _cut(text: str) -> str:
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + ELLIPSIS

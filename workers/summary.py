"""A finished job's summary and its row lookups, prepared while the job is scored.

Each chunk leaves two small blobs beside its part: its rows' (price, low, high) as
little-endian float64 triples (``.prices``: the chunk's share of the job's row index,
``jobs.row_index``; feedback finds a row's part through the manifest and reads its 24 bytes)
and its stats (``.json``: row counts, the price range and fine price bins
(``workers.price_bins``), reasons, drift counts, its first rows and first rejected rows as
the result shows them). Finalize reads only the stats, a few at a time, and folds them into
``summary.json`` (counts, a price histogram, the most common reasons, a preview) as they
arrive, so its work and memory grow with the chunks, never with the rows, and nobody
downloads a whole result to show it. Everything lives in the job's folder and goes with it.
A failure here is logged and never fails the job: the result is what counts.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from jobs.keys import part_prices_key, part_stats_key, summary_key
from jobs.models import JobRecord, JobSummary, PriceBin, RejectionReason, SummaryRow
from jobs.row_index import PRICE_DTYPE
from ml.categories import CategoryRewrite
from ml.profile import add_counts, bin_counts
from observability.logging import get_logger
from workers.context import WorkerContext
from workers.price_bins import fine_bins, histogram_bars
from workers.scoring import OUTPUT_COLUMNS, ScoredChunk, result_header

log = get_logger("workers.summary")
PREVIEW_ROWS = 10
TOP_REASONS = 8
CHUNK_REASONS = 100  # distinct reasons kept per chunk (counts are exact below that)
STATS_READS = 16  # stats blobs read at once at finalize
MAX_CELL_CHARS = 100
MAX_INPUT_COLUMNS = 50  # of the input's columns, the preview shows the first ones
ELLIPSIS = "…"
MAX_REWRITES = 100  # distinct spellings listed (a file has few; a hostile one may not)
MAX_DISTINCT, KEPT_DISTINCT = 100_000, 10_000  # distinct reasons or spellings held at finalize


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
    # Priced rows per fine price bin (``workers.price_bins``); None in stats of older workers.
    price_bins: dict[int, int] | None = None


def save_chunk_extras(
    ctx: WorkerContext,
    job_id: str,
    index: int,
    scored: ScoredChunk,
    *,
    width: int,
    profile: dict[str, Any] | None = None,
) -> None:
    """Write a chunk's price triples (its rows' share of the row index) and stats beside its
    part (before it is counted)."""
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
        price_bins=fine_bins(priced),
    )


def record_job_summary(ctx: WorkerContext, job_id: str, record: JobRecord) -> MergedStats:
    """Merge the chunks' stats into the job's summary and store it (logged, never raised);
    returns the merged stats (empty if they could not be read)."""
    merged = MergedStats()
    try:
        keys = [part_stats_key(job_id, i) for i in range(record.chunks_total)]
        for body in ctx.blobs.read_many(keys, concurrency=STATS_READS):
            merged.add(ChunkStats.model_validate_json(body))
        columns = next(csv.reader([result_header(record.columns or []).decode()]))
        summary = merged.summary(job_id, columns)
        ctx.blobs.put_bytes(summary_key(job_id), summary.model_dump_json().encode())
    except Exception as exc:  # a summary is a view of the result, never a reason to fail it
        log.warning("job_summary_failed", job_id=job_id, error=repr(exc))
        return MergedStats()
    return merged


@dataclass
class MergedStats:
    """The chunks' stats added up in order, one chunk at a time (constant size per job)."""

    rows: int = 0
    rejected: int = 0
    price_min: float | None = None
    price_max: float | None = None
    price_bins: Counter[int] = field(default_factory=Counter)
    bins_missing: bool = False  # a chunk scored by an older worker counted no price bins
    reasons: Counter[str] = field(default_factory=Counter)
    preview: list[SummaryRow] = field(default_factory=list)
    rejected_preview: list[SummaryRow] = field(default_factory=list)
    rewrites: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    drift: dict[str, list[int]] = field(default_factory=dict)

    def add(self, chunk: ChunkStats) -> None:
        """Fold the next chunk's stats in (chunks come in order: rows number on from here)."""
        _extend(self.preview, chunk.head, self.rows)
        _extend(self.rejected_preview, chunk.rejected_rows, self.rows)
        self.rows += chunk.rows
        self.rejected += chunk.rejected
        _add_bounded(self.reasons, chunk.reasons)
        _add_bounded(
            self.rewrites, {(r.column, r.sent, r.canonical): r.rows for r in chunk.rewrites}
        )
        if chunk.price_min is not None and chunk.price_max is not None:
            lows = [chunk.price_min] + ([] if self.price_min is None else [self.price_min])
            highs = [chunk.price_max] + ([] if self.price_max is None else [self.price_max])
            self.price_min, self.price_max = min(lows), max(highs)
            if chunk.price_bins is None:
                self.bins_missing = True
            else:
                self.price_bins.update(chunk.price_bins)
        if chunk.drift:
            self.drift = add_counts(self.drift, chunk.drift)

    def summary(self, job_id: str, columns: list[str]) -> JobSummary:
        """The job's summary, given the result's columns."""
        width = len(columns) - len(OUTPUT_COLUMNS)
        return JobSummary(
            job_id=job_id,
            rows=self.rows,
            priced=self.rows - self.rejected,
            rejected=self.rejected,
            columns=_shown(columns, width),
            columns_omitted=max(0, width - MAX_INPUT_COLUMNS),
            price_histogram=self.histogram(),
            reasons=[
                RejectionReason(reason=r, count=c) for r, c in self.reasons.most_common(TOP_REASONS)
            ],
            preview=self.preview,
            rejected_preview=self.rejected_preview,
            rewrites=[
                CategoryRewrite(column=column, sent=sent, canonical=canonical, rows=count)
                for (column, sent, canonical), count in self.rewrites.most_common(MAX_REWRITES)
            ],
        )

    def histogram(self) -> list[PriceBin]:
        """20 bars from the lowest to the highest price (``workers.price_bins``)."""
        if self.price_min is None or self.price_max is None or self.bins_missing:
            return []
        return histogram_bars(self.price_bins, self.price_min, self.price_max)


def _add_bounded(counts: Counter[Any], more: dict[Any, int]) -> None:
    """Add counts, keeping the most common ``KEPT_DISTINCT`` once past ``MAX_DISTINCT`` keys
    (exact for any real file; a hostile one with endless distinct values loses its rarest)."""
    counts.update(more)
    if len(counts) > MAX_DISTINCT:
        kept = counts.most_common(KEPT_DISTINCT)
        counts.clear()
        counts.update(dict(kept))


def _extend(rows: list[SummaryRow], more: list[SummaryRow], offset: int) -> None:
    """Add a chunk's rows (numbered from 0 in the chunk) to a preview, numbered from 1."""
    for item in more[: PREVIEW_ROWS - len(rows)]:
        rows.append(SummaryRow(row=offset + item.row + 1, values=item.values))


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

"""A chunk's share of its job's summary, and the job's summary merged from the chunks' shares."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from core.settings import (
    AppSettings,
    CoreSettings,
    GatewaySettings,
    ObservabilitySettings,
    UISettings,
    WorkerSettings,
)
from jobs.keys import part_stats_key, summary_key
from jobs.models import JobRecord, JobSummary
from jobs.store import JobStore
from jobs.sync_blobs import SyncBlobStore
from tests.support.counting_blobs import CountingBlobStore
from workers.context import WorkerContext
from workers.model_cache import ModelCache
from workers.scoring import OUTPUT_COLUMNS, ScoredChunk
from workers.summary import (
    MAX_CELL_CHARS,
    STATS_READS,
    MergedStats,
    chunk_stats,
    record_job_summary,
    save_chunk_extras,
)


def scored(lines: list[str], prices: list[float], errors: list[str | None]) -> ScoredChunk:
    triples = np.array([[p, p * 0.9, p * 1.1] for p in prices], dtype="float64")
    return ScoredChunk(
        ("\n".join(lines) + "\n").encode(),
        rows=len(lines),
        failed=sum(e is not None for e in errors),
        prices=triples,
        errors=pd.Series(errors, dtype=object),
    )


def test_a_huge_quoted_cell_is_shown_cut_and_never_fails_the_chunk() -> None:
    huge = "x" * 300_000  # past the csv module's default field limit
    chunk = scored(
        [f'"{huge}",100000.00,90000.00,110000.00,,', "b,,,,sqft: missing,"],
        [100_000.0, np.nan],
        [None, "sqft: missing"],
    )

    stats = chunk_stats(chunk, width=1)

    first = stats.head[0].values
    assert len(first[0]) == MAX_CELL_CHARS
    assert first[0].endswith("…")
    assert first[1:4] == ["100000.00", "90000.00", "110000.00"]
    assert (stats.rows, stats.rejected) == (2, 1)
    assert (stats.price_min, stats.price_max) == (100_000.0, 100_000.0)
    assert stats.reasons == {"sqft: missing": 1}
    assert [(r.row, r.values[0]) for r in stats.rejected_rows] == [(1, "b")]


def test_merged_stats_number_rows_across_chunks_and_bin_every_price() -> None:
    first = scored(["a,1", "b,2", "c,3"], [100_000.0, np.nan, 300_000.0], [None, "bad", None])
    second = scored(["d,4", "e,5"], [np.nan, 200_000.0], ["worse", None])
    merged = MergedStats()

    for chunk in (first, second):
        merged.add(chunk_stats(chunk, width=1))

    summary = merged.summary("j", ["x", *OUTPUT_COLUMNS])
    assert (summary.rows, summary.priced, summary.rejected) == (5, 3, 2)
    assert [r.row for r in summary.preview] == [1, 2, 3, 4, 5]
    assert [r.row for r in summary.rejected_preview] == [2, 4]
    assert sum(b.count for b in summary.price_histogram) == 3
    assert (summary.price_histogram[0].low, summary.price_histogram[-1].high) == (1e5, 3e5)
    assert {r.reason: r.count for r in summary.reasons} == {"bad": 1, "worse": 1}


def test_a_chunk_counted_by_an_older_worker_leaves_out_only_the_histogram() -> None:
    new = chunk_stats(scored(["a,1"], [100_000.0], [None]), width=1)
    old = new.model_copy(update={"price_bins": None})
    merged = MergedStats()

    merged.add(new)
    merged.add(old)

    assert merged.summary("j", ["x", *OUTPUT_COLUMNS]).price_histogram == []
    assert merged.rows == 2


def test_the_job_summary_reads_each_chunks_stats_once_and_no_prices(tmp_path: Path) -> None:
    store = CountingBlobStore(tmp_path / "blobs")
    ctx = context(tmp_path, SyncBlobStore(store))
    rng = np.random.default_rng(5)
    chunks = 40
    for index in range(chunks):
        prices = rng.lognormal(np.log(180_000), 0.4, 25).tolist()
        lines = [f"h{index}-{i},{p:.2f}" for i, p in enumerate(prices)]
        save_chunk_extras(ctx, "j", index, scored(lines, prices, [None] * 25), width=1)
    record = JobRecord(id="j", owner="alice", chunks_total=chunks, columns=["x"])

    merged = record_job_summary(ctx, "j", record)

    summary = JobSummary.model_validate_json(ctx.blobs.read_bytes(summary_key("j")))
    assert (merged.rows, summary.rows, summary.priced) == (1_000, 1_000, 1_000)
    assert sum(b.count for b in summary.price_histogram) == 1_000
    assert [r.values[0] for r in summary.preview] == [f"h0-{i}" for i in range(10)]
    stats_reads = [k for k in store.reads if k != summary_key("j")]
    assert sorted(stats_reads) == [part_stats_key("j", i) for i in range(chunks)]
    assert not [k for k in store.reads if k.endswith(".prices")]
    assert 1 < store.peak <= STATS_READS
    ctx.close()


def context(tmp_path: Path, blobs: SyncBlobStore) -> WorkerContext:
    """A worker context over ``blobs``; its Redis is never reached (the summary needs none)."""
    redis_url = "redis://127.0.0.1:1/0"
    settings = AppSettings(
        CoreSettings(redis_url=redis_url, blob_url=tmp_path.as_uri(), state_dir=tmp_path),
        GatewaySettings(),
        WorkerSettings(),
        UISettings(),
        ObservabilitySettings(),
    )
    return WorkerContext(
        settings=settings,
        jobs=JobStore.from_url(redis_url, ttl_seconds=60),
        blobs=blobs,
        models=ModelCache(settings.core),
    )

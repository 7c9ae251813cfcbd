"""A finished job's drift: PSI per feature of its valid rows against the training profile.

Computed once when the job is finalized, by streaming the scored result in blocks (only
the six feature columns and the error column are parsed), and stored on the job record
as ``drift`` (JSON). A model without a profile, or any failure here, leaves no drift and
never fails the job.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pandas as pd

from jobs.models import JobRecord
from ml.contract import FEATURE_COLUMNS
from ml.profile import add_counts, bin_counts, drift_report
from observability import metrics
from observability.logging import get_logger
from workers.context import WorkerContext

log = get_logger("workers.drift")
BLOCK_ROWS = 200_000
ERROR_OFFSET = 3  # predicted_price, price_low, price_high, then error


def record_job_drift(ctx: WorkerContext, job_id: str, record: JobRecord, key: str) -> None:
    """Compute the drift of the scored result at ``key`` and store it on the job record."""
    try:
        report = job_drift(ctx, record, key)
    except Exception as exc:  # drift is a report, never a reason to fail the job
        log.warning("job_drift_failed", job_id=job_id, error=repr(exc))
        return
    if report is None:
        return
    ctx.jobs.save_drift(job_id, report)
    psi = {feature: value["psi"] for feature, value in report["features"].items()}
    metrics.record_drift(psi, source="job", sink=ctx.sink)
    log.info("job_drift", job_id=job_id, max_psi=report["max_psi"], drifted=report["drifted"])


def job_drift(ctx: WorkerContext, record: JobRecord, key: str) -> dict[str, Any] | None:
    """PSI per feature of the result's valid rows, or None when the model has no profile."""
    profile = ctx.predictor(record.model_version).card.profile
    if not profile or record.columns is None or record.feature_positions is None:
        return None
    columns, positions = record.columns, record.feature_positions
    error_at = len(columns) + ERROR_OFFSET
    use = sorted({*positions.values(), error_at})
    counts: dict[str, list[int]] = {}
    blocks = ctx.blobs.iter_bytes(key)
    try:
        reader = pd.read_csv(
            io.BufferedReader(_IterReader(iter(blocks)), buffer_size=1 << 20),
            header=0,
            usecols=use,
            dtype=str,
            keep_default_na=False,
            chunksize=BLOCK_ROWS,
        )
        for block in reader:
            block.columns = range(block.shape[1])
            named = dict(zip(use, block.columns, strict=True))
            valid = block[named[error_at]] == ""
            frame = pd.DataFrame({c: block[named[positions[c]]] for c in FEATURE_COLUMNS})
            counts = add_counts(counts, bin_counts(profile, frame[valid.to_numpy()]))
    finally:
        blocks.close()
    threshold = ctx.settings.core.drift_psi_threshold
    return drift_report(profile, counts, threshold=threshold) if counts else None


class _IterReader(io.RawIOBase):
    """A readable file over an iterator of byte blocks."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks
        self._rest = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._rest:
            try:
                self._rest = next(self._blocks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._rest))
        buffer[:size] = self._rest[:size]
        self._rest = self._rest[size:]
        return size

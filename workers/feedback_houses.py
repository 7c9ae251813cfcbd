"""Feedback rows without a house, read back from their job's input at training time.

The gateway reads a job row's house as it accepts the price (``jobs.job_features``); a
row stored without one (its input was unreadable then, or it predates that) names its job
and row, and training tries the job's input once more here. Categories are read with the
shipped data's names and the alias table, as the gateway reads them. A row whose house
stays unknown is returned with its reason, for the data version to count as rejected.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from core.settings import AppSettings
from jobs.feedback_rows import FeedbackRow
from jobs.job_features import INPUT_GONE, JobHouses, job_houses
from jobs.store import JobStore
from jobs.sync_blobs import SyncBlobStore
from ml.categories import CategoryError, CategoryMatcher, CategoryProblem, load_aliases
from ml.contract import CATEGORY_COLUMNS, HouseFeatures

NO_HOUSE = "the prediction's features were not kept"
JOB_GONE = "the job has expired or was deleted, so its input is gone"


@dataclass
class Recovered:
    """Rows with their houses now, and the rows that stay without one (with the reason)."""

    rows: list[FeedbackRow] = field(default_factory=list)
    rejected: list[tuple[FeedbackRow, str]] = field(default_factory=list)


def recover_houses(
    rows: Iterable[FeedbackRow], *, shipped: pd.DataFrame, settings: AppSettings
) -> Recovered:
    """Each row without features read back from its job's input when it can be."""
    out = Recovered()
    by_job: dict[str, list[FeedbackRow]] = {}
    for row in rows:
        if row.features is not None:
            out.rows.append(row)
        elif row.job_id is None or row.row is None:
            out.rejected.append((row, row.problem or NO_HOUSE))
        else:
            by_job.setdefault(row.job_id, []).append(row)
    if not by_job:
        return out
    canonical = shipped_names(shipped)
    for job_id, job_rows in by_job.items():
        found = _read_job(settings, job_id, [r.row or 0 for r in job_rows], canonical)
        for row in job_rows:
            house = found.houses.get(row.row or 0)
            if house is not None:
                out.rows.append(row.model_copy(update={"features": house, "problem": None}))
            else:
                reason = found.problems.get(row.row or 0) or row.problem or INPUT_GONE
                out.rejected.append((row, reason))
    return out


def shipped_names(shipped: pd.DataFrame) -> CategoryReader:
    """Categories read as the shipped data names them (aliases and spellings matched)."""
    names = {c: sorted(str(v) for v in shipped[c].dropna().unique()) for c in CATEGORY_COLUMNS}
    return CategoryReader(CategoryMatcher(names, load_aliases()))


class CategoryReader:
    """``canonical_house`` for training rows: a near miss is refused, a new name kept."""

    def __init__(self, matcher: CategoryMatcher) -> None:
        self.matcher = matcher

    def __call__(self, house: HouseFeatures) -> HouseFeatures:
        """The house with canonical category names (``CategoryError`` on a near miss)."""
        update: dict[str, str] = {}
        problems: list[CategoryProblem] = []
        for column in CATEGORY_COLUMNS:
            found = self.matcher.match(column, getattr(house, column))
            problem = self.matcher.problem(column, found, strict=False)
            if problem is not None:
                problems.append(
                    CategoryProblem(field=column, message=problem, suggestion=found.suggestion)
                )
            update[column] = found.name
        if problems:
            raise CategoryError(problems)
        return house.model_copy(update=update)


def _read_job(
    settings: AppSettings, job_id: str, rows: list[int], canonical: CategoryReader
) -> JobHouses:
    if not settings.core.redis_url:
        return JobHouses(problems=dict.fromkeys(rows, "no Redis to find the job in"))
    jobs = JobStore.from_url(settings.core.redis_url, ttl_seconds=0)
    try:
        record = jobs.get(job_id)
    finally:
        jobs.close()
    if record is None:
        return JobHouses(problems=dict.fromkeys(rows, JOB_GONE))
    blobs = SyncBlobStore.open(settings.core.resolved_blob_url())
    try:
        return blobs.run(job_houses(blobs.store, record, rows, canonical=canonical))
    finally:
        blobs.close()

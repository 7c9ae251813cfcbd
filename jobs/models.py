"""A batch job's models: the record kept in Redis, the Job the API answers, its summary.

``JobRecord`` is the one place a Redis hash becomes typed fields (``from_redis``) and
back (``to_redis``); workers and the gateway read attributes, never ``int(record[...])``.
``Job`` is what ``GET /v1/jobs/{id}`` returns and what the web app reads, so both sides
share one definition (the web app reads leniently: unknown keys are kept, optional ones
may be missing, so a newer gateway never breaks an older page).

Only pydantic and the standard library are imported here: the web app imports this.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from ml.categories import CategoryRewrite

QUEUED: Final = "queued"
RUNNING: Final = "running"
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"
FINAL_STATES = frozenset({SUCCEEDED, FAILED, CANCELLED})
ACTIVE_STATES = frozenset({QUEUED, RUNNING})
JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
# "deleted" only appears as the last event of a job deleted while someone watched it.
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "deleted"]


class _Lenient(BaseModel):
    """Read by the web app too: keys a newer gateway adds are kept, not refused."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())


class Job(_Lenient):
    """A batch scoring job: status, row counts, progress, rate and ETA."""

    id: str
    status: JobStatus
    filename: str | None = None
    created_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    rows_total: int | None = Field(None, description="data rows (0 until the file is planned)")
    rows_done: int = 0
    rows_failed: int = Field(0, description="rows rejected (their error cell says why)")
    progress: float = Field(0.0, description="0 to 1")
    rows_per_second: float | None = None
    eta_seconds: float | None = None
    model_version: str | None = Field(None, description="the version scoring every row")
    error: str | None = Field(None, description="why the job failed")
    comparables: int = Field(0, description="comparable sales' columns per row (0-3)")
    unknown_categories: Literal["warn", "error"] = Field(
        "warn", description="rows with a category like no known name: warned or rejected"
    )
    webhook_url: str | None = Field(None, description="notified (signed) at a final state")
    output_format: Literal["csv", "parquet"] = Field("csv", description="the result's format")
    input_files: int | None = Field(
        None, description="files of a job from a pointer (none for an upload)"
    )
    links: dict[str, str] = Field(
        default_factory=dict, description="self, events and result, relative to the host"
    )

    @property
    def is_active(self) -> bool:
        """Whether the job may still change (queued or running)."""
        return self.status in ACTIVE_STATES

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from start to finish (or to now while running), if it has started."""
        if self.started_at is None:
            return None
        end = self.finished_at or dt.datetime.now(tz=self.started_at.tzinfo)
        return max(0.0, (end - self.started_at).total_seconds())


class JobPage(_Lenient):
    """One page of the caller's jobs, newest first."""

    jobs: list[Job]
    next_cursor: str | None = Field(None, description="pass as ?cursor= for the next page")


class JobRecord(BaseModel):
    """A job as stored in its Redis hash (every value a string there; typed here).

    The chunk plan (``workers.chunking.Plan``) lives in the blob store, named by
    ``plan_blob`` (``workers.job_plan``), so the hash stays the same size however many
    chunks the job has. ``plan`` is the JSON plan of a job planned before that (kept
    inside the hash); such a job still finishes. A pointer job's file list is a blob too
    (``sources_blob``), so the hash stays the same size however many files it reads.
    """

    model_config = ConfigDict(protected_namespaces=(), extra="ignore")

    id: str
    owner: str
    status: JobState = QUEUED
    filename: str = ""
    created_at: float = Field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    rows_total: int = 0
    rows_done: int = 0
    rows_failed: int = 0
    chunks_total: int = 0
    model_version: str = ""
    error: str = ""
    input_key: str = ""
    input_bytes: int = 0
    comparables: int = Field(0, description="comparable sales' columns per row (0-3)")
    unknown_categories: Literal["warn", "error"] = "warn"
    webhook_url: str | None = None
    # A job from a pointer: how many input files it has and where their list is (a blob,
    # ``jobs.file_list``), the result's format, and the prefix its result goes under
    # ("" = its own). ``sources`` is the list itself in a job created before the list moved
    # to the blob store (``jobs.pointer.SourceFile`` as dicts, in order); it still plans.
    input_files: int = 0
    sources_blob: str = ""
    sources: list[dict[str, Any]] | None = None
    output_format: Literal["csv", "parquet"] = "csv"
    destination: str = ""
    plan: str | None = None  # a job planned before plans moved to the blob store
    plan_blob: str = ""  # where the plan lives; set once the job is planned
    columns: list[str] | None = None
    feature_positions: dict[str, int] | None = None
    drift: dict[str, Any] | None = None

    @classmethod
    def from_redis(cls, fields: dict[str, str]) -> JobRecord:
        """The record of a Redis hash (empty strings are missing values)."""
        values: dict[str, Any] = {k: v for k, v in fields.items() if v != ""}
        for name in _JSON_FIELDS:
            if name in values:
                values[name] = json.loads(values[name])
        return cls.model_validate(values)

    def to_redis(self) -> dict[str, str]:
        """The hash fields of this record (None as an empty string, JSON where nested)."""
        return encode_fields(self.model_dump(exclude_none=True))

    @property
    def from_pointer(self) -> bool:
        """Whether the job reads files named by a pointer (not one uploaded CSV)."""
        return bool(self.sources_blob or self.sources)

    @property
    def is_final(self) -> bool:
        """Whether the job has reached a final state."""
        return self.status in FINAL_STATES

    def to_job(self, *, now: float | None = None, links: dict[str, str] | None = None) -> Job:
        """The public Job of this record: progress, rate and ETA as of ``now``."""
        now = now if now is not None else time.time()
        total, done, started = self.rows_total, self.rows_done, self.started_at
        elapsed = ((self.finished_at or now) - started) if started else None
        rate = done / elapsed if elapsed and elapsed > 0 and done else None
        progress = 1.0 if self.status == SUCCEEDED else (min(done / total, 1.0) if total else 0.0)
        eta = (max(total - done, 0) / rate) if rate and self.status == RUNNING else None
        return Job(
            id=self.id,
            status=self.status,
            filename=self.filename or None,
            created_at=_utc(self.created_at),
            started_at=_utc(started),
            finished_at=_utc(self.finished_at),
            rows_total=total,
            rows_done=done,
            rows_failed=self.rows_failed,
            progress=round(progress, 4),
            rows_per_second=round(rate, 1) if rate else None,
            eta_seconds=round(eta, 1) if eta is not None else None,
            model_version=self.model_version or None,
            error=self.error or None,
            comparables=self.comparables,
            unknown_categories=self.unknown_categories,
            webhook_url=self.webhook_url,
            output_format=self.output_format,
            input_files=self.input_files or (len(self.sources) if self.sources else None),
            links=links or {},
        )


_JSON_FIELDS = ("columns", "feature_positions", "drift", "sources")


def encode_fields(values: dict[str, Any]) -> dict[str, str]:
    """Hash fields of record values: None as "", times as ``repr``, nested values as JSON."""
    encoded: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            encoded[name] = ""
        elif name in _JSON_FIELDS:
            encoded[name] = json.dumps(value)
        elif isinstance(value, float):
            encoded[name] = repr(value)
        else:
            encoded[name] = str(value)
    return encoded


def _utc(epoch: float | None) -> dt.datetime | None:
    return None if epoch is None else dt.datetime.fromtimestamp(epoch, dt.UTC)


def iso_time(epoch: float | None) -> str | None:
    """An epoch time as the API writes every time: ISO 8601 in UTC (``...Z``)."""
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat().replace("+00:00", "Z")


class SummaryRow(_Lenient):
    """One row of the result as shown in a preview: its number and its (shown) cells."""

    row: int = Field(description="1 = the file's first data row")
    values: list[str]


class PriceBin(_Lenient):
    """One bar of the price histogram: prices in [low, high) (the last bar includes high)."""

    low: float
    high: float
    count: int


class RejectionReason(_Lenient):
    """A reason rows were rejected, and how many were."""

    reason: str
    count: int


class JobSummary(_Lenient):
    """What a person needs to see of a finished job without downloading its result."""

    job_id: str | None = None
    rows: int = Field(description="data rows in the result")
    priced: int
    rejected: int
    columns: list[str] = Field(description="the preview's columns (the result's, maybe fewer)")
    columns_omitted: int = Field(0, description="input columns left out of the preview")
    price_histogram: list[PriceBin] = Field(
        default_factory=list,
        description="20 equal bars from the lowest to the highest predicted price; counts are "
        "merged from 0.5 %-wide bins, so a bar may be off by the rows of the one such bin at "
        "each of its edges",
    )
    reasons: list[RejectionReason] = Field(
        default_factory=list, description="the most common reasons, most first"
    )
    preview: list[SummaryRow] = Field(default_factory=list, description="the result's first rows")
    rejected_preview: list[SummaryRow] = Field(
        default_factory=list, description="the first rejected rows"
    )
    rewrites: list[CategoryRewrite] = Field(
        default_factory=list,
        description="category spellings read as a canonical name, with their row counts "
        "(e.g. North_Ames -> North Ames), most rows first",
    )

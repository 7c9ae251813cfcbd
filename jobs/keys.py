"""Every Redis key and blob key name of the project, in one place.

The gateway, the workers, ``hpp compare`` and the tests read and write the same keys;
a name written twice can be renamed once and silently break the other reader. Here each
name is written once: everyone else calls these functions (or reads these constants).

Redis keys share the prefix ``hpp:``. Blob keys are paths inside the blob store (folder
or S3 prefix); a job's blobs live under ``jobs/{id}/``.
"""

from __future__ import annotations

import hashlib

PREFIX = "hpp"

# --- Rate limits (gateway.cluster_limits) ----------------------------------------------


def rate_bucket_key(bucket: str) -> str:
    """The Redis hash of one cluster-wide token bucket (``key:<name>@<per minute>``, ...)."""
    return f"{PREFIX}:ratelimit:{bucket}"


# --- Jobs (jobs.store, jobs.async_store) ------------------------------------------------

# Jobs not yet final, scored by the time of their last progress (the watchdog reads it).
ACTIVE_JOBS_KEY = f"{PREFIX}:jobs:active"


def job_key(job_id: str) -> str:
    """The hash holding one job's record."""
    return f"{PREFIX}:job:{job_id}"


def done_key(job_id: str) -> str:
    """The set of a job's chunk indexes already counted."""
    return f"{PREFIX}:job:{job_id}:done"


def attempts_key(job_id: str) -> str:
    """Attempts (and the last error) per step of a job."""
    return f"{PREFIX}:job:{job_id}:attempts"


def job_keys(job_id: str) -> list[str]:
    """Every Redis key of one job."""
    return [job_key(job_id), done_key(job_id), attempts_key(job_id)]


def events_channel(job_id: str) -> str:
    """The pub/sub channel announcing a job's changes."""
    return f"{PREFIX}:job:{job_id}:events"


# Every job's events channel, for one pattern subscription.
EVENTS_PATTERN = events_channel("*")


def job_of_channel(channel: str) -> str:
    """The job id an events channel belongs to."""
    return channel.removeprefix(f"{PREFIX}:job:").removesuffix(":events")


def owner_jobs_key(owner: str) -> str:
    """The sorted set of an owner's job ids by creation time."""
    return f"{PREFIX}:owner:{owner}:jobs"


def idempotency_key(owner: str, key: str) -> str:
    """Where an ``Idempotency-Key`` of one owner maps to its job."""
    return f"{PREFIX}:idem:{owner}:{hashlib.sha256(key.encode()).hexdigest()}"


def upload_mark_key(job_id: str) -> str:
    """Set while a job's upload streams in (before its record exists): the orphan sweep
    leaves the job's blobs alone."""
    return f"{PREFIX}:upload:{job_id}"


# --- Completion notices owed (jobs.outbox: written with a job's final state) ------------

# Owed notices (``owed_notice``), scored by when to look at them next; and their events.
NOTICES_OWED_KEY = f"{PREFIX}:notices:owed"
NOTICES_EVENTS_KEY = f"{PREFIX}:notices:events"
NOTICES_DRAIN_LOCK_KEY = f"{PREFIX}:notices:drain-lock"  # one drain per interval


def owed_notice(channel: str, job_id: str) -> str:
    """The member of ``NOTICES_OWED_KEY`` for one job's notice on one channel."""
    return f"{channel}:{job_id}"


def owed_notice_parts(member: str) -> tuple[str, str]:
    """``(channel, job_id)`` of an ``owed_notice`` member."""
    channel, _, job_id = member.partition(":")
    return channel, job_id


# --- Quotas and fair dispatch -----------------------------------------------------------


def active_owner_key(owner: str) -> str:
    """The set of an owner's jobs counted against their quota."""
    return f"{PREFIX}:active:owner:{owner}"


def active_key_key(key_name: str) -> str:
    """The set of a key's jobs (all its end users) counted against the key's quota."""
    return f"{PREFIX}:active:key:{key_name}"


# The ring of owners with steps waiting, and the prefix of each owner's step list.
FAIR_RING_KEY = f"{PREFIX}:fair:owners"
FAIR_OWNER_QUEUE_PREFIX = f"{PREFIX}:fair:owner:"


def fair_owner_queue_key(owner: str) -> str:
    """The list of one owner's steps waiting for the broker."""
    return FAIR_OWNER_QUEUE_PREFIX + owner


# --- Worker housekeeping ----------------------------------------------------------------

SWEEP_LOCK_KEY = f"{PREFIX}:sweep-lock"  # one orphan-blob sweep per interval
WATCHDOG_LOCK_KEY = f"{PREFIX}:watchdog:lock"  # one watchdog sweep per interval
WATCHDOG_SUSPECTS_KEY = f"{PREFIX}:watchdog:suspects"  # steps missing at the last look
WORKER_ALIVE_PREFIX = f"{PREFIX}:worker-alive:"


def worker_alive_key(hostname: str) -> str:
    """Set (with a TTL) while a worker runs: the backlog metric counts workers by these."""
    return WORKER_ALIVE_PREFIX + hostname


# --- Predictions, feedback and monitoring (gateway.monitoring_store, hpp compare) -------

PREDICTION_INDEX_KEY = f"{PREFIX}:pred:index"  # recent prediction ids by time
FEEDBACK_VERSIONS_KEY = f"{PREFIX}:feedback:versions"
FEEDBACK_HELD_KEY = f"{PREFIX}:feedback:held"  # implausible reports held for review
GATES_KEY = f"{PREFIX}:monitor:gates"  # training gates and interval level per version
REPLAY_KEY = f"{PREFIX}:replay:latest"  # the latest challenger report (``hpp compare``)


def prediction_key(prediction_id: str) -> str:
    """Where one recent prediction is kept."""
    return f"{PREFIX}:pred:{prediction_id}"


def feedback_key(version: str, owner: str | None = None) -> str:
    """The feedback window of one model version: the shared one, or one owner's own."""
    shared = f"{PREFIX}:feedback:{version}"
    return shared if owner is None else f"{shared}:owner:{owner}"


def feedback_versions_key(owner: str | None = None) -> str:
    """The model versions with feedback in the shared windows, or in one owner's own."""
    return FEEDBACK_VERSIONS_KEY if owner is None else f"{FEEDBACK_VERSIONS_KEY}:owner:{owner}"


def traffic_key(version: str) -> str:
    """The live-traffic window of one model version (for drift)."""
    return f"{PREFIX}:traffic:{version}"


def seen_key(item: str) -> str:
    """The actual price reported for a prediction or a job's row (a resend counts once);
    ``item`` is a prediction id or ``job_row_item(job_id, row)``."""
    return f"{PREFIX}:feedback:seen:{item}"


def job_row_item(job_id: str, row: int | str) -> str:
    """How feedback names one row of a job (1 = the file's first data row)."""
    return f"job:{job_id}:{row}"


# --- Champion vs challenger trials (gateway.monitoring_store, the promotion loop) --------

# Pairs ``{champion}:{challenger}`` that have paired points.
PAIRED_PAIRS_KEY = f"{PREFIX}:paired:pairs"
# Hash ``{arm}:{version}`` -> live houses that arm answered (champion | challenger | pinned).
SERVED_KEY = f"{PREFIX}:experiment:served"


def paired_key(champion: str, challenger: str) -> str:
    """The paired points (``ml.paired``, newest first, bounded by the feedback window) of
    one champion version against one challenger: trusted sale prices of houses both priced."""
    return f"{PREFIX}:paired:{champion}:{challenger}"


def served_field(arm: str, version: str) -> str:
    """The field of ``SERVED_KEY`` counting one arm's houses for one version."""
    return f"{arm}:{version}"


# --- Continuous training (jobs.triggers, jobs.feedback_rows, the trainer) ----------

# Hash: prediction key -> JSON labelled row (trusted sale price + the prediction's features).
FEEDBACK_ROWS_KEY = f"{PREFIX}:training:feedback"
CHECK_LOCK_KEY = f"{PREFIX}:loop:check:lock"  # one promotion/rollback check at a time
TRIGGERS_KEY = f"{PREFIX}:loop:triggers"  # the trigger history, newest first (bounded)
EPISODE_PREFIX = f"{PREFIX}:loop:episode"  # one key per trigger kind and serving version
DRIFT_STREAK_KEY = f"{PREFIX}:loop:drift:streak"
DRIFT_WINDOW_KEY = f"{PREFIX}:loop:drift:window"
CHECK_PENDING_KEY = f"{PREFIX}:loop:check:pending"  # a promotion check is on its way


# --- Blob keys: a job's folder in the blob store ---------------------------------------

JOBS_FOLDER = "jobs/"


def job_prefix(job_id: str) -> str:
    """The folder-like prefix holding one job's blobs."""
    return f"{JOBS_FOLDER}{job_id}/"


def input_key(job_id: str) -> str:
    """Where the uploaded CSV lives."""
    return f"{job_prefix(job_id)}input.csv"


def plan_key(job_id: str) -> str:
    """Where a job's chunk plan lives (``workers.job_plan``): read by the plan step, the
    watchdog and finalize, never by a chunk step (its message carries what it needs)."""
    return f"{job_prefix(job_id)}plan.json"


def sources_key(job_id: str) -> str:
    """Where a pointer job's file list lives (``jobs.file_list``): written by the gateway
    before the job is queued, read by the plan step and wherever a chunk message is made."""
    return f"{job_prefix(job_id)}sources.json"


def parts_prefix(job_id: str) -> str:
    """The folder of a job's per-chunk blobs (deleted once the job is final)."""
    return f"{job_prefix(job_id)}parts/"


def part_key(job_id: str, index: int) -> str:
    """Where a chunk's scored rows live."""
    return f"{parts_prefix(job_id)}{index:06d}.csv"


def part_prices_key(job_id: str, index: int) -> str:
    """A chunk's (price, low, high) triples: its rows' part of the job's row index."""
    return f"{parts_prefix(job_id)}{index:06d}.prices"


def part_stats_key(job_id: str, index: int) -> str:
    """A chunk's share of the summary."""
    return f"{parts_prefix(job_id)}{index:06d}.json"


def result_key(job_id: str) -> str:
    """Where a job scored before result manifests keeps its one scored CSV."""
    return f"{job_prefix(job_id)}result.csv"


def manifest_key(job_id: str) -> str:
    """Where a finished job's result manifest lives (``jobs.manifest``): its parts, in order."""
    return f"{job_prefix(job_id)}result.json"


def output_folder(job_id: str, destination: str = "") -> str:
    """The folder of a job's result parts: its own parts folder, or ``{destination}{id}/``
    under a destination prefix the caller named (``jobs.pointer``)."""
    return f"{destination}{job_id}/" if destination else parts_prefix(job_id)


def output_part_key(job_id: str, index: int, *, fmt: str, destination: str = "") -> str:
    """Where chunk ``index``'s part of the result lives (``fmt``: csv or parquet)."""
    if destination:
        return f"{output_folder(job_id, destination)}part-{index:06d}.{fmt}"
    return f"{parts_prefix(job_id)}{index:06d}.{fmt}"


def destination_manifest_key(job_id: str, destination: str) -> str:
    """The manifest's copy beside the parts under a destination prefix."""
    return f"{output_folder(job_id, destination)}manifest.json"


def prices_key(job_id: str) -> str:
    """Where a job finished before the row index stayed per part keeps its (price, low, high)
    per row, 24 bytes a row (read, no longer written)."""
    return f"{job_prefix(job_id)}prices.f64"


def summary_key(job_id: str) -> str:
    """Where a finished job's summary lives."""
    return f"{job_prefix(job_id)}summary.json"

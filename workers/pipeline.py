"""The steps of a batch job as plain functions: plan, score a chunk, finalize.

Celery tasks (``workers.tasks``) only decode ids and call these. Every step is
idempotent, so at-least-once delivery is safe: a chunk's part has a fixed name and is
written atomically, the chunk is counted by a Redis set (once, whoever gets there
first), and the job moves to a final state by a compare-and-set, exactly once.

Blob layout per job (``jobs.keys``): ``jobs/{id}/input.csv`` (an upload; a job from a
pointer reads its files where they are), the chunk plan ``jobs/{id}/plan.json``
(``workers.job_plan``: a chunk step never reads it, its message carries its part), the
result's parts
``jobs/{id}/parts/{index:06d}.csv`` (or ``.parquet``; under ``{destination}{id}/`` when the
caller named one), the result's manifest ``jobs/{id}/result.json`` (``jobs.manifest``:
finalize lists the parts, it does not join them), and the lookups of ``workers.summary``
(each chunk's row index ``parts/{index:06d}.prices``, and ``summary.json`` merged from ``.json``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from audit.records import chunk_record
from core.text import clip
from jobs.blobs import BlobNotFoundError
from jobs.fairqueue import waiting_steps
from jobs.file_list import load_sources
from jobs.keys import (
    JOBS_FOLDER,
    destination_manifest_key,
    input_key,
    job_prefix,
    manifest_key,
    output_folder,
    output_part_key,
    parts_prefix,
)
from jobs.manifest import ResultManifest, ResultPart
from jobs.models import FAILED, QUEUED, RUNNING, SUCCEEDED, JobRecord
from jobs.notices import notice_tasks
from jobs.pointer import SourceFile
from jobs.queue import QUEUE
from ml.comparables import comparable_column_names
from observability import metrics
from observability.logging import get_logger
from workers.chunking import InputLimits, Plan, UnreadableFileError, plan_chunks
from workers.context import WorkerContext
from workers.drift import record_job_drift
from workers.job_plan import ChunkTask, chunk_tasks, complete_task, load_plan, save_plan
from workers.scoring import ScoredChunk, result_header, score_chunk, score_table
from workers.source_plan import plan_sources
from workers.source_read import read_csv_range, read_row_groups
from workers.summary import record_job_summary, save_chunk_extras

log = get_logger("workers.pipeline")
SWEEP_EVERY_SECONDS = 600


EnqueueChunks = Callable[[str, list[ChunkTask]], None]  # the job's owner, its chunks
EnqueueFinalize = Callable[[str], None]


def plan_job(
    ctx: WorkerContext,
    job_id: str,
    *,
    enqueue_chunks: EnqueueChunks,
    enqueue_finalize: EnqueueFinalize,
) -> None:
    """Check and cut the input into chunks, then queue them (again, if redelivered) behind
    the owner's other steps (``jobs.fairqueue``)."""
    jobs = ctx.jobs
    record = jobs.get(job_id)
    if record is None or record.status not in (QUEUED, RUNNING):
        return
    jobs.start(job_id)
    plan = load_plan(ctx.blobs, record)  # planned already: this delivery is a repeat
    if plan is None and _planned_too_often(ctx, job_id):
        return
    sources = _sources(ctx, job_id, record)
    if sources is None:
        return
    plan = plan or _make_plan(ctx, job_id, record, sources)
    if plan is None:
        return
    counted = jobs.counted_total(job_id)
    if counted >= len(plan.chunks):
        enqueue_finalize(job_id)
        return
    chunks = chunk_tasks(record, plan, sources, skip=jobs.counted_chunks(job_id))
    enqueue_chunks(record.owner, chunks)
    _maybe_sweep(ctx)


def score_chunk_job(
    ctx: WorkerContext, task: ChunkTask, *, enqueue_finalize: EnqueueFinalize
) -> str:
    """Score one chunk and count it once; returns what happened (for logs and tests).

    Reads the job's constant-size fields and counters, never its plan: the message
    carries the chunk's range, first row and file.
    """
    jobs, job_id = ctx.jobs, task.job_id
    record = jobs.get_for_step(job_id)
    if record is None or record.status != RUNNING:
        return "skipped"
    if jobs.counted(job_id, task.index):
        _finalize_if_complete(ctx, job_id, record, enqueue_finalize)
        return "already counted"
    attempts = jobs.add_attempt(job_id, task.index)
    limit = ctx.settings.worker.max_chunk_attempts
    if attempts > limit:
        reason = jobs.last_error(job_id, task.index) or "the worker was lost while scoring it"
        fail_job(ctx, job_id, f"chunk {task.index} failed {limit} times; last error: {reason}")
        return "gave up"
    if task.first_row is None:  # sent before messages carried it (an upgrade)
        task = complete_task(jobs, ctx.blobs, task)
    started = time.perf_counter()
    columns = _columns(record)
    data, scored = _read_and_score(ctx, task, record, columns)
    audit_chunk(ctx, task, record, data, scored)  # before counting: a chunk counted is audited
    ctx.blobs.put_bytes(_part_key(record, task.index), _part_bytes(record, scored))
    profile = ctx.predictor(record.model_version).card.profile
    save_chunk_extras(ctx, job_id, task.index, scored, width=len(columns), profile=profile)
    counted = jobs.count_chunk(job_id, task.index, rows=scored.rows, failed=scored.failed)
    if counted < 0:  # cancelled or deleted meanwhile: leave nothing behind
        ctx.blobs.delete_prefix(job_prefix(job_id))
        if record.destination:
            ctx.blobs.delete_prefix(output_folder(job_id, record.destination))
        return "dropped"
    metrics.observe_chunk(time.perf_counter() - started)
    metrics.record_rows(ok=scored.rows - scored.failed, rejected=scored.failed, sink=ctx.sink)
    metrics.record_prediction(
        model_version=record.model_version,
        source="job",
        count=scored.rows - scored.failed,
        sink=ctx.sink,
    )
    jobs.publish(job_id, "progress")
    metrics.record_backlog(queue=QUEUE, depth=waiting_steps(jobs.client), workers=1)
    if counted >= record.chunks_total:
        enqueue_finalize(job_id)
    return "counted"


def _read_and_score(
    ctx: WorkerContext, task: ChunkTask, record: JobRecord, columns: list[str]
) -> tuple[bytes, ScoredChunk]:
    """The chunk's input (as CSV bytes, for the audit trail) and its scored rows."""
    predictor = ctx.predictor(record.model_version)
    positions = _feature_positions(record)

    def score_csv(data: bytes) -> ScoredChunk:
        return score_chunk(
            data,
            columns=columns,
            feature_positions=positions,
            predictor=predictor,
            comparables=record.comparables,
            unknown_categories=record.unknown_categories,
            output=record.output_format,
        )

    if task.file is None:  # an upload
        data = ctx.blobs.get_range(input_key(record.id), task.start, task.end)
        return data, score_csv(data)
    source = SourceFile.model_validate(task.file)
    if source.format == "csv":
        data = read_csv_range(ctx.blobs, source, task.start, task.end)
        return data, score_csv(data)
    table = read_row_groups(ctx.blobs, source, task.start, task.end, columns)
    scored = score_table(
        table,
        columns=columns,
        feature_positions=positions,
        predictor=predictor,
        comparables=record.comparables,
        unknown_categories=record.unknown_categories,
        output=record.output_format,
        typed=task.typed,
    )
    return scored.input_text or b"", scored


def _part_key(record: JobRecord, index: int) -> str:
    return output_part_key(
        record.id, index, fmt=record.output_format, destination=record.destination
    )


def _part_bytes(record: JobRecord, scored: ScoredChunk) -> bytes:
    """A whole file per part: Parquet, or CSV with its own header (``jobs.manifest``)."""
    if record.output_format == "parquet" and scored.parquet is not None:
        return scored.parquet
    return _result_head(record) + scored.data


def _result_head(record: JobRecord) -> bytes:
    return result_header(_columns(record), comparable_column_names(record.comparables))


def audit_chunk(
    ctx: WorkerContext, task: ChunkTask, record: JobRecord, data: bytes, scored: ScoredChunk
) -> None:
    """Store the chunk's input and output bytes beside the chain, then chain a record of
    their digests (at least once: a redelivery adds another)."""
    if ctx.audit is None:
        return
    version = record.model_version
    digests = ctx.blobs.run(ctx.audit.put_payloads({"input": data, "output": scored.data}))
    job = {
        "job_id": task.job_id,
        "chunk": task.index,
        "bytes": [task.start, task.end],
        "first_row": task.first_row,
        "row_count": scored.rows,
        "columns": _columns(record),
        "feature_positions": _feature_positions(record),
        "rewrites": [r.model_dump() for r in scored.rewrites],
    }
    body = chunk_record(
        owner=record.owner,
        at=time.time(),
        version=version,
        level=ctx.predictor(version).card.interval.level,
        job=job,
        payloads=digests,
    )
    ctx.audit.seal([body])
    if not ctx.blobs.run(ctx.audit.write()):
        raise RuntimeError("the audit trail could not be written; the chunk will be retried")


def finalize_job(ctx: WorkerContext, job_id: str) -> str:
    """Join the parts in order into the result and mark the job succeeded, once."""
    jobs = ctx.jobs
    record = jobs.get(job_id)
    if record is None or record.status != RUNNING:
        return "skipped"
    total = record.chunks_total
    if jobs.counted_total(job_id) < total:
        return "not ready"
    try:
        manifest = write_manifest(ctx, record)
    except BlobNotFoundError:
        if jobs.get(job_id) is None:
            return "skipped"  # deleted while finalizing
        raise
    stats = record_job_summary(ctx, job_id, record)
    record_job_drift(ctx, job_id, record, stats)
    fresh = jobs.get(job_id) or record
    moved = jobs.succeed(job_id, rows_total=fresh.rows_done)
    if moved:
        metrics.record_job_finished(SUCCEEDED, sink=ctx.sink)
        log.info(
            "job_succeeded",
            job_id=job_id,
            rows=fresh.rows_done,
            rows_failed=fresh.rows_failed,
            model_version=record.model_version,
            parts=len(manifest.parts),
        )
        queue_notices(ctx, job_id)
    return "succeeded" if moved else "skipped"


def write_manifest(ctx: WorkerContext, record: JobRecord) -> ResultManifest:
    """List the job's parts (one listing, no bytes read) and store the result's manifest."""
    plan = load_plan(ctx.blobs, record)
    if plan is None:
        raise RuntimeError(f"job {record.id} has no plan yet")
    folder = output_folder(record.id, record.destination)
    sizes = dict(ctx.blobs.list_objects(folder))
    head = _result_head(record)
    header_bytes = len(head) if record.output_format == "csv" else 0
    parts = []
    for chunk in plan.chunks:
        key = _part_key(record, chunk.index)
        if key not in sizes:
            raise BlobNotFoundError(key)
        parts.append(
            ResultPart(key=key, rows=chunk.rows, bytes=sizes[key], header_bytes=header_bytes)
        )
    manifest = ResultManifest(
        job_id=record.id,
        format=record.output_format,
        rows=plan.rows_total,
        header=head.decode("utf-8") if record.output_format == "csv" else "",
        parts=parts,
    )
    body = manifest.model_dump_json().encode()
    if record.destination:
        ctx.blobs.put_bytes(destination_manifest_key(record.id, record.destination), body)
    ctx.blobs.put_bytes(manifest_key(record.id), body)
    return manifest


def fail_job(ctx: WorkerContext, job_id: str, reason: str) -> bool:
    """Mark the job failed with ``reason`` (once, cut to a bounded length) and drop its parts."""
    reason = clip(reason)
    moved = ctx.jobs.fail(job_id, reason)
    if moved:
        metrics.record_job_finished(FAILED, sink=ctx.sink)
        log.warning("job_failed", job_id=job_id, error=reason)
        queue_notices(ctx, job_id)
        ctx.blobs.delete_prefix(parts_prefix(job_id))
        record = ctx.jobs.get(job_id)
        if record is not None and record.destination:
            ctx.blobs.delete_prefix(output_folder(job_id, record.destination))
    return moved


def queue_notices(ctx: WorkerContext, job_id: str) -> None:
    """Queue a job's completion notices (webhook, SNS) for ``hpp notifier``, if it has any.

    Never fails the step: a notice that cannot be queued is logged, and the notifier's drain
    (``workers.notice_drain``) queues it later, since the final state recorded it as owed.
    """
    if ctx.notify is None:
        return
    try:
        record = ctx.jobs.get(job_id)
        tasks = notice_tasks(record, ctx.settings.core) if record is not None else []
        if tasks:
            ctx.notify(tasks)
    except Exception as exc:
        log.warning("job_notice_not_queued", job_id=job_id, error=repr(exc))


def sweep_orphans(ctx: WorkerContext) -> list[str]:
    """Delete blobs of jobs whose record is gone (expired or deleted); returns their ids."""
    removed: list[str] = []
    for job_id in ctx.blobs.list_children(JOBS_FOLDER):
        if ctx.jobs.is_known(job_id):
            continue
        ctx.blobs.delete_prefix(job_prefix(job_id))
        removed.append(job_id)
    return removed


def _planned_too_often(ctx: WorkerContext, job_id: str) -> bool:
    """Count a delivery of the plan step; past the cap (its process kept dying), fail the job."""
    attempts = ctx.jobs.add_attempt(job_id, "plan")
    limit = ctx.settings.worker.max_chunk_attempts
    if attempts <= limit:
        return False
    reason = ctx.jobs.last_error(job_id, "plan") or "the worker was lost while reading the file"
    fail_job(ctx, job_id, f"the plan step failed {limit} times; last error: {reason}")
    return True


def _sources(ctx: WorkerContext, job_id: str, record: JobRecord) -> list[SourceFile] | None:
    """The job's input files ([] for an upload), or None (the job failed) if the list the
    gateway wrote is gone."""
    try:
        return load_sources(ctx.blobs, record)
    except BlobNotFoundError:
        fail_job(ctx, job_id, "the job's list of input files is gone; submit it again")
        return None


def _make_plan(
    ctx: WorkerContext, job_id: str, record: JobRecord, sources: list[SourceFile]
) -> Plan | None:
    limits = InputLimits.from_settings(ctx.settings.worker)
    if sources:
        try:
            plan = plan_sources(ctx.blobs, sources, limits)
        except UnreadableFileError as exc:
            fail_job(ctx, job_id, f"the input cannot be read: {exc}")
            return None
        except BlobNotFoundError as exc:
            fail_job(ctx, job_id, f"the input cannot be read: {exc} is gone")
            return None
    else:
        blocks = ctx.blobs.iter_bytes(input_key(job_id))
        try:
            plan = plan_chunks(blocks, limits=limits)
        except UnreadableFileError as exc:
            fail_job(ctx, job_id, f"the file cannot be read: {exc}")
            return None
        except BlobNotFoundError:
            return None  # deleted before we got to it
        finally:
            blocks.close()
    if not save_plan(ctx.jobs, ctx.blobs, job_id, plan):
        return None  # deleted while we planned
    ctx.jobs.publish(job_id, "planned")
    log.info("job_planned", job_id=job_id, rows=plan.rows_total, chunks=len(plan.chunks))
    return plan


def _columns(record: JobRecord) -> list[str]:
    """The input's columns (a job is planned before any chunk or finalize step runs)."""
    if record.columns is None:
        raise RuntimeError(f"job {record.id} has no plan yet")
    return record.columns


def _feature_positions(record: JobRecord) -> dict[str, int]:
    if record.feature_positions is None:
        raise RuntimeError(f"job {record.id} has no plan yet")
    return record.feature_positions


def _finalize_if_complete(
    ctx: WorkerContext, job_id: str, record: JobRecord, enqueue_finalize: EnqueueFinalize
) -> None:
    if ctx.jobs.counted_total(job_id) >= record.chunks_total:
        enqueue_finalize(job_id)


def _maybe_sweep(ctx: WorkerContext) -> None:
    if ctx.jobs.claim_sweep(SWEEP_EVERY_SECONDS):
        removed = sweep_orphans(ctx)
        if removed:
            log.info("blobs_swept", jobs=len(removed))

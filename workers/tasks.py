"""Celery tasks: thin wrappers that decode ids and call ``workers.pipeline``."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from celery.exceptions import Reject
from celery.signals import worker_process_init, worker_process_shutdown
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from observability.logging import get_logger
from workers import pipeline
from workers.app import CHUNK_TASK, FINALIZE_TASK, PLAN_TASK, step_task_id
from workers.context import WorkerContext, get_context

log = get_logger("workers.tasks")
MAX_RETRY_DELAY_SECONDS = 30


@shared_task(bind=True, name=PLAN_TASK)
def plan_job(self: Task, job_id: str) -> None:
    """Plan a job and enqueue its chunks."""
    ctx = _context(self)
    try:
        pipeline.plan_job(
            ctx,
            job_id,
            enqueue_chunk=_enqueue_chunk(self),
            enqueue_finalize=_enqueue_finalize(self),
        )
    except Exception as exc:
        _retry_or_fail(self, ctx, job_id, "plan", exc)


@shared_task(bind=True, name=CHUNK_TASK)
def score_chunk(self: Task, job_id: str, index: int, start: int, end: int) -> str:
    """Score one chunk of a job."""
    ctx = _context(self)
    task = pipeline.ChunkTask(job_id, index, start, end)
    try:
        return pipeline.score_chunk_job(ctx, task, enqueue_finalize=_enqueue_finalize(self))
    except Exception as exc:
        _retry_or_fail(self, ctx, job_id, str(index), exc)
        return "retrying"


@shared_task(bind=True, name=FINALIZE_TASK)
def finalize_job(self: Task, job_id: str) -> str:
    """Join a job's parts into its result."""
    ctx = _context(self)
    try:
        return pipeline.finalize_job(ctx, job_id)
    except Exception as exc:
        _retry_or_fail(self, ctx, job_id, "finalize", exc)
        return "retrying"


@worker_process_init.connect
def _load_model(**_: Any) -> None:
    # Load the champion once per worker process, before the first chunk asks for it.
    from celery import current_app

    settings = getattr(current_app, "hpp_settings", None)
    if settings is None:
        return
    try:
        version = get_context(settings).preload_champion()
        log.info("worker_model_loaded", model_version=version)
    except Exception as exc:  # a missing model must not stop the worker from starting
        log.warning("worker_model_not_loaded", error=str(exc))


@worker_process_shutdown.connect
def _close(**_: Any) -> None:
    from workers import context

    if context._current is not None:
        context._current.close()


def _context(task: Task) -> WorkerContext:
    return get_context(task.app.hpp_settings)


def _enqueue_chunk(task: Task) -> pipeline.EnqueueChunk:
    def enqueue(chunk: pipeline.ChunkTask) -> None:
        task.app.send_task(
            CHUNK_TASK,
            args=[chunk.job_id, chunk.index, chunk.start, chunk.end],
            task_id=step_task_id(chunk.job_id, f"c{chunk.index}"),
        )

    return enqueue


def _enqueue_finalize(task: Task) -> pipeline.EnqueueFinalize:
    def enqueue(job_id: str) -> None:
        task.app.send_task(FINALIZE_TASK, args=[job_id], task_id=step_task_id(job_id, "finalize"))

    return enqueue


def _retry_or_fail(task: Task, ctx: WorkerContext, job_id: str, step: str, exc: Exception) -> None:
    """Retry with backoff while attempts remain (counted in Redis), else fail the job."""
    log.warning("job_step_error", job_id=job_id, step=step, error=repr(exc))
    try:
        ctx.jobs.record_error(job_id, step, repr(exc))
        attempts = ctx.jobs.add_attempt(job_id, f"{step}:errors")
        limit = ctx.settings.worker.max_chunk_attempts
        if attempts >= limit:
            label = f"chunk {step}" if step.isdigit() else f"the {step} step"
            pipeline.fail_job(ctx, job_id, f"{label} failed {attempts} times; last error: {exc!r}")
            return
        delay = min(2**attempts, MAX_RETRY_DELAY_SECONDS)
        raise task.retry(exc=exc, countdown=delay, max_retries=None)
    except (RedisError, OperationalError) as lost:
        # Redis is unreachable, so neither the error nor a retry can be recorded. A task that
        # raised would be acknowledged (and its chunk lost, the job stuck in running): hand
        # the message back instead, now or, if Redis is still down, after the visibility timeout.
        raise Reject(repr(lost), requeue=True) from exc

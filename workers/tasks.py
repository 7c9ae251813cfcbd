"""Celery tasks: thin wrappers that decode ids and call ``workers.pipeline``.

Each step task runs with its worker process's ``WorkerContext``: ``ContextStep`` (added to
the app's worker by ``jobs.queue.create_celery``) builds one as each pool process starts
and binds it to the app's ``StepTask`` instances, which log with their job and task ids.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import structlog
from celery import Celery, Task, bootsteps, shared_task
from celery.exceptions import Reject, SoftTimeLimitExceeded
from celery.signals import task_prerun, worker_process_init, worker_process_shutdown
from celery.worker.request import Request
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from jobs.fairqueue import FairQueue, Step
from jobs.queue import (
    CHUNK_TASK,
    FINALIZE_TASK,
    PLAN_TASK,
    parse_step_task_id,
    send_notices,
    step_task_id,
)
from observability.logging import get_logger
from workers import pipeline
from workers.context import WorkerContext
from workers.job_plan import ChunkTask

log = get_logger("workers.tasks")
MAX_RETRY_DELAY_SECONDS = 30
STEP_TASKS = frozenset({PLAN_TASK, CHUNK_TASK, FINALIZE_TASK})


class ContextTask(Task):
    """A task that runs with its worker process's context (bound when the process started)."""

    _context: WorkerContext | None = None

    @property
    def ctx(self) -> WorkerContext:
        """The worker process's context (bound when the process started)."""
        if self._context is None:
            raise RuntimeError("no worker context: this task runs in a worker process")
        return self._context

    def use_context(self, ctx: WorkerContext | None) -> None:
        """Run with ``ctx`` from now on (None: unbind, as the process stops)."""
        self._context = ctx


class StepTask(ContextTask):
    """A step of a batch job: runs with its process's context and logs its ids on every line."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the task with its job id (the first argument) and task id bound to the logs."""
        job_id = args[0] if args else kwargs.get("job_id")
        with structlog.contextvars.bound_contextvars(job_id=job_id, task_id=self.request.id):
            return super().__call__(*args, **kwargs)


class StepRequest(Request):
    """A task request that fails its job when the hard time limit kills the task.

    The hard limit kills the pool process and acknowledges the message (no redelivery);
    without this the job would wait for the watchdog to send the step again, only for it
    to be killed again. This runs in the worker's main process.
    """

    def on_timeout(self, soft: bool, timeout: float) -> None:
        """Log as Celery does; on the hard limit, fail the job with the reason."""
        super().on_timeout(soft, timeout)
        if not soft:
            _fail_timed_out(self.task.app, self.id, timeout)


@shared_task(bind=True, name=PLAN_TASK, base=StepTask, Request=StepRequest)
def plan_job(self: StepTask, job_id: str) -> None:
    """Plan a job and enqueue its chunks."""
    ctx = self.ctx
    try:
        pipeline.plan_job(
            ctx,
            job_id,
            enqueue_chunks=_enqueue_chunks(self),
            enqueue_finalize=_enqueue_finalize(self),
        )
    except SoftTimeLimitExceeded:
        _fail_slow(ctx, job_id, "plan")
    except Exception as exc:
        _retry_or_fail(self, ctx, job_id, "plan", exc)


@shared_task(bind=True, name=CHUNK_TASK, base=StepTask, Request=StepRequest)
def score_chunk(
    self: StepTask,
    job_id: str,
    index: int,
    start: int,
    end: int,
    source: int = 0,
    first_row: int | None = None,
    file: dict[str, Any] | None = None,
    typed: bool = False,
) -> str:
    """Score one chunk of a job (``workers.job_plan.ChunkTask``: the arguments are its
    fields; a message of an older worker has only the first five)."""
    ctx = self.ctx
    task = ChunkTask(job_id, index, start, end, source, first_row, file, typed)
    try:
        return pipeline.score_chunk_job(ctx, task, enqueue_finalize=_enqueue_finalize(self))
    except SoftTimeLimitExceeded:
        _fail_slow(ctx, job_id, str(index))
        return "too slow"
    except Exception as exc:
        _retry_or_fail(self, ctx, job_id, str(index), exc)
        return "retrying"


@shared_task(bind=True, name=FINALIZE_TASK, base=StepTask, Request=StepRequest)
def finalize_job(self: StepTask, job_id: str) -> str:
    """Join a job's parts into its result."""
    ctx = self.ctx
    try:
        return pipeline.finalize_job(ctx, job_id)
    except SoftTimeLimitExceeded:
        _fail_slow(ctx, job_id, "finalize")
        return "too slow"
    except Exception as exc:
        _retry_or_fail(self, ctx, job_id, "finalize", exc)
        return "retrying"


@task_prerun.connect
def _top_up_broker(sender: Task | None = None, **_: Any) -> None:
    # A worker took a message, so the broker has room: send the next steps, owner by owner.
    if not isinstance(sender, StepTask) or sender.name not in STEP_TASKS:
        return
    FairQueue.for_app(sender.app, sender.ctx.jobs.client).dispatch()


class ContextStep(bootsteps.Step):
    """Gives each process of this app's worker its own ``WorkerContext`` as it starts.

    Created in the worker's main process before the pool starts; the handlers it connects
    run in each pool process (in the main process with the solo pool): the context is
    built, bound to the app's step tasks, and the champion is loaded before the first
    chunk asks for it. On the process's exit the context is closed (its sink flushed).
    """

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        app, hostname = worker.app, worker.hostname
        self.context: WorkerContext | None = None

        def on_process_init(sender: object = None, **_: Any) -> None:
            if sender in (None, hostname):
                self.context = _start_process(app)

        def on_process_shutdown(**_: Any) -> None:
            # Nothing a task bound may describe the shutdown's own lines (audit_stream_closed).
            structlog.contextvars.clear_contextvars()
            if self.context is not None:
                _bind(app, None)
                self.context.close()
                self.context = None

        self._handlers = (on_process_init, on_process_shutdown)  # signals hold them weakly
        worker_process_init.connect(on_process_init)
        worker_process_shutdown.connect(on_process_shutdown)


def _start_process(app: Celery) -> WorkerContext:
    ctx = WorkerContext.start(app.hpp_settings)
    ctx.notify = partial(send_notices, app)
    _bind(app, ctx)
    try:
        version = ctx.preload_champion()
        log.info("worker_model_loaded", model_version=version)
    except Exception as exc:  # a missing model must not stop the worker from starting
        log.warning("worker_model_not_loaded", error=str(exc))
    return ctx


def _bind(app: Celery, ctx: WorkerContext | None) -> None:
    for task in list(app.tasks.values()):
        if isinstance(task, ContextTask):  # the job steps and the training queue's tasks
            task.use_context(ctx)


def _enqueue_chunks(task: StepTask) -> pipeline.EnqueueChunks:
    def enqueue(owner: str, chunks: list[ChunkTask]) -> None:
        steps = [
            Step(CHUNK_TASK, chunk.args(), step_task_id(chunk.job_id, f"c{chunk.index}"))
            for chunk in chunks
        ]
        FairQueue.for_app(task.app, task.ctx.jobs.client).submit(owner, steps)

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
            reason = f"{_step_label(step)} failed {attempts} times; last error: {exc!r}"
            pipeline.fail_job(ctx, job_id, reason)
            return
        delay = min(2**attempts, MAX_RETRY_DELAY_SECONDS)
        raise task.retry(exc=exc, countdown=delay, max_retries=None)
    except (RedisError, OperationalError) as lost:
        # Redis is unreachable, so neither the error nor a retry can be recorded. A task that
        # raised would be acknowledged (and its chunk lost, the job stuck in running): hand
        # the message back instead, now or, if Redis is still down, after the visibility timeout.
        raise Reject(repr(lost), requeue=True) from exc


def _fail_slow(ctx: WorkerContext, job_id: str, step: str) -> None:
    """The soft time limit struck: the input makes this step too slow, so retrying is futile."""
    limit = ctx.settings.worker.task_soft_time_limit_seconds
    pipeline.fail_job(ctx, job_id, _too_slow(step, limit))


def _fail_timed_out(app: Celery, task_id: str, timeout: float) -> None:
    parsed = parse_step_task_id(task_id)
    settings = getattr(app, "hpp_settings", None)
    if parsed is None or settings is None:
        return
    job_id, step = parsed
    ctx = WorkerContext.open(settings)
    ctx.notify = partial(send_notices, app)
    try:
        pipeline.fail_job(ctx, job_id, _too_slow(step, timeout))
    except Exception as exc:  # Redis away: the watchdog and the attempt cap still end the job
        log.warning("job_fail_after_time_limit_failed", job_id=job_id, error=repr(exc))
    finally:
        ctx.close()


def _too_slow(step: str, limit: float) -> str:
    return (
        f"{_step_label(step)} did not finish within {limit:g} s, the time limit for one step "
        "(a file this slow to read is refused rather than retried)"
    )


def _step_label(step: str) -> str:
    """``chunk 3`` for ``3`` or ``c3``; ``the plan step`` for ``plan``."""
    index = step.removeprefix("c")
    return f"chunk {index}" if index.isdigit() else f"the {step} step"

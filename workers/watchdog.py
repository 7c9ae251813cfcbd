"""Find the messages of a job that the broker lost, and send them again.

Celery over Redis delivers at least once only once a message is in kombu's ``unacked``
hash: a worker takes a message with ``BRPOP`` and records it there in a second command.
A worker killed between the two (or before it read the reply off its socket) takes the
message with it, and its job would wait forever for that chunk.

Every step of a job is idempotent, so sending a step twice costs time, never
correctness. The watchdog therefore looks for steps that are due and not in the broker:
each task id names its job and step (``jobs.queue.step_task_id``), and one Lua script
reads every task id in the queue and in ``unacked`` in one atomic snapshot (steps still
waiting in an owner's queue, ``jobs.fairqueue``, count as on their way too). A job is
looked at only when it has made no progress for a while (an index of active jobs by last
progress, ``jobs.keys.ACTIVE_JOBS_KEY``), and a step is sent again only when it was missing
from two snapshots in a row, one interval apart (a message is out of both places for the
microseconds between ``BRPOP`` and the ``unacked`` write, too).

Each worker runs the watchdog on Celery's timer (``WatchdogStep``); a Redis lock lets
one of them sweep per interval.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

from celery import bootsteps

from jobs.blobs import BlobNotFoundError
from jobs.fairqueue import FairQueue, Send
from jobs.file_list import load_sources
from jobs.keys import ACTIVE_JOBS_KEY, WATCHDOG_LOCK_KEY, WATCHDOG_SUSPECTS_KEY
from jobs.models import FINAL_STATES, QUEUED, JobRecord
from jobs.pointer import SourceFile
from jobs.queue import (
    BROKER_IDS_LUA,
    CHUNK_TASK,
    FINALIZE_TASK,
    PLAN_TASK,
    broker_keys,
    parse_step_task_id,
    step_task_id,
)
from jobs.store import JobStore
from jobs.sync_blobs import SyncBlobStore
from observability.logging import get_logger
from workers.job_plan import chunk_tasks, load_plan

log = get_logger("workers.watchdog")
MAX_JOBS_PER_SWEEP = 500  # the longest-stalled first; the rest at the next sweep


@dataclass(frozen=True)
class DueStep:
    """A step a job waits for: what to send to run it again."""

    job_id: str
    step: str
    task: str
    args: list[Any]

    @property
    def label(self) -> str:
        """``job_id:step``, as kept in the suspects set."""
        return f"{self.job_id}:{self.step}"


class Watchdog:
    """Sends again the steps of stalled jobs that are nowhere in the broker."""

    def __init__(
        self,
        jobs: JobStore,
        *,
        blobs: SyncBlobStore,
        send: Send,
        stall_seconds: float,
        fair: FairQueue | None = None,
    ) -> None:
        self.jobs, self.send, self.stall_seconds, self.fair = jobs, send, stall_seconds, fair
        self.blobs = blobs  # where the plans are: a resent chunk's message is made from it
        self.client: Any = jobs.client
        self._broker_ids = self.client.register_script(BROKER_IDS_LUA)

    def sweep(self, *, now: float | None = None) -> list[DueStep]:
        """One look at the stalled jobs; returns the steps sent again."""
        now = time.time() if now is None else now
        stalled = self.client.zrangebyscore(
            ACTIVE_JOBS_KEY, "-inf", now - self.stall_seconds, start=0, num=MAX_JOBS_PER_SWEEP
        )
        due = [step for job_id in stalled for step in self._due_steps(job_id)]
        previous = set(self.client.smembers(WATCHDOG_SUSPECTS_KEY)) if due else set()
        missing = self._not_in_broker(due)
        resend = [step for step in missing if step.label in previous]
        suspects = [step.label for step in missing if step.label not in previous]
        with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(WATCHDOG_SUSPECTS_KEY)
            if suspects:
                pipe.sadd(WATCHDOG_SUSPECTS_KEY, *suspects)
                pipe.expire(WATCHDOG_SUSPECTS_KEY, max(60, int(self.stall_seconds * 4)))
            pipe.execute()
        for step in resend:
            log.warning("job_step_resent", job_id=step.job_id, step=step.step)
            self.send(step.task, step.args, step_task_id(step.job_id, step.step))
        return resend

    def _due_steps(self, job_id: str) -> list[DueStep]:
        """What the job waits for: its plan, its uncounted chunks, or its finalize step."""
        record = self.jobs.get(job_id)
        if record is None or record.status in FINAL_STATES:
            self.client.zrem(ACTIVE_JOBS_KEY, job_id)
            return []
        planned = record.status != QUEUED and bool(record.plan or record.plan_blob)
        done = self.jobs.counted_chunks(job_id) if planned else set()
        if planned and len(done) >= record.chunks_total:
            return [DueStep(job_id, "finalize", FINALIZE_TASK, [job_id])]
        plan = load_plan(self.blobs, record) if planned else None  # the lost chunks' messages
        sources = self._sources(record) if plan is not None else None
        if plan is None or sources is None:  # the plan step plans, or fails the job
            return [DueStep(job_id, "plan", PLAN_TASK, [job_id])]
        chunks = [
            DueStep(job_id, f"c{task.index}", CHUNK_TASK, task.args())
            for task in chunk_tasks(record, plan, sources, skip=done)
        ]
        return chunks or [DueStep(job_id, "finalize", FINALIZE_TASK, [job_id])]

    def _sources(self, record: JobRecord) -> list[SourceFile] | None:
        """The job's input files, or None if their list is gone."""
        try:
            return load_sources(self.blobs, record)
        except BlobNotFoundError:
            return None

    def _not_in_broker(self, due: list[DueStep]) -> list[DueStep]:
        """The due steps with no message waiting or taken (a job whose plan step is in
        the broker is left alone: that step sends every uncounted chunk again)."""
        if not due:
            return []
        # The owners' queues first: a step moving on from there is then seen in the broker.
        pending = self.fair.pending_ids() if self.fair is not None else []
        present = {
            parsed
            for task_id in [*pending, *self._broker_ids(keys=broker_keys())]
            if (parsed := parse_step_task_id(task_id)) is not None
        }
        planning = {job_id for job_id, step in present if step == "plan"}
        return [
            step
            for step in due
            if step.job_id not in planning and (step.job_id, step.step) not in present
        ]


def try_sweep(watchdog: Watchdog, *, interval: float) -> list[DueStep]:
    """Sweep if no other worker did within this interval."""
    lock = max(1, int(interval * 0.8))
    if not watchdog.client.set(WATCHDOG_LOCK_KEY, "1", nx=True, ex=lock):
        return []
    return watchdog.sweep()


class WatchdogStep(bootsteps.StartStopStep):
    """Runs the watchdog on the worker's timer, every ``HPP_WATCHDOG_SECONDS``."""

    requires: ClassVar[tuple[str, ...]] = ("celery.worker.components:Timer",)

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.timer_ref: Any = None
        self.watchdog: Watchdog | None = None

    def start(self, worker: Any) -> None:
        """Start sweeping (unless the interval is 0)."""
        settings = getattr(worker.app, "hpp_settings", None)
        if settings is None or settings.worker.watchdog_seconds <= 0:
            return
        interval = float(settings.worker.watchdog_seconds)
        jobs = JobStore.from_url(
            str(settings.core.redis_url), ttl_seconds=settings.worker.result_ttl_seconds
        )
        blobs = SyncBlobStore.open(settings.core.resolved_blob_url())
        fair = FairQueue.for_app(worker.app, jobs.client)
        self.watchdog = Watchdog(
            jobs, blobs=blobs, send=fair.send, stall_seconds=interval, fair=fair
        )
        self.timer_ref = worker.timer.call_repeatedly(interval, self._tick, args=(interval,))

    def stop(self, worker: Any) -> None:
        """Stop sweeping."""
        if self.timer_ref is not None:
            self.timer_ref.cancel()
            self.timer_ref = None
        if self.watchdog is not None:
            self.watchdog.jobs.close()
            self.watchdog.blobs.close()
            self.watchdog = None

    def _tick(self, interval: float) -> None:
        if self.watchdog is None:
            return
        try:
            try_sweep(self.watchdog, interval=interval)
            if self.watchdog.fair is not None:  # in case no worker took a message lately
                self.watchdog.fair.dispatch()
        except Exception as exc:  # Redis away: the next tick tries again
            log.warning("watchdog_sweep_failed", error=repr(exc))

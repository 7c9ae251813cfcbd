"""The job record in Redis for synchronous code (the workers, ``hpp compare``).

One hash per job (``jobs.keys.job_key``) holds owner, status, row counts, the pinned
model version, timings and where the chunk plan lives (the plan itself is a blob, so the
hash does not grow with the chunks); a set records which chunks are counted (so a
redelivered chunk is counted once); a sorted set per owner lists their jobs, newest
first; a pub/sub channel per job announces every change. State changes that must happen
once (count a chunk, finish a job) are Lua scripts (``jobs.scripts``), atomic in Redis.

``AsyncJobStore`` (``jobs.async_store``) is the gateway's side of the same records.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import redis

from core.text import clip
from jobs import keys
from jobs.models import (
    FAILED,
    FINAL_STATES,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    JobRecord,
    encode_fields,
)
from jobs.outbox import NoticePolicy, finish_args, finish_keys
from jobs.scripts import COUNT_CHUNK_LUA, FINISH_LUA, TRANSITION_LUA, UPDATE_LUA

# What a chunk step reads of a job's hash: every field but those that grow with the
# input (the file list and the plan of jobs made before both moved to the blob store).
STEP_FIELDS = [name for name in JobRecord.model_fields if name not in ("sources", "plan", "drift")]


def new_job_id() -> str:
    """An unguessable job id."""
    return secrets.token_urlsafe(16)


def transition_args(status: str, allowed: tuple[str, ...], fields: dict[str, str]) -> list[str]:
    """The arguments of ``TRANSITION_LUA``: the new status, the allowed ones, then fields."""
    args = [status, *allowed, "|"]
    for name, value in fields.items():
        args.extend([name, value])
    return args


class JobStore:
    """Job records for synchronous callers (the workers)."""

    def __init__(
        self, client: redis.Redis, *, ttl_seconds: int, notices: NoticePolicy | None = None
    ) -> None:
        # decode_responses=True: replies are str, which redis-py's types cannot express.
        self.client: Any = client
        self.ttl_seconds = ttl_seconds
        # What a final state owes (jobs.outbox): webhooks always, SNS when a topic is set.
        self.notices = notices or NoticePolicy()
        self._count = client.register_script(COUNT_CHUNK_LUA)
        self._transition = client.register_script(TRANSITION_LUA)
        self._finish = client.register_script(FINISH_LUA)
        self._update = client.register_script(UPDATE_LUA)

    @classmethod
    def from_url(
        cls, url: str, *, ttl_seconds: int, notices: NoticePolicy | None = None
    ) -> JobStore:
        """A store on a new connection pool to ``url``."""
        client = redis.Redis.from_url(url, decode_responses=True)
        return cls(client, ttl_seconds=ttl_seconds, notices=notices)

    def get(self, job_id: str) -> JobRecord | None:
        """The job's record, or None when it does not exist (expired or deleted)."""
        fields: dict[str, str] = self.client.hgetall(keys.job_key(job_id))
        return JobRecord.from_redis(fields) if fields else None

    def get_for_step(self, job_id: str) -> JobRecord | None:
        """The job's record without the fields a chunk step never needs (a pointer job's
        file list, an old-style plan, the drift report): what it reads stays the same size
        however many chunks and files the job has. None when the job does not exist."""
        values: list[str | None] = self.client.hmget(keys.job_key(job_id), STEP_FIELDS)
        fields = {
            name: value
            for name, value in zip(STEP_FIELDS, values, strict=True)
            if value is not None
        }
        return JobRecord.from_redis(fields) if fields else None

    def put(self, record: JobRecord) -> None:
        """Store a record as it is (the gateway creates jobs with ``AsyncJobStore.admit``,
        which also checks the quotas; this is for tools and tests)."""
        self.client.hset(keys.job_key(record.id), mapping=record.to_redis())

    def save_plan(
        self,
        job_id: str,
        *,
        plan_blob: str,
        columns: list[str],
        feature_positions: dict[str, int],
        rows_total: int,
        chunks_total: int,
    ) -> bool:
        """Note on the job that it is planned (its plan stored at ``plan_blob``) with the
        plan's constant-size facts, if it still exists; False if it is gone."""
        return self._set(
            job_id,
            plan_blob=plan_blob,
            columns=columns,
            feature_positions=feature_positions,
            rows_total=rows_total,
            chunks_total=chunks_total,
        )

    def save_drift(self, job_id: str, report: dict[str, Any]) -> bool:
        """Keep the job's drift report on its record if it still exists."""
        return self._set(job_id, drift=report)

    def start(self, job_id: str) -> bool:
        """Move a queued job to running, once; True if it moved."""
        return self.transition(job_id, RUNNING, allowed=(QUEUED,), started_at=time.time())

    def succeed(self, job_id: str, *, rows_total: int) -> bool:
        """Move a running job to succeeded, once; True if it moved."""
        return self.transition(
            job_id, SUCCEEDED, allowed=(RUNNING,), finished_at=time.time(), rows_total=rows_total
        )

    def fail(self, job_id: str, reason: str) -> bool:
        """Move a queued or running job to failed with ``reason``, once; True if it moved."""
        return self.transition(
            job_id, FAILED, allowed=(QUEUED, RUNNING), finished_at=time.time(), error=reason
        )

    def transition(
        self, job_id: str, status: str, *, allowed: tuple[str, ...], **fields: float | int | str
    ) -> bool:
        """Move the job to ``status`` if it is in one of ``allowed``; True if it moved.

        A final state records the notices it owes in the same step (``jobs.outbox``).
        """
        args = transition_args(status, allowed, encode_fields(fields))
        if status in FINAL_STATES:
            owed = finish_args(self.notices, job_id, now=time.time())
            moved = self._finish(keys=finish_keys(job_id), args=owed + args)
        else:
            moved = self._transition(keys=[keys.job_key(job_id)], args=args)
        if moved:
            if status in FINAL_STATES:
                for key in keys.job_keys(job_id):
                    self.client.expire(key, self.ttl_seconds)
                self.client.zrem(keys.ACTIVE_JOBS_KEY, job_id)
            else:
                self.touch(job_id)
            self.publish(job_id, status)
        return bool(moved)

    def touch(self, job_id: str) -> None:
        """Note progress of an active job (the watchdog looks only at stalled ones)."""
        self.client.zadd(keys.ACTIVE_JOBS_KEY, {job_id: time.time()}, xx=True)

    def count_chunk(self, job_id: str, index: int, *, rows: int, failed: int) -> int:
        """Count a scored chunk once; the number of chunks counted, or -1 if not running."""
        names = [keys.job_key(job_id), keys.done_key(job_id), keys.ACTIVE_JOBS_KEY]
        args: list[str | int | float] = [
            index,
            rows,
            failed,
            self.ttl_seconds * 2,
            time.time(),
            job_id,
        ]
        return int(self._count(keys=names, args=args))

    def counted(self, job_id: str, index: int) -> bool:
        """Whether a chunk is already counted."""
        return bool(self.client.sismember(keys.done_key(job_id), str(index)))

    def counted_chunks(self, job_id: str) -> set[int]:
        """The indexes of the chunks counted so far."""
        return {int(index) for index in self.client.smembers(keys.done_key(job_id))}

    def counted_total(self, job_id: str) -> int:
        """How many chunks are counted."""
        return int(self.client.scard(keys.done_key(job_id)))

    def add_attempt(self, job_id: str, index: int | str) -> int:
        """Record one more attempt at a chunk; the attempts so far."""
        key = keys.attempts_key(job_id)
        attempts = int(self.client.hincrby(key, str(index), 1))
        self.client.expire(key, self.ttl_seconds)
        return attempts

    def record_error(self, job_id: str, index: int | str, error: str) -> None:
        """Remember a chunk's last error (reported if it runs out of attempts)."""
        self.client.hset(keys.attempts_key(job_id), f"{index}:error", clip(error))

    def last_error(self, job_id: str, index: int | str) -> str | None:
        """The last error recorded for a chunk."""
        error: str | None = self.client.hget(keys.attempts_key(job_id), f"{index}:error")
        return error

    def publish(self, job_id: str, status: str) -> None:
        """Announce a change of the job on its channel."""
        self.client.publish(keys.events_channel(job_id), status)

    def is_known(self, job_id: str) -> bool:
        """Whether a job has a record, or an upload under way (its blobs are wanted)."""
        return bool(self.client.exists(keys.job_key(job_id), keys.upload_mark_key(job_id)))

    def claim_sweep(self, seconds: int) -> bool:
        """Whether this caller may sweep orphan blobs now (one sweep per ``seconds``)."""
        return bool(self.client.set(keys.SWEEP_LOCK_KEY, "1", nx=True, ex=seconds))

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def _set(self, job_id: str, **fields: Any) -> bool:
        """Set fields of the job if it still exists; False if it is gone."""
        args = [item for pair in encode_fields(fields).items() for item in pair]
        return bool(self._update(keys=[keys.job_key(job_id)], args=args))

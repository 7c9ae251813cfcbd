"""The job records for the async gateway: admit within quotas, read, list, cancel, delete.

The same Redis hashes as ``jobs.store.JobStore`` (the workers' side), on a blocking
connection pool with short timeouts, so a Redis outage fails a request fast (503).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aioredis

from jobs import keys
from jobs.models import CANCELLED, QUEUED, RUNNING, JobRecord, encode_fields
from jobs.outbox import NoticePolicy, finish_args, finish_keys
from jobs.scripts import ADMIT_LUA, FINISH_LUA
from jobs.store import transition_args

IDEMPOTENCY_TTL_SECONDS = 24 * 3600
# How long a gateway request waits for a free Redis connection before failing (503).
POOL_WAIT_SECONDS = 5


@dataclass(frozen=True)
class Quota:
    """Queued or running jobs allowed per owner, and per key with all its end users."""

    per_owner: int
    per_key: int


@dataclass(frozen=True)
class Admission:
    """The outcome of a quota check: admitted, or over the owner's or the key's limit."""

    admitted: bool
    over_key: bool
    active: int


class AsyncJobStore:
    """Job records for the async gateway."""

    def __init__(
        self, client: aioredis.Redis, *, ttl_seconds: int, notices: NoticePolicy | None = None
    ) -> None:
        self.client: Any = client
        self.ttl_seconds = ttl_seconds
        # What a final state owes (jobs.outbox): webhooks always, SNS when a topic is set.
        self.notices = notices or NoticePolicy()
        self._finish = client.register_script(FINISH_LUA)
        self._admit = client.register_script(ADMIT_LUA)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        ttl_seconds: int,
        max_connections: int = 100,
        notices: NoticePolicy | None = None,
    ) -> AsyncJobStore:
        """A store on a new connection pool to ``url`` (short timeouts: fail fast when down).

        The pool is a blocking one: a burst beyond ``max_connections`` waits a moment for a
        connection rather than failing at once.
        """
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=POOL_WAIT_SECONDS,
            decode_responses=True,
            socket_connect_timeout=2,
            socket_timeout=5,
        )
        return cls(aioredis.Redis.from_pool(pool), ttl_seconds=ttl_seconds, notices=notices)

    async def ping(self) -> bool:
        """Whether Redis answers."""
        try:
            return bool(await self.client.ping())
        except (redis.RedisError, OSError):
            return False

    async def admit(
        self, *, owner: str, key_name: str, quota: Quota, record: JobRecord | None = None
    ) -> Admission:
        """Whether the owner and the key are under their quotas of queued and running jobs;
        with ``record``, the job is stored (and indexed) in the same atomic step if so."""
        fields = [item for pair in (record.to_redis() if record else {}).items() for item in pair]
        job_id = record.id if record else ""
        verdict, count = await self._admit(
            keys=[
                keys.job_key(job_id),
                keys.owner_jobs_key(owner),
                keys.ACTIVE_JOBS_KEY,
                keys.active_owner_key(owner),
                keys.active_key_key(key_name),
            ],
            args=[
                "1" if record else "0",
                quota.per_owner,
                quota.per_key,
                keys.job_key(""),
                self.ttl_seconds * 2,  # a safety net: a job that never finishes still expires
                repr(record.created_at) if record else "0",
                job_id,
                self.ttl_seconds,
                *fields,
            ],
        )
        return Admission(admitted=verdict == 1, over_key=verdict == -1, active=int(count))

    async def get(self, job_id: str, *, owner: str) -> JobRecord | None:
        """The job's record if it exists and belongs to ``owner``; else None."""
        fields: dict[str, str] = await self.client.hgetall(keys.job_key(job_id))
        if not fields or not secrets.compare_digest(fields.get("owner", ""), owner):
            return None
        return JobRecord.from_redis(fields)

    async def list(
        self, *, owner: str, limit: int, cursor: float | None = None
    ) -> tuple[list[JobRecord], float | None]:
        """The owner's jobs, newest first, and the cursor of the next page (or None)."""
        high: float | str = f"({cursor!r}" if cursor is not None else "+inf"
        found = await self.client.zrevrangebyscore(
            keys.owner_jobs_key(owner), high, "-inf", start=0, num=limit + 1, withscores=True
        )
        records: list[JobRecord] = []
        stale: list[str] = []
        for job_id, _score in found[:limit]:
            fields = await self.client.hgetall(keys.job_key(job_id))
            (records.append(JobRecord.from_redis(fields)) if fields else stale.append(job_id))
        if stale:
            await self.client.zrem(keys.owner_jobs_key(owner), *stale)
        next_cursor = float(found[limit - 1][1]) if len(found) > limit else None
        return records, next_cursor

    async def cancel(self, job_id: str) -> bool:
        """Mark a job cancelled if it is not final, and announce it; True if it was cancelled.

        The record stays (listed, readable) and expires after the result TTL like a
        finished job; workers drop the chunks of a job that is no longer running. The
        notices the cancel owes are recorded in the same step (``jobs.outbox``).
        """
        now = time.time()
        fields = encode_fields({"finished_at": now})
        moved = await self._finish(
            keys=finish_keys(job_id),
            args=finish_args(self.notices, job_id, now=now)
            + transition_args(CANCELLED, (QUEUED, RUNNING), fields),
        )
        if not moved:
            return False
        async with self.client.pipeline(transaction=True) as pipe:
            for key in keys.job_keys(job_id):
                pipe.expire(key, self.ttl_seconds)
            pipe.zrem(keys.ACTIVE_JOBS_KEY, job_id)
            pipe.publish(keys.events_channel(job_id), CANCELLED)
            await pipe.execute()
        return True

    async def delete(self, job_id: str) -> None:
        """Drop a job's keys and its place in its owner's list (cancel it first if it runs)."""
        owner = await self.client.hget(keys.job_key(job_id), "owner")
        await self.client.delete(*keys.job_keys(job_id))
        await self.client.zrem(keys.ACTIVE_JOBS_KEY, job_id)
        if owner:
            await self.client.zrem(keys.owner_jobs_key(owner), job_id)

    async def mark_upload(self, job_id: str, *, seconds: int) -> None:
        """Keep the orphan sweep off a job's blobs while its upload streams in."""
        await self.client.set(keys.upload_mark_key(job_id), "1", ex=seconds)

    async def unmark_upload(self, job_id: str) -> None:
        """The job's record (or its failure) now decides what happens to its blobs."""
        await self.client.delete(keys.upload_mark_key(job_id))

    async def claim_idempotency(self, owner: str, key: str, body_sha256: str, job_id: str) -> str:
        """Bind ``key`` to this body and job; returns the stored ``"sha job_id"`` if taken."""
        name = keys.idempotency_key(owner, key)
        value = f"{body_sha256} {job_id}"
        if await self.client.set(name, value, nx=True, ex=IDEMPOTENCY_TTL_SECONDS):
            return value
        existing: str | None = await self.client.get(name)
        return existing or value

    async def release_idempotency(self, owner: str, key: str) -> None:
        """Forget an idempotency key (its job could not be created)."""
        await self.client.delete(keys.idempotency_key(owner, key))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()

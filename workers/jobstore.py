"""The job record in Redis: the source of truth for a batch job's state and progress.

One hash per job (``hpp:job:{id}``) holds owner, status, row counts, the pinned model
version, timings and the chunk plan; a set records which chunks are counted (so a
redelivered chunk is counted once); a sorted set per owner lists their jobs, newest
first; a pub/sub channel per job announces every change. State changes that must happen
once (count a chunk, finish a job) are Lua scripts, atomic in Redis.

``JobStore`` is for synchronous code (Celery tasks); ``AsyncJobStore`` for the gateway.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aioredis

from core.text import clip

PREFIX = "hpp"
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
)
FINAL_STATES = frozenset({SUCCEEDED, FAILED, CANCELLED})
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
# Jobs not yet final, by the time of their last progress (for the watchdog).
ACTIVE_KEY = f"{PREFIX}:jobs:active"
# How long a gateway request waits for a free Redis connection before failing (503).
POOL_WAIT_SECONDS = 5

# Count a chunk once: returns -1 when the job is gone or not running, else the number of
# chunks counted so far (including this one, whether or not it was counted just now).
COUNT_CHUNK_LUA = """
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return -1 end
if redis.call('SADD', KEYS[2], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'rows_done', ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'rows_failed', ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
  redis.call('ZADD', KEYS[3], 'XX', ARGV[5], ARGV[6])
end
return redis.call('SCARD', KEYS[2])
"""

# Set fields only on a job that still exists (a deleted job must not reappear half-made).
UPDATE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

# Move a job from one of the allowed states to a new one, once; extra fields are set with it.
TRANSITION_LUA = """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return 0 end
local allowed = false
local split = 0
for i = 2, #ARGV do
  if ARGV[i] == '|' then split = i break end
  if ARGV[i] == current then allowed = true end
end
if not allowed then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1])
for i = split + 1, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
return 1
"""


# Admit a job within the quotas: the owner's and the key's sets of active jobs are pruned of
# jobs no longer queued or running, then counted; only if both are under their limits is the
# job created (ARGV[1] = 1) or just judged admissible (ARGV[1] = 0). Returns {verdict, count}:
# verdict 1 admitted, 0 over the owner's limit, -1 over the key's.
ADMIT_LUA = """
local function live(set)
  local n = 0
  for _, id in ipairs(redis.call('SMEMBERS', set)) do
    local status = redis.call('HGET', ARGV[4] .. id, 'status')
    if status == 'queued' or status == 'running' then n = n + 1 else redis.call('SREM', set, id) end
  end
  return n
end
local mine = live(KEYS[4])
if mine >= tonumber(ARGV[2]) then return {0, mine} end
local all = live(KEYS[5])
if all >= tonumber(ARGV[3]) then return {-1, all} end
if ARGV[1] == '0' then return {1, mine} end
redis.call('HSET', KEYS[1], unpack(ARGV, 9))
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[7])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[7])
for i = 4, 5 do
  redis.call('SADD', KEYS[i], ARGV[7])
  redis.call('EXPIRE', KEYS[i], ARGV[8])
end
return {1, mine + 1}
"""


def job_key(job_id: str) -> str:
    """The hash holding one job's record."""
    return f"{PREFIX}:job:{job_id}"


def done_key(job_id: str) -> str:
    """The set of chunk indexes already counted."""
    return f"{PREFIX}:job:{job_id}:done"


def attempts_key(job_id: str) -> str:
    """Attempts (and last error) per chunk."""
    return f"{PREFIX}:job:{job_id}:attempts"


def owner_key(owner: str) -> str:
    """The sorted set of an owner's job ids by creation time."""
    return f"{PREFIX}:owner:{owner}:jobs"


def active_owner_key(owner: str) -> str:
    """The set of an owner's jobs counted against their quota."""
    return f"{PREFIX}:active:owner:{owner}"


def active_key_key(key_name: str) -> str:
    """The set of a key's jobs (all its end users) counted against the key's quota."""
    return f"{PREFIX}:active:key:{key_name}"


def events_channel(job_id: str) -> str:
    """The pub/sub channel announcing a job's changes."""
    return f"{PREFIX}:job:{job_id}:events"


# Every job's events channel, for one pattern subscription.
EVENTS_PATTERN = events_channel("*")


def job_of_channel(channel: str) -> str:
    """The job id an events channel belongs to."""
    return channel.removeprefix(f"{PREFIX}:job:").removesuffix(":events")


def idempotency_key(owner: str, key: str) -> str:
    """Where an ``Idempotency-Key`` of one owner maps to its job."""
    return f"{PREFIX}:idem:{owner}:{hashlib.sha256(key.encode()).hexdigest()}"


def job_keys(job_id: str) -> list[str]:
    """Every Redis key of one job."""
    return [job_key(job_id), done_key(job_id), attempts_key(job_id)]


def new_job_id() -> str:
    """An unguessable job id."""
    return secrets.token_urlsafe(16)


def new_record(
    *,
    job_id: str,
    owner: str,
    filename: str,
    input_key: str,
    input_bytes: int,
    model_version: str,
    comparables: int = 0,
    now: float | None = None,
) -> dict[str, str]:
    """The hash fields of a freshly submitted job (``comparables``: columns per row, 0-3)."""
    return {
        "id": job_id,
        "owner": owner,
        "status": QUEUED,
        "filename": filename,
        "created_at": repr(now if now is not None else time.time()),
        "started_at": "",
        "finished_at": "",
        "rows_total": "0",
        "rows_done": "0",
        "rows_failed": "0",
        "chunks_total": "0",
        "model_version": model_version,
        "error": "",
        "input_key": input_key,
        "input_bytes": str(input_bytes),
        "comparables": str(comparables),
    }


def job_comparables(record: dict[str, str]) -> int:
    """How many comparable sales' columns the job adds per row (0 for none)."""
    return int(record.get("comparables") or 0)


def job_view(record: dict[str, str], *, now: float | None = None) -> dict[str, Any]:
    """The public Job JSON (without links) of a stored record."""
    now = now if now is not None else time.time()
    total, done = int(record.get("rows_total") or 0), int(record.get("rows_done") or 0)
    started = _float(record.get("started_at"))
    finished = _float(record.get("finished_at"))
    status = record.get("status", QUEUED)
    elapsed = ((finished or now) - started) if started else None
    rate = done / elapsed if elapsed and elapsed > 0 and done else None
    progress = 1.0 if status == SUCCEEDED else (min(done / total, 1.0) if total else 0.0)
    eta = (max(total - done, 0) / rate) if rate and status == RUNNING else None
    return {
        "id": record["id"],
        "status": status,
        "filename": record.get("filename") or None,
        "created_at": iso_time(_float(record.get("created_at"))),
        "started_at": iso_time(started),
        "finished_at": iso_time(finished),
        "rows_total": total,
        "rows_done": done,
        "rows_failed": int(record.get("rows_failed") or 0),
        "progress": round(progress, 4),
        "rows_per_second": round(rate, 1) if rate else None,
        "eta_seconds": round(eta, 1) if eta is not None else None,
        "model_version": record.get("model_version") or None,
        "error": record.get("error") or None,
        "comparables": job_comparables(record),
    }


def _float(value: str | None) -> float | None:
    return float(value) if value else None


def iso_time(epoch: float | None) -> str | None:
    """An epoch time as the API writes every time: ISO 8601 in UTC (``...Z``)."""
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat().replace("+00:00", "Z")


def _transition_args(status: str, allowed: tuple[str, ...], fields: dict[str, str]) -> list[str]:
    args = [status, *allowed, "|"]
    for name, value in fields.items():
        args.extend([name, value])
    return args


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


class JobStore:
    """Job records for synchronous callers (the workers)."""

    def __init__(self, client: redis.Redis, *, ttl_seconds: int) -> None:
        # decode_responses=True: replies are str, which redis-py's types cannot express.
        self.client: Any = client
        self.ttl_seconds = ttl_seconds
        self._count = client.register_script(COUNT_CHUNK_LUA)
        self._transition = client.register_script(TRANSITION_LUA)
        self._update = client.register_script(UPDATE_LUA)

    @classmethod
    def from_url(cls, url: str, *, ttl_seconds: int) -> JobStore:
        """A store on a new connection pool to ``url``."""
        return cls(redis.Redis.from_url(url, decode_responses=True), ttl_seconds=ttl_seconds)

    def get(self, job_id: str) -> dict[str, str] | None:
        """The job's record, or None when it does not exist (expired or deleted)."""
        record: dict[str, str] = self.client.hgetall(job_key(job_id))
        return record or None

    def update(self, job_id: str, **fields: str) -> bool:
        """Set fields of the job if it still exists; False if it is gone."""
        args = [item for pair in fields.items() for item in pair]
        return bool(self._update(keys=[job_key(job_id)], args=args))

    def transition(
        self, job_id: str, status: str, *, allowed: tuple[str, ...], **fields: str
    ) -> bool:
        """Move the job to ``status`` if it is in one of ``allowed``; True if it moved."""
        moved = self._transition(
            keys=[job_key(job_id)], args=_transition_args(status, allowed, fields)
        )
        if moved:
            if status in FINAL_STATES:
                for key in job_keys(job_id):
                    self.client.expire(key, self.ttl_seconds)
                self.client.zrem(ACTIVE_KEY, job_id)
            else:
                self.touch(job_id)
            self.publish(job_id, status)
        return bool(moved)

    def touch(self, job_id: str) -> None:
        """Note progress of an active job (the watchdog looks only at stalled ones)."""
        self.client.zadd(ACTIVE_KEY, {job_id: time.time()}, xx=True)

    def count_chunk(self, job_id: str, index: int, *, rows: int, failed: int) -> int:
        """Count a scored chunk once; the number of chunks counted, or -1 if not running."""
        keys = [job_key(job_id), done_key(job_id), ACTIVE_KEY]
        args: list[str | int | float] = [
            index,
            rows,
            failed,
            self.ttl_seconds * 2,
            time.time(),
            job_id,
        ]
        return int(self._count(keys=keys, args=args))

    def counted(self, job_id: str, index: int) -> bool:
        """Whether a chunk is already counted."""
        return bool(self.client.sismember(done_key(job_id), str(index)))

    def counted_chunks(self, job_id: str) -> set[int]:
        """The indexes of the chunks counted so far."""
        return {int(index) for index in self.client.smembers(done_key(job_id))}

    def counted_total(self, job_id: str) -> int:
        """How many chunks are counted."""
        return int(self.client.scard(done_key(job_id)))

    def add_attempt(self, job_id: str, index: int | str) -> int:
        """Record one more attempt at a chunk; the attempts so far."""
        key = attempts_key(job_id)
        attempts = int(self.client.hincrby(key, str(index), 1))
        self.client.expire(key, self.ttl_seconds)
        return attempts

    def record_error(self, job_id: str, index: int | str, error: str) -> None:
        """Remember a chunk's last error (reported if it runs out of attempts)."""
        self.client.hset(attempts_key(job_id), f"{index}:error", clip(error))

    def last_error(self, job_id: str, index: int | str) -> str | None:
        """The last error recorded for a chunk."""
        return self.client.hget(attempts_key(job_id), f"{index}:error")

    def publish(self, job_id: str, status: str) -> None:
        """Announce a change of the job on its channel."""
        self.client.publish(events_channel(job_id), status)

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()


class AsyncJobStore:
    """Job records for the async gateway."""

    def __init__(self, client: aioredis.Redis, *, ttl_seconds: int) -> None:
        self.client: Any = client
        self.ttl_seconds = ttl_seconds
        self._transition = client.register_script(TRANSITION_LUA)
        self._admit = client.register_script(ADMIT_LUA)

    @classmethod
    def from_url(cls, url: str, *, ttl_seconds: int, max_connections: int = 100) -> AsyncJobStore:
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
        return cls(aioredis.Redis.from_pool(pool), ttl_seconds=ttl_seconds)

    async def ping(self) -> bool:
        """Whether Redis answers."""
        try:
            return bool(await self.client.ping())
        except (redis.RedisError, OSError):
            return False

    async def admit(
        self, *, owner: str, key_name: str, quota: Quota, record: dict[str, str] | None = None
    ) -> Admission:
        """Whether the owner and the key are under their quotas of queued and running jobs;
        with ``record``, the job is stored (and indexed) in the same atomic step if so."""
        fields = [item for pair in (record or {}).items() for item in pair]
        job_id = (record or {}).get("id", "")
        verdict, count = await self._admit(
            keys=[
                job_key(job_id),
                owner_key(owner),
                ACTIVE_KEY,
                active_owner_key(owner),
                active_key_key(key_name),
            ],
            args=[
                "1" if record else "0",
                quota.per_owner,
                quota.per_key,
                job_key(""),
                self.ttl_seconds * 2,  # a safety net: a job that never finishes still expires
                (record or {}).get("created_at", "0"),
                job_id,
                self.ttl_seconds,
                *fields,
            ],
        )
        return Admission(admitted=verdict == 1, over_key=verdict == -1, active=int(count))

    async def get(self, job_id: str, *, owner: str) -> dict[str, str] | None:
        """The job's record if it exists and belongs to ``owner``; else None."""
        record: dict[str, str] = await self.client.hgetall(job_key(job_id))
        if not record or not secrets.compare_digest(record.get("owner", ""), owner):
            return None
        return record

    async def list(
        self, *, owner: str, limit: int, cursor: float | None = None
    ) -> tuple[list[dict[str, str]], float | None]:
        """The owner's jobs, newest first, and the cursor of the next page (or None)."""
        high: float | str = f"({cursor!r}" if cursor is not None else "+inf"
        found = await self.client.zrevrangebyscore(
            owner_key(owner), high, "-inf", start=0, num=limit + 1, withscores=True
        )
        records: list[dict[str, str]] = []
        stale: list[str] = []
        for job_id, _score in found[:limit]:
            record = await self.client.hgetall(job_key(job_id))
            (records.append(record) if record else stale.append(job_id))
        if stale:
            await self.client.zrem(owner_key(owner), *stale)
        next_cursor = float(found[limit - 1][1]) if len(found) > limit else None
        return records, next_cursor

    async def cancel(self, job_id: str) -> bool:
        """Mark a job cancelled if it is not final, and announce it; True if it was cancelled.

        The record stays (listed, readable) and expires after the result TTL like a
        finished job; workers drop the chunks of a job that is no longer running.
        """
        moved = await self._transition(
            keys=[job_key(job_id)],
            args=_transition_args(CANCELLED, (QUEUED, RUNNING), {"finished_at": repr(time.time())}),
        )
        if not moved:
            return False
        async with self.client.pipeline(transaction=True) as pipe:
            for key in job_keys(job_id):
                pipe.expire(key, self.ttl_seconds)
            pipe.zrem(ACTIVE_KEY, job_id)
            pipe.publish(events_channel(job_id), CANCELLED)
            await pipe.execute()
        return True

    async def delete(self, job_id: str) -> None:
        """Drop a job's keys and its place in its owner's list (cancel it first if it runs)."""
        record = await self.client.hgetall(job_key(job_id))
        await self.client.delete(*job_keys(job_id))
        await self.client.zrem(ACTIVE_KEY, job_id)
        if record:
            await self.client.zrem(owner_key(record["owner"]), job_id)

    async def claim_idempotency(self, owner: str, key: str, body_sha256: str, job_id: str) -> str:
        """Bind ``key`` to this body and job; returns the stored ``"sha job_id"`` if taken."""
        name = idempotency_key(owner, key)
        value = f"{body_sha256} {job_id}"
        if await self.client.set(name, value, nx=True, ex=IDEMPOTENCY_TTL_SECONDS):
            return value
        existing = await self.client.get(name)
        return existing or value

    async def release_idempotency(self, owner: str, key: str) -> None:
        """Forget an idempotency key (its job could not be created)."""
        await self.client.delete(idempotency_key(owner, key))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()

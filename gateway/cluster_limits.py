"""A rate limit that holds across every gateway process: one token bucket per name in Redis.

Each bucket is a Redis hash refilled continuously by a Lua script (atomic, on Redis's own
clock, so the processes' clocks do not matter). A process does not ask Redis for every
request: it leases tokens and spends them locally. Tokens are taken from the shared bucket
when leased, so all processes together never admit more than the bucket allows; a lease left
unspent for ``lease_seconds`` is dropped (the cost of leasing: a process may admit a few
requests fewer than the budget, never more).

How many tokens a round trip asks for follows the process's own traffic on that bucket:
about ``REFILL_SECONDS`` of what it spent since its last lease (one token for a caller who
sends a request now and then, hundreds at thousands of requests a second; growing at most
twice as big a lease per round trip), never more than
``max_lease`` held at once (by default a fifth of a second of the budget, so tokens stranded
in idle processes stay a small share of it). At one token a lease the request that needs it
waits for the round trip; with bigger leases the process asks for the next one when half
the current one is spent, so busy traffic never waits for Redis. One round trip per bucket
at a time: requests that find the lease empty meanwhile wait for the one in flight, and a
refusal is remembered until the wait it names, so refused traffic does not ask Redis either.

When Redis cannot be reached the limiter fails open: requests are decided by an in-process
``RateLimiter`` of the same budget (the limit then holds per process, as before the cluster
limiter), Redis is tried again after ``retry_seconds``, and each such decision is counted
(``rate_limit_fallback_total``) and each outage logged once. Single predictions never
wait on Redis for longer than the client's socket timeouts.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from gateway.ratelimit import PRUNE_ABOVE, RateLimiter
from jobs.keys import rate_bucket_key
from observability import metrics
from observability.logging import get_logger

log = get_logger("gateway.cluster_limits")

# A lease is sized to last about this long at the rate the process spent the last one.
REFILL_SECONDS = 0.1
# Unless configured, a process holds at most this share of a minute's budget (0.2 s of it).
MAX_LEASE_SHARE = 1 / 300

# KEYS[1] the bucket; ARGV: capacity, refill per second, tokens wanted.
# Returns {granted, seconds until a token is due (as text: Lua numbers become integers)}.
LEASE_LUA = """
local capacity, rate, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local granted = math.min(want, math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 1)
if granted > 0 then return {granted, '0'} end
return {0, tostring((1 - tokens) / rate)}
"""


@dataclass(slots=True)
class _Lease:
    """What this process holds of one bucket, and how fast it spends it."""

    tokens: int = 0
    expires: float = 0.0
    refused_until: float = 0.0
    granted_at: float = 0.0
    spent: int = 0  # tokens spent since ``granted_at``
    size: int = 1  # tokens the last round trip asked for
    refill: asyncio.Task[None] | None = None  # the round trip in flight


def max_lease(per_minute: int, configured: int) -> int:
    """The most tokens a process holds per bucket: ``configured``, or 1/300 of the budget."""
    if configured > 0:
        return configured
    return max(1, int(per_minute * MAX_LEASE_SHARE))


class ClusterLimiter:
    """``per_minute`` requests per bucket across all processes sharing ``client``'s Redis."""

    def __init__(
        self,
        client: Any,
        per_minute: int,
        *,
        lease_tokens: int = 0,
        lease_seconds: float = 1.0,
        retry_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = float(max(per_minute, 1))
        self.rate = self.capacity / 60.0
        self.max_lease = max_lease(per_minute, lease_tokens)
        self.lease_seconds = lease_seconds
        self.retry_seconds = retry_seconds
        self.fallback = RateLimiter(per_minute, clock=clock)
        self._client = client
        self._script = client.register_script(LEASE_LUA)
        self._clock = clock
        self._leases: dict[str, _Lease] = {}
        self._down_until: float | None = None

    async def take(self, bucket: str) -> float:
        """Take one token: from this process's lease if it holds one, else from Redis."""
        lease = self._leases.get(bucket)
        if lease is None:
            lease = self._new_lease(bucket)
        while True:
            now = self._clock()
            if lease.expires <= now:
                lease.tokens = 0
            if lease.tokens > 0:
                lease.tokens -= 1
                lease.spent += 1
                if lease.refill is None and 2 * lease.tokens <= lease.size and lease.size > 1:
                    self._start_refill(bucket, lease)  # ahead of need: nobody waits for it
                return 0.0
            if lease.refused_until > now:
                return lease.refused_until - now
            if self._down_until is not None and now < self._down_until:
                return self._decide_locally(bucket)
            refill = lease.refill or self._start_refill(bucket, lease)
            await asyncio.shield(refill)
            if self._down_until is not None:
                return self._decide_locally(bucket)

    async def aclose(self) -> None:
        """Stop the round trips in flight (the client is closed by its owner)."""
        pending = [lease.refill for lease in self._leases.values() if lease.refill is not None]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _new_lease(self, bucket: str) -> _Lease:
        if len(self._leases) >= PRUNE_ABOVE:
            now = self._clock()
            for name in [n for n, old in self._leases.items() if _idle(old, now)]:
                del self._leases[name]
        lease = self._leases[bucket] = _Lease()
        return lease

    def _start_refill(self, bucket: str, lease: _Lease) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self._refill(bucket, lease))
        lease.refill = task
        task.add_done_callback(_log_failure)
        return task

    async def _refill(self, bucket: str, lease: _Lease) -> None:
        """One round trip: lease about ``REFILL_SECONDS`` of this process's recent traffic."""
        try:
            size = min(self._wanted(lease), self.max_lease - lease.tokens)
            if size < 1:
                return  # already holding all it may
            try:
                granted, wait_text = await self._script(
                    keys=[self._key(bucket)],
                    args=[repr(self.capacity), repr(self.rate), size],
                )
            except (RedisError, OSError) as exc:
                self._trip(exc)
                return
            self._recovered()
            now = self._clock()
            if int(granted) == 0:
                # Refused: so are the requests of the next moments, without asking again.
                lease.refused_until = now + max(float(wait_text), 1e-3)
                return
            if lease.expires <= now:
                lease.tokens = 0
            lease.tokens += int(granted)
            lease.expires = now + self.lease_seconds
            lease.granted_at, lease.spent, lease.size = now, 0, size
        finally:
            lease.refill = None

    def _wanted(self, lease: _Lease) -> int:
        """About ``REFILL_SECONDS`` of the rate the last lease was spent at; growing at most
        twice as big per lease (from one token), so a short burst does not lease a lot."""
        if not lease.granted_at:
            return 1
        elapsed = max(self._clock() - lease.granted_at, 1e-3)
        wanted = math.ceil(lease.spent / elapsed * REFILL_SECONDS)
        return max(1, min(wanted, 2 * lease.size + 1))

    def _key(self, bucket: str) -> str:
        # The budget is part of the name: a process configured with another budget (a
        # deploy changing it, a test) counts in a bucket of its own, never in a stale one.
        return rate_bucket_key(f"{bucket}@{int(self.capacity)}")

    def _decide_locally(self, bucket: str) -> float:
        metrics.record_rate_limit_fallback()
        return self.fallback.acquire(bucket)

    def _trip(self, exc: BaseException) -> None:
        if self._down_until is None:
            log.warning(
                "rate_limit_redis_unavailable",
                error=repr(exc),
                fallback="per-process limit",
                retry_seconds=self.retry_seconds,
            )
        self._down_until = self._clock() + self.retry_seconds

    def _recovered(self) -> None:
        if self._down_until is not None:
            log.info("rate_limit_redis_recovered")
            self._down_until = None


def _idle(lease: _Lease, now: float) -> bool:
    """Nothing held, nothing in flight, nothing refused: safe to forget."""
    return lease.refill is None and lease.expires <= now and lease.refused_until <= now


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("rate_limit_refill_failed", error=repr(task.exception()))


def cluster_limiters(
    redis_url: str,
    *,
    per_key: int,
    per_end_user: int,
    lease_tokens: int,
    lease_seconds: float,
) -> tuple[ClusterLimiter, ClusterLimiter, Callable[[], Any]]:
    """The per-key and per-end-user limiters on one Redis client, and how to close it.

    Short socket timeouts: with Redis unreachable, a request waits at most this long once
    per ``retry_seconds`` before the fallback decides.
    """
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url, socket_connect_timeout=0.25, socket_timeout=0.25)
    limiters = [
        ClusterLimiter(client, budget, lease_tokens=lease_tokens, lease_seconds=lease_seconds)
        for budget in (per_key, per_end_user)
    ]

    async def close() -> None:
        for limiter in limiters:
            await limiter.aclose()
        await client.aclose()

    return limiters[0], limiters[1], close

"""A rate limit that holds across every gateway process: one token bucket per name in Redis.

Each bucket is a Redis hash refilled continuously by a Lua script (atomic, on Redis's own
clock, so the processes' clocks do not matter). A process does not ask Redis for every
request: it leases a few tokens at a time (``lease_tokens``) and spends them locally, so
a request pays a round trip only once per lease (one round trip per bucket at a time: the
requests that find the lease empty meanwhile wait for it; a refusal is remembered until the
wait it names, so refused traffic does not ask Redis either). Tokens are taken from the
shared bucket when leased, so all processes together never admit more than the bucket
allows; a lease left unspent for ``lease_seconds`` is dropped (the cost of leasing: a
process may admit a few requests fewer than the budget, never more).

When Redis cannot be reached the limiter fails open: requests are decided by an in-process
``RateLimiter`` of the same budget (the limit then holds per process, as before the cluster
limiter), Redis is tried again after ``retry_seconds``, and each such decision is counted
(``rate_limit_fallback_total``) and each outage logged once. Single predictions never
wait on Redis for longer than the client's socket timeouts.
"""

from __future__ import annotations

import asyncio
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
    tokens: int
    expires: float
    refused_until: float = 0.0


def lease_size(per_minute: int, configured: int) -> int:
    """Tokens leased per round trip: ``configured``, or about 1/300 of the budget (1..20)."""
    if configured > 0:
        return configured
    return max(1, min(20, per_minute // 300))


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
        self.lease_tokens = lease_size(per_minute, lease_tokens)
        self.lease_seconds = lease_seconds
        self.retry_seconds = retry_seconds
        self.fallback = RateLimiter(per_minute, clock=clock)
        self._client = client
        self._script = client.register_script(LEASE_LUA)
        self._clock = clock
        self._leases: dict[str, _Lease] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._down_until: float | None = None

    async def take(self, bucket: str) -> float:
        """Take one token: from this process's lease if it holds one, else from Redis."""
        now = self._clock()
        wait = self._from_lease(bucket, now)
        if wait is not None:
            return wait
        if self._down_until is not None and now < self._down_until:
            return self._decide_locally(bucket)
        # One round trip per bucket at a time: concurrent requests that find the lease
        # empty wait for it and share what it brings, instead of each asking Redis.
        lock = self._locks.setdefault(bucket, asyncio.Lock())
        async with lock:
            now = self._clock()
            wait = self._from_lease(bucket, now)
            if wait is not None:
                return wait
            try:
                granted, wait_text = await self._script(
                    keys=[self._key(bucket)],
                    args=[repr(self.capacity), repr(self.rate), self.lease_tokens],
                )
            except (RedisError, OSError) as exc:
                self._trip(exc)
                return self._decide_locally(bucket)
            self._recovered()
            if int(granted) == 0:
                # Refused: so are the requests of the next moments, without asking again.
                wait = max(float(wait_text), 1e-3)
                self._keep(bucket, _Lease(0, now + wait, refused_until=now + wait), now)
                return wait
            self._keep(bucket, _Lease(int(granted) - 1, now + self.lease_seconds), now)
            return 0.0

    def _from_lease(self, bucket: str, now: float) -> float | None:
        """0 if the lease pays for this request, the wait if it says no, None: ask Redis."""
        lease = self._leases.get(bucket)
        if lease is None or lease.expires <= now:
            return None
        if lease.tokens > 0:
            lease.tokens -= 1
            return 0.0
        if lease.refused_until > now:
            return lease.refused_until - now
        return None

    def _key(self, bucket: str) -> str:
        # The budget is part of the name: a process configured with another budget (a
        # deploy changing it, a test) counts in a bucket of its own, never in a stale one.
        return rate_bucket_key(f"{bucket}@{int(self.capacity)}")

    def _keep(self, bucket: str, lease: _Lease, now: float) -> None:
        if len(self._leases) >= PRUNE_ABOVE:
            for name in [n for n, old in self._leases.items() if old.expires <= now]:
                del self._leases[name]
                lock = self._locks.get(name)
                if lock is not None and not lock.locked():
                    del self._locks[name]
        self._leases[bucket] = lease

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
    return (
        ClusterLimiter(client, per_key, lease_tokens=lease_tokens, lease_seconds=lease_seconds),
        ClusterLimiter(
            client, per_end_user, lease_tokens=lease_tokens, lease_seconds=lease_seconds
        ),
        client.aclose,
    )

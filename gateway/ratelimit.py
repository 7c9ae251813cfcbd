"""Request rate limits: a token bucket per key and, under a delegate key, per end user.

``CallerLimits`` decides; the buckets behind it are any ``Limiter``: ``RateLimiter`` here
(in memory, per process) or ``gateway.cluster_limits.ClusterLimiter`` (one bucket in Redis
shared by every gateway process, with a small local lease so most requests pay no round
trip, and this in-memory limiter as its fallback while Redis is unreachable).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

# Past this many buckets, full ones (callers idle for a minute) are dropped.
PRUNE_ABOVE = 10_000


class Limiter(Protocol):
    """Counts requests per bucket name against a per-minute budget."""

    capacity: float

    async def take(self, bucket: str) -> float:
        """Take one request from the bucket; 0 if allowed, else the seconds until one is."""
        ...


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Allows ``per_minute`` requests per bucket, refilled continuously, bursting to a minute's."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(max(per_minute, 1))
        self.rate = self.capacity / 60.0
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    async def take(self, bucket: str) -> float:
        """``acquire`` as a ``Limiter`` (nothing to wait for in memory)."""
        return self.acquire(bucket)

    def acquire(self, bucket: str) -> float:
        """Take one token; returns 0 if allowed, else the seconds until a token is due."""
        now = self._clock()
        state = self._buckets.get(bucket)
        if state is None:
            if len(self._buckets) >= PRUNE_ABOVE:
                self._prune(now)
            state = self._buckets[bucket] = _Bucket(self.capacity, now)
        else:
            state.tokens = min(self.capacity, state.tokens + (now - state.updated) * self.rate)
            state.updated = now
        if state.tokens >= 1.0:
            state.tokens -= 1.0
            return 0.0
        return (1.0 - state.tokens) / self.rate

    def _prune(self, now: float) -> None:
        full = [
            name
            for name, state in self._buckets.items()
            if state.tokens + (now - state.updated) * self.rate >= self.capacity
        ]
        for name in full:
            del self._buckets[name]


@dataclass(frozen=True)
class Refusal:
    """Why a request was refused and when to retry."""

    wait_seconds: float
    detail: str


class CallerLimits:
    """A key's total budget and, for a delegate's end users, each one's own share of it.

    The end user's bucket is charged first: a user past their share is refused without
    spending the key's budget, so they cannot starve the key's other users.
    """

    def __init__(
        self, *, per_key: Limiter, per_end_user: Limiter, close: Callable[[], Any] | None = None
    ) -> None:
        self.per_key = per_key
        self.per_end_user = per_end_user
        self._close = close

    async def aclose(self) -> None:
        """Release what the limiters hold (the cluster limiter's Redis connections)."""
        if self._close is not None:
            await self._close()

    async def charge(self, key: str, end_user: str | None) -> Refusal | None:
        """Charge one request; None if allowed, else the refusal."""
        if end_user is not None:
            wait = await self.per_end_user.take(f"user:{key}/{end_user}")
            if wait > 0:
                limit = int(self.per_end_user.capacity)
                return Refusal(wait, f"Rate limit of {limit} requests per minute per end user.")
        wait = await self.per_key.take(f"key:{key}")
        if wait > 0:
            limit = int(self.per_key.capacity)
            return Refusal(wait, f"Rate limit of {limit} requests per minute exceeded.")
        return None


def retry_after_header(wait_seconds: float) -> str:
    """A Retry-After value in whole seconds (at least 1)."""
    return str(max(1, math.ceil(wait_seconds)))

"""Job progress for Server-Sent Events: one Redis pub/sub connection per gateway process.

Every ``GET /v1/jobs/{id}/events`` stream waits on an in-process event that the hub sets
when the job's channel announces a change; the hub alone holds a pub/sub connection (a
pattern subscription to every job's channel), so a thousand streams cost one Redis
connection, not a thousand. Streams are admitted by ``StreamLimits``: a cap per owner (a
key, or one end user of a delegate key) and per key in total (429), and per process (503).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError

from gateway.errors import ProblemError
from gateway.security import Caller
from jobs.keys import EVENTS_PATTERN, job_of_channel
from observability.logging import get_logger

log = get_logger("gateway.job_events")
# redis-py can swallow a cancellation while it waits for a message, so the hub also
# checks a stop flag after every wait: this bounds how long stopping it can take.
POLL_SECONDS = 1.0
RECONNECT_SECONDS = (0.5, 1.0, 2.0, 5.0)
STREAM_RETRY_AFTER = "10"


class JobEventHub:
    """Fans job change announcements out from one pub/sub connection to every watcher."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._watchers: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        """Start listening (in the running event loop)."""
        self._task = asyncio.create_task(self._listen(), name="job-event-hub")

    async def aclose(self) -> None:
        """Stop listening and wake every watcher."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=2 * POLL_SECONDS)
        self._wake_all()

    @contextlib.contextmanager
    def watch(self, job_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever the job announces a change (or the hub reconnects)."""
        changed = asyncio.Event()
        self._watchers.setdefault(job_id, set()).add(changed)
        try:
            yield changed
        finally:
            watchers = self._watchers.get(job_id)
            if watchers is not None:
                watchers.discard(changed)
                if not watchers:
                    del self._watchers[job_id]

    async def _listen(self) -> None:
        attempt = 0
        while not self._stopping:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(EVENTS_PATTERN)
                attempt = 0
                self._wake_all()  # anything missed while disconnected is re-read
                while not self._stopping:
                    message = await pubsub.get_message(timeout=POLL_SECONDS)
                    if message is not None:
                        self._notify(message["channel"])
            except (RedisError, OSError) as exc:
                delay = RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)]
                attempt += 1
                log.warning("job_events_reconnecting", error=str(exc), retry_in_seconds=delay)
                self._wake_all()
                await asyncio.sleep(delay)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.shield(pubsub.aclose())

    def _notify(self, channel: str | bytes) -> None:
        name = channel.decode() if isinstance(channel, bytes) else channel
        for changed in self._watchers.get(job_of_channel(name), ()):
            changed.set()

    def _wake_all(self) -> None:
        for watchers in self._watchers.values():
            for changed in watchers:
                changed.set()


@dataclass
class StreamLimits:
    """Concurrent event streams per owner, per key and per process."""

    per_owner: int
    per_key: int
    total: int
    _owners: Counter[str] = field(default_factory=Counter)
    _keys: Counter[str] = field(default_factory=Counter)
    _open: int = 0

    def admit(self, caller: Caller) -> None:
        """Count a new stream for the caller, or refuse it (429 for the caller, 503 if full)."""
        if self._open >= self.total:
            raise ProblemError(
                503,
                f"This gateway is serving its limit of {self.total} event streams; "
                "retry shortly or poll GET /v1/jobs/{id}.",
                kind="streams-exhausted",
                title="Too many event streams",
                headers={"Retry-After": STREAM_RETRY_AFTER},
            )
        if self._owners[caller.owner] >= self.per_owner:
            raise _too_many(f"at most {self.per_owner} open event streams per caller")
        if self._keys[caller.name] >= self.per_key:
            raise _too_many(f"at most {self.per_key} open event streams per API key")
        self._owners[caller.owner] += 1
        self._keys[caller.name] += 1
        self._open += 1

    def release(self, caller: Caller) -> None:
        """Forget a stream that ended."""
        self._open -= 1
        for counter, name in ((self._owners, caller.owner), (self._keys, caller.name)):
            counter[name] -= 1
            if counter[name] <= 0:
                del counter[name]


def _too_many(what: str) -> ProblemError:
    return ProblemError(
        429,
        f"Too many event streams: {what}. Close one, or poll GET /v1/jobs/{{id}}.",
        kind="too-many-streams",
        title="Too many event streams",
        headers={"Retry-After": STREAM_RETRY_AFTER},
    )

"""Writing a stream: ``AuditTrail`` seals and stores; ``AuditWriter`` buffers for the gateway.

The gateway's request path only calls ``AuditWriter.submit`` (a list append). A background
task builds, seals and stores the buffer when it holds ``flush_records`` entries or every
``flush_seconds``, building in a thread so the event loop is never held for a whole batch.
On SIGTERM the app's shutdown writes what is buffered and marks the stream closed; on a
crash (SIGKILL, OOM) what was buffered since the last flush (at most ``flush_seconds``)
is lost, and the stream's head stays ``open``, so ``verify`` shows that it did not stop
cleanly. Records sealed but not stored (S3 unreachable) are kept and retried first.
A full buffer drops new entries and the next flush seals a ``gap`` record saying how many.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import structlog

from audit.chain import Chain, new_stream_id
from audit.store import AuditStore, Batch, open_audit_store

logger = structlog.get_logger("audit")
Body = dict[str, Any]


class AuditTrail:
    """One process's stream: seals record bodies into the chain and stores them in order."""

    def __init__(self, store: AuditStore, *, stream: str) -> None:
        self.store = store
        self.chain = Chain(stream)
        self._unwritten: list[bytes] = []
        self._first_seq = 0

    @property
    def stream(self) -> str:
        """The stream id."""
        return self.chain.stream

    async def put_payloads(self, payloads: dict[str, bytes]) -> dict[str, str]:
        """Store payloads beside the stream; their SHA-256 by name, for a record to hold."""
        digests = await asyncio.gather(
            *(self.store.put_payload(self.stream, data) for data in payloads.values())
        )
        return dict(zip(payloads, digests, strict=True))

    def seal(self, bodies: list[Body]) -> None:
        """Chain the bodies (in order) and keep their lines until stored."""
        if not self._unwritten:
            self._first_seq = self.chain.seq
        self._unwritten.extend(self.chain.seal(body) for body in bodies)

    async def write(self) -> int:
        """Store the sealed lines as one batch; how many (0 when the store failed: kept)."""
        if not self._unwritten:
            return 0
        lines = self._unwritten
        batch = Batch(
            self.stream,
            lines,
            first_seq=self._first_seq,
            last_seq=self.chain.seq - 1,
            last_hash=self.chain.last_hash,
        )
        try:
            await self.store.append(batch)
        except Exception as exc:  # storage down: keep the lines, the chain stays whole
            logger.warning(
                "audit_write_failed", stream=self.stream, error=repr(exc), kept=len(lines)
            )
            return 0
        self._unwritten = []
        return len(lines)

    async def close(self) -> None:
        """Store what is sealed, mark the stream closed and release the store."""
        await self.write()
        if not self._unwritten:
            await self.store.close_stream(self.stream)
            logger.info(
                "audit_stream_closed",
                stream=self.stream,
                last_seq=self.chain.seq - 1,
                last_hash=self.chain.last_hash,
            )
        await self.store.aclose()


class AuditWriter:
    """A buffer in front of an ``AuditTrail``, drained by a background task."""

    def __init__(
        self,
        trail: AuditTrail,
        *,
        flush_records: int = 1_000,
        flush_seconds: float = 1.0,
        max_buffer: int = 100_000,
    ) -> None:
        self.trail = trail
        self.flush_records = flush_records
        self.flush_seconds = flush_seconds
        self.max_buffer = max_buffer
        self.dropped = 0
        self._pending: list[Callable[[], Body]] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def submit(self, build: Callable[[], Body]) -> None:
        """Queue one record, built later by ``build`` off the request path."""
        if len(self._pending) >= self.max_buffer:
            self.dropped += 1
            return
        self._pending.append(build)
        if len(self._pending) >= self.flush_records:
            self._wake.set()

    def start(self) -> None:
        """Start the background flusher (inside the running loop)."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the flusher, write everything buffered, close the stream."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
        await self.trail.close()

    async def flush(self) -> int:
        """Build, seal and store what is buffered now; how many records were stored."""
        async with self._lock:
            pending, self._pending = self._pending, []
            dropped, self.dropped = self.dropped, 0
            if pending or dropped:
                await asyncio.to_thread(self._seal, pending, dropped)
            return await self.trail.write()

    def _seal(self, pending: list[Callable[[], Body]], dropped: int) -> None:
        bodies = []
        if dropped:
            bodies.append({"kind": "gap", "time": time.time(), "dropped": dropped})
        for build in pending:
            try:
                bodies.append(build())
            except Exception as exc:  # a record that cannot be built is a gap, not a crash
                bodies.append(
                    {"kind": "gap", "time": time.time(), "dropped": 1, "error": repr(exc)}
                )
        self.trail.seal(bodies)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_seconds)
            self._wake.clear()
            try:
                await self.flush()
            except Exception as exc:
                logger.warning("audit_flush_failed", error=repr(exc))


def open_trail(
    url: str, *, service: str, key: bytes | None, rotate_bytes: int = 64 << 20
) -> AuditTrail:
    """A new stream for this process in the store at ``url`` (file:// or s3://)."""
    store = open_audit_store(url, key=key, rotate_bytes=rotate_bytes)
    return AuditTrail(store, stream=new_stream_id(service))

"""The gateway's buffered writer: flushed by size and time, closed on stop, honest about loss."""

from __future__ import annotations

import asyncio
import json
from functools import partial
from pathlib import Path
from typing import Any

from audit.store import Batch, FolderAuditStore, Segment
from audit.verify import verify_store
from audit.writer import AuditTrail, AuditWriter

KEY = b"k"


def body(i: int) -> dict[str, Any]:
    return {"kind": "predict", "rows": [{"prediction_id": f"p{i}", "price": float(i)}]}


def records(root: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted(root.glob("*/*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]


async def test_submitted_records_are_written_in_order_when_the_buffer_fills(tmp_path: Path) -> None:
    trail = AuditTrail(FolderAuditStore(tmp_path, key=KEY, rotate_bytes=1 << 20), stream="s")
    writer = AuditWriter(trail, flush_records=5, flush_seconds=3600)
    writer.start()
    for i in range(5):
        writer.submit(partial(body, i))
    for _ in range(200):  # the size trigger wakes the flusher; no timer is involved
        if len(records(tmp_path)) == 5:
            break
        await asyncio.sleep(0.01)
    assert [r["rows"][0]["prediction_id"] for r in records(tmp_path)] == [f"p{i}" for i in range(5)]
    await writer.stop()


async def test_stop_writes_what_is_buffered_and_closes_the_stream(tmp_path: Path) -> None:
    store = FolderAuditStore(tmp_path, key=KEY, rotate_bytes=1 << 20)
    writer = AuditWriter(AuditTrail(store, stream="s"), flush_records=1000, flush_seconds=3600)
    writer.start()
    for i in range(3):
        writer.submit(partial(body, i))
    await writer.stop()
    assert len(records(tmp_path)) == 3
    report = await verify_store(FolderAuditStore(tmp_path, key=KEY, rotate_bytes=1 << 20), key=KEY)
    assert report.ok
    assert report.streams[0].state == "closed"


async def test_a_full_buffer_leaves_a_gap_record_saying_how_many_were_dropped(
    tmp_path: Path,
) -> None:
    writer = AuditWriter(
        AuditTrail(FolderAuditStore(tmp_path, key=KEY, rotate_bytes=1 << 20), stream="s"),
        max_buffer=2,
    )
    for i in range(5):
        writer.submit(partial(body, i))
    assert await writer.flush() == 3
    gap, *kept = records(tmp_path)
    assert gap["kind"] == "gap"
    assert gap["dropped"] == 3
    assert [r["rows"][0]["prediction_id"] for r in kept] == ["p0", "p1"]


class FlakyStore(FolderAuditStore):
    """Fails the first append, as S3 might."""

    failures = 1

    async def append(self, batch: Batch) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("storage unreachable")
        await super().append(batch)


async def test_records_that_could_not_be_stored_are_kept_and_stored_next_time(
    tmp_path: Path,
) -> None:
    store = FlakyStore(tmp_path, key=KEY, rotate_bytes=1 << 20)
    writer = AuditWriter(AuditTrail(store, stream="s"))
    writer.submit(lambda: body(0))
    assert await writer.flush() == 0
    writer.submit(lambda: body(1))
    assert await writer.flush() == 2
    segments: list[Segment] = await store.segments("s")
    assert [json.loads(line)["seq"] for line in segments[0].lines] == [0, 1]
    report = await verify_store(store, key=KEY)
    assert report.ok, report.lines()

"""``verify`` finds an altered, an inserted and a removed record, a cut tail and a lost segment."""

from __future__ import annotations

import json
from pathlib import Path

from audit.chain import make_head, sealed_line
from audit.store import FolderAuditStore
from audit.verify import VerifyReport, verify_store
from audit.writer import AuditTrail

KEY = b"test-audit-key"
STREAM = "gateway-test-1"


async def write_stream(
    root: Path, *, batches: int = 3, per_batch: int = 4, rotate: int = 1 << 20
) -> Path:
    """A stream of ``batches`` x ``per_batch`` records in ``root``; returns its folder."""
    trail = AuditTrail(FolderAuditStore(root, key=KEY, rotate_bytes=rotate), stream=STREAM)
    for b in range(batches):
        trail.seal(
            [
                {"kind": "predict", "rows": [{"price": 1000.0 * (b * per_batch + i)}]}
                for i in range(per_batch)
            ]
        )
        assert await trail.write() == per_batch
    return root / STREAM


async def check(root: Path, key: bytes | None = KEY) -> VerifyReport:
    return await verify_store(FolderAuditStore(root, key=key, rotate_bytes=1 << 20), key=key)


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


async def test_an_untouched_stream_verifies(tmp_path: Path) -> None:
    await write_stream(tmp_path)
    report = await check(tmp_path)
    assert report.ok, report.lines()
    assert report.records == 12
    assert report.lines()[-1] == "OK: 12 records in 1 stream(s)"


async def test_a_modified_record_is_found(tmp_path: Path) -> None:
    segment = await write_stream(tmp_path) / "000000.jsonl"
    lines = lines_of(segment)
    record = json.loads(lines[5])
    record["rows"][0]["price"] = 1.0  # someone lowers a logged price
    lines[5] = (json.dumps(record) + "\n").encode()
    segment.write_bytes(b"".join(lines))
    report = await check(tmp_path)
    assert not report.ok
    (problem,) = report.streams[0].problems
    assert "seq 5" in problem
    assert "altered" in problem


async def test_a_modified_record_with_a_recomputed_hash_is_found_by_its_successor(
    tmp_path: Path,
) -> None:
    segment = await write_stream(tmp_path) / "000000.jsonl"
    lines = lines_of(segment)
    record = json.loads(lines[5])
    record["rows"][0]["price"] = 1.0
    del record["hash"]
    lines[5] = sealed_line(record)  # a forger who knows the format rehashes the record
    segment.write_bytes(b"".join(lines))
    report = await check(tmp_path)
    assert any("seq 6" in p and "prev" in p for p in report.streams[0].problems), report.lines()


async def test_an_inserted_record_is_found(tmp_path: Path) -> None:
    segment = await write_stream(tmp_path) / "000000.jsonl"
    lines = lines_of(segment)
    lines.insert(3, lines[2])  # a copy of a real record, slipped in
    segment.write_bytes(b"".join(lines))
    report = await check(tmp_path)
    assert not report.ok
    assert any("line 4" in p and "expected seq 3" in p for p in report.streams[0].problems), (
        report.lines()
    )


async def test_a_deleted_record_is_found(tmp_path: Path) -> None:
    segment = await write_stream(tmp_path) / "000000.jsonl"
    lines = lines_of(segment)
    del lines[7]
    segment.write_bytes(b"".join(lines))
    report = await check(tmp_path)
    assert not report.ok
    assert any("expected seq 7" in p for p in report.streams[0].problems), report.lines()


async def test_records_cut_from_the_end_are_found_by_the_head(tmp_path: Path) -> None:
    segment = await write_stream(tmp_path) / "000000.jsonl"
    segment.write_bytes(b"".join(lines_of(segment)[:-2]))
    report = await check(tmp_path)
    assert not report.ok
    assert any("names seq 11" in p and "ends at seq 9" in p for p in report.streams[0].problems)


async def test_a_removed_last_segment_is_found(tmp_path: Path) -> None:
    folder = await write_stream(tmp_path, rotate=600)  # rotates every batch or so
    segments = sorted(folder.glob("*.jsonl"))
    assert len(segments) >= 2
    segments[-1].unlink()
    segments[-1].with_suffix("").with_suffix(".head.json").unlink()
    report = await check(tmp_path)
    assert not report.ok
    assert any("rotated away but no segment follows" in p for p in report.streams[0].problems)


async def test_a_head_rewritten_without_the_key_is_found(tmp_path: Path) -> None:
    folder = await write_stream(tmp_path)
    segment = folder / "000000.jsonl"
    lines = lines_of(segment)[:-2]
    segment.write_bytes(b"".join(lines))
    last = json.loads(lines[-1])
    forged = make_head(
        stream=STREAM,
        segment="000000",
        first_seq=0,
        last_seq=last["seq"],
        last_hash=last["hash"],
        state="open",
        key=b"a guess",
    )
    (folder / "000000.head.json").write_text(json.dumps(forged))
    report = await check(tmp_path)
    assert any("signature is wrong" in p for p in report.streams[0].problems)


async def test_records_written_after_the_last_head_are_pending_not_tampered(tmp_path: Path) -> None:
    folder = await write_stream(tmp_path, batches=1)
    trail_head = (folder / "000000.head.json").read_text()
    trail = AuditTrail(FolderAuditStore(tmp_path, key=KEY, rotate_bytes=1 << 20), stream=STREAM)
    trail.chain.seq, trail.chain.last_hash = 4, json.loads(trail_head)["last_hash"]
    trail.seal([{"kind": "predict", "rows": []}])
    (folder / "000000.jsonl").open("ab").write(trail._unwritten[0])  # appended, head not yet
    report = await check(tmp_path)
    assert report.ok, report.lines()
    assert report.streams[0].pending == 1


async def test_without_a_key_verify_warns_that_heads_are_unsigned(tmp_path: Path) -> None:
    trail = AuditTrail(FolderAuditStore(tmp_path, key=None, rotate_bytes=1 << 20), stream=STREAM)
    trail.seal([{"kind": "predict", "rows": []}])
    await trail.write()
    report = await check(tmp_path, key=None)
    assert report.ok
    assert any("heads are unsigned" in line for line in report.lines())


async def test_a_cleanly_closed_stream_says_so(tmp_path: Path) -> None:
    trail = AuditTrail(FolderAuditStore(tmp_path, key=KEY, rotate_bytes=1 << 20), stream=STREAM)
    trail.seal([{"kind": "predict", "rows": []}])
    await trail.close()
    report = await check(tmp_path)
    assert report.ok
    assert report.streams[0].state == "closed"


async def write_chunk_with_payloads(root: Path) -> dict[str, Path]:
    """One job-chunk record naming two stored payloads; returns their files by name."""
    trail = AuditTrail(FolderAuditStore(root, key=KEY, rotate_bytes=1 << 20), stream=STREAM)
    digests = await trail.put_payloads({"input": b"1656,3,1.5,x,1960,Good\n", "output": b"o\n"})
    trail.seal([{"kind": "job_chunk", "job_id": "j", "chunk": 0, "payloads": digests}])
    assert await trail.write() == 1
    return {name: root / STREAM / "payloads" / digest for name, digest in digests.items()}


async def test_stored_payloads_verify(tmp_path: Path) -> None:
    await write_chunk_with_payloads(tmp_path)
    report = await check(tmp_path)
    assert report.ok, report.lines()


async def test_a_modified_payload_is_found(tmp_path: Path) -> None:
    payloads = await write_chunk_with_payloads(tmp_path)
    payloads["input"].write_bytes(b"1656,3,1.5,x,1960,Poor\n")  # someone edits a logged input
    report = await check(tmp_path)
    assert not report.ok
    (problem,) = report.streams[0].problems
    assert "input" in problem
    assert "modified or swapped" in problem


async def test_a_swapped_payload_is_found(tmp_path: Path) -> None:
    payloads = await write_chunk_with_payloads(tmp_path)
    payloads["output"].write_bytes(payloads["input"].read_bytes())
    report = await check(tmp_path)
    (problem,) = report.streams[0].problems
    assert "output" in problem
    assert "modified or swapped" in problem


async def test_a_missing_payload_is_found(tmp_path: Path) -> None:
    payloads = await write_chunk_with_payloads(tmp_path)
    payloads["output"].unlink()
    report = await check(tmp_path)
    assert not report.ok
    (problem,) = report.streams[0].problems
    assert "output" in problem
    assert "missing" in problem

"""``hpp audit verify``: walk every stream and report each record that breaks its chain.

Per stream: every line must parse and carry the hash of its own content (an altered record
fails here); ``seq`` must count up by one and ``prev`` name the previous record's hash (an
inserted or removed record fails here); every segment needs an authentic head naming its
last record (a cut-off tail fails here), and a segment rotated away (``sealed``) must be
followed by another (a removed last segment fails here). Every payload a record names must
be stored and hash to its digest (a modified, swapped or missing payload fails here). On S3,
delete markers are reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from audit.chain import genesis, head_is_authentic, line_hash, parse_object
from audit.store import CLOSED, SEALED, AuditStore, Segment, payload_digest


@dataclass
class StreamReport:
    """What one stream holds and what is wrong with it."""

    stream: str
    records: int = 0
    state: str = "empty"
    pending: int = 0
    problems: list[str] = field(default_factory=list)
    payloads: dict[str, str] = field(default_factory=dict)  # digest -> where it is named


@dataclass
class VerifyReport:
    """The verdict over every stream."""

    streams: list[StreamReport]
    removed: list[str]
    signed: bool

    @property
    def ok(self) -> bool:
        """True when no stream has a problem and nothing was deleted."""
        return not self.removed and all(not s.problems for s in self.streams)

    @property
    def records(self) -> int:
        """Records checked."""
        return sum(s.records for s in self.streams)

    def lines(self) -> list[str]:
        """The report as text, one line per stream and per problem."""
        out = [
            f"{s.stream}: {s.records} records, {s.state}"
            + ("" if not s.pending else f", {s.pending} after its head (not yet anchored)")
            + ("" if not s.problems else f", {len(s.problems)} problem(s)")
            for s in self.streams
        ]
        out += [f"  {s.stream}: {p}" for s in self.streams for p in s.problems]
        out += [f"deleted (delete marker): {key}" for key in self.removed]
        if not self.signed:
            out.append(
                "warning: HPP_AUDIT_KEY is not set, so heads are unsigned: whoever can write "
                "the log can also rewrite a chain and its heads consistently"
            )
        verdict = "OK" if self.ok else "TAMPERED"
        out.append(f"{verdict}: {self.records} records in {len(self.streams)} stream(s)")
        return out


async def verify_store(store: AuditStore, *, key: bytes | None) -> VerifyReport:
    """Check every stream of the store."""
    reports = []
    for stream in await store.streams():
        report = verify_stream(stream, await store.segments(stream), key=key)
        report.problems += await payload_problems(store, report)
        reports.append(report)
    return VerifyReport(reports, await store.removed(), signed=key is not None)


def verify_stream(stream: str, segments: list[Segment], *, key: bytes | None) -> StreamReport:
    """Check one stream's segments, in order."""
    report = StreamReport(stream)
    expected_seq, expected_prev = 0, genesis(stream)
    for position, segment in enumerate(segments):
        first_seq, hashes = expected_seq, {}
        for number, line in enumerate(segment.lines, start=1):
            where = f"segment {segment.name} line {number}"
            record = parse_object(line)
            if record is None:
                report.problems.append(f"{where}: not a JSON record")
                continue
            problem = _chain_problem(record, line, stream, expected_seq, expected_prev)
            if problem:
                report.problems.append(f"{where} (seq {record.get('seq')}): {problem}")
            report.payloads.update(_named_payloads(record, where))
            expected_seq = _int(record.get("seq"), expected_seq) + 1
            expected_prev = str(record.get("hash"))
            hashes[expected_seq - 1] = expected_prev
            report.records += 1
        last = position == len(segments) - 1
        report.pending = _pending(segment, hashes, expected_seq - 1) if last else 0
        anchored = expected_seq - 1 - report.pending
        report.problems += _head_problems(
            segment, first_seq, anchored, hashes.get(anchored, expected_prev), key
        )
    report.state = _state(segments)
    if segments and report.state == SEALED:
        report.problems.append(
            f"segment {segments[-1].name} was rotated away but no segment follows it: "
            "the stream's end was removed"
        )
    return report


async def payload_problems(store: AuditStore, report: StreamReport) -> list[str]:
    """Each payload the stream's records name that is missing or does not hash to its name."""
    problems = []
    for digest, where in report.payloads.items():
        data = await store.get_payload(report.stream, digest)
        if data is None:
            problems.append(f"{where}: its payload {digest} is missing")
        elif payload_digest(data) != digest:
            problems.append(
                f"{where}: its payload {digest} does not match its digest "
                "(the payload was modified or swapped)"
            )
    return problems


def _named_payloads(record: dict[str, Any], where: str) -> dict[str, str]:
    payloads = record.get("payloads")
    if not isinstance(payloads, dict):
        return {}
    return {
        str(digest): f"{where} (seq {record.get('seq')}) {name}"
        for name, digest in payloads.items()
    }


def _pending(segment: Segment, hashes: dict[int, str], last_seq: int) -> int:
    """Records after an open head that names an earlier record of this segment correctly.

    The writer appends, then replaces the head: a reader in between sees records the head
    does not name yet. They are reported as not yet anchored rather than as tampering.
    """
    head = segment.head or {}
    named = head.get("last_seq")
    if head.get("state") != "open" or not isinstance(named, int) or named >= last_seq:
        return 0
    return last_seq - named if hashes.get(named) == head.get("last_hash") else 0


def _chain_problem(
    record: dict[str, Any], line: bytes, stream: str, seq: int, prev: str
) -> str | None:
    if record.get("hash") != line_hash(line):
        return "its content does not match its hash (the record was altered)"
    if record.get("stream") != stream:
        return f"belongs to stream {record.get('stream')!r} (copied from another stream)"
    if record.get("seq") != seq:
        return f"expected seq {seq}: records before it were removed or inserted"
    if record.get("prev") != prev:
        return (
            "its prev does not match the previous record's hash (a record was removed or inserted)"
        )
    return None


def _head_problems(
    segment: Segment, first_seq: int, last_seq: int, last_hash: str, key: bytes | None
) -> list[str]:
    head = segment.head
    where = f"segment {segment.name}"
    if head is None:
        return [f"{where}: its head is missing"]
    if not head_is_authentic(head, key):
        return [f"{where}: its head's signature is wrong (the head was forged or altered)"]
    if head.get("last_seq") != last_seq or head.get("last_hash") != last_hash:
        return [
            f"{where}: the head names seq {head.get('last_seq')} as its last record but the "
            f"segment ends at seq {last_seq}: records at its end were removed or added"
        ]
    if head.get("first_seq") != first_seq:
        return [
            f"{where}: the head starts at seq {head.get('first_seq')}, the segment at {first_seq}"
        ]
    return []


def _state(segments: list[Segment]) -> str:
    if not segments:
        return "empty"
    head = segments[-1].head or {}
    state = str(head.get("state", "open"))
    return state if state in (SEALED, CLOSED) else "open (being written, or its process died)"


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default

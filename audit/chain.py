"""Hash chains of audit records and the signed heads that anchor their ends.

A stream is the chain one process writes. Each record is one JSON line carrying ``stream``,
``seq`` (0, 1, 2, ...) and ``prev`` (the previous record's hash; the stream's genesis hash
for the first), and last ``hash``: the SHA-256 of the line's bytes up to it (the line
with ``,"hash":"..."`` cut out), so one byte changed anywhere shows. A head names a
segment's last record (seq and hash), is HMAC-SHA256 signed with the audit key when one is
configured, and says whether the segment was rotated away (``sealed``) or the stream
stopped cleanly (``closed``), so a cut-off tail or a missing last segment shows.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import pydantic_core


def canonical(data: dict[str, Any]) -> bytes:
    """The bytes a record or head is hashed and signed over (sorted keys, no spaces)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def parse_object(data: bytes) -> dict[str, Any] | None:
    """A JSON object from bytes (a record line or a head), or None if it is not one."""
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def genesis(stream: str) -> str:
    """The ``prev`` of a stream's first record."""
    return hashlib.sha256(f"hpp-audit-genesis:{stream}".encode()).hexdigest()


def sealed_line(body: dict[str, Any]) -> bytes:
    """The record as a JSON line ending in the hash of everything before it."""
    data = pydantic_core.to_json(body, inf_nan_mode="null")
    digest = hashlib.sha256(data).hexdigest()
    return data[:-1] + b',"hash":"' + digest.encode() + b'"}\n'


def line_hash(line: bytes) -> str | None:
    """The hash a record line must carry (None when the line does not end in a hash)."""
    stripped = line.rstrip(b"\r\n")
    if len(stripped) < _HASH_TAIL or not stripped.endswith(b'"}'):
        return None
    data, tail = stripped[:-_HASH_TAIL], stripped[-_HASH_TAIL:]
    if not tail.startswith(b',"hash":"'):
        return None
    return hashlib.sha256(data + b"}").hexdigest()


_HASH_TAIL = len(',"hash":""}') + 64


def new_stream_id(service: str) -> str:
    """A stream id unique to this process: service, host, pid, start time."""
    host = socket.gethostname().split(".")[0][:32] or "host"
    return f"{service}-{host}-{os.getpid()}-{time.time_ns() // 1_000_000}"


@dataclass
class Chain:
    """The running end of one stream: seals record bodies into chained records."""

    stream: str
    seq: int = 0
    last_hash: str = field(default="")

    def __post_init__(self) -> None:
        self.last_hash = self.last_hash or genesis(self.stream)

    def seal(self, body: dict[str, Any]) -> bytes:
        """The body as the stream's next record line (with stream, seq, prev and hash)."""
        line = sealed_line({**body, "stream": self.stream, "seq": self.seq, "prev": self.last_hash})
        self.seq += 1
        self.last_hash = line[-67:-3].decode()
        return line


def make_head(
    *,
    stream: str,
    segment: str,
    first_seq: int,
    last_seq: int,
    last_hash: str,
    state: str,
    key: bytes | None,
) -> dict[str, Any]:
    """A segment's head: its last record, its state (open, sealed, closed), signed."""
    head: dict[str, Any] = {
        "stream": stream,
        "segment": segment,
        "first_seq": first_seq,
        "last_seq": last_seq,
        "last_hash": last_hash,
        "state": state,
        "written_at": round(time.time(), 3),
    }
    head["signature"] = head_signature(head, key)
    return head


def head_signature(head: dict[str, Any], key: bytes | None) -> str | None:
    """HMAC-SHA256 of the head (without its signature), or None without a key."""
    if key is None:
        return None
    body = {k: v for k, v in head.items() if k != "signature"}
    return hmac.new(key, canonical(body), hashlib.sha256).hexdigest()


def head_is_authentic(head: dict[str, Any], key: bytes | None) -> bool:
    """Whether the head's signature matches (always true when no key is configured)."""
    if key is None:
        return True
    signature = head.get("signature")
    expected = head_signature(head, key) or ""
    return isinstance(signature, str) and hmac.compare_digest(signature, expected)

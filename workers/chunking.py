"""Plan a job: read the input once, check it is a readable CSV, and cut it into chunks.

Chunks are byte ranges that end on record boundaries, found with the ``csv`` module
(not by looking for newlines), so a quoted field holding a newline never straddles two
chunks. Every ``chunk_rows`` records a boundary is taken at the byte offset where the
reader stopped; any worker can then read its range alone.

File-level problems raise ``UnreadableFileError`` with the reason shown to the user:
empty file, UTF-16 or other non-UTF-8 bytes, NUL bytes, an unterminated quote, a field
over ``MAX_FIELD_BYTES``, a missing required column (with a delimiter hint when the
header looks like ``;`` or tab separated), duplicate column names. A UTF-8 BOM is fine.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field

from ml.contract import FEATURE_COLUMNS

MAX_FIELD_BYTES = 16 << 20
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class UnreadableFileError(Exception):
    """The file as a whole cannot be read as a CSV of houses; the message says why."""


@dataclass(frozen=True)
class Chunk:
    """Records ``[start, end)`` bytes of the input, about ``rows`` of them."""

    index: int
    start: int
    end: int
    rows: int


@dataclass
class Plan:
    """What the workers need to score the input chunk by chunk."""

    columns: list[str]
    feature_positions: dict[str, int]
    data_start: int
    rows_total: int
    chunks: list[Chunk] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Plan:
        """The inverse of ``to_json``."""
        chunks = [Chunk(**c) for c in data["chunks"]]  # type: ignore[attr-defined]
        return cls(
            columns=list(data["columns"]),  # type: ignore[call-overload]
            feature_positions=dict(data["feature_positions"]),  # type: ignore[call-overload]
            data_start=int(data["data_start"]),  # type: ignore[call-overload]
            rows_total=int(data["rows_total"]),  # type: ignore[call-overload]
            chunks=chunks,
        )


def plan_chunks(blocks: Iterable[bytes], *, chunk_rows: int) -> Plan:
    """Scan the input once and cut it into chunks of ``chunk_rows`` records."""
    csv.field_size_limit(MAX_FIELD_BYTES)
    lines = _LineReader(blocks)
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
        if header is None or not any(name.strip() for name in header):
            raise UnreadableFileError("the file is empty: expected a header row of column names")
        plan = _plan_from_header(header, data_start=lines.position)
        lines.start_record()
        _cut_chunks(plan, reader, lines, chunk_rows=chunk_rows)
    except csv.Error as exc:
        raise _csv_problem(exc, lines) from exc
    return plan


def _plan_from_header(header: list[str], *, data_start: int) -> Plan:
    names = [name.strip() for name in header]
    lowered = [name.lower() for name in names]
    duplicates = sorted({n for n in names if names.count(n) > 1 and n})
    if duplicates:
        raise UnreadableFileError(f"duplicate column names: {', '.join(duplicates)}")
    missing = [c for c in FEATURE_COLUMNS if c not in lowered]
    if missing:
        raise UnreadableFileError(_missing_reason(missing, header))
    positions = {c: lowered.index(c) for c in FEATURE_COLUMNS}
    return Plan(columns=header, feature_positions=positions, data_start=data_start, rows_total=0)


def _cut_chunks(
    plan: Plan, reader: Iterator[list[str]], lines: _LineReader, *, chunk_rows: int
) -> None:
    start, rows = plan.data_start, 0
    for record in reader:
        if lines.record_lines > 1 and lines.at_eof and lines.record_quotes % 2:
            raise UnreadableFileError(
                f"unterminated quoted field starting on line {lines.record_first_line}: "
                "a '\"' opens a field that never closes"
            )
        lines.start_record()
        if not record:
            continue
        rows += 1
        if rows == chunk_rows:
            plan.chunks.append(Chunk(len(plan.chunks), start, lines.position, rows))
            plan.rows_total += rows
            start, rows = lines.position, 0
    if rows:
        plan.chunks.append(Chunk(len(plan.chunks), start, lines.position, rows))
        plan.rows_total += rows


def _missing_reason(missing: list[str], header: list[str]) -> str:
    reason = f"required column(s) missing: {', '.join(missing)}"
    joined = ",".join(header)
    for delimiter, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
        if len(header) <= 2 and joined.count(delimiter) >= 2:
            return f"{reason}; the header looks separated by {label}: save the file with commas"
    found = ", ".join(h[:40] for h in header[:12])
    return f"{reason} (found: {found})"


def _csv_problem(exc: csv.Error, lines: _LineReader) -> UnreadableFileError:
    text = str(exc)
    if "field larger than field limit" in text:
        return UnreadableFileError(
            f"a field near line {lines.record_first_line} is larger than "
            f"{MAX_FIELD_BYTES // (1 << 20)} MiB (an unterminated quote?)"
        )
    return UnreadableFileError(f"not a readable CSV near line {lines.line_number}: {text}")


class _LineReader:
    """Decoded lines for ``csv.reader``, tracking byte offsets and what each record spans."""

    def __init__(self, blocks: Iterable[bytes]) -> None:
        self._blocks = iter(blocks)
        self.position = 0
        self.line_number = 0
        self.at_eof = False
        self.record_lines = 0
        self.record_quotes = 0
        self.record_first_line = 1
        self._lines = self._split()

    def __iter__(self) -> _LineReader:
        return self

    def __next__(self) -> str:
        raw = next(self._lines)
        self.position += len(raw)
        self.line_number += 1
        self.record_lines += 1
        if self.record_lines > 1 or b'"' in raw:
            self.record_quotes += raw.count(b'"')
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UnreadableFileError(
                f"not UTF-8: invalid byte 0x{raw[exc.start]:02x} on line {self.line_number}; "
                "save the file as UTF-8 CSV"
            ) from exc

    def start_record(self) -> None:
        """Mark the start of the next record."""
        self.record_lines = 0
        self.record_quotes = 0
        self.record_first_line = self.line_number + 1

    def _split(self) -> Iterator[bytes]:
        pending = b""
        first = True
        for block in self._blocks:
            if first:
                block = self._check_start(pending + block)
                pending, first = b"", False
            if b"\x00" in block:
                raise UnreadableFileError(
                    f"the file contains NUL bytes (after line {self.line_number}): "
                    "it is binary or UTF-16, not a UTF-8 text CSV"
                )
            lines = (pending + block).split(b"\n")
            pending = lines.pop()
            for line in lines:
                yield line + b"\n"
        self.at_eof = True
        if pending:
            yield pending

    def _check_start(self, block: bytes) -> bytes:
        if block.startswith(UTF16_BOMS):
            raise UnreadableFileError("the file is UTF-16 encoded: save it as UTF-8 CSV")
        if block.startswith(UTF8_BOM):
            self.position += len(UTF8_BOM)
            return block[len(UTF8_BOM) :]
        return block

"""Plan a job: read the input once, check it is a readable CSV, and cut it into chunks.

Chunks are byte ranges that end on record boundaries, found with the ``csv`` module
(not by looking for newlines), so a quoted field holding a newline never straddles two
chunks. Every ``chunk_rows`` records a boundary is taken at the byte offset where the
reader stopped; any worker can then read its range alone.

File-level problems raise ``UnreadableFileError`` with the reason shown to the user:
empty file, UTF-16 or other non-UTF-8 bytes, NUL bytes, an unterminated quote, a row
(or a line without a line break) over ``max_record_bytes``, a header over
``max_header_bytes`` or with more than ``max_columns`` columns, a missing required column
(with a delimiter hint when the header looks like ``;`` or tab separated), duplicate
column names. A UTF-8 BOM is fine. Each check fails as soon as its limit is crossed, so
memory stays bounded by the limits, not by the file.

A chunk closes after ``chunk_rows`` records or once it holds ``chunk_bytes`` bytes,
whichever comes first, so a chunk of long rows stays small enough to score.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import chain

import numpy as np

from core.settings import WorkerSettings
from core.text import clip
from ml.contract import FEATURE_COLUMNS

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class UnreadableFileError(Exception):
    """The file as a whole cannot be read as a CSV of houses; the message says why."""


@dataclass(frozen=True)
class InputLimits:
    """How large a row, the header and a chunk may be (``HPP_MAX_*``, ``HPP_CHUNK_*``)."""

    chunk_rows: int = 50_000
    chunk_bytes: int = 32 << 20
    max_record_bytes: int = 16 << 20
    max_header_bytes: int = 64 << 10
    max_columns: int = 1_000

    @classmethod
    def from_settings(cls, worker: WorkerSettings) -> InputLimits:
        """The limits configured for the workers."""
        return cls(
            chunk_rows=worker.chunk_rows,
            chunk_bytes=worker.chunk_bytes,
            max_record_bytes=worker.max_record_bytes,
            max_header_bytes=worker.max_header_bytes,
            max_columns=worker.max_columns,
        )


@dataclass(frozen=True)
class Chunk:
    """Records ``[start, end)`` bytes of the input, about ``rows`` of them.

    In a job from a pointer, ``source`` is the file's index in the job's sources, and for a
    Parquet file ``[start, end)`` are row group indexes.
    """

    index: int
    start: int
    end: int
    rows: int
    source: int = 0


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


def plan_chunks(blocks: Iterable[bytes], *, limits: InputLimits) -> Plan:
    """Scan the input once and cut it into chunks within ``limits``.

    While no quote character has been seen, records are lines, found with numpy; from
    the first block holding a quote on, the ``csv`` module reads the rest, since only
    quoting lets a record span lines.
    """
    csv.field_size_limit(limits.max_record_bytes)
    source = _Source(blocks)
    pos, line_number, pending = source.bom_length, 0, b""
    plan: Plan | None = None
    cutter: _Cutter | None = None
    for block in source:
        buf = pending + block
        cut = buf.rfind(b"\n") + 1
        complete, pending = buf[:cut], buf[cut:]
        if b'"' in complete:
            state = _Resume(plan, cutter, pos, line_number)
            return _plan_slowly(chain([buf], source), state, limits)
        _check_utf8(complete, line_number)
        if plan is None:
            _check_header_size(complete.find(b"\n") if complete else len(pending), limits)
        if plan is None and complete:
            header_end = complete.index(b"\n") + 1
            header = _parse_line(complete[:header_end])
            plan = _plan_from_header(header, data_start=pos + header_end, limits=limits)
            cutter = _Cutter(plan, limits)
            complete, pos, line_number = complete[header_end:], pos + header_end, line_number + 1
        if len(pending) > limits.max_record_bytes:  # a line with no end in sight
            _check_line_length(len(pending), line_number + complete.count(b"\n") + 1, limits)
        if cutter is not None and complete:
            ends, lines = _record_ends(complete, first_line=line_number + 1, limits=limits)
            cutter.add(ends + pos)
            pos, line_number = pos + len(complete), line_number + lines
    if b'"' in pending:
        return _plan_slowly(iter([pending]), _Resume(plan, cutter, pos, line_number), limits)
    _check_utf8(pending, line_number)
    if plan is None:
        if not pending.strip():
            raise UnreadableFileError("the file is empty: expected a header row of column names")
        header = _parse_line(pending)
        return _plan_from_header(header, data_start=pos + len(pending), limits=limits)
    assert cutter is not None
    if pending.strip(b"\r"):
        cutter.add(np.asarray([pos + len(pending)]))
    cutter.finish()
    return plan


@dataclass
class _Resume:
    """Where the line-by-line scan stopped when it met a quote character."""

    plan: Plan | None
    cutter: _Cutter | None
    pos: int
    line_number: int


def _plan_slowly(blocks: Iterator[bytes], state: _Resume, limits: InputLimits) -> Plan:
    """Continue at a record boundary with the ``csv`` module (quoted fields may span lines)."""
    lines = _LineReader(blocks, position=state.pos, line_number=state.line_number, limits=limits)
    reader = csv.reader(lines)
    plan, cutter = state.plan, state.cutter
    try:
        if plan is None:
            header = next(reader, None)
            if header is None or not any(name.strip() for name in header):
                raise UnreadableFileError(
                    "the file is empty: expected a header row of column names"
                )
            _check_header_size(lines.position - state.pos, limits)
            plan = _plan_from_header(header, data_start=lines.position, limits=limits)
            cutter = _Cutter(plan, limits)
        assert cutter is not None
        lines.start_record()
        for record in reader:
            if lines.record_lines > 1 and lines.at_eof and lines.record_quotes % 2:
                raise UnreadableFileError(
                    f"unterminated quoted field starting on line {lines.record_first_line}: "
                    "a '\"' opens a field that never closes"
                )
            lines.start_record()
            if record:
                cutter.add_one(lines.position)
    except csv.Error as exc:
        raise _csv_problem(exc, lines, limits) from exc
    cutter.finish()
    return plan


class _Cutter:
    """Counts records and closes a chunk every ``chunk_rows`` of them or ``chunk_bytes``."""

    def __init__(self, plan: Plan, limits: InputLimits) -> None:
        self.plan, self.chunk_rows, self.chunk_bytes = plan, limits.chunk_rows, limits.chunk_bytes
        self.start, self.rows, self.last_end = plan.data_start, 0, plan.data_start

    def add(self, ends: np.ndarray) -> None:
        """Record the end offsets of consecutive records."""
        taken = 0  # records of ``ends`` already in closed chunks
        while True:
            by_rows = taken + self.chunk_rows - self.rows - 1
            by_bytes = int(np.searchsorted(ends, self.start + self.chunk_bytes, side="left"))
            index = min(by_rows, max(by_bytes, taken))
            if index >= len(ends):
                break
            self._close(int(ends[index]), self.rows + index - taken + 1)
            self.rows, taken = 0, index + 1
        self.rows += len(ends) - taken
        if len(ends):
            self.last_end = int(ends[-1])

    def add_one(self, end: int) -> None:
        """Record the end offset of the next record (``add`` for one, without numpy)."""
        self.rows += 1
        self.last_end = end
        if self.rows >= self.chunk_rows or end - self.start >= self.chunk_bytes:
            self._close(end, self.rows)
            self.rows = 0

    def finish(self) -> None:
        """Close the last, partial chunk."""
        if self.rows:
            self._close(self.last_end, self.rows)
            self.rows = 0

    def _close(self, end: int, rows: int) -> None:
        plan = self.plan
        plan.chunks.append(Chunk(len(plan.chunks), self.start, end, rows))
        plan.rows_total += rows
        self.start = end


def _record_ends(
    complete: bytes, *, first_line: int, limits: InputLimits
) -> tuple[np.ndarray, int]:
    """Offsets just past each non-blank line of quote-free text, and the number of lines.

    ``first_line`` is the number of the first line, for the reason when one is too long.
    """
    data = np.frombuffer(complete, dtype=np.uint8)
    newlines = np.flatnonzero(data == 10)
    starts = np.concatenate(([0], newlines[:-1] + 1))
    length = newlines - starts
    longest = int(np.argmax(length)) if len(length) else 0
    if len(length) and length[longest] > limits.max_record_bytes:
        _check_line_length(int(length[longest]), first_line + longest, limits)
    blank = (length == 0) | ((length == 1) & (data[newlines - 1] == 13))
    return newlines[~blank] + 1, len(newlines)


def _check_header_size(size: int, limits: InputLimits) -> None:
    if size > limits.max_header_bytes:
        raise UnreadableFileError(
            f"the header row (column names) is larger than {_size(limits.max_header_bytes)}: "
            "is the first line really a header?"
        )


def _check_line_length(size: int, line: int, limits: InputLimits) -> None:
    if size > limits.max_record_bytes:
        raise UnreadableFileError(
            f"line {line:,} is larger than {_size(limits.max_record_bytes)}, the limit for one "
            "row: is the file missing its line breaks?"
        )


def _size(limit: int) -> str:
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if limit >= 1 << shift and limit % (1 << shift) == 0:
            return f"{limit >> shift:,} {unit}"
    return f"{limit:,} bytes"


def _parse_line(raw: bytes) -> list[str]:
    try:
        return next(csv.reader([raw.decode("utf-8")]), [])
    except csv.Error as exc:  # a field over the limit in a header with an odd quote
        raise UnreadableFileError(f"the header row is not readable CSV: {clip(str(exc))}") from exc


def _check_utf8(data: bytes, line_number: int) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = line_number + data.count(b"\n", 0, exc.start) + 1
        raise UnreadableFileError(
            f"not UTF-8: invalid byte 0x{data[exc.start]:02x} on line {line}; "
            "save the file as UTF-8 CSV"
        ) from exc


def plan_from_header(header: list[str], *, data_start: int, limits: InputLimits) -> Plan:
    """An empty plan for a file with these column names (raises ``UnreadableFileError``)."""
    return _plan_from_header(header, data_start=data_start, limits=limits)


def _plan_from_header(header: list[str], *, data_start: int, limits: InputLimits) -> Plan:
    if len(header) > limits.max_columns:
        raise UnreadableFileError(
            f"the header has {len(header):,} columns; at most {limits.max_columns:,} are allowed"
        )
    if not any(name.strip() for name in header):
        raise UnreadableFileError("the file is empty: expected a header row of column names")
    names = [name.strip() for name in header]
    lowered = [name.lower() for name in names]
    duplicates = sorted(n for n, count in Counter(names).items() if count > 1 and n)
    if duplicates:
        raise UnreadableFileError(clip(f"duplicate column names: {', '.join(duplicates)}"))
    missing = [c for c in FEATURE_COLUMNS if c not in lowered]
    if missing:
        raise UnreadableFileError(_missing_reason(missing, header))
    positions = {c: lowered.index(c) for c in FEATURE_COLUMNS}
    return Plan(columns=header, feature_positions=positions, data_start=data_start, rows_total=0)


def _missing_reason(missing: list[str], header: list[str]) -> str:
    reason = f"required column(s) missing: {', '.join(missing)}"
    joined = ",".join(header)
    for delimiter, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
        if len(header) <= 2 and joined.count(delimiter) >= 2:
            return f"{reason}; the header looks separated by {label}: save the file with commas"
    found = ", ".join(clip(h, 40) for h in header[:12])
    return clip(f"{reason} (found: {found})")


def _csv_problem(exc: csv.Error, lines: _LineReader, limits: InputLimits) -> UnreadableFileError:
    text = str(exc)
    if "field larger than field limit" in text:
        return UnreadableFileError(
            f"a field near line {lines.record_first_line:,} is larger than "
            f"{_size(limits.max_record_bytes)} (an unterminated quote?)"
        )
    return UnreadableFileError(f"not a readable CSV near line {lines.line_number:,}: {clip(text)}")


class _Source:
    """The input's blocks, refusing UTF-16 and NUL bytes, with a UTF-8 BOM removed."""

    def __init__(self, blocks: Iterable[bytes]) -> None:
        self._blocks = iter(blocks)
        self.bom_length = 0
        self.position = 0
        self._first: bytes | None = self._read_first()

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._first is not None:
            block, self._first = self._first, None
        else:
            block = next(self._blocks)
        if b"\x00" in block:
            raise UnreadableFileError(
                f"the file contains NUL bytes (at byte {self.position + block.index(0)}): "
                "it is binary or UTF-16, not a UTF-8 text CSV"
            )
        self.position += len(block)
        return block

    def _read_first(self) -> bytes:
        first = b""
        for block in self._blocks:  # enough bytes to recognise a byte order mark
            first += block
            if len(first) >= len(UTF8_BOM):
                break
        if first.startswith(UTF16_BOMS):
            raise UnreadableFileError("the file is UTF-16 encoded: save it as UTF-8 CSV")
        if first.startswith(UTF8_BOM):
            self.bom_length = len(UTF8_BOM)
            self.position = len(UTF8_BOM)
            first = first[len(UTF8_BOM) :]
        return first


class _LineReader:
    """Decoded lines for ``csv.reader``, tracking byte offsets and what each record spans."""

    def __init__(
        self, blocks: Iterator[bytes], *, position: int, line_number: int, limits: InputLimits
    ) -> None:
        self._blocks = blocks
        self._limits = limits
        self.position = position
        self.record_start = position
        self.line_number = line_number
        self.at_eof = False
        self.record_lines = 0
        self.record_quotes = 0
        self.record_first_line = line_number + 1
        self._lines = self._split()

    def __iter__(self) -> _LineReader:
        return self

    def __next__(self) -> str:
        raw = next(self._lines)
        self.position += len(raw)
        self.line_number += 1
        self.record_lines += 1
        if self.position - self.record_start > self._limits.max_record_bytes:
            raise UnreadableFileError(
                f"the row starting on line {self.record_first_line:,} is larger than "
                f"{_size(self._limits.max_record_bytes)}, the limit for one row "
                "(an unterminated quote?)"
            )
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
        self.record_start = self.position

    def _split(self) -> Iterator[bytes]:
        pending = b""
        for block in self._blocks:
            lines = (pending + block).split(b"\n")
            pending = lines.pop()
            for line in lines:
                yield line + b"\n"
            _check_line_length(len(pending), self.line_number + 1, self._limits)
        self.at_eof = True
        if pending:
            yield pending

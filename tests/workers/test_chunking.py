"""Planning: record boundaries found by the csv module, file-level problems named."""

from __future__ import annotations

import csv
import io

import pytest

from workers.chunking import InputLimits, UnreadableFileError, plan_chunks

HEADER = b"sqft,bedrooms,bathrooms,location,year_built,condition\n"
ROW = b"1656,3,1.5,North Ames,1960,Average\n"


def _blocks(data: bytes, size: int = 5) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def _records(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(), newline="")))


def test_chunks_cover_every_record_once_in_order() -> None:
    data = HEADER + b"".join(ROW.replace(b"1656", str(1000 + i).encode()) for i in range(10))

    plan = plan_chunks(_blocks(data), limits=InputLimits(chunk_rows=3))

    assert [c.rows for c in plan.chunks] == [3, 3, 3, 1]
    assert plan.rows_total == 10
    assert plan.chunks[0].start == len(HEADER)
    assert plan.chunks[-1].end == len(data)
    assert all(a.end == b.start for a, b in zip(plan.chunks, plan.chunks[1:], strict=False))
    joined = [r for c in plan.chunks for r in _records(data[c.start : c.end])]
    assert [r[0] for r in joined] == [str(1000 + i) for i in range(10)]


def test_quoted_newline_never_splits_a_record() -> None:
    tricky = b'1656,3,1.5,"North\nAmes",1960,Average\n'
    data = HEADER + ROW + tricky + ROW + tricky

    plan = plan_chunks(_blocks(data, 7), limits=InputLimits(chunk_rows=2))

    assert [c.rows for c in plan.chunks] == [2, 2]
    second = _records(data[plan.chunks[1].start : plan.chunks[1].end])
    assert second[1][3] == "North\nAmes"


def test_bom_is_skipped_and_columns_match_case_insensitively() -> None:
    data = b"\xef\xbb\xbfSQFT,Bedrooms,bathrooms,location,year_built,condition,extra\n" + ROW

    plan = plan_chunks([data], limits=InputLimits(chunk_rows=10))

    assert plan.columns[0] == "SQFT"
    assert plan.feature_positions["sqft"] == 0
    assert plan.data_start == 3 + data[3:].index(b"\n") + 1


def test_blank_lines_are_not_rows() -> None:
    plan = plan_chunks([HEADER + ROW + b"\n\n" + ROW], limits=InputLimits(chunk_rows=10))

    assert plan.rows_total == 2


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "the file is empty"),
        (b"\n\n", "the file is empty"),
        (b"a,b\n1,2\n", "required column(s) missing: sqft"),
        (b"sqft;bedrooms;bathrooms;location;year_built;condition\n", "separated by semicolons"),
        (b"sqft\tbedrooms\tbathrooms\tlocation\tyear_built\tcondition\n", "separated by tabs"),
        ("sqft,bedrooms\n".encode("utf-16"), "UTF-16"),
        (HEADER + b"1,2,3,\x00,1,1\n", "NUL bytes"),
        (HEADER + b"1,2,3,\xff,1,1\n", "not UTF-8: invalid byte 0xff on line 2"),
        (HEADER + ROW + b'1,2,3,"x,1990,y\n' + ROW, "unterminated quoted field starting on line 3"),
        (HEADER.replace(b"condition", b"sqft"), "duplicate column names: sqft"),
    ],
)
def test_unreadable_files_name_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(UnreadableFileError, match=None) as info:
        plan_chunks(_blocks(data, 4), limits=InputLimits(chunk_rows=10))

    assert reason in str(info.value)


def test_field_over_the_limit_is_reported() -> None:
    data = HEADER + b'1,2,3,"' + b"x" * (17 << 20) + b'",1,1\n'

    with pytest.raises(UnreadableFileError, match="larger than 16 MiB"):
        plan_chunks(_blocks(data, 1 << 20), limits=InputLimits(chunk_rows=10))


@pytest.mark.parametrize("block", [3, 64, 1 << 20])
def test_quote_free_and_quoted_scans_cut_the_same_chunks(block: int) -> None:
    rows = [ROW.replace(b"1656", str(1000 + i).encode()) for i in range(50)]
    plain = HEADER + b"".join(rows) + b"\r\n" + rows[0].rstrip(b"\n")
    quoted = plain + b'\n1,2,3,"a\nb",4,5\n'

    fast = plan_chunks(_blocks(plain, block), limits=InputLimits(chunk_rows=7))
    slow = plan_chunks(_blocks(quoted, block), limits=InputLimits(chunk_rows=7))

    assert fast.rows_total == 51
    assert [(c.start, c.end, c.rows) for c in fast.chunks[:-1]] == [
        (c.start, c.end, c.rows) for c in slow.chunks[:-1]
    ]
    assert slow.rows_total == 52
    assert slow.chunks[-1].end == len(quoted)
    assert fast.chunks[-1].end == len(plain)


def test_a_wide_header_fails_on_its_size_before_it_is_read_whole() -> None:
    header = ",".join(f"c{i}" for i in range(1_000_000)).encode() + b"\n"
    blocks = _CountingBlocks(header + ROW, 1 << 16)

    with pytest.raises(UnreadableFileError) as info:
        plan_chunks(blocks, limits=InputLimits(max_header_bytes=64 << 10))

    assert str(info.value).startswith("the header row (column names) is larger than 64 KiB")
    assert blocks.read < 4 * (64 << 10)


@pytest.mark.parametrize("quoted", [False, True])
def test_too_many_columns_fail_with_the_count(quoted: bool) -> None:
    names = [f"c{i}" for i in range(200_000)] + ["sqft"]
    header = ",".join(f'"{n}"' if quoted else n for n in names).encode() + b"\n"
    limits = InputLimits(max_header_bytes=8 << 20, max_columns=1_000)

    with pytest.raises(UnreadableFileError) as info:
        plan_chunks(_blocks(header + ROW, 1 << 20), limits=limits)

    assert str(info.value) == "the header has 200,001 columns; at most 1,000 are allowed"


def test_duplicate_check_is_linear_in_the_columns() -> None:
    # 200,000 distinct names: the former pairwise check needed minutes (100,000 took 101 s).
    header = ",".join(f"c{i}" for i in range(200_000)).encode() + b",c7\n"
    limits = InputLimits(max_header_bytes=8 << 20, max_columns=300_000)

    with pytest.raises(UnreadableFileError) as info:
        plan_chunks(_blocks(header + ROW, 1 << 20), limits=limits)

    assert str(info.value) == "duplicate column names: c7"


def test_duplicate_names_are_echoed_cut_to_a_marker() -> None:
    huge = "n" * (1 << 20)
    header = f"{HEADER.decode().strip()},{huge},{huge}\n".encode()
    limits = InputLimits(max_header_bytes=4 << 20)

    with pytest.raises(UnreadableFileError) as info:
        plan_chunks(_blocks(header + ROW, 1 << 16), limits=limits)

    message = str(info.value)
    assert message.startswith("duplicate column names: nnnn")
    assert message.endswith("characters, cut]")
    assert len(message) <= 500


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"x" * (3 << 20), "line 2 is larger than 1 MiB, the limit for one row"),
        (ROW + b"1,2,3," + b"x" * (3 << 20) + b",1,1\n" + ROW, "line 3 is larger than 1 MiB"),
        (b'1,2,3,"' + b"x" * (3 << 20) + b'",1,1\n', "larger than 1 MiB"),
        (b'1,2,3,"a\n' + b"b,c\n" * 800_000, "the row starting on line 2 is larger than 1 MiB"),
    ],
    ids=["no-newline", "long-line", "long-quoted-field", "unterminated-quote-many-lines"],
)
def test_a_row_over_the_record_limit_fails_without_reading_the_rest(
    body: bytes, reason: str
) -> None:
    data = HEADER + body + ROW * 100_000
    blocks = _CountingBlocks(data, 1 << 16)

    with pytest.raises(UnreadableFileError) as info:
        plan_chunks(blocks, limits=InputLimits(max_record_bytes=1 << 20))

    assert reason in str(info.value)
    assert blocks.read < 3 << 20


def test_a_file_without_any_newline_fails_on_the_header_limit() -> None:
    blocks = _CountingBlocks(b"sqft," + b"x" * (8 << 20), 1 << 20)

    with pytest.raises(UnreadableFileError, match=r"header row .* is larger than 64 KiB"):
        plan_chunks(blocks, limits=InputLimits())

    assert blocks.read <= 1 << 20


@pytest.mark.parametrize("quoted", [False, True])
def test_chunks_also_close_at_the_byte_limit(quoted: bool) -> None:
    long_row = b"1656,3,1.5,North Ames,1960,Average," + b"y" * 1000 + b"\n"
    rows = [ROW, long_row] * 30
    tail = b'1,2,3,"a\nb",4,5\n' if quoted else b""
    data = HEADER.replace(b"\n", b",note\n") + b"".join(rows) + tail

    plan = plan_chunks(_blocks(data, 512), limits=InputLimits(chunk_rows=1_000, chunk_bytes=4096))

    assert plan.rows_total == 60 + bool(quoted)
    assert all(c.end - c.start < 4096 + len(long_row) for c in plan.chunks)
    assert len(plan.chunks) > 1
    assert all(a.end == b.start for a, b in zip(plan.chunks, plan.chunks[1:], strict=False))
    assert plan.chunks[-1].end == len(data)


class _CountingBlocks:
    """The data in blocks, counting how many bytes the planner asked for."""

    def __init__(self, data: bytes, size: int) -> None:
        self._data, self._size, self.read = data, size, 0

    def __iter__(self) -> _CountingBlocks:
        return self

    def __next__(self) -> bytes:
        if self.read >= len(self._data):
            raise StopIteration
        block = self._data[self.read : self.read + self._size]
        self.read += len(block)
        return block

"""Planning: record boundaries found by the csv module, file-level problems named."""

from __future__ import annotations

import csv
import io

import pytest

from workers.chunking import UnreadableFileError, plan_chunks

HEADER = b"sqft,bedrooms,bathrooms,location,year_built,condition\n"
ROW = b"1656,3,1.5,North Ames,1960,Average\n"


def _blocks(data: bytes, size: int = 5) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def _records(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(), newline="")))


def test_chunks_cover_every_record_once_in_order() -> None:
    data = HEADER + b"".join(ROW.replace(b"1656", str(1000 + i).encode()) for i in range(10))

    plan = plan_chunks(_blocks(data), chunk_rows=3)

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

    plan = plan_chunks(_blocks(data, 7), chunk_rows=2)

    assert [c.rows for c in plan.chunks] == [2, 2]
    second = _records(data[plan.chunks[1].start : plan.chunks[1].end])
    assert second[1][3] == "North\nAmes"


def test_bom_is_skipped_and_columns_match_case_insensitively() -> None:
    data = b"\xef\xbb\xbfSQFT,Bedrooms,bathrooms,location,year_built,condition,extra\n" + ROW

    plan = plan_chunks([data], chunk_rows=10)

    assert plan.columns[0] == "SQFT"
    assert plan.feature_positions["sqft"] == 0
    assert plan.data_start == 3 + data[3:].index(b"\n") + 1


def test_blank_lines_are_not_rows() -> None:
    plan = plan_chunks([HEADER + ROW + b"\n\n" + ROW], chunk_rows=10)

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
        plan_chunks(_blocks(data, 4), chunk_rows=10)

    assert reason in str(info.value)


def test_field_over_the_limit_is_reported() -> None:
    data = HEADER + b'1,2,3,"' + b"x" * (17 << 20) + b'",1,1\n'

    with pytest.raises(UnreadableFileError, match="larger than 16 MiB"):
        plan_chunks(_blocks(data, 1 << 20), chunk_rows=10)


@pytest.mark.parametrize("block", [3, 64, 1 << 20])
def test_quote_free_and_quoted_scans_cut_the_same_chunks(block: int) -> None:
    rows = [ROW.replace(b"1656", str(1000 + i).encode()) for i in range(50)]
    plain = HEADER + b"".join(rows) + b"\r\n" + rows[0].rstrip(b"\n")
    quoted = plain + b'\n1,2,3,"a\nb",4,5\n'

    fast = plan_chunks(_blocks(plain, block), chunk_rows=7)
    slow = plan_chunks(_blocks(quoted, block), chunk_rows=7)

    assert fast.rows_total == 51
    assert [(c.start, c.end, c.rows) for c in fast.chunks[:-1]] == [
        (c.start, c.end, c.rows) for c in slow.chunks[:-1]
    ]
    assert slow.rows_total == 52
    assert slow.chunks[-1].end == len(quoted)
    assert fast.chunks[-1].end == len(plain)

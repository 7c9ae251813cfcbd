"""Bad files, each with its documented outcome (never a 500).

| input                              | outcome                                                  |
|------------------------------------|----------------------------------------------------------|
| empty file                         | job failed: "the file is empty"                          |
| header only                        | job succeeded, 0 rows, result = header only              |
| required column missing            | job failed: names the missing columns                    |
| semicolon-delimited                | job failed: missing columns + "separated by semicolons"  |
| UTF-16                             | job failed: "UTF-16 encoded: save it as UTF-8"           |
| NUL bytes                          | job failed: "contains NUL bytes"                         |
| unterminated quote                 | job failed: "unterminated quoted field starting on line" |
| 1 MB field (extra column)          | job succeeded, field passed through intact               |
| 1 MB field (feature column)        | that row: error "location: longer than 64"               |
| Excel formula in a cell            | succeeded, cell prefixed with ' in the result            |
| row with too many fields           | that row: error "row has N fields but the header has M"  |
| row with several bad or empty cells| that row: every problem, "sqft: missing; bedrooms: ..."   |
| 100,000 rows, some invalid         | succeeded, each invalid row has its reason, no price     |
"""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from tests.support.houses import HEADER, houses_csv
from tests.support.jobs import submit, wait_final
from tests.support.keys import ALICE
from workers.chunking import InputLimits

GOOD_ROW = "1656,3,1.5,North Ames,1960,Average"


def _run(client: httpx.Client, data: bytes) -> dict:
    response = submit(client, data)
    assert response.status_code == 202, response.text
    return wait_final(client, response.json()["id"])


def _rows(client: httpx.Client, job_id: str) -> list[dict[str, str]]:
    text = client.get(f"/v1/jobs/{job_id}/result", headers=ALICE).text
    csv.field_size_limit(InputLimits().max_record_bytes)
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "the file is empty"),
        (b"sqft,bedrooms,location\n1,2,x\n", "missing: bathrooms, year_built, condition"),
        (HEADER.replace(",", ";").encode() + b"\n1;2;3;x;1990;y\n", "separated by semicolons"),
        ((HEADER + "\n" + GOOD_ROW + "\n").encode("utf-16"), "UTF-16"),
        ((HEADER + "\n1656,3,1.5,North\x00Ames,1960,Average\n").encode(), "NUL bytes"),
        (
            (HEADER + '\n1656,3,1.5,"North Ames,1960,Average\n' + GOOD_ROW + "\n").encode(),
            "unterminated quoted field starting on line 2",
        ),
        (HEADER.encode() + b"\n1656,3,1.5,Caf\xe9,1960,Average\n", "not UTF-8"),
    ],
    ids=["empty", "missing-column", "semicolons", "utf16", "nul", "unterminated-quote", "latin1"],
)
def test_unreadable_file_fails_the_job_with_its_reason(
    client: httpx.Client, data: bytes, reason: str
) -> None:
    job = _run(client, data)

    assert job["status"] == "failed"
    assert reason in job["error"]
    assert job["error"].startswith("the file cannot be read")


def test_header_only_succeeds_with_no_rows(client: httpx.Client) -> None:
    job = _run(client, (HEADER + "\n").encode())

    assert job["status"] == "succeeded"
    assert job["rows_total"] == 0
    assert _rows(client, job["id"]) == []


def test_megabyte_field_passes_through_or_fails_only_its_row(client: httpx.Client) -> None:
    big = "x" * 1_000_000
    data = (
        f"{HEADER},notes\n{GOOD_ROW},{big}\n1656,3,1.5,{big},1960,Average,short\n{GOOD_ROW},ok\n"
    ).encode()

    job = _run(client, data)

    assert job["status"] == "succeeded", job["error"]
    rows = _rows(client, job["id"])
    assert len(rows[0]["notes"]) == 1_000_000
    assert rows[0]["error"] == ""
    assert rows[1]["error"] == "location: longer than 64"
    assert rows[2]["predicted_price"] != ""


def test_formula_cells_are_neutralised(client: httpx.Client) -> None:
    data = (
        f'{HEADER},note\n{GOOD_ROW},=HYPERLINK("http://x")\n{GOOD_ROW},@SUM(A1)\n'
        f"{GOOD_ROW},-3.5\n{GOOD_ROW},+1+2\n"
    ).encode()

    job = _run(client, data)

    notes = [r["note"] for r in _rows(client, job["id"])]
    assert notes == ['\'=HYPERLINK("http://x")', "'@SUM(A1)", "-3.5", "'+1+2"]


def test_row_with_too_many_fields_gets_its_own_error(client: httpx.Client) -> None:
    data = f"{HEADER}\n{GOOD_ROW}\n{GOOD_ROW},extra\n{GOOD_ROW}\n".encode()

    job = _run(client, data)

    rows = _rows(client, job["id"])
    assert job["status"] == "succeeded"
    assert [r["error"] for r in rows] == ["", "row has 7 fields but the header has 6", ""]


@pytest.mark.slow
def test_a_row_with_several_bad_cells_reports_every_problem(client: httpx.Client) -> None:
    data = f"{HEADER}\n,,1.25,North Ames,1960,\n{GOOD_ROW}\n".encode()
    job = _run(client, data)

    first, second = _rows(client, job["id"])
    assert job["status"] == "succeeded"
    assert first["error"] == (
        "sqft: missing; bedrooms: missing; "
        "bathrooms: must be between 0 and 50 in steps of 0.5; condition: missing"
    )
    assert first["predicted_price"] == ""
    assert second["error"] == ""
    assert float(second["predicted_price"]) > 0


def test_hundred_thousand_rows_with_some_invalid(client: httpx.Client) -> None:
    job = _run(client, houses_csv(100_000, seed=3, invalid_every=1_000))

    assert job["status"] == "succeeded"
    assert (job["rows_done"], job["rows_failed"]) == (100_000, 100)
    rows = _rows(client, job["id"])
    assert len(rows) == 100_000
    bad = [i for i, r in enumerate(rows) if r["error"]]
    assert bad == list(range(999, 100_000, 1_000))
    assert all(rows[i]["predicted_price"] == "" for i in bad)

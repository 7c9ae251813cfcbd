"""A hostile CSV corpus through the real gateway and worker: documented outcomes, never a 500.

| input                                          | outcome                                  |
|------------------------------------------------|------------------------------------------|
| formula cells (= + - @ tab CR) in extra column | succeeded; each cell prefixed with '     |
| formula in a feature column (location)         | succeeded; row scored (warning), ' added |
| formula as a column name                       | succeeded; header cell prefixed with '   |
| plain signed numbers (-3.5, +2)                | succeeded; left alone                    |
| 10 MB field in an extra column                 | succeeded; passed through intact         |
| 17 MB unquoted field (a row past the 16 MiB    | failed: "line 2 is larger than 16 MiB,   |
| row limit, HPP_MAX_RECORD_BYTES)               | the limit for one row"                   |
| control characters (\\x01, ESC, DEL)           | succeeded; passed through                |
| deeply quoted fields ("" runs, newlines)       | succeeded; round-trip exactly            |
| UTF-8 with a Latin-1 byte on line 5,002        | failed: "not UTF-8 ... on line 5002"     |
| bidi overrides and emoji (valid UTF-8)         | succeeded; passed through                |
| one row with a million columns                 | succeeded; that row: "row has 1000000    |
|                                                | fields but the header has 6"             |

Every cell of every result is checked: none starts with = + - @ tab or CR unless it is a
plain number.
"""

from __future__ import annotations

import csv
import io
import re

import httpx
import pytest

from tests.support.houses import HEADER
from tests.support.jobs import submit, wait_final
from tests.support.keys import ALICE
from workers.chunking import InputLimits
from workers.scoring import FORMULA_PREFIXES, PLAIN_NUMBER

GOOD = "1656,3,1.5,North Ames,1960,Average"
MAX_RECORD_BYTES = InputLimits().max_record_bytes
FORMULAS = [
    "=1+2",
    "+SUM(A1:A9)",
    "-2+3",
    "@cmd",
    "\t=1+1",
    '"\r=1+1"',
    '"=HYPERLINK(""x"",""y"")"',
]
CORPUS: dict[str, tuple[bytes, str]] = {
    "formula-extra-column": (
        "\n".join([f"{HEADER},note", *[f"{GOOD},{f}" for f in FORMULAS]]).encode() + b"\n",
        "succeeded",
    ),
    "formula-feature-column": (
        f"{HEADER}\n1656,3,1.5,=cmd|' /C calc'!A0,1960,Average\n1656,3,1.5,@x,1960,-y\n".encode(),
        "succeeded",
    ),
    "formula-column-name": (f"{HEADER},=evil()\n{GOOD},1\n".encode(), "succeeded"),
    "plain-signed-numbers": (f"{HEADER},a,b\n{GOOD},-3.5,+2\n".encode(), "succeeded"),
    "ten-megabyte-field": (f"{HEADER},blob\n{GOOD},{'x' * 10_000_000}\n".encode(), "succeeded"),
    "field-over-16-mb": (
        f"{HEADER},blob\n{GOOD},{'x' * (MAX_RECORD_BYTES + 1_000_000)}\n".encode(),
        "failed",
    ),
    "control-characters": (
        f"{HEADER},note\n1656,3,1.5,North\x01Ames,1960,Average,a\x1b[31mred\x7f\n{GOOD},\x02\n".encode(),
        "succeeded",
    ),
    "deeply-quoted": (
        (
            f'{HEADER},note\n{GOOD},"{chr(34) * 40}"\n'
            f'{GOOD},"a ""b"" ""c, d""\n""e"" {chr(34) * 20} f"\n'
            f'"1656","3","1.5","North Ames","1960","Average","""=1"""\n'
        ).encode(),
        "succeeded",
    ),
    "latin1-byte-deep-in-utf8": (
        (f"{HEADER}\n" + f"{GOOD}\n" * 5_000).encode() + b"1656,3,1.5,Caf\xe9,1960,Average\n",
        "failed",
    ),
    "bidi-and-emoji": (f"{HEADER},note\n{GOOD},\u202etxt.exe \U0001f3e0\n".encode(), "succeeded"),
    "million-columns": (
        f"{HEADER}\n{GOOD}\n{','.join(['1'] * 1_000_000)}\n{GOOD}\n".encode(),
        "succeeded",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CORPUS))
def test_hostile_csv_has_its_documented_outcome(client: httpx.Client, case: str) -> None:
    data, expected = CORPUS[case]
    response = submit(client, data)
    assert response.status_code == 202, response.text
    job = wait_final(client, response.json()["id"], timeout=120)
    result = client.get(f"/v1/jobs/{job['id']}/result", headers=ALICE)
    summary = job["error"] or ""
    if job["status"] == "succeeded":
        rows = _rows(result.text)
        errors = sorted({r[-2][:60] for r in rows[1:] if r[-2]})
        summary = f"{len(rows) - 1} rows, row errors {errors}"
    print(f"\n{case}: {job['status']}: {summary[:300]}")
    assert job["status"] == expected, job
    assert result.status_code == (200 if expected == "succeeded" else 409)
    if expected == "succeeded":
        live = [cell for row in _rows(result.text) for cell in row if _is_formula(cell)]
        assert live == []


def test_formulas_are_neutralised_cell_by_cell(client: httpx.Client) -> None:
    data, _ = CORPUS["formula-extra-column"]
    job = wait_final(client, submit(client, data).json()["id"])
    notes = [
        r[6] for r in _rows(client.get(f"/v1/jobs/{job['id']}/result", headers=ALICE).text)[1:]
    ]
    assert notes == [
        "'=1+2",
        "'+SUM(A1:A9)",
        "'-2+3",
        "'@cmd",
        "'\t=1+1",
        "'\r=1+1",
        '\'=HYPERLINK("x","y")',
    ]


def test_quoted_fields_round_trip_exactly(client: httpx.Client) -> None:
    data, _ = CORPUS["deeply-quoted"]
    job = wait_final(client, submit(client, data).json()["id"])
    result = _rows(client.get(f"/v1/jobs/{job['id']}/result", headers=ALICE).text)
    source = _rows(data.decode())
    assert [r[6] for r in result[1:3]] == [r[6] for r in source[1:3]]
    assert result[3][6] == '"=1"'  # text that starts with a quote: no spreadsheet runs it


def _rows(text: str) -> list[list[str]]:
    csv.field_size_limit(MAX_RECORD_BYTES * 2)
    return list(csv.reader(io.StringIO(text, newline="")))


def _is_formula(cell: str) -> bool:
    return cell.startswith(FORMULA_PREFIXES) and not re.fullmatch(PLAIN_NUMBER, cell)

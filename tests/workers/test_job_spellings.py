"""Jobs read categories as people write them, count the spellings read, refuse near misses."""

from __future__ import annotations

import csv
import io

import httpx
import pandas as pd
import pytest

from ml.contract import FEATURE_COLUMNS
from tests.support.jobs import submit, wait_final
from tests.support.keys import ALICE
from tests.support.paths import DATA

pytestmark = pytest.mark.slow  # real jobs on the session's worker


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _scored(http: httpx.Client, data: bytes, **options: str) -> tuple[str, list[dict[str, str]]]:
    if options:
        response = http.post(
            "/v1/jobs",
            content=data,
            params={"filename": "houses.csv", **options},
            headers={**ALICE, "Content-Type": "text/csv"},
        )
    else:
        response = submit(http, data)
    assert response.status_code == 202, response.text
    job = wait_final(http, response.json()["id"])
    assert job["status"] == "succeeded", job
    result = http.get(f"/v1/jobs/{job['id']}/result", headers=ALICE)
    return job["id"], list(csv.DictReader(io.StringIO(result.text)))


def test_a_job_of_underscored_names_prices_as_the_names_and_reports_the_rewrites(
    client: httpx.Client,
) -> None:
    houses = pd.read_csv(DATA, dtype=str)[list(FEATURE_COLUMNS)]
    underscored = houses.assign(
        location=houses["location"].str.replace(" ", "_"),
        condition=houses["condition"].str.replace(" ", "_"),
    )

    _, exact = _scored(client, _csv(houses))
    job_id, spelled = _scored(client, _csv(underscored))

    assert [r["predicted_price"] for r in spelled] == [r["predicted_price"] for r in exact]
    assert [r["warning"] for r in spelled] == [r["warning"] for r in exact]
    assert all(r["error"] == "" for r in spelled)
    assert spelled[0]["location"] == "North_Ames"  # the input cells are kept as sent
    summary = client.get(f"/v1/jobs/{job_id}/summary", headers=ALICE).json()
    rewrites = {(r["column"], r["sent"]): (r["canonical"], r["rows"]) for r in summary["rewrites"]}
    north_ames = int((houses["location"] == "North Ames").sum())
    assert rewrites[("location", "North_Ames")] == ("North Ames", north_ames)
    assert rewrites[("condition", "Above_Average")] == (
        "Above Average",
        int((houses["condition"] == "Above Average").sum()),
    )
    assert ("location", "Edwards") not in rewrites  # one word: nothing to rewrite
    assert summary["rewrites"][0]["rows"] == max(r["rows"] for r in summary["rewrites"])


HEADER = ",".join(FEATURE_COLUMNS)
ROWS = [
    "1656,3,1.5,north ames,1960,Average",  # case
    "1656,3,1.5,  North   Ames ,1960,Average",  # whitespace
    "1656,3,1.5,North-Ames,1960,average",  # hyphens
    "1656,3,1.5,NAmes,1960,TA",  # Ames codes
    "1656,3,1.5,Nrth Ames,1960,Average",  # a near miss
    "1656,3,1.5,Atlantis,1960,Average",  # a new name
    "1656,3,1.5,North Ames,1960,Average",  # exact
]
FILE = ("\n".join([HEADER, *ROWS]) + "\n").encode()
NEAR_MISS = "location: 'Nrth Ames' is not a known location, did you mean 'North Ames'?"


def test_a_job_reads_spellings_refuses_a_near_miss_and_warns_of_a_new_name(
    client: httpx.Client,
) -> None:
    _, rows = _scored(client, FILE)

    exact = rows[-1]["predicted_price"]
    assert [r["predicted_price"] for r in rows[:4]] == [exact] * 4
    assert [r["error"] for r in rows] == ["", "", "", "", NEAR_MISS, "", ""]
    assert rows[4]["predicted_price"] == ""
    assert (
        rows[5]["warning"]
        == "location 'Atlantis' was not seen in training, so it is scored as unknown"
    )
    assert rows[5]["predicted_price"] != ""


def test_a_strict_job_refuses_a_new_name_by_query_or_by_form_field(client: httpx.Client) -> None:
    _, by_query = _scored(client, FILE, unknown_categories="error")
    response = client.post(
        "/v1/jobs",
        files={"file": ("houses.csv", FILE, "text/csv")},
        data={"unknown_categories": "error"},
        headers=ALICE,
    )
    assert response.status_code == 202, response.text
    assert response.json()["unknown_categories"] == "error"
    job = wait_final(client, response.json()["id"])
    by_form = list(
        csv.DictReader(io.StringIO(client.get(f"/v1/jobs/{job['id']}/result", headers=ALICE).text))
    )

    for rows in (by_query, by_form):
        assert rows[5]["error"].startswith("location: 'Atlantis' is not a location")
        assert rows[5]["predicted_price"] == ""
        assert rows[4]["error"] == NEAR_MISS
        assert all(r["error"] == "" for i, r in enumerate(rows) if i not in (4, 5))


def test_a_job_with_a_bad_mode_is_refused(client: httpx.Client) -> None:
    by_query = client.post(
        "/v1/jobs",
        content=FILE,
        params={"unknown_categories": "sometimes"},
        headers={**ALICE, "Content-Type": "text/csv"},
    )
    by_form = client.post(
        "/v1/jobs",
        files={"file": ("houses.csv", FILE, "text/csv")},
        data={"unknown_categories": "sometimes"},
        headers=ALICE,
    )

    assert by_query.status_code == 422
    assert by_form.status_code == 422
    assert by_form.json()["errors"][0]["field"] == "unknown_categories"

"""A job row's house read back from the input: rows number as the scoring numbers them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jobs.blobs import FileBlobStore
from jobs.job_features import chunk_spans, houses_in_chunk, job_houses, rows_by_span
from jobs.keys import input_key, plan_key
from jobs.models import JobRecord
from ml.categories import CategoryError, CategoryProblem
from ml.contract import HouseFeatures
from workers.chunking import InputLimits, plan_chunks

HEADER = "note,sqft,bedrooms,bathrooms,location,year_built,condition\n"
ROWS = [
    "plain,1000,2,1,North Ames,1950,Average\n",
    "\n",  # a blank line is no row
    '"two\nlines",1100,3,2,north_ames,1960,Good\n',  # a quoted field spans two lines
    "x,1200,3,1.5,Somerset,1970,Fair\n",
    "y,-5,3,1,Somerset,1970,Fair\n",  # refused by the contract
    "z,1400,4,2,Nrth Ames,1980,Average\n",  # a near miss
]


def canonical(house: HouseFeatures) -> HouseFeatures:
    """This file's alias spelling read as its canonical name; the near miss refused, as a
    model's matcher does (``Predictor.canonical_house``)."""
    if house.location == "Nrth Ames":
        problem = CategoryProblem(field="location", message="did you mean 'North Ames'?")
        raise CategoryError([problem])
    names = {"north_ames": "North Ames"}
    return house.model_copy(update={"location": names.get(house.location, house.location)})


def test_each_named_row_is_read_from_the_chunk_holding_it() -> None:
    data = (HEADER + "".join(ROWS)).encode()
    plan = plan_chunks([data], limits=InputLimits(chunk_rows=2))
    spans = chunk_spans(json.dumps(plan.to_json()))
    assert [(s.first_row, s.rows) for s in spans] == [(1, 2), (3, 2), (5, 1)]

    houses: dict[int, dict[str, Any]] = {}
    problems: dict[int, str] = {}
    for span, rows in rows_by_span(spans, [1, 2, 3, 4, 5, 9]).items():
        found = houses_in_chunk(
            data[span.start : span.end],
            span=span,
            width=len(plan.columns),
            positions=plan.feature_positions,
            rows=rows,
            canonical=canonical,
        )
        houses |= found.houses
        problems |= found.problems

    assert [houses[r]["sqft"] for r in (1, 2, 3)] == [1000.0, 1100.0, 1200.0]
    assert houses[2]["location"] == "North Ames"  # read with the model's names
    assert houses[3]["bathrooms"] == 1.5
    assert set(problems) == {4, 5}  # row 9 is in no chunk: left for the caller to name
    assert "sqft" in problems[4]
    assert "did you mean 'North Ames'?" in problems[5]


async def test_rows_of_a_job_whose_plan_is_a_blob_are_read_through_it(tmp_path: Path) -> None:
    data = (HEADER + "".join(ROWS)).encode()
    plan = plan_chunks([data], limits=InputLimits(chunk_rows=2))
    blobs = FileBlobStore(tmp_path)
    await blobs.put_bytes(input_key("j"), data)
    await blobs.put_bytes(plan_key("j"), json.dumps(plan.to_json()).encode())
    record = JobRecord(
        id="j",
        owner="alice",
        plan_blob=plan_key("j"),
        columns=plan.columns,
        feature_positions=plan.feature_positions,
    )

    found = await job_houses(blobs, record, [3, 1], canonical=canonical)

    assert [found.houses[r]["sqft"] for r in (1, 3)] == [1000.0, 1200.0]
    (tmp_path / plan_key("j")).unlink()  # gone (the job expired meanwhile)
    gone = await job_houses(blobs, record, [1], canonical=canonical)
    assert gone.problems == {1: "the job has no chunk plan to find its rows by"}

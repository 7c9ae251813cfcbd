"""A job row's house read back from the input: rows number as the scoring numbers them."""

from __future__ import annotations

import json
from typing import Any

from jobs.job_features import chunk_spans, houses_in_chunk, rows_by_span
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

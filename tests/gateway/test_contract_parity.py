"""One contract on every path: the same input gets the same verdict, price and warnings.

Each case of one table goes through all five paths: ``/v1/predict``, ``/v1/predict/batch``,
a CSV job (all cases as rows of one file, scored by a real worker), ``/v2/models/{name}/infer``
on a real gateway process, and the in-process ``Predictor`` (``HouseFeatures`` +
``predict_one``, and ``predict_frame`` on the raw values).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pandas as pd
import pytest
from pydantic import ValidationError

from ml.categories import CategoryError
from ml.contract import FEATURE_COLUMNS, HouseFeatures, max_year_built
from ml.predict import Predictor
from tests.support.gateway_process import GatewayProcess
from tests.support.houses import HOUSE
from tests.support.jobs import submit, wait_final
from tests.support.keys import ALICE
from tests.support.model import ModelRegistry

pytestmark = pytest.mark.slow  # a real gateway and worker, and one job


@dataclass(frozen=True)
class Case:
    """One input and what every path must make of it."""

    id: str
    changes: dict[str, Any]
    refused: frozenset[str] = frozenset()  # the fields blamed; empty: accepted
    warnings: int = 0  # how many warnings an accepted house carries
    same_as_ordinary: bool = False  # another spelling of the ordinary house: the same price
    house: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "house", {**HOUSE, **self.changes})


def refused(*fields: str) -> frozenset[str]:
    return frozenset(fields)


CASES = [
    Case("ordinary", {}),
    Case("bathrooms-float-noise-above", {"bathrooms": 1.5000000000000002}),
    Case("bathrooms-float-noise-at-zero", {"bathrooms": 1e-9}),
    Case("bathrooms-float-noise-below-50", {"bathrooms": 49.99999999999}, warnings=1),
    Case("bathrooms-quarter", {"bathrooms": 1.25}, refused("bathrooms")),
    Case("bathrooms-off-the-step", {"bathrooms": 1.5001}, refused("bathrooms")),
    Case("sqft-as-text", {"sqft": "1656"}),
    Case("sqft-padded-text", {"sqft": " 1656 "}),
    Case("sqft-exponent-text", {"sqft": "1.656e3"}),
    Case("sqft-digit-separators", {"sqft": "1_656"}, refused("sqft")),
    Case("sqft-hexadecimal", {"sqft": "0x700"}, refused("sqft")),
    Case("sqft-infinity-text", {"sqft": "inf"}, refused("sqft")),
    Case("sqft-overflowing", {"sqft": "1e400"}, refused("sqft")),
    Case("sqft-true", {"sqft": True}, refused("sqft")),
    Case("bedrooms-whole-float", {"bedrooms": 3.0}),
    Case("bedrooms-whole-text", {"bedrooms": "3.0"}),
    Case("bedrooms-fraction", {"bedrooms": 2.5}, refused("bedrooms")),
    Case("year-built-next-year", {"year_built": max_year_built()}, warnings=1),
    Case("year-built-later", {"year_built": max_year_built() + 1}, refused("year_built")),
    Case("location-unseen", {"location": "Atlantis"}, warnings=1),
    Case("location-padded", {"location": "  North Ames  "}),
    Case("location-64-after-trimming", {"location": " " + "x" * 64 + "  "}, warnings=1),
    Case("location-65", {"location": "x" * 65}, refused("location")),
    Case("location-blank", {"location": "   "}, refused("location")),
    # Spellings: read as the canonical name (priced as the ordinary house), or refused.
    Case("location-lower-case", {"location": "north ames"}, same_as_ordinary=True),
    Case("location-underscores", {"location": "North_Ames"}, same_as_ordinary=True),
    Case("location-hyphen-and-spaces", {"location": " north-ames  "}, same_as_ordinary=True),
    Case("location-repeated-spaces", {"location": "North    Ames"}, same_as_ordinary=True),
    Case("location-ames-code", {"location": "NAmes"}, same_as_ordinary=True),
    Case("condition-ames-grade", {"condition": "TA"}, same_as_ordinary=True),
    Case("condition-upper-case", {"condition": "AVERAGE"}, same_as_ordinary=True),
    Case("location-near-miss", {"location": "Nrth Ames"}, refused("location")),
    Case("condition-near-miss", {"condition": "Averge"}, refused("condition")),
    Case("unseen-condition-and-huge", {"condition": "Palatial", "sqft": 9000}, warnings=2),
    Case(
        "several-bad-cells",
        {"sqft": "", "bedrooms": "", "location": ""},
        refused("sqft", "bedrooms", "location"),
    ),
]


@dataclass(frozen=True)
class Answer:
    """What one path made of a case: a price and warnings, or the fields it blamed."""

    price: float | None
    warnings: str
    blamed: frozenset[str]


# --- the paths ------------------------------------------------------------------------


def via_predict(http: httpx.Client, case: Case) -> Answer:
    response = http.post("/v1/predict", json=case.house, headers=ALICE)
    if response.status_code == 422:
        return _refused(e["field"] for e in response.json()["errors"])
    assert response.status_code == 200, response.text
    body = response.json()
    return Answer(body["predicted_price"], "; ".join(body["warnings"]), frozenset())


def via_batch(http: httpx.Client, case: Case) -> Answer:
    response = http.post("/v1/predict/batch", json={"rows": [case.house]}, headers=ALICE)
    if response.status_code == 422:
        return _refused(e["field"] for e in response.json()["errors"])
    assert response.status_code == 200, response.text
    (prediction,) = response.json()["predictions"]
    return Answer(prediction["predicted_price"], "; ".join(prediction["warnings"]), frozenset())


def via_v2(http: httpx.Client, case: Case, model: str) -> Answer:
    body = {"inputs": v2_tensors(case.house), "outputs": [{"name": "predicted_price"}]}
    body["outputs"].append({"name": "warning"})
    response = http.post(f"/v2/models/{model}/infer", json=body, headers=ALICE)
    if response.status_code == 400:
        return _refused_text(e["message"] for e in response.json()["errors"])
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o["data"][0] for o in response.json()["outputs"]}
    return Answer(outputs["predicted_price"], outputs["warning"], frozenset())


def via_predict_one(predictor: Predictor, case: Case) -> Answer:
    try:
        house = HouseFeatures.model_validate(case.house)
    except ValidationError as exc:
        return _refused(str(e["loc"][0]) for e in exc.errors())
    try:
        prediction = predictor.predict_one(house)
    except CategoryError as exc:
        return _refused(p.field for p in exc.problems)
    return Answer(prediction.predicted_price, "; ".join(prediction.warnings), frozenset())


def via_predict_frame(predictor: Predictor, case: Case) -> Answer:
    frame = pd.DataFrame({c: pd.Series([case.house[c]], dtype=object) for c in FEATURE_COLUMNS})
    row = predictor.predict_frame(frame).iloc[0]
    if isinstance(row["error"], str):
        return _refused_text([row["error"]])
    warning = row["warning"] if isinstance(row["warning"], str) else ""
    return Answer(float(row["predicted_price"]), warning, frozenset())


def via_job(row: dict[str, str]) -> Answer:
    if row["error"]:
        return _refused_text([row["error"]])
    return Answer(float(row["predicted_price"]), row["warning"], frozenset())


def _refused(fields: Any) -> Answer:
    return Answer(None, "", frozenset(str(f).split(".")[-1] for f in fields))


def _refused_text(messages: Any) -> Answer:
    """Fields named by 'field: reason; field: reason' texts (CSV errors, /v2 row errors)."""
    return Answer(
        None,
        "",
        frozenset(part.split(":")[0].strip() for text in messages for part in text.split("; ")),
    )


def v2_tensors(house: dict[str, Any]) -> list[dict[str, Any]]:
    """One tensor per column, typed as a V2 client would type each value."""
    return [
        {"name": c, "shape": [1], "datatype": _v2_type(house[c]), "data": [house[c]]}
        for c in FEATURE_COLUMNS
    ]


def _v2_type(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, str):
        return "BYTES"
    return "INT64" if isinstance(value, int) else "FP64"


def csv_cell(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http(gateway_process: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway_process.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def predictor(model_registry: ModelRegistry) -> Predictor:
    uri = f"models:/{model_registry.name}/{model_registry.version}"
    return Predictor.load(uri, tracking_uri=model_registry.tracking_uri)


@pytest.fixture(scope="module")
def job_rows(http: httpx.Client) -> dict[str, dict[str, str]]:
    """Every case as one row of one CSV job, scored by the real worker; rows by case id."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FEATURE_COLUMNS)
    for case in CASES:
        writer.writerow([csv_cell(case.house[c]) for c in FEATURE_COLUMNS])
    job = submit(http, buffer.getvalue().encode(), filename="parity.csv").json()
    assert wait_final(http, job["id"])["status"] == "succeeded"
    result = http.get(f"/v1/jobs/{job['id']}/result", headers=ALICE)
    rows = list(csv.DictReader(io.StringIO(result.text)))
    assert len(rows) == len(CASES)
    return {case.id: row for case, row in zip(CASES, rows, strict=True)}


# --- the table ------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_path_gives_the_same_answer(
    case: Case,
    http: httpx.Client,
    predictor: Predictor,
    job_rows: dict[str, dict[str, str]],
    model_registry: ModelRegistry,
) -> None:
    answers = {
        "/v1/predict": via_predict(http, case),
        "/v1/predict/batch": via_batch(http, case),
        "CSV job": via_job(job_rows[case.id]),
        "/v2 infer": via_v2(http, case, model_registry.name),
        "Predictor.predict_one": via_predict_one(predictor, case),
        "Predictor.predict_frame": via_predict_frame(predictor, case),
    }

    verdicts = {path: answer.blamed for path, answer in answers.items()}
    assert verdicts == dict.fromkeys(answers, case.refused), json.dumps(
        {k: sorted(v) for k, v in verdicts.items()}
    )
    if case.refused:
        assert all(a.price is None for a in answers.values())
        return
    reference = answers["Predictor.predict_one"]
    assert reference.price is not None
    for path, answer in answers.items():
        assert answer.price == pytest.approx(reference.price, rel=1e-6, abs=0.01), path
        assert answer.warnings == reference.warnings, path
    assert len([w for w in reference.warnings.split("; ") if w]) == case.warnings, reference
    if case.same_as_ordinary:
        ordinary = via_predict_one(predictor, CASES[0])
        assert reference.price == ordinary.price

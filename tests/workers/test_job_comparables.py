"""Jobs with ``?comparables=k``: the k most similar training sales as columns of every row."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from ml.comparables import comparable_column_names
from ml.contract import HouseFeatures
from ml.predict import Predictor
from tests.support.houses import HEADER, houses_csv
from tests.support.jobs import wait_final
from tests.support.keys import ALICE
from tests.support.model import ModelRegistry


@pytest.fixture(scope="module")
def predictor(model_registry: ModelRegistry) -> Predictor:
    return Predictor.load(model_registry.model_uri, tracking_uri=model_registry.tracking_uri)


def _submit(http: httpx.Client, data: bytes, **params: str) -> httpx.Response:
    return http.post(
        "/v1/jobs",
        content=data,
        params={"filename": "houses.csv", **params},
        headers={**ALICE, "Content-Type": "text/csv"},
    )


def _result(http: httpx.Client, job_id: str) -> tuple[list[str], list[dict[str, str]]]:
    text = http.get(f"/v1/jobs/{job_id}/result", headers=ALICE).text
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


@pytest.mark.slow
def test_job_adds_the_top_three_comparables_as_columns(
    client: httpx.Client, predictor: Predictor
) -> None:
    response = _submit(client, houses_csv(60, seed=4, invalid_every=20), comparables="3")
    assert response.status_code == 202, response.text
    assert response.json()["comparables"] == 3

    final = wait_final(client, response.json()["id"])

    assert final["status"] == "succeeded", final
    assert final["comparables"] == 3
    header, rows = _result(client, final["id"])
    assert header == [
        *HEADER.split(","),
        "predicted_price",
        "price_low",
        "price_high",
        "error",
        "warning",
        *comparable_column_names(3),
    ]
    bad = [r for r in rows if r["error"]]
    assert len(bad) == 3
    assert all(r[c] == "" for r in bad for c in comparable_column_names(3))
    for row in (r for r in rows if not r["error"]):
        _assert_matches_single_prediction(row, predictor)


def _assert_matches_single_prediction(
    row: dict[str, str], predictor: Predictor, *, k: int = 3
) -> None:
    house = HouseFeatures(**{name: row[name] for name in HEADER.split(",")})
    sales = predictor.predict_one(house, comparables=k).comparables.sales  # type: ignore[union-attr]
    for n, sale in enumerate(sales, start=1):
        assert float(row[f"comp{n}_price"]) == pytest.approx(sale.sale_price, abs=0.01)
        assert float(row[f"comp{n}_adjusted"]) == pytest.approx(sale.adjusted_price, abs=0.02)
        assert float(row[f"comp{n}_distance"]) == pytest.approx(sale.distance, abs=0.006)


@pytest.mark.slow
def test_job_comparables_survive_quoted_fields(client: httpx.Client, predictor: Predictor) -> None:
    data = (
        b"id,sqft,bedrooms,bathrooms,location,year_built,condition,notes\n"
        b'a1,1656,3,1.5,North Ames,1960,Average,"two\nlines"\n'
        b"a2,2400,4,2,Somerset,2005,Good,plain\n"
    )

    final = wait_final(client, _submit(client, data, comparables="1").json()["id"])

    assert final["status"] == "succeeded", final
    header, rows = _result(client, final["id"])
    assert header[-3:] == comparable_column_names(1)
    assert [r["notes"] for r in rows] == ["two\nlines", "plain"]
    for row in rows:
        _assert_matches_single_prediction(row, predictor, k=1)


@pytest.mark.parametrize("k", ["0", "4", "x"])
def test_job_comparables_out_of_range_is_422(client: httpx.Client, k: str) -> None:
    response = _submit(client, houses_csv(3), comparables=k)

    assert response.status_code == 422, response.text
    assert any(e["field"] == "query.comparables" for e in response.json()["errors"])


def test_a_job_without_comparables_has_no_extra_columns(client: httpx.Client) -> None:
    final = wait_final(client, _submit(client, houses_csv(5)).json()["id"])

    header, _ = _result(client, final["id"])
    assert final["comparables"] == 0
    assert header[-1] == "warning"

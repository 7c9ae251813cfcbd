"""Open Inference Protocol (KServe V2): readiness, metadata, inference in the protocol shape."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.houses import HOUSE
from tests.support.keys import USER
from tests.support.model import ModelRegistry

SECOND = {**HOUSE, "sqft": 2400, "bedrooms": 4, "location": "College Creek", "year_built": 2004}


def tensors(houses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One named tensor per feature column, as a V2 client sends them."""
    types = {"location": "BYTES", "condition": "BYTES", "bedrooms": "INT64", "year_built": "INT64"}
    return [
        {
            "name": column,
            "shape": [len(houses)],
            "datatype": types.get(column, "FP64"),
            "data": [house[column] for house in houses],
        }
        for column in HOUSE
    ]


async def test_ready_and_metadata(client: httpx.AsyncClient, model_registry: ModelRegistry) -> None:
    name = model_registry.name
    ready = await client.get(f"/v2/models/{name}/ready", headers=USER)
    metadata = (await client.get(f"/v2/models/{name}", headers=USER)).json()

    assert ready.status_code == 200
    assert ready.json()["ready"] is True
    assert metadata["name"] == name
    assert metadata["versions"] == [model_registry.version]
    inputs = {t["name"]: t for t in metadata["inputs"]}
    assert inputs["location"]["datatype"] == "BYTES"
    assert inputs["sqft"] == {"name": "sqft", "datatype": "FP64", "shape": [-1]}
    assert {"predicted_price", "price_low", "price_high"} <= {
        o["name"] for o in metadata["outputs"]
    }


async def test_infer_answers_in_the_protocols_shape(
    client: httpx.AsyncClient, model_registry: ModelRegistry
) -> None:
    body = {"id": "req-1", "inputs": tensors([HOUSE, SECOND])}

    answer = await client.post(f"/v2/models/{model_registry.name}/infer", json=body, headers=USER)
    batch = await client.post("/v1/predict/batch", json={"rows": [HOUSE, SECOND]}, headers=USER)

    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["model_name"] == model_registry.name
    assert result["model_version"] == model_registry.version
    assert result["id"] == "req-1"
    outputs = {o["name"]: o for o in result["outputs"]}
    assert set(outputs) == {"predicted_price", "price_low", "price_high"}
    for output in outputs.values():
        assert output["datatype"] == "FP64"
        assert output["shape"] == [2]
        assert len(output["data"]) == 2
    expected = [p["predicted_price"] for p in batch.json()["predictions"]]
    assert outputs["predicted_price"]["data"] == pytest.approx(expected, rel=1e-5)
    lows = outputs["price_low"]["data"]
    highs = outputs["price_high"]["data"]
    assert all(lo < p < hi for lo, p, hi in zip(lows, expected, highs, strict=True))


async def test_infer_accepts_column_vectors_and_picks_outputs(
    client: httpx.AsyncClient, model_registry: ModelRegistry
) -> None:
    inputs = tensors([HOUSE])
    for tensor in inputs:
        tensor["shape"] = [1, 1]
        tensor["data"] = [tensor["data"]]
    body = {"inputs": inputs, "outputs": [{"name": "predicted_price"}]}

    answer = await client.post(f"/v2/models/{model_registry.name}/infer", json=body, headers=USER)

    assert answer.status_code == 200, answer.text
    assert [o["name"] for o in answer.json()["outputs"]] == ["predicted_price"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.pop(), "missing inputs"),
        (lambda t: t[0].update(datatype="BYTES"), "datatype"),
        (lambda t: t[3].update(datatype="FP64", data=[1.0, 2.0]), "BYTES"),
        (lambda t: t[0].update(shape=[3]), "data must be a list of 3"),
        (lambda t: t[0].update(data=[-5, 100]), "row"),
    ],
)
async def test_bad_inference_requests_are_problems(
    client: httpx.AsyncClient, model_registry: ModelRegistry, change: Any, message: str
) -> None:
    inputs = tensors([HOUSE, SECOND])
    change(inputs)

    answer = await client.post(
        f"/v2/models/{model_registry.name}/infer", json={"inputs": inputs}, headers=USER
    )

    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/json"  # what kserve decodes
    problem = answer.json()
    assert problem["status"] == 400
    assert problem["error"] == problem["detail"]
    assert message in (problem["detail"] + str(problem.get("errors")))


async def test_v2_needs_the_api_key_and_the_right_model_name(
    client: httpx.AsyncClient, model_registry: ModelRegistry
) -> None:
    anonymous = await client.post(
        f"/v2/models/{model_registry.name}/infer", json={"inputs": tensors([HOUSE])}
    )
    wrong = await client.get("/v2/models/another-model/ready", headers=USER)

    assert anonymous.status_code == 401
    assert wrong.status_code == 404

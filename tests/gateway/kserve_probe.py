"""Drive a gateway with the kserve SDK's REST client; print what it saw as JSON.

Run by ``test_oip_clients.py`` with ``.venv-kserve``'s Python (the SDK pins pandas below 3,
so it cannot share the project's venv): ``python kserve_probe.py URL KEY MODEL HOUSES_JSON``.
It imports nothing from the project.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx
import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, InferResponse, RESTConfig
from kserve.protocol.infer_type import RequestedOutput

COLUMNS = ("sqft", "bedrooms", "bathrooms", "location", "year_built", "condition")
TEXT = ("location", "condition")


def request(model: str, houses: list[dict[str, Any]], *, binary: bool) -> InferRequest:
    """The houses as one tensor per column (binary data or JSON), asking for prices and warnings."""
    inputs = []
    for column in COLUMNS:
        values = [house[column] for house in houses]
        text = column in TEXT
        tensor = InferInput(column, [len(values)], "BYTES" if text else "FP64")
        array = np.array(values, dtype=np.object_ if text else np.float64)
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    wanted = [RequestedOutput("predicted_price"), RequestedOutput("warning")]
    return InferRequest(model, inputs, request_id="probe", request_outputs=wanted)


def answer(response: InferResponse) -> dict[str, Any]:
    outputs = {o.name: o for o in response.outputs}
    warnings = outputs["warning"].as_numpy().tolist()
    return {
        "model_name": response.model_name,
        "prices": outputs["predicted_price"].as_numpy().tolist(),
        "warnings": [w.decode() if isinstance(w, bytes) else str(w) for w in warnings],
    }


async def error_of(call: Any) -> str:
    try:
        await call
    except httpx.HTTPStatusError as exc:
        return f"{exc.response.status_code}: {exc}"
    return "no error"


async def probe(url: str, key: str, model: str, houses: list[dict[str, Any]]) -> dict[str, Any]:
    headers = {"X-API-Key": key}
    client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=60))
    try:
        report: dict[str, Any] = {
            "live": await client.is_server_live(url),
            "ready": await client.is_server_ready(url),
            "model_ready": await client.is_model_ready(url, model, headers=headers),
        }
        for label, binary in (("json", False), ("binary", True)):
            body = request(model, houses, binary=binary)
            report[label] = answer(await client.infer(url, body, model, dict(headers)))
        plain, _ = request(model, houses, binary=False).to_rest()
        async with httpx.AsyncClient() as http:
            reply = await http.post(f"{url}/v2/models/{model}/infer", json=plain, headers=headers)
        raw = reply.json()
        report["from_rest_model_version"] = InferResponse.from_rest(raw).model_version
        bad = request(model, [{**houses[0], "sqft": -5.0}], binary=False)
        report["errors"] = {
            "401": await error_of(client.infer(url, request(model, houses, binary=False), model)),
            "404": await error_of(client.infer(url, bad, "nope", dict(headers))),
            "400": await error_of(client.infer(url, bad, model, dict(headers))),
        }
        return report
    finally:
        await client.close()


if __name__ == "__main__":
    url, key, model, houses = sys.argv[1:5]
    print(json.dumps(asyncio.run(probe(url, key, model, json.loads(houses)))))

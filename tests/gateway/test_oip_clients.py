"""The Open Inference Protocol as real clients speak it: tritonclient[http] and the kserve SDK.

Both talk to a real gateway process. tritonclient is a dev extra; the kserve SDK pins
pandas below 3, so it lives in its own ``.venv-kserve`` (``scripts/dev.py test`` makes it)
and runs ``tests/gateway/kserve_probe.py`` there. Each skips, saying so, without its client.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.support.gateway_process import GatewayProcess
from tests.support.houses import HOUSE
from tests.support.keys import ALICE
from tests.support.model import ModelRegistry

ROOT = Path(__file__).resolve().parents[2]
KSERVE_VENV = ROOT / ".venv-kserve"
SECOND = {**HOUSE, "sqft": 2400, "bedrooms": 4, "location": "College Creek", "year_built": 2004}
HOUSES = [HOUSE, SECOND, {**HOUSE, "location": "Atlantis"}]

pytestmark = pytest.mark.slow  # a real gateway and worker process


def key() -> dict[str, str]:
    """A fresh copy of the key header: tritonclient writes its own headers into the dict."""
    return dict(ALICE)


def triton() -> Any:
    return pytest.importorskip(
        "tritonclient.http", reason="tritonclient[http] is not installed (pip install -e .[dev])"
    )


@pytest.fixture(scope="module")
def expected(gateway_process: GatewayProcess) -> dict[str, Any]:
    """The /v1 batch answer for HOUSES: what every V2 client must get back."""
    response = httpx.post(
        f"{gateway_process.url}/v1/predict/batch", json={"rows": HOUSES}, headers=ALICE
    )
    predictions = response.json()["predictions"]
    return {
        "prices": [p["predicted_price"] for p in predictions],
        "lows": [p["interval"]["low"] for p in predictions],
        "warnings": ["; ".join(p["warnings"]) for p in predictions],
    }


@pytest.fixture
def client(gateway_process: GatewayProcess) -> Iterator[Any]:
    http = triton()
    address = gateway_process.url.removeprefix("http://")  # tritonclient takes host:port
    client = http.InferenceServerClient(url=address, connection_timeout=30.0)
    yield client
    client.close()


def triton_inputs(binary: bool) -> list[Any]:
    http = triton()
    columns: dict[str, np.ndarray] = {
        "sqft": np.array([h["sqft"] for h in HOUSES], dtype=np.float64),
        "bedrooms": np.array([h["bedrooms"] for h in HOUSES], dtype=np.int64),
        "bathrooms": np.array([h["bathrooms"] for h in HOUSES], dtype=np.float32),
        "location": np.array([h["location"].encode() for h in HOUSES], dtype=np.object_),
        "year_built": np.array([h["year_built"] for h in HOUSES], dtype=np.int32),
        "condition": np.array([h["condition"].encode() for h in HOUSES], dtype=np.object_),
    }
    datatypes = {np.dtype(np.float64): "FP64", np.dtype(np.float32): "FP32"}
    datatypes |= {np.dtype(np.int64): "INT64", np.dtype(np.int32): "INT32"}
    inputs = []
    for name, values in columns.items():
        tensor = http.InferInput(name, [len(HOUSES)], datatypes.get(values.dtype, "BYTES"))
        tensor.set_data_from_numpy(values, binary_data=binary)
        inputs.append(tensor)
    return inputs


def test_tritonclient_sees_a_live_ready_server_and_model(
    client: Any, model_registry: ModelRegistry
) -> None:
    name, version = model_registry.name, model_registry.version

    assert client.is_server_live() is True  # no key: probes carry none
    assert client.is_server_ready() is True
    assert client.is_model_ready(name, headers=key()) is True
    assert client.is_model_ready(name, model_version=version, headers=key()) is True
    assert client.is_model_ready(name, model_version="999", headers=key()) is False
    metadata = client.get_model_metadata(name, headers=key())
    by_version = client.get_model_metadata(name, model_version=version, headers=key())
    assert metadata["versions"] == [version]
    assert by_version == metadata
    assert {t["name"] for t in metadata["inputs"]} == set(HOUSE)
    assert "binary_tensor_data" in client.get_server_metadata(headers=key())["extensions"]


@pytest.mark.parametrize(
    ("binary_in", "binary_out", "compression"),
    [
        (True, True, None),  # tritonclient's defaults: binary tensors both ways
        (False, False, None),  # plain JSON
        (True, False, "gzip"),
        (False, True, "deflate"),
    ],
    ids=["binary", "json", "binary-in-gzip", "json-in-deflate"],
)
def test_tritonclient_infers_what_v1_answers(
    client: Any,
    model_registry: ModelRegistry,
    expected: dict[str, Any],
    binary_in: bool,
    binary_out: bool,
    compression: str | None,
) -> None:
    http = triton()
    outputs = [
        http.InferRequestedOutput(name, binary_data=binary_out)
        for name in ("predicted_price", "price_low", "warning")
    ]

    result = client.infer(
        model_registry.name,
        triton_inputs(binary_in),
        model_version=model_registry.version,
        outputs=outputs,
        headers=key(),
        request_compression_algorithm=compression,
    )

    response = result.get_response()
    assert response["model_name"] == model_registry.name
    assert response["model_version"] == model_registry.version
    prices = result.as_numpy("predicted_price")
    assert prices.dtype == np.float64
    assert prices.tolist() == pytest.approx(expected["prices"], rel=1e-6)
    assert result.as_numpy("price_low").tolist() == pytest.approx(expected["lows"], rel=1e-6)
    warnings = [w.decode() if isinstance(w, bytes) else w for w in result.as_numpy("warning")]
    assert warnings == expected["warnings"]
    assert "was not seen in training" in warnings[2]


def test_tritonclient_default_request_gets_binary_outputs(
    client: Any, model_registry: ModelRegistry, expected: dict[str, Any]
) -> None:
    result = client.infer(model_registry.name, triton_inputs(True), headers=key())

    outputs = {o["name"]: o for o in result.get_response()["outputs"]}
    assert set(outputs) == {"predicted_price", "price_low", "price_high"}
    assert all(
        "data" not in o and o["parameters"]["binary_data_size"] == 24 for o in outputs.values()
    )
    assert result.as_numpy("predicted_price").tolist() == pytest.approx(
        expected["prices"], rel=1e-6
    )


def test_tritonclient_decodes_every_error(client: Any, model_registry: ModelRegistry) -> None:
    http = triton()
    error = pytest.importorskip("tritonclient.utils").InferenceServerException
    name = model_registry.name
    bad = triton_inputs(False)
    bad[0].set_data_from_numpy(np.array([-5.0, 1656.0, 1656.0]), binary_data=False)
    calls = {
        "401": lambda: client.get_model_metadata(name),
        "404": lambda: client.get_model_metadata("another-model", headers=key()),
        "404 version": lambda: client.get_model_metadata(name, model_version="999", headers=key()),
        "400": lambda: client.infer(name, bad, headers=key()),
    }
    seen = {}
    for label, call in calls.items():
        with pytest.raises(error) as info:
            call()
        seen[label] = (info.value.status(), info.value.message())

    assert seen["401"][0] == "401"
    assert seen["404"] == ("404", f"No model named 'another-model'; this server serves {name!r}.")
    assert seen["404 version"][0] == "404"
    assert "999" in seen["404 version"][1]
    assert seen["400"][0] == "400"
    assert "1 row(s) break the model's input contract" in seen["400"][1]
    assert all("exception occurred in the client" not in m for _, m in seen.values())
    assert http  # the module was importable


def test_kserve_sdk_speaks_to_the_gateway(
    gateway_process: GatewayProcess, model_registry: ModelRegistry, expected: dict[str, Any]
) -> None:
    if not (KSERVE_VENV / ".installed").exists():
        pytest.skip("the kserve SDK is not installed in .venv-kserve (python3 scripts/dev.py test)")
    probe = ROOT / "tests" / "gateway" / "kserve_probe.py"
    arguments = [gateway_process.url, ALICE["X-API-Key"], model_registry.name, json.dumps(HOUSES)]
    run = subprocess.run(
        [str(KSERVE_VENV / "bin" / "python"), str(probe), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout)

    assert report["live"] is True
    assert report["ready"] is True
    assert report["model_ready"] is True
    for answer in (report["json"], report["binary"]):
        assert answer["model_name"] == model_registry.name
        assert answer["prices"] == pytest.approx(expected["prices"], rel=1e-6)
        assert answer["warnings"] == expected["warnings"]
    # The spec's field names parse with the SDK's own parser (from_rest); its REST client's
    # from_bytes drops model_version in kserve <= 0.21 (kserve/kserve#6111), so not checked.
    assert report["from_rest_model_version"] == model_registry.version
    assert report["errors"]["401"].startswith("401:")
    assert "this server serves" in report["errors"]["404"]
    assert "break the model's input contract" in report["errors"]["400"]

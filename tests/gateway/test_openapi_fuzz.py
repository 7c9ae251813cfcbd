"""Schemathesis over the OpenAPI schema against a real uvicorn, with every check.

No 5xx; documented status codes, content types, headers and response schemas; valid
requests accepted and invalid ones refused. The few things JSON Schema cannot state are
expected statuses in ``tests/schemathesis.toml`` (shared with the full CLI run).
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation

from gateway.connections import GuardedHttpProtocol
from gateway.main import create_app
from hpp.redis_server import free_port
from tests.support.gateway_settings import build_settings
from tests.support.keys import ADMIN
from tests.support.model import ModelRegistry

# Bounded per operation and mode; raise it locally to fuzz harder (HPP_FUZZ_EXAMPLES=500).
MAX_EXAMPLES = int(os.environ.get("HPP_FUZZ_EXAMPLES", "30"))
CONFIG = Path(__file__).resolve().parents[1] / "schemathesis.toml"


@pytest.fixture(scope="module")
def live_gateway(
    model_registry: ModelRegistry, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The gateway in a uvicorn server thread, with Redis so the job routes work too."""
    state = tmp_path_factory.mktemp("fuzz-state")
    app_settings = build_settings(
        Path(state), tracking_uri=model_registry.tracking_uri, name=model_registry.name
    )
    app_settings.core.redis_url = redis_url
    app_settings.gateway.rate_limit_per_minute = 1_000_000
    port = free_port()
    config = uvicorn.Config(
        create_app(app_settings),
        host="127.0.0.1",
        port=port,
        http=GuardedHttpProtocol,
        log_config=None,
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert httpx.get(f"{url}/readyz").status_code == 200
    yield url
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def api_schema(live_gateway: str) -> schemathesis.BaseSchema:
    """The gateway's own OpenAPI document."""
    return schemathesis.openapi.from_url(
        f"{live_gateway}/openapi.json", config=SchemathesisConfig.from_path(CONFIG)
    )


def operation_labels() -> list[str]:
    """Every operation in the gateway's schema (building the app loads no model)."""
    app = create_app(build_settings(Path("."), tracking_uri="sqlite:///:memory:"))
    return [
        f"{method.upper()} {path}"
        for path, item in app.openapi()["paths"].items()
        for method in item
    ]


# schemathesis' own pytest plugin does not work with pytest 9 (request.node._nodeid), so
# each operation gets a hypothesis test built from the operation's strategy.
@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("label", operation_labels())
def test_operation_conforms_to_its_schema(
    api_schema: schemathesis.BaseSchema, label: str, mode: GenerationMode
) -> None:
    operation = api_schema.find_operation_by_label(label)
    assert operation is not None
    calls: list[int] = []

    @given(case=operation.as_strategy(mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case) -> None:
        response = case.call_and_validate(headers=auth_headers(case))
        calls.append(response.status_code)

    try:
        check()
    except Unsatisfiable:
        pytest.skip("the operation has no input to make invalid")
    statuses = dict(sorted(Counter(calls).items()))
    print(f"{label} [{mode.value}]: {len(calls)} calls, statuses {statuses}")
    assert calls
    assert all(code < 500 for code in calls)


def auth_headers(case: schemathesis.Case) -> dict[str, str]:
    """A valid admin key, unless this case deliberately sends a missing or broken one."""
    components = case.meta.components if case.meta else {}
    header = components.get(ParameterLocation.HEADER)
    if header is not None and header.mode is GenerationMode.NEGATIVE:
        return {}
    return ADMIN

"""Fault-injection fixtures: a gateway process on each module's own Redis database.

Each module runs on its own Redis database (or its own Redis server), so its workers and
queue see nothing of the other suites. Gateways and workers are real processes
(``tests.support.gateway_process.start_gateway``, the ``start_worker`` fixture); the
helpers (numbered inputs, row accounting, jobs over HTTP) are in ``tests/support``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.batch_env import BatchEnv
from tests.support.gateway_process import start_gateway, stop_gateway


@pytest.fixture(scope="module")
def gateway(
    env: BatchEnv, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A gateway process on the requesting module's ``env`` (its own Redis database)."""
    folder = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    process = start_gateway(env, folder / "gw.log")
    yield process.url
    stop_gateway(process)

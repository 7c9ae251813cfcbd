"""Batch-job fixtures: an HTTP client of the gateway process beside the session's worker."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.gateway_process import GatewayProcess


@pytest.fixture
def client(jobs_gateway: GatewayProcess) -> Iterator[httpx.Client]:
    """An HTTP client of the gateway process."""
    with httpx.Client(base_url=jobs_gateway.url, timeout=60) as http:
        yield http

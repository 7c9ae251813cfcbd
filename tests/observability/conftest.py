"""Fixtures for the observability tests: a captured log stream parsed as JSON lines."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog

from core.settings import ObservabilitySettings
from observability.logging import configure_logging
from tests.support.logs import LogCapture


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    """JSON logs captured in memory, with a clean structlog context around the test."""
    structlog.contextvars.clear_contextvars()
    httpx_logger = logging.getLogger("httpx")  # the test client's own request lines
    httpx_level = httpx_logger.level
    httpx_logger.setLevel(logging.WARNING)
    capture = LogCapture()
    capture.configure()
    yield capture
    httpx_logger.setLevel(httpx_level)
    structlog.contextvars.clear_contextvars()
    configure_logging("test", ObservabilitySettings(log_format="json"))

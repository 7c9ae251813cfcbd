"""Fixtures for the observability tests: a captured log stream parsed as JSON lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from core.settings import ObservabilitySettings
from observability.logging import configure_logging


class LogCapture:
    """Logs configured as JSON into memory; ``lines()`` parses what was written."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def configure(self, service: str = "test", **settings: Any) -> None:
        """(Re)configure logging into this capture."""
        settings.setdefault("log_format", "json")
        configure_logging(service, ObservabilitySettings(**settings), stream=self.stream)

    def text(self) -> str:
        """Everything written so far."""
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        """Every line written so far, each parsed as one JSON object."""
        return [json.loads(line) for line in self.text().splitlines()]

    def events(self, event: str) -> list[dict[str, Any]]:
        """The parsed lines whose event is ``event``."""
        return [line for line in self.lines() if line.get("event") == event]


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

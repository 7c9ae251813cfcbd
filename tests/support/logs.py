"""Logs configured as JSON into memory, parsed back line by line."""

from __future__ import annotations

import io
import json
from typing import Any

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

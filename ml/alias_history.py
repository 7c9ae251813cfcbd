"""The alias history: every move of ``champion``/``challenger``, with when, why and by whom.

Kept as tags on the registered model in MLflow (``alias_history.000001`` = JSON event),
not in Redis or a file: the history then lives exactly where the aliases live, is as
durable as the registry (the embedded Redis keeps nothing across restarts, and ECS tasks
share no disk), and every process that may move an alias (the loop, ``hpp promote``, a
person in the MLflow UI) already reaches it. ``ml.registry`` reads and writes the tags.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

TAG_PREFIX = "alias_history."
Action = Literal["challenger", "promotion", "rollback", "manual", "rejected", "retired"]


class AliasEvent(BaseModel):
    """One alias move (or a version the gates rejected, which moves nothing)."""

    seq: int = 0
    at: str  # ISO time
    action: Action
    alias: str | None  # the alias moved (None for a rejection)
    version: str  # the version it points at now (or the rejected version)
    previous: str | None = None  # the version it pointed at before
    reason: str
    by: str  # "rule:<name>" or "person:<name>"
    details: dict[str, Any] = Field(default_factory=dict)


def tag_name(seq: int) -> str:
    """The tag holding event number ``seq`` (sortable as text)."""
    return f"{TAG_PREFIX}{seq:06d}"


def parse_tags(tags: dict[str, str]) -> list[AliasEvent]:
    """The events among a registered model's tags, oldest first."""
    events = [
        AliasEvent.model_validate_json(v) for k, v in tags.items() if k.startswith(TAG_PREFIX)
    ]
    return sorted(events, key=lambda e: e.seq)

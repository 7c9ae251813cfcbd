"""Bounded echo: user-supplied text is cut before it reaches an error, a log line or the UI.

A column name, a field or a header can be megabytes long; copied whole into a job's
error it would bloat Redis, every ``GET /v1/jobs`` and every log line. ``clip`` is the
one place that cuts such text, with a marker saying how much was left out.
"""

from __future__ import annotations

# The longest user-derived text in a job error, a problem detail or a row error.
MAX_ECHO_CHARS = 500
# The longest string value in a log line (a formatted traceback is allowed more).
MAX_LOG_VALUE_CHARS = 2_000
MAX_LOG_TRACEBACK_CHARS = 16_000


def clip(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """``text`` if within ``limit`` characters, else its start and a marker, ``limit`` in all."""
    if len(text) <= limit:
        return text
    marker = f"… [{len(text):,} characters, cut]"
    return text[: max(limit - len(marker), 0)] + marker

"""A bound on how deeply a JSON request body may nest, checked before any parser sees it.

Python's ``json`` recurses once per level, so a body of 100,000 ``[`` is a RecursionError
in whichever route parses it. The middleware reads a JSON body as the app does and, when
the last byte is in, measures its depth in linear time (strings removed by one regular
expression, the brackets that remain summed by numpy) and answers 400 problem details
beyond the limit. Bodies with fewer brackets than the limit skip the measure entirely.
"""

from __future__ import annotations

import re

import numpy as np
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import ProblemError

# A JSON string, escapes included; possessive, and an unterminated one runs to the end, so
# the scan stays linear whatever the input.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
_BRACKETS = b"[]{}"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKETS)
_STEP = np.zeros(256, dtype=np.int8)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1


class JsonTooDeepError(ProblemError):
    """A JSON body nests deeper than the configured limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            400,
            f"The JSON body nests deeper than {limit} levels.",
            kind="json-too-deep",
            title="JSON nested too deeply",
        )


def json_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in ``body`` (brackets inside strings ignored)."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    steps = _STEP[np.frombuffer(brackets, dtype=np.uint8)]
    return int(np.cumsum(steps, dtype=np.int64).max())


def check_json_depth(body: bytes, limit: int) -> None:
    """Raise JsonTooDeepError when ``body`` nests deeper than ``limit``."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return  # cannot nest deeper than it has brackets
    if json_depth(body) > limit:
        raise JsonTooDeepError(limit)


class JsonDepthMiddleware:
    """Checks the depth of every JSON request body as the app finishes reading it."""

    def __init__(self, app: ASGIApp, *, max_depth: int) -> None:
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass non-JSON requests through; for JSON, check the whole body on its last part."""
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        parts: list[bytes] = []

        async def checked_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                parts.append(message.get("body", b""))
                if not message.get("more_body", False):
                    check_json_depth(b"".join(parts), self.max_depth)
                    parts.clear()
            return message

        await self.app(scope, checked_receive, send)


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False

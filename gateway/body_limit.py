"""Request body size limits: refused by Content-Length before reading, or cut off mid-stream."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import ProblemError, TrackedSend, send_problem


class BodyTooLargeError(ProblemError):
    """The request body passed its size limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"The request body exceeds the limit of {limit:,} bytes.",
            kind="body-too-large",
            title="Content Too Large",
        )


class BodyLimitMiddleware:
    """Limits request bodies; paths under an ``overrides`` prefix get that prefix's limit.

    A declared Content-Length over the limit is answered 413 without reading a byte; a
    body without one (chunked) is counted as it streams and stopped at the limit.
    """

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, overrides: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.overrides = tuple((overrides or {}).items())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then count the bytes as the app reads them."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            error = BodyTooLargeError(limit)
            await send_problem(
                scope,
                receive,
                send,
                413,
                detail=error.detail,
                kind=error.kind,
                title=error.title,
                headers={"Connection": "close"},
            )
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit)
            return message

        tracked = TrackedSend(send)
        try:
            await self.app(scope, limited_receive, tracked)
        except BodyTooLargeError as error:
            # Raised where no exception handler saw it (e.g. read in a middleware).
            if tracked.started:
                raise
            await send_problem(
                scope, receive, send, 413, detail=error.detail, kind=error.kind, title=error.title
            )

    def _limit_for(self, path: str) -> int:
        for prefix, limit in self.overrides:
            if path.startswith(prefix):
                return limit
        return self.max_bytes


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None

"""An aiobotocore client made on first use, inside the loop that uses it, and closed with it."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any


class LazyClient:
    """One aiobotocore client of ``service``, created on the first ``get``."""

    def __init__(self, service: str, *, endpoint_url: str | None = None) -> None:
        self.service = service
        self.endpoint_url = endpoint_url
        self._stack: AsyncExitStack | None = None
        self._client: Any = None
        self._lock = asyncio.Lock()

    async def get(self) -> Any:
        """The client (created now if this is the first call)."""
        async with self._lock:
            if self._client is None:
                from aiobotocore.session import get_session

                self._stack = AsyncExitStack()
                self._client = await self._stack.enter_async_context(
                    get_session().create_client(self.service, endpoint_url=self.endpoint_url)
                )
            return self._client

    async def aclose(self) -> None:
        """Close the client, if one was made."""
        if self._stack is not None:
            await self._stack.aclose()
            self._stack, self._client = None, None

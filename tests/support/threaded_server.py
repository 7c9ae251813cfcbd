"""An ASGI app under uvicorn in a background thread, and waiting for a URL to answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn


@dataclass
class ThreadedServer:
    """A uvicorn server running an ASGI app in a background thread until ``stop``."""

    app: Any
    port: int
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, health_path: str = "/healthz", timeout: float = 60.0) -> ThreadedServer:
        """Start serving and wait until ``health_path`` answers 200."""
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="uvicorn")
        self.thread.start()
        wait_for_http(self.url + health_path, timeout=timeout, alive=self.thread.is_alive)
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for its thread."""
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=30)
        self.server, self.thread = None, None


def wait_for_http(url: str, *, timeout: float, alive: Callable[[], bool] | None = None) -> None:
    """Poll ``url`` until it answers 200 (fail early if ``alive()`` turns false)."""
    deadline = time.monotonic() + timeout
    last: Exception | str | None = None
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise RuntimeError(f"server for {url} died while starting ({last})")
        try:
            response = httpx.get(url, timeout=2.0)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s ({last})")

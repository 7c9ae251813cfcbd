"""Real servers for the UI tests: the gateway under uvicorn in a thread, on a free port."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from nicegui.testing.user import User
from pydantic import SecretStr

from core.settings import (
    AppSettings,
    CoreSettings,
    GatewaySettings,
    ObservabilitySettings,
    UISettings,
    WorkerSettings,
    hash_api_key,
)

UI_KEY = "ui-test-key-0123456789"


def browser_id(user: User) -> str:
    """The id the web app gave this simulated browser (it sends it as X-On-Behalf-Of)."""
    assert user.client is not None, "open a page first"
    assert user.client.request is not None
    return str(user.client.request.session["id"])


def as_browser(user: User) -> dict[str, str]:
    """Headers to ask the gateway directly, as the web app does for this browser."""
    return {"X-API-Key": UI_KEY, "X-On-Behalf-Of": browser_id(user)}


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_settings(
    state_dir: Path,
    *,
    tracking_uri: str,
    gateway_port: int,
    redis_url: str | None = None,
    blob_url: str | None = None,
    ui_port: int | None = None,
    **worker: Any,
) -> AppSettings:
    """Settings for a whole test system: one UI key (a delegate), the registry, Redis, ports."""
    return AppSettings(
        core=CoreSettings(
            state_dir=state_dir,
            mlflow_tracking_uri=tracking_uri,
            redis_url=redis_url,
            blob_url=blob_url or (state_dir / "blobs").resolve().as_uri(),
        ),
        gateway=GatewaySettings(
            port=gateway_port,
            api_keys={"webui": hash_api_key(UI_KEY)},
            delegate_key_names=["webui"],
            model_poll_seconds=0,
        ),
        worker=WorkerSettings(**worker),
        ui=UISettings(
            ui_port=ui_port or free_port(),
            gateway_url=f"http://127.0.0.1:{gateway_port}",
            ui_api_key=SecretStr(UI_KEY),
        ),
        observability=ObservabilitySettings(log_format="json", log_level="WARNING"),
    )


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


def wait_for_http(url: str, *, timeout: float, alive: Any = None) -> None:
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

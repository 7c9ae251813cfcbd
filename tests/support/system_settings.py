"""Settings for a whole test system (gateway, worker, web app) with the web app's one key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
from hpp.redis_server import free_port
from tests.support.keys import UI_KEY


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

"""Settings objects for in-process test gateways (built directly, never from the environment)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from core.settings import (
    AppSettings,
    CoreSettings,
    GatewaySettings,
    ObservabilitySettings,
    UISettings,
    WorkerSettings,
    hash_api_key,
)
from tests.support.keys import ADMIN_KEY, ALICE, BOB, USER_KEY

SettingsFactory = Callable[..., AppSettings]
SECURITY_DB = 10


def build_settings(
    state_dir: Path, *, tracking_uri: str, name: str = "house-price", **gateway: Any
) -> AppSettings:
    """Settings for a test gateway: two keys (one admin), the given registry, no Redis."""
    options: dict[str, Any] = {
        "api_keys": {"client": hash_api_key(USER_KEY), "ops": hash_api_key(ADMIN_KEY)},
        "admin_key_names": ["ops"],
        "model_poll_seconds": 0,
        **gateway,
    }
    return AppSettings(
        core=CoreSettings(
            state_dir=state_dir, mlflow_tracking_uri=tracking_uri, registered_model=name
        ),
        gateway=GatewaySettings(**options),
        worker=WorkerSettings(),
        ui=UISettings(),
        observability=ObservabilitySettings(log_format="json", log_level="WARNING"),
    )


def security_settings(
    tmp_path: Path, tracking_uri: str, redis_url: str, **gateway: Any
) -> AppSettings:
    """Gateway settings with keys for alice and bob and the job routes on a private database."""
    url = urlparse(redis_url)._replace(path=f"/{SECURITY_DB}").geturl()
    return AppSettings(
        core=CoreSettings(
            state_dir=tmp_path,
            redis_url=url,
            blob_url=(tmp_path / "blobs").as_uri(),
            mlflow_tracking_uri=tracking_uri,
        ),
        gateway=GatewaySettings(
            api_keys={
                "alice": hash_api_key(ALICE["X-API-Key"]),
                "bob": hash_api_key(BOB["X-API-Key"]),
            },
            model_poll_seconds=0,
            **gateway,
        ),
        worker=WorkerSettings(),
        ui=UISettings(),
        observability=ObservabilitySettings(log_format="json", log_level="WARNING"),
    )

"""Settings as ``hpp up`` starts from on a fresh machine: a state folder, no keys yet."""

from __future__ import annotations

from pathlib import Path

from core.settings import (
    AppSettings,
    CoreSettings,
    GatewaySettings,
    ObservabilitySettings,
    UISettings,
    WorkerSettings,
)


def up_settings(state: Path) -> AppSettings:
    """Settings for ``hpp up`` in ``state``: no API keys, open access refused, no UI secret."""
    return AppSettings(
        core=CoreSettings(state_dir=state, mlflow_tracking_uri=f"sqlite:///{state}/mlflow.db"),
        gateway=GatewaySettings(api_keys={}, allow_open_access=False),
        worker=WorkerSettings(),
        ui=UISettings(ui_storage_secret=None),
        observability=ObservabilitySettings(),
    )

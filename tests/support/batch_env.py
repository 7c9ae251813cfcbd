"""Where a worker (and a gateway) process find Redis, blobs and the model."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlparse


@dataclass(frozen=True)
class BatchEnv:
    """Where a worker (and a gateway) find Redis, blobs and the model."""

    redis_url: str
    blob_url: str
    tracking_uri: str
    state_dir: Path
    chunk_rows: int = 1_000
    visibility_timeout_seconds: int = 900
    watchdog_seconds: float = 2.0
    extra: dict[str, str] = field(default_factory=dict)

    def environ(self) -> dict[str, str]:
        """The ``HPP_*`` environment of a process using this setup."""
        return {
            **os.environ,
            "HPP_REDIS_URL": self.redis_url,
            "HPP_BLOB_URL": self.blob_url,
            "HPP_MLFLOW_TRACKING_URI": self.tracking_uri,
            "HPP_STATE_DIR": str(self.state_dir),
            "HPP_CHUNK_ROWS": str(self.chunk_rows),
            "HPP_VISIBILITY_TIMEOUT_SECONDS": str(self.visibility_timeout_seconds),
            "HPP_WATCHDOG_SECONDS": str(self.watchdog_seconds),
            "HPP_LOG_FORMAT": "json",
            "HPP_LOG_LEVEL": "INFO",
            **self.extra,
        }

    def with_database(self, db: int, **changes: object) -> BatchEnv:
        """The same setup on another Redis database (an isolated queue and job space)."""
        url = urlparse(self.redis_url)._replace(path=f"/{db}").geturl()
        return replace(self, redis_url=url, **changes)  # type: ignore[arg-type]

"""The registered versions a worker process has loaded: each loaded once, kept for good.

A version never changes (only aliases move), so a process keeps every version it loaded:
the scoring worker the versions its jobs are pinned to, the training worker the champion
and challenger it compares. The cache belongs to whoever owns the process's state (the
``WorkerContext``; a one-shot ``hpp`` command makes its own) and is passed to the code
that needs models, never reached for through a module global.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.settings import CoreSettings

if TYPE_CHECKING:
    from ml.predict import Predictor


class ModelCache:
    """Predictors of the configured registered model, by version, loaded on first use."""

    def __init__(self, core: CoreSettings) -> None:
        self._core = core
        self._loaded: dict[str, Predictor] = {}

    def __call__(self, version: str) -> Predictor:
        """The model of ``version``, loaded once."""
        if version not in self._loaded:
            from ml.predict import Predictor

            self._loaded[version] = Predictor.load(
                f"models:/{self._core.registered_model}/{version}",
                tracking_uri=self._core.resolved_tracking_uri(),
            )
        return self._loaded[version]

    @property
    def versions(self) -> list[str]:
        """The versions loaded so far, in the order they were loaded."""
        return list(self._loaded)

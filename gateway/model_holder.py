"""The serving model: one reference, swapped atomically when the registry alias moves."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from ml.predict import Predictor

Loader = Callable[[str], "Predictor"]
Resolver = Callable[[], "str | None"]

logger = structlog.get_logger("gateway.model")

RETRY_START_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """What /readyz reports about the model."""

    ready: bool
    version: str | None
    loaded_at: str | None
    last_error: str | None
    last_checked_at: str | None


class ModelHolder:
    """Holds the current Predictor; requests read ``current`` once and keep that object.

    Loading happens in a worker thread and the swap is a single reference assignment, so
    requests in flight finish on the version they took and none waits for a load.

    An ``optional`` holder (the challenger's) follows an alias that may be absent: no
    version is not an error, and when the alias goes away what it held is dropped.
    """

    def __init__(
        self,
        *,
        model_name: str,
        loader: Loader,
        resolver: Resolver,
        on_swap: Callable[[Predictor | None, Predictor], None] | None = None,
        optional: bool = False,
    ) -> None:
        self.model_name = model_name
        self.optional = optional
        self.current: Predictor | None = None
        self._loader = loader
        self._resolver = resolver
        self._on_swap = on_swap
        self._lock = asyncio.Lock()
        self._loaded_at: str | None = None
        self._last_error: str | None = None
        self._last_checked_at: str | None = None

    async def load_initial(self, model_uri: str) -> None:
        """Load the alias's model at start; a missing model is recorded, not raised."""
        async with self._lock:
            try:
                predictor = await asyncio.to_thread(self._loader, model_uri)
            except Exception as exc:  # the gateway must start without a model
                self._record_failure(f"could not load {model_uri}: {exc}")
                return
            self._swap(predictor)

    def install(self, predictor: Predictor) -> None:
        """Serve a Predictor built elsewhere (tests, embedding)."""
        self._swap(predictor)

    async def refresh(self) -> bool:
        """Follow the alias: load and swap in its version if it moved; True if swapped."""
        async with self._lock:
            self._last_checked_at = _now()
            try:
                version = await asyncio.to_thread(self._resolver)
            except Exception as exc:
                self._record_failure(f"could not resolve the model alias: {exc}")
                return False
            if version is None:
                if self.optional:
                    self._drop()
                    return False
                if self.current is None:
                    self._last_error = f"no version of {self.model_name!r} holds the alias yet"
                return False
            if self.current is not None and str(self.current.version) == str(version):
                return False
            uri = f"models:/{self.model_name}/{version}"
            try:
                predictor = await asyncio.to_thread(self._loader, uri)
            except Exception as exc:
                self._record_failure(f"could not load {uri}: {exc}")
                return False
            self._swap(predictor)
            return True

    async def poll(self, interval_seconds: float) -> None:
        """Refresh forever, every ``interval_seconds`` (run as a background task).

        While no model is served, it retries sooner (from 0.5 s, doubling up to the
        interval), so a load that failed at start (a busy registry) is not a long outage.
        """
        retry = RETRY_START_SECONDS
        while True:
            if self.current is None and not self.optional:
                await asyncio.sleep(min(retry, interval_seconds))
                retry *= 2
            else:
                await asyncio.sleep(interval_seconds)
            try:
                await self.refresh()
            except Exception:  # keep polling whatever happens
                logger.exception("model_refresh_failed")

    def status(self) -> ModelStatus:
        """A snapshot of what is served and the last problem seen."""
        current = self.current
        return ModelStatus(
            ready=current is not None,
            version=None if current is None else str(current.version),
            loaded_at=self._loaded_at,
            last_error=self._last_error,
            last_checked_at=self._last_checked_at,
        )

    def _swap(self, predictor: Predictor) -> None:
        previous = self.current
        self.current = predictor
        self._loaded_at = _now()
        self._last_error = None
        logger.info(
            "model_swapped", model_version=str(predictor.version), previous=_version(previous)
        )
        if self._on_swap is not None:
            self._on_swap(previous, predictor)

    def _drop(self) -> None:
        if self.current is None:
            return
        logger.info("model_dropped", model_version=str(self.current.version))
        self.current = None
        self._loaded_at = None

    def _record_failure(self, message: str) -> None:
        self._last_error = message
        logger.warning("model_unavailable", error=message)


def _version(predictor: Any) -> str | None:
    return None if predictor is None else str(predictor.version)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")

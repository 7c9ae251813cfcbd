"""Registered versions other than the served one, loaded on demand for ``/v2/.../versions/{v}``.

The served version is the holder's; any other registered version is loaded once (in a
thread, like a swap) and kept in a small most-recently-used cache, as workers keep the
versions their jobs are pinned to.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import Callable

from gateway.errors import ProblemError
from gateway.model_holder import ModelHolder
from ml.predict import Predictor

MAX_CACHED_VERSIONS = 2
_VERSION = re.compile(r"[1-9][0-9]{0,8}")

Loader = Callable[[str], Predictor]


class ModelVersions:
    """The Predictor of a named registered version: the served one, or one loaded for it."""

    def __init__(self, holder: ModelHolder, loader: Loader) -> None:
        self._holder = holder
        self._loader = loader
        self._cache: OrderedDict[str, Predictor] = OrderedDict()
        self._lock = asyncio.Lock()

    async def get(self, version: str) -> Predictor:
        """The version's Predictor; 404 problem when no such version is registered."""
        current = self._holder.current
        if current is not None and str(current.version) == version:
            return current
        if not _VERSION.fullmatch(version):
            raise _no_such(self._holder.model_name, version)
        async with self._lock:
            predictor = self._cache.get(version)
            if predictor is None:
                predictor = await self._load(version)
                self._cache[version] = predictor
                while len(self._cache) > MAX_CACHED_VERSIONS:
                    self._cache.popitem(last=False)
            self._cache.move_to_end(version)
            return predictor

    async def _load(self, version: str) -> Predictor:
        name = self._holder.model_name
        try:
            return await asyncio.to_thread(self._loader, f"models:/{name}/{version}")
        except Exception as exc:
            if getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST":  # MlflowException
                raise _no_such(name, version) from exc
            raise ProblemError(
                503,
                f"Version {version} of {name!r} could not be loaded; try again later.",
                kind="model-unavailable",
                title="Model unavailable",
                headers={"Retry-After": "5"},
            ) from exc


def _no_such(name: str, version: str) -> ProblemError:
    return ProblemError(
        404, f"No version {version[:20]!r} of model {name!r} is registered.", kind="not-found"
    )

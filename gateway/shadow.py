"""Shadow scoring: the version that did not answer prices the same houses, after the response.

Called from the prediction log's flush (``gateway.prediction_log``), never from a request:
the response has left by then. Houses from ``/v1/predict`` and ``/v1/predict/batch`` are
priced in slices of ``SLICE_ROWS``, each one vectorised pass (``Predictor.prices``: no
interval, warnings or response objects, a few microseconds a house), yielding to the event
loop between slices so requests are not held up; ``/v2`` rows, which arrive as frames of
text or numbers, are priced as one frame in a worker thread. A failure costs only the
shadow prices (logged), never the predictions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd
import structlog

from gateway.monitoring_store import StoredPrediction
from ml.contract import FEATURE_COLUMNS, HouseFeatures
from ml.predict import Predictor
from observability.metrics import record_shadow

logger = structlog.get_logger("gateway.shadow")
SLICE_ROWS = 32  # houses priced between two yields to the event loop (~1 ms)

# A prediction waiting for Redis: its id, the record, the version to score it in shadow
# (None: no trial) and the validated house (None for /v2 rows, kept as a dict).
Pending = tuple[str, StoredPrediction, Predictor | None, HouseFeatures | None]


async def score_shadows(pending: list[Pending]) -> list[tuple[str, StoredPrediction]]:
    """The pending predictions, each with its shadow version's price when it has one."""
    batch = [(prediction_id, stored) for prediction_id, stored, _, _ in pending]
    groups: dict[int, tuple[Predictor, list[int]]] = {}
    for index, (_, _, shadow, _) in enumerate(pending):
        if shadow is not None:
            groups.setdefault(id(shadow), (shadow, []))[1].append(index)
    for shadow, indexes in groups.values():
        version = str(shadow.version)
        try:
            prices = await _prices(shadow, [pending[i] for i in indexes])
        except Exception as exc:  # the challenger must never cost the champion's records
            logger.warning("shadow_scoring_failed", version=version, error=repr(exc))
            continue
        for i, price in zip(indexes, prices, strict=True):
            if math.isfinite(price):
                prediction_id, stored = batch[i]
                priced = dataclasses.replace(stored, shadow_version=version, shadow_price=price)
                batch[i] = (prediction_id, priced)
        record_shadow(model_version=version, count=len(indexes))
    return batch


async def _prices(shadow: Predictor, entries: list[Pending]) -> list[float]:
    prices = [math.nan] * len(entries)
    for start in range(0, len(entries), SLICE_ROWS):
        ready = [
            (k, house)
            for k in range(start, min(start + SLICE_ROWS, len(entries)))
            if (house := entries[k][3]) is not None
        ]
        if ready:  # one vectorised pass per slice: a few microseconds a house
            values = shadow.prices([house for _, house in ready])
            for (k, _), value in zip(ready, values, strict=True):
                prices[k] = float(value)
        await asyncio.sleep(0)
    rows = [k for k, entry in enumerate(entries) if entry[3] is None]
    if rows:
        houses = [entries[k][1].features for k in rows]
        values = await asyncio.to_thread(frame_prices, shadow, houses)
        for k, value in zip(rows, values, strict=True):
            prices[k] = float(value)
    return prices


def frame_prices(predictor: Predictor, houses: list[dict[str, Any]]) -> np.ndarray:
    """The version's prices for already validated rows (NaN where it rejects one)."""
    frame = pd.DataFrame(houses, columns=list(FEATURE_COLUMNS))
    prices: np.ndarray = predictor.predict_frame(frame)["predicted_price"].to_numpy(
        dtype=np.float64
    )
    return prices

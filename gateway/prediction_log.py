"""Every prediction gets an id; recent ones are kept in Redis for feedback and drift.

``remember`` runs on the request path: it sets ``prediction_id`` and appends to an
in-memory buffer, nothing more. A short-lived task writes the buffer to Redis a moment
later in one pipeline, so the hot path never waits for Redis and a Redis outage only
costs the feedback for those predictions (logged, counted, never raised).

Shadow scoring happens there too: a prediction remembered with a ``shadow`` version (the
challenger, or the champion under A/B) is priced by it in that flush (``gateway.shadow``),
long after the response left, and both prices are kept under the one prediction id
(``gateway.experiment``).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request

from gateway.audit_log import audit_request
from gateway.deps import request_owner
from gateway.experiment import CHAMPION, Assignment
from gateway.live_quality import card_gates, snapshot
from gateway.loop_hooks import after_drift
from gateway.monitoring_store import MonitoringStore, StoredPrediction
from gateway.shadow import Pending, score_shadows
from ml.card import ModelCard
from ml.contract import HouseFeatures, Prediction
from ml.monitoring_report import VersionGates
from ml.predict import Predictor
from observability.sink import MetricsSink

logger = structlog.get_logger("gateway.prediction_log")
FLUSH_DELAY_SECONDS = 0.2
MAX_BUFFER = 50_000
REFRESH_SECONDS = 60.0  # live metrics are recomputed at most this often while traffic flows


def new_prediction_id() -> str:
    """An unguessable prediction id."""
    return "p_" + secrets.token_urlsafe(12)


class PredictionLog:
    """Buffers predictions made on this process and flushes them to the monitoring store."""

    def __init__(self, store: MonitoringStore | None, *, sink: MetricsSink | None = None) -> None:
        self.store = store
        self._pending: list[Pending] = []
        self._gates: dict[str, VersionGates] = {}
        self._flush_task: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()
        self.dropped = 0
        self.refresh: Callable[[], Awaitable[Any]] | None = None
        self.sink = sink
        self._refreshed_at = 0.0

    def remember(
        self,
        owner: str,
        features: list[HouseFeatures],
        predictions: list[Prediction],
        *,
        card: ModelCard | None = None,
        arm: str = CHAMPION,
        shadow: Predictor | None = None,
    ) -> None:
        """Give each prediction an id and queue it for Redis (when Redis is configured)."""
        if not predictions:
            return
        if self.store is None:  # nothing to queue: ids only, no per-row dumps
            for prediction in predictions:
                prediction.prediction_id = new_prediction_id()
            return
        rows = [
            (house.model_dump(), p.predicted_price, p.interval.low, p.interval.high)
            for house, p in zip(features, predictions, strict=True)
        ]
        ids = self.remember_rows(
            owner,
            predictions[0].model_version,
            rows,
            card=card,
            arm=arm,
            shadow=shadow,
            houses=features if shadow is not None else None,
        )
        for prediction, prediction_id in zip(predictions, ids, strict=True):
            prediction.prediction_id = prediction_id

    def remember_rows(
        self,
        owner: str,
        version: str,
        rows: list[tuple[dict[str, Any], float, float, float]],
        *,
        card: ModelCard | None = None,
        arm: str = CHAMPION,
        shadow: Predictor | None = None,
        houses: list[HouseFeatures] | None = None,
    ) -> list[str]:
        """New ids for (house, price, low, high) rows, queued for Redis; returns the ids.

        With ``shadow``, that version prices the same houses at the next flush (from
        ``houses``, the validated features, when given; else from the row dicts).
        """
        ids = [new_prediction_id() for _ in rows]
        if self.store is None or not rows:
            return ids
        for index, (prediction_id, (house, price, low, high)) in enumerate(
            zip(ids, rows, strict=True)
        ):
            if len(self._pending) >= MAX_BUFFER:
                self.dropped += 1
                continue
            stored = StoredPrediction(owner, version, price, low, high, house, arm=arm)
            features = None if houses is None else houses[index]
            self._pending.append((prediction_id, stored, shadow, features))
        gates = card_gates(card)
        if gates is not None and version not in self._gates:
            self._gates[version] = gates
        self._schedule()
        return ids

    async def flush(self) -> int:
        """Write what is buffered now; returns how many predictions were written.

        One flush at a time: a caller (feedback, monitoring) that flushes while another
        flush scores its shadows waits for it, so every prediction made before the call
        is in Redis when it returns.
        """
        async with self._flushing:
            if self.store is None or not self._pending:
                return 0
            pending, self._pending = self._pending, []
            gates, self._gates = self._gates, {}
            batch = await score_shadows(pending)
            try:
                await self.store.save_predictions(batch, gates)
            except Exception as exc:  # Redis down: the predictions were served; feedback lost
                logger.warning("prediction_log_flush_failed", error=repr(exc), dropped=len(batch))
                self._gates.update(gates)
                return 0
            return len(batch)

    def _schedule(self) -> None:
        if self._flush_task is not None and not self._flush_task.done():
            return
        self._flush_task = asyncio.get_running_loop().create_task(self._delayed_flush())

    async def _delayed_flush(self) -> None:
        await asyncio.sleep(FLUSH_DELAY_SECONDS)
        await self.flush()
        while self._pending:  # what arrived during the flush (no task was scheduled for it)
            await asyncio.sleep(FLUSH_DELAY_SECONDS)
            await self.flush()
        if self.refresh is None or time.monotonic() - self._refreshed_at < REFRESH_SECONDS:
            return
        self._refreshed_at = time.monotonic()
        try:  # keeps the gauges and CloudWatch fed between GET /v1/monitoring calls
            await self.refresh()
        except Exception as exc:
            logger.warning("live_metrics_refresh_failed", error=repr(exc))


def open_prediction_log(app: FastAPI, sink: MetricsSink | None) -> PredictionLog:
    """The app's prediction log over its Redis client; the lifespan opens it once Redis is."""
    store = monitoring_store(app)
    log = PredictionLog(store, sink=sink)
    if store is not None:
        log.refresh = _refresher(app, store, log)
    return log


def prediction_log(app: FastAPI) -> PredictionLog:
    """The app's prediction log (opened by the app's lifespan)."""
    log: PredictionLog = app.state.prediction_log
    return log


def _refresher(
    app: FastAPI, store: MonitoringStore, log: PredictionLog
) -> Callable[[], Awaitable[Any]]:
    async def refresh() -> Any:
        predictor = app.state.predictor_holder.current
        version = None if predictor is None else str(predictor.version)
        shared = await snapshot(
            store,
            version=version,
            card=None if predictor is None else predictor.card,
            threshold=app.state.settings.core.drift_psi_threshold,
            sink=log.sink,
            # Only the gauges and CloudWatch matter here: nobody reads this report.
            scope="shared",
            own=[],
            held=0,
        )
        drift = None if shared.drift is None else shared.drift.model_dump()
        after_drift(app, version=version, report=drift)
        return shared

    return refresh


def monitoring_store(app: FastAPI) -> MonitoringStore | None:
    """A monitoring store on the app's Redis client, or None without Redis."""
    client = getattr(app.state, "redis", None)
    if client is None:
        return None
    core = app.state.settings.core
    return MonitoringStore(
        client,
        ttl_seconds=core.prediction_ttl_seconds,
        max_predictions=core.prediction_log_max,
        feedback_window=core.feedback_window,
        drift_window=core.drift_window,
    )


def remember_predictions(
    request: Request,
    features: list[HouseFeatures],
    predictions: list[Prediction],
    *,
    assignment: Assignment,
    kind: str = "predict",
) -> None:
    """Id, keep and audit the predictions of one request (the /v1 predict routes' hook)."""
    owner = request_owner(request)
    prediction_log(request.app).remember(
        owner,
        features,
        predictions,
        card=assignment.answer.card,
        arm=assignment.arm,
        shadow=assignment.shadow,
    )
    audit_request(request, kind, features, predictions)

"""Where the gateway feeds the loop: labelled rows from feedback, and retrain triggers.

Accepted trusted feedback becomes training rows (``jobs.feedback_rows``) with the
features the prediction was made from. The live verdicts the gateway computes anyway
(accuracy on each feedback post, drift on each refresh) go to ``jobs.triggers``, which
debounces them into at most one retrain per episode on the training queue; each feedback
post also asks the training worker for a promotion/rollback check (coalesced: one
message waits at a time). The trigger calls are sync Redis and Celery, so they run in a
thread after the answer is computed, and a failure is logged, never raised to the client.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis
from fastapi import FastAPI

from core.settings import AppSettings
from gateway.monitoring_store import FeedbackPoint
from jobs.feedback_rows import encode_row, new_row
from jobs.keys import CHECK_PENDING_KEY, FEEDBACK_ROWS_KEY, TRIGGERS_KEY
from jobs.triggers import (
    LOOP_CHECK_TASK,
    TriggerEvent,
    observe_accuracy,
    observe_drift,
)
from observability.logging import get_logger

log = get_logger("gateway.loop_hooks")
CHECK_PENDING_SECONDS = 300


async def keep_training_rows(
    client: Any,
    points: list[FeedbackPoint],
    features: dict[str, dict[str, Any]],
    problems: dict[str, str] | None = None,
) -> int:
    """Store the accepted trusted points as labelled rows; returns how many were stored.

    ``problems`` names, per key without features, why its house could not be read.
    """
    problems = problems or {}
    if not points:
        return 0
    mapping = {
        p.key: encode_row(
            new_row(
                p.key,
                actual=p.actual,
                predicted=p.price,
                version=p.version,
                features=features.get(p.key),
                problem=problems.get(p.key),
            )
        )
        for p in points
    }
    await client.hset(FEEDBACK_ROWS_KEY, mapping=mapping)
    return len(mapping)


async def trigger_history(client: Any, *, limit: int = 50) -> list[TriggerEvent]:
    """The newest retrain triggers, starts and outcomes (for GET /v1/monitoring)."""
    raw = await client.lrange(TRIGGERS_KEY, 0, limit - 1)
    return [TriggerEvent.model_validate_json(e) for e in raw]


def after_feedback(app: FastAPI, *, version: str | None, verdict: dict[str, Any] | None) -> None:
    """Judge the serving version's live verdict and ask for a check, in the background."""
    settings: AppSettings = app.state.settings
    if not settings.core.loop_enabled or not settings.core.redis_url:
        return

    def work() -> None:
        with _client(settings) as client:
            send = _sender(app)
            if version is not None and verdict is not None:
                observe_accuracy(
                    client,
                    send,
                    verdict=verdict,
                    model_version=version,
                    episode_seconds=settings.core.retrain_episode_seconds,
                )
            if client.set(CHECK_PENDING_KEY, "1", nx=True, ex=CHECK_PENDING_SECONDS):
                send(LOOP_CHECK_TASK, [])

    _background(app, work)


def after_drift(app: FastAPI, *, version: str | None, report: dict[str, Any] | None) -> None:
    """Count a drift window for the serving version, in the background."""
    settings: AppSettings = app.state.settings
    if not settings.core.loop_enabled or not settings.core.redis_url or not version or not report:
        return
    core = settings.core

    def work() -> None:
        with _client(settings) as client:
            observe_drift(
                client,
                _sender(app),
                max_psi=report.get("max_psi"),
                threshold=core.drift_psi_threshold,
                model_version=version,
                windows=core.retrain_drift_windows,
                window_seconds=core.retrain_window_seconds,
                episode_seconds=core.retrain_episode_seconds,
            )

    _background(app, work)


def _sender(app: FastAPI) -> Any:
    jobs = getattr(app.state, "jobs", None)
    if jobs is None:
        raise RuntimeError("no Celery client (the job routes are disabled)")

    def send(name: str, args: list[Any]) -> None:
        jobs.celery.send_task(name, args=args)

    return send


def _client(settings: AppSettings) -> redis.Redis:
    return redis.Redis.from_url(
        str(settings.core.redis_url), socket_connect_timeout=2, socket_timeout=5
    )


def _background(app: FastAPI, work: Any) -> None:
    tasks: set[asyncio.Task[None]] | None = getattr(app.state, "loop_tasks", None)
    if tasks is None:  # kept referenced until done (the loop holds tasks weakly)
        tasks = app.state.loop_tasks = set()

    async def run() -> None:
        try:
            await asyncio.to_thread(work)
        except Exception as exc:  # the loop must never break feedback or monitoring
            log.warning("loop_hook_failed", error=repr(exc))

    task = asyncio.get_running_loop().create_task(run())
    tasks.add(task)
    task.add_done_callback(tasks.discard)

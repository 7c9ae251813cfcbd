"""Celery tasks of the training queue: retrain, and the promotion/rollback check.

They run on a worker of their own (``hpp trainer``: ``-Q training``, one process), so a
retrain never takes a scoring worker's place and the gateway only sends a message. Both
are acknowledged on receipt (at most once): a retrain outlives the broker's visibility
timeout, and redelivering it would train twice; a lost request is made again by the next
episode or schedule, and the check runs again with the next feedback.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from celery import shared_task

from jobs.keys import CHECK_LOCK_KEY
from jobs.triggers import CHECK_PENDING_KEY, LOOP_CHECK_TASK, RETRAIN_TASK, TriggerEvent, record
from observability.logging import get_logger
from observability.metrics import record_retrain_requested
from workers import lifecycle
from workers.tasks import ContextTask

log = get_logger("workers.training_tasks")
TRAINING_SOFT_LIMIT_SECONDS = 3 * 3600


@shared_task(
    bind=True,
    base=ContextTask,
    name=RETRAIN_TASK,
    acks_late=False,
    soft_time_limit=TRAINING_SOFT_LIMIT_SECONDS,
    time_limit=TRAINING_SOFT_LIMIT_SECONDS + 60,
)
def retrain(self: ContextTask, kind: str, reason: str) -> dict[str, Any]:
    """Train on the data including feedback; the version becomes challenger if it passes."""
    settings = self.app.hpp_settings
    client = redis.Redis.from_url(settings.core.redis_url, socket_timeout=10)
    record_retrain_requested(kind, sink=self.ctx.sink)
    record(client, TriggerEvent(at=time.time(), kind=kind, action="started", reason=reason))
    try:
        outcome = lifecycle.retrain(settings, kind=kind, reason=reason, sink=self.ctx.sink)
    except Exception as exc:
        record(
            client,
            TriggerEvent(at=time.time(), kind=kind, action="failed", reason=f"{reason}: {exc!r}"),
        )
        log.exception("retrain_failed", kind=kind)
        raise
    finally:
        client.close()
    _record_finished(settings.core.redis_url, kind, reason, outcome)
    return outcome.model_dump()


@shared_task(bind=True, base=ContextTask, name=LOOP_CHECK_TASK, acks_late=False)
def loop_check(self: ContextTask) -> str | None:
    """Promote a proven challenger or roll back a failing champion (one check at a time)."""
    settings = self.app.hpp_settings
    client = redis.Redis.from_url(settings.core.redis_url, socket_timeout=10)
    try:
        client.delete(CHECK_PENDING_KEY)  # feedback from now on asks for another check
        if not client.set(CHECK_LOCK_KEY, "1", nx=True, ex=600):
            return None
        try:
            event = lifecycle.check(settings, models=self.ctx.models, sink=self.ctx.sink)
        finally:
            client.delete(CHECK_LOCK_KEY)
    finally:
        client.close()
    return None if event is None else event.model_dump_json()


def _record_finished(url: str, kind: str, reason: str, outcome: lifecycle.RetrainOutcome) -> None:
    with redis.Redis.from_url(url, socket_timeout=10) as client:
        record(
            client,
            TriggerEvent(
                at=time.time(),
                kind=kind,
                action="finished",
                reason=reason,
                model_version=outcome.version,
                outcome={
                    "version": outcome.version,
                    "challenger": outcome.challenger,
                    "rows_by_source": outcome.data_version.get("rows_by_source"),
                },
            ),
        )

"""``hpp notifier``'s Celery tasks: a job's webhook and its SNS message, retried with backoff.

They run on the ``notices`` queue, which only ``hpp notifier`` reads (a thread pool: a slow
receiver holds one thread for at most ``HPP_WEBHOOK_TIMEOUT_SECONDS``, never a scoring
worker, and never the gateway, which only queues the task). A failed attempt is retried
after ``HPP_WEBHOOK_BACKOFF_SECONDS`` x 2^(attempt-1) (capped at 5 min, with jitter) while
the next try still falls within ``HPP_WEBHOOK_RETRY_SECONDS`` of the job's end; every
attempt is one log line (``job_notice_attempt``) and one count in
``job_notice_attempts_total{channel,outcome}``. A notice delivered or given up is settled
in the outbox (``jobs.outbox``); until then ``workers.notice_drain`` queues it again if its
task is lost.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any
from urllib.parse import urlsplit

import structlog
from celery import Task, shared_task

from core.settings import AppSettings
from jobs.notices import NoticeOrder
from jobs.outbox import SNS, WEBHOOK
from jobs.queue import SNS_TASK, WEBHOOK_TASK
from observability import metrics
from observability.logging import get_logger
from workers.notice_drain import outbox_of
from workers.notices import deliver_webhook, publish_notice

log = get_logger("workers.notices")
MAX_BACKOFF_SECONDS = 300.0


def backoff_seconds(attempt: int, first: float) -> float:
    """The wait after failed attempt ``attempt`` (1-based): doubling, capped, +-10 % jitter."""
    base = min(MAX_BACKOFF_SECONDS, first * 2 ** (attempt - 1))
    return float(base * random.uniform(0.9, 1.1))


@shared_task(bind=True, name=WEBHOOK_TASK)
def notify_webhook(self: Task, order_json: str) -> str:
    """One attempt to POST a job's notice to its webhook; retried later if it may succeed."""
    settings: AppSettings = self.app.hpp_settings
    order = NoticeOrder.model_validate_json(order_json)
    attempt = self.request.retries + 1
    result = asyncio.run(deliver_webhook(order, settings.core))
    outcome: str = result.outcome
    delay = _next_delay(order, attempt, settings) if outcome == "retry" else None
    if outcome == "retry":
        outcome = "gave_up" if delay is None else "retrying"
    _record(
        "webhook",
        order,
        attempt,
        outcome,
        status_code=result.status_code,
        error=result.error,
        address=result.address,
        host=_host(order.webhook_url),
    )
    if delay is not None:
        raise self.retry(countdown=delay, max_retries=None)
    _settle(self, WEBHOOK, order)
    return outcome


@shared_task(bind=True, name=SNS_TASK)
def notify_sns(self: Task, order_json: str) -> str:
    """Publish a job's notice to the environment's SNS topic; retried like a webhook."""
    settings: AppSettings = self.app.hpp_settings
    order = NoticeOrder.model_validate_json(order_json)
    attempt = self.request.retries + 1
    topic = settings.core.notices_topic_arn
    if topic is None:
        _record("sns", order, attempt, "refused", error="HPP_NOTICES_TOPIC_ARN is not set")
        _settle(self, SNS, order)
        return "refused"
    try:
        message_id = asyncio.run(
            publish_notice(
                order, topic_arn=topic, endpoint_url=settings.observability.aws_endpoint_url
            )
        )
    except Exception as exc:
        delay = _next_delay(order, attempt, settings)
        outcome = "gave_up" if delay is None else "retrying"
        _record("sns", order, attempt, outcome, error=f"{type(exc).__name__}: {exc}")
        if delay is not None:
            raise self.retry(countdown=delay, max_retries=None) from exc
        _settle(self, SNS, order)
        return outcome
    _record("sns", order, attempt, "delivered", message_id=message_id)
    _settle(self, SNS, order)
    return "delivered"


def _settle(task: Task, channel: str, order: NoticeOrder) -> None:
    """The notice is owed no more (if Redis is away it stays owed, and may come twice)."""
    job_id = order.notice.job_id
    try:
        outbox_of(task.app).settle(channel, job_id)
    except Exception as exc:
        log.warning("job_notice_not_settled", job_id=job_id, channel=channel, error=repr(exc))


def _next_delay(order: NoticeOrder, attempt: int, settings: AppSettings) -> float | None:
    """Seconds until the next attempt, or None when it would fall past the retry bound."""
    core = settings.core
    delay = backoff_seconds(attempt, core.webhook_backoff_seconds)
    if time.time() - order.queued_at + delay > core.webhook_retry_seconds:
        return None
    return delay


def _record(channel: str, order: NoticeOrder, attempt: int, outcome: str, **fields: Any) -> None:
    metrics.record_notice_attempt(channel=channel, outcome=outcome)
    notice = order.notice
    level = "info" if outcome in ("delivered", "retrying") else "warning"
    with structlog.contextvars.bound_contextvars(job_id=notice.job_id):
        getattr(log, level)(
            "job_notice_attempt",
            channel=channel,
            attempt=attempt,
            outcome=outcome,
            delivery_id=notice.delivery_id,
            status=notice.status,
            **{k: v for k, v in fields.items() if v is not None},
        )


def _host(url: str | None) -> str | None:
    return urlsplit(url).hostname if url else None

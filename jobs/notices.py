"""Completion notices: the event a job sends when it reaches a final state, and its signature.

The event (``JobNotice``) is the same on every channel: the body POSTed to a job's webhook
and the message published to the environment's SNS topic. A webhook request carries

    X-HPP-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>
    X-HPP-Event: job.finished
    X-HPP-Delivery: <the event's id, ``{job_id}:{status}``: the same on every copy sent>

signed with the secret configured for the job's API key (``HPP_WEBHOOK_SECRETS``). A
receiver recomputes the HMAC over the raw body with its secret, compares in constant time
and refuses a timestamp older than a few minutes (a replay): ``verify_signature`` here
does exactly that and is what the README's example calls.

A ``NoticeOrder`` is what the notifier's task gets: the event plus where it goes. It is
built from the job as it turned final (kept with the notices it owes, ``jobs.outbox``), so a
job deleted right after (``DELETE``) is still told. A notice is sent at least once: a copy
queued again after a crash carries the same delivery id, which a receiver deduplicates on.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Final, Literal

from pydantic import BaseModel, Field

from core.settings import CoreSettings
from jobs.models import JobRecord
from jobs.queue import SNS_TASK, WEBHOOK_TASK

EVENT: Final = "job.finished"
SIGNATURE_HEADER: Final = "X-HPP-Signature"
EVENT_HEADER: Final = "X-HPP-Event"
DELIVERY_HEADER: Final = "X-HPP-Delivery"
DEFAULT_TOLERANCE_SECONDS: Final = 300


class JobNotice(BaseModel):
    """A job's final state, as webhooks and SNS receive it."""

    event: Literal["job.finished"] = EVENT
    delivery_id: str = Field(description="the event's id, the same on every copy sent")
    job_id: str
    status: Literal["succeeded", "failed", "cancelled"]
    rows_total: int
    rows_done: int
    rows_failed: int
    model_version: str
    error: str | None = None
    created_at: float
    finished_at: float | None = None
    result_url: str | None = Field(None, description="GET it with the job's API key")
    job_url: str


class NoticeOrder(BaseModel):
    """A notice and where it goes: the webhook (if the job named one) and its signing key."""

    notice: JobNotice
    key_name: str
    webhook_url: str | None = None
    queued_at: float = Field(default_factory=time.time, description="retries stop past a bound")


def notice_of(record: JobRecord, *, public_url: str | None) -> JobNotice:
    """The notice of a job in a final state (its result link only when it succeeded)."""
    base = (public_url or "").rstrip("/")
    job_url = f"{base}/v1/jobs/{record.id}"
    status = record.status
    if status not in ("succeeded", "failed", "cancelled"):
        raise ValueError(f"job {record.id} is {status}, not final")
    return JobNotice(
        delivery_id=delivery_id_of(record.id, status),
        job_id=record.id,
        status=status,
        rows_total=record.rows_total,
        rows_done=record.rows_done,
        rows_failed=record.rows_failed,
        model_version=record.model_version,
        error=record.error or None,
        created_at=record.created_at,
        finished_at=record.finished_at,
        result_url=f"{job_url}/result" if status == "succeeded" else None,
        job_url=job_url,
    )


def delivery_id_of(job_id: str, status: str) -> str:
    """A notice's delivery id: one per job and final state, whoever builds it, however often."""
    return f"{job_id}:{status}"


def order_of(
    record: JobRecord, *, public_url: str | None, queued_at: float | None = None
) -> NoticeOrder:
    """The order for a final job: its notice, its key's name, its webhook (retries are
    bounded from ``queued_at``, now by default)."""
    order = NoticeOrder(
        notice=notice_of(record, public_url=public_url),
        key_name=record.owner.split("/", 1)[0],
        webhook_url=record.webhook_url,
    )
    return order if queued_at is None else order.model_copy(update={"queued_at": queued_at})


def notice_tasks(record: JobRecord, core: CoreSettings) -> list[tuple[str, str]]:
    """The notice tasks a job's final state calls for: SNS (if configured), its webhook."""
    if not (record.webhook_url or core.notices_topic_arn):
        return []
    order = order_of(record, public_url=core.public_url).model_dump_json()
    tasks = [(SNS_TASK, order)] if core.notices_topic_arn else []
    return tasks + ([(WEBHOOK_TASK, order)] if record.webhook_url else [])


def sign(secret: bytes, body: bytes, *, timestamp: int | None = None) -> str:
    """The ``X-HPP-Signature`` value for ``body`` sent at ``timestamp`` (now by default)."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify_signature(
    secret: bytes,
    body: bytes,
    header: str,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance_seconds`` of now."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        t = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance_seconds:
        return False
    expected = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields.get("v1", ""))

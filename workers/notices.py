"""Sending completion notices: one webhook attempt, one SNS publish (plain async functions).

``hpp notifier``'s tasks (``workers.notice_tasks``) call these and decide about retries; tests
call them directly. A webhook attempt checks the URL again (allow list, https, every
resolved address public) and then connects to the address it checked, with the URL's host
name kept for TLS (SNI and certificate check) and the ``Host`` header: a DNS answer that
changes after the check (rebinding) cannot send the request anywhere else. Redirects are
not followed, no proxy from the environment is used, and the body is signed with the
job's key's secret (``jobs.notices.sign``); a key without a secret gets no webhooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import httpx

from core.aws import LazyClient
from core.settings import CoreSettings
from jobs.notices import DELIVERY_HEADER, EVENT, EVENT_HEADER, SIGNATURE_HEADER, NoticeOrder, sign
from jobs.webhook_targets import (
    HostNotResolvedError,
    Resolver,
    Target,
    WebhookPolicy,
    WebhookUrlError,
    check_webhook_url,
)

Outcome = Literal["delivered", "retry", "refused", "rejected"]
USER_AGENT = "hpp-notifier/1"
# Answers worth another try; any other 4xx says the receiver will not take this notice.
RETRY_STATUSES = frozenset({408, 409, 425, 429})


@dataclass(frozen=True)
class Attempt:
    """How one delivery attempt ended."""

    outcome: Outcome
    status_code: int | None = None
    error: str | None = None
    address: str | None = None


async def deliver_webhook(
    order: NoticeOrder,
    core: CoreSettings,
    *,
    resolve: Resolver | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Attempt:
    """POST the signed notice to the job's webhook once; what happened."""
    if order.webhook_url is None:
        return Attempt("refused", error="the job names no webhook")
    secret = core.webhook_secrets.get(order.key_name)
    if secret is None:
        return Attempt("refused", error=f"no webhook secret is configured for {order.key_name!r}")
    try:
        target = await check_webhook_url(
            order.webhook_url, WebhookPolicy.from_settings(core), resolve=resolve
        )
    except HostNotResolvedError as exc:
        return Attempt("retry", error=str(exc))
    except WebhookUrlError as exc:
        return Attempt("refused", error=str(exc))
    body = order.notice.model_dump_json().encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign(secret.get_secret_value().encode(), body),
        EVENT_HEADER: EVENT,
        DELIVERY_HEADER: order.notice.delivery_id,
        "Host": _host_header(target),
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    timeout = httpx.Timeout(core.webhook_timeout_seconds)
    async with httpx.AsyncClient(
        timeout=timeout, follow_redirects=False, trust_env=False, transport=transport
    ) as client:
        try:
            response = await client.post(
                pinned_url(target), content=body, headers=headers, extensions=extensions
            )
        except httpx.HTTPError as exc:
            return Attempt("retry", error=f"{type(exc).__name__}: {exc}", address=target.address)
    return _judge(response.status_code, target.address)


async def publish_notice(order: NoticeOrder, *, topic_arn: str, endpoint_url: str | None) -> str:
    """Publish the notice to the SNS topic; the message id."""
    sns = LazyClient("sns", endpoint_url=endpoint_url)
    notice = order.notice
    try:
        client = await sns.get()
        answer = await client.publish(
            TopicArn=topic_arn,
            Message=notice.model_dump_json(),
            Subject=f"hpp job {notice.status}",
            MessageAttributes={
                "event": {"DataType": "String", "StringValue": notice.event},
                "status": {"DataType": "String", "StringValue": notice.status},
            },
        )
    finally:
        await sns.aclose()
    return str(answer["MessageId"])


def pinned_url(target: Target) -> str:
    """The target's URL with its host replaced by the checked address."""
    parts = urlsplit(target.url)
    address = f"[{target.address}]" if ":" in target.address else target.address
    return urlunsplit(parts._replace(netloc=f"{address}:{target.port}"))


def _host_header(target: Target) -> str:
    default = 443 if target.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == default else f"{host}:{target.port}"


def _judge(status: int, address: str) -> Attempt:
    if 200 <= status < 300:
        return Attempt("delivered", status_code=status, address=address)
    if status >= 500 or status in RETRY_STATUSES:
        return Attempt("retry", status_code=status, error=f"HTTP {status}", address=address)
    return Attempt("rejected", status_code=status, error=f"HTTP {status}", address=address)

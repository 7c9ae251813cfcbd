"""Completion notices, one attempt at a time: signed, pinned to the checked address, refused
for private or unlisted targets (``workers.notices``, called directly, a real receiver)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr

from core.settings import CoreSettings
from jobs.models import JobRecord
from jobs.notices import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    JobNotice,
    order_of,
    sign,
    verify_signature,
)
from jobs.webhook_targets import (
    Resolver,
    WebhookPolicy,
    WebhookUrlError,
    address_refusal,
    check_webhook_url,
)
from tests.support.webhook_receiver import webhook_receiver
from workers.notices import deliver_webhook

SECRET = b"alice-webhook-secret"


def a_finished_job(webhook_url: str) -> JobRecord:
    now = time.time()
    return JobRecord(
        id="j" * 32,
        owner="alice",
        status="succeeded",
        created_at=now - 5,
        finished_at=now,
        rows_total=10,
        rows_done=10,
        rows_failed=1,
        model_version="3",
        webhook_url=webhook_url,
    )


def settings(*hosts: str, loopback: bool = False) -> CoreSettings:
    return CoreSettings(
        webhook_allowed_hosts=list(hosts),
        webhook_secrets={"alice": SecretStr(SECRET.decode())},
        unsafe_webhooks_to_loopback_for_tests=loopback,
        public_url="https://api.example.com",
    )


def resolving_to(*addresses: str) -> Resolver:
    """A resolver that answers ``addresses`` for any host (a DNS answer the test chooses)."""

    async def resolve(host: str, port: int) -> Sequence[str]:
        return addresses

    return resolve


async def test_a_notice_is_signed_and_the_receiver_verifies_it() -> None:
    with webhook_receiver(SECRET) as receiver:
        order = order_of(a_finished_job(receiver.url), public_url="https://api.example.com")
        attempt = await deliver_webhook(order, settings("127.0.0.1", loopback=True))
        [delivery] = receiver.wait_for(1)

    assert attempt.outcome == "delivered"
    assert delivery.verified
    sent = JobNotice.model_validate_json(delivery.body)
    assert sent.status == "succeeded"
    assert (sent.rows_done, sent.rows_failed) == (10, 1)
    assert sent.result_url == f"https://api.example.com/v1/jobs/{'j' * 32}/result"
    assert delivery.headers[DELIVERY_HEADER.lower()] == order.notice.delivery_id
    # The same body under another secret, or altered by one byte, does not verify.
    header = delivery.headers[SIGNATURE_HEADER.lower()]
    assert not verify_signature(b"another secret", delivery.body, header)
    assert not verify_signature(SECRET, delivery.body.replace(b"10", b"11", 1), header)


def test_an_old_signature_is_refused_as_a_replay() -> None:
    body = b'{"job_id": "x"}'
    stale = sign(SECRET, body, timestamp=int(time.time()) - 3600)

    assert verify_signature(SECRET, body, sign(SECRET, body))
    assert not verify_signature(SECRET, body, stale)


async def test_the_request_goes_to_the_checked_address_not_a_fresh_lookup() -> None:
    # hooks.test resolves (for this check) to the receiver's loopback address; the system's
    # DNS knows no such host, so a delivery reaches the receiver only through the pinned one.
    with webhook_receiver(SECRET) as receiver:
        port = urlsplit(receiver.url).port
        order = order_of(a_finished_job(f"http://hooks.test:{port}/hook"), public_url=None)
        attempt = await deliver_webhook(
            order, settings("hooks.test", loopback=True), resolve=resolving_to("127.0.0.1")
        )
        [delivery] = receiver.wait_for(1)

    assert attempt.outcome == "delivered"
    assert attempt.address == "127.0.0.1"
    assert delivery.headers["host"] == f"hooks.test:{port}"
    assert delivery.verified


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.0.0.7", "private"),
        ("192.168.1.20", "private"),
        ("169.254.169.254", "link-local"),
        ("::ffff:10.1.2.3", "private"),
        ("100.64.0.1", "not a public address"),
    ],
)
async def test_a_host_resolving_to_an_inner_address_gets_nothing(address: str, reason: str) -> None:
    # An allowed name whose DNS answer turns inward (rebinding): refused at send time,
    # before any connection (one inner address among public ones is enough).
    order = order_of(a_finished_job("https://hooks.example.com/hook"), public_url=None)
    attempt = await deliver_webhook(
        order, settings("hooks.example.com"), resolve=resolving_to("93.184.215.14", address)
    )

    assert attempt.outcome == "refused"
    assert reason in (attempt.error or "")
    assert attempt.address is None  # nothing was connected to


async def test_an_unlisted_host_or_plain_http_gets_nothing() -> None:
    core = settings("hooks.example.com")
    policy = WebhookPolicy.from_settings(core)
    public = resolving_to("93.184.215.14")

    for url, reason in [
        ("https://evil.example.org/hook", "not one this service may notify"),
        ("https://hooks.example.com.evil.org/hook", "not one this service may notify"),
        ("http://hooks.example.com/hook", "https"),
        ("https://user:pw@hooks.example.com/hook", "user name"),
    ]:
        with pytest.raises(WebhookUrlError, match=reason):
            await check_webhook_url(url, policy, resolve=public)
        order = order_of(a_finished_job(url), public_url=None)
        attempt = await deliver_webhook(order, core, resolve=public)
        assert attempt.outcome == "refused", url


async def test_a_wildcard_entry_allows_subdomains_only() -> None:
    policy = WebhookPolicy(allowed_hosts=("*.example.com",))

    target = await check_webhook_url(
        "https://a.hooks.example.com/x", policy, resolve=resolving_to("93.184.215.14")
    )

    assert target.address == "93.184.215.14"
    assert not policy.allows_host("example.com")
    assert not policy.allows_host("badexample.com")


def test_loopback_is_allowed_only_by_the_test_setting() -> None:
    assert address_refusal("127.0.0.1") == "a loopback address"
    assert address_refusal("::1") == "a loopback address"
    assert address_refusal("127.0.0.1", allow_loopback=True) is None
    assert address_refusal("10.0.0.1", allow_loopback=True) == "a private address"
    assert CoreSettings().unsafe_webhooks_to_loopback_for_tests is False


async def test_a_key_without_a_secret_gets_no_unsigned_notice() -> None:
    with webhook_receiver(SECRET) as receiver:
        record = a_finished_job(receiver.url).model_copy(update={"owner": "bob"})
        order = order_of(record, public_url=None)
        attempt = await deliver_webhook(order, settings("127.0.0.1", loopback=True))

        assert attempt.outcome == "refused"
        assert "no webhook secret" in (attempt.error or "")
        assert receiver.deliveries == []

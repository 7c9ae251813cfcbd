"""Rate limits under a delegate key: each end user has a share, the key a total."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from gateway.main import create_app
from gateway.ratelimit import PRUNE_ABOVE, CallerLimits, RateLimiter
from tests.support.asgi import asgi_client, lifespan
from tests.support.gateway_settings import SettingsFactory
from tests.support.keys import ADMIN, USER


def as_user(end_user: str) -> dict[str, str]:
    """Headers of the delegate key (``client``) acting for ``end_user``."""
    return {**USER, "X-On-Behalf-Of": end_user}


def delegate_app(make_settings: SettingsFactory, *, per_key: int, per_end_user: int) -> FastAPI:
    """A gateway whose ``client`` key is a delegate, with these per-minute limits."""
    settings = make_settings(
        delegate_key_names=["client"],
        rate_limit_per_minute=per_key,
        rate_limit_per_end_user_per_minute=per_end_user,
    )
    return create_app(settings)


async def test_one_end_user_cannot_spend_another_end_users_budget(
    make_settings: SettingsFactory, house: dict[str, Any]
) -> None:
    app = delegate_app(make_settings, per_key=30, per_end_user=10)
    async with lifespan(app), asgi_client(app) as http:
        mallory = [
            await http.post("/v1/predict", json=house, headers=as_user("mallory"))
            for _ in range(25)
        ]
        ann = [
            await http.post("/v1/predict", json=house, headers=as_user("ann")) for _ in range(10)
        ]
        other_key = await http.get("/v1/model", headers=ADMIN)

    assert [r.status_code for r in mallory] == [200] * 10 + [429] * 15
    refused = mallory[-1]
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) >= 1
    assert "per end user" in refused.json()["detail"]
    assert [r.status_code for r in ann] == [200] * 10  # her whole share, untouched
    assert other_key.status_code == 200


async def test_the_key_total_bounds_all_its_end_users_together(
    make_settings: SettingsFactory, house: dict[str, Any]
) -> None:
    app = delegate_app(make_settings, per_key=12, per_end_user=5)
    async with lifespan(app), asgi_client(app) as http:
        codes = [
            (await http.post("/v1/predict", json=house, headers=as_user(f"user-{i}"))).status_code
            for i in range(6)
            for _ in range(3)
        ]
        direct = await http.post("/v1/predict", json=house, headers=USER)

    assert codes.count(200) == 12
    assert codes[12:] == [429] * 6
    assert direct.status_code == 429  # the key itself draws on the same total
    assert "exceeded" in direct.json()["detail"]


async def test_a_user_refused_for_their_share_does_not_spend_the_key_total() -> None:
    now = [0.0]
    per_key = RateLimiter(10, clock=lambda: now[0])
    limits = CallerLimits(per_key=per_key, per_end_user=RateLimiter(2, clock=lambda: now[0]))

    outcomes = [await limits.charge("ui", "mallory") for _ in range(50)]

    assert outcomes[:2] == [None, None]
    assert all(o is not None and "end user" in o.detail for o in outcomes[2:])
    others = [await limits.charge("ui", f"user-{i}") for i in range(4) for _ in range(2)]
    assert others == [None] * 8  # 2 + 8: mallory's 48 refusals cost the key nothing
    refusal = await limits.charge("ui", "user-5")
    assert refusal is not None
    assert "exceeded" in refusal.detail


def test_idle_buckets_are_dropped_when_there_are_many() -> None:
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])
    for i in range(PRUNE_ABOVE):
        limiter.acquire(f"user-{i}")
    busy = "user-0"
    for _ in range(59):
        limiter.acquire(busy)
    now[0] = 30.0  # half a minute: the others are full again, the busy one is not

    limiter.acquire("newcomer")

    assert limiter.acquire(busy) == 0  # kept (30 tokens back of 60)
    assert len(limiter._buckets) == 2

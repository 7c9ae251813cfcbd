"""Retrain triggers on a real Redis: one request per episode, drift counted per window."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from jobs.keys import DRIFT_STREAK_KEY, DRIFT_WINDOW_KEY, EPISODE_PREFIX, TRIGGERS_KEY
from jobs.triggers import (
    RETRAIN_TASK,
    history,
    observe_accuracy,
    observe_drift,
)

TRIGGERS_DB = 2
BREACHED = {"status": "breached", "breached": ["mae_max"]}
OK = {"status": "ok", "breached": []}


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    url = redis_url.rsplit("/", 1)[0] + f"/{TRIGGERS_DB}"
    with redis.Redis.from_url(url) as connection:
        clear(connection)
        yield connection
        clear(connection)


def clear(connection: redis.Redis) -> None:
    """Remove the trigger keys (and only those)."""
    keys = [TRIGGERS_KEY, DRIFT_STREAK_KEY, DRIFT_WINDOW_KEY]
    keys += list(connection.scan_iter(match=f"{EPISODE_PREFIX}:*"))
    connection.delete(*keys)


class Outbox:
    """What would have gone to the training queue."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Any]]] = []

    def __call__(self, name: str, args: list[Any]) -> None:
        self.sent.append((name, args))


def accuracy(client: redis.Redis, outbox: Outbox, verdict: dict[str, Any], version: str) -> bool:
    return observe_accuracy(
        client, outbox, verdict=verdict, model_version=version, episode_seconds=3600
    )


def test_one_breach_episode_requests_one_retrain(client: redis.Redis) -> None:
    outbox = Outbox()
    sent = [accuracy(client, outbox, BREACHED, "1") for _ in range(5)]
    assert sent == [True, False, False, False, False]
    assert [name for name, _ in outbox.sent] == [RETRAIN_TASK]
    assert outbox.sent[0][1][0] == "accuracy"
    assert [e.action for e in history(client)] == ["requested"]


def test_a_new_episode_after_the_gates_hold_again_requests_again(client: redis.Redis) -> None:
    outbox = Outbox()
    accuracy(client, outbox, BREACHED, "1")
    accuracy(client, outbox, OK, "1")
    accuracy(client, outbox, BREACHED, "1")
    assert len(outbox.sent) == 2
    assert [e.action for e in history(client)] == ["requested", "episode_ended", "requested"]


def test_another_version_has_episodes_of_its_own(client: redis.Redis) -> None:
    outbox = Outbox()
    accuracy(client, outbox, BREACHED, "1")
    accuracy(client, outbox, BREACHED, "2")
    assert len(outbox.sent) == 2


def drift(client: redis.Redis, outbox: Outbox, psi: float, window: int) -> bool:
    return observe_drift(
        client,
        outbox,
        max_psi=psi,
        threshold=0.2,
        model_version="1",
        windows=3,
        window_seconds=60.0,
        episode_seconds=3600,
        now=window * 60.0 + 1,
    )


def test_drift_needs_consecutive_windows_and_counts_each_window_once(client: redis.Redis) -> None:
    outbox = Outbox()
    assert not drift(client, outbox, 0.5, window=10)
    assert not drift(client, outbox, 0.5, window=10)  # same window: still one
    assert not drift(client, outbox, 0.5, window=11)
    assert drift(client, outbox, 0.5, window=12)  # third window in a row
    assert not drift(client, outbox, 0.5, window=13)  # same episode
    assert [args[0] for _, args in outbox.sent] == ["drift"]


def test_a_gap_or_a_calm_window_restarts_the_count(client: redis.Redis) -> None:
    outbox = Outbox()
    drift(client, outbox, 0.5, window=1)
    drift(client, outbox, 0.5, window=2)
    drift(client, outbox, 0.5, window=4)  # window 3 was not seen: not consecutive
    drift(client, outbox, 0.1, window=5)
    drift(client, outbox, 0.5, window=6)
    drift(client, outbox, 0.5, window=7)
    assert outbox.sent == []

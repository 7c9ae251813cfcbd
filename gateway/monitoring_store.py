"""Recent predictions and the live monitoring windows, in Redis (key names: ``jobs.keys``).

- ``hpp:pred:{id}``: one prediction (owner, version, price, interval, features), with a TTL;
  ``hpp:pred:index`` (sorted by time) bounds how many are kept.
- ``hpp:feedback:{version}``: the shared rolling window of (actual, predicted, low, high)
  pairs, fed only by trusted feedback (it drives the gauges and alarms).
- ``hpp:feedback:{version}:owner:{owner}``: one owner's own window (everyone else's
  feedback), with ``hpp:feedback:versions:owner:{owner}``; both expire with the TTL.
- ``hpp:feedback:held``: implausible reports held for review, not counted (bounded list).
- ``hpp:traffic:{version}``: the rolling window of live houses, for drift.
- ``hpp:feedback:seen:{key}``: the actual price per reported prediction (a resend counts once).
- ``hpp:monitor:gates``: the training gates and interval level per model version.
- ``hpp:replay:latest``: the latest challenger report (written by ``hpp compare``).
- Champion-vs-challenger keys (paired points, houses per arm): ``jobs.keys``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import ValidationError

from jobs.keys import (
    FEEDBACK_HELD_KEY,
    GATES_KEY,
    PAIRED_PAIRS_KEY,
    PREDICTION_INDEX_KEY,
    REPLAY_KEY,
    SERVED_KEY,
    feedback_key,
    feedback_versions_key,
    paired_key,
    prediction_key,
    seen_key,
    served_field,
    traffic_key,
)
from ml.monitoring_report import ChallengerReport, VersionGates
from ml.paired import PairedPoint, decode_point, encode_point

MAX_HELD = 10_000


@dataclass(frozen=True)
class StoredPrediction:
    """A recent prediction as kept for feedback (and the other version's price, if any)."""

    owner: str
    version: str
    price: float
    low: float
    high: float
    features: dict[str, Any]
    arm: str = "champion"  # which alias answered: champion, or challenger under A/B
    shadow_version: str | None = None  # the version scored after the response
    shadow_price: float | None = None

    def paired(self, actual: float, at: float) -> tuple[str, str, PairedPoint] | None:
        """(champion, challenger, point) when both versions priced this house."""
        if self.shadow_version is None or self.shadow_price is None:
            return None
        answered, shadow = (self.version, self.price), (self.shadow_version, self.shadow_price)
        champion, challenger = (answered, shadow) if self.arm == "champion" else (shadow, answered)
        point = PairedPoint(at=at, actual=actual, champion=champion[1], challenger=challenger[1])
        return champion[0], challenger[0], point


@dataclass(frozen=True)
class FeedbackPoint:
    """One actual sale price with what was predicted for it."""

    key: str
    version: str
    actual: float
    price: float
    low: float
    high: float


class MonitoringStore:
    """Async access to the monitoring keys on the gateway's Redis client."""

    def __init__(
        self,
        client: Any,
        *,
        ttl_seconds: int,
        max_predictions: int,
        feedback_window: int,
        drift_window: int,
    ) -> None:
        self.client = client
        self.ttl_seconds = ttl_seconds
        self.max_predictions = max_predictions
        self.feedback_window = feedback_window
        self.drift_window = drift_window

    async def save_predictions(
        self, records: list[tuple[str, StoredPrediction]], gates: dict[str, VersionGates]
    ) -> None:
        """Keep predictions for feedback, add their houses to the traffic window, bound both."""
        now = time.time()
        async with self.client.pipeline(transaction=False) as pipe:
            by_version: dict[str, list[str]] = {}
            served: dict[str, int] = {}
            for prediction_id, stored in records:
                pipe.set(prediction_key(prediction_id), _encode(stored), ex=self.ttl_seconds)
                by_version.setdefault(stored.version, []).append(json.dumps(stored.features))
                field = served_field(stored.arm, stored.version)
                served[field] = served.get(field, 0) + 1
            for field, count in served.items():
                pipe.hincrby(SERVED_KEY, field, count)
            pipe.zadd(PREDICTION_INDEX_KEY, {pid: now for pid, _ in records})
            for version, houses in by_version.items():
                pipe.lpush(traffic_key(version), *houses)
                pipe.ltrim(traffic_key(version), 0, self.drift_window - 1)
                pipe.expire(traffic_key(version), self.ttl_seconds)
            if gates:
                pipe.hset(GATES_KEY, mapping={v: g.model_dump_json() for v, g in gates.items()})
            pipe.zcard(PREDICTION_INDEX_KEY)
            results = await pipe.execute()
        overflow = int(results[-1]) - self.max_predictions
        if overflow > 0:
            oldest = await self.client.zpopmin(PREDICTION_INDEX_KEY, overflow)
            ids = [_text(pid) for pid, _ in oldest]
            if ids:
                await self.client.delete(*[prediction_key(pid) for pid in ids])

    async def get_predictions(self, ids: list[str]) -> list[StoredPrediction | None]:
        """The stored predictions for ``ids`` (None where expired or unknown)."""
        if not ids:
            return []
        raw = await self.client.mget([prediction_key(pid) for pid in ids])
        return [None if value is None else _decode(value) for value in raw]

    async def add_feedback(
        self, points: list[FeedbackPoint], *, owner: str | None = None
    ) -> tuple[int, list[str]]:
        """Add points not reported before to their windows; (accepted, duplicate keys).

        ``owner`` None feeds the shared windows (trusted feedback), else that owner's own.
        """
        if not points:
            return 0, []
        async with self.client.pipeline(transaction=False) as pipe:
            for point in points:
                # The value is the actual price: a replay of a job finds its known prices here.
                pipe.set(seen_key(point.key), repr(point.actual), nx=True, ex=self.ttl_seconds)
            fresh = await pipe.execute()
        accepted = [p for p, ok in zip(points, fresh, strict=True) if ok]
        duplicates = [p.key for p, ok in zip(points, fresh, strict=True) if not ok]
        now = round(time.time(), 3)
        async with self.client.pipeline(transaction=False) as pipe:
            for point in accepted:
                entry = json.dumps([point.actual, point.price, point.low, point.high, now])
                pipe.lpush(feedback_key(point.version, owner), entry)
            for version in {p.version for p in accepted}:
                pipe.ltrim(feedback_key(version, owner), 0, self.feedback_window - 1)
                pipe.sadd(feedback_versions_key(owner), version)
                if owner is not None:  # an owner's figures go when they stop reporting
                    pipe.expire(feedback_key(version, owner), self.ttl_seconds)
                    pipe.expire(feedback_versions_key(owner), self.ttl_seconds)
            await pipe.execute()
        return len(accepted), duplicates

    async def actual_prices(self) -> dict[str, float]:
        """Every reported actual price by its prediction key (id, or ``job:{id}:{row}``)."""
        keys = [_text(k) async for k in self.client.scan_iter(match=seen_key("*"), count=1000)]
        prices: dict[str, float] = {}
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            for key, value in zip(batch, await self.client.mget(batch), strict=True):
                if value is not None:
                    prices[key.removeprefix(seen_key(""))] = float(_text(value))
        return prices

    async def hold_feedback(self, held: list[tuple[FeedbackPoint, str]], *, owner: str) -> None:
        """Record implausible reports (with the reason) for review; they count nowhere."""
        if not held:
            return
        now = round(time.time(), 3)
        entries = [
            json.dumps({**asdict(point), "owner": owner, "reason": reason, "at": now})
            for point, reason in held
        ]
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.lpush(FEEDBACK_HELD_KEY, *entries)
            pipe.ltrim(FEEDBACK_HELD_KEY, 0, MAX_HELD - 1)
            pipe.expire(FEEDBACK_HELD_KEY, self.ttl_seconds)
            await pipe.execute()

    async def held_count(self) -> int:
        """How many reports are held for review."""
        return int(await self.client.llen(FEEDBACK_HELD_KEY))

    async def feedback_versions(self, owner: str | None = None) -> list[str]:
        """Model versions that have feedback (shared, or in one owner's own windows)."""
        members = await self.client.smembers(feedback_versions_key(owner))
        return sorted((_text(v) for v in members), key=_version)

    async def feedback_window_of(self, version: str, owner: str | None = None) -> list[list[float]]:
        """The window's [actual, predicted, low, high, time] entries, newest first."""
        key = feedback_key(version, owner)
        entries = await self.client.lrange(key, 0, self.feedback_window - 1)
        return [json.loads(e) for e in entries]

    async def traffic_window_of(self, version: str) -> list[dict[str, Any]]:
        """The live houses of the traffic window, newest first."""
        entries = await self.client.lrange(traffic_key(version), 0, self.drift_window - 1)
        return [json.loads(e) for e in entries]

    async def gates_of(self) -> dict[str, VersionGates]:
        """Training gates and interval level per version, as recorded by the gateway."""
        raw = await self.client.hgetall(GATES_KEY)
        return {_text(k): VersionGates.model_validate_json(v) for k, v in raw.items()}

    async def add_pairs(self, pairs: list[tuple[str, str, PairedPoint]]) -> None:
        """Keep (champion, challenger, point) triples of trusted feedback, bounded per pair."""
        if not pairs:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for champion, challenger, point in pairs:
                pipe.lpush(paired_key(champion, challenger), encode_point(point))
            for champion, challenger in {(c, h) for c, h, _ in pairs}:
                pipe.ltrim(paired_key(champion, challenger), 0, self.feedback_window - 1)
                pipe.sadd(PAIRED_PAIRS_KEY, f"{champion}:{challenger}")
            await pipe.execute()

    async def paired_points(self, champion: str, challenger: str) -> list[PairedPoint]:
        """The paired points of a champion/challenger pair, newest first."""
        raw = await self.client.lrange(
            paired_key(champion, challenger), 0, self.feedback_window - 1
        )
        return [decode_point(entry) for entry in raw]

    async def served(self) -> dict[str, int]:
        """Houses priced per ``{arm}:{version}`` since the counters began."""
        raw = await self.client.hgetall(SERVED_KEY)
        return {_text(k): int(v) for k, v in raw.items()}

    async def latest_replay(self) -> ChallengerReport | None:
        """The latest challenger report, if ``hpp compare`` stored one readable by this version."""
        raw = await self.client.get(REPLAY_KEY)
        if raw is None:
            return None
        try:
            return ChallengerReport.model_validate_json(raw)
        except ValidationError:  # written by another version of ``hpp compare``: not shown
            return None


def _encode(stored: StoredPrediction) -> str:
    data = {
        "o": stored.owner,
        "v": stored.version,
        "p": stored.price,
        "l": stored.low,
        "h": stored.high,
        "f": stored.features,
    }
    if stored.arm != "champion":
        data["a"] = stored.arm
    if stored.shadow_version is not None:
        data["sv"], data["sp"] = stored.shadow_version, stored.shadow_price
    return json.dumps(data)


def _decode(raw: bytes | str) -> StoredPrediction:
    data = json.loads(raw)
    return StoredPrediction(
        data["o"],
        data["v"],
        data["p"],
        data["l"],
        data["h"],
        data["f"],
        arm=data.get("a", "champion"),
        shadow_version=data.get("sv"),
        shadow_price=data.get("sp"),
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _version(value: str) -> tuple[int, str]:
    return (int(value), value) if value.isdigit() else (1 << 30, value)

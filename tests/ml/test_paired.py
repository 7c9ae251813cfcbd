"""Paired champion-vs-challenger errors: the numbers, the chart series, the Redis form."""

from __future__ import annotations

import numpy as np
import pytest
import redis

from jobs.keys import paired_key
from ml.paired import (
    PairedPoint,
    compare_paired,
    decode_point,
    encode_point,
    error_series,
    read_paired,
)

PAIRED_DB = 10


def points(count: int, *, seed: int = 1) -> list[PairedPoint]:
    rng = np.random.default_rng(seed)
    actual = rng.uniform(100_000, 400_000, count)
    return [
        PairedPoint(
            at=1_000.0 + i,
            actual=float(a),
            champion=float(a * rng.normal(1.0, 0.15)),
            challenger=float(a * rng.normal(1.0, 0.10)),
        )
        for i, a in enumerate(actual)
    ]


def test_comparison_matches_the_errors_computed_directly() -> None:
    data = points(200)
    result = compare_paired(data, champion_version="1", challenger_version="2")

    champion = np.array([abs(p.champion - p.actual) for p in data])
    challenger = np.array([abs(p.challenger - p.actual) for p in data])
    assert result.n == 200
    assert result.champion_mae == pytest.approx(champion.mean())
    assert result.challenger_mae == pytest.approx(challenger.mean())
    assert result.mean_paired_difference == pytest.approx((challenger - champion).mean())
    assert result.challenger_mae is not None
    assert result.champion_mae is not None
    assert result.mean_paired_difference == pytest.approx(
        result.challenger_mae - result.champion_mae
    )
    assert result.challenger_better_share == pytest.approx((challenger < champion).mean())
    assert result.champion_errors == pytest.approx(champion.tolist())
    assert (result.mean_paired_difference or 0.0) < 0  # the tighter challenger is better here


def test_comparison_orders_points_by_time_and_handles_none() -> None:
    data = points(5)
    shuffled = compare_paired(data[::-1], champion_version="1", challenger_version="2")
    assert (
        shuffled.champion_errors
        == compare_paired(data, champion_version="1", challenger_version="2").champion_errors
    )

    empty = compare_paired([], champion_version="1", challenger_version="2")
    assert (empty.n, empty.champion_mae, empty.mean_paired_difference) == (0, None, None)


def test_error_series_covers_every_point_in_time_order() -> None:
    data = points(95)
    series = error_series(data, buckets=10)

    assert len(series) == 10
    assert sum(b.n for b in series) == 95
    assert [b.at for b in series] == sorted(b.at for b in series)
    first = data[: series[0].n]
    assert series[0].champion_mae == pytest.approx(
        np.mean([abs(p.champion - p.actual) for p in first])
    )
    assert len(error_series(data[:3], buckets=10)) == 3


def test_points_round_trip_through_redis(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + f"/{PAIRED_DB}")
    client.flushdb()
    data = points(4)
    key = paired_key("1", "2")
    client.lpush(key, *[encode_point(p) for p in data])

    read = read_paired(client, key)

    assert read == data[::-1]  # newest first, as the gateway pushes them
    assert read_paired(client, key, limit=2) == data[:1:-1]
    assert decode_point(encode_point(data[0])) == data[0]

"""The back-test's arithmetic: a random draw of rows with actual prices, metrics per group."""

from __future__ import annotations

from typing import Any

import pytest

from audit.backtest import backtest, metrics, price_band


def row(key: str, price: float, *, location: str = "North Ames") -> dict[str, Any]:
    return {
        "key": key,
        "price": price,
        "low": price * 0.9,
        "high": price * 1.1,
        "level": 0.9,
        "normalised": {"location": location},
        "model_version": "1",
    }


def test_bias_is_positive_when_the_model_prices_above_the_sale() -> None:
    result = metrics([{"actual": 100.0, "price": 120.0, "low": 90.0, "high": 130.0}])
    assert result == {
        "n": 1,
        "mae": 20.0,
        "mdape": 0.2,
        "bias": 0.2,
        "ppe10": 0.0,
        "coverage": 1.0,
    }


def test_only_rows_with_an_actual_price_are_drawn_and_the_draw_repeats_with_its_seed() -> None:
    rows = [row(f"p{i}", 100_000.0 + i) for i in range(50)]
    actuals = {f"p{i}": 100_000.0 for i in range(0, 50, 2)}
    first = backtest(rows, actuals, sample=10, seed=3)
    assert first["with_actual_price"] == 25
    assert first["sampled"] == 10
    assert set(first["sample_keys"]) <= set(actuals)
    assert backtest(rows, actuals, sample=10, seed=3)["sample_keys"] == first["sample_keys"]
    assert backtest(rows, actuals, sample=100, seed=3)["sampled"] == 25


def test_groups_split_by_neighbourhood_and_predicted_price_band() -> None:
    rows = [row("a", 90_000.0, location="Old Town"), row("b", 250_000.0, location="Somerset")]
    report = backtest(rows, {"a": 100_000.0, "b": 200_000.0}, sample=2, seed=0)
    assert report["neighbourhood"]["Old Town"]["bias"] == pytest.approx(-0.1)
    assert report["neighbourhood"]["Somerset"]["bias"] == pytest.approx(0.25)
    assert set(report["price_band"]) == {"under $100k", "$200k-300k"}
    assert report["overall"]["coverage"] == 0.0  # both sales fall outside their intervals


def test_price_bands_have_no_gaps() -> None:
    assert [price_band(p) for p in (99_999, 100_000, 299_999, 300_000)] == [
        "under $100k",
        "$100k-150k",
        "$200k-300k",
        "$300k and over",
    ]

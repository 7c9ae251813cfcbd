"""The summary's price histogram, merged from the chunks' fine bins, against np.histogram."""

from __future__ import annotations

from collections import Counter

import numpy as np

from tests.support.histograms import assert_like_numpy
from workers.price_bins import HISTOGRAM_BINS, fine_bins, histogram_bars


def merged_bars(chunks: list[np.ndarray]) -> list:
    counts: Counter[int] = Counter()
    for chunk in chunks:
        counts.update(fine_bins(chunk))
    everything = np.concatenate(chunks)
    return histogram_bars(counts, float(everything.min()), float(everything.max()))


def test_bars_have_numpys_edges_and_counts_off_by_at_most_the_fine_bins_at_their_edges() -> None:
    prices = np.random.default_rng(3).lognormal(np.log(180_000), 0.45, 30_000)
    chunks = np.array_split(prices, 7)

    bars = merged_bars(chunks)

    counts, edges = np.histogram(prices, bins=HISTOGRAM_BINS)
    assert [b.low for b in bars] == edges[:-1].tolist()
    assert [b.high for b in bars] == edges[1:].tolist()
    assert_like_numpy(prices, [b.count for b in bars])
    # The tolerance is a small share of the rows (0.5 %-wide fine bins).
    assert sum(abs(b.count - c) for b, c in zip(bars, counts, strict=True)) < prices.size / 50


def test_one_price_fills_the_middle_bar_as_numpy_does() -> None:
    prices = np.full(12, 250_000.0)

    bars = merged_bars([prices[:5], prices[5:]])

    counts, edges = np.histogram(prices, bins=HISTOGRAM_BINS)
    assert [b.count for b in bars] == counts.tolist()
    assert [b.low for b in bars] == edges[:-1].tolist()


def test_fine_bins_stay_few_whatever_the_rows_and_skip_missing_prices() -> None:
    prices = np.geomspace(1.0, 1e9, 2_000_000)

    bins = fine_bins(np.concatenate([prices, [np.nan, np.inf, -np.inf]]))

    assert sum(bins.values()) == prices.size
    assert len(bins) <= 4_156  # log(1e9) / log(1.005), plus one
    assert fine_bins(np.array([np.nan])) == {}

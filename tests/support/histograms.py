"""The summary's price histogram against ``np.histogram``, with its stated tolerance."""

from __future__ import annotations

from collections import Counter

import numpy as np

from workers.price_bins import HISTOGRAM_BINS, fine_bin_of


def edge_slack(prices: np.ndarray, edges: np.ndarray) -> list[int]:
    """Per bar edge, the prices in the fine bin that holds it (0 at the outer edges: exact)."""
    bins = Counter(fine_bin_of(float(p)) for p in prices)
    inner = [bins[fine_bin_of(float(e))] for e in edges[1:-1]]
    return [0, *inner, 0]


def assert_like_numpy(prices: np.ndarray, counts: list[int]) -> None:
    """``counts`` are ``np.histogram(prices, bins=20)``'s, each off by at most the prices of
    the fine bins (0.5 % wide) that hold its two edges, and they add up to every price."""
    exact, edges = np.histogram(prices, bins=HISTOGRAM_BINS)
    slack = edge_slack(prices, edges)
    assert sum(counts) == prices.size
    assert len(counts) == HISTOGRAM_BINS
    for i, count in enumerate(counts):
        assert abs(count - exact[i]) <= slack[i] + slack[i + 1], (i, count, exact[i])

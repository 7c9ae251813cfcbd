"""A job's price histogram, merged from fixed fine bins each chunk counts as it is scored.

The summary shows 20 equal-width bars from the job's lowest to its highest price, as
``np.histogram(prices, bins=20)`` would. Their edges depend on the whole job's range, so
exact counts would need every price again at finalize (it used to read every chunk's price
triples: a quarter of the result's bytes through one process). Instead each chunk counts its
prices in fine, log-spaced bins fixed in advance (bin k holds prices in
[1.005^k, 1.005^(k+1)): each 0.5 % wide, whatever the price), kept sparse in its stats;
finalize adds the chunks' counts and re-bins them into the 20 bars by each fine bin's
middle. The bars' edges are exact (the job's true minimum and maximum); a count can be off
only by rows of the fine bin that straddles one of its edges (at most one fine bin at each
edge), and the counts still add up to the priced rows.

Why not fixed bars chosen before scoring (say, the model's training price range with open
first and last bars)? Exact, but a job of cheap flats, or of mansions, would then fill two
or three of the 20 bars; the fine bins keep the bars fitted to each job's own range for a
constant cost per chunk (a few hundred bins for house prices: about $1 to $10^9 is 4,155).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from jobs.models import PriceBin

HISTOGRAM_BINS = 20
FINE_WIDTH = 0.005  # each fine bin 0.5 % wide
FLOOR_PRICE = 1.0  # prices below it (never a house's) are counted in the bin of $1
_LOG_STEP = float(np.log1p(FINE_WIDTH))


def fine_bins(prices: np.ndarray) -> dict[int, int]:
    """Count finite prices per fine bin (sparse: only bins that hold a price)."""
    finite = prices[np.isfinite(prices)]
    if not finite.size:
        return {}
    index = np.floor(np.log(np.maximum(finite, FLOOR_PRICE)) / _LOG_STEP).astype(np.int64)
    keys, counts = np.unique(index, return_counts=True)
    return {int(k): int(c) for k, c in zip(keys, counts, strict=True)}


def fine_bin_of(price: float) -> int:
    """The fine bin that holds ``price`` (as ``fine_bins`` counts it)."""
    return int(np.floor(np.log(max(price, FLOOR_PRICE)) / _LOG_STEP))


def histogram_bars(bins: Mapping[int, int], low: float, high: float) -> list[PriceBin]:
    """20 equal bars over [low, high] (``np.histogram``'s edges) from fine-bin counts."""
    edges = np.histogram_bin_edges([], bins=HISTOGRAM_BINS, range=(low, high))
    counts = np.zeros(HISTOGRAM_BINS, dtype=np.int64)
    if bins:
        keys = np.fromiter(bins.keys(), dtype=np.float64, count=len(bins))
        weights = np.fromiter(bins.values(), dtype=np.int64, count=len(bins))
        middles = np.clip(np.exp((keys + 0.5) * _LOG_STEP), low, high)
        bar = np.clip(np.searchsorted(edges, middles, side="right") - 1, 0, HISTOGRAM_BINS - 1)
        np.add.at(counts, bar, weights)
    return [
        PriceBin(low=float(edges[i]), high=float(edges[i + 1]), count=int(counts[i]))
        for i in range(HISTOGRAM_BINS)
    ]

"""The Redis keys of champion-vs-challenger trials, in one place (gateway and promotion loop).

- ``hpp:paired:{champion}:{challenger}``: list of paired points (``ml.paired``), newest
  first, bounded by the feedback window: trusted sale prices of houses both versions priced.
- ``hpp:paired:pairs``: set of ``{champion}:{challenger}`` pairs that have points.
- ``hpp:experiment:served``: hash ``{arm}:{version}`` -> houses priced by that arm (A/B and
  shadow alike; the champion arm counts every house when no challenger answers).
"""

from __future__ import annotations

PREFIX = "hpp"
PAIRED_PAIRS_KEY = f"{PREFIX}:paired:pairs"
SERVED_KEY = f"{PREFIX}:experiment:served"


def paired_key(champion: str, challenger: str) -> str:
    """The paired points of one champion version against one challenger version."""
    return f"{PREFIX}:paired:{champion}:{challenger}"


def served_field(arm: str, version: str) -> str:
    """The field of ``SERVED_KEY`` counting one arm's houses for one version."""
    return f"{arm}:{version}"

"""Where the checkout and its data are, for tests that start processes or read files."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "house_data.csv"
SHOTS = ROOT / "test-artifacts" / "screenshots"

"""Benchmark results as files: ``bench/results/<benchmark>.json``, one per benchmark.

Each benchmark writes its figures here when it finishes (with the date, the machine and
its parameters); ``bench/render_readme.py`` renders the README's figures from these files,
so the README quotes one source and cannot drift from it.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """What the figures were measured on (the cores are usually shared: read the ratios)."""
    return {
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.machine(),
        "python": platform.python_version(),
    }


def write_result(
    benchmark: str,
    *,
    parameters: dict[str, Any],
    figures: dict[str, Any],
    note: str = "",
    folder: Path = RESULTS,
    source: str | None = None,
) -> Path:
    """Write ``<folder>/<benchmark>.json`` (replacing the last run's); returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{benchmark}.json"
    result = {
        "benchmark": benchmark,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "parameters": parameters,
        "figures": figures,
        "note": note,
        "source": source or f"bench/{benchmark}.py",
    }
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"results written to {path} (render the README: python bench/render_readme.py)")
    return path

"""The interval and accuracy tables: what they flag, and the corrected interval they quote."""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from scipy import stats

from tests.support.paths import ROOT

BENCH = ROOT / "bench"
TARGETS = {"group": [0.85, 0.95], "overall": [0.88, 0.92], "min_houses": 30, "width_max": 0.47}


@pytest.fixture(scope="module")
def renderer() -> ModuleType:
    return _load("render_readme")


def test_groups_outside_the_targets_are_bold_unless_too_small(renderer: ModuleType) -> None:
    rows = [
        _row("all", "all houses", 300, 0.93),  # outside 0.88-0.92 overall
        _row("age band", "before 1940", 100, 0.80),
        _row("age band", "1940-79", 180, 0.90),
        _row("condition", "Poor", 20, 0.70),  # too few houses to judge
    ]
    result = {
        "benchmark": "interval_coverage",
        "date": "2026-12-01T00:00:00+00:00",
        "parameters": {
            "outer_folds": 5,
            "repeats": 1,
            "rows": 300,
            "calibration_folds": 10,
            "targets": TARGETS,
        },
        "figures": {"by_group": rows, "holdout": []},
    }
    table = renderer.render_interval_coverage(result)
    before = "0.900 ± {} | 45.0%"
    assert f"|  | all houses | 300 | {before.format('0.017')} | **0.930** ± 0.015 |" in table
    assert (
        f"| age band | before 1940 | 100 | {before.format('0.030')} | **0.800** ± 0.040 |" in table
    )
    assert f"|  | 1940-79 | 180 | {before.format('0.022')} | 0.900 ± 0.022 |" in table
    assert f"| condition | Poor | 20 | {before.format('0.067')} | 0.700 ± 0.102 |" in table
    assert renderer.render_interval_holdout(result) == "(not measured in the last run)"


def test_the_corrected_interval_widens_the_naive_one_by_the_overlap_of_training_sets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(BENCH))  # the script imports its sibling ``results``
    experiments = _load("accuracy_experiments")
    diff = np.array([-300.0, 100.0, -50.0, -400.0, 200.0, -150.0, 0.0, -250.0, 50.0, -100.0])
    low, high = experiments.corrected_interval(diff, test_share=0.2, level=0.9)
    naive = stats.t.ppf(0.95, df=9) * diff.std(ddof=1) / np.sqrt(len(diff))
    # Nadeau-Bengio: variance (1/J + n_test/n_train) s² instead of s²/J.
    assert (high - low) / 2 == pytest.approx(naive * np.sqrt((1 / 10 + 0.25) / (1 / 10)))
    assert (low + high) / 2 == pytest.approx(diff.mean())
    assert experiments.corrected_interval(np.zeros(15), test_share=0.2, level=0.9) == (0.0, 0.0)


def _row(partition: str, group: str, houses: int, after: float) -> dict[str, Any]:
    def side(coverage: float) -> dict[str, Any]:
        return {
            "coverage": coverage,
            "standard_error": float(np.sqrt(coverage * (1 - coverage) / houses)),
            "coverage_range": [coverage, coverage],
            "mean_width": 0.45,
        }

    return {
        "partition": partition,
        "group": group,
        "houses": houses,
        "before": side(0.9),
        "after": side(after),
    }


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

"""The README's benchmark figures are what ``bench/render_readme.py`` renders from the files."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.paths import ROOT

BENCH = ROOT / "bench"
FIELDS = {"benchmark", "date", "machine", "parameters", "figures", "note", "source"}


@pytest.fixture(scope="module")
def renderer() -> ModuleType:
    """``bench/render_readme.py`` (a script, loaded from its file)."""
    return _load("render_readme")


def test_the_readme_quotes_the_committed_results(renderer: ModuleType) -> None:
    readme = (ROOT / "README.md").read_text()
    assert renderer.render(readme) == readme, "run .venv/bin/python bench/render_readme.py"


def test_every_renderer_has_its_block_and_its_results_file(renderer: ModuleType) -> None:
    readme = (ROOT / "README.md").read_text()
    for name, (benchmark, _) in renderer.BLOCKS.items():
        assert readme.count(f"<!-- bench:{name} -->") == 1, name
        result = json.loads((BENCH / "results" / f"{benchmark}.json").read_text())
        assert set(result) == FIELDS, benchmark
        assert result["benchmark"] == benchmark


def test_a_new_soak_run_replaces_both_soak_figures(
    renderer: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    results = _load("results")
    for path in (BENCH / "results").glob("*.json"):  # every other benchmark as committed
        if path.stem != "soak":
            (tmp_path / path.name).write_text(path.read_text())
    report = {  # the shape bench/soak.py reports
        "seconds": 60.0,
        "predictions": 2_999,
        "prediction_rate_per_s": 50.0,
        "p50_ms": 3.1,
        "p99_ms": 9.4,
        "max_ms": 40.0,
        "jobs": 12,
        "rows_scored": 1_200_000,
        "errors": 0,
        "error_samples": [],
        "processes": {
            "gateway (4242)": {
                "rss_mb_after_warmup": 100.0,
                "rss_mb_end": 101.0,
                "growth_percent": 1.0,
            }
        },
    }
    parameters = {"minutes": 1.0, "rate": 50.0, "job_rows": 100_000, "concurrent_jobs": 2}
    results.write_result(
        "soak", parameters={**parameters, "warmup": 10.0}, figures=report, folder=tmp_path
    )

    rendered = renderer.render((ROOT / "README.md").read_text(), tmp_path)

    assert "7,497 predictions" not in rendered
    assert rendered.count("2,999 predictions, p50 3.1 ms, p99 9.4 ms, 12 jobs (1.2 M rows)") == 2
    assert "gateway +1.0 % (100 → 101 MB)" in rendered


def test_an_unknown_block_is_an_error(renderer: ModuleType) -> None:
    with pytest.raises(KeyError, match="bench:nothing"):
        renderer.render("<!-- bench:nothing -->x<!-- /bench:nothing -->")


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

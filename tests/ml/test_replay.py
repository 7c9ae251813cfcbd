"""Challenger replay reports and guarded promotion, on a registry of their own."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.settings import (
    AppSettings,
    CoreSettings,
    GatewaySettings,
    ObservabilitySettings,
    UISettings,
    WorkerSettings,
)
from hpp.replay import run_compare, run_promote
from ml.config import PromotionLimits
from ml.registry import resolve_alias
from ml.replay import compare, render_markdown
from tests.support.model import ModelRegistry, quick_config, train_and_register

CONFIG = Path(__file__).resolve().parents[2] / "ml" / "config.yaml"


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelRegistry, str]:
    """Version 1 as champion and a different version 2 that was not promoted."""
    folder = tmp_path_factory.mktemp("replay-mlflow")
    registry = train_and_register(f"sqlite:///{folder / 'mlflow.db'}", quick_config())
    return registry, registry.register_another(seed=7, promote=False)


def settings_for(registry: ModelRegistry, state: Path) -> AppSettings:
    return AppSettings(
        CoreSettings(
            state_dir=state,
            mlflow_tracking_uri=registry.tracking_uri,
            registered_model=registry.name,
        ),
        GatewaySettings(),
        WorkerSettings(),
        UISettings(),
        ObservabilitySettings(),
    )


def latest(state: Path) -> dict:
    return json.loads((state / "reports" / "latest.json").read_text())


@pytest.mark.slow
def test_replaying_the_champion_against_itself_gives_an_empty_diff(
    two_versions: tuple[ModelRegistry, str], tmp_path: Path
) -> None:
    registry, _ = two_versions
    settings = settings_for(registry, tmp_path)

    code = run_compare(
        challenger=registry.version,
        job_id=None,
        champion=None,
        config=CONFIG,
        out=None,
        settings=settings,
    )

    report = latest(tmp_path)
    assert code == 0
    assert report["source"]["kind"] == "hold-out"
    assert report["source"]["rows_compared"] > 500
    assert report["changed_rows"] == 0
    assert report["moved_share"] == 0.0
    assert report["biggest_movers"] == []
    assert report["metrics"]["champion"] == report["metrics"]["challenger"]
    assert report["verdict"]["passed"] is True
    assert list((tmp_path / "reports").glob("replay-*.md"))


@pytest.mark.slow
def test_promotion_is_refused_when_the_report_breaks_limits_then_forced(
    two_versions: tuple[ModelRegistry, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry, challenger = two_versions
    settings = settings_for(registry, tmp_path)
    strict = tmp_path / "strict.yaml"
    strict.write_text("promotion:\n  max_moved_share: 0.0\n  max_mean_change: 0.0\n")

    without_report = run_promote(
        challenger, force=False, config=strict, report_path=None, settings=settings
    )
    run_compare(
        challenger=challenger,
        job_id=None,
        champion=None,
        config=strict,
        out=None,
        settings=settings,
    )
    report = latest(tmp_path)
    refused = run_promote(
        challenger, force=False, config=strict, report_path=None, settings=settings
    )
    alias_after_refusal = resolve_alias(
        tracking_uri=registry.tracking_uri, name=registry.name, alias="champion"
    )
    forced = run_promote(challenger, force=True, config=strict, report_path=None, settings=settings)

    assert without_report == 1
    assert report["moved_rows"] > 0
    assert report["verdict"]["passed"] is False
    assert refused == 1
    assert "refusing to promote" in capsys.readouterr().err
    assert alias_after_refusal == registry.version
    assert forced == 0
    assert (
        resolve_alias(tracking_uri=registry.tracking_uri, name=registry.name, alias="champion")
        == challenger
    )


def test_compare_counts_movers_and_bias_per_location() -> None:
    features = pd.DataFrame(
        {
            "sqft": [1000.0, 1500.0, 2000.0, 2500.0],
            "bedrooms": [2, 3, 3, 4],
            "bathrooms": [1.0, 2.0, 2.0, 3.0],
            "location": ["A", "A", "B", "B"],
            "year_built": [1950, 1970, 1990, 2010],
            "condition": ["Average"] * 4,
        }
    )

    def scored(prices: list[float]) -> pd.DataFrame:
        p = np.asarray(prices)
        return pd.DataFrame({"predicted_price": p, "price_low": p * 0.9, "price_high": p * 1.1})

    report = compare(
        features,
        scored([100_000, 150_000, 200_000, 250_000]),
        scored([100_000, 150_000, 224_000, 280_000]),
        versions=("1", "2"),
        source={"kind": "test"},
        limits=PromotionLimits(min_location_rows=2),
        actual=pd.Series([100_000.0, 150_000.0, 200_000.0, 250_000.0]),
    )

    assert report["moved_rows"] == 2
    assert report["moved_share"] == 0.5
    assert sorted(m["row"] for m in report["biggest_movers"]) == [3, 4]
    by_location = {e["location"]: e for e in report["by_location"]}
    assert by_location["B"]["mean_change"] == pytest.approx(0.12)
    assert by_location["A"]["mean_change"] == 0.0
    assert by_location["B"]["challenger_bias"] == pytest.approx(0.12)
    assert report["metrics"]["champion"]["mae"] == 0.0
    assert report["verdict"]["passed"] is False
    assert any("B: prices shift by +12.0%" in f for f in report["verdict"]["failures"])
    assert "| 3 | B |" in render_markdown(report)

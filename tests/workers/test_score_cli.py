"""``hpp score``: submit through the real gateway, follow progress, download the result."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from hpp.score import run_score
from hpp.settings import AppSettings
from tests.workers.conftest import ALICE, GatewayProcess, houses_csv


def _settings() -> AppSettings:
    from hpp.settings import (
        CoreSettings,
        GatewaySettings,
        ObservabilitySettings,
        UISettings,
        WorkerSettings,
    )

    return AppSettings(
        CoreSettings(), GatewaySettings(), WorkerSettings(), UISettings(), ObservabilitySettings()
    )


def test_score_writes_the_scored_csv(jobs_gateway: GatewayProcess, tmp_path: Path) -> None:
    source = tmp_path / "houses.csv"
    source.write_bytes(houses_csv(1_500, invalid_every=500))

    code = run_score(
        source,
        out=None,
        gateway_url=jobs_gateway.url,
        api_key=ALICE["X-API-Key"],
        settings=_settings(),
    )

    assert code == 0
    with (tmp_path / "houses-scored.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1_500
    assert sum(1 for r in rows if r["error"]) == 3


def test_score_reports_an_unreadable_file(
    jobs_gateway: GatewayProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "wrong.csv"
    source.write_text("a;b;c\n1;2;3\n")

    code = run_score(
        source,
        out=tmp_path / "out.csv",
        gateway_url=jobs_gateway.url,
        api_key=ALICE["X-API-Key"],
        settings=_settings(),
    )

    assert code == 1
    assert "required column(s) missing" in capsys.readouterr().err
    assert not (tmp_path / "out.csv").exists()


def test_score_with_a_wrong_key_fails_cleanly(
    jobs_gateway: GatewayProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "houses.csv"
    source.write_bytes(houses_csv(3))

    code = run_score(
        source, out=None, gateway_url=jobs_gateway.url, api_key="wrong", settings=_settings()
    )

    assert code == 1
    assert "401" in capsys.readouterr().err

"""``hpp score``: submit through the real gateway, follow progress, download the result."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from core.settings import AppSettings
from hpp.score import run_score
from tests.support.gateway_process import GatewayProcess
from tests.support.houses import houses_csv
from tests.support.keys import ALICE


def _settings() -> AppSettings:
    from core.settings import (
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


@pytest.mark.parametrize(
    ("api_key", "problem"),
    [
        (None, "the gateway needs an API key (401) and none was given"),
        ("wrong", "the gateway did not accept this API key (401)"),
    ],
    ids=["no-key", "wrong-key"],
)
def test_score_without_a_valid_key_says_how_to_give_one(
    jobs_gateway: GatewayProcess,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    api_key: str | None,
    problem: str,
) -> None:
    source = tmp_path / "houses.csv"
    source.write_bytes(houses_csv(3))
    settings = _settings()
    settings.core.state_dir = tmp_path / "state"

    code = run_score(
        source, out=None, gateway_url=jobs_gateway.url, api_key=api_key, settings=settings
    )

    err = capsys.readouterr().err
    assert code == 1
    assert problem in err
    assert "--api-key KEY or set HPP_API_KEY" in err
    keys = tmp_path / "state" / "api-keys.json"
    assert f"`hpp up` keeps its local key in {keys} (under 'local')" in err
    command = f"python3 -c \"import json;print(json.load(open('{keys}'))['local'])\""
    assert f"export HPP_API_KEY=$({command})" in err
    assert not (tmp_path / "houses-scored.csv").exists()

"""``hpp score``: submit through the real gateway, follow progress, download the result."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from core.settings import AppSettings
from hpp.cli import app
from hpp.score import run_score
from tests.support.gateway_process import GatewayProcess
from tests.support.houses import houses_csv
from tests.support.jobs import wait_final
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


def test_score_no_wait_returns_once_the_job_is_queued(
    jobs_gateway: GatewayProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "houses.csv"
    source.write_bytes(houses_csv(50))

    code = run_score(
        source,
        out=None,
        gateway_url=jobs_gateway.url,
        api_key=ALICE["X-API-Key"],
        settings=_settings(),
        wait=False,
    )

    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    assert not (tmp_path / "houses-scored.csv").exists()  # nothing downloaded
    assert printed["self"] == f"{jobs_gateway.url}/v1/jobs/{printed['id']}"
    with httpx.Client(base_url=jobs_gateway.url, timeout=30) as http:
        final = wait_final(http, printed["id"], headers=ALICE)
    assert final["status"] == "succeeded"  # it went on without the command


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


@pytest.mark.parametrize(
    ("mode", "rejected"), [("error", 1), ("warn", 0)], ids=["strict", "lenient"]
)
def test_score_in_strict_mode_rejects_a_name_the_model_never_saw(
    jobs_gateway: GatewayProcess,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mode: str,
    rejected: int,
) -> None:
    source = tmp_path / "houses.csv"
    source.write_text(
        "sqft,bedrooms,bathrooms,location,year_built,condition\n"
        "1500,3,2,north_ames,1990,Average\n"  # an alias spelling: priced either way
        "1500,3,2,Atlantis Heights,1990,Average\n"  # like no known name
    )

    outcome = CliRunner().invoke(
        app,
        [
            *("score", str(source), "--gateway-url", jobs_gateway.url),
            *("--api-key", ALICE["X-API-Key"], "--unknown-categories", mode),
        ],
    )

    assert outcome.exit_code == 0, outcome.output
    with (tmp_path / "houses-scored.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["predicted_price"]
    assert not rows[0]["error"]
    assert sum(1 for r in rows if r["error"]) == rejected
    if rejected:
        assert "Atlantis Heights" in rows[1]["error"]
        assert "unknown_categories=error" in rows[1]["error"]
    else:
        assert rows[1]["predicted_price"]
        assert "not seen in training" in rows[1]["warning"]


def test_score_refuses_an_unknown_strictness_before_submitting(tmp_path: Path) -> None:
    source = tmp_path / "houses.csv"
    source.write_bytes(houses_csv(2))

    outcome = CliRunner().invoke(app, ["score", str(source), "--unknown-categories", "loose"])

    assert outcome.exit_code == 2
    assert "loose" in outcome.output

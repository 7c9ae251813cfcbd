"""cfn-lint on every template: no errors, no warnings, no informational findings."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.cloudformation import CFN_DIR, STACKS
from tests.support.tools import tool

pytestmark = pytest.mark.slow  # cfn-lint takes a few seconds per template


@pytest.mark.parametrize("stack", STACKS)
def test_cfn_lint_finds_nothing(stack: str) -> None:
    cfn_lint = tool("cfn-lint", hint="pip install cfn-lint (dev extra)")
    result = subprocess.run(
        [cfn_lint, "--format", "parseable", "--", str(CFN_DIR / f"{stack}.yaml")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    # cfn-lint's exit code is a bitmask: 2 errors, 4 warnings, 8 informational.
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_cfn_lint_reports_a_broken_template(tmp_path) -> None:
    cfn_lint = tool("cfn-lint", hint="pip install cfn-lint (dev extra)")
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n    Properties:\n      Nope: 1\n"
    )
    result = subprocess.run(
        [cfn_lint, "--", str(broken)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode & 2, result.stdout

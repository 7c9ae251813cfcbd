"""Shared helpers for the infra tests: the templates, parsed once, and the linters' paths."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CFN_DIR = ROOT / "infra" / "cloudformation"
STACKS = ("network", "data", "services", "monitoring")
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def load_template(stack: str) -> dict[str, Any]:
    """A template as plain JSON-like data, short-form tags expanded (``!Ref`` -> ``Ref``)."""
    cfn_yaml = pytest.importorskip(
        "cfnlint.decode.cfn_yaml", reason="cfn-lint parses the templates (dev extra)"
    )
    return json.loads(json.dumps(cfn_yaml.load(str(CFN_DIR / f"{stack}.yaml"))))


@pytest.fixture(scope="session")
def templates() -> dict[str, dict[str, Any]]:
    """Every stack's template by stack name."""
    return {stack: load_template(stack) for stack in STACKS}


def tool(name: str, *, hint: str) -> str:
    """The path of a command-line tool from this venv or PATH; skip the test when missing."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed ({hint})")
    return found


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """The resources of one type, by logical id."""
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}

"""Command-line tools the tests run (linters, scanners): found, or the test is skipped."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def tool(name: str, *, hint: str) -> str:
    """The path of a command-line tool from this venv or PATH; skip the test when missing."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed ({hint})")
    return found

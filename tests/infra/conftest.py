"""Infra fixtures: the templates, parsed once (helpers are in tests/support/cloudformation.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.cloudformation import STACKS, load_template


@pytest.fixture(scope="session")
def templates() -> dict[str, dict[str, Any]]:
    """Every stack's template by stack name."""
    return {stack: load_template(stack) for stack in STACKS}

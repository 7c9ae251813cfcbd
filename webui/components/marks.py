"""Test handles: elements carry a NiceGUI marker and the same name as ``data-testid``."""

from __future__ import annotations


def testid(name: str) -> str:
    """The props giving an element ``data-testid=name`` (for ``page.get_by_test_id``)."""
    return f'data-testid="{name}"'

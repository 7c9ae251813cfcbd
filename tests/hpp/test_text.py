"""clip: the one helper that bounds user-supplied text in errors, problems and logs."""

from __future__ import annotations

import pytest

from core.text import MAX_ECHO_CHARS, clip


def test_short_text_is_left_alone() -> None:
    assert clip("duplicate column names: a") == "duplicate column names: a"
    assert clip("x" * MAX_ECHO_CHARS) == "x" * MAX_ECHO_CHARS


@pytest.mark.parametrize("limit", [40, MAX_ECHO_CHARS, 2_000])
def test_long_text_keeps_its_start_and_says_how_long_it_was(limit: int) -> None:
    clipped = clip("ab" * 5_000_000, limit)

    assert len(clipped) == limit
    assert clipped.startswith("abab")
    assert clipped.endswith("… [10,000,000 characters, cut]")

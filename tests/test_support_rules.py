"""Rules the tests keep themselves."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_every_in_process_app_start_goes_through_the_support_lifespan() -> None:
    """asgi-lifespan's own 5 s startup timeout fails tests on a loaded machine."""
    offenders = [
        str(path.relative_to(TESTS))
        for path in TESTS.rglob("*.py")
        if path != TESTS / "support" / "asgi.py"
        and path != Path(__file__).resolve()
        and "LifespanManager(" in path.read_text()
    ]
    assert offenders == []

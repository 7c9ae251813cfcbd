"""The ``hpp`` command as the deployment files must know it."""

from __future__ import annotations


def cli_commands() -> set[str]:
    """The commands the ``hpp`` console script registers."""
    from hpp.cli import app

    return {
        info.name or info.callback.__name__.replace("_", "-")
        for info in app.registered_commands
        if info.callback is not None
    }

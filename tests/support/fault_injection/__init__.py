"""Fault injection for the reliability tests, kept out of the production code.

A worker started with ``armed(...)`` in its environment gets ``seam/`` first on its
``PYTHONPATH``; Python imports ``seam/sitecustomize.py`` at start-up, which calls ``install``:
``workers.scoring.read_chunk`` is wrapped so that a chunk holding a marker's text

- ``crash=``: kills the worker process on the spot (exit code 70), as a segfaulting
  parser would (a poison input);
- ``hang=``: hangs; followed by ``DEAF_SUFFIX`` it first blocks the soft time limit's
  signal, as a parser stuck in C code is deaf to it, so only the hard limit can end it.

Any other process (and a worker started without ``armed``) runs the code untouched.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

CRASH_MARKER_ENV = "HPP_FAULT_CRASH_MARKER"
HANG_MARKER_ENV = "HPP_FAULT_HANG_MARKER"
DEAF_SUFFIX = "-deaf"
CRASH_EXIT_CODE = 70
SEAM = Path(__file__).resolve().parent / "seam"
ROOT = Path(__file__).resolve().parents[3]


def armed(*, crash: str | None = None, hang: str | None = None) -> dict[str, str]:
    """The environment of a worker whose chunk reader crashes or hangs on these markers."""
    path = [str(SEAM), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    environ = {"PYTHONPATH": os.pathsep.join(path)}
    if crash:
        environ[CRASH_MARKER_ENV] = crash
    if hang:
        environ[HANG_MARKER_ENV] = hang
    return environ


def install() -> None:
    """Wrap the worker's chunk reader with the faults the environment arms (if any)."""
    crash, hang = os.environ.get(CRASH_MARKER_ENV), os.environ.get(HANG_MARKER_ENV)
    if not crash and not hang:
        return
    from workers import scoring

    read_chunk = scoring.read_chunk

    def faulty_read_chunk(data: bytes, *, width: int) -> object:
        if crash and crash.encode() in data:
            os._exit(CRASH_EXIT_CODE)
        if hang and hang.encode() in data:
            if (hang + DEAF_SUFFIX).encode() in data:
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
            time.sleep(3600)
        return read_chunk(data, width=width)

    scoring.read_chunk = faulty_read_chunk  # type: ignore[assignment]

#!/usr/bin/env python3
"""Bootstrap and run: the README's two commands.

    python3 scripts/dev.py up      # set up .venv on first use, then bring up the whole system
    python3 scripts/dev.py test    # set up .venv on first use, static checks, then the tests
    python3 scripts/dev.py check   # the static checks alone: ruff, ruff format, mypy

Only the standard library is used here, so it runs on a fresh machine with Python 3.11+.
``test`` runs the static checks first and stops at the first that fails (they take seconds;
the suite takes minutes). Extra arguments after ``test`` go to pytest (e.g.
``-m "not slow"``); ``test --no-checks ...`` skips the static checks.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
# Tools whose pins clash with the project's (checkov: an old boto3 that breaks aiobotocore;
# the kserve SDK: pandas below 3) get a venv each; their tests skip when it is missing.
TOOL_VENVS = {"checkov": ("checkov", "checkov"), "kserve": ("python", "kserve")}
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
# What CI checks besides the tests (the strict packages are listed in pyproject.toml).
CHECKS: tuple[tuple[str, ...], ...] = (
    ("ruff", "check", "."),
    ("ruff", "format", "--check", "."),
    ("mypy", "."),
)


def main(argv: list[str]) -> int:
    """Dispatch ``up`` / ``test`` after making sure the environment is current."""
    if not argv or argv[0] not in {"up", "test", "check", "setup"}:
        print(__doc__)
        return 2
    ensure_venv()
    command, rest = argv[0], argv[1:]
    if command == "setup":
        return 0
    if command == "up":
        return become([str(BIN / "hpp"), "up", *rest])
    if command == "check":
        return run_checks()
    if rest[:1] == ["--no-checks"]:
        rest = rest[1:]
    elif failed := run_checks():
        return failed
    for name in TOOL_VENVS:
        ensure_tool_venv(name)
    return become([str(BIN / "python"), "-m", "pytest", *rest])


def run_checks() -> int:
    """Run ruff, ruff's format check and mypy in turn; the first failure's exit code, or 0."""
    for check in CHECKS:
        print(f"check: {' '.join(check)}", flush=True)
        code = subprocess.call([str(BIN / check[0]), *check[1:]], cwd=ROOT)
        if code != 0:
            print(
                f"\nstatic check failed: `{' '.join(check)}` (exit {code}); the tests did not run."
                "\nFix what it reports above (`ruff check --fix .` and `ruff format .` fix most"
                " lint and format findings), then run the command again.",
                file=sys.stderr,
                flush=True,
            )
            return code
    return 0


def become(argv: list[str]) -> int:
    """Replace this process with ``argv`` in the project folder (a child on Windows).

    Ctrl-C then reaches ``hpp up`` itself, which stops its services in order; a waiting
    parent would kill it 0.25 s into that (``subprocess.call`` does on KeyboardInterrupt)
    and leave the services running.
    """
    os.chdir(ROOT)
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "nt":
        return subprocess.call(argv)
    os.execv(argv[0], argv)  # noqa: S606 - our own venv binaries, fixed arguments
    return 1  # not reached: execv does not return


def ensure_venv() -> None:
    """Create .venv and install the project with its dev extras when pyproject changes."""
    stamp = VENV / ".installed"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    if not (BIN / "python").exists():
        print("creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    print(
        "installing the project and its dev tools into .venv (first run takes a minute) ...",
        flush=True,
    )
    pip = [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.check_call([*pip, "--upgrade", "pip"], cwd=ROOT)
    subprocess.check_call([*pip, "-e", ".[dev]"], cwd=ROOT)
    stamp.write_text(digest)


def ensure_tool_venv(name: str) -> None:
    """``.venv-NAME`` with the tool installed, unless it is there already."""
    program, package = TOOL_VENVS[name]
    folder = ROOT / f".venv-{name}"
    if (folder / "bin" / program).exists() and (folder / ".installed").exists():
        return
    print(f"installing {package} into .venv-{name} ...", flush=True)
    venv.create(folder, with_pip=True)
    pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    result = subprocess.call([*pip, "--disable-pip-version-check", package], cwd=ROOT)
    if result != 0:
        print(f"warning: {package} could not be installed; its tests will skip", flush=True)
        return
    (folder / ".installed").write_text(package)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

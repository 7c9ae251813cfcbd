"""``celery -A workers.main``: Celery's own command finds the app, built from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jobs.queue
from tests.support.paths import ROOT


def test_celery_loads_the_app_built_from_the_environment(tmp_path: Path) -> None:
    environ = {
        **os.environ,
        "HPP_REDIS_URL": "redis://127.0.0.1:1/5",
        "HPP_STATE_DIR": str(tmp_path),
    }
    report = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "workers.main", "report"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert report.returncode == 0, report.stderr
    assert "@127.0.0.1:1/5'" in report.stdout  # the broker, its password masked
    assert "task_default_queue: 'jobs'" in report.stdout


def test_importing_the_app_module_builds_no_app() -> None:
    assert not hasattr(jobs.queue, "app")
    assert not hasattr(jobs.queue, "celery")

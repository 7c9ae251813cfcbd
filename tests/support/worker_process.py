"""A real ``hpp worker`` subprocess: start it, wait until it consumes, stop or kill it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.support.batch_env import BatchEnv
from tests.support.paths import ROOT

WORKER_READY_SECONDS = 90.0


@dataclass
class WorkerProcess:
    """A running ``hpp worker`` subprocess."""

    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def hostname(self) -> str:
        """The Celery node name the worker runs under."""
        return f"hpp-worker-{self.process.pid}@{socket.gethostname()}"

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM (soft shutdown); SIGKILL if it takes longer than 40 s."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.kill()

    def log(self) -> str:
        """What the worker printed so far."""
        return self.log_path.read_text(errors="replace")


StartWorker = Callable[[BatchEnv], WorkerProcess]


def spawn_worker(env: BatchEnv, log_path: Path, *, command: str = "worker") -> WorkerProcess:
    """Run ``hpp worker`` (or ``hpp trainer``) in its own process group (a test can SIGKILL
    all of it) and wait until it is ready."""
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "hpp.cli", command],
            cwd=ROOT,
            env=env.environ(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    worker = WorkerProcess(process, log_path)
    try:
        wait_for_worker(worker)
    except RuntimeError:
        worker.kill()
        raise
    return worker


def wait_for_worker(worker: WorkerProcess, timeout: float = WORKER_READY_SECONDS) -> None:
    """Block until the worker says it is ready (or fail with its log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            raise RuntimeError(f"worker exited early:\n{worker.log()[-4000:]}")
        if b"ready" in worker.log_path.read_bytes():
            return
        time.sleep(0.2)
    raise RuntimeError(f"worker not ready after {timeout}s:\n{worker.log()[-4000:]}")

"""``hpp worker``: run a Celery worker that scores batch jobs."""

from __future__ import annotations

import os
import socket

from hpp.settings import AppSettings
from observability.logging import configure_logging
from workers.app import QUEUE, create_celery


def run_worker(settings: AppSettings) -> None:
    """Run a worker in the foreground until SIGTERM/SIGINT (soft shutdown)."""
    configure_logging("worker", settings.observability)
    app = create_celery(settings)
    app.worker_main(
        [
            "worker",
            f"--loglevel={settings.observability.log_level}",
            f"--concurrency={settings.worker.worker_concurrency}",
            f"--queues={QUEUE}",
            f"--hostname=hpp-worker-{os.getpid()}@{socket.gethostname()}",
            "--without-gossip",
            "--without-mingle",
        ]
    )

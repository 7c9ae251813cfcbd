"""``celery -A workers.main worker``: the Celery app built from the environment.

An entry point, like ``hpp worker`` (``workers.runner``), which builds its app from the
settings it is given instead; importing any other module of ``workers`` builds nothing.
"""

from __future__ import annotations

from core.settings import AppSettings
from jobs.queue import create_celery

app = create_celery(AppSettings.from_env())

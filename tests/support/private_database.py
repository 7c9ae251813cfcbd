"""A worker on a Redis database of its own, for modules that must not share the queue."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.batch_env import BatchEnv
from tests.support.redis_state import flush
from tests.support.worker_process import StartWorker


@contextmanager
def worker_on_database(
    batch_env: BatchEnv, start_worker: StartWorker, db: int, **changes: object
) -> Iterator[BatchEnv]:
    """Empty database ``db``, run a worker on it, yield its environment, stop the worker.

    The worker is stopped on the way out: one left on this database would take later
    modules' messages (and fail them, its blob folder being another).
    """
    env = batch_env.with_database(db, **changes)
    flush(env.redis_url)
    worker = start_worker(env)
    try:
        yield env
    finally:
        worker.stop()

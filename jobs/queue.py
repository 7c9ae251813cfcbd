"""The Celery application, built from settings.

Delivery is at least once: a task is acknowledged only after it finishes
(``task_acks_late``), also when its worker process dies (``task_reject_on_worker_lost``),
each worker process reserves one message at a time (prefetch 1), and Redis hands an
unacknowledged message to another worker after ``visibility_timeout`` (which must be
longer than the slowest chunk). Every task has a soft and a hard time limit, so no input
can hold a worker process for longer. On SIGTERM a worker finishes its task within the soft
shutdown window and otherwise hands it back to the queue.

Here, in the job-storage package, because it is the queue's contract that the gateway (which
sends) and the workers (which run) share: queue and task names, step task ids, the app's
delivery settings. Importing this module builds nothing: entry points call ``create_celery``
with their settings (``hpp worker`` in ``workers.runner``, the gateway for sending), and
``celery -A workers.main worker`` builds it from the environment in ``workers.main``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from celery import Celery

from core.settings import AppSettings

QUEUE = "jobs"
TRAINING_QUEUE = "training"
RETRAIN_TASK, LOOP_CHECK_TASK = "hpp.retrain", "hpp.loop_check"
TRAINING_TASKS = (RETRAIN_TASK, LOOP_CHECK_TASK)
SOFT_SHUTDOWN_SECONDS = 25.0
# A new pool process loads the model before it reports up (seconds on a busy machine);
# Celery's default of 4 s killed it again and again after a process had died.
PROCESS_START_SECONDS = 120.0
PLAN_TASK, CHUNK_TASK, FINALIZE_TASK = "hpp.plan_job", "hpp.score_chunk", "hpp.finalize_job"
# Completion notices (webhook, SNS) on a queue of their own, taken only by ``hpp notifier``:
# a slow receiver never holds a scoring worker, and the gateway only publishes a message.
NOTICES_QUEUE = "notices"
WEBHOOK_TASK, SNS_TASK = "hpp.notify_webhook", "hpp.notify_sns"
NOTICE_TASKS = (WEBHOOK_TASK, SNS_TASK)
# The channel of each notice task: the step its task ids name (``hpp.{job}.{channel}.{n}``),
# which is how ``hpp notifier``'s drain sees a job's notice on its way (``jobs.outbox``).
NOTICE_CHANNELS = {WEBHOOK_TASK: "webhook", SNS_TASK: "sns"}


def step_task_id(job_id: str, step: str) -> str:
    """A task id naming its job and step (``plan``, ``c{index}``, ``finalize``), unique per send.

    The watchdog reads these ids off the broker to see which steps are still on their way.
    """
    return f"hpp.{job_id}.{step}.{uuid.uuid4().hex}"


def parse_step_task_id(task_id: str) -> tuple[str, str] | None:
    """``(job_id, step)`` of an id made by ``step_task_id``; None for any other id."""
    parts = task_id.split(".")
    if len(parts) != 4 or parts[0] != "hpp":
        return None
    return parts[1], parts[2]


def create_celery(settings: AppSettings) -> Celery:
    """A Celery app on the settings' Redis, configured for at-least-once delivery."""
    url = settings.core.redis_url
    if not url:
        raise RuntimeError("HPP_REDIS_URL is not set: batch jobs need Redis")
    tasks = ["workers.tasks", "workers.training_tasks", "workers.notice_tasks"]
    app = Celery("hpp", broker=url, include=tasks)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.worker.task_soft_time_limit_seconds,
        task_time_limit=settings.worker.task_time_limit_seconds,
        broker_transport_options=_transport_options(settings.worker.visibility_timeout_seconds),
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        task_default_queue=QUEUE,
        # The loop's tasks go to a worker of their own (hpp trainer), never a scoring one.
        task_routes={
            **{name: {"queue": TRAINING_QUEUE} for name in TRAINING_TASKS},
            **{name: {"queue": NOTICES_QUEUE} for name in NOTICE_TASKS},
        },
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        worker_concurrency=settings.worker.worker_concurrency,
        worker_soft_shutdown_timeout=SOFT_SHUTDOWN_SECONDS,
        worker_proc_alive_timeout=PROCESS_START_SECONDS,
        worker_enable_soft_shutdown_on_idle=True,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )
    app.hpp_settings = settings
    # Only a worker runs these: each of its processes gets its own context as it starts,
    # and the main process the watchdog. Named, not imported: an app built only to send
    # tasks (the gateway's) loads no worker code, and this package stays below workers/.
    app.steps["worker"].update({"workers.tasks:ContextStep", "workers.watchdog:WatchdogStep"})
    return app


def send_notices(app: Celery, orders: list[tuple[str, str]]) -> None:
    """Queue notice tasks: ``(task name, NoticeOrder JSON)`` pairs, for ``hpp notifier``.

    Each task id names its job and channel, as a step's does (``step_task_id``).
    """
    for name, order in orders:
        job_id = json.loads(order)["notice"]["job_id"]
        task_id = step_task_id(job_id, NOTICE_CHANNELS[name])
        app.send_task(name, args=[order], queue=NOTICES_QUEUE, task_id=task_id)


# kombu's Redis transport: a queue is one list per priority step (the base name holds
# priority 0), joined by this separator; taken messages wait in this hash until acked.
PRIORITY_SEPARATOR, PRIORITY_STEPS, UNACKED_KEY = "\x06\x16", (3, 6, 9), "unacked"

# Every task id of ours in the given lists and hashes, read in one atomic snapshot (the
# watchdog's look for lost steps, the notifier's drain for notices no task carries).
BROKER_IDS_LUA = """
local ids = {}
local function scan(messages)
  for _, message in ipairs(messages) do
    local id = string.match(message, '"id"%s*:%s*"(hpp%.[^"]+)"')
    if id then ids[#ids + 1] = id end
  end
end
for _, key in ipairs(KEYS) do
  local kind = redis.call('TYPE', key)['ok']
  if kind == 'list' then scan(redis.call('LRANGE', key, 0, -1))
  elseif kind == 'hash' then scan(redis.call('HVALS', key)) end
end
return ids
"""


def broker_keys(queue: str = QUEUE) -> list[str]:
    """The Redis keys where kombu keeps the queue's messages, waiting or taken."""
    return [queue, *(f"{queue}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS), UNACKED_KEY]


def _transport_options(visibility_timeout: int) -> dict[str, Any]:
    # kombu scans for abandoned (unacked, past the timeout) messages only every
    # interval x throttle seconds (100 s by default): scan every interval instead.
    return {
        "visibility_timeout": visibility_timeout,
        "unacked_restore_interval": max(1, min(10, visibility_timeout // 2)),
        "unacked_restore_throttle": 1,
    }

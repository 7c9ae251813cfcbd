"""``hpp notifier``'s drain: queue again the owed notices that no task is carrying.

A job's final state records the notices it owes (``jobs.outbox``) in the same Redis step;
the process that made the transition then queues the notice tasks. If it died in between,
or the broker dropped a message, the notice is still owed: every
``HPP_NOTICE_GRACE_SECONDS`` one notifier looks at the owed notices whose time has come.
One whose task is waiting in the ``notices`` queue or taken by a notifier (running, or
waiting for its next retry) is looked at again a grace period later; any other is queued
again, built from the job as it turned final, with the same delivery id (a receiver drops
a copy it already has). The task settles the owed notice once it is delivered or given up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar

import redis
from celery import Celery, bootsteps

from core.settings import CoreSettings
from jobs.keys import NOTICES_DRAIN_LOCK_KEY
from jobs.notices import order_of
from jobs.outbox import CHANNEL_TASKS, NoticeOutbox, OwedNotice
from jobs.queue import BROKER_IDS_LUA, NOTICES_QUEUE, broker_keys, parse_step_task_id, send_notices
from observability.logging import get_logger

log = get_logger("workers.notices")
MAX_NOTICES_PER_SWEEP = 500  # the longest-waiting first; the rest at the next sweep
Send = Callable[[list[tuple[str, str]]], None]
_OUTBOX_LOCK = threading.Lock()


class NoticeDrain:
    """Queues again the owed notices that are due and nowhere in the broker."""

    def __init__(self, outbox: NoticeOutbox, *, send: Send, core: CoreSettings) -> None:
        self.outbox, self.send = outbox, send
        self.grace_seconds = core.notice_grace_seconds
        self.public_url = core.public_url
        self._broker_ids = outbox.client.register_script(BROKER_IDS_LUA)

    def sweep(self, *, now: float | None = None) -> list[OwedNotice]:
        """One look at the owed notices that are due; returns those queued again."""
        now = time.time() if now is None else now
        due = self.outbox.due(now=now, limit=MAX_NOTICES_PER_SWEEP)
        if not due:
            return []
        on_their_way = self._on_their_way()
        sent: list[OwedNotice] = []
        for owed in due:
            if not self.outbox.postpone(owed.member, until=now + self.grace_seconds):
                continue  # settled since we looked
            if (owed.job_id, owed.channel) in on_their_way:
                continue
            if self._requeue(owed):
                sent.append(owed)
        return sent

    def _requeue(self, owed: OwedNotice) -> bool:
        task = CHANNEL_TASKS.get(owed.channel)
        if owed.record is None or task is None:  # nothing to build it from: never sendable
            log.error("job_notice_unsendable", job_id=owed.job_id, channel=owed.channel)
            self.outbox.settle(owed.channel, owed.job_id)
            return False
        order = order_of(owed.record, public_url=self.public_url, queued_at=owed.record.finished_at)
        log.warning(
            "job_notice_requeued",
            job_id=owed.job_id,
            channel=owed.channel,
            delivery_id=order.notice.delivery_id,
        )
        self.send([(task, order.model_dump_json())])
        return True

    def _on_their_way(self) -> set[tuple[str, str]]:
        """``(job_id, channel)`` of every notice task waiting in the queue or taken."""
        ids = self._broker_ids(keys=broker_keys(NOTICES_QUEUE))
        return {parsed for task_id in ids if (parsed := parse_step_task_id(task_id)) is not None}


def try_sweep(drain: NoticeDrain, *, interval: float) -> list[OwedNotice]:
    """Sweep if no other notifier did within this interval."""
    lock = max(1, int(interval * 0.8))
    if not drain.outbox.client.set(NOTICES_DRAIN_LOCK_KEY, "1", nx=True, ex=lock):
        return []
    return drain.sweep()


def outbox_of(app: Celery) -> NoticeOutbox:
    """The app's outbox (one Redis pool per app, shared by the notifier's threads)."""
    outbox: NoticeOutbox | None = getattr(app, "hpp_notice_outbox", None)
    if outbox is None:
        with _OUTBOX_LOCK:
            outbox = getattr(app, "hpp_notice_outbox", None)
            if outbox is None:
                url = str(app.hpp_settings.core.redis_url)
                client = redis.Redis.from_url(
                    url, decode_responses=True, socket_connect_timeout=2, socket_timeout=5
                )
                outbox = app.hpp_notice_outbox = NoticeOutbox(client)
    return outbox


class NoticeDrainStep(bootsteps.StartStopStep):
    """Runs the drain on the notifier's timer, every ``HPP_NOTICE_GRACE_SECONDS``."""

    requires: ClassVar[tuple[str, ...]] = ("celery.worker.components:Timer",)

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.timer_ref: Any = None
        self.drain: NoticeDrain | None = None

    def start(self, worker: Any) -> None:
        """Start draining."""
        settings = getattr(worker.app, "hpp_settings", None)
        if settings is None:
            return
        core = settings.core
        send = partial(send_notices, worker.app)
        self.drain = NoticeDrain(outbox_of(worker.app), send=send, core=core)
        interval = float(core.notice_grace_seconds)
        self.timer_ref = worker.timer.call_repeatedly(interval, self._tick, args=(interval,))

    def stop(self, worker: Any) -> None:
        """Stop draining."""
        if self.timer_ref is not None:
            self.timer_ref.cancel()
            self.timer_ref = None
        self.drain = None

    def _tick(self, interval: float) -> None:
        if self.drain is None:
            return
        try:
            try_sweep(self.drain, interval=interval)
        except Exception as exc:  # Redis away: the next tick tries again
            log.warning("notice_drain_failed", error=repr(exc))

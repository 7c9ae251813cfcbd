"""Completion notices owed: recorded with a job's final state, settled once sent.

A job's final state and the notices it owes are written in one Redis step
(``jobs.scripts.FINISH_LUA``, called by both job stores): a process that dies right after
(before it queued the notice task), or a broker that drops the task's message, cannot lose
the notice. Each owed notice is a member ``{channel}:{job_id}`` of a sorted set scored by
when to look at it next (the final state's time plus ``HPP_NOTICE_GRACE_SECONDS``), with
the job's fields as it turned final beside it (``EVENT_FIELDS``: the notice is still sent if
the job is deleted meanwhile). ``hpp notifier``'s drain (``workers.notice_drain``) queues
the task again for an owed notice that is due and has no task waiting or running; the task
settles it once the notice is delivered or given up. Delivery is therefore at least once;
every copy carries the same delivery id, so a receiver drops a duplicate.

A final state owes a webhook notice when the job names a webhook, an SNS notice when the
environment has a topic; neither, nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from core.settings import CoreSettings
from jobs import keys
from jobs.models import JobRecord
from jobs.queue import NOTICE_CHANNELS, SNS_TASK, WEBHOOK_TASK

WEBHOOK: Final = NOTICE_CHANNELS[WEBHOOK_TASK]
SNS: Final = NOTICE_CHANNELS[SNS_TASK]
CHANNEL_TASKS: Final = {channel: task for task, channel in NOTICE_CHANNELS.items()}
# The record fields a notice is built from (``jobs.notices.order_of``), kept with it.
EVENT_FIELDS: Final = (
    "id",
    "owner",
    "status",
    "created_at",
    "finished_at",
    "rows_total",
    "rows_done",
    "rows_failed",
    "model_version",
    "error",
    "webhook_url",
)


@dataclass(frozen=True)
class NoticePolicy:
    """What a final state owes: SNS notices (a topic is configured), and when to look again."""

    grace_seconds: float = 30.0
    sns: bool = False

    @classmethod
    def from_settings(cls, core: CoreSettings) -> NoticePolicy:
        """The policy of ``HPP_NOTICE_GRACE_SECONDS`` and ``HPP_NOTICES_TOPIC_ARN``."""
        return cls(grace_seconds=core.notice_grace_seconds, sns=core.notices_topic_arn is not None)


def finish_keys(job_id: str) -> list[str]:
    """The keys of ``FINISH_LUA``: the job, the owed notices, their events."""
    return [keys.job_key(job_id), keys.NOTICES_OWED_KEY, keys.NOTICES_EVENTS_KEY]


def finish_args(policy: NoticePolicy, job_id: str, *, now: float) -> list[str]:
    """The outbox's arguments of ``FINISH_LUA`` (the transition's follow them)."""
    return [
        repr(now + policy.grace_seconds),
        keys.owed_notice(WEBHOOK, job_id),
        keys.owed_notice(SNS, job_id) if policy.sns else "",
        " ".join(EVENT_FIELDS),
    ]


@dataclass(frozen=True)
class OwedNotice:
    """A notice owed on one channel; ``record`` is the job as it turned final (None: lost)."""

    member: str
    channel: str
    job_id: str
    record: JobRecord | None


class NoticeOutbox:
    """The owed notices in Redis, for ``hpp notifier``: what is due, put off, settled."""

    def __init__(self, client: Any) -> None:
        # decode_responses=True: replies are str.
        self.client = client

    def due(self, *, now: float, limit: int) -> list[OwedNotice]:
        """The owed notices to look at by ``now``, the longest-waiting first."""
        members: list[str] = self.client.zrangebyscore(
            keys.NOTICES_OWED_KEY, "-inf", now, start=0, num=limit
        )
        if not members:
            return []
        events: list[str | None] = self.client.hmget(keys.NOTICES_EVENTS_KEY, members)
        return [_owed(member, event) for member, event in zip(members, events, strict=True)]

    def postpone(self, member: str, *, until: float) -> bool:
        """Look at an owed notice again at ``until``; False if it was settled meanwhile."""
        with self.client.pipeline(transaction=True) as pipe:
            pipe.zadd(keys.NOTICES_OWED_KEY, {member: until}, xx=True)
            pipe.zscore(keys.NOTICES_OWED_KEY, member)
            _, score = pipe.execute()
        return score is not None

    def settle(self, channel: str, job_id: str) -> None:
        """The notice is sent (or given up): it is owed no more."""
        member = keys.owed_notice(channel, job_id)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.zrem(keys.NOTICES_OWED_KEY, member)
            pipe.hdel(keys.NOTICES_EVENTS_KEY, member)
            pipe.execute()

    def owed(self) -> dict[str, float]:
        """Every owed notice and when it is looked at next."""
        return dict(self.client.zrange(keys.NOTICES_OWED_KEY, 0, -1, withscores=True))


def _owed(member: str, event: str | None) -> OwedNotice:
    channel, job_id = keys.owed_notice_parts(member)
    record = JobRecord.from_redis(json.loads(event)) if event else None
    return OwedNotice(member=member, channel=channel, job_id=job_id, record=record)

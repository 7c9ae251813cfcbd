"""Fair dispatch: job steps wait in per-owner queues and reach the broker round-robin.

With one FIFO broker queue, an owner who submits many jobs puts every step of them ahead
of everyone else's. Here the broker holds only a few waiting steps (``dispatch_depth``);
the rest wait in one Redis list per owner (a key, or one end user of a delegate key),
and each time a worker takes a message (or a step is submitted) the broker is topped up
by taking one step from each owner in turn. A newcomer's job therefore starts after a
few steps, however long the others' backlog is.

Delivery is unchanged: a step is an ordinary Celery message once dispatched, and every
step is idempotent. A step taken from its owner's list but never sent (a crash in
between) is missing from both places; the watchdog, which reads the owner lists with the
broker's, sends it again. Steps of jobs that are no longer queued or running (cancelled,
deleted, failed) are dropped when their turn comes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from celery import Celery

from jobs.keys import FAIR_OWNER_QUEUE_PREFIX, FAIR_RING_KEY, fair_owner_queue_key, job_key
from jobs.queue import QUEUE

MAX_DROPS_PER_DISPATCH = 1_000  # bounds one script's run when many steps are stale
ENQUEUE_BATCH = 1_000

# Append steps to an owner's list; the owner joins the ring when the list was empty, so
# an owner is in the ring exactly when it has steps waiting.
ENQUEUE_LUA = """
local before = redis.call('LLEN', KEYS[2])
redis.call('RPUSH', KEYS[2], unpack(ARGV, 2))
if before == 0 then redis.call('RPUSH', KEYS[1], ARGV[1]) end
return before + #ARGV - 1
"""

# Take up to (depth - waiting messages) steps, one per owner in turn; steps of jobs that
# are not queued or running are dropped on the way.
TAKE_LUA = """
local room = tonumber(ARGV[1]) - redis.call('LLEN', KEYS[2])
local taken, drops = {}, 0
while room > 0 and drops < tonumber(ARGV[4]) do
  local owner = redis.call('LPOP', KEYS[1])
  if not owner then break end
  local queue = ARGV[2] .. owner
  local step = redis.call('LPOP', queue)
  if redis.call('LLEN', queue) > 0 then redis.call('RPUSH', KEYS[1], owner) end
  if step then
    local job = string.match(step, '"id"%s*:%s*"hpp%.([^.]+)%.')
    local status = job and redis.call('HGET', ARGV[3] .. job, 'status')
    if status == 'queued' or status == 'running' then
      taken[#taken + 1] = step
      room = room - 1
    else
      drops = drops + 1
    end
  end
end
return taken
"""

# Every step id waiting in an owner's list (the watchdog counts these as on their way),
# and the number of steps waiting in all of them plus the broker (the backlog).
PENDING_IDS_LUA = """
local ids = {}
for _, owner in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  for _, step in ipairs(redis.call('LRANGE', ARGV[1] .. owner, 0, -1)) do
    local id = string.match(step, '"id"%s*:%s*"(hpp%.[^"]+)"')
    if id then ids[#ids + 1] = id end
  end
end
return ids
"""
BACKLOG_LUA = """
local total = redis.call('LLEN', KEYS[2])
for _, owner in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  total = total + redis.call('LLEN', ARGV[1] .. owner)
end
return total
"""

Send = Callable[[str, list[Any], str], None]


@dataclass(frozen=True)
class Step:
    """One message to send: the task's name, its arguments and its id."""

    task: str
    args: list[Any]
    task_id: str

    def to_json(self) -> str:
        """The form kept in an owner's list (the id first, where the scripts look for it)."""
        return json.dumps({"id": self.task_id, "task": self.task, "args": self.args})

    @classmethod
    def from_json(cls, text: str) -> Step:
        """The inverse of ``to_json``."""
        data = json.loads(text)
        return cls(task=data["task"], args=list(data["args"]), task_id=data["id"])


class FairQueue:
    """Per-owner step queues in Redis, dispatched round-robin into the broker queue."""

    def __init__(self, client: Any, *, depth: int, send: Send, queue: str = QUEUE) -> None:
        self.client, self.depth, self.send, self.queue = client, depth, send, queue
        self._enqueue = client.register_script(ENQUEUE_LUA)
        self._take = client.register_script(TAKE_LUA)
        self._pending_ids = client.register_script(PENDING_IDS_LUA)

    @classmethod
    def for_app(cls, app: Celery, client: Any) -> FairQueue:
        """The owners' queues on ``client``, dispatching through ``app`` (depth from settings)."""

        def send(task: str, args: list[Any], task_id: str) -> None:
            app.send_task(task, args=args, task_id=task_id)

        return cls(client, depth=app.hpp_settings.worker.dispatch_depth, send=send)

    def submit(self, owner: str, steps: Sequence[Step]) -> int:
        """Queue steps behind the owner's earlier ones, then top up the broker."""
        keys = [FAIR_RING_KEY, fair_owner_queue_key(owner)]
        for start in range(0, len(steps), ENQUEUE_BATCH):
            batch = steps[start : start + ENQUEUE_BATCH]
            self._enqueue(keys=keys, args=[owner, *(step.to_json() for step in batch)])
        return self.dispatch()

    def dispatch(self) -> int:
        """Send steps, one per owner in turn, until ``depth`` wait in the broker; how many."""
        args = [self.depth, FAIR_OWNER_QUEUE_PREFIX, job_key(""), MAX_DROPS_PER_DISPATCH]
        taken = self._take(keys=[FAIR_RING_KEY, self.queue], args=args)
        for text in taken:
            step = Step.from_json(text)
            self.send(step.task, step.args, step.task_id)
        return len(taken)

    def pending_ids(self) -> list[str]:
        """The ids of every step waiting in an owner's list."""
        return list(self._pending_ids(keys=[FAIR_RING_KEY], args=[FAIR_OWNER_QUEUE_PREFIX]))


def waiting_steps(client: Any, queue: str = QUEUE) -> int:
    """Steps waiting anywhere, in the broker queue or an owner's list (the backlog)."""
    return int(client.eval(BACKLOG_LUA, 2, FAIR_RING_KEY, queue, FAIR_OWNER_QUEUE_PREFIX))

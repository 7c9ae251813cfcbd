"""Retrain requests from drift and live accuracy, debounced, and the trigger history.

The gateway sees the live figures (each feedback post, each drift refresh) and calls
``observe_accuracy`` / ``observe_drift``; they send ``hpp.retrain`` to the training queue
at most once per *episode*: an episode starts when the condition first holds (for drift:
``windows`` consecutive windows above the PSI threshold) and ends when it clears, or after
``episode_seconds``. The episode is a Redis key set with NX, so several gateway processes
sending at once still make one request. Every request, start and outcome is appended to
``hpp:loop:triggers`` (newest first, bounded), which the Monitoring page shows.

Plain sync Redis (the gateway calls these in a thread, off the request path).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

from jobs.keys import (
    CHECK_PENDING_KEY,
    DRIFT_STREAK_KEY,
    DRIFT_WINDOW_KEY,
    EPISODE_PREFIX,
    TRIGGERS_KEY,
)
from jobs.queue import LOOP_CHECK_TASK, RETRAIN_TASK
from ml.monitoring_report import TriggerEvent

__all__ = [
    "CHECK_PENDING_KEY",
    "LOOP_CHECK_TASK",
    "RETRAIN_TASK",
    "TriggerEvent",
    "history",
    "record",
]

MAX_EVENTS = 500

Kind = Literal["accuracy", "drift", "schedule", "manual"]
Send = Callable[[str, list[Any]], None]  # (task name, args): sends to the training queue


def record(client: Any, event: TriggerEvent) -> None:
    """Append an event to the trigger history (newest first, bounded)."""
    pipe = client.pipeline(transaction=False)
    pipe.lpush(TRIGGERS_KEY, event.model_dump_json())
    pipe.ltrim(TRIGGERS_KEY, 0, MAX_EVENTS - 1)
    pipe.execute()


def history(client: Any, *, limit: int = 50) -> list[TriggerEvent]:
    """The newest ``limit`` events, newest first."""
    return [TriggerEvent.model_validate_json(e) for e in client.lrange(TRIGGERS_KEY, 0, limit - 1)]


def episode_key(kind: str, version: str | None) -> str:
    """The key that marks a running episode of ``kind`` for the serving version."""
    return f"{EPISODE_PREFIX}:{kind}:{version or '-'}"


def request_retrain(
    client: Any,
    send: Send,
    *,
    kind: Kind,
    reason: str,
    model_version: str | None,
    episode_seconds: int,
) -> bool:
    """Send one retrain unless an episode of this kind is running; True when sent."""
    if not client.set(episode_key(kind, model_version), reason, nx=True, ex=episode_seconds):
        return False
    record(
        client,
        TriggerEvent(
            at=time.time(),
            kind=kind,
            action="requested",
            reason=reason,
            model_version=model_version,
        ),
    )
    send(RETRAIN_TASK, [kind, reason])
    return True


def end_episode(client: Any, *, kind: Kind, model_version: str | None, reason: str) -> None:
    """The condition cleared: the next time it holds is a new episode (recorded if one ran)."""
    if client.delete(episode_key(kind, model_version)):
        record(
            client,
            TriggerEvent(
                at=time.time(),
                kind=kind,
                action="episode_ended",
                reason=reason,
                model_version=model_version,
            ),
        )


def observe_accuracy(
    client: Any,
    send: Send,
    *,
    verdict: dict[str, Any],
    model_version: str,
    episode_seconds: int,
) -> bool:
    """React to the serving version's live gate verdict (``ml.monitoring.check_gates``)."""
    status = verdict.get("status")
    if status == "breached":
        gates = ", ".join(verdict.get("breached", []))
        return request_retrain(
            client,
            send,
            kind="accuracy",
            reason=f"live accuracy of version {model_version} breaks {gates}",
            model_version=model_version,
            episode_seconds=episode_seconds,
        )
    if status == "ok":
        end_episode(
            client, kind="accuracy", model_version=model_version, reason="live gates hold again"
        )
    return False


def observe_drift(
    client: Any,
    send: Send,
    *,
    max_psi: float | None,
    threshold: float,
    model_version: str,
    windows: int,
    window_seconds: float,
    episode_seconds: int,
    now: float | None = None,
) -> bool:
    """Count consecutive windows with PSI above ``threshold``; request at ``windows`` in a row.

    A window is a period of ``window_seconds``: however often drift is computed within one,
    it counts once, so a busy monitoring page cannot shorten the wait.
    """
    if max_psi is None:
        return False
    window = int((now if now is not None else time.time()) // window_seconds)
    if max_psi <= threshold:
        client.delete(DRIFT_STREAK_KEY, DRIFT_WINDOW_KEY)
        end_episode(client, kind="drift", model_version=model_version, reason="PSI back under")
        return False
    last = client.getset(DRIFT_WINDOW_KEY, window)
    if last is not None and int(last) == window:
        streak = int(client.get(DRIFT_STREAK_KEY) or 0)
    elif last is not None and int(last) == window - 1:
        streak = int(client.incr(DRIFT_STREAK_KEY))
    else:
        client.set(DRIFT_STREAK_KEY, 1)
        streak = 1
    if streak < windows:
        return False
    return request_retrain(
        client,
        send,
        kind="drift",
        reason=f"live PSI {max_psi:.2f} above {threshold:g} for {streak} consecutive windows",
        model_version=model_version,
        episode_seconds=episode_seconds,
    )

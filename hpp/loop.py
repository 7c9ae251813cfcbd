"""``hpp retrain``: the loop once, in this process (the schedule's command on AWS too).

Train on the shipped data plus accepted feedback, apply the gates, point ``challenger`` at
the new version when they pass (never ``champion``), then run the promotion/rollback check
once. The trigger history records the run like a triggered one (kind ``schedule``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from core.settings import AppSettings
from observability.metrics import record_retrain_requested
from observability.sink import MetricsSink, build_sink, start_sink_in_thread


def run_retrain(
    settings: AppSettings,
    *,
    data: Path | None,
    config: Path | None,
    check: bool,
    kind: str = "schedule",
) -> int:
    """0 when a challenger was made (or the check moved an alias), 1 when the gates failed."""
    from workers import lifecycle
    from workers.model_cache import ModelCache

    core = settings.core.model_copy(
        update={
            "training_data": data or settings.core.training_data,
            "training_config": config or settings.core.training_config,
        }
    )
    settings = dataclasses.replace(settings, core=core)
    reason = f"hpp retrain ({kind})"
    _trigger(settings, kind, "started", reason, None)
    with _metrics(settings) as sink:
        record_retrain_requested(kind, sink=sink)
        outcome = lifecycle.retrain(settings, kind=kind, reason=reason, sink=sink)
        _trigger(settings, kind, "finished", reason, outcome.version)
    print(
        f"version {outcome.version}: "
        + ("every gate passed, now 'challenger'" if outcome.passed else "gates failed")
    )
    for gate in outcome.gates:
        print(f"  {gate}")
    data_version = outcome.data_version
    print(f"  data: {data_version['rows_by_source']} sha256 {data_version['sha256'][:12]}")
    if check:
        event = lifecycle.check(settings, models=ModelCache(settings.core))
        print(
            "check: " + ("no alias moved" if event is None else f"{event.action}: {event.reason}")
        )
    return 0 if outcome.passed else 1


def run_loop_check(settings: AppSettings) -> int:
    """The promotion/rollback check once (the hourly schedule on AWS); 0 whatever it decided."""
    from workers import lifecycle
    from workers.model_cache import ModelCache

    with _metrics(settings) as sink:
        event = lifecycle.check(settings, models=ModelCache(settings.core), sink=sink)
    print("check: " + ("no alias moved" if event is None else f"{event.action}: {event.reason}"))
    return 0


@contextlib.contextmanager
def _metrics(settings: AppSettings) -> Iterator[MetricsSink]:
    """A metrics sink for this one-shot process, flushed on the way out (the rollback alarm
    counts ModelRollbacks from here on AWS)."""
    sink = build_sink(
        settings.observability, service="worker", environment=settings.core.environment
    )
    stop = start_sink_in_thread(sink)
    try:
        yield sink
    finally:
        stop()


def _trigger(
    settings: AppSettings,
    kind: str,
    action: Literal["started", "finished"],
    reason: str,
    version: str | None,
) -> None:
    if not settings.core.redis_url:
        return
    import redis

    from jobs.triggers import TriggerEvent, record

    try:
        with redis.Redis.from_url(settings.core.redis_url, socket_timeout=5) as client:
            record(
                client,
                TriggerEvent(
                    at=time.time(),
                    kind=kind,
                    action=action,
                    reason=reason,
                    model_version=version,
                ),
            )
    except (redis.RedisError, OSError) as exc:
        print(f"warning: trigger history not recorded: {exc}", file=sys.stderr)

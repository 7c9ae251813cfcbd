"""The step tasks: each worker process builds its context as it starts, and every line a
task logs names its job and task."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from celery.signals import worker_process_init, worker_process_shutdown

from core.settings import (
    AppSettings,
    CoreSettings,
    GatewaySettings,
    ObservabilitySettings,
    UISettings,
    WorkerSettings,
)
from jobs.queue import FINALIZE_TASK, PLAN_TASK, create_celery
from observability.emf import EmfSink
from tests.support.houses import houses_csv
from tests.support.jobs import submit, wait_final
from tests.support.model import ModelRegistry
from tests.support.worker_process import WorkerProcess
from workers.tasks import ContextStep, StepTask

HOSTNAME = "hpp-worker-test@here"


def test_each_worker_process_builds_its_context_as_it_starts(
    model_registry: ModelRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = AppSettings(
        core=CoreSettings(
            state_dir=tmp_path,
            redis_url="redis://127.0.0.1:1/0",  # connected lazily: never, here
            mlflow_tracking_uri=model_registry.tracking_uri,
            registered_model=model_registry.name,
        ),
        gateway=GatewaySettings(),
        worker=WorkerSettings(),
        ui=UISettings(),
        observability=ObservabilitySettings(metrics_backend="emf", metrics_flush_seconds=3600),
    )
    app = create_celery(settings)
    plan = app.tasks[PLAN_TASK]
    assert isinstance(plan, StepTask)
    step = ContextStep(SimpleNamespace(app=app, hostname=HOSTNAME))  # as the worker makes it
    with pytest.raises(RuntimeError, match="no worker context"):
        plan.ctx  # noqa: B018 - before the process started

    worker_process_init.send(sender=HOSTNAME)  # what each pool process sends as it starts
    ctx = plan.ctx
    assert app.tasks[FINALIZE_TASK].ctx is ctx  # one context per process, for every step
    assert ctx.models.versions == [model_registry.version]  # the champion, loaded up front
    assert isinstance(ctx.sink, EmfSink)
    ctx.sink.record("RowsScored", 4321)
    worker_process_shutdown.send(sender=None, pid=0, exitcode=0)

    assert step.context is None
    with pytest.raises(RuntimeError, match="no worker context"):
        plan.ctx  # noqa: B018 - unbound as the process stops
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [(line["RowsScored"], line["Service"]) for line in emf] == [(4321, "worker")]


@pytest.mark.slow
def test_every_line_a_task_logs_names_its_job_and_task(
    client: httpx.Client, celery_worker: WorkerProcess
) -> None:
    job_id = submit(client, houses_csv(1_500)).json()["id"]
    assert wait_final(client, job_id)["status"] == "succeeded"

    lines = [json.loads(line) for line in celery_worker.log().splitlines() if line.startswith("{")]
    steps = {
        line["event"]: line
        for line in lines
        if line.get("job_id") == job_id and line["event"] in {"job_planned", "job_succeeded"}
    }
    assert steps["job_planned"]["task_id"].startswith(f"hpp.{job_id}.plan.")
    assert steps["job_succeeded"]["task_id"].startswith(f"hpp.{job_id}.finalize.")

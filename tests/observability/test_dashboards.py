"""Dashboard and alarms: one definition, names the code emits, put to CloudWatch and read back."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from fastapi import FastAPI

from core.settings import ObservabilitySettings
from observability import metrics
from observability.dashboards import (
    ALARM_PARAMETERS,
    SCALING_METRICS,
    alarm_definitions,
    alarm_resources,
    dashboard_body,
    dashboard_name,
    metric_names_used,
    run_dashboard_command,
)
from observability.http import ObservabilityMiddleware
from observability.sink import MemorySink

NAMESPACE = "HousePricePredictor"


@pytest.fixture
async def cloudwatch(moto_server: str) -> AsyncIterator[Any]:
    async with get_session().create_client(
        "cloudwatch",
        region_name="us-east-1",
        endpoint_url=moto_server,
        config=AioConfig(retries={"max_attempts": 1}),
    ) as client:
        yield client


def dashboard_metric_names(body: dict[str, Any], namespace: str) -> set[str]:
    return {
        line[1]
        for widget in body["widgets"]
        for line in widget["properties"]["metrics"]
        if isinstance(line[0], str) and line[0] == namespace
    }


def alarm_metric_names(alarms: list[dict[str, Any]], namespace: str) -> set[str]:
    names = {a["MetricName"] for a in alarms if a.get("Namespace") == namespace}
    for alarm in alarms:
        for query in alarm.get("Metrics", []):
            metric = query.get("MetricStat", {}).get("Metric", {})
            if metric.get("Namespace") == namespace:
                names.add(metric["MetricName"])
    return names


async def emitted_metric_names() -> set[str]:
    """Drive every code path that reports to CloudWatch and collect what it records."""
    sink = MemorySink()
    app = FastAPI()

    @app.get("/ok")
    async def ok() -> dict[str, str]:
        return {}

    @app.get("/fail")
    async def fail() -> None:
        raise RuntimeError("boom")

    app.add_middleware(ObservabilityMiddleware, service="gateway", sink=sink)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for path in ("/ok", "/missing", "/fail"):
            await client.get(path)
    metrics.record_prediction(model_version="1", source="single", sink=sink)
    metrics.record_rows(ok=10, rejected=1, sink=sink)
    metrics.record_job_finished("failed", sink=sink)
    metrics.record_backlog(queue="jobs", depth=12, workers=3, sink=sink)
    metrics.record_live_quality(
        model_version="1",
        metrics={"mae": 1.0, "rmse": 2.0, "r2": 0.5, "coverage": 0.9},
        breached={"r2_min": True},
        sink=sink,
    )
    metrics.record_drift({"sqft": 0.3}, source="live", sink=sink)
    metrics.record_retrain_requested("accuracy", sink=sink)
    metrics.record_alias_move("promotion", sink=sink)
    metrics.record_alias_move("rollback", sink=sink)
    return sink.names()


async def test_every_metric_on_the_dashboard_and_alarms_is_emitted_by_the_code() -> None:
    emitted = await emitted_metric_names()
    on_dashboard = dashboard_metric_names(
        dashboard_body(namespace=NAMESPACE, environment="prod", region="us-east-1"), NAMESPACE
    )
    in_alarms = alarm_metric_names(
        alarm_definitions(namespace=NAMESPACE, environment="prod"), NAMESPACE
    )

    assert on_dashboard | in_alarms == metric_names_used()
    assert metric_names_used() <= emitted, metric_names_used() - emitted
    assert on_dashboard == emitted  # and nothing emitted is missing from the dashboard


async def test_autoscaling_metrics_are_emitted_and_shown() -> None:
    emitted = await emitted_metric_names()
    on_dashboard = dashboard_metric_names(
        dashboard_body(namespace=NAMESPACE, environment="prod", region="us-east-1"), NAMESPACE
    )

    assert set(SCALING_METRICS.values()) == {"RequestCount", "BacklogPerWorker"}
    assert {"RequestCount", "BacklogPerWorker"} <= emitted
    assert {"RequestCount", "BacklogPerWorker"} <= on_dashboard


def test_rendering_is_pure_and_deterministic() -> None:
    first = json.dumps(dashboard_body(namespace="N", environment="e", region="r"))
    second = json.dumps(dashboard_body(namespace="N", environment="e", region="r"))
    assert first == second
    assert alarm_definitions(namespace="N", environment="e") == alarm_definitions(
        namespace="N", environment="e"
    )


def test_cloudformation_placeholders_become_intrinsics() -> None:
    alarms = alarm_definitions(namespace=NAMESPACE, environment="${Environment}")
    refs = {
        dimension["Value"]["Ref"]
        for alarm in alarms
        for dimension in alarm.get("Dimensions", [])
        if isinstance(dimension["Value"], dict) and "Ref" in dimension["Value"]
    }
    refs |= {action["Ref"] for alarm in alarms for action in alarm["AlarmActions"]}

    assert refs <= set(ALARM_PARAMETERS) | {"Environment"}
    assert {"LoadBalancerFullName", "GatewayTargetGroupFullName", "AlarmTopicArn"} <= refs
    assert all(alarm["AlarmName"] == {"Fn::Sub": alarm["AlarmName"]["Fn::Sub"]} for alarm in alarms)
    resources = alarm_resources(namespace=NAMESPACE, environment="prod")
    assert {r["Type"] for r in resources.values()} == {"AWS::CloudWatch::Alarm"}
    assert "Gateway5xxRateAlarm" in resources


def test_alarms_cover_errors_latency_backlog_failures_and_targets() -> None:
    alarms = alarm_definitions(namespace=NAMESPACE, environment="prod")
    latency = next(a for a in alarms if a.get("MetricName") == "Latency")
    rate = next(a for a in alarms if "Metrics" in a)

    assert latency["ExtendedStatistic"] == "p99"
    assert "errors5xx / requests" in rate["Metrics"][0]["Expression"]
    names = {a.get("MetricName") for a in alarms}
    assert {"QueueDepth", "BacklogPerWorker", "JobsFailed", "UnHealthyHostCount"} <= names


async def test_alarms_are_accepted_by_the_cloudwatch_api(cloudwatch: Any) -> None:
    values = {
        "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:hpp-alarms",
        "LoadBalancerFullName": "app/hpp/50dc6c495c0c9188",
        "GatewayTargetGroupFullName": "targetgroup/gateway/73e2d6bc24d8a067",
        "UiTargetGroupFullName": "targetgroup/ui/73e2d6bc24d8a068",
    }
    alarms = json.loads(
        json.dumps(alarm_definitions(namespace=NAMESPACE, environment="moto-alarms")),
        object_hook=lambda o: values[o["Ref"]] if set(o) == {"Ref"} else o,
    )
    for alarm in alarms:
        await cloudwatch.put_metric_alarm(**alarm)

    described = await cloudwatch.describe_alarms(
        AlarmNamePrefix="house-price-predictor-moto-alarms"
    )
    assert len(described["MetricAlarms"]) == len(alarms)


async def test_dashboard_put_and_read_back(moto_server: str, cloudwatch: Any) -> None:
    settings = ObservabilitySettings(aws_endpoint_url=moto_server, metrics_namespace="HPP-Dash")

    # The command is what `hpp dashboard --put` runs: synchronous, with its own event loop.
    exit_code = await asyncio.to_thread(
        run_dashboard_command, put=True, environment="staging", settings=settings
    )
    assert exit_code == 0

    stored = await cloudwatch.get_dashboard(DashboardName=dashboard_name("staging"))
    assert stored["DashboardName"] == "house-price-predictor-staging"
    assert json.loads(stored["DashboardBody"]) == dashboard_body(
        namespace="HPP-Dash", environment="staging", region="us-east-1"
    )


def test_dashboard_command_prints_the_body(capsys: pytest.CaptureFixture[str]) -> None:
    settings = ObservabilitySettings(metrics_namespace="HPP-Print", aws_region="eu-west-1")

    assert run_dashboard_command(put=False, environment="dev", settings=settings) == 0

    printed = json.loads(capsys.readouterr().out)
    assert printed == dashboard_body(namespace="HPP-Print", environment="dev", region="eu-west-1")
    assert printed["widgets"][0]["properties"]["region"] == "eu-west-1"


async def test_hpp_dashboard_put_command(moto_server: str, cloudwatch: Any) -> None:
    env = {
        **os.environ,
        "HPP_AWS_ENDPOINT_URL": moto_server,
        "HPP_ENVIRONMENT": "cli-test",
        "HPP_METRICS_NAMESPACE": "HPP-Cli",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hpp.cli",
        "dashboard",
        "--put",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()

    assert process.returncode == 0, output.decode()
    stored = await cloudwatch.get_dashboard(DashboardName="house-price-predictor-cli-test")
    body = json.loads(stored["DashboardBody"])
    assert body["widgets"][0]["properties"]["metrics"][0][:2] == ["HPP-Cli", "RequestCount"]

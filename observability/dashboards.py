"""The CloudWatch dashboard and alarms, rendered from one definition.

``PANELS`` and ``ALARMS`` below name metrics by the constants in ``sink.py`` (what the
code emits); ``dashboard_body`` renders the dashboard JSON and ``alarm_definitions`` the
``AWS::CloudWatch::Alarm`` Properties that ``infra/`` puts in the monitoring template.
All functions are pure and deterministic.

Placeholders for infra: any string argument may hold CloudFormation ``${...}`` references.
``alarm_definitions(namespace="HousePricePredictor", environment="${Environment}")``
wraps every string containing ``${`` in ``Fn::Sub``, so one template serves every
environment; for the dashboard, wrap the whole body:
``DashboardBody: {"Fn::Sub": json.dumps(dashboard_body(..., environment="${Environment}",
region="${AWS::Region}"))}``. The ALB alarms and widget refer to the parameters in
``ALARM_PARAMETERS`` (``{"Ref": ...}`` in alarms, ``${...}`` in the dashboard): declare them
in the monitoring template and pass the load balancer's and target groups'
``LoadBalancerFullName`` / ``TargetGroupFullName`` attributes and the SNS topic ARN.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from typing import Any

from core.settings import ObservabilitySettings
from observability import sink as cw

GATEWAY, WORKER = "gateway", "worker"
ALB_NAMESPACE = "AWS/ApplicationELB"
PERIOD = 60
# The metric each service's autoscaling tracks (Average: per task per flush interval).
SCALING_METRICS = {GATEWAY: cw.REQUEST_COUNT, WORKER: cw.BACKLOG_PER_WORKER}
ALARM_PARAMETERS = {
    "AlarmTopicArn": "SNS topic the alarms notify.",
    "LoadBalancerFullName": "The ALB's LoadBalancerFullName attribute (app/<name>/<id>).",
    "GatewayTargetGroupFullName": "The gateway target group's TargetGroupFullName attribute.",
    "UiTargetGroupFullName": "The UI target group's TargetGroupFullName attribute.",
}


@dataclass(frozen=True)
class Metric:
    """One metric line: ours (namespace None) by service, or an AWS one by dimensions."""

    name: str
    stat: str
    service: str = GATEWAY
    label: str = ""
    id: str = ""
    namespace: str | None = None
    dimensions: tuple[tuple[str, str], ...] = ()
    visible: bool = True


@dataclass(frozen=True)
class Panel:
    """One dashboard graph."""

    title: str
    metrics: tuple[Metric, ...]
    expression: tuple[str, str] | None = None  # (label, metric math over the ids)


@dataclass(frozen=True)
class Alarm:
    """One alarm on a metric, or on metric math over ``metrics``."""

    key: str
    description: str
    metrics: tuple[Metric, ...]
    threshold: float
    expression: str | None = None
    comparison: str = "GreaterThanThreshold"
    evaluation_periods: int = 5
    datapoints_to_alarm: int = 3
    treat_missing_data: str = "notBreaching"


def _alb(target_group: str) -> tuple[tuple[str, str], ...]:
    return (("TargetGroup", f"${{{target_group}}}"), ("LoadBalancer", "${LoadBalancerFullName}"))


_REQUESTS = Metric(cw.REQUEST_COUNT, "Sum", label="requests", id="requests")
_5XX = Metric(cw.ERRORS_5XX, "Sum", label="5xx", id="errors5xx")
_4XX = Metric(cw.ERRORS_4XX, "Sum", label="4xx", id="errors4xx")

PANELS: tuple[Panel, ...] = (
    Panel("Requests (all gateway tasks)", (_REQUESTS,)),
    Panel(
        "Gateway latency (ms)",
        (
            Metric(cw.LATENCY, "p50", label="p50"),
            Metric(cw.LATENCY, "p90", label="p90"),
            Metric(cw.LATENCY, "p99", label="p99"),
        ),
    ),
    Panel(
        "Errors",
        (_4XX, _5XX, Metric(cw.REQUEST_COUNT, "Sum", id="requests", visible=False)),
        expression=("5xx %", "100 * errors5xx / requests"),
    ),
    Panel(
        "Predictions",
        (
            Metric(cw.PREDICTIONS, "Sum", label="gateway"),
            Metric(cw.PREDICTIONS, "Sum", service=WORKER, label="jobs"),
        ),
    ),
    Panel(
        "Requests per gateway task per interval (autoscaling)",
        (Metric(cw.REQUEST_COUNT, "Average", label="per task"),),
    ),
    Panel("Queue depth", (Metric(cw.QUEUE_DEPTH, "Maximum", service=WORKER, label="depth"),)),
    Panel(
        "Backlog per worker (autoscaling)",
        (Metric(cw.BACKLOG_PER_WORKER, "Average", service=WORKER, label="backlog"),),
    ),
    Panel("Rows scored", (Metric(cw.ROWS_SCORED, "Sum", service=WORKER, label="rows"),)),
    Panel("Jobs failed", (Metric(cw.JOBS_FAILED, "Sum", service=WORKER, label="failed"),)),
    Panel(
        "Live error from sale prices ($)",
        (
            Metric(cw.LIVE_MAE, "Average", label="MAE"),
            Metric(cw.LIVE_RMSE, "Average", label="RMSE"),
        ),
    ),
    Panel(
        "Live R² and interval coverage",
        (
            Metric(cw.LIVE_R2, "Average", label="R²"),
            Metric(cw.LIVE_COVERAGE, "Average", label="coverage"),
            Metric(cw.LIVE_GATE_BREACHED, "Maximum", label="gate breached"),
        ),
    ),
    Panel(
        "Drift: largest PSI per feature (0.2 = shifted)",
        (
            Metric(cw.DRIFT_MAX_PSI, "Maximum", label="live traffic"),
            Metric(cw.DRIFT_MAX_PSI, "Maximum", service=WORKER, label="jobs"),
        ),
    ),
    Panel(
        "Continuous training: retrains, promotions, rollbacks",
        (
            Metric(cw.RETRAINS_REQUESTED, "Sum", service=WORKER, label="retrains started"),
            Metric(cw.MODEL_PROMOTIONS, "Sum", service=WORKER, label="promotions"),
            Metric(cw.MODEL_ROLLBACKS, "Sum", service=WORKER, label="rollbacks"),
        ),
    ),
    Panel(
        "Unhealthy ALB targets",
        (
            Metric(
                "UnHealthyHostCount",
                "Maximum",
                label="gateway",
                namespace=ALB_NAMESPACE,
                dimensions=_alb("GatewayTargetGroupFullName"),
            ),
            Metric(
                "UnHealthyHostCount",
                "Maximum",
                label="ui",
                namespace=ALB_NAMESPACE,
                dimensions=_alb("UiTargetGroupFullName"),
            ),
        ),
    ),
)

ALARMS: tuple[Alarm, ...] = (
    Alarm(
        "Gateway5xxRate",
        "More than 5% of gateway requests failed with a 5xx.",
        (_REQUESTS, _5XX),
        threshold=5,
        expression="100 * errors5xx / requests",
    ),
    Alarm(
        "GatewayLatencyP99",
        "Gateway p99 latency above 500 ms.",
        (Metric(cw.LATENCY, "p99"),),
        threshold=500,
    ),
    Alarm(
        "QueueDepthHigh",
        "More than 100 messages waiting in the batch queue.",
        (Metric(cw.QUEUE_DEPTH, "Maximum", service=WORKER),),
        threshold=100,
    ),
    Alarm(
        "QueueBacklogAge",
        "The batch queue has not been empty for 30 minutes.",
        (Metric(cw.BACKLOG_PER_WORKER, "Minimum", service=WORKER),),
        threshold=0,
        evaluation_periods=30,
        datapoints_to_alarm=30,
    ),
    Alarm(
        "JobsFailing",
        "A batch job failed.",
        (Metric(cw.JOBS_FAILED, "Sum", service=WORKER),),
        threshold=0,
        evaluation_periods=1,
        datapoints_to_alarm=1,
    ),
    Alarm(
        "LiveAccuracyGateBreached",
        "Live accuracy from reported sale prices breaks a training gate (R², MAE or RMSE).",
        (Metric(cw.LIVE_GATE_BREACHED, "Maximum"),),
        threshold=0,
        evaluation_periods=3,
        datapoints_to_alarm=2,
    ),
    Alarm(
        "LiveDriftHigh",
        "Live traffic's largest feature PSI above 0.2 for 3 consecutive periods "
        "(requests a retrain through EventBridge).",
        (Metric(cw.DRIFT_MAX_PSI, "Maximum"),),
        threshold=0.2,
        evaluation_periods=3,
        datapoints_to_alarm=3,
    ),
    Alarm(
        "ModelRolledBack",
        "The loop rolled the champion back to the previous version.",
        (Metric(cw.MODEL_ROLLBACKS, "Sum", service=WORKER),),
        threshold=0,
        evaluation_periods=1,
        datapoints_to_alarm=1,
    ),
    Alarm(
        "GatewayUnhealthyTargets",
        "A gateway task fails its ALB health check.",
        (
            Metric(
                "UnHealthyHostCount",
                "Maximum",
                namespace=ALB_NAMESPACE,
                dimensions=_alb("GatewayTargetGroupFullName"),
            ),
        ),
        threshold=0,
    ),
    Alarm(
        "UiUnhealthyTargets",
        "A UI task fails its ALB health check.",
        (
            Metric(
                "UnHealthyHostCount",
                "Maximum",
                namespace=ALB_NAMESPACE,
                dimensions=_alb("UiTargetGroupFullName"),
            ),
        ),
        threshold=0,
    ),
)


def dashboard_body(*, namespace: str, environment: str, region: str) -> dict[str, Any]:
    """The CloudWatch dashboard body (the JSON object ``PutDashboard`` takes)."""
    widgets = []
    for index, panel in enumerate(PANELS):
        lines: list[list[Any]] = []
        if panel.expression:
            label, expression = panel.expression
            lines.append([{"expression": expression, "label": label, "id": "expr"}])
        for metric in panel.metrics:
            options: dict[str, Any] = {"stat": metric.stat}
            if metric.label:
                options["label"] = metric.label
            if metric.id:
                options["id"] = metric.id
            if not metric.visible:
                options["visible"] = False
            lines.append([*_metric_identity(metric, namespace, environment), options])
        widgets.append(
            {
                "type": "metric",
                "x": (index % 2) * 12,
                "y": (index // 2) * 6,
                "width": 12,
                "height": 6,
                "properties": {
                    "title": panel.title,
                    "region": region,
                    "view": "timeSeries",
                    "stacked": False,
                    "period": PERIOD,
                    "metrics": lines,
                },
            }
        )
    return {"start": "-PT3H", "periodOverride": "inherit", "widgets": widgets}


def alarm_definitions(*, namespace: str, environment: str) -> list[dict[str, Any]]:
    """``AWS::CloudWatch::Alarm`` Properties for every alarm, in ``ALARMS`` order."""
    return [_alarm_properties(alarm, namespace, environment) for alarm in ALARMS]


def alarm_resources(*, namespace: str, environment: str) -> dict[str, dict[str, Any]]:
    """The alarms as CloudFormation resources keyed by logical id (``<Key>Alarm``)."""
    return {
        f"{alarm.key}Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": properties}
        for alarm, properties in zip(
            ALARMS, alarm_definitions(namespace=namespace, environment=environment), strict=True
        )
    }


def metric_names_used() -> set[str]:
    """Our namespace's metric names that the dashboard or the alarms refer to."""
    metrics = [m for panel in PANELS for m in panel.metrics]
    metrics += [m for alarm in ALARMS for m in alarm.metrics]
    return {m.name for m in metrics if m.namespace is None}


def run_dashboard_command(*, put: bool, environment: str, settings: ObservabilitySettings) -> int:
    """``hpp dashboard``: print the body as JSON, or put it as house-price-predictor-<env>."""
    body = dashboard_body(
        namespace=settings.metrics_namespace, environment=environment, region=settings.aws_region
    )
    if not put:
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
        return 0
    name = dashboard_name(environment)
    asyncio.run(put_dashboard(name, body, settings=settings))
    sys.stdout.write(f"put dashboard {name}\n")
    return 0


def dashboard_name(environment: str) -> str:
    """The dashboard's name for an environment."""
    return f"house-price-predictor-{environment}"


async def put_dashboard(
    name: str, body: dict[str, Any], *, settings: ObservabilitySettings
) -> None:
    """Create or replace a dashboard through aiobotocore (any endpoint, moto included)."""
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    async with get_session().create_client(
        "cloudwatch",
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        config=AioConfig(retries={"max_attempts": 2}),
    ) as client:
        await client.put_dashboard(DashboardName=name, DashboardBody=json.dumps(body))


def _metric_identity(metric: Metric, namespace: str, environment: str) -> list[str]:
    if metric.namespace is not None:
        return [metric.namespace, metric.name, *[part for dim in metric.dimensions for part in dim]]
    return [namespace, metric.name, "Service", metric.service, "Environment", environment]


def _alarm_properties(alarm: Alarm, namespace: str, environment: str) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "AlarmName": _sub(f"house-price-predictor-{environment}-{alarm.key}"),
        "AlarmDescription": alarm.description,
        "ComparisonOperator": alarm.comparison,
        "Threshold": alarm.threshold,
        "EvaluationPeriods": alarm.evaluation_periods,
        "DatapointsToAlarm": alarm.datapoints_to_alarm,
        "TreatMissingData": alarm.treat_missing_data,
        "AlarmActions": [{"Ref": "AlarmTopicArn"}],
        "OKActions": [{"Ref": "AlarmTopicArn"}],
    }
    if alarm.expression is None:
        (metric,) = alarm.metrics
        properties |= {
            "Namespace": _sub(metric.namespace or namespace),
            "MetricName": metric.name,
            "Dimensions": _dimensions(metric, environment),
            "Period": PERIOD,
            **_statistic(metric.stat),
        }
        return properties
    queries: list[dict[str, Any]] = [
        {"Id": "expr", "Expression": alarm.expression, "Label": alarm.key, "ReturnData": True}
    ]
    for metric in alarm.metrics:
        queries.append(
            {
                "Id": metric.id,
                "MetricStat": {
                    "Metric": {
                        "Namespace": _sub(metric.namespace or namespace),
                        "MetricName": metric.name,
                        "Dimensions": _dimensions(metric, environment),
                    },
                    "Period": PERIOD,
                    "Stat": metric.stat,
                },
                "ReturnData": False,
            }
        )
    return properties | {"Metrics": queries}


def _dimensions(metric: Metric, environment: str) -> list[dict[str, Any]]:
    if metric.namespace is not None:
        return [{"Name": name, "Value": _ref(value)} for name, value in metric.dimensions]
    return [
        {"Name": "Service", "Value": metric.service},
        {"Name": "Environment", "Value": _ref(environment)},
    ]


def _statistic(stat: str) -> dict[str, str]:
    return {"ExtendedStatistic": stat} if stat.startswith("p") else {"Statistic": stat}


def _sub(value: str) -> str | dict[str, str]:
    return {"Fn::Sub": value} if "${" in value else value


def _ref(value: str) -> str | dict[str, str]:
    if value.startswith("${") and value.endswith("}") and value.count("${") == 1:
        return {"Ref": value[2:-1]}
    return _sub(value)

"""The services stack against the code: settings names, CLI commands, metrics, routing."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from core.settings import environment_names
from observability import dashboards
from tests.support.cloudformation import SECRET_SETTINGS, resources_of_type
from tests.support.hpp_cli import cli_commands

LOG_GROUPS = {
    "inference-api": "/ecs/inference-api",
    "ui": "/ecs/ui",
    "worker": "/ecs/worker",
    "trainer": "/ecs/trainer",
    "notifier": "/ecs/notifier",
}


def containers(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every container definition of the services stack, by container name."""
    found = {}
    for task in resources_of_type(template, "AWS::ECS::TaskDefinition").values():
        for container in task["Properties"]["ContainerDefinitions"]:
            found[container["Name"]] = container
    return found


def test_every_environment_name_is_a_settings_field(templates) -> None:
    known = environment_names()
    for name, container in containers(templates["services"]).items():
        env = {entry["Name"] for entry in container.get("Environment", [])}
        secrets = {entry["Name"] for entry in container.get("Secrets", [])}
        assert env | secrets <= known, f"{name}: unknown {sorted((env | secrets) - known)}"
        assert env, name


def test_secrets_come_from_secrets_manager_never_plain_environment(templates) -> None:
    seen = set()
    for name, container in containers(templates["services"]).items():
        env = {entry["Name"] for entry in container.get("Environment", [])}
        secrets = {entry["Name"]: entry["ValueFrom"] for entry in container.get("Secrets", [])}
        assert not env & SECRET_SETTINGS, f"{name} has a secret in plain environment"
        assert set(secrets) <= SECRET_SETTINGS
        for value_from in secrets.values():
            assert "Fn::ImportValue" in value_from, f"{name}: {value_from}"
        seen |= set(secrets)
    assert seen == SECRET_SETTINGS


def test_each_service_gets_only_the_secrets_it_needs(templates) -> None:
    by_container = {
        name: {entry["Name"] for entry in container.get("Secrets", [])}
        for name, container in containers(templates["services"]).items()
    }
    assert by_container == {
        "inference-api": {"HPP_REDIS_URL", "HPP_API_KEYS", "HPP_AUDIT_KEY"},
        "ui": {"HPP_UI_API_KEY", "HPP_UI_STORAGE_SECRET"},
        "worker": {"HPP_REDIS_URL", "HPP_AUDIT_KEY"},
        "trainer": {"HPP_REDIS_URL"},  # feedback rows; writes no audit records
        "notifier": {"HPP_REDIS_URL", "HPP_WEBHOOK_SECRETS"},  # signs each key's webhooks
    }


def test_image_commands_exist_in_the_hpp_cli(templates) -> None:
    commands = cli_commands()
    used = {container["Command"][0] for container in containers(templates["services"]).values()}
    assert used == {"gateway", "ui", "worker", "retrain", "notifier"}
    assert used <= commands


def test_containers_are_hardened_and_log_to_their_groups(templates) -> None:
    services = templates["services"]
    groups = {
        logical_id: group["Properties"]["LogGroupName"]
        for logical_id, group in resources_of_type(services, "AWS::Logs::LogGroup").items()
    }
    for name, container in containers(services).items():
        assert container["ReadonlyRootFilesystem"] is True
        assert container["User"].split(":")[0] not in {"0", "root"}
        options = container["LogConfiguration"]["Options"]
        assert container["LogConfiguration"]["LogDriver"] == "awslogs"
        assert groups[options["awslogs-group"]["Ref"]] == LOG_GROUPS[name]
        if name != "trainer":  # a run-to-completion task (RunTask), not a service to replace
            assert container["HealthCheck"]["Command"][:2] == ["CMD", "hpp-healthcheck"]
    for group in resources_of_type(services, "AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_task_sizes_match_the_design(templates) -> None:
    tasks = resources_of_type(templates["services"], "AWS::ECS::TaskDefinition")
    sizes = {
        task["Properties"]["ContainerDefinitions"][0]["Name"]: (
            task["Properties"]["Cpu"],
            task["Properties"]["Memory"],
        )
        for task in tasks.values()
    }
    assert sizes["inference-api"] == ("512", "1024")
    assert sizes["ui"] == ("256", "512")


def test_execution_and_task_roles_are_separate_per_service(templates) -> None:
    tasks = resources_of_type(templates["services"], "AWS::ECS::TaskDefinition")
    roles = []
    for task in tasks.values():
        execution = task["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0]
        task_role = task["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
        assert execution != task_role
        roles += [execution, task_role]
    assert len(set(roles)) == len(roles) == 8


def test_services_run_private_and_workers_on_spot_with_an_on_demand_base(templates) -> None:
    services = resources_of_type(templates["services"], "AWS::ECS::Service")
    for service in services.values():
        awsvpc = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert awsvpc["AssignPublicIp"] == "DISABLED"
    strategy = {
        item["CapacityProvider"]: item
        for item in services["WorkerService"]["Properties"]["CapacityProviderStrategy"]
    }
    assert set(strategy) == {"FARGATE", "FARGATE_SPOT"}
    assert strategy["FARGATE"]["Base"] == {"Ref": "WorkerOnDemandBase"}


def test_autoscaling_tracks_the_metrics_the_code_emits(templates) -> None:
    policies = resources_of_type(
        templates["services"], "AWS::ApplicationAutoScaling::ScalingPolicy"
    )
    tracked = {}
    for policy in policies.values():
        spec = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"][
            "CustomizedMetricSpecification"
        ]
        dimensions = {d["Name"]: d["Value"] for d in spec["Dimensions"]}
        assert dimensions["Environment"] == {"Ref": "EnvironmentName"}
        assert spec["Namespace"] == {"Ref": "MetricsNamespace"}
        tracked[dimensions["Service"]] = spec["MetricName"]
    assert tracked == dashboards.SCALING_METRICS
    assert set(tracked.values()) <= dashboards.metric_names_used()


def alb_router(template: dict[str, Any]) -> Callable[[str], str]:
    """Where the HTTPS listener's rules send a path (target group id or action type)."""
    rules = resources_of_type(template, "AWS::ElasticLoadBalancingV2::ListenerRule")
    routes = {}
    for rule in rules.values():
        paths = rule["Properties"]["Conditions"][0]["PathPatternConfig"]["Values"]
        assert len(paths) <= 5  # the ALB's limit per condition
        action = rule["Properties"]["Actions"][0]
        target = action.get("TargetGroupArn", {}).get("Ref", action["Type"])
        routes[rule["Properties"]["Priority"]] = (target, paths)

    def route(path: str) -> str:
        for _, (target, patterns) in sorted(routes.items()):
            if any(re.fullmatch(p.replace("*", ".*"), path) for p in patterns):
                return target
        return "default"

    return route


def test_load_balancer_routes_api_paths_to_the_gateway_and_the_rest_to_the_ui(templates) -> None:
    route = alb_router(templates["services"])
    for path in (
        "/v1/predict",
        "/v1/jobs/abc/events",
        "/healthz",
        "/readyz",
        "/docs",
        "/docs/oauth2-redirect",
        "/openapi.json",
        "/redoc",
        "/v2/models/house/infer",
    ):
        assert route(path) == "GatewayTargetGroup", path
    for path in ("/", "/jobs", "/_nicegui/ws"):
        assert route(path) == "UiTargetGroup", path
    assert route("/metrics") == "fixed-response"


def test_every_gateway_route_reaches_the_gateway(templates, tmp_path) -> None:
    from core.settings import (
        AppSettings,
        CoreSettings,
        GatewaySettings,
        ObservabilitySettings,
        UISettings,
        WorkerSettings,
    )
    from gateway.main import create_app

    settings = AppSettings(
        core=CoreSettings(state_dir=tmp_path),
        gateway=GatewaySettings(api_keys={"test": "0" * 64}),
        worker=WorkerSettings(),
        ui=UISettings(),
        observability=ObservabilitySettings(),
    )
    paths = set(create_app(settings).openapi()["paths"]) | {"/docs", "/openapi.json"}
    route = alb_router(templates["services"])
    assert "/v1/predict" in paths
    for path in paths - {"/metrics"}:
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        assert route(concrete) == "GatewayTargetGroup", path


def test_cloud_map_names_the_gateway_and_ui_in_the_namespace(templates) -> None:
    namespace = resources_of_type(
        templates["network"], "AWS::ServiceDiscovery::PrivateDnsNamespace"
    )
    assert [n["Properties"]["Name"] for n in namespace.values()] == [
        "house-price-predictor-services"
    ]
    names = {
        s["Properties"]["Name"]
        for s in resources_of_type(templates["services"], "AWS::ServiceDiscovery::Service").values()
    }
    assert names == {"inference-api", "ui"}
    ui = containers(templates["services"])["ui"]
    gateway_url = {e["Name"]: e["Value"] for e in ui["Environment"]}["HPP_GATEWAY_URL"]
    assert gateway_url == "http://inference-api.house-price-predictor-services:8000"


def test_autoscaled_services_leave_the_desired_count_to_autoscaling(templates) -> None:
    services = resources_of_type(templates["services"], "AWS::ECS::Service")
    targets = resources_of_type(
        templates["services"], "AWS::ApplicationAutoScaling::ScalableTarget"
    )
    scaled = {
        t["Properties"]["ResourceId"]["Fn::Sub"].split("${")[-1].split(".")[0]
        for t in targets.values()
    }
    assert scaled == {"GatewayService", "WorkerService"}
    for name in scaled:
        assert "DesiredCount" not in services[name]["Properties"], name
    assert services["UiService"]["Properties"]["DesiredCount"] == {"Ref": "UiTasks"}


def test_the_gateway_lets_the_ui_key_act_for_each_browser(templates) -> None:
    gateway = containers(templates["services"])["inference-api"]
    env = {entry["Name"]: entry["Value"] for entry in gateway["Environment"]}
    parameters = templates["services"]["Parameters"]
    assert env["HPP_DELEGATE_KEY_NAMES"] == {"Ref": "DelegateKeyNames"}
    assert parameters["DelegateKeyNames"]["Default"] == '["ui"]'
    assert "HPP_DELEGATE_KEY_NAMES" not in {
        entry["Name"] for entry in containers(templates["services"])["ui"]["Environment"]
    }

"""Parameter files per environment against the templates, and the deploy commands."""

from __future__ import annotations

import pytest

from infra import deploy
from tests.support.cloudformation import STACKS

ENVIRONMENTS = ("staging", "production")
DEPLOY_TIME = {
    "services": {"ImageTag"},
    "monitoring": {"LoadBalancerFullName", "GatewayTargetGroupFullName", "UiTargetGroupFullName"},
}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("stack", STACKS)
def test_parameter_files_name_only_template_parameters_and_fill_the_required(
    templates, environment: str, stack: str
) -> None:
    declared = templates[stack]["Parameters"]
    given = set(deploy.load_parameters(environment, stack)) | DEPLOY_TIME.get(stack, set())
    assert given <= set(declared), sorted(given - set(declared))
    required = {name for name, spec in declared.items() if "Default" not in spec}
    assert required <= given, sorted(required - given)
    for name, value in deploy.load_parameters(environment, stack).items():
        allowed = declared[name].get("AllowedValues")
        if allowed:
            assert value in [str(v) for v in allowed], (name, value)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_environment_is_consistent_across_its_stacks(environment: str) -> None:
    params = {stack: deploy.load_parameters(environment, stack) for stack in STACKS}
    assert {p["EnvironmentName"] for p in params.values()} == {environment}
    # S3 expires job blobs when the job records expire.
    assert int(params["data"]["ResultRetentionDays"]) * 86400 == int(
        params["services"]["ResultTtlSeconds"]
    )
    assert params["services"]["MetricsNamespace"] == params["monitoring"]["MetricsNamespace"]
    services = params["services"]
    assert int(services["GatewayMinTasks"]) <= int(services["GatewayMaxTasks"])
    assert 1 <= int(services["WorkerMinTasks"]) <= int(services["WorkerMaxTasks"])


def test_production_keeps_two_nat_gateways_and_deletion_protection() -> None:
    network = deploy.load_parameters("production", "network")
    assert network["SingleNatGateway"] == "false"
    assert network["LoadBalancerDeletionProtection"] == "true"


def test_dry_run_prints_one_deploy_per_stack_in_dependency_order(capsys) -> None:
    assert deploy.main(["staging", "--image-tag", "0123abc", "--dry-run"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("--stack-name ")[1].split()[0] for line in lines] == [
        "hpp-staging-network",
        "hpp-staging-data",
        "hpp-staging-services",
        "hpp-staging-monitoring",
    ]
    assert "ImageTag=0123abc" in lines[2]
    assert all("aws cloudformation deploy" in line for line in lines)
    assert "LoadBalancerFullName=<hpp-staging-network:LoadBalancerFullName>" in lines[3]


def test_monitoring_gets_its_wiring_from_the_other_stacks_outputs() -> None:
    outputs = {
        "hpp-production-network": {"LoadBalancerFullName": "app/alb/1"},
        "hpp-production-services": {
            "GatewayTargetGroupFullName": "targetgroup/gw/2",
            "UiTargetGroupFullName": "targetgroup/ui/3",
        },
    }
    parameters = deploy.stack_parameters(
        "production", "monitoring", image_tag="x", outputs=outputs.__getitem__
    )
    assert parameters["LoadBalancerFullName"] == "app/alb/1"
    assert parameters["GatewayTargetGroupFullName"] == "targetgroup/gw/2"
    assert parameters["UiTargetGroupFullName"] == "targetgroup/ui/3"

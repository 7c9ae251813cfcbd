"""The four stacks created in a moto server, in deploy order, to check the wiring.

moto lacks some resource types (see MOTO_SKIPPED_TYPES); those are dropped and references to
them replaced by placeholders (tests/support/moto_compat.py). Everything else is created for
real, so exports, imports, references and parameters must line up across the stacks.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from infra import deploy
from tests.support.cloudformation import STACKS, load_template
from tests.support.moto_compat import moto_compatible, moto_supported_types

pytestmark = pytest.mark.slow

ENVIRONMENT = "staging"
# A region of its own keeps these stacks apart from other tests on the shared moto server.
REGION = "eu-west-1"
IMAGE_TAG = "0123456789abcdef"
# Resource types our templates use that moto 5.2 cannot create (skipped in these tests;
# cfn-lint and checkov still cover them).
MOTO_SKIPPED_TYPES = {
    "AWS::S3::BucketPolicy",
    "AWS::ServiceDiscovery::PrivateDnsNamespace",
    "AWS::ServiceDiscovery::Service",
    "AWS::SecretsManager::Secret",
    "AWS::ElastiCache::SubnetGroup",
    "AWS::ElastiCache::ParameterGroup",
    "AWS::ElastiCache::ReplicationGroup",
    "AWS::ApplicationAutoScaling::ScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
    "AWS::CloudWatch::Alarm",
    "AWS::SNS::Subscription",
    "AWS::Scheduler::Schedule",  # the loop's weekly retrain and hourly check
}


@pytest.fixture(scope="module")
def aws(moto_server: str) -> dict[str, Any]:
    """boto3 clients on the moto server."""
    kwargs = {"endpoint_url": moto_server, "region_name": REGION}
    names = (
        "cloudformation",
        "ec2",
        "ecs",
        "ecr",
        "s3",
        "elbv2",
        "logs",
        "iam",
        "cloudwatch",
        "sns",
        "kms",
        "acm",
        "events",
    )
    return {name: boto3.client(name, **kwargs) for name in names}


@pytest.fixture(scope="module")
def created(aws: dict[str, Any]) -> dict[str, Any]:
    """Create the stacks in deploy order; their outputs and the skipped resources."""
    supported = moto_supported_types()
    cfn = aws["cloudformation"]
    outputs: dict[str, dict[str, str]] = {}
    skipped: dict[str, dict[str, str]] = {}
    # moto checks that the listener's certificate exists.
    certificate = aws["acm"].request_certificate(DomainName="hpp.example.com")["CertificateArn"]
    for stack in STACKS:
        parameters = deploy.stack_parameters(
            ENVIRONMENT,
            stack,
            image_tag=IMAGE_TAG,
            outputs=lambda name: outputs[name.removeprefix(f"hpp-{ENVIRONMENT}-")],
        )
        if stack == "network":
            parameters["CertificateArn"] = certificate
        template, skipped[stack] = moto_compatible(
            load_template(stack), supported=supported, parameters=parameters
        )
        name = deploy.stack_name(ENVIRONMENT, stack)
        cfn.create_stack(
            StackName=name,
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_IAM"],
        )
        described = cfn.describe_stacks(StackName=name)["Stacks"][0]
        assert described["StackStatus"] == "CREATE_COMPLETE", (stack, described)
        outputs[stack] = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    return {"outputs": outputs, "skipped": skipped}


def test_every_stack_creates_and_only_known_types_are_skipped(created) -> None:
    skipped_types = {kind for stack in created["skipped"].values() for kind in stack.values()}
    assert skipped_types == MOTO_SKIPPED_TYPES, sorted(skipped_types ^ MOTO_SKIPPED_TYPES)
    assert set(created["outputs"]) == set(STACKS)


def test_network_builds_a_vpc_with_private_subnets_in_two_azs(created, aws) -> None:
    network = created["outputs"]["network"]
    subnets = aws["ec2"].describe_subnets(SubnetIds=network["PrivateSubnets"].split(","))
    assert {s["VpcId"] for s in subnets["Subnets"]} == {network["VpcId"]}
    assert len({s["AvailabilityZone"] for s in subnets["Subnets"]}) == 2
    assert {s["CidrBlock"] for s in subnets["Subnets"]} == {"10.0.128.0/20", "10.0.144.0/20"}
    vpc = aws["ec2"].describe_vpcs(VpcIds=[network["VpcId"]])["Vpcs"][0]
    assert vpc["CidrBlock"] == "10.0.0.0/16"


def test_data_creates_the_repository_and_bucket_the_services_use(created, aws) -> None:
    data = created["outputs"]["data"]
    repository = aws["ecr"].describe_repositories(
        repositoryNames=[f"house-price-predictor-{ENVIRONMENT}"]
    )["repositories"][0]
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert data["RepositoryUri"] == repository["repositoryUri"]
    aws["s3"].head_bucket(Bucket=data["JobBucketName"])


def test_data_creates_the_audit_bucket_encrypted_with_the_stack_key(created, aws) -> None:
    # moto's CloudFormation applies only a bucket's encryption and tags: Object Lock and
    # versioning are checked in the template (tests/infra/test_stacks.py), and the writer is
    # tested against a bucket locked through the API (tests/audit/test_s3_store.py).
    data = created["outputs"]["data"]
    bucket = data["AuditBucketName"]
    assert bucket != data["JobBucketName"]
    sse = aws["s3"].get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    rule = sse["Rules"][0]["ApplyServerSideEncryptionByDefault"]
    assert rule["SSEAlgorithm"] == "aws:kms"
    assert rule["KMSMasterKeyID"] == data["KeyArn"]


def test_data_creates_the_job_notices_topic_encrypted_with_the_stack_key(created, aws) -> None:
    data = created["outputs"]["data"]
    attributes = aws["sns"].get_topic_attributes(TopicArn=data["NoticesTopicArn"])["Attributes"]
    assert data["NoticesTopicArn"].endswith(f"hpp-{ENVIRONMENT}-job-notices")
    assert data["KeyArn"].endswith(attributes["KmsMasterKeyId"])  # the key (Ref: its id)


def test_task_definitions_run_the_pushed_image_with_imported_wiring(created, aws) -> None:
    data = created["outputs"]["data"]
    families = {f"hpp-{ENVIRONMENT}-{name}": name for name in ("inference-api", "ui", "worker")}
    for family, command in families.items():
        task = aws["ecs"].describe_task_definition(taskDefinition=family)["taskDefinition"]
        container, *beside = task["containerDefinitions"]
        if command == "inference-api":  # the job notifier runs beside each gateway
            [notifier] = beside
            assert notifier["command"] == ["notifier"]
            assert notifier["image"] == container["image"]
            notifier_env = {e["name"]: e["value"] for e in notifier["environment"]}
            assert notifier_env["HPP_NOTICES_TOPIC_ARN"] == data["NoticesTopicArn"]
        else:
            assert beside == []
        assert container["image"] == f"{data['RepositoryUri']}:{IMAGE_TAG}"
        assert container["command"] == [command.replace("inference-api", "gateway")]
        env = {e["name"]: e["value"] for e in container.get("environment", [])}
        assert env["HPP_ENVIRONMENT"] == ENVIRONMENT
        if "HPP_BLOB_URL" in env:
            assert env["HPP_BLOB_URL"] == f"s3://{data['JobBucketName']}/jobs"
        if "HPP_AUDIT_URL" in env:
            assert env["HPP_AUDIT_URL"] == f"s3://{data['AuditBucketName']}/audit"


def test_services_run_their_task_definitions_in_the_cluster(created, aws) -> None:
    # moto's CloudFormation ECS::Service ignores NetworkConfiguration and LoadBalancers, so
    # those are checked in the template tests; here the service/task wiring is real.
    cluster = created["outputs"]["services"]["ClusterName"]
    described = aws["ecs"].describe_services(
        cluster=cluster, services=["inference-api", "ui", "worker"]
    )["services"]
    families = {
        s["serviceName"]: s["taskDefinition"].split("/")[-1].split(":")[0] for s in described
    }
    assert families == {
        name: f"hpp-{ENVIRONMENT}-{name}" for name in ("inference-api", "ui", "worker")
    }
    params = deploy.load_parameters(ENVIRONMENT, "services")
    desired = {s["serviceName"]: s["desiredCount"] for s in described}
    assert desired["ui"] == int(params["UiTasks"])  # the others belong to autoscaling


def test_https_listener_routes_to_the_service_target_groups(created, aws) -> None:
    listener = created["outputs"]["network"]["HttpsListenerArn"]
    rules = aws["elbv2"].describe_rules(ListenerArn=listener)["Rules"]
    forwards = {
        rule["Priority"]: rule["Actions"][0].get("TargetGroupArn")
        for rule in rules
        if rule["Priority"] != "default"
    }
    groups = aws["elbv2"].describe_target_groups(
        TargetGroupArns=[arn for arn in forwards.values() if arn]
    )["TargetGroups"]
    by_arn = {g["TargetGroupArn"]: g for g in groups}
    gateway, ui = by_arn[forwards["10"]], by_arn[forwards["100"]]
    assert (gateway["Port"], gateway["HealthCheckPath"]) == (8000, "/healthz")
    assert (ui["Port"], ui["HealthCheckPath"]) == (8501, "/")
    assert gateway["VpcId"] == ui["VpcId"] == created["outputs"]["network"]["VpcId"]


def test_monitoring_puts_the_dashboard_for_this_environment(created, aws) -> None:
    body = json.loads(
        aws["cloudwatch"].get_dashboard(DashboardName=f"house-price-predictor-{ENVIRONMENT}")[
            "DashboardBody"
        ]
    )
    lines = [line for w in body["widgets"] for line in w["properties"]["metrics"]]
    expected = [
        "HousePricePredictor",
        "RequestCount",
        "Service",
        "gateway",
        "Environment",
        ENVIRONMENT,
    ]
    assert lines[0][:6] == expected
    assert "${" not in json.dumps(body)
    topic = created["outputs"]["monitoring"]["AlarmTopicArn"]
    assert topic.startswith(f"arn:aws:sns:{REGION}:")
    assert {w["properties"]["region"] for w in body["widgets"]} == {REGION}


def test_the_live_alarms_start_the_trainer_task(created, aws) -> None:
    rules = {
        rule["Name"]: rule
        for rule in aws["events"].list_rules(NamePrefix=f"hpp-{ENVIRONMENT}-retrain")["Rules"]
    }
    assert set(rules) == {
        f"hpp-{ENVIRONMENT}-retrain-on-accuracy",
        f"hpp-{ENVIRONMENT}-retrain-on-drift",
    }
    for name, rule in rules.items():
        pattern = json.loads(rule["EventPattern"])
        assert pattern["detail"]["state"] == {"value": ["ALARM"]}
        (target,) = aws["events"].list_targets_by_rule(Rule=name)["Targets"]
        family = target["EcsParameters"]["TaskDefinitionArn"].rsplit("/", 1)[1]
        assert family.startswith(f"hpp-{ENVIRONMENT}-trainer")
        command = json.loads(target["Input"])["containerOverrides"][0]["command"]
        assert command[:2] == ["retrain", "--kind"]

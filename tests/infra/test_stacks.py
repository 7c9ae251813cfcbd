"""What the security review asks of the network and data stacks, read from the templates."""

from __future__ import annotations

from typing import Any

from core.settings import GatewaySettings
from tests.support.cloudformation import resources_of_type

STAR_ALLOWED = {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"}


def one(template: dict[str, Any], kind: str) -> dict[str, Any]:
    """The only resource of a type (its Properties)."""
    (resource,) = resources_of_type(template, kind).values()
    return resource["Properties"]


def test_vpc_spans_two_azs_with_private_subnets_for_tasks(templates) -> None:
    network = templates["network"]
    assert one(network, "AWS::EC2::VPC")["CidrBlock"] == {"Ref": "VpcCidr"}
    assert network["Parameters"]["VpcCidr"]["Default"] == "10.0.0.0/16"
    subnets = resources_of_type(network, "AWS::EC2::Subnet")
    zones = {
        name: s["Properties"]["AvailabilityZone"]["Fn::Select"][0] for name, s in subnets.items()
    }
    assert zones == {
        "PublicSubnetA": 0,
        "PublicSubnetB": 1,
        "PrivateSubnetA": 0,
        "PrivateSubnetB": 1,
    }
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is False for s in subnets.values())
    assert len(resources_of_type(network, "AWS::EC2::NatGateway")) == 2


def test_security_groups_name_every_outbound_path(templates) -> None:
    groups = resources_of_type(templates["network"], "AWS::EC2::SecurityGroup")
    for name, group in groups.items():
        egress = group["Properties"]["SecurityGroupEgress"]  # inline: no default allow-all
        assert all(
            rule["IpProtocol"] != "-1" or rule["CidrIp"] == "127.0.0.1/32" for rule in egress
        ), name
    assert not resources_of_type(templates["network"], "AWS::EC2::SecurityGroupEgress")
    inline_ingress = {n for n, g in groups.items() if "SecurityGroupIngress" in g["Properties"]}
    assert inline_ingress == {"LoadBalancerSecurityGroup"}


def test_load_balancer_redirects_http_enforces_tls12_logs_and_drops_bad_headers(
    templates,
) -> None:
    network = templates["network"]
    attributes = {
        a["Key"]: a["Value"]
        for a in one(network, "AWS::ElasticLoadBalancingV2::LoadBalancer")["LoadBalancerAttributes"]
    }
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    listeners = {
        item["Properties"]["Port"]: item["Properties"]
        for item in resources_of_type(network, "AWS::ElasticLoadBalancingV2::Listener").values()
    }
    redirect = listeners[80]["DefaultActions"][0]
    assert redirect["Type"] == "redirect"
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    assert listeners[443]["Protocol"] == "HTTPS"
    assert "TLS13-1-2" in listeners[443]["SslPolicy"]
    assert listeners[443]["Certificates"] == [{"CertificateArn": {"Ref": "CertificateArn"}}]


def test_redis_is_multi_az_encrypted_authenticated_and_never_evicts(templates) -> None:
    data = templates["data"]
    redis = one(data, "AWS::ElastiCache::ReplicationGroup")
    assert redis["MultiAZEnabled"] is True
    assert redis["AutomaticFailoverEnabled"] is True
    assert redis["NumCacheClusters"] == 2
    assert redis["AtRestEncryptionEnabled"] is True
    assert redis["TransitEncryptionEnabled"] is True
    assert "{{resolve:secretsmanager:" in redis["AuthToken"]["Fn::Sub"]
    parameters = one(data, "AWS::ElastiCache::ParameterGroup")["Properties"]
    assert parameters == {"maxmemory-policy": "noeviction"}


def test_job_bucket_is_private_encrypted_tls_only_and_expires_with_the_results(
    templates,
) -> None:
    data = templates["data"]
    bucket = resources_of_type(data, "AWS::S3::Bucket")["JobBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == {"Ref": "ResultRetentionDays"}
    assert rule["Prefix"] == "jobs/jobs/"  # pointer inputs and destinations are not expired
    policy = resources_of_type(data, "AWS::S3::BucketPolicy")["JobBucketPolicy"]["Properties"]
    deny = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny
    assert deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_audit_bucket_locks_records_in_compliance_mode_encrypted_and_never_expires_them(
    templates,
) -> None:
    data = templates["data"]
    bucket = resources_of_type(data, "AWS::S3::Bucket")["AuditBucket"]
    properties = bucket["Properties"]
    assert bucket["DeletionPolicy"] == "Retain"
    assert properties["ObjectLockEnabled"] is True
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    retention = properties["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    assert retention == {"Mode": "COMPLIANCE", "Days": {"Ref": "AuditRetentionDays"}}
    sse = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {"Fn::GetAtt": ["Key", "Arn"]}
    assert all(properties["PublicAccessBlockConfiguration"].values())
    assert not any("ExpirationInDays" in r for r in properties["LifecycleConfiguration"]["Rules"])
    policy = resources_of_type(data, "AWS::S3::BucketPolicy")["AuditBucketPolicy"]["Properties"]
    conditions = [s["Condition"] for s in policy["PolicyDocument"]["Statement"]]
    assert {"Bool": {"aws:SecureTransport": "false"}} in conditions


def test_repository_scans_on_push_has_immutable_tags_and_a_lifecycle(templates) -> None:
    repository = one(templates["data"], "AWS::ECR::Repository")
    assert repository["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert repository["ImageTagMutability"] == "IMMUTABLE"
    assert "rules" in repository["LifecyclePolicy"]["LifecyclePolicyText"]["Fn::Sub"]


def test_iam_grants_star_resources_only_where_aws_allows_nothing_narrower(templates) -> None:
    for name, role in resources_of_type(templates["services"], "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                if "Fn::If" in statement:
                    statement = statement["Fn::If"][1]
                actions = statement["Action"]
                actions = actions if isinstance(actions, list) else [actions]
                assert not any(a.endswith("*") for a in actions), (name, actions)
                if statement["Resource"] == "*":
                    assert set(actions) <= STAR_ALLOWED, (name, actions)
                if actions == ["cloudwatch:PutMetricData"]:
                    assert "cloudwatch:namespace" in statement["Condition"]["StringEquals"]


def test_ui_task_role_has_no_permissions(templates) -> None:
    role = resources_of_type(templates["services"], "AWS::IAM::Role")["UiTaskRole"]
    assert "Policies" not in role["Properties"]
    assert "ManagedPolicyArns" not in role["Properties"]


def test_the_load_balancer_closes_idle_connections_before_the_services_do(templates) -> None:
    # A target that closes a kept-alive connection first races the ALB's next request on
    # it (a 502); the gateway's and the web app's keep-alive must outlast the ALB's idle.
    attributes = one(templates["network"], "AWS::ElasticLoadBalancingV2::LoadBalancer")[
        "LoadBalancerAttributes"
    ]
    idle = int(next(a["Value"] for a in attributes if a["Key"] == "idle_timeout.timeout_seconds"))
    assert idle < GatewaySettings().keep_alive_seconds
    assert GatewaySettings().keep_alive_seconds - idle >= 10


def test_job_notices_go_to_an_encrypted_topic_only_the_notifier_publishes_to(templates) -> None:
    topic = resources_of_type(templates["data"], "AWS::SNS::Topic")["NoticesTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "Key"}
    publishers = {
        name
        for name, role in resources_of_type(templates["services"], "AWS::IAM::Role").items()
        for policy in role["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
        if "Fn::If" not in statement and statement["Action"] == "sns:Publish"
    }
    assert publishers == {"GatewayTaskRole"}  # the task the notifier container runs in
    role = resources_of_type(templates["services"], "AWS::IAM::Role")["GatewayTaskRole"]
    [publish] = [
        s
        for s in role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "PublishJobNotices"
    ]
    assert publish["Resource"] == {
        "Fn::ImportValue": {"Fn::Sub": "${EnvironmentName}-hpp-notices-topic"}
    }

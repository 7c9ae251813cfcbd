"""ECS hardening checks for CloudFormation: read-only root, non-root, no public IP,
no plain-text secrets in the environment, a log configuration on every container.

checkov loads this module from ``--external-checks-dir``; each check registers itself when
instantiated at the bottom. Values may be intrinsic functions (dicts): a check only fails on
what it can see is wrong, or on a required setting that is missing.
"""

from __future__ import annotations

import re
from typing import Any

from checkov.cloudformation.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult

TASK_DEFINITION = ("AWS::ECS::TaskDefinition",)
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|API_?KEYS?\b|CREDENTIAL|PRIVATE_KEY", re.I)
URL_WITH_PASSWORD = re.compile(r"://[^/\s:@]*:[^@\s/]+@")
RESOLVED_SECRET = re.compile(r"\{\{resolve:(secretsmanager|ssm-secure):")
ROOT_USERS = {"root", "0"}


def containers(conf: dict[str, Any]) -> list[dict[str, Any]]:
    """The container definitions of a task definition resource (empty when unreadable)."""
    properties = conf.get("Properties")
    if not isinstance(properties, dict):
        return []
    definitions = properties.get("ContainerDefinitions")
    if not isinstance(definitions, list):
        return []
    return [d for d in definitions if isinstance(d, dict)]


def is_true(value: Any) -> bool:
    """A CloudFormation boolean, whether YAML gave a bool or a string."""
    return str(value).lower() == "true"


class _TaskDefinitionCheck(BaseResourceCheck):
    """A check that holds when every container passes ``container_passes``."""

    def __init__(self, *, name: str, id: str, category: CheckCategories) -> None:
        super().__init__(
            name=name, id=id, categories=(category,), supported_resources=TASK_DEFINITION
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        found = containers(conf)
        self.evaluated_keys = ["Properties/ContainerDefinitions"]
        if not found:
            return CheckResult.FAILED
        return CheckResult.PASSED if all(map(self.container_passes, found)) else CheckResult.FAILED

    def container_passes(self, container: dict[str, Any]) -> bool:
        raise NotImplementedError


class ReadOnlyRootFilesystem(_TaskDefinitionCheck):
    """Every container runs with a read-only root filesystem."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure ECS containers have a read-only root filesystem",
            id="CKV_HPP_1",
            category=CheckCategories.GENERAL_SECURITY,
        )

    def container_passes(self, container: dict[str, Any]) -> bool:
        return is_true(container.get("ReadonlyRootFilesystem"))


class NonRootUser(_TaskDefinitionCheck):
    """Every container names a user, and it is not root."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure ECS containers run as a non-root user",
            id="CKV_HPP_2",
            category=CheckCategories.GENERAL_SECURITY,
        )

    def container_passes(self, container: dict[str, Any]) -> bool:
        user = container.get("User")
        if user is None:
            return False
        if isinstance(user, dict):  # an intrinsic function: cannot be judged here
            return True
        return str(user).split(":", 1)[0].strip().lower() not in ROOT_USERS


class NoPlainTextSecrets(_TaskDefinitionCheck):
    """No environment entry looks like a secret; secrets go in ``Secrets`` (valueFrom)."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure ECS containers take secrets from Secrets, not Environment",
            id="CKV_HPP_4",
            category=CheckCategories.SECRETS,
        )

    def container_passes(self, container: dict[str, Any]) -> bool:
        environment = container.get("Environment") or []
        if not isinstance(environment, list):
            return True
        return not any(map(_looks_secret, environment))


class LogConfiguration(_TaskDefinitionCheck):
    """Every container ships its logs (a log driver with a destination)."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure ECS containers have a log configuration",
            id="CKV_HPP_5",
            category=CheckCategories.LOGGING,
        )

    def container_passes(self, container: dict[str, Any]) -> bool:
        logging = container.get("LogConfiguration")
        if not isinstance(logging, dict) or not logging.get("LogDriver"):
            return False
        if logging.get("LogDriver") != "awslogs":
            return True
        options = logging.get("Options")
        return isinstance(options, dict) and bool(options.get("awslogs-group"))


class NoPublicIp(BaseResourceCheck):
    """ECS services in awsvpc mode say explicitly that tasks get no public IP."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure ECS services do not assign public IPs to tasks",
            id="CKV_HPP_3",
            categories=(CheckCategories.NETWORKING,),
            supported_resources=("AWS::ECS::Service",),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        properties = conf.get("Properties")
        network = properties.get("NetworkConfiguration") if isinstance(properties, dict) else None
        self.evaluated_keys = ["Properties/NetworkConfiguration/AwsvpcConfiguration/AssignPublicIp"]
        if not isinstance(network, dict):
            return CheckResult.FAILED
        awsvpc = network.get("AwsvpcConfiguration")
        if not isinstance(awsvpc, dict):
            return CheckResult.FAILED
        disabled = awsvpc.get("AssignPublicIp") == "DISABLED"
        return CheckResult.PASSED if disabled else CheckResult.FAILED


def _looks_secret(entry: Any) -> bool:
    if not isinstance(entry, dict):
        return False
    name, value = str(entry.get("Name", "")), entry.get("Value")
    text = value if isinstance(value, str) else str(value)
    return bool(
        SECRET_NAME.search(name) or URL_WITH_PASSWORD.search(text) or RESOLVED_SECRET.search(text)
    )


read_only_root_filesystem = ReadOnlyRootFilesystem()
non_root_user = NonRootUser()
no_public_ip = NoPublicIp()
no_plain_text_secrets = NoPlainTextSecrets()
log_configuration = LogConfiguration()

"""The CloudFormation templates, parsed, and what the tests look for in them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.paths import ROOT

CFN_DIR = ROOT / "infra" / "cloudformation"
STACKS = ("network", "data", "services", "monitoring")
SECRET_SETTINGS = {
    "HPP_REDIS_URL",
    "HPP_API_KEYS",
    "HPP_UI_API_KEY",
    "HPP_UI_STORAGE_SECRET",
    "HPP_AUDIT_KEY",
    "HPP_WEBHOOK_SECRETS",
}


def load_template(stack: str) -> dict[str, Any]:
    """A template as plain JSON-like data, short-form tags expanded (``!Ref`` -> ``Ref``)."""
    cfn_yaml = pytest.importorskip(
        "cfnlint.decode.cfn_yaml", reason="cfn-lint parses the templates (dev extra)"
    )
    loaded: dict[str, Any] = json.loads(json.dumps(cfn_yaml.load(str(CFN_DIR / f"{stack}.yaml"))))
    return loaded


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """The resources of one type, by logical id."""
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}

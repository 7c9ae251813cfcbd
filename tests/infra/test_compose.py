"""compose.yaml: valid against the Compose specification, healthy ordering, settings names."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
import yaml

from core.settings import environment_names, hash_api_key
from tests.support.cloudformation import SECRET_SETTINGS
from tests.support.hpp_cli import cli_commands
from tests.support.paths import ROOT
from tests.support.tools import tool

COMPOSE = ROOT / "compose.yaml"
OUR_IMAGE = "house-price-predictor:local"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """compose.yaml with its YAML anchors and merge keys resolved."""
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_is_valid_against_the_compose_spec() -> None:
    checker = tool("check-jsonschema", hint="pip install check-jsonschema (dev extra)")
    result = subprocess.run(
        [checker, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_spec_check_rejects_a_broken_file(tmp_path) -> None:
    checker = tool("check-jsonschema", hint="pip install check-jsonschema (dev extra)")
    broken = tmp_path / "compose.yaml"
    broken.write_text(
        "services:\n  web:\n    image: x\n    depends_on:\n      db:\n"
        "        condition: when_i_feel_like_it\n"
    )
    result = subprocess.run(
        [checker, "--builtin-schema", "vendor.compose-spec", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0


def test_stack_starts_in_order_once_each_dependency_is_healthy(compose) -> None:
    services = compose["services"]
    assert set(services) == {"redis", "mlflow", "trainer", "gateway", "worker", "notifier", "ui"}
    for name, service in services.items():
        if name != "trainer":
            assert "healthcheck" in service, name
    conditions = {
        name: {dep: spec["condition"] for dep, spec in service.get("depends_on", {}).items()}
        for name, service in services.items()
    }
    assert conditions["trainer"] == {"mlflow": "service_healthy"}
    for name in ("gateway", "worker"):
        assert conditions[name] == {
            "redis": "service_healthy",
            "mlflow": "service_healthy",
            "trainer": "service_completed_successfully",
        }
    assert conditions["ui"] == {"gateway": "service_healthy"}


def test_app_containers_run_our_image_read_only_with_hpp_commands(compose) -> None:
    commands = cli_commands()
    for name, service in compose["services"].items():
        if service.get("image") != OUR_IMAGE:
            continue
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        if "entrypoint" not in service:
            assert service["command"][0] in commands, name
    trainer = compose["services"]["trainer"]["command"][0]
    assert trainer.endswith("|| exec hpp train")
    assert "train" in commands


def test_environment_names_are_settings_fields(compose) -> None:
    known = environment_names()
    for name, service in compose["services"].items():
        if service.get("image") != OUR_IMAGE:
            continue
        names = set(service.get("environment", {}))
        assert names <= known, f"{name}: unknown {sorted(names - known)}"


def test_env_example_names_the_settings_and_holds_the_local_secrets() -> None:
    lines = [
        line
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    names = {line.split("=", 1)[0] for line in lines}
    assert names <= environment_names(), sorted(names - environment_names())
    assert names >= SECRET_SETTINGS - {"HPP_REDIS_URL"}


def test_env_example_ui_key_is_one_the_gateway_accepts() -> None:
    values = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    keys = json.loads(values["HPP_API_KEYS"])
    assert hash_api_key(values["HPP_UI_API_KEY"]) in keys.values()
    assert set(json.loads(values["HPP_ADMIN_KEY_NAMES"])) <= set(keys)


def test_env_example_lets_the_ui_key_act_for_each_browser() -> None:
    values = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    keys = json.loads(values["HPP_API_KEYS"])
    ui_key_name = next(n for n, h in keys.items() if h == hash_api_key(values["HPP_UI_API_KEY"]))
    delegates = json.loads(values["HPP_DELEGATE_KEY_NAMES"])
    assert delegates == [ui_key_name]
    assert ui_key_name not in json.loads(values["HPP_ADMIN_KEY_NAMES"])

"""The package picture, checked: which package may import which (read with ``ast``).

core            settings and tiny helpers; imports nothing of the project
ml              the model; imports nothing of the project
observability   logs and metrics; imports only core
audit           the audit trail; below gateway and workers
jobs            what the gateway and the workers share: job storage, every Redis key,
                the queue's contract (task names, the Celery app, owner queues) and the
                retrain-trigger bookkeeping
gateway, workers, webui   the services; the web app talks to the gateway over HTTP only
hpp             the command line: wires everything, imported by nothing
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.import_graph import Import, cycles, package_edges, project_imports
from tests.support.paths import ROOT

IMPORTS = project_imports()
LEAVES = {"core": set(), "ml": set(), "observability": {"core"}}
# The web app shares definitions, never behaviour: the contract (and how categories are
# spelled), the model card, the monitoring report, the shared models of jobs, the settings.
# And observability.logging, which every entry point calls to configure its logs.
WEBUI_MAY_IMPORT = (
    "core",
    "ml.contract",
    "ml.categories",
    "ml.card",
    "ml.monitoring_report",
    "jobs.models",
    "observability.logging",
)


def _from(package: str) -> list[Import]:
    return [item for item in IMPORTS if item.importer == package]


def test_the_graph_is_read() -> None:
    assert any(item.importer == "gateway" and item.package == "ml" for item in IMPORTS)
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_packages_import_each_other() -> None:
    assert cycles(package_edges(IMPORTS)) == []


@pytest.mark.parametrize("leaf", sorted(LEAVES))
def test_leaf_packages_import_nothing_of_the_project_above_them(leaf: str) -> None:
    allowed = LEAVES[leaf] | {leaf}
    assert [str(item) for item in _from(leaf) if item.package not in allowed] == []


def test_the_web_app_imports_only_the_contract_the_shared_models_and_the_settings() -> None:
    def allowed(module: str) -> bool:
        return any(module == name or module.startswith(name + ".") for name in WEBUI_MAY_IMPORT)

    outside = [item for item in _from("webui") if item.package != "webui"]
    assert outside  # the web app does use the contract
    assert [str(item) for item in outside if not allowed(item.module)] == []


def test_the_gateway_and_the_workers_share_job_storage_only_through_jobs() -> None:
    crossing = [
        str(item) for item in IMPORTS if {item.importer, item.package} == {"gateway", "workers"}
    ]
    assert crossing == []


def test_no_test_imports_a_conftest_or_another_test_module() -> None:
    offending = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and (node.level or _is_test_code(node.module)):
                offending.append(f"{path.relative_to(ROOT)}: from {'.' * node.level}{node.module}")
    assert offending == [], "import helpers from tests.support; fixtures come from conftest"


def _is_test_code(module: str | None) -> bool:
    name = module or ""
    return name.startswith("tests.") and not name.startswith("tests.support")


def test_support_modules_hold_no_fixtures() -> None:
    support = ROOT / "tests" / "support"
    with_fixtures = [
        path.name for path in sorted(support.glob("*.py")) if "pytest.fixture" in path.read_text()
    ]
    assert with_fixtures == []
    assert Path(support / "__init__.py").exists()

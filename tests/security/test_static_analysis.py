"""Dependencies and code, checked statically: pip-audit (known vulnerabilities), bandit.

pip-audit asks PyPI's vulnerability service about every installed distribution; where
that service cannot be reached (offline, or a package mirror without it) it audits
nothing, and the test skips saying so rather than passing vacuously.

bandit must report nothing beyond the findings accepted below, each with its reason; a
new finding anywhere fails the test until it is fixed or justified here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PACKAGES = ["core", "audit", "hpp", "ml", "gateway", "jobs", "workers", "webui", "observability"]

# (bandit test id, file or "*") -> why the finding is accepted
ACCEPTED = {
    ("B101", "*"): "asserts narrow types for the checker; none guards input or access",
    ("B404", "hpp/redis_server.py"): "starts the redis-server binary it located itself",
    ("B603", "hpp/redis_server.py"): "fixed argv (the binary, port, flags), no shell",
    ("B404", "hpp/up.py"): "starts our own subcommands with this interpreter",
    ("B603", "hpp/up.py"): "argv is [sys.executable, -m, hpp.cli, <fixed command>], no shell",
    ("B311", "observability/cloudwatch.py"): "random jitter for retry backoff, not a secret",
    ("B311", "audit/backtest.py"): "a seeded sample for the back-test, reproducible by design",
    ("B311", "workers/notice_tasks.py"): "random jitter for webhook retry backoff, not a secret",
    ("B104", "observability/metrics.py"): "the worker metrics port binds all interfaces so "
    "a scraper in the same task/network can reach it; it serves only metrics",
}


@pytest.mark.slow
def test_bandit_reports_nothing_unjustified() -> None:
    bandit = shutil.which("bandit", path=str(BIN))
    if bandit is None:
        pytest.skip("bandit is not installed (pip install -e '.[dev]')")
    run = subprocess.run(
        [bandit, "-r", *PACKAGES, "-f", "json", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    results = json.loads(run.stdout)["results"]
    unjustified = [
        f"{r['test_id']} {r['filename']}:{r['line_number']} {r['issue_text']}"
        for r in results
        if (r["test_id"], "*") not in ACCEPTED and (r["test_id"], r["filename"]) not in ACCEPTED
    ]
    print(f"\nbandit: {len(results)} findings, {len(results) - len(unjustified)} accepted")
    assert unjustified == []


@pytest.mark.slow
def test_pip_audit_finds_no_known_vulnerability() -> None:
    audit = shutil.which("pip-audit", path=str(BIN))
    if audit is None:
        pytest.skip("pip-audit is not installed (pip install -e '.[dev]')")
    run = subprocess.run(
        [audit, "--skip-editable", "--progress-spinner", "off", "-f", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        pytest.skip(f"pip-audit could not run: {run.stderr.strip()[-300:]}")
    dependencies = report["dependencies"]
    audited = [d for d in dependencies if "skip_reason" not in d]
    if not audited:
        reason = dependencies[0]["skip_reason"] if dependencies else run.stderr[-200:]
        pytest.skip(
            f"PyPI's vulnerability service is unreachable from here: none of "
            f"{len(dependencies)} distributions could be audited ({reason})"
        )
    vulnerable = {d["name"]: [v["id"] for v in d["vulns"]] for d in audited if d.get("vulns")}
    print(f"\npip-audit: {len(audited)} of {len(dependencies)} distributions audited")
    assert vulnerable == {}

"""Every Redis key name is written once, in ``jobs.keys``: a rename cannot miss a reader."""

from __future__ import annotations

import ast
from pathlib import Path

from jobs import keys

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["audit", "core", "gateway", "hpp", "jobs", "ml", "observability", "webui", "workers"]


def _key_literals(path: Path) -> list[str]:
    """String constants (f-string parts included) that start like a Redis key of ours."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
            continue
        if node.value.startswith(f"{keys.PREFIX}:"):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    return found


def test_no_module_but_jobs_keys_spells_a_redis_key() -> None:
    sources = [p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))]
    own = ROOT / "jobs" / "keys.py"

    found = [hit for path in sources if path != own for hit in _key_literals(path)]

    assert sources
    assert found == []


def test_keys_of_one_job_share_its_prefix_and_channels_map_back() -> None:
    job_keys = keys.job_keys("abc")

    assert all(key.startswith(keys.job_key("abc")) for key in job_keys)
    assert keys.job_of_channel(keys.events_channel("abc")) == "abc"
    assert keys.seen_key(keys.job_row_item("abc", 3)) == "hpp:feedback:seen:job:abc:3"


def test_a_jobs_blobs_all_live_under_its_folder() -> None:
    names = [
        keys.input_key("j"),
        keys.plan_key("j"),
        keys.sources_key("j"),
        keys.part_key("j", 7),
        keys.part_prices_key("j", 7),
        keys.part_stats_key("j", 7),
        keys.result_key("j"),
        keys.prices_key("j"),
        keys.summary_key("j"),
    ]

    assert all(name.startswith(keys.job_prefix("j")) for name in names)
    assert len(set(names)) == len(names)
    assert keys.part_key("j", 7).startswith(keys.parts_prefix("j"))

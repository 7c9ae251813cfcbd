"""Through the real system: predictions on every path, feedback, then ``hpp audit`` on the log.

A gateway process and a worker process (own Redis database, own state folder) serve single,
batch and /v2 predictions and a three-chunk job; actual prices arrive through
``POST /v1/feedback``; both processes get SIGTERM; then ``hpp audit verify`` and
``hpp audit backtest`` run as commands on what they wrote.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from typing import Any

import httpx
import pytest

from tests.support.batch_env import BatchEnv
from tests.support.gateway_process import start_gateway, stop_gateway
from tests.support.jobs import submit, wait_final
from tests.support.keys import ALICE
from tests.support.paths import ROOT
from tests.support.worker_process import StartWorker
from workers.audit_rows import chunk_rows

pytestmark = pytest.mark.slow
AUDIT_DB = 14
AUDIT_KEY = "end-to-end-audit-key"
HOUSES: list[dict[str, Any]] = [
    {
        "sqft": 1656,
        "bedrooms": 3,
        "bathrooms": 1.5,
        "location": " north_ames ",  # case, whitespace and underscore: North Ames
        "year_built": 1960,
        "condition": "Average",
    },
    {
        "sqft": 2100,
        "bedrooms": 4,
        "bathrooms": 2.5,
        "location": "Somerst",  # the Ames data's own code for Somerset
        "year_built": 2005,
        "condition": "Good",
    },
    {
        "sqft": 1100,
        "bedrooms": 2,
        "bathrooms": 1.0,
        "location": "old-town",
        "year_built": 1920,
        "condition": "Fair",
    },
]
JOB_ROWS = 30
CHUNK_ROWS = 10
JOB_FEEDBACK_ROWS = (5, 15, 25)  # one in each chunk


@pytest.fixture(scope="module")
def env(batch_env: BatchEnv, tmp_path_factory: pytest.TempPathFactory) -> BatchEnv:
    state = tmp_path_factory.mktemp("audit-e2e")
    import redis

    scoped = batch_env.with_database(
        AUDIT_DB, state_dir=state, chunk_rows=CHUNK_ROWS, extra={"HPP_AUDIT_KEY": AUDIT_KEY}
    )
    with redis.Redis.from_url(scoped.redis_url) as client:
        client.flushdb()
    return scoped


def run_hpp(env: BatchEnv, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hpp.cli", "audit", *args],
        cwd=ROOT,
        env=env.environ(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def predict_everywhere(http: httpx.Client) -> list[tuple[str, float, float, float]]:
    """(prediction id, price, low, high) from /v1/predict, /v1/predict/batch and /v2 infer."""
    out = []
    for house in HOUSES:
        body = http.post("/v1/predict", json=house, headers=ALICE).json()
        out.append(
            (
                body["prediction_id"],
                body["predicted_price"],
                body["interval"]["low"],
                body["interval"]["high"],
            )
        )
    batch = http.post("/v1/predict/batch", json={"rows": HOUSES[1:]}, headers=ALICE).json()
    for p in batch["predictions"]:
        out.append(
            (p["prediction_id"], p["predicted_price"], p["interval"]["low"], p["interval"]["high"])
        )
    tensors = [
        {
            "name": c,
            "shape": [2],
            "datatype": "BYTES" if c in ("location", "condition") else "FP64",
            "data": [h[c] for h in HOUSES[:2]],
        }
        for c in HOUSES[0]
    ]
    v2 = http.post("/v2/models/house-price/infer", json={"inputs": tensors}, headers=ALICE).json()
    outputs = {o["name"]: o["data"] for o in v2["outputs"]}
    for i, pid in enumerate(v2["parameters"]["prediction_ids"]):
        out.append(
            (pid, outputs["predicted_price"][i], outputs["price_low"][i], outputs["price_high"][i])
        )
    return out


def run_job(http: httpx.Client) -> tuple[str, list[dict[str, str]]]:
    lines = ["sqft,bedrooms,bathrooms,location,year_built,condition,owner_name"]
    lines += [
        f"{1000 + 40 * i},3,2,{HOUSES[i % 3]['location'].strip()},{1950 + i},Average,Person {i}"
        for i in range(JOB_ROWS)
    ]
    job = submit(http, ("\n".join(lines) + "\n").encode()).json()
    assert wait_final(http, job["id"])["status"] == "succeeded"
    result = http.get(f"/v1/jobs/{job['id']}/result", headers=ALICE).text
    return job["id"], list(csv.DictReader(io.StringIO(result)))


def test_backtest_reports_error_bias_and_coverage_of_logged_predictions_with_feedback(
    env: BatchEnv, start_worker: StartWorker
) -> None:
    worker = start_worker(env)
    gateway = start_gateway(env, env.state_dir / "gateway.log")
    try:
        with httpx.Client(base_url=gateway.url, timeout=60) as http:
            predicted = predict_everywhere(http)
            job_id, result = run_job(http)
            actual = {pid: price * 1.1 for pid, price, _, _ in predicted}  # sold 10 % above
            items: list[dict[str, Any]] = [
                {"prediction_id": k, "actual_price": v} for k, v in actual.items()
            ]
            for row in JOB_FEEDBACK_ROWS:
                items.append({"job_id": job_id, "row": row, "actual_price": 150_000.0})
            accepted = http.post("/v1/feedback", json={"items": items}, headers=ALICE).json()
            assert accepted["accepted"] == len(items), accepted
    finally:
        stop_gateway(gateway)  # SIGTERM: the gateway writes its buffer and closes its stream
        worker.stop()

    verified = run_hpp(env, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.strip().splitlines()[-1].startswith("OK: ")
    assert any(
        line.startswith("gateway-") and line.endswith("closed")
        for line in verified.stdout.splitlines()
    )

    out = env.state_dir / "backtest.json"
    backtested = run_hpp(env, "backtest", "--sample", "1000", "--seed", "7", "--out", str(out))
    assert backtested.returncode == 0, backtested.stdout + backtested.stderr
    report = json.loads(out.read_text())
    assert report["chain_intact"] is True
    assert report["logged"] == len(predicted) + JOB_ROWS
    assert report["sampled"] == len(items)
    assert {f"job:{job_id}:{row}" for row in JOB_FEEDBACK_ROWS} <= set(report["sample_keys"])
    # The job rows' prices must be the result file's rows 5, 15, 25 (chunk offsets right).
    pairs = [(actual[pid], price, low, high) for pid, price, low, high in predicted]
    for row in JOB_FEEDBACK_ROWS:
        scored = result[row - 1]
        pairs.append(
            (
                150_000.0,
                float(scored["predicted_price"]),
                float(scored["price_low"]),
                float(scored["price_high"]),
            )
        )
    mae = sum(abs(p - a) for a, p, _, _ in pairs) / len(pairs)
    coverage = sum(lo <= a <= hi for a, _, lo, hi in pairs) / len(pairs)
    assert report["overall"]["mae"] == pytest.approx(mae, abs=0.01)
    assert report["overall"]["coverage"] == pytest.approx(coverage, abs=1e-4)
    assert set(report["neighbourhood"]) == {"North Ames", "Somerset", "Old Town"}
    assert sum(g["n"] for g in report["price_band"].values()) == len(items)
    assert "by neighbourhood:" in backtested.stdout
    assert "audit trail: intact" in backtested.stdout


def test_a_logged_prediction_holds_the_input_as_sent_and_as_normalised(env: BatchEnv) -> None:
    records = [
        json.loads(line)
        for path in sorted((env.state_dir / "audit").glob("gateway-*/*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]
    single = next(r for r in records if r["kind"] == "predict")
    (row,) = single["rows"]
    assert json.loads(single["sent"])["location"] == " north_ames "  # the body as sent
    assert row["normalised"]["location"] == "North Ames"
    batch = next(r for r in records if r["kind"] == "batch")
    assert [h["location"] for h in json.loads(batch["sent"])["rows"]] == ["Somerst", "old-town"]
    assert [r["normalised"]["location"] for r in batch["rows"]] == ["Somerset", "Old Town"]
    v2 = next(r for r in records if r["kind"] == "v2")
    assert v2["rows"]["sent"]["location"] == [" north_ames ", "Somerst"]
    assert v2["rows"]["normalised"]["location"] == ["North Ames", "Somerset"]
    assert v2["rows"]["normalised"]["sqft"] == [1656.0, 2100.0]
    assert single["owner"] == "alice"
    assert row["prediction_id"].startswith("p_")
    assert {"price", "low", "high", "level", "warnings"} <= set(row)
    chunks = [
        json.loads(line)
        for path in sorted((env.state_dir / "audit").glob("worker-*/*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]
    assert sorted(c["chunk"] for c in chunks) == [0, 1, 2]
    assert sorted(c["first_row"] for c in chunks) == [1, 11, 21]
    first = next(c for c in chunks if c["chunk"] == 0)
    payloads = env.state_dir / "audit" / first["stream"] / "payloads"
    sent = (payloads / first["payloads"]["input"]).read_text()
    assert sent.splitlines()[0].endswith(",Person 0")  # the chunk as uploaded, every column
    assert sent.splitlines()[0].split(",")[3] == "north_ames"
    output = (payloads / first["payloads"]["output"]).read_bytes()
    assert len(output.decode().splitlines()) == CHUNK_ROWS
    rewrites = {(r["sent"], r["canonical"]) for r in first["rewrites"]}
    assert rewrites == {
        ("north_ames", "North Ames"),
        ("Somerst", "Somerset"),
        ("old-town", "Old Town"),
    }
    rows = chunk_rows(first, input_data=sent.encode(), output=output)
    assert [r["normalised"]["location"] for r in rows[:3]] == ["North Ames", "Somerset", "Old Town"]
    assert rows[0]["key"] == f"job:{first['job_id']}:1"

"""Sale prices reported for a job's rows become training rows: real Redis, worker, gateway.

A job is scored, a trusted key reports sale prices for its rows, and ``hpp train
--with-feedback`` trains on the shipped data plus those houses, read back from the job's
input with the categories as the model reads them. A job whose input is gone before its
prices arrive still counts in the live figures, but its rows are counted rejected, with
the reason, in the data version that MLflow and the model card record.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
import redis
import yaml

from jobs.feedback_rows import FeedbackRow, encode_row, read_rows
from jobs.keys import FEEDBACK_ROWS_KEY, input_key, job_row_item
from ml.config import Gates, TrainConfig
from ml.contract import FEATURE_COLUMNS
from ml.registry import load_registered
from tests.support.batch_env import BatchEnv
from tests.support.gateway_process import GatewayProcess, start_gateway, stop_gateway
from tests.support.jobs import submit, wait_final
from tests.support.keys import ALICE
from tests.support.paths import DATA, ROOT
from tests.support.worker_process import StartWorker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
FEEDBACK_DB = 15
TINY = TrainConfig(
    cv_folds=2,
    calibration_folds=2,
    candidates={"xgboost": {"n_estimators": [40], "max_depth": [3], "learning_rate": [0.2]}},
    gates=Gates(r2_min=0.0, mae_max=10**9, rmse_max=10**9),
)
SPELLED = {"North Ames": "North_Ames", "College Creek": "college creek"}


@dataclass
class System:
    env: BatchEnv
    gateway: GatewayProcess
    http: httpx.Client
    redis: redis.Redis
    state: Path


@pytest.fixture(scope="module")
def system(
    batch_env: BatchEnv, start_worker: StartWorker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    state = tmp_path_factory.mktemp("job-feedback")
    env = batch_env.with_database(
        FEEDBACK_DB,
        blob_url=(state / "blobs").as_uri(),
        chunk_rows=25,  # rows of several chunks
        extra={"HPP_FEEDBACK_KEY_NAMES": '["alice"]', "HPP_AUDIT_ENABLED": "false"},
    )
    client = redis.Redis.from_url(env.redis_url)
    client.flushdb()
    worker = start_worker(env)
    gateway = start_gateway(env, state / "gateway.log")
    try:
        with httpx.Client(base_url=gateway.url, timeout=60, headers=ALICE) as http:
            yield System(env, gateway, http, client, state)
    finally:
        stop_gateway(gateway)
        worker.stop()
        client.flushdb()
        client.close()


def houses(count: int, *, seed: int) -> pd.DataFrame:
    """Real Ames houses, some neighbourhoods spelled as other sources spell them."""
    frame = pd.read_csv(DATA).sample(count, random_state=seed).reset_index(drop=True)
    frame["location"] = frame["location"].replace(SPELLED)
    return frame


def run_job(system: System, frame: pd.DataFrame) -> str:
    job = submit(system.http, frame.to_csv(index=False).encode()).json()
    final = wait_final(system.http, job["id"])
    assert final["status"] == "succeeded", final
    return str(job["id"])


def sold_near_the_estimate(system: System, job_id: str) -> pd.Series:
    """Sale prices 5-11 % above the job's estimates: plausible (none is held for review),
    and different for equal houses (a repeated row would break the data rules)."""
    result = system.http.get(f"/v1/jobs/{job_id}/result")
    estimates = pd.read_csv(io.BytesIO(result.content))["predicted_price"]
    return estimates * (1.05 + 0.001 * np.arange(len(estimates)))


def report(system: System, job_id: str, prices: pd.Series) -> dict:
    items = [
        {"job_id": job_id, "row": row, "actual_price": round(float(price), 2)}
        for row, price in enumerate(prices, start=1)
    ]
    answer = system.http.post("/v1/feedback", json={"items": items})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def hpp_train_with_feedback(system: System) -> subprocess.CompletedProcess[str]:
    config = system.state / "tiny.yaml"
    config.write_text(yaml.safe_dump(json.loads(TINY.model_dump_json())))
    environ = {
        **system.env.environ(),
        "HPP_MLFLOW_TRACKING_URI": f"sqlite:///{system.state / 'train.db'}",
        "HPP_MODEL_ALIAS": "feedback-test",
    }
    return subprocess.run(
        [
            *(sys.executable, "-m", "hpp.cli", "train", "--with-feedback"),
            *("--data", str(DATA), "--config", str(config)),
        ],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_prices_for_a_jobs_rows_become_training_rows_counted_in_the_data_version(
    system: System,
) -> None:
    scored = houses(60, seed=5)
    scored_id = run_job(system, scored)
    expired = houses(8, seed=6)
    expired_id = run_job(system, expired)

    receipt = report(system, scored_id, sold_near_the_estimate(system, scored_id).iloc[:50])
    assert (receipt["accepted"], receipt["scope"]) == (50, "shared")

    # The houses are read back from the job's input, categories as the model reads them.
    rows = {r.key: r for r in read_rows(system.redis)}
    first = rows[job_row_item(scored_id, 1)]
    assert first.features is not None
    assert first.problem is None
    expected = scored.iloc[0]
    assert first.features["sqft"] == pytest.approx(float(expected["sqft"]))
    assert first.features["year_built"] == int(expected["year_built"])
    canonical = {v: k for k, v in SPELLED.items()}
    assert first.features["location"] == canonical.get(expected["location"], expected["location"])
    read_back = [rows[job_row_item(scored_id, i + 1)].features for i in range(50)]
    assert {h["location"] for h in read_back if h} & set(SPELLED.values()) == set()
    assert all(h is not None and set(h) == set(FEATURE_COLUMNS) for h in read_back)

    # The second job's input is gone before its prices arrive: live figures yes, training no.
    Path(system.env.blob_url.removeprefix("file://"), input_key(expired_id)).unlink()
    receipt = report(system, expired_id, sold_near_the_estimate(system, expired_id))
    assert receipt["accepted"] == len(expired)
    gone = [r for r in read_rows(system.redis) if r.job_id == expired_id]
    assert len(gone) == len(expired)
    assert all(r.features is None and "input is gone" in (r.problem or "") for r in gone)

    # A row stored by an older gateway (job and row only) is read back at training time.
    older = FeedbackRow(
        key=job_row_item(scored_id, 60),
        actual=123_456.0,
        predicted=120_000.0,
        version="1",
        at=1.0,
        job_id=scored_id,
        row=60,
    )
    system.redis.hset(FEEDBACK_ROWS_KEY, older.key, encode_row(older))

    done = hpp_train_with_feedback(system)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    tracking = f"sqlite:///{system.state / 'train.db'}"
    _, card = load_registered("models:/house-price@feedback-test", tracking_uri=tracking)
    version = card.data.version or {}
    data_line = next(line for line in done.stdout.splitlines() if line.startswith("data "))
    assert "shipped 2,921, feedback 51 (8 feedback rows rejected)" in data_line, version[
        "rejected_reasons"
    ]
    assert version["rows_by_source"] == {"shipped": 2921, "feedback": 51}
    assert version["feedback_rejected"] == len(expired)
    assert any("input is gone" in reason for reason in version["rejected_reasons"])
    assert version["feedback_first"] == "1970-01-01T00:00:01+00:00"  # the older row's time
    assert version["feedback_last"] is not None
    client = mlflow.MlflowClient(tracking_uri=tracking)
    registered = client.get_model_version_by_alias("house-price", "feedback-test")
    run = client.get_run(str(registered.run_id))
    assert run.data.params["data.rows_feedback"] == "51"
    assert run.data.params["data.feedback_rejected"] == str(len(expired))
    assert run.data.tags["data.sha256"] == version["sha256"]

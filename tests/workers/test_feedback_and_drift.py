"""Jobs and monitoring: feedback for a job's rows, PSI per job computed by the worker."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import redis

from core.settings import (
    AppSettings,
    CoreSettings,
    GatewaySettings,
    ObservabilitySettings,
    UISettings,
    WorkerSettings,
)
from hpp.replay import run_compare
from jobs.keys import feedback_key
from ml.evaluate import interval_coverage, regression_metrics
from tests.support.batch_env import BatchEnv
from tests.support.jobs import submit, wait_final
from tests.support.keys import ALICE, BOB
from tests.support.paths import DATA

pytestmark = pytest.mark.slow


def real_houses(count: int, *, seed: int) -> pd.DataFrame:
    """Real Ames houses, with their sale price as an extra (ignored) column."""
    return pd.read_csv(DATA).sample(count, random_state=seed).reset_index(drop=True)


def run_job(client: httpx.Client, frame: pd.DataFrame) -> dict:
    job = submit(client, frame.to_csv(index=False).encode()).json()
    final = wait_final(client, job["id"])
    assert final["status"] == "succeeded", final
    return final


def test_feedback_for_a_job_gives_the_metrics_computed_directly(
    client: httpx.Client, batch_env: BatchEnv
) -> None:
    frame = real_houses(300, seed=11)
    job = run_job(client, frame)
    result = pd.read_csv(
        io.BytesIO(client.get(f"/v1/jobs/{job['id']}/result", headers=ALICE).content)
    )
    # alice is not a trusted feedback key here: her prices go to her own window.
    redis.Redis.from_url(batch_env.redis_url).delete(feedback_key(job["model_version"], "alice"))
    feedback = pd.DataFrame({"row": np.arange(1, 301), "actual_price": frame["price"]})

    answer = client.post(
        "/v1/feedback",
        params={"job_id": job["id"]},
        content=feedback.to_csv(index=False).encode(),
        headers={**ALICE, "Content-Type": "text/csv"},
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["scope"]) == (300, "own")
    live = body["live"][job["model_version"]]["metrics"]
    actual = frame["price"].to_numpy(dtype=float)
    expected = regression_metrics(actual, result["predicted_price"].to_numpy())
    assert live["n"] == 300
    assert live["mae"] == pytest.approx(expected["mae"], rel=1e-6)
    assert live["rmse"] == pytest.approx(expected["rmse"], rel=1e-6)
    assert live["r2"] == pytest.approx(expected["r2"], rel=1e-6)
    coverage = interval_coverage(
        actual, result["price_low"].to_numpy(), result["price_high"].to_numpy()
    )
    assert live["coverage"] == pytest.approx(coverage)


def test_feedback_for_another_callers_job_is_not_found(client: httpx.Client) -> None:
    job = run_job(client, real_houses(20, seed=12))

    answer = client.post(
        "/v1/feedback",
        json={"items": [{"job_id": job["id"], "row": 1, "actual_price": 200_000}]},
        headers=BOB,
    )

    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_the_worker_measures_drift_per_job(client: httpx.Client) -> None:
    frame = real_houses(500, seed=13).drop(columns=["price"])
    calm = run_job(client, frame)
    shifted = run_job(client, frame.assign(sqft=frame["sqft"] * 2))

    calm_drift = client.get(f"/v1/monitoring/jobs/{calm['id']}", headers=ALICE).json()["drift"]
    moved = client.get(f"/v1/monitoring/jobs/{shifted['id']}", headers=ALICE).json()["drift"]
    hidden = client.get(f"/v1/monitoring/jobs/{shifted['id']}", headers=BOB)

    assert calm_drift["rows"] == 500
    assert calm_drift["features"]["sqft"]["psi"] < 0.2
    assert calm_drift["drifted"] == []
    assert moved["features"]["sqft"]["psi"] > 0.2
    assert moved["drifted"] == ["sqft"]
    assert hidden.status_code == 404


def test_replaying_a_job_uses_the_prices_reported_for_its_rows(
    client: httpx.Client, batch_env: BatchEnv, tmp_path: Path
) -> None:
    frame = real_houses(120, seed=14)
    job = run_job(client, frame.drop(columns=["price"]))
    feedback = pd.DataFrame({"row": np.arange(1, 51), "actual_price": frame["price"][:50]})
    client.post(
        "/v1/feedback",
        params={"job_id": job["id"]},
        content=feedback.to_csv(index=False).encode(),
        headers={**ALICE, "Content-Type": "text/csv"},
    )
    settings = AppSettings(
        CoreSettings(
            state_dir=tmp_path,
            redis_url=batch_env.redis_url,
            blob_url=batch_env.blob_url,
            mlflow_tracking_uri=batch_env.tracking_uri,
        ),
        GatewaySettings(),
        WorkerSettings(),
        UISettings(),
        ObservabilitySettings(),
    )

    code = run_compare(
        challenger=job["model_version"],
        job_id=job["id"],
        champion=job["model_version"],
        config=Path(__file__).resolve().parents[2] / "ml" / "config.yaml",
        out=None,
        settings=settings,
    )

    report = json.loads((tmp_path / "reports" / "latest.json").read_text())
    assert code == 0
    assert report["source"] == {
        "kind": "job",
        "job_id": job["id"],
        "model_version": job["model_version"],
        "rows": 120,
        "rows_compared": 120,
    }
    assert report["changed_rows"] == 0
    assert report["biggest_movers"] == []
    assert report["metrics"]["rows"] == 50

"""A finished job's summary (computed at finalize) and its row lookups, against the result.

Real gateway and worker processes; the session's worker cuts jobs into 1,000-row chunks, so
a 3,500-row job has four, and the summary is merged across them.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from urllib.parse import urlparse

import httpx
import numpy as np
import pandas as pd
import pytest
import redis

from jobs.keys import feedback_key, part_prices_key, prices_key
from tests.support.batch_env import BatchEnv
from tests.support.histograms import assert_like_numpy
from tests.support.houses import houses_csv
from tests.support.jobs import submit, wait_final
from tests.support.keys import ALICE, BOB

pytestmark = pytest.mark.slow


def finished_job(client: httpx.Client, data: bytes) -> dict:
    job = submit(client, data).json()
    final = wait_final(client, job["id"])
    assert final["status"] == "succeeded", final
    return final


def scored(client: httpx.Client, job_id: str) -> tuple[list[str], pd.DataFrame]:
    text = client.get(f"/v1/jobs/{job_id}/result", headers=ALICE).text
    header = next(csv.reader(io.StringIO(text)))
    return header, pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def with_bad_rows(rows: int, bad: dict[int, str]) -> bytes:
    """Houses where the rows at the given 0-based positions get another bad sqft."""
    lines = houses_csv(rows, seed=4).decode().splitlines()
    for position, sqft in bad.items():
        lines[position + 1] = sqft + lines[position + 1][lines[position + 1].index(",") :]
    return ("\n".join(lines) + "\n").encode()


def test_the_summary_matches_the_result_it_summarises(client: httpx.Client) -> None:
    bad = {7: "-5", 1_500: "abc", 2_100: "abc", 3_499: "-5", **{i: "abc" for i in range(40, 46)}}
    job = finished_job(client, with_bad_rows(3_500, bad))
    header, result = scored(client, job["id"])

    answer = client.get(f"/v1/jobs/{job['id']}/summary", headers=ALICE)

    assert answer.status_code == 200, answer.text
    summary = answer.json()
    rejected = result[result["error"] != ""]
    assert (summary["rows"], summary["rejected"], summary["priced"]) == (3_500, 10, 3_490)
    assert summary["columns"] == header
    expected_reasons = rejected["error"].value_counts()
    assert {r["reason"]: r["count"] for r in summary["reasons"]} == expected_reasons.to_dict()
    prices = pd.to_numeric(result["predicted_price"], errors="coerce").dropna().to_numpy()
    _, edges = np.histogram(prices, bins=20)
    bars = summary["price_histogram"]
    # Merged from the chunks' fine price bins: each bar within the fine bins at its edges.
    assert_like_numpy(prices, [b["count"] for b in bars])
    assert [b["low"] for b in bars] == pytest.approx(edges[:-1].tolist())
    assert bars[-1]["high"] == pytest.approx(edges[-1])
    assert [r["values"] for r in summary["preview"]] == result.head(10).values.tolist()
    assert [r["row"] for r in summary["preview"]] == list(range(1, 11))
    assert [r["row"] for r in summary["rejected_preview"]] == [p + 1 for p in sorted(bad)]
    assert [r["values"] for r in summary["rejected_preview"]] == rejected.values.tolist()


def test_the_summary_is_the_owners_only_and_documented(client: httpx.Client) -> None:
    job = finished_job(client, houses_csv(20, seed=5))

    theirs = client.get(f"/v1/jobs/{job['id']}/summary", headers=BOB)
    nobody = client.get(f"/v1/jobs/{job['id']}/summary")
    schema = client.get("/openapi.json").json()

    assert theirs.status_code == 404
    assert theirs.headers["content-type"].startswith("application/problem+json")
    assert nobody.status_code == 401
    operation = schema["paths"]["/v1/jobs/{job_id}/summary"]["get"]
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].endswith("/JobSummary")
    assert {"price_histogram", "preview", "reasons"} <= set(
        schema["components"]["schemas"]["JobSummary"]["properties"]
    )


def test_feedback_finds_rows_across_chunks_and_not_rejected_or_missing_ones(
    client: httpx.Client, batch_env: BatchEnv
) -> None:
    job = finished_job(client, with_bad_rows(2_500, {1_200: "abc"}))
    _, result = scored(client, job["id"])
    folder = blob_folder(batch_env)
    # The row index stays per part (three 1,000-row chunks); nothing joins it at finalize.
    assert not (folder / prices_key(job["id"])).exists()
    assert all((folder / part_prices_key(job["id"], i)).is_file() for i in range(3))
    rows = [1, 1_000, 1_001, 2_500]  # the first part's ends, the middle's first, the last
    predicted = result.iloc[[r - 1 for r in rows]]["predicted_price"].astype(float).to_numpy()
    items = [
        {"job_id": job["id"], "row": r, "actual_price": round(1.1 * p, 2)}
        for r, p in zip(rows, predicted, strict=True)
    ]
    items += [
        {"job_id": job["id"], "row": 1_201, "actual_price": 150_000.0},  # rejected row
        {"job_id": job["id"], "row": 2_501, "actual_price": 150_000.0},  # past the end
    ]
    # alice is not a trusted feedback key here: her prices go to her own window.
    redis.Redis.from_url(batch_env.redis_url).delete(feedback_key(job["model_version"], "alice"))

    answer = client.post("/v1/feedback", json={"items": items}, headers=ALICE)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["scope"]) == (4, "own")
    assert body["unknown"] == [f"job:{job['id']}:1201", f"job:{job['id']}:2501"]
    live = body["live"][job["model_version"]]["metrics"]
    assert live["n"] == 4
    assert live["mae"] == pytest.approx(np.mean(np.round(1.1 * predicted, 2) - predicted))


def test_feedback_on_a_job_finished_with_one_joined_row_index_reads_it(
    client: httpx.Client, batch_env: BatchEnv
) -> None:
    job = finished_job(client, houses_csv(2_100, seed=6))
    _, result = scored(client, job["id"])
    folder = blob_folder(batch_env)
    # As finalize left a job before the index stayed per part: one prices.f64, no triples.
    parts = [folder / part_prices_key(job["id"], i) for i in range(3)]
    (folder / prices_key(job["id"])).write_bytes(b"".join(p.read_bytes() for p in parts))
    for part in parts:
        part.unlink()
    rows = [2, 1_500, 2_100]
    predicted = result.iloc[[r - 1 for r in rows]]["predicted_price"].astype(float).to_numpy()
    items = [
        {"job_id": job["id"], "row": r, "actual_price": round(1.2 * p, 2)}
        for r, p in zip(rows, predicted, strict=True)
    ]
    redis.Redis.from_url(batch_env.redis_url).delete(feedback_key(job["model_version"], "alice"))

    answer = client.post("/v1/feedback", json={"items": items}, headers=ALICE)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["unknown"]) == (3, [])
    live = body["live"][job["model_version"]]["metrics"]
    assert live["mae"] == pytest.approx(np.mean(np.round(1.2 * predicted, 2) - predicted))


def blob_folder(env: BatchEnv) -> Path:
    """The local folder the session's worker keeps blobs in."""
    return Path(urlparse(env.blob_url).path)

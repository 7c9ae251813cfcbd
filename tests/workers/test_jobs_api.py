"""Batch jobs over HTTP, end to end: a real gateway, a real worker, a real Redis and model."""

from __future__ import annotations

import csv
import io
import json

import httpx
import pytest

from tests.support.houses import HEADER, houses_csv
from tests.support.jobs import submit, wait_final, wait_for
from tests.support.keys import ALICE, BOB
from tests.support.redis_state import wait_until_idle


def _result_rows(http: httpx.Client, job_id: str) -> list[dict[str, str]]:
    response = http.get(f"/v1/jobs/{job_id}/result", headers=ALICE)
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.text)))


def test_job_scores_every_row_in_order(client: httpx.Client) -> None:
    data = houses_csv(2_500, invalid_every=100)
    response = submit(client, data)
    assert response.status_code == 202
    job = response.json()
    assert job["status"] == "queued"
    assert job["model_version"]
    assert response.headers["location"] == job["links"]["self"]

    final = wait_final(client, job["id"])

    assert final["status"] == "succeeded", final
    assert (final["rows_total"], final["rows_done"], final["rows_failed"]) == (2_500, 2_500, 25)
    assert final["progress"] == 1.0
    rows = _result_rows(client, job["id"])
    source = list(csv.DictReader(io.StringIO(data.decode())))
    assert [r["sqft"] for r in rows] == [s["sqft"] for s in source]
    assert [r["location"] for r in rows] == [s["location"] for s in source]
    bad = [r for r in rows if r["error"]]
    assert len(bad) == 25
    assert all(r["predicted_price"] == "" for r in bad)
    good = [r for r in rows if not r["error"]]
    bounds = [(float(r["price_low"]), float(r["price_high"])) for r in good]
    prices = [float(r["predicted_price"]) for r in good]
    assert all(low < p < high for (low, high), p in zip(bounds, prices, strict=True))


def test_result_is_an_attachment_named_after_the_upload(client: httpx.Client) -> None:
    job = submit(client, houses_csv(10), filename="my houses.csv").json()
    wait_final(client, job["id"])

    response = client.get(f"/v1/jobs/{job['id']}/result", headers=ALICE)

    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert "my houses-scored.csv" in response.headers["content-disposition"]
    assert response.text.splitlines()[0] == (
        HEADER + ",predicted_price,price_low,price_high,error,warning"
    )


def test_multipart_upload_with_extra_columns_in_any_order(client: httpx.Client) -> None:
    data = (
        b"id,condition,year_built,location,bathrooms,bedrooms,sqft,notes\n"
        b'a1,Average,1960,North Ames,1.5,3,1656,"two\nlines"\n'
        b"a2,Good,2005,Somerset,2,4,2400,plain\n"
    )

    response = client.post(
        "/v1/jobs", files={"file": ("multi.csv", data, "text/csv")}, headers=ALICE
    )

    assert response.status_code == 202
    assert response.json()["filename"] == "multi.csv"
    final = wait_final(client, response.json()["id"])
    assert final["status"] == "succeeded"
    assert final["rows_failed"] == 0
    rows = _result_rows(client, final["id"])
    assert [(r["id"], r["notes"]) for r in rows] == [("a1", "two\nlines"), ("a2", "plain")]
    assert all(float(r["predicted_price"]) > 0 for r in rows)


def test_utf8_bom_is_accepted(client: httpx.Client) -> None:
    job = submit(client, b"\xef\xbb\xbf" + houses_csv(5)).json()

    final = wait_final(client, job["id"])

    assert final["status"] == "succeeded"
    assert final["rows_done"] == 5


@pytest.mark.parametrize("route", ["", "/events", "/result"], ids=["status", "events", "result"])
def test_another_key_gets_404_on_get_routes(client: httpx.Client, route: str) -> None:
    job = submit(client, houses_csv(5)).json()
    wait_final(client, job["id"])

    response = client.get(f"/v1/jobs/{job['id']}{route}", headers=BOB)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_another_key_cannot_delete_or_list_a_job(client: httpx.Client) -> None:
    job = submit(client, houses_csv(5)).json()

    assert client.delete(f"/v1/jobs/{job['id']}", headers=BOB).status_code == 404
    listed = client.get("/v1/jobs", params={"limit": 100}, headers=BOB).json()
    assert job["id"] not in [j["id"] for j in listed["jobs"]]
    assert client.get(f"/v1/jobs/{job['id']}", headers=ALICE).status_code == 200


def test_unknown_job_is_404(client: httpx.Client) -> None:
    assert client.get("/v1/jobs/no-such-job", headers=ALICE).status_code == 404


def test_job_routes_need_a_key(client: httpx.Client) -> None:
    assert client.get("/v1/jobs").status_code == 401


def test_list_is_newest_first_and_paginated(client: httpx.Client) -> None:
    ids = [submit(client, houses_csv(3), headers=BOB).json()["id"] for _ in range(3)]

    first = client.get("/v1/jobs", params={"limit": 2}, headers=BOB).json()
    second = client.get(
        "/v1/jobs", params={"limit": 2, "cursor": first["next_cursor"]}, headers=BOB
    ).json()

    listed = [j["id"] for j in first["jobs"] + second["jobs"]]
    assert listed[:3] == ids[::-1]
    assert first["next_cursor"] is not None


def test_delete_cancels_and_removes_files(client: httpx.Client, batch_env) -> None:
    job = submit(client, houses_csv(20)).json()
    wait_final(client, job["id"])
    folder = batch_env.state_dir / "blobs" / "jobs" / job["id"]
    assert folder.exists()

    assert client.delete(f"/v1/jobs/{job['id']}", headers=ALICE).status_code == 204

    assert client.get(f"/v1/jobs/{job['id']}", headers=ALICE).status_code == 404
    assert not folder.exists()


def test_same_idempotency_key_and_body_return_the_same_job(client: httpx.Client) -> None:
    data = houses_csv(7, seed=11)
    headers = {**ALICE, "Idempotency-Key": "upload-42"}

    first = submit(client, data, headers=headers)
    second = submit(client, data, headers=headers)
    other = submit(client, houses_csv(7, seed=12), headers=headers)

    assert first.json()["id"] == second.json()["id"]
    assert second.headers.get("idempotent-replayed") == "true"
    assert other.status_code == 422
    assert (
        submit(client, data, headers={**BOB, "Idempotency-Key": "upload-42"}).json()["id"]
        != first.json()["id"]
    )


def test_events_stream_progress_then_end(client: httpx.Client) -> None:
    job = submit(client, houses_csv(3_000)).json()

    events: list[tuple[str, dict]] = []
    with client.stream("GET", f"/v1/jobs/{job['id']}/events", headers=ALICE) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        name = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))

    assert events[0][0] == "progress"
    assert events[-1][0] == "end"
    assert events[-1][1]["status"] == "succeeded"
    assert [e for e, _ in events].count("end") == 1
    done = [payload["rows_done"] for _, payload in events]
    assert done == sorted(done)
    assert done[-1] == 3_000


def test_result_of_a_failed_job_is_409_naming_the_failure(client: httpx.Client) -> None:
    semicolons = HEADER.replace(",", ";").encode() + b"\n1656;3;1.5;North Ames;1960;Average\n"
    job = submit(client, semicolons).json()
    final = wait_final(client, job["id"])

    response = client.get(f"/v1/jobs/{job['id']}/result", headers=ALICE)

    assert final["status"] == "failed"
    assert response.status_code == 409
    problem = response.json()
    reason = final["error"].rstrip(".")
    assert "separated by semicolons" in reason
    assert problem["detail"] == f"This job failed: {reason}. It has no result."
    assert problem["title"] == "Job failed"


def test_unsupported_media_type_is_415(client: httpx.Client) -> None:
    # application/json is a job from a pointer (tests/workers/test_pointer_jobs.py)
    response = client.post(
        "/v1/jobs", content=b"<houses/>", headers={**ALICE, "Content-Type": "application/xml"}
    )
    assert response.status_code == 415


@pytest.mark.parametrize(
    "body",
    [
        b"--b0undary\r\nNone--b0undary--\r\n",  # a header line with no colon (found by fuzzing)
        b'--b0undary\r\nContent-Disposition: form-data; name="file"\r\n\r\nsqft\r\n--x',
        b'--b0undary\r\nContent-Disposition: form-data; name="other"\r\n\r\n1\r\n--b0undary--',
    ],
    ids=["malformed-header", "unterminated", "no-file-field"],
)
def test_a_broken_multipart_body_is_a_clear_400(client: httpx.Client, body: bytes) -> None:
    def job_ids() -> set[str]:
        return {job["id"] for job in client.get("/v1/jobs?limit=100", headers=ALICE).json()["jobs"]}

    before = job_ids()
    response = client.post(
        "/v1/jobs",
        content=body,
        headers={**ALICE, "Content-Type": "multipart/form-data; boundary=b0undary"},
    )
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["type"].endswith("bad-upload")
    assert "multipart" in problem["detail"]
    assert job_ids() == before  # no job, not even a failed one


def test_delete_while_running_stops_the_job_and_leaves_no_files(
    client: httpx.Client, batch_env
) -> None:
    job = submit(client, houses_csv(30_000, seed=5)).json()
    folder = batch_env.state_dir / "blobs" / "jobs" / job["id"]
    wait_for(client, job["id"], lambda j: j["rows_done"] > 0, timeout=120)

    assert client.delete(f"/v1/jobs/{job['id']}", headers=ALICE).status_code == 204

    wait_until_idle(batch_env.redis_url)  # the chunk a worker held has finished, no step waits
    assert not folder.exists()
    assert client.get(f"/v1/jobs/{job['id']}", headers=ALICE).status_code == 404

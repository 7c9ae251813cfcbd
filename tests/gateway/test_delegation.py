"""X-On-Behalf-Of: a delegate key (the web UI's) acts for end users, who each own their things."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.support.gateway_process import GatewayProcess
from tests.support.houses import HOUSE, houses_csv
from tests.support.jobs import submit, wait_final
from tests.support.keys import ALICE, BOB

ANN = {**ALICE, "X-On-Behalf-Of": "ann-4f1c9e"}
BEN = {**ALICE, "X-On-Behalf-Of": "ben_77d0a2"}


def test_two_end_users_of_one_delegate_key_see_only_their_own_jobs(
    jobs_client: httpx.Client,
) -> None:
    anns = submit(jobs_client, houses_csv(5, seed=1), headers=ANN, filename="ann.csv").json()
    bens = submit(jobs_client, houses_csv(5, seed=2), headers=BEN, filename="ben.csv").json()
    wait_final(jobs_client, anns["id"], headers=ANN)

    def listed(headers: dict[str, str]) -> set[str]:
        page = jobs_client.get("/v1/jobs", params={"limit": 100}, headers=headers).json()
        return {job["id"] for job in page["jobs"]}

    assert anns["id"] in listed(ANN)
    assert bens["id"] not in listed(ANN)
    assert bens["id"] in listed(BEN)
    assert anns["id"] not in listed(BEN)
    assert not {anns["id"], bens["id"]} & listed(ALICE)  # the key itself is another owner
    for route in ("", "/events", "/result"):
        assert jobs_client.get(f"/v1/jobs/{anns['id']}{route}", headers=BEN).status_code == 404
    assert jobs_client.get(f"/v1/jobs/{anns['id']}", headers=ALICE).status_code == 404
    assert jobs_client.post(f"/v1/jobs/{anns['id']}/cancel", headers=BEN).status_code == 404
    assert jobs_client.delete(f"/v1/jobs/{anns['id']}", headers=BEN).status_code == 404
    assert jobs_client.get(f"/v1/jobs/{anns['id']}", headers=ANN).json()["status"] == "succeeded"
    assert jobs_client.get(f"/v1/jobs/{anns['id']}/result", headers=ANN).status_code == 200


def test_feedback_counts_only_for_the_end_user_who_got_the_prediction(
    jobs_client: httpx.Client,
) -> None:
    prediction = jobs_client.post("/v1/predict", json=HOUSE, headers=ANN).json()
    item = {"items": [{"prediction_id": prediction["prediction_id"], "actual_price": 150_000}]}

    from_ben = jobs_client.post("/v1/feedback", json=item, headers=BEN).json()
    from_ann = jobs_client.post("/v1/feedback", json=item, headers=ANN).json()

    assert from_ben["accepted"] == 0
    assert from_ben["unknown"] == [prediction["prediction_id"]]
    assert from_ann["accepted"] == 1


def test_a_key_that_is_not_a_delegate_is_refused_with_403(jobs_client: httpx.Client) -> None:
    headers = {**BOB, "X-On-Behalf-Of": "ann-4f1c9e"}

    for response in (
        jobs_client.get("/v1/jobs", headers=headers),
        jobs_client.post("/v1/predict", json=HOUSE, headers=headers),
        submit(jobs_client, houses_csv(3), headers=headers),
    ):
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == "urn:hpp:problem:delegation-forbidden"
    assert jobs_client.get("/v1/jobs", headers=BOB).status_code == 200


@pytest.mark.parametrize("bad_id", ["", "a" * 65, "ann smith", "ann/ben", "ann.4f1c", "../x"])
def test_a_malformed_end_user_id_is_400(jobs_client: httpx.Client, bad_id: str) -> None:
    headers = {**ALICE, "X-On-Behalf-Of": bad_id}

    response = jobs_client.get("/v1/jobs", headers=headers)

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:hpp:problem:invalid-on-behalf-of"


def test_the_longest_id_is_accepted(jobs_client: httpx.Client) -> None:
    headers = {**ALICE, "X-On-Behalf-Of": "A-z_9" * 12 + "abcd"}
    assert jobs_client.get("/v1/jobs", headers=headers).status_code == 200


def test_request_lines_name_the_key_and_the_end_user(
    jobs_client: httpx.Client, gateway_process: GatewayProcess
) -> None:
    assert jobs_client.post("/v1/predict", json=HOUSE, headers=BEN).status_code == 200

    lines: list[dict] = []
    for _ in range(50):  # the line is written when the response has gone
        text = gateway_process.log_path.read_text(errors="replace")
        lines = [
            line
            for line in map(_json, text.splitlines())
            if line.get("event") == "request" and line.get("route") == "/v1/predict"
        ]
        if any(line.get("on_behalf_of") == "ben_77d0a2" for line in lines):
            break
        time.sleep(0.1)
    ben = [line for line in lines if line.get("on_behalf_of") == "ben_77d0a2"]
    assert ben
    assert ben[-1]["api_key_name"] == "alice"


def _json(line: str) -> dict:
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}

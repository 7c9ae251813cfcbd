"""Quotas and fairness through a real gateway and real workers.

One key's many submissions meet its quota of queued and running jobs (429 problem details
with ``Retry-After``) while other keys submit freely; under a delegate key each end user
has the same quota and the key a total. Another user's small job starts while the first
key's backlog is still waiting: steps reach the broker one owner at a time, so the order
does not depend on timing (the submissions are all made before the worker starts).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest

from core.settings import hash_api_key
from jobs.blobs import open_blob_store
from jobs.keys import JOBS_FOLDER, sources_key
from tests.support.batch_env import BatchEnv
from tests.support.gateway_process import start_gateway, stop_gateway
from tests.support.houses import houses_csv, numbered_houses
from tests.support.jobs import submit, wait_final
from tests.support.keys import ALICE, BOB
from tests.support.pointer_inputs import INPUT_PREFIXES, put_files, submit_pointer
from tests.support.redis_state import flush
from tests.support.row_accounting import account_rows
from tests.support.worker_process import StartWorker

PER_OWNER, PER_KEY = 5, 8
WEBUI_KEY = "webui-key-0123456789"
BACKLOG_JOBS, BACKLOG_ROWS = 5, 2_000


@pytest.fixture(scope="module")
def env(batch_env: BatchEnv) -> BatchEnv:
    """Redis database 4: 100-row chunks, two steps in the broker at once."""
    return batch_env.with_database(4, chunk_rows=100, extra={"HPP_DISPATCH_DEPTH": "2"})


@pytest.fixture(scope="module")
def gateway(env: BatchEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A gateway with the quotas above, keys alice, bob and the delegate key webui."""
    keys = {
        "alice": hash_api_key(ALICE["X-API-Key"]),
        "bob": hash_api_key(BOB["X-API-Key"]),
        "webui": hash_api_key(WEBUI_KEY),
    }
    process = start_gateway(
        env,
        tmp_path_factory.mktemp("quota") / "gateway.log",
        HPP_API_KEYS=json.dumps(keys),
        HPP_DELEGATE_KEY_NAMES='["webui"]',
        HPP_MAX_ACTIVE_JOBS=str(PER_OWNER),
        HPP_MAX_ACTIVE_JOBS_PER_KEY=str(PER_KEY),
        HPP_INPUT_PREFIXES=json.dumps(INPUT_PREFIXES),
    )
    yield process.url
    stop_gateway(process)


@pytest.fixture
def http(gateway: str, env: BatchEnv) -> Iterator[httpx.Client]:
    """A client of the gateway, on an empty database (no worker: jobs stay queued)."""
    flush(env.redis_url)
    with httpx.Client(base_url=gateway, timeout=60) as client:
        yield client


@pytest.mark.slow
def test_one_key_meets_its_quota_while_another_key_submits(http: httpx.Client) -> None:
    retried = {**ALICE, "Idempotency-Key": "first-upload"}
    answers = [submit(http, houses_csv(3), headers=retried)]
    answers += [submit(http, houses_csv(3)) for _ in range(29)]

    codes = [a.status_code for a in answers]
    assert codes == [202] * PER_OWNER + [429] * (30 - PER_OWNER)
    refused = answers[-1]
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["Retry-After"]) > 0
    problem = refused.json()
    assert problem["type"] == "urn:hpp:problem:too-many-active-jobs"
    assert problem["detail"].startswith(f"You have {PER_OWNER} jobs queued or running")
    assert submit(http, houses_csv(3), headers=BOB).status_code == 202
    replay = submit(http, houses_csv(3), headers=retried)  # a retry at the quota: not refused
    assert (replay.status_code, replay.headers.get("Idempotent-Replayed")) == (202, "true")
    first = answers[0].json()["id"]
    assert replay.json()["id"] == first
    assert http.post(f"/v1/jobs/{first}/cancel", headers=ALICE).status_code == 200
    assert submit(http, houses_csv(3)).status_code == 202  # a place came free


@pytest.mark.slow
def test_a_pointer_job_refused_at_the_quota_leaves_no_file_list_behind(
    http: httpx.Client, env: BatchEnv
) -> None:
    put_files(env.blob_url, "inputs/alice/quota/", {"houses.csv": houses_csv(3)})
    before = set(_job_folders(env.blob_url))
    answers = [  # each its own Idempotency-Key: refused at admission, after the list was written
        submit_pointer(
            http, {"input": "inputs/alice/quota/"}, headers={**ALICE, "Idempotency-Key": f"p{n}"}
        )
        for n in range(PER_OWNER + 2)
    ]

    assert [a.status_code for a in answers] == [202] * PER_OWNER + [429] * 2
    accepted = {a.json()["id"] for a in answers[:PER_OWNER]}
    assert set(_job_folders(env.blob_url)) - before == accepted
    assert all(_exists(env.blob_url, sources_key(job_id)) for job_id in accepted)


@pytest.mark.slow
def test_each_end_user_of_a_delegate_key_has_a_quota_and_the_key_a_total(
    http: httpx.Client,
) -> None:
    def as_user(user: str) -> httpx.Response:
        headers = {"X-API-Key": WEBUI_KEY, "X-On-Behalf-Of": user}
        return submit(http, houses_csv(3), headers=headers)

    ann = [as_user("ann").status_code for _ in range(PER_OWNER + 1)]
    ben = [as_user("ben") for _ in range(PER_KEY - PER_OWNER + 1)]

    assert ann == [202] * PER_OWNER + [429]
    assert [r.status_code for r in ben] == [202] * (PER_KEY - PER_OWNER) + [429]
    assert ben[-1].json()["detail"].startswith(f"This API key has {PER_KEY} jobs")
    assert submit(http, houses_csv(3)).status_code == 202  # other keys are unaffected


@pytest.mark.slow
def test_another_users_small_job_runs_while_the_first_keys_backlog_waits(
    http: httpx.Client, env: BatchEnv, start_worker: StartWorker
) -> None:
    inputs = [numbered_houses(BACKLOG_ROWS, seed=n) for n in range(BACKLOG_JOBS)]
    backlog = [submit(http, data).json()["id"] for data in inputs]
    small = submit(http, houses_csv(1), headers=BOB).json()["id"]

    worker = start_worker(env)
    assert wait_final(http, small, headers=BOB)["status"] == "succeeded"
    meanwhile = [http.get(f"/v1/jobs/{job}", headers=ALICE).json() for job in backlog]
    finals = [wait_final(http, job) for job in backlog]
    worker.stop()

    done_meanwhile = sum(job["rows_done"] for job in meanwhile)
    print(
        f"\nbob's job finished with {done_meanwhile:,} of alice's "
        f"{BACKLOG_JOBS * BACKLOG_ROWS:,} rows done"
    )
    assert done_meanwhile < BACKLOG_JOBS * BACKLOG_ROWS // 4
    assert sum(job["status"] != "succeeded" for job in meanwhile) == BACKLOG_JOBS
    for job, data in zip(finals, inputs, strict=True):
        assert job["status"] == "succeeded", job
        result = http.get(f"/v1/jobs/{job['id']}/result", headers=ALICE).content
        account = account_rows(data, result)
        assert (account.lost, account.duplicated, account.out_of_order) == (0, 0, False)


def _job_folders(blob_url: str) -> list[str]:
    async def children() -> list[str]:
        store = open_blob_store(blob_url)
        try:
            return await store.list_children(JOBS_FOLDER)
        finally:
            await store.aclose()

    return asyncio.run(children())


def _exists(blob_url: str, key: str) -> bool:
    async def size() -> int | None:
        store = open_blob_store(blob_url)
        try:
            return await store.size(key)
        finally:
            await store.aclose()

    return asyncio.run(size()) is not None

"""Jobs from a pointer: inputs already in the blob store, locally (a folder) and on S3 (moto).

Every test runs against both stores: a gateway and a worker process on each, the gateway
configured with the prefixes each key may read (``tests.support.pointer_inputs``).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, replace

import httpx
import pytest
import redis
from aiobotocore.session import get_session

from jobs.keys import job_key, job_prefix, sources_key
from tests.support.batch_env import BatchEnv
from tests.support.gateway_process import start_gateway, stop_gateway
from tests.support.houses import numbered_houses
from tests.support.jobs import run_clean, submit, wait_final, wait_for
from tests.support.keys import ALICE, BOB
from tests.support.pointer_inputs import (
    INPUT_PREFIXES,
    parquet_rows,
    put_files,
    split_files,
    submit_pointer,
)
from tests.support.redis_state import flush
from tests.support.row_accounting import account_rows
from tests.support.worker_process import StartWorker

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Store:
    """A gateway and worker on one blob store, and how a pointer names a key in it."""

    name: str
    url: str  # the gateway
    blob_url: str
    endpoint: str | None
    redis_url: str

    def pointer(self, key: str) -> str:
        """The URL form of a blob-store key (s3://bucket/prefix/key or file:///root/key)."""
        return f"{self.blob_url.rstrip('/')}/{key}"

    def put(self, folder: str, files: dict[str, bytes]) -> None:
        """Write ``files`` under ``folder`` of this store."""
        put_files(self.blob_url, folder, files, endpoint_url=self.endpoint)


@pytest.fixture(scope="module", params=["local", "s3"])
def store(
    request: pytest.FixtureRequest,
    batch_env: BatchEnv,
    start_worker: StartWorker,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Store]:
    """A gateway and a worker on a blob folder (Redis db 13, which no other module's worker
    reads: one left on db 7 took these jobs in the full suite) or a moto bucket (db 8)."""
    env = batch_env.with_database(13)
    endpoint = None
    if request.param == "s3":
        endpoint = request.getfixturevalue("moto_server")
        bucket = f"hpp-pointer-{secrets.token_hex(4)}"
        asyncio.run(_make_bucket(endpoint, bucket))
        env = replace(
            batch_env.with_database(8),
            blob_url=f"s3://{bucket}/hpp",
            extra={**batch_env.extra, "AWS_ENDPOINT_URL": endpoint},
        )
    else:
        env = replace(env, blob_url=(tmp_path_factory.mktemp("pointer") / "blobs").as_uri())
    flush(env.redis_url)  # nothing left in this database by an earlier module
    worker = start_worker(env)
    log = tmp_path_factory.mktemp(f"pointer-{request.param}") / "gateway.log"
    gateway = start_gateway(env, log, HPP_INPUT_PREFIXES=json.dumps(INPUT_PREFIXES))
    yield Store(request.param, gateway.url, env.blob_url, endpoint, env.redis_url)
    stop_gateway(gateway)
    worker.stop()


@pytest.fixture
def http(store: Store) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=store.url, timeout=60) as client:
        yield client


def test_mixed_csv_gzip_and_parquet_prefix_scores_every_row_once_in_order(
    store: Store, http: httpx.Client
) -> None:
    data = numbered_houses(4_000, seed=3)
    kinds = ["csv", "parquet", "csv.gz", "parquet"]
    files = split_files(data, kinds)
    folder = f"inputs/alice/mixed-{secrets.token_hex(3)}/"
    names = {
        f"{i}-houses.{kind}": body for i, (kind, body) in enumerate(zip(kinds, files, strict=True))
    }
    store.put(folder, {**names, "_SUCCESS": b""})
    _, uploaded = run_clean(http, data)

    job = submit_pointer(http, {"input": store.pointer(folder)})
    assert job.status_code == 202, job.text
    final = wait_final(http, job.json()["id"])
    result = http.get(f"/v1/jobs/{final['id']}/result", headers=ALICE)

    assert final["status"] == "succeeded", final
    assert (final["input_files"], final["rows_done"]) == (4, 4_000)
    assert final["rows_failed"] == 4_000 // 997
    account = account_rows(data, result.content)
    assert (account.rows, account.lost, account.duplicated) == (4_000, 0, 0)
    assert not account.out_of_order
    assert result.content == uploaded  # the same bytes as the upload of the same rows
    assert result.headers["content-length"] == str(len(uploaded))


def test_gzip_csv_is_cut_into_chunks_and_read_in_order(store: Store, http: httpx.Client) -> None:
    data = numbered_houses(3_500, seed=4)  # 1,000-row chunks: four read from one gzip stream
    key = f"inputs/alice/gz-{secrets.token_hex(3)}/houses.csv.gz"
    store.put("", {key: split_files(data, ["csv.gz"])[0]})

    job = submit_pointer(http, {"input": key}).json()  # a key relative to the store
    final = wait_final(http, job["id"])
    result = http.get(f"/v1/jobs/{job['id']}/result", headers=ALICE).content

    assert final["status"] == "succeeded", final
    account = account_rows(data, result)
    assert (account.rows, account.lost, account.duplicated) == (3_500, 0, 0)
    assert not account.out_of_order


def test_parquet_out_to_a_named_destination_keeps_types_and_order(
    store: Store, http: httpx.Client
) -> None:
    data = numbered_houses(2_600, seed=5)
    run = secrets.token_hex(3)
    folder = f"inputs/alice/pq-{run}/"
    store.put(
        folder, {f"{i}.parquet": body for i, body in enumerate(split_files(data, ["parquet"] * 3))}
    )
    destination = f"inputs/alice/out-{run}/"

    job = submit_pointer(
        http,
        {"input": store.pointer(folder), "output_format": "parquet", "destination": destination},
    ).json()
    final = wait_final(http, job["id"])
    response = http.get(f"/v1/jobs/{job['id']}/result", headers=ALICE)
    table = parquet_rows(response.content)
    listed = asyncio.run(_list(store, f"{destination}{job['id']}/"))

    assert final["status"] == "succeeded", final
    assert final["output_format"] == "parquet"
    assert response.headers["content-type"] == "application/vnd.apache.parquet"
    ids = table.column("row_id").to_pylist()
    assert ids == [f"r{i}" for i in range(2_600)]
    assert str(table.schema.field("sqft").type) == "int64"  # every input Parquet: types kept
    assert str(table.schema.field("predicted_price").type) == "double"
    priced = table.column("predicted_price").to_pylist()
    errors = table.column("error").to_pylist()
    assert all((p is None) == (e is not None) for p, e in zip(priced, errors, strict=True))
    assert sum(e is not None for e in errors) == 2_600 // 997
    assert f"{destination}{job['id']}/manifest.json" in listed
    assert sum(k.endswith(".parquet") for k in listed) == 3  # one part per 1,000-row chunk


def test_a_pointer_jobs_record_is_as_small_with_2_000_files_as_with_2(
    store: Store, http: httpx.Client
) -> None:
    """The file list is a blob in the job's folder: every read of the job (the API, the
    list, the event stream, the web app's polls) loads a hash of the same size however many
    files; the list goes with the job's folder when the job is cancelled or deleted."""
    run, house = secrets.token_hex(3), numbered_houses(1, seed=8)
    ids: dict[int, str] = {}
    for count in (2, 2_000):
        folder = f"inputs/alice/files-{count:04d}-{run}/"  # names of one length
        store.put(folder, {f"{n:04d}.csv": house for n in range(count)})
        job = submit_pointer(http, {"input": store.pointer(folder)})
        assert job.status_code == 202, job.text
        assert job.json()["input_files"] == count
        ids[count] = job.json()["id"]
    listed = asyncio.run(_read(store, sources_key(ids[2_000])))  # before a cancel deletes it
    small = wait_final(http, ids[2])
    planned = wait_for(http, ids[2_000], lambda job: job["rows_total"] or job["finished_at"])
    http.post(f"/v1/jobs/{ids[2_000]}/cancel", headers=ALICE)  # planned: stop its 2,000 chunks
    large = wait_final(http, ids[2_000])
    client = redis.Redis.from_url(store.redis_url, decode_responses=True)
    hashes = {count: client.hgetall(job_key(job_id)) for count, job_id in ids.items()}
    sizes = {  # but the drift report of a finished job (the small one): bounded, not a list
        count: sum(len(k) + len(v) for k, v in h.items() if k != "drift")
        for count, h in hashes.items()
    }

    assert (small["status"], small["input_files"], small["rows_done"]) == ("succeeded", 2, 2)
    assert planned["rows_total"] == 2_000, planned
    assert (large["status"], large["input_files"]) == ("cancelled", 2_000)
    assert "sources" not in hashes[2_000]
    assert hashes[2_000]["input_files"] == "2000"
    # Only digits differ (counts, times): the list itself is 1,000 times the difference.
    assert abs(sizes[2_000] - sizes[2]) < 100, (sizes, hashes)
    assert sizes[2_000] < 1_000
    assert len(json.loads(listed)) == 2_000
    assert len(listed) > 1_000 * abs(sizes[2_000] - sizes[2])
    assert asyncio.run(_list(store, job_prefix(ids[2_000]))) == []  # cancelled: files gone
    assert sources_key(ids[2]) in asyncio.run(_list(store, job_prefix(ids[2])))
    assert http.delete(f"/v1/jobs/{ids[2]}", headers=ALICE).status_code == 204
    assert asyncio.run(_list(store, job_prefix(ids[2]))) == []  # the list went with the job
    client.close()


def test_pointer_outside_the_keys_prefixes_is_refused_and_shows_nothing(
    store: Store, http: httpx.Client
) -> None:
    secret = numbered_houses(50, seed=6)
    store.put("inputs/alice/private/", {"houses.csv": secret})
    upload = submit(http, numbered_houses(20, seed=7), headers=BOB).json()
    wait_final(http, upload["id"], headers=BOB)
    attempts = [
        (BOB, {"input": "inputs/alice/private/"}),  # another key's prefix
        (BOB, {"input": store.pointer("inputs/alice/private/houses.csv")}),
        (ALICE, {"input": f"jobs/{upload['id']}/input.csv"}),  # another key's upload
        (ALICE, {"input": f"jobs/{upload['id']}/"}),  # or its results
        (ALICE, {"input": "inputs/alice/../bob/"}),
        (ALICE, {"input": "inputs/alicex/"}),
        (ALICE, {"input": "s3://another-bucket/inputs/alice/private/"}),
        (ALICE, {"input": "file:///etc/passwd"}),
        (ALICE, {"input": "inputs/alice/private/", "destination": "inputs/bob/"}),
        (ALICE, {"input": "inputs/alice/private/", "destination": "jobs/"}),
        (ALICE, {"input": "inputs/alice/nothing-here/"}),
    ]
    for headers, body in attempts:
        response = submit_pointer(http, body, headers=headers)
        assert response.status_code == 404, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert b"r1," not in response.content
    jobs = http.get("/v1/jobs", headers=BOB).json()["jobs"]
    assert [j["id"] for j in jobs] == [upload["id"]]  # no job was made by a refusal


def test_bad_pointer_bodies_are_problem_details(store: Store, http: httpx.Client) -> None:
    store.put("inputs/alice/notes/", {"readme.txt": b"hello"})
    cases: list[dict[str, object]] = [
        {"input": ""},
        {"input": "inputs/alice/", "output_format": "xlsx"},
        {"input": "inputs/alice/", "surprise": 1},
        {"input": "inputs/alice/notes/"},  # no .csv, .csv.gz or .parquet there
    ]
    for body in cases:
        response = submit_pointer(http, body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["detail"]
    assert (
        http.post(
            "/v1/jobs", content=b"{", headers={**ALICE, "Content-Type": "application/json"}
        ).status_code
        == 422
    )


async def _make_bucket(endpoint: str, bucket: str) -> None:
    async with get_session().create_client("s3", endpoint_url=endpoint) as s3:
        await s3.create_bucket(Bucket=bucket)


async def _read(store: Store, key: str) -> bytes:
    from jobs.blobs import open_blob_store

    blobs = open_blob_store(store.blob_url, endpoint_url=store.endpoint)
    try:
        return b"".join([block async for block in blobs.iter_bytes(key)])
    finally:
        await blobs.aclose()


async def _list(store: Store, prefix: str) -> list[str]:
    from jobs.blobs import open_blob_store

    blobs = open_blob_store(store.blob_url, endpoint_url=store.endpoint)
    try:
        return [key for key, _ in await blobs.list_objects(prefix)]
    finally:
        await blobs.aclose()

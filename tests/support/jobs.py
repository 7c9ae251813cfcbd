"""CSV jobs driven over HTTP: submit one, wait for a state, fetch a clean result."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from jobs.blobs import open_blob_store
from jobs.keys import manifest_key
from jobs.manifest import read_manifest, stream_result
from tests.support.keys import ALICE

FINAL = {"succeeded", "failed", "cancelled"}


def submit(
    http: httpx.Client,
    data: bytes,
    *,
    headers: dict[str, str] | None = None,
    filename: str = "houses.csv",
) -> httpx.Response:
    """POST a CSV body as a job."""
    return http.post(
        "/v1/jobs",
        content=data,
        params={"filename": filename},
        headers={**(headers or ALICE), "Content-Type": "text/csv"},
    )


def wait_final(
    http: httpx.Client,
    job_id: str,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 180.0,
) -> dict[str, Any]:
    """Poll the job until it reaches a final state; returns its JSON."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = http.get(f"/v1/jobs/{job_id}", headers=headers or ALICE).json()
        if job["status"] in FINAL:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} not final after {timeout}s")


def wait_for(
    http: httpx.Client,
    job_id: str,
    predicate: Callable[..., bool],
    *,
    timeout: float = 300.0,
) -> dict[str, Any]:
    """Poll the job until ``predicate(job)`` holds; returns that job JSON."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = http.get(f"/v1/jobs/{job_id}", headers=ALICE).json()
        if predicate(job):
            return job
        if job["status"] in FINAL:
            raise AssertionError(f"job ended before the condition held: {job}")
        time.sleep(0.02)
    raise AssertionError(f"condition not reached on job {job_id} in {timeout}s")


def run_clean(
    http: httpx.Client, data: bytes, *, timeout: float = 300.0
) -> tuple[dict[str, Any], bytes]:
    """Submit ``data``, wait for success, return the job and its result bytes."""
    response = submit(http, data)
    assert response.status_code == 202, response.text
    job = wait_final(http, response.json()["id"], timeout=timeout)
    assert job["status"] == "succeeded", job
    result = http.get(f"/v1/jobs/{job['id']}/result", headers=ALICE)
    assert result.status_code == 200
    return job, result.content


def stored_result(blob_url: str, job_id: str) -> bytes:
    """A finished job's result read from the blob store (its parts, by its manifest)."""

    async def read() -> bytes:
        store = open_blob_store(blob_url)
        try:
            manifest = await read_manifest(store, manifest_key(job_id))
            if manifest is None:
                raise AssertionError(f"job {job_id} has no result manifest")
            return b"".join([data async for data in stream_result(store, manifest)])
        finally:
            await store.aclose()

    return asyncio.run(read())

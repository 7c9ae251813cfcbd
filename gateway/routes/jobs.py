"""Batch jobs: upload a CSV, follow its progress, download the scored CSV.

The upload streams to the blob store (the body limit middleware refuses an oversize
``Content-Length`` up front and cuts a longer stream off with 413); the job record goes
to Redis and the plan task to the workers. Every route answers 404 for a job the caller
does not own, exactly as for one that does not exist.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import PurePosixPath
from typing import Annotated, Any
from urllib.parse import quote

import anyio
import redis
from celery import Celery
from fastapi import APIRouter, FastAPI, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from redis.exceptions import RedisError
from starlette.types import Receive, Scope, Send

from core.settings import AppSettings
from gateway.deps import CallerDep, serving_predictor
from gateway.errors import ProblemError
from gateway.job_events import JobEventHub, StreamLimits
from gateway.openapi import problem_responses
from gateway.pointer_jobs import (
    MAX_POINTER_BODY_BYTES,
    parse_pointer,
    resolve_pointer,
)
from gateway.security import Caller
from gateway.uploads import Upload
from gateway.webhooks import validated_webhook_url
from jobs.async_store import Admission, AsyncJobStore, Quota
from jobs.blobs import BlobNotFoundError, BlobStore, BlobTooLargeError, open_blob_store
from jobs.fairqueue import FairQueue, Step
from jobs.file_list import save_sources
from jobs.keys import input_key, job_prefix, manifest_key, result_key, summary_key
from jobs.manifest import CSV_MEDIA_TYPE, PARQUET_MEDIA_TYPE, read_manifest, stream_result
from jobs.models import CANCELLED, FAILED, SUCCEEDED, Job, JobPage, JobRecord, JobSummary
from jobs.notices import notice_tasks
from jobs.outbox import NoticePolicy
from jobs.pointer import PointerJob
from jobs.queue import PLAN_TASK, create_celery, send_notices, step_task_id
from jobs.store import new_job_id
from jobs.webhook_targets import MAX_URL_LENGTH
from ml.categories import UNKNOWN_CATEGORY_MODES, UnknownCategories, parse_mode
from ml.comparables import MAX_JOB_COMPARABLES
from observability import metrics
from observability.logging import get_logger

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
log = get_logger("gateway.jobs")
UPLOAD_MARK_SECONDS = 6 * 3600
HEARTBEAT_SECONDS = 15.0
QUOTA_RETRY_AFTER_SECONDS = 15
MAX_PAGE = 100


@dataclass
class JobsRuntime:
    """What the job routes use: the job store, the blob store, a Celery client and the
    owners' step queues (plans are dispatched through them, fairly)."""

    settings: AppSettings
    store: AsyncJobStore
    blobs: BlobStore
    celery: Celery
    events: JobEventHub
    streams: StreamLimits
    fair: FairQueue

    @property
    def quota(self) -> Quota:
        """Queued or running jobs allowed per owner and per key."""
        gateway = self.settings.gateway
        return Quota(per_owner=gateway.max_active_jobs, per_key=gateway.max_active_jobs_per_key)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open what the job routes need (Redis, blob store) for the app's lifetime."""
    settings: AppSettings = app.state.settings
    app.state.jobs = None
    if not settings.core.redis_url:
        log.warning("jobs_disabled", reason="HPP_REDIS_URL is not set")
        yield
        return
    store = AsyncJobStore.from_url(
        settings.core.redis_url,
        ttl_seconds=settings.worker.result_ttl_seconds,
        max_connections=settings.gateway.redis_max_connections,
        notices=NoticePolicy.from_settings(settings.core),
    )
    gateway = settings.gateway
    celery = create_celery(settings)
    dispatch_client = redis.Redis.from_url(
        settings.core.redis_url, decode_responses=True, socket_connect_timeout=2, socket_timeout=5
    )
    runtime = JobsRuntime(
        settings=settings,
        store=store,
        blobs=open_blob_store(settings.core.resolved_blob_url()),
        celery=celery,
        fair=FairQueue.for_app(celery, dispatch_client),
        events=JobEventHub(store.client),
        streams=StreamLimits(
            per_owner=gateway.max_streams_per_owner,
            per_key=gateway.max_streams_per_key,
            total=gateway.max_streams,
        ),
    )
    runtime.events.start()
    app.state.jobs = runtime
    try:
        yield
    finally:
        app.state.jobs = None
        await runtime.events.aclose()
        await runtime.store.aclose()
        await runtime.blobs.aclose()
        dispatch_client.close()
        celery.close()


# The upload is read as a stream (not a declared parameter), so the body and the links from
# the new job to its routes are documented here, for clients and for stateful API tests.
_JOB_LINKS = {
    name: {"operationId": operation, "parameters": {"job_id": "$response.body#/id"}}
    for name, operation in {
        "GetJob": "get_job_v1_jobs__job_id__get",
        "JobEvents": "job_events_v1_jobs__job_id__events_get",
        "JobResult": "job_result_v1_jobs__job_id__result_get",
        "JobSummary": "job_summary_v1_jobs__job_id__summary_get",
        "CancelJob": "cancel_job_v1_jobs__job_id__cancel_post",
        "DeleteJob": "delete_job_v1_jobs__job_id__delete",
    }.items()
}
# One Server-Sent Event: its name, and the job as JSON in its data.
_EVENT = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["progress", "end"]},
        "data": {"type": "string", "contentMediaType": "application/json"},
    },
}
_UPLOAD_BODY = {
    "required": True,
    "content": {
        # Any bytes are taken: a file that is not a readable CSV fails its job, saying why.
        "text/csv": {"schema": {"description": "The CSV file's bytes"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "unknown_categories": {
                        "type": "string",
                        "enum": list(UNKNOWN_CATEGORY_MODES),
                        "description": "As the query parameter of the same name.",
                    },
                    "webhook_url": {
                        "type": "string",
                        "maxLength": MAX_URL_LENGTH,
                        "description": "As the query parameter of the same name.",
                    },
                },
                "required": ["file"],
            }
        },
        # A job from a pointer: an input already in the blob store (gateway.pointer_jobs).
        "application/json": {"schema": PointerJob.model_json_schema()},
    },
}


@router.post(
    "",
    status_code=202,
    response_model=Job,
    summary="Submit a CSV for batch scoring, or name an input already in the blob store",
    responses={
        202: {"description": "The job, queued", "links": _JOB_LINKS},
        **problem_responses(400, 403, 404, 413, 415, 422, 429),
    },
    openapi_extra={"requestBody": _UPLOAD_BODY},
)
async def submit_job(
    request: Request,
    caller: CallerDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    comparables: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_JOB_COMPARABLES,
            description="Add the k most similar training sales to every row as columns "
            "comp{i}_price, comp{i}_adjusted, comp{i}_distance (i = 1..k).",
        ),
    ] = None,
    unknown_categories: Annotated[
        UnknownCategories | None,
        Query(
            description="Rows whose location or condition is like no name the model knows: "
            "'warn' prices them as unknown with a warning, 'error' rejects them (their error "
            "cell says why). Also accepted as a multipart form field. Default: the gateway's "
            "HPP_UNKNOWN_CATEGORIES. Near misses of a known name are rejected either way."
        ),
    ] = None,
    webhook_url: Annotated[
        str | None,
        Query(
            max_length=MAX_URL_LENGTH,
            description="Notified when the job reaches a final state (succeeded, failed, "
            "cancelled): a signed POST of the job's status, counts and result link. https "
            "and a configured host only (HPP_WEBHOOK_ALLOWED_HOSTS). Also accepted as a "
            "multipart form field.",
        ),
    ] = None,
) -> JSONResponse:
    """Stream the CSV to the blob store, record the job, and queue it for the workers.

    An owner (or key) at its quota of queued and running jobs gets 429 before the upload
    is read (unless an ``Idempotency-Key`` may replay an earlier job), and again if others
    took the last place while it streamed.
    """
    # A pointer's JSON body is read and parsed (its depth, size and fields checked) before
    # anything else, so a malformed body is the caller's 4xx whatever the state of the gateway.
    pointer_body = (
        await _read_capped(request, MAX_POINTER_BODY_BYTES)
        if _media_type(request) == "application/json"
        else None
    )
    pointer = parse_pointer(pointer_body) if pointer_body is not None else None
    jobs = await _runtime(request)
    webhook_url = await validated_webhook_url(webhook_url, jobs.settings.core)
    if pointer_body is not None and pointer is not None:
        return await _submit_pointer(
            request,
            pointer_body,
            pointer,
            jobs,
            caller,
            idempotency_key,
            comparables=comparables,
            unknown_categories=unknown_categories,
            webhook_url=webhook_url,
        )
    if not idempotency_key:
        _check_admission(await jobs.store.admit(**_quota_args(jobs, caller)))
    upload = Upload(request)
    version = await _model_version(request)
    job_id = new_job_id()
    await jobs.store.mark_upload(job_id, seconds=UPLOAD_MARK_SECONDS)
    digest = hashlib.sha256()

    async def hashed() -> AsyncIterator[bytes]:
        async for chunk in upload.stream():
            digest.update(chunk)
            yield chunk

    try:
        size = await jobs.blobs.put_stream(
            input_key(job_id), hashed(), limit=jobs.settings.gateway.max_upload_bytes
        )
    except BlobTooLargeError as exc:
        await jobs.blobs.delete_prefix(job_prefix(job_id))
        raise ProblemError(413, str(exc), kind="body-too-large", title="Content Too Large") from exc
    except BaseException:
        await _discard_upload(jobs, job_id)
        raise
    try:
        mode = _job_mode(unknown_categories, upload, jobs.settings.core.unknown_categories)
        if webhook_url is None:
            webhook_url = await validated_webhook_url(
                upload.fields.get("webhook_url"), jobs.settings.core
            )
    except ProblemError:
        await jobs.blobs.delete_prefix(job_prefix(job_id))
        raise
    if idempotency_key:
        replay = await _replay(jobs, caller.owner, idempotency_key, digest.hexdigest(), job_id)
        if replay is not None:
            await jobs.blobs.delete_prefix(job_prefix(job_id))
            return _job_response(replay, status=202, replayed=True)
    record = JobRecord(
        id=job_id,
        owner=caller.owner,
        filename=_safe_name(upload.filename),
        created_at=time.time(),
        input_key=input_key(job_id),
        input_bytes=size,
        model_version=version,
        comparables=comparables or 0,
        unknown_categories=mode,
        webhook_url=webhook_url,
    )
    admission = await jobs.store.admit(**_quota_args(jobs, caller), record=record)
    if not admission.admitted:
        await jobs.blobs.delete_prefix(job_prefix(job_id))
        _check_admission(admission)
    # The record protects the blobs from the orphan sweep now; the mark must not outlive it
    # (with a result TTL under the mark's 6 h, expired blobs would be kept until then).
    await jobs.store.unmark_upload(job_id)
    plan = Step(PLAN_TASK, [job_id], step_task_id(job_id, "plan"))
    await anyio.to_thread.run_sync(lambda: jobs.fair.submit(caller.owner, [plan]))
    metrics.record_job_submitted()
    log.info("job_submitted", job_id=job_id, owner=caller.owner, bytes=size, model_version=version)
    return _job_response(record, status=202)


async def _submit_pointer(
    request: Request,
    body: bytes,
    pointer: PointerJob,
    jobs: JobsRuntime,
    caller: Caller,
    idempotency_key: str | None,
    *,
    comparables: int | None,
    unknown_categories: UnknownCategories | None,
    webhook_url: str | None,
) -> JSONResponse:
    """A job whose input is already in the blob store (``gateway.pointer_jobs``)."""
    if not idempotency_key:
        _check_admission(await jobs.store.admit(**_quota_args(jobs, caller)))
    resolved = await resolve_pointer(
        pointer, caller=caller, blobs=jobs.blobs, settings=jobs.settings
    )
    version = await _model_version(request)
    job_id = new_job_id()
    if idempotency_key:
        digest = hashlib.sha256(body).hexdigest()
        replay = await _replay(jobs, caller.owner, idempotency_key, digest, job_id)
        if replay is not None:
            return _job_response(replay, status=202, replayed=True)
    mode = unknown_categories or pointer.unknown_categories or jobs.settings.core.unknown_categories
    # The file list is a blob in the job's folder (jobs.file_list), written before the record
    # exists: marked as an upload is, so the orphan sweep leaves it alone until then, and
    # removes it if the gateway dies before the record is stored.
    await jobs.store.mark_upload(job_id, seconds=UPLOAD_MARK_SECONDS)
    try:
        sources_blob = await save_sources(jobs.blobs, job_id, resolved.sources)
    except BaseException:
        await _discard_upload(jobs, job_id)
        raise
    record = JobRecord(
        id=job_id,
        owner=caller.owner,
        filename=_safe_name(PurePosixPath(resolved.input_key).name),
        created_at=time.time(),
        input_key=resolved.input_key,
        input_bytes=sum(source.bytes for source in resolved.sources),
        model_version=version,
        comparables=comparables or pointer.comparables or 0,
        unknown_categories=mode,
        input_files=len(resolved.sources),
        sources_blob=sources_blob,
        output_format=pointer.output_format,
        destination=resolved.destination,
        webhook_url=webhook_url,
    )
    admission = await jobs.store.admit(**_quota_args(jobs, caller), record=record)
    if not admission.admitted:
        await _discard_upload(jobs, job_id)
        _check_admission(admission)
    await jobs.store.unmark_upload(job_id)
    plan = Step(PLAN_TASK, [job_id], step_task_id(job_id, "plan"))
    await anyio.to_thread.run_sync(lambda: jobs.fair.submit(caller.owner, [plan]))
    metrics.record_job_submitted()
    log.info(
        "job_submitted",
        job_id=job_id,
        owner=caller.owner,
        input=resolved.input_key,
        files=len(resolved.sources),
        bytes=record.input_bytes,
        output_format=record.output_format,
        model_version=version,
    )
    return _job_response(record, status=202)


async def _read_capped(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            break
    return bytes(body)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


@router.get("", summary="The caller's jobs, newest first", response_model=JobPage)
async def list_jobs(
    request: Request,
    caller: CallerDep,
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE)] = None,
    cursor: Annotated[
        str | None,
        Query(
            max_length=40,
            pattern=r"^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$",
            description="next_cursor of the previous page",
        ),
    ] = None,
) -> JobPage:
    """One page of the caller's jobs and the cursor of the next page."""
    jobs = await _runtime(request)
    try:
        after = float(cursor) if cursor else None
    except ValueError as exc:
        raise ProblemError(422, "cursor is not one this API returned", kind="validation") from exc
    records, next_cursor = await jobs.store.list(
        owner=caller.owner, limit=limit or jobs.settings.worker.jobs_per_page, cursor=after
    )
    return JobPage(
        jobs=[_job(r) for r in records],
        next_cursor=repr(next_cursor) if next_cursor is not None else None,
    )


@router.get("/{job_id}", summary="A job's status and progress", response_model=Job)
async def get_job(request: Request, caller: CallerDep, job_id: str) -> Job:
    """Status, row counts, progress, rows per second and ETA."""
    jobs = await _runtime(request)
    return _job(await _owned(jobs, job_id, caller.owner))


@router.get(
    "/{job_id}/events",
    summary="Progress as Server-Sent Events",
    response_class=Response,
    responses={
        200: {
            "description": "`event: progress` with the Job JSON on every change, "
            "`event: end` at a final state",
            "content": {"text/event-stream": {"schema": _EVENT}},
        },
        **problem_responses(503),
    },
)
async def job_events(request: Request, caller: CallerDep, job_id: str) -> StreamingResponse:
    """``event: progress`` with the Job JSON on every change; ``event: end`` at a final state."""
    jobs = await _runtime(request)
    await _owned(jobs, job_id, caller.owner)
    jobs.streams.admit(caller)
    return _CountedStream(
        _events(request, jobs, job_id, caller.owner),
        release=partial(jobs.streams.release, caller),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


class _CountedStream(StreamingResponse):
    """A streaming response that gives its stream slot back however it ends."""

    def __init__(self, content: AsyncIterator[bytes], *, release: Callable[[], None], **kw: Any):
        super().__init__(content, **kw)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream, then release the slot (also on disconnect or error)."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


@router.get(
    "/{job_id}/result",
    summary="The scored CSV",
    response_class=Response,
    responses={
        200: {
            "description": "The input's rows in order with the prediction columns: CSV, or "
            "for a job with output_format parquet one Parquet file",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                PARQUET_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **problem_responses(409),
    },
)
async def job_result(request: Request, caller: CallerDep, job_id: str) -> StreamingResponse:
    """The input's rows in order with predicted_price, price_low, price_high, error, warning."""
    jobs = await _runtime(request)
    record = await _owned(jobs, job_id, caller.owner)
    if record.status != SUCCEEDED:
        raise no_result_problem(record)
    stem = PurePosixPath(record.filename or "jobs").stem or "job"
    stem = stem.removesuffix(".csv")  # houses.csv.gz
    manifest = await read_manifest(jobs.blobs, manifest_key(job_id))
    if manifest is not None:
        name = f"{stem}-scored{manifest.suffix}"
        length = {"Content-Length": str(manifest.csv_length())} if manifest.format == "csv" else {}
        return StreamingResponse(
            stream_result(jobs.blobs, manifest),
            media_type=manifest.media_type,
            headers={**length, "Content-Disposition": _attachment(name)},
        )
    key = result_key(job_id)  # a job finished before result manifests
    size = await jobs.blobs.size(key)
    if size is None:
        raise ProblemError(404, "The result has expired.", kind="not-found")
    return StreamingResponse(
        jobs.blobs.iter_bytes(key),
        media_type=CSV_MEDIA_TYPE,
        headers={
            "Content-Length": str(size),
            "Content-Disposition": _attachment(f"{stem}-scored.csv"),
        },
    )


def _attachment(name: str) -> str:
    return f"attachment; filename=\"{_ascii(name)}\"; filename*=UTF-8''{quote(name)}"


def no_result_problem(record: JobRecord, *, consequence: str = "") -> ProblemError:
    """The 409 for a job without a result, phrased around its state (and failure reason)."""
    status = record.status
    if status == FAILED:
        reason = (record.error or "no reason was recorded").rstrip(". ")
        detail = f"This job failed: {reason}. It has no result"
        kind, title = "job-failed", "Job failed"
    elif status == CANCELLED:
        detail = "This job was cancelled. It has no result"
        kind, title = "job-cancelled", "Job cancelled"
    else:
        detail = f"This job is {status}; its result exists once it has succeeded"
        kind, title = "result-not-ready", "Result not ready"
    return ProblemError(409, f"{detail}{consequence}.", kind=kind, title=title)


@router.get(
    "/{job_id}/summary",
    summary="A finished job's counts, price histogram, rejection reasons and first rows",
    response_model=JobSummary,
    responses=problem_responses(404, 409),
)
async def job_summary(request: Request, caller: CallerDep, job_id: str) -> Response:
    """Computed once when the job finished, so nobody downloads the result to show it."""
    jobs = await _runtime(request)
    record = await _owned(jobs, job_id, caller.owner)
    if record.status != SUCCEEDED:
        raise no_result_problem(record, consequence=", so no summary")
    try:
        body = b"".join([chunk async for chunk in jobs.blobs.iter_bytes(summary_key(job_id))])
    except BlobNotFoundError as exc:
        raise ProblemError(
            404,
            "This job has no summary (it expired, or an older version scored it).",
            kind="not-found",
        ) from exc
    return Response(body, media_type="application/json")


@router.post(
    "/{job_id}/cancel",
    summary="Cancel a job, keeping its record",
    response_model=Job,
    responses={200: {"description": "The job, now cancelled"}, **problem_responses(409)},
)
async def cancel_job(request: Request, caller: CallerDep, job_id: str) -> Job:
    """Stop a queued or running job; it stays listed as cancelled until its record expires.

    Its files go at once (a cancelled job has no result); 409 if the job is already final.
    """
    jobs = await _runtime(request)
    await _owned(jobs, job_id, caller.owner)
    if not await jobs.store.cancel(job_id):
        record = await _owned(jobs, job_id, caller.owner)
        raise ProblemError(
            409,
            f"The job is already {record.status}; only queued or running jobs can be cancelled.",
            kind="job-final",
            title="Job already final",
        )
    metrics.record_job_finished("cancelled")
    await _notify_cancelled(jobs, job_id, caller.owner)
    await jobs.blobs.delete_prefix(job_prefix(job_id))
    log.info("job_cancelled", job_id=job_id, owner=caller.owner)
    return _job(await _owned(jobs, job_id, caller.owner))


@router.delete("/{job_id}", status_code=204, summary="Cancel a job and delete its files")
async def delete_job(request: Request, caller: CallerDep, job_id: str) -> Response:
    """Cancel the job if it is still running, then delete its record and every blob."""
    jobs = await _runtime(request)
    await _owned(jobs, job_id, caller.owner)
    if await jobs.store.cancel(job_id):
        metrics.record_job_finished("cancelled")
        await _notify_cancelled(jobs, job_id, caller.owner)
    await jobs.store.delete(job_id)
    await jobs.blobs.delete_prefix(job_prefix(job_id))
    log.info("job_deleted", job_id=job_id, owner=caller.owner)
    return Response(status_code=204)


async def _events(
    request: Request, jobs: JobsRuntime, job_id: str, owner: str
) -> AsyncIterator[bytes]:
    with jobs.events.watch(job_id) as changed:
        last: dict[str, Any] | None = None
        while True:
            changed.clear()  # before reading: a change during the read wakes the next wait
            try:
                record = await jobs.store.get(job_id, owner=owner)
            except (RedisError, OSError) as exc:
                log.warning("job_events_ended", job_id=job_id, reason=str(exc))
                return  # the client reconnects; an outage is reported by /readyz
            if record is None:
                gone = {**(last or {"id": job_id}), "status": "deleted"}
                yield _sse("end", gone)
                return
            view = _job(record).model_dump(mode="json")
            if record.is_final:
                yield _sse("end", view)
                return
            if view != last:
                yield _sse("progress", view)
                last = view
            with suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), HEARTBEAT_SECONDS)
                continue
            yield b": keep-alive\n\n"


async def _notify_cancelled(jobs: JobsRuntime, job_id: str, owner: str) -> None:
    """Queue the notices of a job the caller just cancelled (sent by ``hpp notifier``)."""
    record = await jobs.store.get(job_id, owner=owner)
    if record is None:
        return
    tasks = notice_tasks(record, jobs.settings.core)
    if not tasks:
        return
    try:
        await anyio.to_thread.run_sync(lambda: send_notices(jobs.celery, tasks))
    except Exception as exc:  # the cancel stands; only its notice is lost
        log.warning("job_notice_not_queued", job_id=job_id, error=repr(exc))


async def _discard_upload(jobs: JobsRuntime, job_id: str) -> None:
    """Delete a failed upload's blobs; if that fails too, log it and leave them to the
    orphan sweep (the upload's own error is the one the client must see)."""
    try:
        await jobs.blobs.delete_prefix(job_prefix(job_id))
    except Exception as exc:
        log.warning("job_upload_cleanup_failed", job_id=job_id, error=repr(exc))


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def _runtime(request: Request) -> JobsRuntime:
    runtime: JobsRuntime | None = getattr(request.app.state, "jobs", None)
    if runtime is None:
        raise ProblemError(
            503,
            "Batch jobs are not configured on this gateway (no Redis).",
            kind="jobs-unavailable",
            title="Batch jobs unavailable",
        )
    if not await runtime.store.ping():
        raise ProblemError(
            503,
            "The job broker (Redis) is unreachable; single predictions still work.",
            kind="broker-unavailable",
            title="Broker unavailable",
            headers={"Retry-After": "5"},
        )
    return runtime


def _quota_args(jobs: JobsRuntime, caller: Caller) -> dict[str, Any]:
    return {"owner": caller.owner, "key_name": caller.name, "quota": jobs.quota}


def _check_admission(admission: Admission) -> None:
    """Raise 429 problem details (with ``Retry-After``) for a refused admission."""
    if admission.admitted:
        return
    whose = "This API key has" if admission.over_key else "You have"
    raise ProblemError(
        429,
        f"{whose} {admission.active:,} jobs queued or running, the most allowed at once; "
        "submit again when one has finished (or cancel one).",
        kind="too-many-active-jobs",
        title="Too many active jobs",
        headers={"Retry-After": str(QUOTA_RETRY_AFTER_SECONDS)},
    )


async def _owned(jobs: JobsRuntime, job_id: str, owner: str) -> JobRecord:
    record = await jobs.store.get(job_id, owner=owner) if len(job_id) <= 64 else None
    if record is None:
        raise ProblemError(404, "No such job.", kind="not-found", title="Job not found")
    return record


async def _model_version(request: Request) -> str:
    """The version this gateway serves now: the job is scored by it, whatever happens later.

    Not the registry alias: between an alias move and this gateway's reload (up to
    ``HPP_MODEL_POLL_SECONDS``) that would pin a job to a version that single predictions,
    ``/v2`` and ``/v1/model`` do not serve yet. One system shows one version at a time.
    """
    return str(serving_predictor(request).version)


async def _replay(
    jobs: JobsRuntime, owner: str, key: str, digest: str, job_id: str
) -> JobRecord | None:
    """The job an earlier request with this key made, or None if this request is the first."""
    stored = await jobs.store.claim_idempotency(owner, key, digest, job_id)
    stored_digest, _, stored_job = stored.partition(" ")
    if stored_job == job_id:
        return None
    if stored_digest != digest:
        raise ProblemError(
            422,
            "This Idempotency-Key was used with a different body.",
            kind="idempotency-key-reused",
            title="Idempotency-Key reused",
        )
    record = await jobs.store.get(stored_job, owner=owner)
    if record is None:  # the earlier job expired or was deleted: this becomes a new one
        await jobs.store.release_idempotency(owner, key)
        await jobs.store.claim_idempotency(owner, key, digest, job_id)
    return record


def _job(record: JobRecord) -> Job:
    """The public Job of a record, with the links to its routes."""
    base = f"{router.prefix}/{record.id}"
    links = {"self": base, "events": f"{base}/events", "result": f"{base}/result"}
    return record.to_job(now=time.time(), links=links)


def _job_response(record: JobRecord, *, status: int, replayed: bool = False) -> JSONResponse:
    job = _job(record)
    headers = {"Location": job.links["self"]}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(job.model_dump(mode="json"), status_code=status, headers=headers)


def _job_mode(
    query: UnknownCategories | None, upload: Upload, default: UnknownCategories
) -> UnknownCategories:
    """``unknown_categories`` from the query, else the form, else the gateway's setting."""
    if query is not None:
        return query
    sent = upload.fields.get("unknown_categories")
    if sent is None:
        return default
    try:
        return parse_mode(sent.strip())
    except ValueError as exc:
        raise ProblemError(
            422,
            str(exc),
            kind="validation",
            title="Invalid request",
            errors=[{"field": "unknown_categories", "message": str(exc)}],
        ) from None


def _safe_name(filename: str | None) -> str:
    name = PurePosixPath((filename or "upload.csv").replace("\\", "/")).name
    return "".join(ch for ch in name if ch.isprintable())[:200] or "upload.csv"


def _ascii(name: str) -> str:
    return "".join(ch if ch.isascii() and ch not in '"\\' else "_" for ch in name)

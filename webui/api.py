"""The UI's only way to the model: an async HTTP client of the gateway.

Every call returns the contract's or the shared models (``ml.card``, ``ml.monitoring_report``,
``core.problem``, ``jobs.models``) and raises
``GatewayUnavailableError`` when the gateway cannot be reached, ``GatewayError`` (carrying the
RFC 9457 problem) when it answers with an error. The API key is sent, never logged.
Pages use ``acting_for(user_id)``: the same connection pool, with ``X-On-Behalf-Of`` on
every call, so each browser's jobs, predictions and feedback are its own.
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from core.problem import Problem
from jobs.models import Job, JobPage, JobSummary
from ml.card import ModelCard
from ml.contract import HouseFeatures, Prediction, error_message
from ml.monitoring_report import JobDrift, MonitoringReport

_JOB_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_USER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ON_BEHALF_OF_HEADER = "X-On-Behalf-Of"
_EVENT_READ_TIMEOUT = 120.0
# Until the gateway first answers, for this long after the UI started, an unreachable
# gateway is taken to be starting (as under `hpp up`, compose or a fresh deploy), not down.
STARTUP_GRACE_SECONDS = 180.0
Readiness = Literal["ready", "starting", "down"]
_Model = TypeVar("_Model", bound=BaseModel)


class GatewayUnavailableError(Exception):
    """The gateway could not be reached (refused, timed out, dropped the connection)."""


class GatewayError(Exception):
    """The gateway answered with an error; ``problem`` holds its RFC 9457 details."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.detail or problem.title)
        self.problem = problem

    @property
    def status(self) -> int | None:
        """The HTTP status the gateway answered with."""
        return self.problem.status


@dataclass
class _Contact:
    """Whether the gateway has answered yet; shared by every ``acting_for`` view."""

    since: float = field(default_factory=time.monotonic)
    answered: bool = False

    @property
    def starting(self) -> bool:
        return not self.answered and time.monotonic() - self.since < STARTUP_GRACE_SECONDS


class GatewayClient:
    """An async client of the gateway's HTTP API, authenticated with the UI's own key."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: SecretStr | None = None,
        timeout: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"X-API-Key": api_key.get_secret_value()} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self.user_id: str | None = None
        self._user_headers: dict[str, str] = {}
        self._contact = _Contact()
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout),
            transport=transport,
        )

    def acting_for(self, user_id: str) -> GatewayClient:
        """This client acting for one end user (``X-On-Behalf-Of``), on the same pool."""
        if not _USER_ID.match(user_id):
            raise ValueError("an end-user id is 1-64 characters of A-Z, a-z, 0-9, _ and -")
        view = copy.copy(self)
        view.user_id = user_id
        view._user_headers = {ON_BEHALF_OF_HEADER: user_id}
        return view

    async def aclose(self) -> None:
        """Close the connection pool (shared by every ``acting_for`` view)."""
        await self._http.aclose()

    @property
    def starting(self) -> bool:
        """Whether the gateway has not answered yet since this UI started (recently)."""
        return self._contact.starting

    async def readiness(self) -> Readiness:
        """``ready`` when the gateway serves a model (``/readyz``); never raises.

        ``starting`` while it answers without a model, or has not answered yet since this
        UI started; ``down`` when it stopped answering or answers something else.
        """
        try:
            response = await self._http.get("/readyz", timeout=3.0)
        except httpx.HTTPError:
            return "starting" if self.starting else "down"
        self._contact.answered = True
        if response.status_code == 200:
            return "ready"
        return "starting" if response.status_code == 503 else "down"

    async def model_card(self) -> ModelCard:
        """The serving model's card."""
        return _parse(ModelCard, await self._json("GET", "/v1/model"))

    async def model_history(self) -> list[dict[str, Any]]:
        """Every alias move of the registered model (the version timeline), oldest first."""
        history: list[dict[str, Any]] = await self._json("GET", "/v1/model/history")
        return history

    async def monitoring(self) -> MonitoringReport:
        """Live accuracy per model version, drift, and the latest challenger report."""
        return _parse(MonitoringReport, await self._json("GET", "/v1/monitoring"))

    async def job_drift(self, job_id: str) -> JobDrift:
        """PSI per feature of one of the caller's jobs (computed when it finished)."""
        path = f"/v1/monitoring/jobs/{_checked(job_id)}"
        return _parse(JobDrift, await self._json("GET", path))

    async def predict(
        self, features: HouseFeatures, *, explain: bool = False, comparables: int = 0
    ) -> Prediction:
        """Price one house (with per-feature dollar contributions when ``explain``, and its
        ``comparables`` most similar training sales)."""
        params = {"explain": "true"} if explain else {}
        if comparables:
            params["comparables"] = str(comparables)
        body = features.model_dump(mode="json")
        return _parse(
            Prediction, await self._json("POST", "/v1/predict", json=body, params=params or None)
        )

    async def list_jobs(self, *, limit: int = 50) -> list[Job]:
        """The caller's jobs, newest first as the gateway orders them."""
        page = _parse(JobPage, await self._json("GET", "/v1/jobs", params={"limit": str(limit)}))
        return page.jobs

    async def get_job(self, job_id: str) -> Job:
        """One job's status and progress."""
        return _parse(Job, await self._json("GET", f"/v1/jobs/{_checked(job_id)}"))

    async def submit_job(self, filename: str, content: bytes | AsyncIterator[bytes]) -> Job:
        """Upload a CSV as a new batch job, streamed as a ``text/csv`` body."""
        return _parse(
            Job,
            await self._json(
                "POST",
                "/v1/jobs",
                content=content,
                params={"filename": filename},
                headers={"Content-Type": "text/csv"},
                timeout=httpx.Timeout(self._http.timeout.connect, read=300.0, write=300.0),
            ),
        )

    async def cancel_job(self, job_id: str) -> Job:
        """Stop a queued or running job; it stays listed as cancelled (409 once final)."""
        return _parse(Job, await self._json("POST", f"/v1/jobs/{_checked(job_id)}/cancel"))

    async def delete_job(self, job_id: str) -> None:
        """Cancel a job if it runs, and delete it with its result."""
        await self._send("DELETE", f"/v1/jobs/{_checked(job_id)}")

    async def job_events(self, job_id: str) -> AsyncIterator[Job]:
        """The job's state on every progress event of its SSE stream, the last one final."""
        url = f"/v1/jobs/{_checked(job_id)}/events"
        timeout = httpx.Timeout(self._http.timeout.connect, read=_EVENT_READ_TIMEOUT)
        try:
            async with self._http.stream(
                "GET", url, timeout=timeout, headers=self._user_headers
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise GatewayError(_problem(response))
                async for event, data in _server_sent_events(response.aiter_lines()):
                    if data:
                        yield _parse(Job, json.loads(data))
                    if event == "end":
                        return
        except httpx.HTTPError as exc:
            raise GatewayUnavailableError(_describe(exc)) from exc

    @asynccontextmanager
    async def open_result(self, job_id: str) -> AsyncIterator[httpx.Response]:
        """The scored CSV as a streaming response (headers read, body not yet)."""
        url = f"/v1/jobs/{_checked(job_id)}/result"
        try:
            async with self._http.stream(
                "GET", url, timeout=httpx.Timeout(30.0), headers=self._user_headers
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise GatewayError(_problem(response))
                yield response
        except httpx.HTTPError as exc:
            raise GatewayUnavailableError(_describe(exc)) from exc

    async def job_summary(self, job_id: str) -> JobSummary:
        """A finished job's counts, price histogram, reasons and first rows (never the result)."""
        return _parse(JobSummary, await self._json("GET", f"/v1/jobs/{_checked(job_id)}/summary"))

    async def _json(self, method: str, url: str, **kwargs: Any) -> Any:
        response = await self._send(method, url, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise GatewayError(
                Problem(title="Unreadable answer", status=response.status_code, detail=str(exc))
            ) from exc

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {**self._user_headers, **kwargs.pop("headers", {})}
        try:
            response = await self._http.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise GatewayUnavailableError(_describe(exc)) from exc
        self._contact.answered = True
        if response.status_code >= 400:
            raise GatewayError(_problem(response))
        return response


def _parse(model: type[_Model], data: Any) -> _Model:
    """Read an answer into ``model``; an answer of the wrong shape is a gateway error."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        detail = (
            f"{model.__name__}: {exc.error_count()} problem(s), "
            f"first: {error_message(exc.errors()[0])}"
        )
        raise GatewayError(Problem(title="Unexpected answer", status=502, detail=detail)) from exc


def _checked(job_id: str) -> str:
    if not _JOB_ID.match(job_id):
        raise GatewayError(Problem(title="Invalid job id", status=400, detail=job_id[:64]))
    return job_id


def _problem(response: httpx.Response) -> Problem:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        body.setdefault("status", response.status_code)
        body.setdefault("title", response.reason_phrase or "Error")
        if isinstance(body.get("detail"), list):  # FastAPI's default 422 shape
            body["errors"] = [
                {"field": ".".join(map(str, e.get("loc", []))), "message": e.get("msg", "")}
                for e in body.pop("detail")
                if isinstance(e, dict)
            ]
        elif body.get("detail") is not None and not isinstance(body["detail"], str):
            body["detail"] = json.dumps(body["detail"])
        try:
            return Problem.model_validate(body)
        except ValidationError:
            pass
    return Problem(
        title=response.reason_phrase or "Error",
        status=response.status_code,
        detail=response.text[:300] or None,
    )


def _describe(exc: httpx.HTTPError) -> str:
    kind = type(exc).__name__
    return f"{kind}: {exc}" if str(exc) else kind


async def _server_sent_events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, str]]:
    """(event, data) pairs from an SSE line stream (comments and ids ignored)."""
    event, data = "message", list[str]()
    async for line in lines:
        if not line:
            if data or event != "message":
                yield event, "\n".join(data)
            event, data = "message", list[str]()
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
    if data:
        yield event, "\n".join(data)

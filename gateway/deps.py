"""Request dependencies: who is calling, which model serves them, what the body must be.

All are ``async def`` although none awaits: FastAPI runs plain ``def`` dependencies in a
thread pool, which would cost more than the work they do.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from gateway.errors import ProblemError
from gateway.model_holder import ModelHolder
from gateway.ratelimit import RateLimiter, retry_after_header
from gateway.security import API_KEY_HEADER, AccessPolicy, Caller
from hpp.settings import AppSettings
from ml.predict import Predictor

_JSON_TYPES = ("application/json",)
# Declares the header in the OpenAPI document (Swagger's Authorize button); we check it.
_api_key_scheme = APIKeyHeader(name=API_KEY_HEADER, auto_error=False)


async def get_settings(request: Request) -> AppSettings:
    """The settings the app was built with."""
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_holder(request: Request) -> ModelHolder:
    """The app's model holder."""
    return request.app.state.predictor_holder  # type: ignore[no-any-return]


async def get_predictor(request: Request) -> Predictor:
    """The model serving this request, taken once so a swap mid-request cannot touch it."""
    predictor = request.app.state.predictor_holder.current
    if predictor is None:
        raise ProblemError(
            503,
            "No model is loaded yet: none holds the registry alias, or loading failed. "
            "See GET /readyz.",
            kind="model-unavailable",
            title="Model unavailable",
            headers={"Retry-After": "5"},
        )
    request.state.model_version = predictor.version  # for the request log line
    return predictor  # type: ignore[no-any-return]


async def get_caller(
    request: Request, api_key: Annotated[str | None, Security(_api_key_scheme)]
) -> Caller:
    """Authenticate the X-API-Key header and charge the caller's rate limit."""
    policy: AccessPolicy = request.app.state.access_policy
    caller = policy.identify(api_key)
    if caller is None:
        raise ProblemError(
            401,
            f"A valid API key is required in the {API_KEY_HEADER} header.",
            kind="unauthorized",
            headers={"WWW-Authenticate": API_KEY_HEADER},
        )
    request.state.api_key_name = caller.name  # for the request log line
    limiter: RateLimiter = request.app.state.rate_limiter
    wait = limiter.acquire(caller.name)
    if wait > 0:
        raise ProblemError(
            429,
            f"Rate limit of {int(limiter.capacity)} requests per minute exceeded.",
            kind="rate-limited",
            headers={"Retry-After": retry_after_header(wait)},
        )
    return caller


async def require_admin(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
    """The caller, who must hold an admin key."""
    if not caller.is_admin:
        raise ProblemError(403, "This operation needs an admin API key.", kind="forbidden")
    return caller


async def require_json(request: Request) -> None:
    """Refuse bodies that are not declared as JSON (415) before they are parsed."""
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media in _JSON_TYPES or media.endswith("+json"):
        return
    raise ProblemError(
        415,
        f"Send the body as application/json (got {content_type or 'no Content-Type'}).",
        kind="unsupported-media-type",
        headers={"Accept-Post": "application/json"},
    )


SettingsDep = Annotated[AppSettings, Depends(get_settings)]
HolderDep = Annotated[ModelHolder, Depends(get_holder)]
PredictorDep = Annotated[Predictor, Depends(get_predictor)]
CallerDep = Annotated[Caller, Depends(get_caller)]
AdminDep = Annotated[Caller, Depends(require_admin)]

"""Request dependencies: who is calling, which model serves them, what the body must be.

All are ``async def``: FastAPI runs plain ``def`` dependencies in a thread pool, which
would cost more than the work they do (only the rate limit may await, once per lease).
The hot path (POST /v1/predict) resolves a single dependency, ``get_json_caller``, with
no sub-dependencies: each one FastAPI solves costs ~20 µs, a fifth of a prediction.
The X-API-Key security scheme is declared in the OpenAPI document by ``gateway.openapi``
rather than by a dependency.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.errors import ProblemError
from gateway.model_holder import ModelHolder
from gateway.ratelimit import CallerLimits, retry_after_header
from gateway.security import (
    ANONYMOUS,
    API_KEY_HEADER,
    ON_BEHALF_OF_HEADER,
    AccessPolicy,
    Caller,
    is_valid_on_behalf_of,
)
from ml.predict import Predictor

_JSON_TYPES = ("application/json",)


async def get_holder(request: Request) -> ModelHolder:
    """The app's model holder."""
    holder: ModelHolder = request.app.state.predictor_holder
    return holder


async def get_predictor(request: Request) -> Predictor:
    """The model serving this request, taken once so a swap mid-request cannot touch it."""
    return serving_predictor(request)


def serving_predictor(request: Request) -> Predictor:
    """The current model (503 problem when none is loaded), noted for the request log."""
    predictor: Predictor | None = request.app.state.predictor_holder.current
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
    return predictor


async def get_caller(request: Request) -> Caller:
    """Authenticate the X-API-Key header and charge the caller's rate limit."""
    return await authenticate(request)


async def get_json_caller(request: Request) -> Caller:
    """Authenticate (401/429), insist on a JSON body (415) and on known query parameters."""
    caller = await authenticate(request)
    require_json_body(request)
    if request.scope["query_string"]:
        reject_unknown_query(request)
    return caller


async def authenticate(request: Request) -> Caller:
    """The caller behind the request's API key (and X-On-Behalf-Of); 401, 403, 400, 429."""
    policy: AccessPolicy = request.app.state.access_policy
    caller = policy.identify(request.headers.get(API_KEY_HEADER))
    if caller is None:
        raise ProblemError(
            401,
            f"A valid API key is required in the {API_KEY_HEADER} header.",
            kind="unauthorized",
            headers={"WWW-Authenticate": API_KEY_HEADER},
        )
    request.state.api_key_name = caller.name  # for the request log line
    on_behalf_of = request.headers.get(ON_BEHALF_OF_HEADER)
    if on_behalf_of is not None:
        caller = delegated(policy, caller, on_behalf_of)
        request.state.on_behalf_of = on_behalf_of  # for the request log line
    limits: CallerLimits = request.app.state.rate_limits
    refusal = await limits.charge(caller.name, caller.on_behalf_of)
    if refusal is not None:
        raise ProblemError(
            429,
            refusal.detail,
            kind="rate-limited",
            headers={"Retry-After": retry_after_header(refusal.wait_seconds)},
        )
    request.state.caller = caller
    return caller


def delegated(policy: AccessPolicy, caller: Caller, on_behalf_of: str) -> Caller:
    """The caller acting for an end user; 403 for a key that may not, 400 for a bad id."""
    if caller.name not in policy.delegate_names:
        raise ProblemError(
            403,
            f"This API key may not act on behalf of end users ({ON_BEHALF_OF_HEADER}).",
            kind="delegation-forbidden",
            title="Delegation not allowed",
        )
    if not is_valid_on_behalf_of(on_behalf_of):
        raise ProblemError(
            400,
            f"{ON_BEHALF_OF_HEADER} must be 1 to 64 characters of A-Z, a-z, 0-9, _ and -.",
            kind="invalid-on-behalf-of",
            title="Invalid end-user id",
        )
    return Caller(caller.name, is_admin=caller.is_admin, on_behalf_of=on_behalf_of)


def request_owner(request: Request) -> str:
    """Who owns what this (authenticated) request makes: the key, or ``key/end-user``."""
    caller: Caller | None = getattr(request.state, "caller", None)
    return caller.owner if caller is not None else ANONYMOUS


async def require_admin(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
    """The caller, who must hold an admin key."""
    if not caller.is_admin:
        raise ProblemError(403, "This operation needs an admin API key.", kind="forbidden")
    return caller


def require_json_body(request: Request) -> None:
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


def reject_unknown_query(request: Request, allowed: frozenset[str] | None = None) -> None:
    """422 for query parameters the route does not declare, as for unknown body fields."""
    if allowed is None:
        dependant = getattr(request.scope.get("route"), "dependant", None)
        if dependant is None:
            return
        allowed = frozenset(param.alias for param in dependant.query_params)
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise ProblemError(
            422,
            f"Unknown query parameter(s): {', '.join(unknown)}.",
            kind="validation",
            title="Invalid request",
            errors=[
                {"field": f"query.{name}", "message": "Unknown query parameter"} for name in unknown
            ],
        )


HolderDep = Annotated[ModelHolder, Depends(get_holder)]
PredictorDep = Annotated[Predictor, Depends(get_predictor)]
CallerDep = Annotated[Caller, Depends(get_caller)]
AdminDep = Annotated[Caller, Depends(require_admin)]

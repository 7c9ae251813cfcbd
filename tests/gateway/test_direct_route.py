"""DirectRoute calls request-only endpoints directly, and never skips a declared dependency."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.testclient import TestClient
from starlette.responses import JSONResponse, Response

from gateway.direct_route import DirectRoute


async def echo(request: Request) -> Response:
    """A request-only endpoint."""
    return JSONResponse({"path": request.url.path, "body": (await request.body()).decode()})


def refuse() -> None:
    """A dependency that always says no."""
    raise HTTPException(403, "no")


def test_request_only_endpoint_is_its_own_handler() -> None:
    router = APIRouter()
    router.add_api_route("/echo", echo, methods=["POST"], route_class_override=DirectRoute)
    app = FastAPI()
    app.include_router(router)

    response = TestClient(app).post("/echo", content=b"hi")

    assert response.json() == {"path": "/echo", "body": "hi"}
    route = router.routes[0]
    assert isinstance(route, DirectRoute)
    assert route.get_route_handler() is echo
    assert "/echo" in app.openapi()["paths"]


def test_dependencies_of_an_including_router_still_run() -> None:
    router = APIRouter()
    router.add_api_route("/echo", echo, methods=["POST"], route_class_override=DirectRoute)
    app = FastAPI()
    app.include_router(router, dependencies=[Depends(refuse)])

    assert TestClient(app).post("/echo", content=b"hi").status_code == 403


def test_route_dependencies_still_run() -> None:
    router = APIRouter()
    router.add_api_route(
        "/echo",
        echo,
        methods=["POST"],
        dependencies=[Depends(refuse)],
        route_class_override=DirectRoute,
    )
    app = FastAPI()
    app.include_router(router)

    assert TestClient(app).post("/echo", content=b"hi").status_code == 403

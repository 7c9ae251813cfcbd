"""Plain HTTP routes of the UI server: result downloads streamed from the gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

from fastapi import Response
from fastapi.responses import JSONResponse, StreamingResponse
from nicegui import app

from webui.api import GatewayClient, GatewayError, GatewayUnavailableError
from webui.deps import browser_id

RESULT_ROUTE = "/downloads/jobs/{job_id}/result.csv"


def result_url(job_id: str) -> str:
    """Where the browser downloads a job's scored CSV (through the UI, for this browser)."""
    return RESULT_ROUTE.format(job_id=job_id)


def register_routes(api: GatewayClient) -> None:
    """Add the download routes to the NiceGUI app."""

    async def download_result(job_id: str) -> Response:
        return await _proxy_result(api.acting_for(browser_id()), job_id)

    app.add_api_route(RESULT_ROUTE, download_result, methods=["GET"], include_in_schema=False)


async def _proxy_result(api: GatewayClient, job_id: str) -> Response:
    stack = AsyncExitStack()
    try:
        upstream = await stack.enter_async_context(api.open_result(job_id))
    except GatewayError as exc:
        await stack.aclose()
        problem = exc.problem.model_dump(exclude_none=True)
        return JSONResponse(
            problem, status_code=exc.status or 502, media_type="application/problem+json"
        )
    except GatewayUnavailableError:
        await stack.aclose()
        return JSONResponse(
            {"title": "Gateway unavailable", "status": 502},
            status_code=502,
            media_type="application/problem+json",
        )

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in upstream.aiter_bytes():
                yield chunk
        finally:
            await stack.aclose()

    # The gateway names the file (after the upload: houses.csv -> houses-scored.csv).
    disposition = upstream.headers.get("content-disposition", "attachment")
    return StreamingResponse(
        body(), media_type="text/csv", headers={"Content-Disposition": disposition}
    )

"""``hpp score FILE.csv``: submit a CSV to the gateway as a job, show progress, download."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from core.settings import AppSettings
from hpp.up import KEYS_FILE, LOCAL_KEY_NAME, read_key_command

FINAL = {"succeeded", "failed", "cancelled", "deleted"}
POLL_SECONDS = 1.0


def run_score(
    file: Path,
    *,
    out: Path | None,
    gateway_url: str | None,
    api_key: str | None,
    settings: AppSettings,
    unknown_categories: str | None = None,
    wait: bool = True,
    webhook_url: str | None = None,
) -> int:
    """Score ``file`` through the gateway; 0 when the result is written, 1 otherwise.

    ``unknown_categories`` (``warn`` or ``error``) is the job's strictness about names the
    model never saw; None leaves it to the gateway's setting. ``wait=False`` returns once
    the job is queued (0), printing its id and links: a system that named ``webhook_url``
    is told when it is done, anyone can poll or fetch it later.
    """
    console = Console(stderr=True)
    if not file.is_file():
        console.print(f"[red]no such file: {file}")
        return 1
    target = out or file.with_name(f"{file.stem}-scored.csv")
    headers = {"X-API-Key": api_key} if api_key else {}
    base = (gateway_url or settings.ui.gateway_url).rstrip("/")
    timeout = httpx.Timeout(30.0, read=None)
    with httpx.Client(base_url=base, headers=headers, timeout=timeout) as http:
        refused = key_help(given=bool(api_key), settings=settings)
        job = _submit(
            http,
            file,
            console,
            refused=refused,
            unknown_categories=unknown_categories,
            webhook_url=webhook_url,
        )
        if job is None:
            return 1
        if not wait:
            _print_links(job, base)
            return 0
        final = _follow(http, job, console)
        if final["status"] != "succeeded":
            console.print(f"[red]job {final['status']}: {escape(final.get('error') or '')}")
            return 1
        _download(http, final["links"]["result"], target)
    console.print(
        f"[green]scored {final['rows_done']:,} rows ({final['rows_failed']:,} with errors) "
        f"with model {final['model_version']} -> {target}"
    )
    return 0


def _submit(
    http: httpx.Client,
    file: Path,
    console: Console,
    *,
    refused: str,
    unknown_categories: str | None,
    webhook_url: str | None = None,
) -> dict[str, Any] | None:
    params = {"filename": file.name}
    if unknown_categories is not None:
        params["unknown_categories"] = unknown_categories
    if webhook_url:
        params["webhook_url"] = webhook_url
    with file.open("rb") as body:
        response = http.post(
            "/v1/jobs",
            content=body,
            params=params,
            headers={"Content-Type": "text/csv"},
        )
    if response.status_code == 401:
        console.print(f"[red]{escape(refused)}", soft_wrap=True)  # the command stays whole
        return None
    if response.status_code != 202:
        status = response.status_code
        console.print(f"[red]the gateway refused the job ({status}): {escape(_detail(response))}")
        return None
    job: dict[str, Any] = response.json()
    strict = ", unknown categories rejected" if job.get("unknown_categories") == "error" else ""
    console.print(f"job {job['id']} queued (model {job['model_version']}{strict})")
    return job


def _print_links(job: dict[str, Any], base: str) -> None:
    """The queued job's id and where to follow it, on stdout (for scripts)."""
    links = job["links"]
    print(
        json.dumps(
            {
                "id": job["id"],
                "status": job["status"],
                "webhook_url": job.get("webhook_url"),
                "self": f"{base}{links['self']}",
                "events": f"{base}{links['events']}",
                "result": f"{base}{links['result']}",
            }
        )
    )


def key_help(*, given: bool, settings: AppSettings) -> str:
    """What to do about a 401: where a key goes, and where ``hpp up`` keeps the local one."""
    problem = (
        "the gateway did not accept this API key (401)"
        if given
        else "the gateway needs an API key (401) and none was given"
    )
    keys = (settings.core.state_dir / KEYS_FILE).resolve()
    return (
        f"{problem}: pass it with --api-key KEY or set HPP_API_KEY.\n"
        f"`hpp up` keeps its local key in {keys} (under '{LOCAL_KEY_NAME}'):\n"
        f"  export HPP_API_KEY={read_key_command(keys)}"
    )


def _follow(http: httpx.Client, job: dict[str, Any], console: Console) -> dict[str, Any]:
    """Show a progress bar until the job is final, from SSE (polling if the stream breaks)."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("scoring", total=1.0, rate="")
        try:
            for state in _events(http, job["links"]["events"]):
                _show(bar, task, state)
                job = state
                if state["status"] in FINAL:
                    return job
        except httpx.HTTPError:
            pass
        while job["status"] not in FINAL:
            time.sleep(POLL_SECONDS)
            job = http.get(job["links"]["self"]).json()
            _show(bar, task, job)
    return job


def _events(http: httpx.Client, path: str) -> Iterator[dict[str, Any]]:
    with http.stream("GET", path) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("data: "):
                yield json.loads(line[6:])


def _show(bar: Progress, task: Any, state: dict[str, Any]) -> None:
    rate = state.get("rows_per_second")
    bar.update(
        task,
        completed=state.get("progress") or 0.0,
        description=f"{state['status']} {state['rows_done']:,}/{state['rows_total']:,} rows",
        rate=f"{rate:,.0f} rows/s" if rate else "",
    )


def _download(http: httpx.Client, path: str, target: Path) -> None:
    partial = target.with_name(target.name + ".part")
    with http.stream("GET", path) as response, partial.open("wb") as sink:
        response.raise_for_status()
        for block in response.iter_bytes():
            sink.write(block)
    partial.replace(target)


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail"))
    except ValueError:
        return response.text[:200] or response.reason_phrase

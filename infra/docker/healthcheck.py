#!/usr/bin/env python3
"""Container health probe: ``hpp-healthcheck [gateway|ui|worker|notifier|mlflow]``: 0 healthy.

Without an argument it finds the service from the running ``hpp <command>`` (or ``mlflow
server``) process, so the image's one HEALTHCHECK serves every command. Standard library
only: it runs under the image's system Python, outside the application's venv.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

# service -> (port setting, default port, path)
HTTP_PROBES: dict[str, tuple[str | None, int, str]] = {
    "gateway": ("HPP_PORT", 8000, "/healthz"),
    "ui": ("HPP_UI_PORT", 8501, "/"),
    "mlflow": (None, 5000, "/health"),
}
TIMEOUT_SECONDS = 4.0


def main(argv: list[str]) -> int:
    """Probe the named (or detected) service; 0 healthy, 1 not."""
    service = argv[1] if len(argv) > 1 else detect_service()
    if service is None:
        print("no hpp service process found", file=sys.stderr)
        return 1
    if service == "worker":
        return probe_worker()
    if service == "notifier":  # a Celery worker on the notices queue: alive while it runs
        return 0 if "notifier" in running_services() else 1
    if service not in HTTP_PROBES:
        return 0  # one-shot commands (train, validate-data) have nothing to probe
    setting, default_port, path = HTTP_PROBES[service]
    port = int(os.environ.get(setting, default_port)) if setting else default_port
    return probe_http(f"http://127.0.0.1:{port}{path}")


def probe_http(url: str) -> int:
    """0 when ``url`` answers 2xx within the timeout."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return 0 if 200 <= response.status < 300 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return 1


def probe_worker() -> int:
    """A worker is healthy while its process runs (and its metrics answer, when served)."""
    port = os.environ.get("HPP_WORKER_METRICS_PORT")
    if port:
        return probe_http(f"http://127.0.0.1:{port}/metrics")
    return 0 if "worker" in running_services() else 1


def detect_service() -> str | None:
    """The first service found among the container's processes."""
    services = running_services()
    return services[0] if services else None


def running_services() -> list[str]:
    """Services named by ``hpp <command>`` or ``mlflow server`` command lines in /proc."""
    found: list[str] = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = [a.decode(errors="replace") for a in cmdline.read_bytes().split(b"\0") if a]
        except OSError:
            continue
        found.extend(service_of(args))
    return found


def service_of(args: list[str]) -> list[str]:
    """``[..., '/opt/venv/bin/hpp', 'gateway']`` -> ``['gateway']``."""
    if args and args[0].startswith("[celeryd"):  # a Celery title set through setproctitle
        return ["notifier" if "hpp-notifier-" in args[0] else "worker"]
    for index, arg in enumerate(args[:-1]):
        name = Path(arg).name
        if name == "hpp":
            return [args[index + 1]]
        if name == "mlflow" and args[index + 1] == "server":
            return ["mlflow"]
    return []


if __name__ == "__main__":
    sys.exit(main(sys.argv))

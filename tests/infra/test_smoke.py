"""The post-deploy smoke test against a local stand-in for the public endpoint."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest

from infra import smoke

KEY = "smoke-key"


class FakeDeployment(http.server.BaseHTTPRequestHandler):
    """Answers like the ALB in front of the gateway and the UI."""

    expose_metrics = False

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self.reply(200, {"status": "ok"})
        elif self.path == "/readyz":
            self.reply(200, {"model": {"version": "3"}, "broker": {"ok": True}})
        elif self.path == "/v1/model":
            if self.headers.get("X-API-Key") != KEY:
                self.reply(401, {"title": "Unauthorized"})
            else:
                self.reply(200, {"categories": {"location": ["NAmes"], "condition": ["5"]}})
        elif self.path == "/":
            self.reply(200, "<html></html>", content_type="text/html; charset=utf-8")
        elif self.path == "/metrics" and self.expose_metrics:
            self.reply(200, "# HELP", content_type="text/plain")
        else:
            self.reply(404, {"title": "Not found"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/v1/predict" and self.headers.get("X-API-Key") == KEY:
            assert body["location"] == "NAmes"
            self.reply(200, {"predicted_price": 181000.0, "model_version": "3"})
        else:
            self.reply(401, {"title": "Unauthorized"})

    def reply(self, status: int, body: object, content_type: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def deployment() -> Iterator[tuple[str, type[FakeDeployment]]]:
    """A fake deployment's base URL and its handler class (to switch behaviour)."""
    handler = type("Handler", (FakeDeployment,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_smoke_passes_against_a_healthy_deployment(deployment, capsys) -> None:
    base, _ = deployment
    assert smoke.main([base, "--api-key", KEY]) == 0
    out = capsys.readouterr().out
    assert "ok  /v1/predict 181000 (model 3)" in out
    assert "ok  /metrics not public" in out


def test_smoke_fails_when_an_older_model_serves(deployment) -> None:
    base, _ = deployment
    with pytest.raises(smoke.SmokeCheckError, match="served model 3, expected 4"):
        smoke.run_checks(base, api_key=KEY, expect_model="4", log=lambda _: None)
    smoke.run_checks(base, api_key=KEY, expect_model="3", log=lambda _: None)


def test_smoke_fails_with_a_wrong_key(deployment, capsys) -> None:
    base, _ = deployment
    assert smoke.main([base, "--api-key", "wrong"]) == 1
    assert "/v1/model" in capsys.readouterr().err


def test_smoke_fails_when_metrics_are_public(deployment) -> None:
    base, handler = deployment
    handler.expose_metrics = True
    with pytest.raises(smoke.SmokeCheckError, match="/metrics must not be public"):
        smoke.run_checks(base, api_key=KEY, log=lambda _: None)

"""Smoke test of a deployed environment through its public URL (standard library only).

    python -m infra.smoke https://hpp.example.com --api-key "$HPP_SMOKE_API_KEY"

Checks, in order, stopping at the first failure: the gateway is alive and ready with a
model, a prediction for a house in a known location comes back priced, the UI answers, and
``/metrics`` is not exposed to the internet. Exit 0 when all pass.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, content type and body."""

    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every check against ``base_url``; print one line per check."""
    parser = argparse.ArgumentParser(prog="python -m infra.smoke", description=__doc__)
    parser.add_argument("base_url")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--ready-attempts", type=int, default=20)
    parser.add_argument(
        "--expect-model",
        default=None,
        help="Model version the prediction must come from (the champion).",
    )
    args = parser.parse_args(argv)
    try:
        run_checks(
            args.base_url.rstrip("/"),
            api_key=args.api_key,
            ready_attempts=args.ready_attempts,
            expect_model=args.expect_model,
            log=print,
        )
    except SmokeCheckError as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    return 0


class SmokeCheckError(Exception):
    """A check did not hold."""


def run_checks(
    base: str,
    *,
    api_key: str,
    ready_attempts: int = 20,
    expect_model: str | None = None,
    log: Callable[[str], None] = print,
    pause_seconds: float = 3.0,
) -> None:
    """Raise ``SmokeCheckError`` at the first check that does not hold."""
    alive = request(f"{base}/healthz")
    expect(alive.status == 200 and alive.json().get("status") == "ok", f"/healthz: {alive}")
    log("ok  /healthz")
    ready = wait_ready(base, attempts=ready_attempts, pause_seconds=pause_seconds)
    log(f"ok  /readyz {json.dumps(ready.json().get('model'))}")
    headers = {"X-API-Key": api_key}
    card = request(f"{base}/v1/model", headers=headers)
    expect(card.status == 200, f"/v1/model: {card}")
    location = card.json()["categories"]["location"][0]
    condition = card.json()["categories"]["condition"][0]
    house = {
        "sqft": 1500,
        "bedrooms": 3,
        "bathrooms": 2,
        "location": location,
        "condition": condition,
        "year_built": 2000,
    }
    priced = request(f"{base}/v1/predict", headers=headers, body=house)
    expect(priced.status == 200, f"/v1/predict: {priced}")
    price = priced.json().get("predicted_price")
    expect(isinstance(price, int | float) and price > 0, f"/v1/predict price: {price!r}")
    served = str(priced.json().get("model_version"))
    expect(
        expect_model is None or served == expect_model,
        f"/v1/predict served model {served}, expected {expect_model}",
    )
    log(f"ok  /v1/predict {price:.0f} (model {served})")
    page = request(f"{base}/")
    expect(page.status == 200 and "text/html" in page.content_type, f"UI /: {page}")
    log("ok  / (UI)")
    metrics = request(f"{base}/metrics")
    expect(metrics.status == 404, f"/metrics must not be public, got {metrics.status}")
    log("ok  /metrics not public")


def wait_ready(base: str, *, attempts: int, pause_seconds: float) -> Reply:
    """Poll ``/readyz`` until it answers 200 (a new task may still be loading the model)."""
    reply = Reply(0, "", b"")
    for attempt in range(attempts):
        reply = request(f"{base}/readyz")
        if reply.status == 200:
            return reply
        if attempt + 1 < attempts:
            time.sleep(pause_seconds)
    raise SmokeCheckError(f"/readyz never answered 200: {reply}")


def request(url: str, *, headers: dict[str, str] | None = None, body: Any = None) -> Reply:
    """One HTTP call; error statuses come back as a Reply, not an exception."""
    data = None if body is None else json.dumps(body).encode()
    all_headers = {"Accept": "*/*", **(headers or {})}
    if data is not None:
        all_headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=all_headers)  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return Reply(response.status, response.headers.get("Content-Type", ""), response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.headers.get("Content-Type", ""), error.read())
    except (urllib.error.URLError, OSError) as error:
        raise SmokeCheckError(f"{url}: {error}") from error


def expect(condition: bool, message: str) -> None:
    """Raise ``SmokeCheckError(message)`` unless ``condition``."""
    if not condition:
        raise SmokeCheckError(message)


if __name__ == "__main__":
    sys.exit(main())

"""The UI's pure parts: contract-driven form rules, formatting, result summaries, SSE, problems."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from jobs.models import Job, PriceBin
from ml.contract import SQFT_RANGE, PredictionInterval, max_year_built
from webui.api import GatewayClient, GatewayError, GatewayUnavailableError, _server_sent_events
from webui.components.charts import histogram_options
from webui.components.confidence import confidence_grade, grade_scale, half_width_share
from webui.components.formatting import byte_size, duration, money, signed_money
from webui.components.house_form import field_error, number_specs
from webui.components.progress import progress_text
from webui.components.results import sample_csv


def test_number_specs_follow_the_contract() -> None:
    specs = {spec.name: spec for spec in number_specs()}
    assert (specs["sqft"].minimum, specs["sqft"].maximum) == SQFT_RANGE
    assert specs["sqft"].unit == "sq ft"
    assert specs["bathrooms"].step == 0.5
    assert specs["bedrooms"].integer
    assert specs["year_built"].maximum == max_year_built()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("sqft", 50, "Must be at least 100"),
        ("sqft", 200_000, "Must be at most 100,000"),
        ("bathrooms", 1.25, "Must be in steps of 0.5"),
        ("bedrooms", 2.5, "Must be a whole number"),
        ("year_built", max_year_built() + 1, f"year_built must be at most {max_year_built()}"),
        ("location", "  ", "Required"),
        ("sqft", None, "Required"),
    ],
)
def test_field_error_speaks_the_contracts_rules(name: str, value: object, message: str) -> None:
    assert field_error(name, value) == message


def test_field_error_accepts_valid_values() -> None:
    assert field_error("sqft", 1500) is None
    assert field_error("location", "Somewhere new") is None


def test_formatting() -> None:
    assert money(182_400.4) == "$182,400"
    assert money(-1_234) == "-$1,234"
    assert signed_money(12_300) == "+$12,300"
    assert duration(None) == "–"
    assert duration(200) == "3 min 20 s"
    assert duration(3_900) == "1 h 5 min"
    assert byte_size(500 * 1024 * 1024) == "500 MB"


def test_progress_text_shows_only_what_the_job_knows() -> None:
    running = Job(
        id="j1",
        status="running",
        rows_total=10_000,
        rows_done=4_000,
        rows_failed=2,
        rows_per_second=2_310.4,
        eta_seconds=2.6,
        progress=0.4,
    )
    assert progress_text(running) == "4,000 / 10,000 rows · 2 rejected · 2,310 rows/s · ETA 3 s"
    assert progress_text(Job(id="j2", status="queued")) == "Waiting for a worker…"
    assert progress_text(Job(id="j3", status="failed", rows_total=0)) == "No rows read"
    done = running.model_copy(update={"status": "succeeded", "rows_done": 10_000})
    assert "ETA" not in progress_text(done)


def test_histogram_shows_the_gateways_bins() -> None:
    bins = [
        PriceBin(low=100_000, high=150_000, count=3),
        PriceBin(low=150_000, high=200_000, count=0),
        PriceBin(low=200_000, high=250_000, count=5),
    ]
    histogram = histogram_options(bins)
    assert histogram["series"][0]["data"] == [3, 0, 5]
    assert histogram["xAxis"]["data"][0] == "$100k–$150k"


def test_sample_csv_uses_the_given_categories() -> None:
    text = sample_csv({"location": ["Gilbert"], "condition": ["Good"]}).decode()
    lines = text.strip().splitlines()
    assert lines[0] == "sqft,bedrooms,bathrooms,location,year_built,condition"
    assert all(",Gilbert," in line and line.endswith(",Good") for line in lines[1:])


async def test_server_sent_events_are_parsed_into_events() -> None:
    async def lines() -> AsyncIterator[str]:
        for line in [
            ": keep-alive",
            "",
            "event: progress",
            'data: {"a":1}',
            "",
            "event: end",
            'data: {"a":2}',
            "",
        ]:
            yield line

    events = [event async for event in _server_sent_events(lines())]
    assert events == [("progress", '{"a":1}'), ("end", '{"a":2}')]


async def test_client_turns_problem_details_into_gateway_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["X-API-Key"] == "k"
        return httpx.Response(
            422,
            json={
                "type": "about:blank",
                "title": "Invalid request",
                "status": 422,
                "errors": [{"field": "sqft", "message": "too small"}],
            },
            headers={"Content-Type": "application/problem+json"},
        )

    from pydantic import SecretStr

    client = GatewayClient(
        "http://gw", api_key=SecretStr("k"), transport=httpx.MockTransport(handler)
    )
    with pytest.raises(GatewayError) as caught:
        await client.model_card()
    assert caught.value.status == 422
    assert caught.value.problem.errors[0].field == "sqft"
    await client.aclose()


async def test_client_reports_an_unreachable_gateway() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = GatewayClient("http://gw", transport=httpx.MockTransport(handler))
    with pytest.raises(GatewayUnavailableError):
        await client.list_jobs()
    assert await client.readiness() == "starting"  # it has never answered: not up yet
    with pytest.raises(GatewayError):
        await client.get_job("../../admin")
    await client.aclose()


async def test_readiness_tells_starting_from_down() -> None:
    answers = iter([503, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(answers, None)
        if status is None:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(status, json={"ready": status == 200})

    client = GatewayClient("http://gw", transport=httpx.MockTransport(handler))
    # Answering without a model is starting; ready; then gone after answering is down.
    assert [await client.readiness() for _ in range(3)] == ["starting", "ready", "down"]
    await client.aclose()


@pytest.mark.parametrize(
    ("share", "grade"),
    [(0.10, "A"), (0.199, "A"), (0.20, "B"), (0.30, "C"), (0.35, "D"), (0.8, "D")],
)
def test_confidence_grade_follows_the_stated_thresholds(share: float, grade: str) -> None:
    assert confidence_grade(share) == grade
    interval = PredictionInterval(low=100_000 * (1 - share), high=100_000 * (1 + share), level=0.9)
    assert half_width_share(interval, 100_000) == pytest.approx(share)
    assert grade_scale() == "A under ±20%, B under ±25%, C under ±35%, D wider"

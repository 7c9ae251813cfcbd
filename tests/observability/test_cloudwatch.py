"""The PutMetricData exporter against a moto server over HTTP, read back with GetMetricData."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from prometheus_client import REGISTRY

from core.settings import ObservabilitySettings
from observability.cloudwatch import CloudWatchExporter
from observability.sink import build_sink

DIMENSIONS = [{"Name": "Service", "Value": "gateway"}, {"Name": "Environment", "Value": "test"}]


@pytest.fixture
def namespace() -> str:
    return f"HPP-Test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def cloudwatch(moto_server: str) -> AsyncIterator[Any]:
    async with get_session().create_client(
        "cloudwatch",
        region_name="us-east-1",
        endpoint_url=moto_server,
        config=AioConfig(retries={"max_attempts": 1}),
    ) as client:
        yield client


def exporter(namespace: str, endpoint: str, **options: Any) -> CloudWatchExporter:
    options.setdefault("flush_seconds", 3600)
    return CloudWatchExporter(
        namespace=namespace,
        service="gateway",
        environment="test",
        region="us-east-1",
        endpoint_url=endpoint,
        **options,
    )


async def read(client: Any, namespace: str, metric: str, stat: str) -> float:
    now = datetime.now(UTC)
    response = await client.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {
                        "Namespace": namespace,
                        "MetricName": metric,
                        "Dimensions": DIMENSIONS,
                    },
                    "Period": 60,
                    "Stat": stat,
                },
            }
        ],
        StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=10),
    )
    return sum(response["MetricDataResults"][0]["Values"])


async def test_samples_are_sent_aggregated_and_read_back(
    moto_server: str, cloudwatch: Any, namespace: str
) -> None:
    sink = exporter(namespace, moto_server)
    await sink.start()
    for latency in (10, 20, 30, 40, 1000):
        sink.record("RequestCount", 1)
        sink.record("Latency", latency, "Milliseconds")
    sink.record("5XXError", 1)
    sink.record("QueueDepth", 4)
    sink.record("QueueDepth", 8)
    await sink.stop()

    assert sink.sent == 4
    assert await read(cloudwatch, namespace, "RequestCount", "Sum") == 5
    assert await read(cloudwatch, namespace, "RequestCount", "SampleCount") == 1  # one report
    assert await read(cloudwatch, namespace, "5XXError", "Sum") == 1
    assert await read(cloudwatch, namespace, "Latency", "SampleCount") == 5
    assert await read(cloudwatch, namespace, "Latency", "Sum") == 1100
    assert await read(cloudwatch, namespace, "QueueDepth", "SampleCount") == 2
    assert await read(cloudwatch, namespace, "QueueDepth", "Average") == 6


async def test_the_background_task_flushes_every_interval(
    moto_server: str, cloudwatch: Any, namespace: str
) -> None:
    sink = exporter(namespace, moto_server, flush_seconds=0.05)
    await sink.start()
    sink.record("Predictions", 7)
    try:
        for _ in range(200):
            if await read(cloudwatch, namespace, "Predictions", "Sum") == 7:
                break
            await asyncio.sleep(0.05)
        assert await read(cloudwatch, namespace, "Predictions", "Sum") == 7
    finally:
        await sink.stop()


async def test_full_buffer_drops_oldest_and_counts(
    moto_server: str, cloudwatch: Any, namespace: str
) -> None:
    dropped_before = REGISTRY.get_sample_value("cloudwatch_datums_dropped_total") or 0.0
    sink = exporter(namespace, moto_server, buffer_size=3)
    for i in range(5):  # time metrics: one datum per interval, no idle zeros
        sink.record(f"Metric{i}", i + 1, "Milliseconds")
        sink.seal()  # one interval per metric; nothing is sent yet

    names = [datum["MetricName"] for datum in sink.buffered()]
    assert names == ["Metric2", "Metric3", "Metric4"]
    assert sink.dropped == 2
    dropped_after = REGISTRY.get_sample_value("cloudwatch_datums_dropped_total")
    assert dropped_after is not None
    assert dropped_after - dropped_before == sink.dropped

    await sink.start()
    await sink.stop()
    assert await read(cloudwatch, namespace, "Metric4", "Sum") == 5
    assert await read(cloudwatch, namespace, "Metric2", "Sum") == 3
    assert await read(cloudwatch, namespace, "Metric1", "Sum") == 0


async def test_record_does_not_wait_for_an_unreachable_endpoint(namespace: str) -> None:
    sink = exporter(
        namespace,
        "http://127.0.0.1:9",
        max_attempts=3,
        backoff_seconds=0.01,
        max_backoff_seconds=0.02,
    )
    await sink.start()
    sink.record("RequestCount", 1)
    sent = await sink.flush()

    assert sent == 0
    assert [d["MetricName"] for d in sink.buffered()] == ["RequestCount"]  # kept for later
    await sink.stop()
    assert sink.dropped == 0


def test_settings_choose_the_exporter(moto_server: str) -> None:
    settings = ObservabilitySettings(
        metrics_backend="cloudwatch",
        aws_endpoint_url=moto_server,
        metrics_namespace="NS",
        metrics_buffer_size=42,
        aws_region="eu-west-1",
    )
    sink = build_sink(settings, service="worker", environment="prod")

    assert isinstance(sink, CloudWatchExporter)
    assert (sink.namespace, sink.region, sink.endpoint_url) == ("NS", "eu-west-1", moto_server)
    assert sink.buffer_size == 42
    assert {"Name": "Service", "Value": "worker"} in sink.dimensions

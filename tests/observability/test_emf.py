"""Embedded Metric Format lines, checked against the specification."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from typing import Any

import jsonschema
import pytest

from observability.emf import EmfSink, render_emf
from observability.sink import start_sink_in_thread
from tests.support.logs import LogCapture

# https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
UNITS = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
]
EMF_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "properties": {
                "Timestamp": {"type": "integer", "minimum": 0},
                "CloudWatchMetrics": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"$ref": "#/$defs/MetricDirective"},
                },
            },
        }
    },
    "$defs": {
        "MetricDirective": {
            "type": "object",
            "required": ["Namespace", "Dimensions", "Metrics"],
            "properties": {
                "Namespace": {"type": "string", "minLength": 1, "maxLength": 1024},
                "Dimensions": {
                    "type": "array",
                    "items": {"$ref": "#/$defs/DimensionSet"},
                },
                "Metrics": {
                    "type": "array",
                    "maxItems": 100,
                    "items": {"$ref": "#/$defs/MetricDefinition"},
                },
            },
        },
        "DimensionSet": {
            "type": "array",
            "maxItems": 30,
            "items": {"type": "string", "minLength": 1, "maxLength": 250},
        },
        "MetricDefinition": {
            "type": "object",
            "required": ["Name"],
            "properties": {
                "Name": {"type": "string", "minLength": 1, "maxLength": 1024},
                "Unit": {"enum": UNITS},
                "StorageResolution": {"enum": [1, 60]},
            },
        },
    },
}


def assert_valid_emf(document: Mapping[str, Any]) -> None:
    """The schema, plus the spec's target-member rules the schema cannot express."""
    jsonschema.validate(document, EMF_SCHEMA)
    for directive in document["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            for dimension in dimension_set:
                assert isinstance(document[dimension], str), dimension
        for metric in directive["Metrics"]:
            value = document[metric["Name"]]
            values = value if isinstance(value, list) else [value]
            assert 1 <= len(values) <= 100, metric["Name"]
            assert all(isinstance(v, int | float) and math.isfinite(v) for v in values)


def test_emf_schema_rejects_what_the_spec_forbids() -> None:
    bad_unit = {
        "_aws": {
            "Timestamp": 1,
            "CloudWatchMetrics": [
                {"Namespace": "N", "Dimensions": [["A"]], "Metrics": [{"Name": "M", "Unit": "ms"}]}
            ],
        },
        "A": "x",
        "M": 1,
    }
    with pytest.raises(jsonschema.ValidationError):
        assert_valid_emf(bad_unit)
    missing_timestamp: dict[str, Any] = {"_aws": {"CloudWatchMetrics": []}}
    with pytest.raises(jsonschema.ValidationError):
        assert_valid_emf(missing_timestamp)


def test_sink_aggregates_an_interval_into_one_valid_line() -> None:
    emitted: list[Mapping[str, Any]] = []
    sink = EmfSink(namespace="HPP-Test", service="gateway", environment="dev", emit=emitted.append)
    for i in range(1000):
        sink.record("RequestCount", 1)
        sink.record("Latency", 1 + i % 100, "Milliseconds")
        sink.record("5XXError", 1 if i % 10 == 0 else 0)
    sink.record("QueueDepth", 12)
    sink.record("QueueDepth", 30)

    assert sink.flush() == 1
    (document,) = emitted
    assert_valid_emf(document)
    directive = document["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "HPP-Test"
    assert directive["Dimensions"] == [["Service", "Environment"]]
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units == {
        "RequestCount": "Count",
        "Latency": "Milliseconds",
        "5XXError": "Count",
        "QueueDepth": "Count",
    }
    assert (document["Service"], document["Environment"]) == ("gateway", "dev")
    assert document["RequestCount"] == 1000
    assert document["5XXError"] == 100
    assert sorted(document["QueueDepth"]) == [12, 30]
    latencies = document["Latency"]
    assert len(latencies) == 100
    assert min(latencies) >= 1
    assert max(latencies) <= 100
    assert sorted(latencies)[98] >= 95  # the tail survives aggregation


def test_idle_counters_report_zero_but_time_metrics_do_not() -> None:
    emitted: list[Mapping[str, Any]] = []
    sink = EmfSink(namespace="N", service="gateway", environment="dev", emit=emitted.append)
    sink.record("RequestCount", 1)
    sink.record("Latency", 5, "Milliseconds")
    sink.flush()
    sink.flush()

    idle = emitted[1]
    assert_valid_emf(idle)
    assert idle["RequestCount"] == 0
    assert "Latency" not in idle


def test_more_than_100_metrics_split_into_several_documents() -> None:
    documents = render_emf([], namespace="N", service="s", environment="e", timestamp_ms=1)
    assert documents == []
    emitted: list[Mapping[str, Any]] = []
    sink = EmfSink(namespace="N", service="s", environment="e", emit=emitted.append)
    for i in range(150):
        sink.record(f"Metric{i}", i)
    assert sink.flush() == 2
    for document in emitted:
        assert_valid_emf(document)
    assert sum(len(d["_aws"]["CloudWatchMetrics"][0]["Metrics"]) for d in emitted) == 150


def test_emf_lines_go_to_stdout_as_whole_json_lines(logs: LogCapture) -> None:
    sink = EmfSink(namespace="HPP-Test", service="worker", environment="dev")
    sink.record("RowsScored", 5000)
    sink.record("JobsFailed", 0)
    sink.flush()

    (line,) = logs.lines()
    assert_valid_emf(line)
    assert line["RowsScored"] == 5000
    assert abs(line["_aws"]["Timestamp"] / 1000 - time.time()) < 3600


async def test_stop_flushes_what_is_left() -> None:
    emitted: list[Mapping[str, Any]] = []
    sink = EmfSink(
        namespace="N", service="s", environment="e", flush_seconds=3600, emit=emitted.append
    )
    await sink.start()
    sink.record("Predictions", 3)
    await asyncio.sleep(0)
    await sink.stop()

    assert [d["Predictions"] for d in emitted] == [3]


def test_sync_processes_run_the_sink_in_a_thread() -> None:
    emitted: list[Mapping[str, Any]] = []
    sink = EmfSink(
        namespace="N", service="worker", environment="e", flush_seconds=3600, emit=emitted.append
    )
    stop = start_sink_in_thread(sink)
    sink.record("RowsScored", 10)
    stop()

    assert [d["RowsScored"] for d in emitted] == [10]

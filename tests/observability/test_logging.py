"""configure_logging: JSON lines with bound context, stdlib routed through, secrets redacted."""

from __future__ import annotations

import io
import json
import logging
from datetime import datetime

import structlog

from core.settings import ObservabilitySettings
from observability.logging import REDACTED, configure_logging, get_logger
from tests.support.logs import LogCapture


def test_log_lines_are_json_with_timestamp_level_service_and_bound_ids(logs: LogCapture) -> None:
    logs.configure("worker")
    structlog.contextvars.bind_contextvars(request_id="req-1", job_id="job-7", model_version="3")
    get_logger("tests").info("chunk_scored", rows=500)

    (line,) = logs.lines()
    assert line["event"] == "chunk_scored"
    assert line["level"] == "info"
    assert line["service"] == "worker"
    assert (line["request_id"], line["job_id"], line["model_version"]) == ("req-1", "job-7", "3")
    assert line["rows"] == 500
    offset = datetime.fromisoformat(line["timestamp"]).utcoffset()
    assert offset is not None
    assert offset.total_seconds() == 0
    assert list(line)[:4] == ["timestamp", "level", "service", "event"]


def test_stdlib_logs_go_through_the_same_processors(logs: LogCapture) -> None:
    structlog.contextvars.bind_contextvars(request_id="req-2")
    logging.getLogger("uvicorn.error").warning("Started server process [%d]", 42)
    logging.getLogger("celery.worker").info("ready", extra={"job_id": "job-9"})

    uvicorn_line, celery_line = logs.lines()
    assert uvicorn_line["event"] == "Started server process [42]"
    assert uvicorn_line["level"] == "warning"
    assert uvicorn_line["logger"] == "uvicorn.error"
    assert uvicorn_line["request_id"] == "req-2"
    assert uvicorn_line["service"] == "test"
    assert celery_line["job_id"] == "job-9"


def test_secrets_are_redacted_at_any_depth(logs: LogCapture) -> None:
    log = get_logger("tests")
    log.info(
        "call",
        api_key="sk-live-123",
        password="hunter2",
        storage_secret="s3cr3t",
        headers={"X-API-Key": "key-456", "Authorization": "Bearer abc", "Accept": "*/*"},
        config={"nested": {"refresh_token": "tok-789"}},
        api_key_name="alice",
    )
    logging.getLogger("mlflow").info("client", extra={"aws_secret_access_key": "AKIA-secret"})

    call, stdlib = logs.lines()
    assert call["api_key"] == call["password"] == call["storage_secret"] == REDACTED
    assert call["headers"] == {"X-API-Key": REDACTED, "Authorization": REDACTED, "Accept": "*/*"}
    assert call["config"]["nested"]["refresh_token"] == REDACTED
    assert call["api_key_name"] == "alice"  # the key's name is not a secret
    assert stdlib["aws_secret_access_key"] == REDACTED
    for secret in ("sk-live-123", "hunter2", "s3cr3t", "key-456", "abc", "tok-789", "AKIA"):
        assert secret not in logs.text()


def test_exceptions_are_one_json_line(logs: LogCapture) -> None:
    try:
        raise ValueError("bad row")
    except ValueError:
        get_logger("tests").exception("chunk_failed")

    (line,) = logs.lines()
    assert line["level"] == "error"
    assert "ValueError: bad row" in line["exception"]


def test_configuring_twice_keeps_one_handler_and_the_latest_settings(logs: LogCapture) -> None:
    log = get_logger("tests")
    log.info("first")  # caches the logger under the first configuration
    logs.configure("gateway", log_level="WARNING")
    logs.configure("gateway", log_level="WARNING")
    log.info("dropped")
    log.warning("kept")
    logging.getLogger("uvicorn").warning("once")

    events = [line["event"] for line in logs.lines()]
    assert events == ["first", "kept", "once"]
    assert logs.lines()[-1]["service"] == "gateway"


def test_console_format_is_human_readable() -> None:
    stream = io.StringIO()
    configure_logging("ui", ObservabilitySettings(log_format="console"), stream=stream)
    get_logger("tests").info("page_opened", page="/predict")
    configure_logging("test", ObservabilitySettings(log_format="json"))

    text = stream.getvalue()
    assert "page_opened" in text
    assert "page=/predict" in text
    assert not text.lstrip().startswith("{")


def test_auto_format_is_json_outside_a_terminal() -> None:
    stream = io.StringIO()  # not a TTY
    configure_logging("cli", ObservabilitySettings(log_format="auto"), stream=stream)
    get_logger("tests").info("hello")
    configure_logging("test", ObservabilitySettings(log_format="json"))

    assert json.loads(stream.getvalue())["service"] == "cli"


def test_chatty_client_libraries_speak_only_warnings(logs: LogCapture) -> None:
    logging.getLogger("httpx").info("HTTP Request: GET http://gateway/v1/model")
    logging.getLogger("botocore.endpoint").info("Sending request")
    logging.getLogger("httpx").warning("retrying")

    assert [line["event"] for line in logs.lines()] == ["retrying"]


def test_long_values_and_tracebacks_are_cut_with_a_marker(logs: LogCapture) -> None:
    huge = "n" * (10 << 20)
    get_logger("tests").warning("job_failed", error=f"duplicate column names: {huge}")
    logging.getLogger("celery.app.trace").warning("Task failed: %s", huge)
    try:
        raise ValueError(huge)
    except ValueError:
        get_logger("tests").exception("unexpected")

    raw = logs.stream.getvalue().splitlines()
    structured, stdlib, traceback = logs.lines()
    assert structured["error"].startswith("duplicate column names: nnn")
    assert structured["error"].endswith("characters, cut]")
    assert stdlib["event"].endswith("characters, cut]")
    assert traceback["exception"].endswith("characters, cut]")
    assert all(len(line) < 20_000 for line in raw)

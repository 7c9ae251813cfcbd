"""structlog for every process: JSON lines on stdout, stdlib logs through the same processors.

``configure_logging(service=...)`` is called once by each entry point (gateway, worker, UI,
CLI). structlog's own loggers and stdlib loggers (uvicorn, celery, mlflow, ...) share one
processor chain and one writer, so every line has the same shape::

    {"timestamp": "...Z", "level": "info", "service": "gateway", "event": "request", ...}

Context (request_id, job_id, model_version, api_key_name) is bound with
``structlog.contextvars.bind_contextvars`` and merged into every line, stdlib ones included.
Values under secret-looking keys are replaced by ``[redacted]``; string values are cut at
``core.text.MAX_LOG_VALUE_CHARS`` (tracebacks at ``MAX_LOG_TRACEBACK_CHARS``), with a marker.

The chain reads the service name, output stream and renderer from one module-level state
object, so calling ``configure_logging`` again (tests, ``hpp up``) swaps them even for
loggers structlog has already cached.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TextIO

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from core.settings import ObservabilitySettings
from core.text import MAX_LOG_TRACEBACK_CHARS, MAX_LOG_VALUE_CHARS, clip

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(
    r"(^|_)(api_key|apikey|authorization|password|passwd|secret|token|storage_secret"
    r"|secret_access_key|cookie|set_cookie)$"
)
# stdlib loggers that install their own handlers; we route them to the root handler instead.
_ROUTED_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "celery", "mlflow", "alembic")
# Chatty client libraries log every call at INFO; they speak at WARNING unless DEBUG is asked.
_CHATTY_LOGGERS = (
    "httpx",
    "httpcore",
    "botocore",
    "aiobotocore",
    "urllib3",
    "werkzeug",
    "alembic",  # MLflow's schema migrations: a line per migration on a new store
)
_FIRST_KEYS = ("timestamp", "level", "service", "event")


def configure_logging(
    service: str,
    settings: ObservabilitySettings | None = None,
    *,
    stream: TextIO | None = None,
) -> None:
    """Route structlog and stdlib logging to one JSON (or console) line format on stdout."""
    settings = settings or ObservabilitySettings()
    # MLflow would install its own text handler when imported (after this, in most entry
    # points); without it, its records take the route every stdlib logger takes.
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    _state.service = service
    _state.stream = stream
    _state.level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    _state.json = _use_json(settings.log_format, stream or sys.stdout)
    _state.console = structlog.dev.ConsoleRenderer(colors=not _state.json and _isatty(stream))

    structlog.configure(
        processors=[_filter_level, *_shared_processors(), _render],
        wrapper_class=structlog.make_filtering_bound_logger(logging.NOTSET),
        logger_factory=_LineLoggerFactory(),
        context_class=dict,
        cache_logger_on_first_use=True,
    )
    _install_stdlib_handler()


def get_logger(name: str | None = None) -> Any:
    """A structlog logger (bound to the process-wide configuration)."""
    return structlog.get_logger(name)


def write_json_line(document: Mapping[str, Any]) -> None:
    """Write one JSON document as one stdout line, bypassing processors (EMF uses this)."""
    _write(orjson.dumps(document, default=str).decode())


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Replace values stored under secret-looking keys (api_key, token, ...) by a marker."""
    for key, value in event_dict.items():
        if _is_secret_key(key):
            event_dict[key] = REDACTED
        elif isinstance(value, dict):  # dict, not Mapping: the ABC check is slow per line
            event_dict[key] = _redact_mapping(value)
    return event_dict


def clip_long_values(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Cut string values past ``MAX_LOG_VALUE_CHARS`` (user text can be megabytes long)."""
    for key, value in event_dict.items():
        if isinstance(value, str) and len(value) > MAX_LOG_VALUE_CHARS:
            event_dict[key] = clip(value, MAX_LOG_VALUE_CHARS)
    return event_dict


@dataclass
class _LogState:
    service: str = "hpp"
    stream: TextIO | None = None
    level: int = logging.INFO
    json: bool = True
    console: structlog.dev.ConsoleRenderer = field(default_factory=structlog.dev.ConsoleRenderer)


_state = _LogState()
_HANDLER_MARK = "_hpp_observability"


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        _add_service,
        redact_secrets,
        clip_long_values,
        structlog.processors.StackInfoRenderer(),
    ]


def _install_stdlib_handler() -> None:
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(handler)
    handler = _LineHandler()
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ExtraAdder(),
                *_shared_processors(),
            ],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _render],
        )
    )
    root.addHandler(handler)
    root.setLevel(_state.level)
    logging.captureWarnings(True)  # warnings (Celery's about root, say) become log lines too
    for name in _ROUTED_LOGGERS:
        routed = logging.getLogger(name)
        routed.handlers.clear()
        routed.propagate = True
    level = _state.level
    chatty_level = level if level <= logging.DEBUG else max(level, logging.WARNING)
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(chatty_level)


def _filter_level(_: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    if _LEVELS.get(method_name, logging.INFO) < _state.level:
        raise structlog.DropEvent
    return event_dict


_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "msg": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}


def _add_service(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    event_dict.setdefault("service", _state.service)
    return event_dict


def _render(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> str:
    if not _state.json:
        return _state.console(logger, method_name, event_dict)
    event_dict = structlog.processors.format_exc_info(logger, method_name, event_dict)
    if isinstance(event_dict.get("exception"), str):
        event_dict["exception"] = clip(event_dict["exception"], MAX_LOG_TRACEBACK_CHARS)
    ordered = {key: event_dict.pop(key) for key in _FIRST_KEYS if key in event_dict}
    ordered.update(event_dict)
    return orjson.dumps(ordered, default=str).decode()


@lru_cache(maxsize=1024)
def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and bool(_SECRET_KEY.search(key.lower().replace("-", "_")))


def _redact_mapping(mapping: Mapping[Any, Any]) -> dict[Any, Any]:
    redacted: dict[Any, Any] = {}
    for key, value in mapping.items():
        if _is_secret_key(key):
            redacted[key] = REDACTED
        elif isinstance(value, dict):
            redacted[key] = _redact_mapping(value)
        else:
            redacted[key] = value
    return redacted


def _use_json(log_format: str, stream: TextIO) -> bool:
    if log_format == "auto":
        return not _isatty(stream)
    return log_format == "json"


def _isatty(stream: TextIO | None) -> bool:
    stream = stream or sys.stdout
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _write(line: str) -> None:
    stream = _state.stream or sys.stdout
    with _write_lock:  # whole lines from every thread (EMF flusher, probes, handlers)
        stream.write(line + "\n")
        stream.flush()


_write_lock = threading.Lock()


class _LineLogger:
    """The wrapped logger: every method writes the rendered line to the current stream."""

    def msg(self, message: str) -> None:
        _write(message)

    log = debug = info = warn = warning = error = err = critical = fatal = exception = msg


class _LineLoggerFactory:
    def __call__(self, *args: Any) -> _LineLogger:
        return _LineLogger()


class _LineHandler(logging.Handler):
    """A stdlib handler writing formatted records through the same writer as structlog."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _write(self.format(record))
        except Exception:
            self.handleError(record)

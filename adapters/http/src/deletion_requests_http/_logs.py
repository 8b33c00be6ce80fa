"""The server's and the CLI's logging: one format for every logger, JSON or text.

JSON is one object a line, its keys those of Elastic Common Schema (`@timestamp`,
`log.level`, `log.logger`, `message`, `ecs.version`, `http.request.id` inside a request), a
record's known fields (`extra=`) under the key and with the one type `FIELDS` gives, and any
other field as a string under `labels.`; docs/operations.md has the table. Text is one line
of time, level, logger, request id and message. No logger is given identifiers, credentials,
bodies or query strings."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import logging
import logging.config
import sys
import time
from typing import Any, Literal

import orjson

LogFormat = Literal["json", "text"]
FORMATS = ("json", "text")

ECS_VERSION = "8.11.0"
access_log = logging.getLogger("deletion_requests.http.access")
FIELDS: dict[str, tuple[str, type[str] | type[int]]] = {
    "request_id": ("http.request.id", str),
    "method": ("http.request.method", str),
    "path": ("url.path", str),
    "status_code": ("http.response.status_code", int),
    "duration_ns": ("event.duration", int),
    "app_id": ("deletion_requests.app.id", str),
    "app_id_tried": ("deletion_requests.app.id_tried", str),
    "reason": ("event.reason", str),
    "task_id": ("deletion_requests.task.id", str),
    "account_id": ("deletion_requests.account.id", str),
    "status": ("deletion_requests.task.status", str),
    "event": ("event.action", str),
    "at": ("deletion_requests.task.at", str),
    "by": ("deletion_requests.task.by", str),
    "destination": ("deletion_requests.destination.name", str),
    "failures": ("deletion_requests.destination.failures", int),
    "host": ("server.address", str),
    "port": ("server.port", int),
    "workers": ("deletion_requests.workers", int),
}
"""A record's fields (`extra=`) by name: their ECS key and their one type. Any other field
is written as a string under `labels.<name>`."""
_RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request"}
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
"""The id of the request being handled, for every record logged while handling it (set by
`RequestLog`; inherited by the thread pool's work)."""


class RequestId(logging.Filter):
    """Puts the current request's id on every record, as `request_id` (None outside a
    request) and `request` (`-` outside one, for text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        record.request_id = request_id
        record.request = request_id or "-"
        return True


class UtcFormatter(logging.Formatter):
    """The standard formatter, its times in UTC."""

    def converter(self, seconds: float | None) -> time.struct_time:
        return time.gmtime(seconds)


def _timestamp(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


class EcsFormatter(logging.Formatter):
    """One JSON object a line with Elastic Common Schema keys, each field of one type."""

    def format(self, record: logging.LogRecord) -> str:
        moment = dt.datetime.fromtimestamp(record.created, dt.UTC)
        line: dict[str, Any] = {
            "@timestamp": _timestamp(moment),
            "log.level": record.levelname,
            "log.logger": record.name,
            "message": record.getMessage(),
            "ecs.version": ECS_VERSION,
        }
        for name, value in vars(record).items():
            if name in _RECORD_ATTRS or value is None:
                continue
            key, kind = FIELDS.get(name, (f"labels.{name}", str))
            if kind is int and not (isinstance(value, int) and not isinstance(value, bool)):
                key, kind = f"labels.{name}", str
            line[key] = value if kind is int else str(value)
        if record.exc_info and record.exc_info[0] is not None:
            line["error.type"] = record.exc_info[0].__name__
            line["error.message"] = str(record.exc_info[1])
            line["error.stack_trace"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["error.stack_trace"] = self.formatStack(record.stack_info)
        return orjson.dumps(line).decode()


def default_format() -> LogFormat:
    """Text when stderr is a terminal, JSON otherwise (a service manager, a container)."""
    return "text" if sys.stderr.isatty() else "json"


class AccessLines:
    """The access log of a process whose logging is `configure_logging`'s: the same fields
    and format as a record through that configuration, each line made with one
    `orjson.dumps` (or one string format, for text), and the lines of one event-loop
    iteration written to stderr at once when it ends (at once, outside a loop)."""

    def __init__(self, form: LogFormat) -> None:
        self.form = form
        self._lines: list[str] = []

    def add(
        self,
        request_id: str,
        method: str,
        path: str,
        status: int,
        duration_ms: float,
        app_id: str | None,
    ) -> None:
        now = dt.datetime.now(dt.UTC)
        message = f"{method} {path} {status} {duration_ms:.1f} ms"
        if self.form == "json":
            fields: dict[str, Any] = {
                "@timestamp": _timestamp(now),
                "log.level": "INFO",
                "log.logger": access_log.name,
                "message": message,
                "ecs.version": ECS_VERSION,
                "http.request.id": request_id,
                "http.request.method": method,
                "url.path": path,
                "http.response.status_code": status,
                "event.duration": round(duration_ms * 1_000_000),
            }
            if app_id is not None:
                fields["deletion_requests.app.id"] = app_id
            line = orjson.dumps(fields, option=orjson.OPT_APPEND_NEWLINE).decode()
        else:
            stamp = f"{now:%Y-%m-%d %H:%M:%S},{now.microsecond // 1000:03d}"
            line = f"{stamp} INFO {access_log.name} [{request_id}] {message}\n"
        self._lines.append(line)
        if len(self._lines) == 1:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop running: nothing to wait for
                self.flush()

    def flush(self) -> None:
        """Write the lines made so far."""
        lines, self._lines = self._lines, []
        with contextlib.suppress(OSError, ValueError):  # a closed stderr loses the lines only
            sys.stderr.write("".join(lines))
            sys.stderr.flush()


_access_lines: AccessLines | None = None
"""Set by `configure_logging`; None while the process logs as its embedder configured it."""


def log_access(
    request_id: str, method: str, path: str, status: int, duration_ms: float, app_id: str | None
) -> None:
    """One access-log line: the request's method, route template, status, duration and app.
    Never bodies, query strings or credentials. Through `AccessLines` when the process's
    logging is `configure_logging`'s, else a record of `access_log` with the same fields."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    if _access_lines is not None:
        _access_lines.add(request_id, method, path, status, duration_ms, app_id)
        return
    access_log.info(
        "%s %s %s %.1f ms",
        method,
        path,
        status,
        duration_ms,
        extra={
            "request_id": request_id,
            "method": method,
            "path": path,
            "status_code": status,
            "duration_ns": round(duration_ms * 1_000_000),
            "app_id": app_id,
        },
    )


def logging_config(level: str, form: LogFormat = "json") -> dict[str, Any]:
    """The logging configuration (`logging.config.dictConfig`) of every process of the server
    and of the CLI: one handler to stderr, in *form*, for every logger. Operators' changes to
    destinations (`deletion_requests.destinations`, INFO) are logged at any *level*: their log
    record is the only one of a rotation or a removal."""
    changes = min(logging.getLevelName(level.upper()), logging.INFO)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestId}},
        "formatters": {
            "json": {"()": EcsFormatter},
            "text": {
                "()": UtcFormatter,
                "fmt": "%(asctime)s %(levelname)s %(name)s [%(request)s] %(message)s",
            },
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": form,
                "filters": ["request_id"],
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {
            "transitions": {"level": "WARNING"},
            "deletion_requests.destinations": {"level": changes},
            # httpx and httpcore log each outbound URL, query string and all, at INFO.
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
            "_granian": {"level": level.upper(), "handlers": [], "propagate": True},
        },
    }


def configure_logging(level: str, form: LogFormat | None = None, serving: bool = False) -> None:
    """`logging_config` for this process (*form* by default: `default_format()`); a process
    that is *serving* HTTP also writes its access lines through `AccessLines`. A command that
    serves nothing leaves the access log to the logging records, as an embedder's would."""
    global _access_lines
    form = form or default_format()
    logging.config.dictConfig(logging_config(level, form))
    _access_lines = AccessLines(form) if serving else None

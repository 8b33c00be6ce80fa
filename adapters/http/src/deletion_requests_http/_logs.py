"""The server's and the CLI's logging: one format for every logger, JSON or text.

JSON (python-json-logger) is one object a line: `time` (UTC, ISO 8601), `level`, `logger`,
`request_id` (null outside a request), `message`, and the record's fields (`extra=`). Text is
one line of time, level, logger, request id and message. No logger is given identifiers,
credentials or bodies."""

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
from pythonjsonlogger.core import RESERVED_ATTRS

LogFormat = Literal["json", "text"]
FORMATS = ("json", "text")

access_log = logging.getLogger("deletion_requests.http.access")
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
            line = orjson.dumps(
                {
                    "level": "INFO",
                    "logger": access_log.name,
                    "request_id": request_id,
                    "message": message,
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": duration_ms,
                    "app_id": app_id,
                    "time": now.isoformat(),
                },
                option=orjson.OPT_APPEND_NEWLINE,
            ).decode()
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
            "status": status,
            "duration_ms": duration_ms,
            "app_id": app_id,
        },
    )


def logging_config(level: str, form: LogFormat = "json") -> dict[str, Any]:
    """The logging configuration (`logging.config.dictConfig`) of every process of the server
    and of the CLI: one handler to stderr, in *form*, for every logger."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestId}},
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(levelname)s %(name)s %(request_id)s %(message)s",
                "rename_fields": {"levelname": "level", "name": "logger"},
                "reserved_attrs": [*RESERVED_ATTRS, "request"],
                "timestamp": "time",
            },
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
            "_granian": {"level": level.upper(), "handlers": [], "propagate": True},
        },
    }


def configure_logging(level: str, form: LogFormat | None = None) -> None:
    """`logging_config` for this process (*form* by default: `default_format()`), and its
    access lines written by `AccessLines`."""
    global _access_lines
    form = form or default_format()
    logging.config.dictConfig(logging_config(level, form))
    _access_lines = AccessLines(form)

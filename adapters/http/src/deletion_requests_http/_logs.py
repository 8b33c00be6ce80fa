"""The server's logging: one handler to stderr, and the access log."""

from __future__ import annotations

import logging
import logging.config
from typing import Any

import orjson

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

access_log = logging.getLogger("deletion_requests.http.access")


def log_access(
    request_id: str, method: str, path: str, status: int, duration_ms: float, app_id: str | None
) -> None:
    """One access-log line: a JSON object of the request's id, method, route path, status,
    duration and app. Never bodies, query strings or credentials."""
    if access_log.isEnabledFor(logging.INFO):
        access_log.info(
            "%s",
            orjson.dumps(
                {
                    "request_id": request_id,
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": duration_ms,
                    "app_id": app_id,
                }
            ).decode(),
        )


def logging_config(level: str) -> dict[str, Any]:
    """The logging configuration (`logging.config.dictConfig`) of every process of the server:
    one line a record, with time, level and logger, to stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": {"format": LOG_FORMAT}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "line"}},
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {
            "transitions": {"level": "WARNING"},
            "_granian": {"level": level.upper(), "handlers": [], "propagate": True},
        },
    }


def configure_logging(level: str) -> None:
    """`logging_config` for this process."""
    logging.config.dictConfig(logging_config(level))

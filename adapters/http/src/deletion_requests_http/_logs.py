"""The server's logging: its format, and the access log.

`serve` configures one handler, to stderr, in the server and in its writer process alike. The
access log is one JSON object a request (`AccessEntry`, written by `write_access`); with a
writer process, the server sends it the entries and the writer writes them, so the event loop
pays for a tuple rather than for a log record and a write (docs/http.md, "Threads and the
writer process").
"""

from __future__ import annotations

import logging
import time

import orjson

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

access_log = logging.getLogger("deletion_requests.http.access")

AccessEntry = tuple[float, str, str, str, int, float, str | None]
"""One request, for the access log: when it ended (Unix time), its request id, method, path,
status, duration in milliseconds, and the app that made it (None when unauthenticated). Never
bodies, queries or credentials."""


def write_access(entry: AccessEntry) -> None:
    """The access-log line for *entry*: a record of `access_log` at the time the request
    ended, whose message is the entry as a JSON object."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    ended, request_id, method, path, status, duration_ms, app_id = entry
    line = orjson.dumps(
        {
            "request_id": request_id,
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": duration_ms,
            "app_id": app_id,
        }
    ).decode()
    record = access_log.makeRecord(
        access_log.name, logging.INFO, "(unknown file)", 0, "%s", (line,), None
    )
    record.created = ended
    record.msecs = int((ended - int(ended)) * 1000) + 0.0  # as `LogRecord` computes it
    access_log.handle(record)


class LogFormatter(logging.Formatter):
    """`logging.Formatter`, with the date and time formatted once a second rather than once a
    record (the access log writes a record for every request). Same text, to the millisecond."""

    _second = -1
    _text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:  # under the handler's lock, like all of format()
            self._text = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = second
        return f"{self._text},{int(record.msecs):03d}"  # as default_msec_format


def configure_logging(level: str) -> None:
    """The server's logging: one line a record, with time, level and logger, to stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(LogFormatter(LOG_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    # The format shows no thread, process or source line: do not collect them for every record.
    # As in the logging HOWTO's "Optimization".
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
    logging.getLogger("transitions").setLevel(logging.WARNING)

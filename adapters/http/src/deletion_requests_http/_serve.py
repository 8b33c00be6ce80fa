"""`serve`: the app under Granian, in worker processes that share one port.

Each worker bootstraps its own application (and store) from the settings `serve` leaves in
`SETTINGS_ENV` (workers are new Python processes, so they learn them from the environment).
The background work (transitions, purges, deliveries) runs once, in the `serve` process, not
in the workers. Granian's limits are set for a server with no proxy in front: a request head
is at most `MAX_HEADER_BYTES`, and a connection that has not sent a whole head within
`HEADER_TIMEOUT` seconds is closed. On SIGINT or SIGTERM each worker stops taking
connections, answers the requests it has, and exits; `serve` waits for them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
import os
import socket
import tempfile
from collections.abc import Iterator

import attrs
import cattrs
import orjson
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from granian import Granian
from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from starlette.applications import Starlette

from ._bootstrap import Settings, bootstrap
from ._logs import LogFormat, configure_logging, logging_config
from ._metrics import MULTIPROCESS_ENV
from ._wiring import Background

SETTINGS_ENV = "DELETION_REQUESTS_SERVE_SETTINGS"
MAX_HEADER_BYTES = 64 * 1024
HEADER_TIMEOUT = 5
GRACEFUL_TIMEOUT = 30


@attrs.frozen
class Processes:
    """What `serve` runs: the application's settings, the number of workers, and the log."""

    application: Settings
    workers: int = 1
    log_level: str = "info"
    log_format: LogFormat = "json"


_converter = cattrs.Converter()
_converter.register_unstructure_hook(dt.timedelta, dt.timedelta.total_seconds)
_converter.register_structure_hook(dt.timedelta, lambda seconds, _: dt.timedelta(seconds=seconds))
# The clock is not sent: each worker reads the system clock.
_converter.register_unstructure_hook(
    Settings, make_dict_unstructure_fn(Settings, _converter, clock=override(omit=True))
)
_converter.register_structure_hook(
    Settings, make_dict_structure_fn(Settings, _converter, clock=override(omit=True))
)


def worker_environment(processes: Processes) -> str:
    """What `serve` leaves in `SETTINGS_ENV` for its workers: *processes*, whose application
    delivers nothing (the `serve` process does)."""
    workers = attrs.evolve(
        processes, application=attrs.evolve(processes.application, deliver=False)
    )
    return orjson.dumps(_converter.unstructure(workers)).decode()


def worker_settings(document: object) -> Processes:
    """What a worker reads back from the document `worker_environment` wrote."""
    return _converter.structure(document, Processes)


def port_in_use(host: str, port: int) -> bool:
    """Whether something already listens on (*host*, *port*)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


@contextlib.contextmanager
def metrics_directory() -> Iterator[None]:
    """`PROMETHEUS_MULTIPROC_DIR` for this process and its workers, made empty here and
    removed at the end (or the one the environment names, left as it is). Enter it before
    anything counts a metric."""
    if os.environ.get(MULTIPROCESS_ENV):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="deletion-requests-metrics-") as directory:
        os.environ[MULTIPROCESS_ENV] = directory
        try:
            yield
        finally:
            del os.environ[MULTIPROCESS_ENV]


def serve(processes: Processes, host: str, port: int, background: Background | None) -> None:
    """Serve until SIGINT or SIGTERM, then answer the requests in flight and return."""
    os.environ[SETTINGS_ENV] = worker_environment(processes)
    # Workers start as new interpreters, not forks: they inherit no store, thread or lock of
    # this process (which keeps its own store for the background work).
    multiprocessing.set_start_method("spawn", force=True)
    server = Granian(
        "deletion_requests_http._serve:worker_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=processes.workers,
        http=HTTPModes.http1,
        websockets=False,
        http1_settings=HTTP1Settings(
            header_read_timeout=HEADER_TIMEOUT * 1000, max_buffer_size=MAX_HEADER_BYTES
        ),
        log_dictconfig=logging_config(processes.log_level, processes.log_format),
        workers_kill_timeout=GRACEFUL_TIMEOUT,
    )
    with background or contextlib.nullcontext():
        server.serve()


def worker_app() -> Starlette:
    """The app of one worker, from the settings `serve` left in the environment; its
    shutdown closes its store."""
    processes = worker_settings(orjson.loads(os.environ[SETTINGS_ENV]))
    configure_logging(processes.log_level, processes.log_format)
    return bootstrap(processes.application).http(close_on_shutdown=True)

"""`serve`: the app under Granian, in worker processes that share one port.

Each worker bootstraps its own application (and store) from the settings `serve` leaves in
`SETTINGS_ENV` (workers are new Python processes, so they learn them from the environment),
and runs the background work (transitions, purges, deliveries) while it holds the store's
background lease: one process at a time, across every worker and every server on the store.
The `serve` process only supervises: a worker that dies is replaced (unless workers keep dying
within seconds of their start), and a worker dies with `serve` however `serve` ends, SIGKILL
included (on Linux, the kernel kills it: `PR_SET_PDEATHSIG`).

Granian's limits are set for a server with no proxy in front: a request head is at most
`MAX_HEADER_BYTES`; a connection that has not sent a whole head within `HEADER_TIMEOUT`
seconds is closed; a worker holds at most `Processes.max_connections` connections at once
(Granian's backpressure: more wait in the listen queue). The bounds on bodies are the app's
(`BodyBounds`). On SIGINT or SIGTERM each worker stops taking connections, answers the
requests it has, and exits; `serve` waits for them.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import gc
import multiprocessing
import os
import signal
import socket
import sys
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

SETTINGS_ENV = "DELETION_REQUESTS_SERVE_SETTINGS"
SUPERVISOR_ENV = "DELETION_REQUESTS_SERVE_PID"
PR_SET_PDEATHSIG = 1
MAX_HEADER_BYTES = 64 * 1024
HEADER_TIMEOUT = 5
GRACEFUL_TIMEOUT = 30
MAX_CONNECTIONS = 1024
BACKLOG = 1024


@attrs.frozen
class Processes:
    """What `serve` runs: the application's settings, the number of workers, the log, and
    the connections each worker holds open at once."""

    application: Settings
    workers: int = 1
    log_level: str = "info"
    log_format: LogFormat = "json"
    max_connections: int = MAX_CONNECTIONS


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
    """What `serve` leaves in `SETTINGS_ENV` for its workers: *processes*."""
    return orjson.dumps(_converter.unstructure(processes)).decode()


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


def serve(processes: Processes, host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM, then answer the requests in flight and return."""
    os.environ[SETTINGS_ENV] = worker_environment(processes)
    os.environ[SUPERVISOR_ENV] = str(os.getpid())
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
        backlog=max(BACKLOG, processes.max_connections),
        backpressure=processes.max_connections,
        http=HTTPModes.http1,
        websockets=False,
        http1_settings=HTTP1Settings(
            header_read_timeout=HEADER_TIMEOUT * 1000, max_buffer_size=MAX_HEADER_BYTES
        ),
        log_dictconfig=logging_config(processes.log_level, processes.log_format),
        workers_kill_timeout=GRACEFUL_TIMEOUT,
        respawn_failed_workers=True,
    )
    server.serve()


def die_with(supervisor: int) -> None:
    """Have the kernel kill this process when the thread that started it ends (on Linux;
    elsewhere nothing is done), and exit now if *supervisor* is no longer its parent."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != supervisor:
        os._exit(1)  # `serve` died before the line above: nobody supervises this worker


def worker_app() -> Starlette:
    """The app of one worker, from the settings `serve` left in the environment, with the
    background work (under the store's lease); its shutdown closes its store.

    Everything alive once the app is built (the modules, the app, its store) is moved out of
    the cyclic garbage collector's reach (`gc.freeze`): it lives as long as the worker, and a
    full collection then walks only what requests made since, not the whole start-up heap."""
    if supervisor := os.environ.get(SUPERVISOR_ENV):
        die_with(int(supervisor))
    processes = worker_settings(orjson.loads(os.environ[SETTINGS_ENV]))
    configure_logging(processes.log_level, processes.log_format, serving=True)
    app = bootstrap(processes.application).http(background=True, close_on_shutdown=True)
    gc.collect()
    gc.freeze()
    return app

"""`serve`: the app under Granian, in worker processes that share one port.

Each worker builds its own app and store from the settings `serve` leaves in
`SETTINGS_ENV` (workers are new Python processes, so they learn them from the environment).
The background work (transitions, purges, deliveries) runs once, in the `serve` process, not
in the workers. Granian's limits are set for a server with no proxy in front: a request head
is at most `MAX_HEADER_BYTES`, and a connection that has not sent a whole head within
`HEADER_TIMEOUT` seconds is closed. On SIGINT or SIGTERM each worker stops taking
connections, answers the requests it has, and exits; `serve` waits for them.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import socket
import tempfile
from collections.abc import Iterator

import attrs
import cattrs
import orjson
from granian import Granian
from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from starlette.applications import Starlette

from ._cli_common import policy_for
from ._limits import RateLimits
from ._logs import LogFormat, configure_logging, logging_config
from ._metrics import MULTIPROCESS_ENV
from ._wiring import Background, Server
from .console import ConsoleSettings

SETTINGS_ENV = "DELETION_REQUESTS_SERVE_SETTINGS"
MAX_HEADER_BYTES = 64 * 1024
HEADER_TIMEOUT = 5
GRACEFUL_TIMEOUT = 30


@attrs.frozen
class Settings:
    """What each worker needs to build its app."""

    store_url: str
    retention_days: float
    log_level: str
    webhook_secret: str | None = attrs.field(default=None, repr=False)
    workers: int = 1
    console: ConsoleSettings | None = attrs.field(factory=ConsoleSettings)
    log_format: LogFormat = "json"
    rate_limit: str | None = None
    token_rate_limit: str | None = None
    rate_limit_store: str = attrs.field(default="memory://", repr=False)
    metrics_token: str | None = attrs.field(default=None, repr=False)


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


def serve(settings: Settings, host: str, port: int, background: Background | None) -> None:
    """Serve until SIGINT or SIGTERM, then answer the requests in flight and return."""
    os.environ[SETTINGS_ENV] = orjson.dumps(cattrs.unstructure(settings)).decode()
    # Workers start as new interpreters, not forks: they inherit no store, thread or lock of
    # this process (which keeps its own store for the background work).
    multiprocessing.set_start_method("spawn", force=True)
    server = Granian(
        "deletion_requests_http._serve:worker_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        http=HTTPModes.http1,
        websockets=False,
        http1_settings=HTTP1Settings(
            header_read_timeout=HEADER_TIMEOUT * 1000, max_buffer_size=MAX_HEADER_BYTES
        ),
        log_dictconfig=logging_config(settings.log_level, settings.log_format),
        workers_kill_timeout=GRACEFUL_TIMEOUT,
    )
    with background or contextlib.nullcontext():
        server.serve()


def worker_app() -> Starlette:
    """The app of one worker, from the settings `serve` left in the environment."""
    settings = cattrs.structure(orjson.loads(os.environ[SETTINGS_ENV]), Settings)
    configure_logging(settings.log_level, settings.log_format)
    server = Server.open(settings.store_url, policy=policy_for(settings.retention_days))
    secret = settings.webhook_secret

    limits = RateLimits.open(
        settings.rate_limit, settings.token_rate_limit, settings.rate_limit_store
    )
    return server.app(
        webhook_secret=secret,
        close_on_shutdown=True,
        console=settings.console,
        limits=limits,
        metrics_token=settings.metrics_token,
    )

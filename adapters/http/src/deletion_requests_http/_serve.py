"""`serve`: the app under Hypercorn, in one process or in worker processes on one port.

Each worker builds its own app and store from the settings `serve` leaves in
`SETTINGS_ENV` (workers are new Python processes, so they learn them from the environment).
The background work (transitions, purges, deliveries) runs once, in the `serve` process, not
in the workers. Hypercorn's limits are set for a server with no proxy in front: headers are at
most `MAX_HEADER_BYTES`, and a connection that has not sent a whole request head within
`HEADER_TIMEOUT` seconds is closed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket

import attrs
import cattrs
import orjson
from hypercorn.config import Config
from hypercorn.run import run
from starlette.applications import Starlette

from ._logs import configure_logging
from ._wiring import Background, Server

SETTINGS_ENV = "DELETION_REQUESTS_SERVE_SETTINGS"
MAX_HEADER_BYTES = 16 * 1024
HEADER_TIMEOUT = 5
GRACEFUL_TIMEOUT = 30

logger = logging.getLogger("deletion_requests.server")


@attrs.frozen
class Settings:
    """What each worker needs to build its app."""

    store_url: str
    retention_days: float
    log_level: str
    webhook_secret: str | None = attrs.field(default=None, repr=False)
    workers: int = 1


def port_in_use(host: str, port: int) -> bool:
    """Whether something already listens on (*host*, *port*)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def serve(settings: Settings, host: str, port: int, background: Background | None) -> int:
    """Serve until SIGINT or SIGTERM, then answer the requests in flight and return 0."""
    os.environ[SETTINGS_ENV] = orjson.dumps(cattrs.unstructure(settings)).decode()
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.application_path = "deletion_requests_http._serve:worker_app()"
    config.workers = 0 if settings.workers == 1 else settings.workers  # 0: in this process
    config.worker_class = "uvloop"
    config.h11_max_incomplete_size = MAX_HEADER_BYTES
    config.keep_alive_timeout = HEADER_TIMEOUT  # an idle connection, or one mid-head
    config.graceful_timeout = GRACEFUL_TIMEOUT
    config.include_server_header = False
    config.accesslog = None  # ours has no query strings or credentials
    config.errorlog = logging.getLogger("hypercorn.error")
    with background or contextlib.nullcontext():
        return run(config)


def worker_app() -> Starlette:
    """The app of one worker, from the settings `serve` left in the environment."""
    settings = cattrs.structure(orjson.loads(os.environ[SETTINGS_ENV]), Settings)
    if settings.workers > 1:
        # The supervisor owns shutdown: on SIGINT or SIGTERM it tells every worker through
        # Hypercorn's shutdown event, and they finish their requests. (Hypercorn's workers
        # already ignore SIGINT; a SIGTERM to the whole process group would end them at once.)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    configure_logging(settings.log_level)
    from ._cli import policy_for  # the CLI's reading of --retention-days

    server = Server.open(settings.store_url, policy=policy_for(settings.retention_days))
    secret = settings.webhook_secret.encode() if settings.webhook_secret else None

    return server.app(webhook_secret=secret, close_on_shutdown=True)

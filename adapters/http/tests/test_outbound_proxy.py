"""Outbound requests go through the proxy the environment names (`HTTP_PROXY`), except to the
hosts `NO_PROXY` covers, with the attempt's deadline holding through the proxy too."""

from __future__ import annotations

import datetime as dt
import http.client
import http.server
import socket
import threading
import urllib.parse
from collections.abc import Iterator

import pytest
from deletion_requests_http import WebhookSink
from deletion_requests_http._bootstrap import Settings, bootstrap
from deletion_requests_http._destination_sender import HttpJobSender
from deletion_requests_http._outbound import Poster, proxy_for
from deletion_requests_http._webhooks import CallbackWebhooks

from deletion_requests import (
    HANDOFF,
    AccessAdmin,
    DeletionTask,
    DeliveryFailed,
    Destination,
    Job,
    ManualClock,
    Mode,
    Policy,
    Status,
)
from deletion_requests.stores import Callback
from deletion_requests.testing import WebhookReceiver
from deletion_requests.wire import new_signing_secret

SECRET = new_signing_secret()
T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "REQUEST_METHOD")


class ForwardProxy:
    """A plain HTTP forward proxy on 127.0.0.1: it records each request's target (the
    absolute URL of the request line) and forwards the request to it."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                proxy.targets.append(self.path)
                target = urllib.parse.urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
                try:
                    upstream.request("POST", target.path or "/", body, headers)
                    answer = upstream.getresponse()
                    content = answer.read()
                finally:
                    upstream.close()
                self.send_response(answer.status)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ForwardProxy]:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    forward = ForwardProxy()
    monkeypatch.setenv("HTTP_PROXY", forward.url)
    yield forward
    forward.close()


def a_task() -> DeletionTask:
    return DeletionTask(
        task_id="0190f4c8-0000-7000-8000-000000000001",
        account_id="acct-a",
        status=Status.ACTIONED,
        creation_time=T0,
        identifiers=frozenset(),
        created_by="app_a",
        actioned_time=T0,
    )


def send_with(sender: str, url: str) -> None:
    """One POST to *url* by the sender named *sender*, made after the environment was set."""
    if sender == "sink":
        sink = WebhookSink(url, SECRET, HANDOFF, timeout=5)
        try:
            sink.deliver(a_task(), b"{}")
        finally:
            sink.close()
    elif sender == "callbacks":
        callbacks = CallbackWebhooks(timeout=5)
        try:
            callbacks.send(Callback(url, SECRET, T0), "evt_1", b"{}")
        finally:
            callbacks.close()
    else:
        jobs = HttpJobSender(timeout=5)
        destination = Destination("crm", Mode.PUSH, T0, url, SECRET)
        job = Job("job-1", "0190f4c8-0000-7000-8000-000000000001", "crm", T0)
        try:
            jobs.send(destination, job, b"{}")
        finally:
            jobs.close()


SENDERS = ["sink", "callbacks", "jobs"]


@pytest.mark.parametrize("sender", SENDERS)
def test_http_proxy_carries_the_request(proxy: ForwardProxy, sender: str) -> None:
    with WebhookReceiver(SECRET) as receiver:
        send_with(sender, receiver.url)
        assert len(receiver.acknowledged) == 1
    assert proxy.targets == [receiver.url]


@pytest.mark.parametrize("sender", SENDERS)
def test_no_proxy_sends_directly(
    proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch, sender: str
) -> None:
    entry = "other.example, 127.0.0.1"
    monkeypatch.setenv("NO_PROXY", entry)
    with WebhookReceiver(SECRET) as receiver:
        send_with(sender, receiver.url)
        assert len(receiver.acknowledged) == 1
    assert proxy.targets == []


def test_the_servers_deliveries_go_through_its_environments_proxy(proxy: ForwardProxy) -> None:
    clock = ManualClock(T0)
    with WebhookReceiver(SECRET) as receiver:
        settings = Settings(
            store_url="memory://",
            clock=clock,
            deliver=True,
            handoff_url=receiver.url,
            webhook_secret=SECRET,
        )
        application = bootstrap(settings)
        try:
            admin = AccessAdmin(application.store, clock)
            admin.allow_account("acct-a")
            app, secret = admin.create_app(["acct-a"])
            caller = application.service.authenticate(app.app_id, secret)
            application.service.create(caller, "acct-a", raw_emails=["p@example.com"])
            clock.advance(Policy().cancel_period)
            application.service.advance_due()
            report = application.service.deliver(application.sinks)
        finally:
            application.close()
        assert (report.failed, len(receiver.acknowledged)) == (0, 1)  # the review alert: logged
    assert proxy.targets == [receiver.url]


def test_a_proxy_that_never_answers_is_a_timed_out_attempt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    silent = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(silent.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    poster = Poster(0.5, 2, {"http": f"http://127.0.0.1:{silent.getsockname()[1]}"})
    try:
        with pytest.raises(DeliveryFailed) as failed:
            poster.post("http://receiver.example/hook", b"{}", {})
        assert failed.value.detail == "timeout"
        assert accepted, "the request did not go to the proxy"
    finally:
        poster.close()
        stop.set()
        silent.close()
        for connection in accepted:
            connection.close()


@pytest.mark.parametrize(
    ("url", "no_proxy", "direct"),
    [
        ("http://hooks.example.com/x", "", False),
        ("http://hooks.example.com/x", "example.com", True),
        ("http://hooks.example.com/x", ".example.com", True),
        ("http://notexample.com/x", "example.com", False),
        ("http://hooks.example.com:8080/x", "hooks.example.com:8080", True),
        ("http://hooks.example.com:8081/x", "hooks.example.com:8080", False),
        ("http://hooks.example.com/x", "hooks.example.com:80", True),
        ("http://10.1.2.3/x", "10.0.0.0/8", True),
        ("http://11.1.2.3/x", "10.0.0.0/8", False),
        ("http://[::1]:9000/x", "::1", True),
        ("http://[::1]:9000/x", "[::1]:9000", True),
        ("http://HOOKS.Example.com/x", "hooks.example.COM", True),
        ("https://hooks.example.com/x", "", None),  # no https proxy: direct
    ],
)
def test_which_urls_no_proxy_covers(url: str, no_proxy: str, direct: bool | None) -> None:
    proxies = {"http": "http://proxy.example:3128", "no": no_proxy}
    expected = None if direct is not False else "http://proxy.example:3128"
    assert proxy_for(url, proxies) == expected


@pytest.mark.parametrize("value", ["socks5://127.0.0.1:1080", "ftp://proxy.example"])
def test_a_proxy_that_is_not_http_is_refused_when_the_sender_is_made(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("HTTPS_PROXY", value)
    with pytest.raises(ValueError, match="HTTPS_PROXY must be a proxy's http:// or https:// URL"):
        CallbackWebhooks()


def test_a_proxy_without_a_scheme_is_http() -> None:
    poster = Poster(1, 1, {"http": "proxy.example:3128"})
    try:
        assert poster.proxies["http"] == "http://proxy.example:3128"
    finally:
        poster.close()

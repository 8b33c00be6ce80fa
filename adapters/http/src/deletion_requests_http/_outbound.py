"""Outbound POSTs: over kept connections, each attempt within a total deadline, reading a
bounded prefix of the answer, through the proxy the environment names (`HTTP_PROXY`,
`HTTPS_PROXY`, `NO_PROXY`)."""

from __future__ import annotations

import ipaddress
import ssl
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import httpcore

from deletion_requests import DeliveryFailed

MAX_ANSWER = 64 * 1024
"""Bytes of an answer's body read at most. A longer body is not read on; its connection is
closed instead of kept."""


@attrs.frozen
class Answer:
    """The status of an answer, and its body when it was at most `MAX_ANSWER` bytes (None when
    it was longer: only its first bytes were read)."""

    status: int
    body: bytes | None


def environment_proxies() -> dict[str, str]:
    """The proxies the environment names, as `urllib.request.getproxies` reads them: `http`
    and `https` (each a proxy URL; one without a scheme is `http://`), and `no` (the hosts
    that are reached directly). Any other scheme's proxy is left out."""
    found = urllib.request.getproxies()
    proxies = {scheme: found[scheme] for scheme in ("http", "https", "no") if found.get(scheme)}
    for scheme in ("http", "https"):
        if scheme in proxies:
            proxies[scheme] = _proxy_url(scheme, proxies[scheme])
    return proxies


def _proxy_url(scheme: str, url: str) -> str:
    if "://" not in url:
        url = f"http://{url}"
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{scheme.upper()}_PROXY must be a proxy's http:// or https:// URL (host and port), "
            f"got a {parts.scheme}:// one"
        )
    return url


def proxy_for(url: str, proxies: Mapping[str, str]) -> str | None:
    """The proxy URL that a request to *url* goes through, or None for a direct connection:
    the proxy of the URL's scheme, unless an entry of `no` (comma-separated) covers the URL:
    `*` covers every URL; a host name covers itself and its subdomains (a leading dot is
    ignored); an IP address or network (`10.0.0.0/8`) covers the addresses in it; any of
    them followed by `:port` covers only that port."""
    parts = urllib.parse.urlsplit(url)
    proxy = proxies.get(parts.scheme)
    if proxy is None:
        return None
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    entries = (entry.strip().lower() for entry in proxies.get("no", "").split(","))
    if any(_covers(entry, host, port) for entry in entries if entry):
        return None
    return proxy


def _covers(entry: str, host: str, port: int) -> bool:
    """Whether the `NO_PROXY` *entry* covers *host* on *port* (see `proxy_for`)."""
    if entry == "*":
        return True
    name, colon, entry_port = entry.rpartition(":")
    if colon and entry_port.isdigit() and (name.endswith("]") or ":" not in name):
        if int(entry_port) != port:
            return False
        entry = name
    try:
        network = ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        entry = entry.lstrip(".")
        return host == entry or host.endswith(f".{entry}")
    try:
        return ipaddress.ip_address(host) in network
    except ValueError:
        return False


class Poster:
    """POSTs over pools of kept connections (httpcore's), never following a redirect (it
    would send the body elsewhere), each attempt within `timeout` seconds in all: every
    connect, TLS handshake, read and write (a proxy's included) may take only what is left of
    the attempt's time, so a receiver that trickles its answer times out like one that says
    nothing. A request goes through the proxy *proxies* name for its URL
    (`environment_proxies()` by default, read once here; `proxy_for` says which), through a
    CONNECT tunnel for an https:// URL. Callable from any thread."""

    def __init__(
        self, timeout: float, connections: int, proxies: Mapping[str, str] | None = None
    ) -> None:
        self.timeout = timeout
        self.connections = connections
        self.proxies = dict(environment_proxies() if proxies is None else proxies)
        for scheme in ("http", "https"):
            if scheme in self.proxies:
                self.proxies[scheme] = _proxy_url(scheme, self.proxies[scheme])
        self._direct = self._pool(None)
        self._via: dict[str, httpcore.ConnectionPool] = {}
        self._lock = threading.Lock()

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """The answer to a POST of *body*; `DeliveryFailed` naming the error class when there
        is none, "timeout" when it took longer than `timeout`."""
        limit = self.timeout
        sent = [("User-Agent", "deletion-requests"), *headers.items()]
        pool = self._pool_for(url)
        _deadline.at = time.monotonic() + limit
        try:
            with pool.stream(
                "POST",
                url,
                headers=sent,
                content=body,
                extensions={"timeout": dict.fromkeys(("connect", "read", "write", "pool"), limit)},
            ) as response:
                read = b""
                for chunk in response.iter_stream():
                    read += chunk
                    if len(read) > MAX_ANSWER:
                        return Answer(response.status, None)
                return Answer(response.status, read)
        except httpcore.TimeoutException:
            raise DeliveryFailed("timeout") from None
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
            raise DeliveryFailed(type(exc).__name__) from None
        finally:
            _deadline.at = None

    def close(self) -> None:
        with self._lock:
            pools = [self._direct, *self._via.values()]
            self._via.clear()
        for pool in pools:
            pool.close()

    def _pool_for(self, url: str) -> httpcore.ConnectionPool:
        proxy = proxy_for(url, self.proxies)
        if proxy is None:
            return self._direct
        with self._lock:
            pool = self._via.get(proxy)
            if pool is None:
                pool = self._via[proxy] = self._pool(proxy)
            return pool

    def _pool(self, proxy: str | None) -> httpcore.ConnectionPool:
        options: dict[str, Any] = {
            "max_connections": self.connections,
            "max_keepalive_connections": self.connections // 2,
            "network_backend": _DeadlineBackend(),
        }
        if proxy is None:
            return httpcore.ConnectionPool(**options)
        parts = urllib.parse.urlsplit(proxy)
        auth = None
        if parts.username is not None:
            unquote = urllib.parse.unquote
            auth = (unquote(parts.username), unquote(parts.password or ""))
        host = parts.hostname or ""
        if ":" in host:  # an IPv6 address
            host = f"[{host}]"
        netloc = host if parts.port is None else f"{host}:{parts.port}"
        return httpcore.HTTPProxy(f"{parts.scheme}://{netloc}/", proxy_auth=auth, **options)


class _Deadline(threading.local):
    at: float | None = None
    """The `time.monotonic()` by which this thread's current attempt must be over."""


_deadline = _Deadline()


def _left(timeout: float | None, expired: type[Exception]) -> float | None:
    """*timeout*, cut to what is left of the current attempt; *expired* when nothing is."""
    at = _deadline.at
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise expired("the attempt's time is up")
    return left if timeout is None else min(timeout, left)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own blocking sockets, each wait bounded by the attempt's deadline."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        wait = _left(timeout, httpcore.ConnectTimeout)
        stream = self._backend.connect_tcp(host, port, wait, local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        wait = _left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, wait, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        wait = _left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, wait))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)

"""A fault-injecting HTTP proxy on loopback, in front of the moto server.

Tests point ``AWS_ENDPOINT_URL`` at the proxy and add rules: for the requests a rule matches (by
method, path and query), the proxy drops the response after the server stored the request (a lost
response), resets the connection before forwarding, delays, answers an S3 error (500, 503,
SlowDown) without forwarding, or holds the request until the test releases it. Every other request
is forwarded unchanged. Counters record what was injected, for the figures in the README.
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from assetlake.asset import CLAIM

ERRORS = {
    "500": (500, "InternalError"),
    "503": (503, "ServiceUnavailable"),
    "slowdown": (503, "SlowDown"),
    "denied": (403, "AccessDenied"),
}
_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query
    query: str


Match = Callable[[Request], bool]


@dataclass
class Rule:
    """``action`` for the first ``times`` requests that ``match``: 'drop' (forward, then close
    without answering), 'reset' (close with a TCP reset before forwarding), 'delay' (forward after
    ``seconds``), '500' / '503' / 'slowdown' / 'denied' (answer that S3 error), 'hold' (set
    ``arrived``, then forward once ``release`` is set)."""

    match: Match
    action: str
    times: int = 1
    seconds: float = 0.0
    hits: int = 0
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


class FaultProxy:
    """The proxy; ``url`` is its endpoint, ``injected`` counts the faults it injected so far."""

    def __init__(self, upstream: str) -> None:
        target = urlsplit(upstream)
        self.upstream = (target.hostname or "127.0.0.1", target.port or 80)
        self.rules: list[Rule] = []
        self.injected = 0
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._server.handle_error = lambda *args: None  # a client gone mid-answer is expected
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def add(self, match: Match, action: str, *, times: int = 1, seconds: float = 0.0) -> Rule:
        rule = Rule(match, action, times, seconds)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            for rule in self.rules:
                rule.release.set()
            self.rules.clear()

    def close(self) -> None:
        self.clear()
        self._server.shutdown()
        self._server.server_close()

    def _rule_for(self, request: Request) -> Rule | None:
        with self._lock:
            self.requests.append(request)
            for rule in self.rules:
                if rule.hits < rule.times and rule.match(request):
                    rule.hits += 1
                    self.injected += 1
                    return rule
        return None


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path, _, query = self.path.partition("?")
            rule = proxy._rule_for(Request(self.command, path, query))
            action = rule.action if rule else "forward"
            if action == "reset":
                self._reset()
                return
            if action in ERRORS:
                status, code = ERRORS[action]
                self._reply(status, [("Content-Type", "application/xml")], _error_xml(code))
                return
            if action == "delay":
                time.sleep(rule.seconds)  # type: ignore[union-attr]
            if action == "hold":
                rule.arrived.set()  # type: ignore[union-attr]
                rule.release.wait()  # type: ignore[union-attr]
            status, headers, payload = self._forward(body)
            if action == "drop":
                self._reset()
                return
            self._reply(status, headers, payload)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
            connection = http.client.HTTPConnection(*proxy.upstream, timeout=60)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP]
                return response.status, kept, payload
            finally:
                connection.close()

        def _reply(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
            """Answer with ``payload``; a HEAD keeps the server's Content-Length (no body)."""
            self.send_response(status)
            for key, value in headers:
                if key.lower() != "content-length" or self.command == "HEAD":
                    self.send_header(key, value)
            if self.command != "HEAD":
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def _reset(self) -> None:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()

    return Handler


def _error_xml(code: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
        f"<Message>injected by the test proxy</Message></Error>"
    ).encode()


@contextmanager
def fault_proxy(moto_server: str) -> Iterator[FaultProxy]:
    """A proxy in front of ``moto_server``, closed (and every held request released) on exit."""
    proxy = FaultProxy(moto_server)
    try:
        yield proxy
    finally:
        proxy.close()


def key_endswith(suffix: str, method: str = "PUT", query: str | None = None) -> Match:
    """Requests of ``method`` on a key ending with ``suffix`` (and, if given, with ``query``)."""

    def match(request: Request) -> bool:
        if request.method != method or not request.path.endswith(suffix):
            return False
        return query is None or query in request.query.split("&")[0]

    return match


def nth_data_put(name: str, n: int) -> Match:
    """The ``n``-th PUT of one of the asset's data objects (not its claim)."""
    seen = 0

    def match(request: Request) -> bool:
        nonlocal seen
        if request.method != "PUT" or f"/{name}/" not in request.path:
            return False
        if request.path.endswith(f"/{CLAIM}"):
            return False
        seen += 1
        return seen == n

    return match

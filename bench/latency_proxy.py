"""A loopback HTTP proxy that adds a fixed round trip to every request, to make a local emulator latency-bound.

A real cloud API answers in tens of milliseconds; moto on loopback answers in about one. Put this proxy between
a scan and the emulator (``AWS_ENDPOINT_URL=proxy.url``) and each call costs at least ``latency_ms``, so wall time
shows how many calls the scan makes and how many it keeps in flight. It counts calls (in total and per
operation) and the requests in flight (now and at most). Client connections are kept alive (HTTP/1.1), and the
upstream connections are pooled, as a cloud endpoint behaves.

    proxy = LatencyProxy("http://127.0.0.1:5000", latency_ms=50).start()
    ... AWS_ENDPOINT_URL=proxy.url ...
    proxy.stop(); print(proxy.stats())

``answers``: a dict shared by proxies in front of the same unchanging estate. Each answer the emulator gives is
kept there under its request (method, path, operation, body, and the access key and region of its credential
scope, which name the account and region it is for; not the signature or the date), and a request
already answered is served from it after the same sleep, without reaching the emulator. A first scan through one
proxy fills it; a second scan through another then costs the emulator nothing, as a cloud's answers cost the
caller nothing but the round trip: on a small machine, moto answering under one GIL otherwise takes more CPU than
the scan itself and sets the pace.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import urllib3

# Not forwarded either way: they describe one connection, not the request (RFC 9110, 7.6.1).
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
                         "upgrade", "content-length"})
# SigV4's credential scope: access key (it names the account)/date/region/service.
_CREDENTIAL = re.compile(r"Credential=([^/]+)/[^/]+/([^/]+)/([^/]+)/")


@dataclass(frozen=True)
class Answer:
    status: int
    headers: tuple[tuple[str, str], ...]
    data: bytes


Answers = dict[tuple[str, str, str, str, bytes], Answer]


@dataclass(frozen=True)
class ProxyStats:
    calls: int
    max_in_flight: int
    operations: dict[str, int]
    replayed: int = 0   # calls served from the shared answers, not by the emulator

    def concurrency(self, latency_ms: float, wall_s: float) -> float:
        """Calls x latency / wall: how many calls were in flight on average, counting only the added latency."""
        return self.calls * latency_ms / 1000 / wall_s if wall_s > 0 else 0.0


def operation(method: str, path: str, headers: Any, body: bytes) -> str:
    """``service:Operation`` as well as the wire shows it: the JSON protocols' X-Amz-Target, the query
    protocol's Action, else the method and the path's first segment (REST protocols)."""
    found = _CREDENTIAL.search(headers.get("Authorization", ""))
    service = found.group(3) if found else "?"
    target = headers.get("X-Amz-Target")
    if target:
        return f"{service}:{target.rsplit('.', 1)[-1]}"
    if body and "x-www-form-urlencoded" in headers.get("Content-Type", ""):
        action = parse_qs(body.decode("utf-8", "replace")).get("Action")
        if action:
            return f"{service}:{action[0]}"
    return f"{service}:{method} /{path.lstrip('/').split('/', 1)[0].split('?', 1)[0]}"


class LatencyProxy:
    """Forwards every request to ``upstream`` after sleeping ``latency_ms``; counts what passes."""

    def __init__(self, upstream: str, latency_ms: float, host: str = "127.0.0.1",
                 answers: Answers | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.latency = latency_ms / 1000
        self.answers = answers
        self._replayed = 0
        self._pool = urllib3.PoolManager(maxsize=256, block=False, retries=False)
        self._lock = threading.Lock()
        self._calls = 0
        self._in_flight = 0
        self._max_in_flight = 0
        self._ops: Counter[str] = Counter()
        self._server = ThreadingHTTPServer((host, 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="latency-proxy", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LatencyProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._pool.clear()

    def reset(self) -> None:
        with self._lock:
            self._calls = self._max_in_flight = self._replayed = 0
            self._ops.clear()

    def stats(self) -> ProxyStats:
        with self._lock:
            return ProxyStats(self._calls, self._max_in_flight, dict(self._ops), self._replayed)

    def _enter(self, op: str) -> None:
        with self._lock:
            self._calls += 1
            self._ops[op] += 1
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def forward(self, method: str, path: str, headers: Any, body: bytes) -> Answer:
        op = operation(method, path, headers, body)
        self._enter(op)
        try:
            time.sleep(self.latency)
            scope = _CREDENTIAL.search(headers.get("Authorization", ""))
            key = (method, path, op, "/".join(scope.groups()[:2]) if scope else "", body)
            if self.answers is not None and (kept := self.answers.get(key)) is not None:
                with self._lock:
                    self._replayed += 1
                return kept
            out = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
            resp = self._pool.request(method, self.upstream + path, body=body or None, headers=out,
                                      redirect=False, preload_content=True, decode_content=False)
            answer = Answer(resp.status, tuple(resp.headers.items()), resp.data)
            if self.answers is not None:
                self.answers[key] = answer
            return answer
        finally:
            self._leave()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"   # keep-alive: botocore reuses its pooled connections
            # The headers and the body go out as two writes: with Nagle's algorithm the body would wait for the
            # client's delayed ACK of the headers (about 40 ms on Linux), adding to every call's round trip.
            disable_nagle_algorithm = True

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                try:
                    resp = proxy.forward(self.command, self.path, self.headers, body)
                except urllib3.exceptions.HTTPError as exc:
                    self.send_error(502, f"upstream: {exc}")
                    return
                data = resp.data
                self.send_response(resp.status)
                for k, v in resp.headers:
                    if k.lower() not in _HOP_BY_HOP and k.lower() not in ("date", "server"):   # sent already
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

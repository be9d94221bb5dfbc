"""The Google sessions keep a connection per call in flight (collectors/gcp/clients.py ``pooled``): requests'
default pool of 10 is smaller than a scope's calls in flight, and each call past it made a new connection and
dropped it with a warning."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from aispm.collectors.gcp.clients import POOL_SIZE, pooled

IN_FLIGHT = 16


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    connections = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    barrier = threading.Barrier(IN_FLIGHT, timeout=20)
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def do_GET(self) -> None:
        self.barrier.wait()   # all IN_FLIGHT calls are in flight together
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_calls_in_flight_keep_their_connections(caplog: pytest.LogCaptureFixture) -> None:
    server = _Server(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    session = pooled(requests.Session())
    try:
        with caplog.at_level(logging.WARNING, logger="urllib3"), ThreadPoolExecutor(IN_FLIGHT) as pool:
            for _ in range(2):
                assert [r.status_code for r in pool.map(lambda _: session.get(url, timeout=20), range(IN_FLIGHT))] \
                    == [200] * IN_FLIGHT
    finally:
        server.shutdown()
        server.server_close()
    assert server.connections == IN_FLIGHT   # the second round reused the first round's connections
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]


def test_pooled_keeps_retries_and_leaves_other_adapters_alone() -> None:
    session = requests.Session()
    session.mount("https://", requests.adapters.HTTPAdapter(max_retries=3))

    class Custom(requests.adapters.HTTPAdapter):
        pass

    custom = Custom()
    session.mount("http://", custom)
    pooled(session)
    https = session.get_adapter("https://")
    assert isinstance(https, requests.adapters.HTTPAdapter)
    assert (https._pool_maxsize, https.max_retries.total) == (POOL_SIZE, 3)   # type: ignore[attr-defined]
    assert session.get_adapter("http://") is custom

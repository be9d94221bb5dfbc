"""The benchmarks' latency proxy (bench/latency_proxy.py): it forwards every request unchanged and counts calls,
operations and the requests in flight; the org and scan benchmarks report these numbers."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bench.latency_proxy import LatencyProxy

AUTH = "AWS4-HMAC-SHA256 Credential=testing/20261207/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=0"
IN_FLIGHT = 3


class _Upstream(BaseHTTPRequestHandler):
    """Echoes the body; a request with ``X-Wait`` returns only once IN_FLIGHT such requests are in."""

    protocol_version = "HTTP/1.1"
    barrier = threading.Barrier(IN_FLIGHT, timeout=20)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("X-Wait"):
            self.barrier.wait()
        self.send_response(201)
        self.send_header("X-Upstream", "moto")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[LatencyProxy]:
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    upstream.daemon_threads = True
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    p = LatencyProxy(f"http://127.0.0.1:{upstream.server_address[1]}", latency_ms=1).start()
    yield p
    p.stop()
    upstream.shutdown()
    upstream.server_close()


def _post(conn: http.client.HTTPConnection, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str | None]:
    conn.request("POST", "/", body=body, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read(), resp.getheader("X-Upstream")


def test_forwards_and_counts_each_operation_on_a_kept_alive_connection(proxy: LatencyProxy) -> None:
    host, port = proxy.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=20)
    json_call = {"X-Amz-Target": "SageMaker.ListModels", "Authorization": AUTH.format("sagemaker"),
                 "Content-Type": "application/x-amz-json-1.1"}
    assert _post(conn, b'{"MaxResults": 100}', json_call) == (201, b'{"MaxResults": 100}', "moto")
    sock = conn.sock
    query_call = {"Authorization": AUTH.format("sts"), "Content-Type": "application/x-www-form-urlencoded"}
    assert _post(conn, b"Action=AssumeRole&Version=2011-06-15", query_call)[0] == 201
    assert conn.sock is sock   # the same connection served both
    conn.close()
    stats = proxy.stats()
    assert stats.calls == 2
    assert stats.operations == {"sagemaker:ListModels": 1, "sts:AssumeRole": 1}
    assert stats.max_in_flight == 1


def test_counts_the_most_requests_in_flight(proxy: LatencyProxy) -> None:
    host, port = proxy.url.removeprefix("http://").split(":")

    def call(_: int) -> int:
        conn = http.client.HTTPConnection(host, int(port), timeout=20)
        try:
            return _post(conn, b"x", {"X-Wait": "1", "X-Amz-Target": "SageMaker.DescribeModel",
                                      "Authorization": AUTH.format("sagemaker")})[0]
        finally:
            conn.close()

    with ThreadPoolExecutor(max_workers=IN_FLIGHT) as pool:
        assert list(pool.map(call, range(IN_FLIGHT))) == [201] * IN_FLIGHT
    stats = proxy.stats()
    assert (stats.calls, stats.max_in_flight) == (IN_FLIGHT, IN_FLIGHT)
    assert stats.concurrency(latency_ms=50, wall_s=0.05) == pytest.approx(IN_FLIGHT)


def test_shared_answers_serve_a_repeated_request_without_the_upstream() -> None:
    """Proxies sharing ``answers`` ask the upstream once per distinct request: the signature and date may
    differ, the answer comes back the same, and the call still counts (with its latency). Another account's
    or region's request is another request."""
    seen: list[bytes] = []

    class Counting(_Upstream):
        def do_POST(self) -> None:
            seen.append(self.headers.get("X-Amz-Target", "").encode())
            super().do_POST()

    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    upstream.daemon_threads = True
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    answers: dict[Any, Any] = {}
    first = LatencyProxy(f"http://127.0.0.1:{upstream.server_address[1]}", 0, answers=answers).start()
    second = LatencyProxy(f"http://127.0.0.1:{upstream.server_address[1]}", 1, answers=answers).start()
    try:
        call = {"X-Amz-Target": "SageMaker.DescribeModel", "Authorization": AUTH.format("sagemaker")}
        results = []
        for proxy, signature in ((first, "1"), (second, "2"), (second, "3")):
            host, port = proxy.url.removeprefix("http://").split(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=20)
            results.append(_post(conn, b'{"ModelName": "m"}', {**call, "X-Amz-Date": signature}))
            results.append(_post(conn, b'{"ModelName": "other"}', {**call, "X-Amz-Date": signature}))
            conn.close()
        # The same request for another account (access key) or region is not the same request.
        host, port = second.url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=20)
        for auth in (AUTH.replace("testing/", "ASIAOTHER/"), AUTH.replace("us-east-1", "eu-west-1")):
            _post(conn, b'{"ModelName": "m"}', {**call, "Authorization": auth.format("sagemaker")})
        conn.close()
    finally:
        first.stop()
        second.stop()
        upstream.shutdown()
        upstream.server_close()
    assert len(seen) == 4   # one per distinct body, account and region
    assert results == [(201, b'{"ModelName": "m"}', "moto"), (201, b'{"ModelName": "other"}', "moto")] * 3
    assert (first.stats().calls, first.stats().replayed) == (2, 0)
    assert (second.stats().calls, second.stats().replayed) == (6, 4)
    assert second.stats().operations == {"sagemaker:DescribeModel": 6}

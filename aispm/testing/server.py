"""The plumbing every local fake shares: a threaded HTTP(S) server on 127.0.0.1, request recording and faults.

A fake subclasses :class:`FakeServer`, names its recorded-request and fault types, and answers one request in
:meth:`FakeServer._answer`; this module does the rest once, the same way for all of them:

* it binds 127.0.0.1 only (never a routable address) on a port the kernel picks, and serves from daemon threads;
* with ``tls=True`` it serves https with a certificate from a throw-away trustme CA for 127.0.0.1 and
  localhost; :attr:`FakeServer.ca_cert_path` is that CA, for clients that keep verification on. The TLS
  handshake runs in the connection's own thread, so a client that never completes it cannot stall the others;
* ``stop()`` closes idle keep-alive connections too, so a client sees the server go away at once;
* a bug in a fake answers 500 and is kept in :attr:`FakeServer.errors` instead of hanging the client.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import socketserver
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Generic, Self, TypeVar

__all__ = ["LOOPBACK", "FakeServer", "Fault", "Handler", "Recorded"]

LOOPBACK = "127.0.0.1"
"""The only address a fake binds."""

_MAX_LINE = 65_537
_HANDSHAKE_SECONDS = 10


@dataclass
class Fault:
    """An injected failure for requests whose path starts with ``prefix``: ``remaining`` times (None = always)."""

    prefix: str
    status: int
    remaining: int | None
    method: str | None = None
    """Only requests with this method; None = every method."""
    hits: int = 0
    """Requests this fault has answered."""

    @property
    def active(self) -> bool:
        return self.remaining is None or self.remaining > 0


@dataclass(frozen=True, kw_only=True)
class Recorded:
    """What every fake records of a request it saw; each fake adds its own fields."""

    method: str
    path: str
    """Percent-decoded path, without the query string."""
    query: dict[str, str]
    """Query parameters (first value of each)."""
    headers: dict[str, str]
    """Selected headers, names lower-cased."""
    status: int
    """HTTP status the fake answered."""
    at: float
    """``time.monotonic()`` when the request arrived."""


def load_json(path: str | Path, validate: Callable[[Any], None]) -> dict[str, Any]:
    """Read a fake's estate file and check it with the fake's ``validate`` (which raises on a bad one)."""
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    validate(data)
    result: dict[str, Any] = data
    return result


RequestT = TypeVar("RequestT")
FaultT = TypeVar("FaultT", bound=Fault)


class Handler(BaseHTTPRequestHandler):
    """Hands every request to the fake; helpers to read the body and to reply or hang up."""

    server: _Server
    protocol_version = "HTTP/1.1"
    sys_version = ""
    wbufsize = -1  # headers and body leave in one write, so Nagle and delayed ACKs never stall a reply
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return self.server.fake.server_name

    def setup(self) -> None:
        super().setup()
        if self.server.fake.idle_timeout is not None:
            self.connection.settimeout(self.server.fake.idle_timeout)

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _dispatch(self) -> None:
        fake = self.server.fake
        if self.command not in fake.methods:
            self.send_error(501, f"Unsupported method ({self.command!r})")
            return
        try:
            fake._answer(self)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - a bug in the fake must not hang the client
            fake._note_error(f"{type(exc).__name__}: {exc}")
            self.close_connection = True
            with contextlib.suppress(OSError):
                status, body, content_type = fake._internal_error()
                self.reply(status, body, content_type=content_type, close=True)

    def read_body(self) -> bytes:
        """The request body (``Content-Length`` or chunked); ValueError when it is malformed."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return _read_chunked(self.rfile)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length else b""

    def reply(
        self,
        status: int,
        body: bytes,
        headers: Iterable[tuple[str, str]] = (),
        *,
        content_type: str = "application/json; charset=UTF-8",
        close: bool = False,
    ) -> None:
        """Send one complete response (no body for HEAD)."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def hang_up(self, *, reset: bool = False) -> None:
        """Close the connection without answering (FIN; with ``reset`` an RST), as a broken peer does."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            if reset:
                linger = (1).to_bytes(4, "little") + (0).to_bytes(4, "little")
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                self.connection.close()
            else:
                self.connection.shutdown(socket.SHUT_RDWR)


def _read_chunked(rfile: io.BufferedIOBase) -> bytes:
    parts: list[bytes] = []
    while True:
        line = rfile.readline(_MAX_LINE)
        if not line:
            raise ValueError("connection closed inside a chunked body")
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while rfile.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        parts.append(rfile.read(size))
        rfile.readline(_MAX_LINE)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, fake: FakeServer[Any, Any], port: int, context: ssl.SSLContext | None) -> None:
        self.fake = fake
        self.context = context
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__((LOOPBACK, port), Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up; a loopback fake needs no lookup.
        socketserver.TCPServer.server_bind(self)
        self.server_name = LOOPBACK
        self.server_port = int(self.server_address[1])

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Runs in the connection's thread: the TLS handshake, then the handler; tracked for ``stop()``."""
        sock: socket.socket = request
        if self.context is not None:
            sock.settimeout(_HANDSHAKE_SECONDS)
            try:
                sock = self.context.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError):
                self.fake._note_tls_failure()
                with contextlib.suppress(OSError):
                    request.close()
                return
            sock.settimeout(None)
        with self._open_lock:
            self._open.add(sock)
        try:
            Handler(sock, client_address, self)
        finally:
            with self._open_lock:
                self._open.discard(sock)
            if sock is not request:
                with contextlib.suppress(OSError):
                    sock.close()

    def close_open_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up mid-request are expected in fault tests; stay quiet."""


class FakeServer(Generic[RequestT, FaultT]):
    """Base of the local fakes: lifecycle, address, TLS, recorded requests and injected faults.

    Use a fake as a context manager, or call :meth:`start` and :meth:`stop`. Subclasses implement
    :meth:`_answer` and may narrow :meth:`_fault_matches`.
    """

    server_name: ClassVar[str] = "aispm-fake"
    """The ``Server`` header."""
    methods: ClassVar[frozenset[str]] = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
    """HTTP methods handed to :meth:`_answer` (of GET, HEAD, POST, PUT, PATCH, DELETE); others answer 501."""
    idle_timeout: ClassVar[float | None] = None
    """Seconds an idle keep-alive connection is kept; None = until the client or ``stop()`` closes it."""

    def __init__(self, *, tls: bool = False, port: int = 0) -> None:
        self.tls = tls
        self._port = port
        self._lock = threading.Lock()
        self._requests: list[RequestT] = []
        self.faults: list[FaultT] = []
        """Injected faults, checked in the order added."""
        self._errors: list[str] = []
        self._tls_failures = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._tls_dir: tempfile.TemporaryDirectory[str] | None = None
        self._ca_cert_path: Path | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        """Bind 127.0.0.1 on a free port (or the one given) and serve from a daemon thread."""
        if self._server is not None:
            return self
        server = _Server(self, self._port, self._tls_context() if self.tls else None)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and remove the TLS files."""
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is not None:
            server.shutdown()
            server.close_open_connections()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        if self._tls_dir is not None:
            self._tls_dir.cleanup()
            self._tls_dir = None
            self._ca_cert_path = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _tls_context(self) -> ssl.SSLContext:
        """A server context with a certificate for 127.0.0.1 and localhost from a new CA, written for clients."""
        # Imported here: a plain-http fake does not need trustme installed.
        import trustme

        ca = trustme.CA(organization_name="aispm local fake")
        leaf = ca.issue_cert(LOOPBACK, "localhost")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        leaf.configure_cert(context)
        self._tls_dir = tempfile.TemporaryDirectory(prefix=f"aispm-{type(self).__name__.lower()}-")
        self._ca_cert_path = Path(self._tls_dir.name) / "ca.pem"
        ca.cert_pem.write_to_path(self._ca_cert_path)
        return context

    # ------------------------------------------------------------------ addresses

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT`` (``https`` with TLS; no trailing slash)."""
        return f"{'https' if self.tls else 'http'}://{LOOPBACK}:{self.port}"

    @property
    def ca_cert_path(self) -> Path:
        """PEM file of the CA that signed the server certificate (a started fake with ``tls=True`` only)."""
        if self._ca_cert_path is None:
            raise RuntimeError(f"{type(self).__name__} has a CA only when built with tls=True and started")
        return self._ca_cert_path

    # ------------------------------------------------------------------ recording

    @property
    def requests(self) -> list[RequestT]:
        """Every request received, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def _record(self, entry: RequestT) -> None:
        with self._lock:
            self._requests.append(entry)

    @property
    def errors(self) -> list[str]:
        """Unexpected server-side errors (should stay empty)."""
        with self._lock:
            return list(self._errors)

    @property
    def tls_handshake_failures(self) -> int:
        """Connections whose TLS handshake failed (e.g. the client refused the certificate)."""
        with self._lock:
            return self._tls_failures

    def _note_error(self, message: str) -> None:
        with self._lock:
            self._errors.append(message)

    def _note_tls_failure(self) -> None:
        with self._lock:
            self._tls_failures += 1

    # ------------------------------------------------------------------ faults

    def add_fault(self, fault: FaultT) -> FaultT:
        """Inject ``fault`` after those already added; returns it, to watch ``hits`` and ``active``."""
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def _take_fault(self, method: str, path: str) -> FaultT | None:
        """The first active fault for this request, with one use counted; None when no fault applies."""
        with self._lock:
            for fault in self.faults:
                if not fault.active or (fault.method is not None and fault.method != method):
                    continue
                if self._fault_matches(fault, path):
                    fault.hits += 1
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    return fault
        return None

    def _fault_matches(self, fault: FaultT, path: str) -> bool:
        return path.startswith(fault.prefix)

    # ------------------------------------------------------------------ answering

    def _answer(self, request: Handler) -> None:
        """Read, answer and record one request."""
        raise NotImplementedError

    def _internal_error(self) -> tuple[int, bytes, str]:
        """Status, body and content type answered when :meth:`_answer` raised."""
        return 500, b'{"error": "internal error in the fake"}', "application/json; charset=UTF-8"

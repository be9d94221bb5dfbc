"""A local server that speaks the Azure Monitor Logs Ingestion API, for the ``sentinel`` sink's tests.

Protocol implemented (as documented for the Logs Ingestion API, api-version 2023-01-01):

* ``POST /dataCollectionRules/{immutable id}/streams/{stream}?api-version=2023-01-01`` with
  ``Authorization: Bearer <token>`` and a JSON array of records as the body, optionally
  ``Content-Encoding: gzip``. Success is ``204 No Content``; the records are stored per stream.
* A missing or wrong bearer token answers 401; an unknown rule id or stream 404; a body that is not a JSON
  array of objects 400; a body over ``max_body_bytes`` as sent (1 MB, the service's limit per call) 413.
  Errors carry the service's ``{"error": {"code", "message"}}`` body.

Faults (:meth:`FakeLogsIngestion.fail_next`) answer the next requests with a status and optional
``Retry-After``, as a throttled (429), refusing (403) or failing (5xx) service does; nothing of a faulted
request is stored. Served over TLS (``tls=True``) as the SDK's bearer-token policy requires.
"""

from __future__ import annotations

import gzip
import json
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from aispm.testing import server

__all__ = ["API_VERSION", "FakeLogsIngestion", "RecordedUpload"]

API_VERSION = "2023-01-01"
MAX_BODY_BYTES = 1_000_000

_ERRORS = {400: "InvalidRequest", 401: "InvalidToken", 403: "Forbidden", 404: "NotFound",
           413: "ContentLengthLimitExceeded", 429: "TooManyRequests", 500: "InternalServerError",
           503: "ServiceUnavailable"}


@dataclass(frozen=True, kw_only=True)
class RecordedUpload(server.Recorded):
    rule_id: str
    stream: str
    compressed: bool
    records: int
    """Records in the body (0 when it could not be read)."""
    decoded_size: int


@dataclass
class _Fault(server.Fault):
    retry_after: str | None = None
    after: int = 0
    """Uploads let through before this fault starts answering."""


@dataclass
class _Rule:
    streams: set[str]
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


class FakeLogsIngestion(server.FakeServer[RecordedUpload, _Fault]):
    """``FakeLogsIngestion(token, rules={"dcr-...": {"Custom-AispmFindings_CL"}}, tls=True)``; ``url`` is the
    data collection endpoint."""

    server_name = "aispm-fake-logs-ingestion"
    methods = frozenset({"POST"})

    def __init__(self, token: str, rules: dict[str, set[str]], *, tls: bool = True,
                 max_body_bytes: int = MAX_BODY_BYTES) -> None:
        super().__init__(tls=tls)
        self.token = token
        self.max_body_bytes = max_body_bytes
        self._rules = {rule_id: _Rule(set(streams)) for rule_id, streams in rules.items()}

    # ------------------------------------------------------------------ faults and results

    def fail_next(self, n: int, status: int, *, retry_after: str | None = None, after: int = 0) -> None:
        """Answer the next ``n`` uploads with ``status`` (and ``Retry-After`` when given), once ``after`` more
        uploads have passed."""
        self.add_fault(_Fault("/dataCollectionRules/", status, n, retry_after=retry_after, after=after))

    def rows(self, rule_id: str, stream: str) -> list[dict[str, Any]]:
        """Every record stored for the stream, in arrival order."""
        with self._lock:
            return list(self._rules[rule_id].rows.get(stream, []))

    def count_by(self, rule_id: str, stream: str, column: str) -> Counter[str]:
        """How many stored records hold each value of ``column`` (to prove exactly-once delivery)."""
        return Counter(str(r.get(column)) for r in self.rows(rule_id, stream))

    def _fault_matches(self, fault: _Fault, path: str) -> bool:
        if not path.startswith(fault.prefix):
            return False
        if fault.after > 0:   # called under the fake's lock, once per request
            fault.after -= 1
            return False
        return True

    # ------------------------------------------------------------------ answering

    def _answer(self, request: server.Handler) -> None:
        started = time.monotonic()
        parts = urlsplit(request.path)
        path = unquote(parts.path)
        query = dict(parse_qsl(parts.query))
        headers = {k.lower(): v for k, v in request.headers.items()
                   if k.lower() in ("authorization", "content-encoding", "content-type", "user-agent")}
        body = request.read_body()
        compressed = headers.get("content-encoding", "").lower() == "gzip"
        segments = path.strip("/").split("/")
        rule_id = segments[1] if len(segments) == 4 and segments[0] == "dataCollectionRules" else ""
        stream = segments[3] if rule_id and segments[2] == "streams" else ""
        records: list[dict[str, Any]] = []
        decoded = b""

        def finish(status: int, message: str = "", extra: tuple[tuple[str, str], ...] = ()) -> None:
            self._record(RecordedUpload(method=request.command, path=path, query=query, headers=headers,
                                        status=status, at=started, rule_id=rule_id, stream=stream,
                                        compressed=compressed, records=len(records), decoded_size=len(decoded)))
            if status == 204:
                request.send_response(204)
                request.send_header("Content-Length", "0")
                request.end_headers()
                request.wfile.flush()
                return
            error = {"error": {"code": _ERRORS.get(status, "Error"), "message": message or _ERRORS.get(status, "")}}
            request.reply(status, json.dumps(error).encode(), extra)

        if headers.get("authorization") != f"Bearer {self.token}":
            finish(401, "The access token is missing or invalid.")
            return
        if query.get("api-version") != API_VERSION:
            finish(400, f"api-version must be {API_VERSION}")
            return
        fault = self._take_fault(request.command, path)
        if fault is not None:
            finish(fault.status, "injected", (("Retry-After", fault.retry_after),) if fault.retry_after else ())
            return
        rule = self._rules.get(rule_id)
        if rule is None or stream not in rule.streams:
            finish(404, f"no data collection rule {rule_id!r} with stream {stream!r}")
            return
        if len(body) > self.max_body_bytes:
            finish(413, f"the request body is larger than {self.max_body_bytes} bytes")
            return
        try:
            decoded = gzip.decompress(body) if compressed else body
        except (OSError, EOFError, zlib.error):
            finish(400, "the body is not gzip")
            return
        try:
            data = json.loads(decoded)
        except ValueError:
            data = None
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            finish(400, "the body must be a JSON array of objects")
            return
        records = data
        with self._lock:
            rule.rows.setdefault(stream, []).extend(records)
        finish(204)

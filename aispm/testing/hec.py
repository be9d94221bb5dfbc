"""A local server that speaks the Splunk HTTP Event Collector (HEC) protocol.

The ``splunk`` sink of aispm posts OCSF findings to HEC. This fake lets tests
exercise that sink end to end without a Splunk instance, and lets them inject
the failures a real collector produces (busy, throttled, dropped connections,
disabled tokens, slow or lost indexer acknowledgements) so the retry,
acknowledgement and dead-letter paths can be proven.

Protocol implemented (as documented for HEC):

* ``POST /services/collector/event`` (also ``/services/collector`` and
  ``/services/collector/event/1.0``): ``Authorization: Splunk <token>``
  (``Basic`` with the token as password is accepted too); body optionally
  ``Content-Encoding: gzip``; the body is one or more JSON event objects
  stacked one after another (``{...}{...}``, whitespace or newlines allowed
  between them). Each object needs a non-blank ``event``; ``time`` (epoch
  seconds, number or numeric string), ``host``, ``source``, ``sourcetype``,
  ``index`` and ``fields`` are optional. Success is
  ``{"text":"Success","code":0}`` plus ``"ackId"`` when acknowledgement is on.
* ``POST /services/collector/ack`` with ``{"acks":[0,1]}`` answers
  ``{"acks":{"0":true,"1":false}}``. The channel comes from the
  ``X-Splunk-Request-Channel`` header or the ``channel`` query parameter.
  ackIds are numbered from 0 per channel; once an ackId has been reported
  ``true`` it is forgotten and later queries for it answer ``false``.
* ``GET /services/collector/health`` answers ``{"text":"HEC is healthy","code":17}``.

A post is all or nothing here: if any event in it is invalid, none is stored
and the reply carries ``invalid-event-number`` (zero-based).

The server, TLS, recording and fault plumbing are :mod:`aispm.testing.server`'s.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
import time
import zlib
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from aispm.testing import server

__all__ = ["HEC_CODES", "Endpoint", "FakeHec", "RecordedRequest"]

#: HEC status codes: code -> (HTTP status, text). Codes 0-16 are the table in
#: Splunk's "Troubleshoot HTTP Event Collector" page; 17 and 18 are the health
#: endpoint's answers.
HEC_CODES: Mapping[int, tuple[int, str]] = {
    0: (200, "Success"),
    1: (403, "Token disabled"),
    2: (401, "Token is required"),
    3: (401, "Invalid authorization"),
    4: (403, "Invalid token"),
    5: (400, "No data"),
    6: (400, "Invalid data format"),
    7: (400, "Incorrect index"),
    8: (500, "Internal server error"),
    9: (503, "Server is busy"),
    10: (400, "Data channel is missing"),
    11: (400, "Invalid data channel"),
    12: (400, "Event field is required"),
    13: (400, "Event field cannot be blank"),
    14: (400, "ACK is disabled"),
    15: (400, "Error in handling indexed fields"),
    16: (400, "Query string authorization is not enabled"),
    17: (200, "HEC is healthy"),
    18: (503, "HEC is unhealthy, queues are full"),
}

Endpoint = Literal["event", "ack"]

_EVENT_PATHS = frozenset(
    {"/services/collector", "/services/collector/event", "/services/collector/event/1.0"}
)
_ACK_PATHS = frozenset({"/services/collector/ack", "/services/collector/ack/1.0"})
_HEALTH_PATHS = frozenset({"/services/collector/health", "/services/collector/health/1.0"})
_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_JSON_WS = re.compile(r"[ \t\n\r]*")
_CHANNEL_HEADER = "x-splunk-request-channel"
_CONTENT_TYPE = "application/json; charset=UTF-8"


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received, whatever became of it.

    ``headers`` has lower-case names. ``body_size`` is the body as sent (so
    compressed when ``compressed``), ``decoded_size`` after gunzip.
    ``event_count`` is the number of events the request delivered (0 unless
    ``outcome == "accepted"``). ``status``/``code`` are ``None`` for a dropped
    connection. ``outcome`` is one of ``accepted``, ``rejected`` (a HEC error
    from validation or auth), ``injected`` (a fault set by a test),
    ``dropped``, ``acks``, ``health``, ``not-found``. ``received_at`` is
    ``time.monotonic()`` when the request arrived.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    client_port: int
    body_size: int
    decoded_size: int
    compressed: bool
    event_count: int
    status: int | None
    code: int | None
    outcome: str
    channel: str | None = None
    ack_id: int | None = None
    received_at: float = 0.0


@dataclass
class _Fault(server.Fault):
    """``prefix`` is the endpoint (``event`` or ``ack``) whose next ``remaining`` posts fail."""

    kind: Literal["status", "drop"] = "status"
    payload: dict[str, Any] | None = None
    headers: tuple[tuple[str, str], ...] = ()
    reset: bool = False


@dataclass
class _Ack:
    channel: str
    ack_id: int
    events: list[dict[str, Any]]
    created: float
    lost: bool
    polls: int = 0
    indexed: bool = False


@dataclass
class _Channel:
    next_id: int = 0
    acks: dict[int, _Ack] = field(default_factory=dict)


class _HecError(Exception):
    def __init__(self, code: int, event_number: int | None = None) -> None:
        super().__init__(HEC_CODES[code][1])
        self.code = code
        self.event_number = event_number

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"text": HEC_CODES[self.code][1], "code": self.code}
        if self.event_number is not None:
            body["invalid-event-number"] = self.event_number
        return body


def _hec_body(code: int) -> dict[str, Any]:
    return {"text": HEC_CODES[code][1], "code": code}


class FakeHec(server.FakeServer[RecordedRequest, _Fault]):
    """A HEC-compatible server on 127.0.0.1 for tests.

    ``FakeHec(token, ack=False, tls=False)``; use as a context manager or call
    :meth:`start`/:meth:`stop`. ``url`` is the base URL
    (``http(s)://127.0.0.1:PORT``), as the sink's ``AISPM_SPLUNK_HEC_URL``
    expects. With ``tls=True`` a throw-away CA and a server certificate for
    127.0.0.1/localhost are made at start; ``ca_file`` is the CA to trust.

    Keyword options: ``ack_after_polls``/``ack_after_seconds`` make
    acknowledgements slow (an ackId turns true only once it has been polled
    that many times *and* that many seconds have passed; until then its
    events are not in :attr:`events`); ``forget_acked`` (default True, as
    Splunk does) forgets an ackId once reported true; ``allowed_indexes``
    makes any other ``index`` fail with code 7; ``accept_json_array`` lets a
    top-level JSON array through as a batch (off: code 6);
    ``max_content_length`` answers 413 above that many body bytes;
    ``delay`` sleeps that many seconds before answering each request.
    """

    server_name = "FakeHEC/1.0"
    methods = frozenset({"GET", "POST", "PUT", "DELETE"})
    idle_timeout = 10.0

    def __init__(
        self,
        token: str,
        ack: bool = False,
        tls: bool = False,
        *,
        ack_after_polls: int = 0,
        ack_after_seconds: float = 0.0,
        forget_acked: bool = True,
        allowed_indexes: Collection[str] | None = None,
        accept_json_array: bool = False,
        max_content_length: int | None = None,
        delay: float = 0.0,
    ) -> None:
        if not token:
            raise ValueError("token must not be empty")
        if ack_after_polls < 0 or ack_after_seconds < 0 or delay < 0:
            raise ValueError("ack_after_polls, ack_after_seconds and delay must not be negative")
        super().__init__(tls=tls)
        self.token = token
        self.ack = ack
        self.ack_after_polls = ack_after_polls
        self.ack_after_seconds = ack_after_seconds
        self.forget_acked = forget_acked
        self.allowed_indexes = None if allowed_indexes is None else frozenset(allowed_indexes)
        self.accept_json_array = accept_json_array
        self.max_content_length = max_content_length

        self._delay = delay
        self._events: list[dict[str, Any]] = []
        self._lost_events: list[dict[str, Any]] = []
        self._channels: dict[str, _Channel] = {}
        self._lose_acks = 0
        self._forbidden_code: int | None = None
        self._unhealthy = False

    # ----------------------------------------------------------- addresses
    @property
    def event_url(self) -> str:
        return f"{self.url}/services/collector/event"

    @property
    def ack_url(self) -> str:
        return f"{self.url}/services/collector/ack"

    @property
    def health_url(self) -> str:
        return f"{self.url}/services/collector/health"

    @property
    def ca_file(self) -> str:
        """PEM file of the CA that signed the server certificate (a running ``FakeHec(tls=True)`` only)."""
        return str(self.ca_cert_path)

    # --------------------------------------------------------------- knobs
    @property
    def delay(self) -> float:
        """Seconds slept before answering every request."""
        with self._lock:
            return self._delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("delay must not be negative")
        with self._lock:
            self._delay = seconds

    def fail_next(
        self, n: int = 1, code: int = 9, *, endpoint: Endpoint = "event", retry_after: int | None = None
    ) -> None:
        """Answer the next ``n`` requests to ``endpoint`` with HEC ``code`` and its HTTP status."""
        status = HEC_CODES[code][0]
        self._add_faults(endpoint, n, status=status, payload=_hec_body(code), headers=_retry_after(retry_after))

    def fail_busy(self, n: int = 1, *, endpoint: Endpoint = "event", retry_after: int | None = None) -> None:
        """Answer the next ``n`` requests with 503 ``{"text":"Server is busy","code":9}``."""
        self.fail_next(n, 9, endpoint=endpoint, retry_after=retry_after)

    def throttle(self, n: int = 1, *, endpoint: Endpoint = "event", retry_after: int | None = None) -> None:
        """Answer the next ``n`` requests with 429, as a rate-limiting front end does.

        429 is not in HEC's own code table, so the body carries ``code`` 429.
        """
        payload = {"text": "Too Many Requests", "code": 429}
        self._add_faults(endpoint, n, status=429, payload=payload, headers=_retry_after(retry_after))

    def drop_connections(self, n: int = 1, *, endpoint: Endpoint = "event", reset: bool = False) -> None:
        """Close the connection without any response on the next ``n`` requests.

        The body is read first, then the socket is closed (FIN; with
        ``reset=True`` an RST). Nothing from a dropped request is stored.
        """
        self._add_faults(endpoint, n, kind="drop", reset=reset)

    def set_forbidden(self, enabled: bool = True, *, code: int = 1) -> None:
        """Permanent 403 mode: every authenticated request gets HEC ``code``
        (1 "Token disabled" by default, or 4 "Invalid token") until turned off."""
        if enabled and HEC_CODES[code][0] != 403:
            raise ValueError(f"HEC code {code} is not a 403 code")
        with self._lock:
            self._forbidden_code = code if enabled else None

    def lose_acks(self, n: int = 1) -> None:
        """The next ``n`` accepted posts get an ackId that never turns true;
        their events are discarded (see :attr:`lost_events`), as if the
        indexer lost them, so a correct client must send them again."""
        if not self.ack:
            raise RuntimeError("lose_acks needs FakeHec(ack=True)")
        with self._lock:
            self._lose_acks += n

    def set_unhealthy(self, unhealthy: bool = True) -> None:
        """Make the health endpoint answer 503 code 18."""
        with self._lock:
            self._unhealthy = unhealthy

    def clear(self) -> None:
        """Forget recorded events, requests, channels and pending faults."""
        with self._lock:
            self._events.clear()
            self._lost_events.clear()
            self._requests.clear()
            self._channels.clear()
            self.faults.clear()
            self._lose_acks = 0
            self._errors.clear()

    def _add_faults(self, endpoint: Endpoint, n: int, **fault: Any) -> None:
        """The next ``n`` posts to ``endpoint`` fail this way (after the failures already queued)."""
        if n < 0:
            raise ValueError("n must not be negative")
        if n:
            self.add_fault(_Fault(endpoint, fault.pop("status", 0), n, **fault))

    def _fault_matches(self, fault: _Fault, path: str) -> bool:
        return fault.prefix == ("event" if path in _EVENT_PATHS else "ack" if path in _ACK_PATHS else None)

    # ----------------------------------------------------------- accessors
    @property
    def events(self) -> list[dict[str, Any]]:
        """Accepted (and, with ack, indexed) event objects, in the order they were indexed."""
        with self._lock:
            self._settle(time.monotonic())
            return list(self._events)

    @property
    def lost_events(self) -> list[dict[str, Any]]:
        """Events discarded because of :meth:`lose_acks`."""
        with self._lock:
            return list(self._lost_events)

    @property
    def event_posts(self) -> list[RecordedRequest]:
        """Only the requests to the event endpoint."""
        return [r for r in self.requests if r.path in _EVENT_PATHS]

    @property
    def pending_acks(self) -> int:
        """ackIds issued and not yet reported true (lost ones included)."""
        with self._lock:
            self._settle(time.monotonic())
            return sum(1 for ch in self._channels.values() for a in ch.acks.values() if not a.indexed)

    def events_by_uid(self, path: Sequence[str] = ("event", "finding_info", "uid")) -> Counter[str | None]:
        """Count accepted events by the value at ``path``; events without it count under ``None``.

        ``assert set(fake.events_by_uid().values()) == {1}`` proves each finding arrived exactly once.
        """
        counts: Counter[str | None] = Counter()
        for event in self.events:
            node: Any = event
            for key in path:
                if isinstance(node, dict) and key in node:
                    node = node[key]
                else:
                    node = None
                    break
            counts[None if node is None else str(node)] += 1
        return counts

    # ------------------------------------------------------------ handling
    def _internal_error(self) -> tuple[int, bytes, str]:
        return 500, _encode(_hec_body(8)), _CONTENT_TYPE

    def _answer(self, h: server.Handler) -> None:
        received = time.monotonic()
        split = urlsplit(h.path)
        path = split.path.rstrip("/") or "/"
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in h.headers.items()}
        method = h.command

        with self._lock:
            delay = self._delay
        if delay:
            time.sleep(delay)

        def record(outcome: str, status: int | None, code: int | None, **extra: Any) -> None:
            entry = RecordedRequest(
                method=method,
                path=path,
                query=query,
                headers=headers,
                client_port=int(h.client_address[1]),
                body_size=extra.pop("body_size", 0),
                decoded_size=extra.pop("decoded_size", 0),
                compressed=extra.pop("compressed", False),
                event_count=extra.pop("event_count", 0),
                status=status,
                code=code,
                outcome=outcome,
                channel=extra.pop("channel", None),
                ack_id=extra.pop("ack_id", None),
                received_at=received,
            )
            self._record(entry)

        if path in _HEALTH_PATHS and method == "GET":
            with self._lock:
                unhealthy = self._unhealthy
            code = 18 if unhealthy else 17
            record("health", HEC_CODES[code][0], code)
            _reply(h, HEC_CODES[code][0], _hec_body(code))
            return

        endpoint: Endpoint | None = "event" if path in _EVENT_PATHS else "ack" if path in _ACK_PATHS else None
        if endpoint is None or method != "POST":
            known = endpoint is not None or path in _HEALTH_PATHS
            status, text = (405, "Method Not Allowed") if known else (404, "Not Found")
            try:
                h.read_body()
            except ValueError:
                h.close_connection = True
            record("not-found", status, None)
            _reply(h, status, {"text": text, "code": status})
            return

        try:
            raw = h.read_body()
        except ValueError:
            record("rejected", 400, 6)
            _reply(h, 400, _hec_body(6), close=True)
            return
        if self.max_content_length is not None and len(raw) > self.max_content_length:
            record("rejected", 413, None, body_size=len(raw))
            text = f"Content-Length of {len(raw)} too large (maximum is {self.max_content_length})"
            _reply(h, 413, {"text": text, "code": 413})
            return

        fault = self._take_fault(method, path)
        if fault is not None:
            if fault.kind == "drop":
                record("dropped", None, None, body_size=len(raw))
                h.hang_up(reset=fault.reset)
                return
            assert fault.payload is not None
            fault_code = fault.payload.get("code")
            injected = fault_code if isinstance(fault_code, int) else None
            record("injected", fault.status, injected, body_size=len(raw))
            _reply(h, fault.status, fault.payload, fault.headers)
            return

        channel = headers.get(_CHANNEL_HEADER) or query.get("channel") or None
        compressed = "gzip" in headers.get("content-encoding", "").lower()
        sizes: dict[str, Any] = {"body_size": len(raw), "compressed": compressed, "channel": channel}
        try:
            self._authorize(headers, query)
            if endpoint == "ack":
                answer = self._answer_acks(channel, raw)
                record("acks", 200, None, decoded_size=len(raw), **sizes)
                _reply(h, 200, answer)
                return
            body = self._decode(raw, headers.get("content-encoding", ""))
            sizes["decoded_size"] = len(body)
            if self.ack:
                _check_channel(channel, required=True)
            elif channel is not None:
                _check_channel(channel, required=False)
            events = self._parse_events(body)
        except _HecError as err:
            status = HEC_CODES[err.code][0]
            record("rejected", status, err.code, **sizes)
            _reply(h, status, err.payload())
            return

        reply: dict[str, Any] = _hec_body(0)
        ack_id: int | None = None
        with self._lock:
            if self.ack:
                assert channel is not None
                lane = self._channels.setdefault(channel, _Channel())
                ack_id = lane.next_id
                lane.next_id += 1
                lost = self._lose_acks > 0
                if lost:
                    self._lose_acks -= 1
                    self._lost_events.extend(events)
                lane.acks[ack_id] = _Ack(channel, ack_id, events, received, lost)
                self._settle(time.monotonic())
                reply["ackId"] = ack_id
            else:
                self._events.extend(events)
        record("accepted", 200, 0, event_count=len(events), ack_id=ack_id, **sizes)
        _reply(h, 200, reply)

    def _authorize(self, headers: Mapping[str, str], query: Mapping[str, str]) -> None:
        value = headers.get("authorization")
        if value is None:
            raise _HecError(16 if "token" in query else 2)
        scheme, _, credential = value.strip().partition(" ")
        credential = credential.strip()
        if scheme == "Basic":
            try:
                decoded = base64.b64decode(credential, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise _HecError(3) from None
            credential = decoded.partition(":")[2]
        elif scheme != "Splunk":
            raise _HecError(3)
        if not credential:
            raise _HecError(2)
        if credential != self.token:
            raise _HecError(4)
        with self._lock:
            forbidden = self._forbidden_code
        if forbidden is not None:
            raise _HecError(forbidden)

    @staticmethod
    def _decode(raw: bytes, encoding: str) -> bytes:
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            return raw
        if encoding == "gzip":
            try:
                return gzip.decompress(raw)
            except (OSError, EOFError, zlib.error):
                raise _HecError(6) from None
        raise _HecError(6)

    def _parse_events(self, body: bytes) -> list[dict[str, Any]]:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise _HecError(6, 0) from None
        items = list(self._stacked(text))
        if not items:
            raise _HecError(5)
        for number, item in enumerate(items):
            self._validate(item, number)
        return items

    def _stacked(self, text: str) -> Iterator[dict[str, Any]]:
        decoder = json.JSONDecoder()
        pos, number = 0, 0
        while True:
            match = _JSON_WS.match(text, pos)
            pos = match.end() if match else pos
            if pos >= len(text):
                return
            if text[pos] == "[" and not self.accept_json_array:
                raise _HecError(6, number)
            try:
                value, pos = decoder.raw_decode(text, pos)
            except json.JSONDecodeError:
                raise _HecError(6, number) from None
            for item in value if isinstance(value, list) else [value]:
                if not isinstance(item, dict):
                    raise _HecError(6, number)
                yield item
                number += 1

    def _validate(self, item: dict[str, Any], number: int) -> None:
        if "event" not in item:
            raise _HecError(12, number)
        event = item["event"]
        if event is None or (isinstance(event, str) and not event.strip()) or event == {} or event == []:
            raise _HecError(13, number)
        if "time" in item:
            stamp = item["time"]
            if isinstance(stamp, bool) or not isinstance(stamp, int | float | str):
                raise _HecError(15, number)
            if isinstance(stamp, str):
                try:
                    float(stamp)
                except ValueError:
                    raise _HecError(15, number) from None
        for key in ("host", "source", "sourcetype", "index"):
            if key in item and not isinstance(item[key], str):
                raise _HecError(6, number)
        if self.allowed_indexes is not None and "index" in item and item["index"] not in self.allowed_indexes:
            raise _HecError(7, number)
        if "fields" in item:
            fields = item["fields"]
            if not isinstance(fields, dict):
                raise _HecError(15, number)
            for value in fields.values():
                is_list = isinstance(value, list) and all(isinstance(v, str) for v in value)
                if not (isinstance(value, str) or is_list):
                    raise _HecError(15, number)

    def _answer_acks(self, channel: str | None, raw: bytes) -> dict[str, Any]:
        if not self.ack:
            raise _HecError(14)
        _check_channel(channel, required=True)
        assert channel is not None
        if not raw.strip():
            raise _HecError(5)
        try:
            request = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise _HecError(6) from None
        ids = request.get("acks") if isinstance(request, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise _HecError(6)
        answer: dict[str, bool] = {}
        with self._lock:
            self._settle(time.monotonic())
            lane = self._channels.get(channel)
            for ack_id in ids:
                entry = lane.acks.get(ack_id) if lane is not None else None
                if entry is None:
                    answer[str(ack_id)] = False
                elif entry.indexed:
                    answer[str(ack_id)] = True
                    if self.forget_acked and lane is not None:
                        del lane.acks[ack_id]
                else:
                    entry.polls += 1
                    answer[str(ack_id)] = False
            self._settle(time.monotonic())
        return {"acks": answer}

    def _settle(self, now: float) -> None:
        """Index every pending ack whose slowness has run out (call with the lock held)."""
        for lane in self._channels.values():
            for entry in lane.acks.values():
                if entry.indexed or entry.lost:
                    continue
                if entry.polls >= self.ack_after_polls and now - entry.created >= self.ack_after_seconds:
                    entry.indexed = True
                    self._events.extend(entry.events)


def _retry_after(seconds: int | None) -> tuple[tuple[str, str], ...]:
    return () if seconds is None else (("Retry-After", str(seconds)),)


def _check_channel(channel: str | None, *, required: bool) -> None:
    if channel is None:
        if required:
            raise _HecError(10)
        return
    if not _GUID.match(channel):
        raise _HecError(11)


def _encode(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def _reply(
    h: server.Handler,
    status: int,
    payload: Mapping[str, Any],
    headers: Sequence[tuple[str, str]] = (),
    *,
    close: bool = False,
) -> None:
    h.reply(status, _encode(payload), headers, content_type=_CONTENT_TYPE, close=close)

"""The ``splunk`` sink: OCSF findings to a Splunk HTTP Event Collector, without loss.

Events are stacked JSON objects in gzip'd posts bounded by bytes and count. The
transport is urllib3: one connection pool to the HEC host, and its ``Retry`` for
busy, throttled and dropped requests (backoff with jitter, ``Retry-After``
honoured up to our cap); auth and request errors are not retried (retrying
cannot fix them), and a 413 splits the post instead. With indexer acknowledgement
a post counts as delivered only once its ackId reports true; batches whose ack
never comes are sent again. Whatever still fails is returned as undelivered, for
the dead-letter store. The token never appears in logs or error text.

The token (``AISPM_SPLUNK_HEC_TOKEN``, or the Secrets Manager secret named by
``AISPM_SPLUNK_HEC_TOKEN_SECRET``) is loaded and checked when the sink is built:
surrounding whitespace is stripped, and a token that still holds a control
character (or anything an HTTP header cannot carry) is a configuration error
whose message never contains the token. A secret that cannot be read at build
time (the service is unreachable) is read again at delivery; if it still
cannot be, every finding is returned undelivered with a token-free reason.
No exception escapes ``deliver()``: whatever goes wrong ends in undelivered items.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import queue
import socket
import ssl
import threading
import time
import unicodedata
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from urllib3 import BaseHTTPResponse, HTTPConnectionPool, HTTPSConnectionPool, Timeout
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import InvalidHeader, MaxRetryError, SSLError
from urllib3.util import Retry

from aispm.collectors.base import loopback_host, one_line
from aispm.sinks.base import Batch, DeliveryReport, Undelivered, wire
from aispm.sinks.errors import SinkConfigError, settings_error
from aispm.sinks.formats.ocsf_detection import DETECTION_CLASS
from aispm.sinks.transports.tls import client_context

try:  # orjson serializes findings about ten times faster; the standard library is the fallback
    import orjson

    def _dumps(obj: Any) -> bytes:
        return orjson.dumps(obj, default=str)
except ImportError:  # pragma: no cover - orjson is a dependency, kept optional for constrained installs

    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":"), default=str).encode("utf-8")

EVENT_PATH = "/services/collector/event"
ACK_PATH = "/services/collector/ack"
_FATAL_400_CODES = {7, 10, 11, 14, 16}  # wrong index or channel/ack setup: every post would fail alike
_RETRIED_STATUSES = frozenset({429, *range(500, 600)})  # busy, throttled or failing: worth another try


class SplunkSettings(BaseSettings):
    """``AISPM_SPLUNK_*``; the contract's names plus tuning knobs with safe defaults."""

    model_config = SettingsConfigDict(env_prefix="AISPM_SPLUNK_", extra="ignore")

    hec_url: str = ""
    hec_token: SecretStr | None = None
    hec_token_secret: str | None = None
    index: str | None = None
    source: str = "aispm"
    sourcetype: str = "aispm:finding"
    host: str = Field(default_factory=socket.gethostname)
    ack: bool = False
    batch_bytes: int = Field(default=1_000_000, ge=1024)
    batch_count: int = Field(default=10_000, ge=1)
    max_attempts: int = Field(default=6, ge=1)
    retry_base_seconds: float = Field(default=0.5, ge=0)
    retry_cap_seconds: float = Field(default=30.0, ge=0)
    ack_timeout_seconds: float = Field(default=120.0, gt=0)
    ack_resends: int = Field(default=3, ge=0)
    timeout_seconds: float = Field(default=30.0, gt=0)


DETECTION_SOURCETYPE = "aispm:detection"


def load_settings() -> SplunkSettings:
    try:
        settings = SplunkSettings()
    except ValidationError as exc:
        raise settings_error("AISPM_SPLUNK_", exc) from None
    url = urlsplit(settings.hec_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise SinkConfigError("--sink splunk needs AISPM_SPLUNK_HEC_URL, e.g. https://splunk.example:8088")
    if url.scheme == "http" and not loopback_host(url.hostname):
        raise SinkConfigError("AISPM_SPLUNK_HEC_URL must use https: the HEC token would travel in cleartext")
    if settings.hec_token is None and not settings.hec_token_secret:
        raise SinkConfigError("--sink splunk needs AISPM_SPLUNK_HEC_TOKEN or AISPM_SPLUNK_HEC_TOKEN_SECRET")
    return settings


def checked_token(value: str, source: str) -> str:
    """The token with surrounding whitespace stripped; SinkConfigError (never naming the token) if unusable.

    ``source`` names where it came from (a variable or a secret) for the message.
    """
    token = value.strip()
    if not token:
        raise SinkConfigError(f"{source} is empty")
    for pos, char in enumerate(token, 1):
        if unicodedata.category(char) == "Cc":
            raise SinkConfigError(f"{source} contains a control character (U+{ord(char):04X} at position {pos} "
                                  f"of {len(token)}); remove it")
        if not char.isascii():
            raise SinkConfigError(f"{source} contains a non-ASCII character (at position {pos} of {len(token)}), "
                                  "which an HTTP header cannot carry")
    return token


def token_from_secret(name: str) -> str:
    """The HEC token kept in AWS Secrets Manager: the plain secret string, or its ``token`` key if JSON.

    Whitespace around it is stripped; a token with a control character is a SinkConfigError.
    """
    from aws_lambda_powertools.utilities import parameters

    value: Any = parameters.get_secret(name, max_age=300)
    text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
    source = f"the HEC token in secret {name}"
    try:
        data = json.loads(text)
    except ValueError:
        return checked_token(text, source)
    if isinstance(data, str):
        return checked_token(data, source)
    if isinstance(data, dict):
        for key in ("token", "hec_token", "HEC_TOKEN"):
            if isinstance(data.get(key), str):
                return checked_token(str(data[key]), f"the {key!r} key of secret {name}")
        raise SinkConfigError(f"secret {name} is JSON without a 'token' key")
    return checked_token(text, source)


class _Fatal(Exception):
    """Stops the whole delivery: bad token, wrong URL or index, untrusted certificate."""


class _Failed(Exception):
    """This post cannot be delivered (after retries, or a request error retrying cannot fix)."""


class _TooLarge(Exception):
    """The collector refused the post's size; split it."""


def _untrusted(error: BaseException | None) -> bool:
    """Whether ``error`` (as urllib3 wraps it) is a certificate the context does not trust."""
    while error is not None:
        if isinstance(error, ssl.SSLCertVerificationError):
            return True
        error = error.args[0] if isinstance(error, SSLError) and error.args else None
    return False


class _HecRetry(Retry):
    """urllib3's ``Retry`` with what HEC delivery needs on top.

    An untrusted certificate is not retried (no retry can fix it); ``Retry-After`` is honoured up to
    ``backoff_max`` (our cap, a float: urllib3's own ``retry_after_max`` is whole seconds) and one that
    cannot be read falls back to the backoff instead of failing the post; a 413 is never retried as is
    (the post is split); ``on_retry`` is told of every retry, so the sink can count its requests.
    """

    RETRY_AFTER_STATUS_CODES = frozenset({429, 503})

    def __init__(self, *args: Any, on_retry: Callable[[], None] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_retry = on_retry

    def new(self, **kw: Any) -> Self:
        retry = super().new(**kw)
        retry.on_retry = self.on_retry
        return retry

    def increment(self, method: str | None = None, url: str | None = None,
                  response: BaseHTTPResponse | None = None, error: Exception | None = None,
                  _pool: ConnectionPool | None = None, _stacktrace: TracebackType | None = None) -> Self:
        if _untrusted(error):
            assert error is not None
            raise error
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if self.on_retry is not None:
            self.on_retry()
        return retry

    def parse_retry_after(self, retry_after: str) -> float:
        try:
            seconds = super().parse_retry_after(retry_after)
        except InvalidHeader:
            return 0.0  # unreadable: wait the backoff instead
        return min(seconds, self.backoff_max)


def _gzip(lines: list[bytes]) -> bytes:
    return gzip.compress(b"\n".join(lines), compresslevel=1)


@dataclass
class _Post:
    findings: list[dict[str, Any]]
    lines: list[bytes]
    sends: int = 0
    body: bytes | None = None  # gzip'd once, reused by retries

    def gzipped(self) -> bytes:
        if self.body is None:
            self.body = _gzip(self.lines)
        return self.body


class _PostQueue:
    """Posts built (serialized and gzip'd) by a background thread while earlier ones are in flight.

    Sending waits on the network with the interpreter lock released, so building the next
    posts overlaps it. Behaves like the deque the delivery loops need: popleft, extendleft
    (split posts go back to the front), truth value and iteration.
    """

    def __init__(self, build: Iterator[_Post] | None = None, ready: Iterable[_Post] = ()) -> None:
        self._front: deque[_Post] = deque(ready)
        self._queue: queue.Queue[_Post | None] = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self._done = build is None
        if build is not None:
            threading.Thread(target=self._run, args=(build,), name="aispm-hec-build", daemon=True).start()

    def _run(self, build: Iterator[_Post]) -> None:
        try:
            for post in build:
                self._queue.put(post)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            self._error = exc
        finally:
            self._queue.put(None)

    def _pull(self) -> _Post | None:
        if self._done:
            return None
        post = self._queue.get()
        if post is None:
            self._done = True
            if self._error is not None:
                raise self._error
        return post

    def popleft(self) -> _Post:
        if self._front:
            return self._front.popleft()
        post = self._pull()
        if post is None:
            raise IndexError("no more posts")
        return post

    def extendleft(self, posts: Iterable[_Post]) -> None:
        self._front.extendleft(posts)

    def __bool__(self) -> bool:
        if self._front:
            return True
        post = self._pull()
        if post is None:
            return False
        self._front.append(post)
        return True

    def __iter__(self) -> Iterator[_Post]:
        while self:
            yield self.popleft()

    def drain(self) -> None:
        """Consume what the builder still produces, so its thread ends."""
        for _ in self:
            pass


class SplunkSink:
    name = "splunk"

    def __init__(self, settings: SplunkSettings | None = None) -> None:
        self.settings = settings or load_settings()
        s = self.settings
        self._url = urlsplit(s.hec_url.rstrip("/"))
        self._base_path = self._url.path.rstrip("/")
        self._token: str | None = None
        self._raw_token = s.hec_token.get_secret_value() if s.hec_token else ""  # only for redaction
        if s.hec_token is not None and (self._raw_token.strip() or not s.hec_token_secret):
            self._token = checked_token(self._raw_token, "AISPM_SPLUNK_HEC_TOKEN")
        elif s.hec_token_secret:
            try:
                self._resolve_token()
            except SinkConfigError:
                raise
            except Exception:  # noqa: BLE001 - unreachable now; read again at delivery, failing it cleanly
                self._token = None
        self._channel = str(uuid.uuid4())
        self._pool: HTTPConnectionPool | None = None
        self._accounted: set[int] = set()  # id() of the findings of this delivery already reported
        self._unsendable: list[Undelivered] = []  # findings that could not even be serialized
        self.requests = 0  # every HTTP request made, for tests and benchmarks

    # ------------------------------------------------------------ delivery
    def deliver(self, batch: Batch) -> DeliveryReport:
        """Deliver every finding or return it as undelivered; no exception escapes."""
        report = DeliveryReport(sink=self.name)
        if not batch.items:
            return report
        findings = [wire(f) for f in batch.items]   # each HEC event is the finding's OCSF object
        self._accounted = set()
        self._unsendable = []
        try:
            self._resolve_token()
        except Exception as exc:  # noqa: BLE001 - any secret lookup failure means nothing can be sent
            return self._all_undelivered(report, findings, f"cannot read the HEC token: {self._clean(exc)}")
        posts: _PostQueue | None = None
        try:
            posts = _PostQueue(self._posts(findings))
            if self.settings.ack:
                self._deliver_acked(posts, report)
            else:
                self._deliver_plain(posts, report)
        except Exception as exc:  # noqa: BLE001 - a bug or an unforeseen error must not lose findings
            reason = f"unexpected error while delivering to HEC: {type(exc).__name__}: {self._clean(exc)}"
            rest = [f for f in findings if id(f) not in self._accounted]
            self._all_undelivered(report, rest, self._clean(reason))
        finally:
            self._close()
            if posts is not None:
                with contextlib.suppress(Exception):  # the builder's error was reported above
                    posts.drain()
        report.undelivered.extend(u for u in self._unsendable if id(u.payload) not in self._accounted)
        self._accounted.update(id(u.payload) for u in self._unsendable)
        return report

    def _deliver_plain(self, posts: _PostQueue, report: DeliveryReport) -> None:
        while posts:
            post = posts.popleft()
            try:
                self._send(post)
                self._delivered(report, post)
            except _TooLarge:
                posts.extendleft(reversed(self._split(post)))
            except _Failed as exc:
                self._undelivered(report, post, str(exc))
            except _Fatal as exc:
                self._undelivered(report, post, str(exc))
                for rest in posts:
                    self._undelivered(report, rest, str(exc))
                return

    def _deliver_acked(self, posts: _PostQueue, report: DeliveryReport) -> None:
        """Send, then poll acks; batches not acknowledged in time are sent again, up to ``ack_resends`` times."""
        s = self.settings
        to_send = posts
        for round_no in range(s.ack_resends + 1):
            pending: dict[int, _Post] = {}
            while to_send:
                post = to_send.popleft()
                try:
                    ack_id = self._send(post)
                except _TooLarge:
                    to_send.extendleft(reversed(self._split(post)))
                    continue
                except _Failed as exc:
                    self._undelivered(report, post, str(exc))
                    continue
                except _Fatal as exc:
                    for rest in [post, *to_send, *pending.values()]:
                        self._undelivered(report, rest, str(exc))
                    return
                if ack_id is None:
                    self._undelivered(report, post, "the collector answered without an ackId (is indexer "
                                      "acknowledgement enabled on this token?)")
                    continue
                pending[ack_id] = post
            try:
                acked = self._await_acks(set(pending))
            except _Fatal as exc:
                for rest in pending.values():
                    self._undelivered(report, rest, str(exc))
                return
            for ack_id in acked:
                self._delivered(report, pending.pop(ack_id))
            if not pending:
                return
            if round_no == s.ack_resends:
                reason = (f"not acknowledged by the indexer within {s.ack_timeout_seconds:g}s "
                          f"after {s.ack_resends + 1} sends")
                for post in pending.values():
                    self._undelivered(report, post, reason)
                return
            to_send = _PostQueue(ready=pending.values())

    def _await_acks(self, ids: set[int]) -> set[int]:
        """Poll until every ackId is true or the timeout passes; returns those that turned true."""
        done: set[int] = set()
        if not ids:
            return done
        deadline = time.monotonic() + self.settings.ack_timeout_seconds
        interval = 0.02
        while True:
            waiting = sorted(ids - done)
            for start in range(0, len(waiting), 1000):
                try:
                    answer = self._request(ACK_PATH, json.dumps({"acks": waiting[start:start + 1000]}).encode(),
                                           gzipped=False)
                except _Failed:
                    break  # the collector is struggling; poll again later, until the deadline
                acks = answer.get("acks") if isinstance(answer, dict) else None
                if isinstance(acks, dict):
                    done.update(int(k) for k, v in acks.items() if v is True and int(k) in ids)
            if done >= ids or time.monotonic() >= deadline:
                return done
            time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
            interval = min(interval * 2, 2.0)

    # -------------------------------------------------------------- posts
    def _event_line(self, finding: dict[str, Any]) -> bytes:
        s = self.settings
        event: dict[str, Any] = {
            "time": round(int(finding.get("time") or 0) / 1000, 3),
            "host": s.host,
            "source": s.source,
            # Detection Findings (OCSF class 2004) have their own sourcetype, whatever the findings' one is.
            "sourcetype": DETECTION_SOURCETYPE if finding.get("class_uid") == DETECTION_CLASS else s.sourcetype,
        }
        if s.index:
            event["index"] = s.index
        event["event"] = finding
        return _dumps(event)

    def _posts(self, findings: list[dict[str, Any]]) -> Iterator[_Post]:
        """Findings grouped into gzip'd posts of at most ``batch_bytes`` (uncompressed) and ``batch_count`` events."""
        s = self.settings
        cur = _Post([], [])
        size = 0
        for finding in findings:
            try:
                line = self._event_line(finding)
            except Exception as exc:  # noqa: BLE001 - one finding that cannot be serialized costs only itself
                self._unsendable.append(Undelivered(
                    self.name, self._clean(f"cannot serialize the finding: {type(exc).__name__}: {exc}"), finding))
                continue
            if cur.lines and (size + len(line) + 1 > s.batch_bytes or len(cur.lines) >= s.batch_count):
                cur.gzipped()
                yield cur
                cur, size = _Post([], []), 0
            cur.findings.append(finding)
            cur.lines.append(line)
            size += len(line) + 1
        if cur.lines:
            cur.gzipped()
            yield cur

    @staticmethod
    def _split(post: _Post) -> list[_Post]:
        half = len(post.lines) // 2
        return [_Post(post.findings[:half], post.lines[:half]), _Post(post.findings[half:], post.lines[half:])]

    def _send(self, post: _Post) -> int | None:
        post.sends += 1
        try:
            answer = self._request(EVENT_PATH, post.gzipped(), gzipped=True)
        except _TooLarge:
            if len(post.lines) == 1:
                raise _Failed("a single event is larger than the collector accepts (HTTP 413)") from None
            raise
        ack_id = answer.get("ackId") if isinstance(answer, dict) else None
        return ack_id if isinstance(ack_id, int) else None

    # --------------------------------------------------------------- HTTP
    def _retry(self) -> _HecRetry:
        """The retry policy of one request: ``max_attempts`` tries in all, whatever failed.

        urllib3's schedule: the first retry goes at once, later ones wait ``retry_base_seconds``, doubling
        each time, plus up to ``retry_base_seconds`` of jitter, never more than ``retry_cap_seconds``.
        POST is retried: a re-sent post is at worst indexed twice, never lost, and with indexer
        acknowledgement only the post whose ack comes counts.
        """
        s = self.settings

        def count() -> None:
            self.requests += 1

        return _HecRetry(
            total=s.max_attempts - 1, redirect=False, raise_on_status=False,
            allowed_methods=frozenset({"POST"}), status_forcelist=_RETRIED_STATUSES,
            backoff_factor=s.retry_base_seconds / 2, backoff_jitter=s.retry_base_seconds,
            backoff_max=s.retry_cap_seconds, respect_retry_after_header=True, on_retry=count)

    def _request(self, path: str, body: bytes, *, gzipped: bool) -> Any:
        """POST with retries; returns the parsed JSON answer of a success."""
        headers = {
            "Authorization": f"Splunk {self._token}",
            "Content-Type": "application/json",
            "X-Splunk-Request-Channel": self._channel,
            "User-Agent": "aispm",
        }
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        attempts = self.settings.max_attempts
        self.requests += 1
        try:
            response = self._connection().urlopen("POST", self._base_path + path, body=body, headers=headers,
                                                  retries=self._retry(), redirect=False)
        except (MaxRetryError, SSLError) as exc:
            cause = exc.reason if isinstance(exc, MaxRetryError) else exc
            if _untrusted(cause):
                raise _Fatal(f"TLS certificate of {self._url.hostname} not trusted: {self._clean(cause)} "
                             "(set REQUESTS_CA_BUNDLE or SSL_CERT_FILE to its CA)") from None
            raise _Failed(f"connection to {self._url.hostname}:{self._port} failed: {self._clean(cause)}; "
                          f"gave up after {attempts} attempts") from None
        status, raw = response.status, response.data
        try:
            answer: Any = json.loads(raw) if raw else {}
        except ValueError:
            answer = {"text": raw[:200].decode("utf-8", "replace")}
        code = answer.get("code") if isinstance(answer, dict) else None
        text = self._clean(answer.get("text") if isinstance(answer, dict) else answer)
        if status == 200:
            return answer
        if status in (401, 403):
            raise _Fatal(f"HEC refused the token: HTTP {status} {text} (code {code})")
        if status == 404:
            raise _Fatal(f"no HEC endpoint at {self._base_path + path}: HTTP 404")
        if status == 413:
            raise _TooLarge()
        if status == 400:
            reason = f"HEC rejected the request: HTTP 400 {text} (code {code})"
            raise (_Fatal if code in _FATAL_400_CODES else _Failed)(reason)
        if status in _RETRIED_STATUSES:  # urllib3 hands the last answer back once the retries are spent
            detail = f"HTTP {status} {text}" + (f" (code {code})" if code is not None else "")
            raise _Failed(f"{detail}; gave up after {attempts} attempts")
        raise _Failed(f"unexpected HEC answer: HTTP {status} {text}")

    @property
    def _port(self) -> int:
        return self._url.port or (443 if self._url.scheme == "https" else 80)

    def _connection(self) -> HTTPConnectionPool:
        """The pool of this delivery; HTTPS verifies with ``client_context()`` (the CA read at delivery)."""
        if self._pool is None:
            host, seconds = self._url.hostname or "", self.settings.timeout_seconds
            timeout = Timeout(connect=seconds, read=seconds)
            if self._url.scheme == "https":
                self._pool = HTTPSConnectionPool(host, self._port, timeout=timeout, maxsize=1,
                                                 ssl_context=client_context())
            else:
                self._pool = HTTPConnectionPool(host, self._port, timeout=timeout, maxsize=1)
        return self._pool

    def _close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    # ------------------------------------------------------------ helpers
    def _resolve_token(self) -> None:
        """The secret's token, read once (SinkConfigError when it is unusable, naming only the secret)."""
        if self._token is None:
            self._token = token_from_secret(self.settings.hec_token_secret or "")

    def _clean(self, value: Any) -> str:
        """One line, with the token removed wherever it might have been echoed (also as a repr)."""
        text = str(value)
        for token in {self._token or "", self._raw_token, self._raw_token.strip()}:
            if len(token) < 4:
                continue
            forms = {token, repr(token)[1:-1], repr(token.encode("utf-8", "replace"))[2:-1]}
            for form in sorted(forms, key=len, reverse=True):
                text = text.replace(form, "***")
        return one_line(text, 300)

    def _delivered(self, report: DeliveryReport, post: _Post) -> None:
        report.delivered += len(post.findings)
        self._accounted.update(id(f) for f in post.findings)

    def _undelivered(self, report: DeliveryReport, post: _Post, reason: str) -> None:
        report.undelivered.extend(Undelivered(self.name, self._clean(reason), f) for f in post.findings)
        self._accounted.update(id(f) for f in post.findings)

    def _all_undelivered(self, report: DeliveryReport, findings: list[dict[str, Any]], reason: str) -> DeliveryReport:
        report.undelivered.extend(Undelivered(self.name, reason, f) for f in findings)
        self._accounted.update(id(f) for f in findings)
        return report

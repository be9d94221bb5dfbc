"""The ``sentinel`` sink: findings to Microsoft Sentinel through the Azure Monitor Logs Ingestion API.

Each finding becomes one row of the custom table (``aispm.sinks.formats.sentinel``), uploaded by
azure-monitor-ingestion's ``LogsIngestionClient`` to the data collection rule's stream: the SDK cuts the rows
into chunks of at most 1 MiB and gzips each. Credentials are ``DefaultAzureCredential``, the Azure collector's
chain (its identity needs ``Monitoring Metrics Publisher`` on the rule). Retries are azure-core's
``RetryPolicy`` (backoff with jitter, ``Retry-After`` honoured), extended to the upload's POST for 429 and 5xx
(a re-sent chunk lands at worst twice, never lost). A 413 splits the chunk in halves; a refused credential
(401/403), an unknown rule or stream (404) or an untrusted certificate stops the delivery at once, without
retry. Whatever fails is returned undelivered with the reason, for the dead-letter store; TLS verification is
always on (a custom CA from ``REQUESTS_CA_BUNDLE``/``SSL_CERT_FILE``).

Settings: ``AISPM_SENTINEL_DCE_URL`` (the data collection endpoint), ``AISPM_SENTINEL_DCR_ID`` (the rule's
immutable id), ``AISPM_SENTINEL_STREAM`` (default ``Custom-AispmFindings_CL``).
"""

from __future__ import annotations

import re
import ssl
from collections import deque
from collections.abc import Mapping, MutableMapping
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from aispm.collectors.base import one_line
from aispm.sinks.base import Batch, DeliveryReport, Undelivered, wire
from aispm.sinks.errors import SinkConfigError, settings_error
from aispm.sinks.formats.sentinel import STREAM, to_row
from aispm.sinks.transports.tls import ca_bundle

_DCR_ID = re.compile(r"^dcr-[0-9a-f]{32}$")
_STREAM = re.compile(r"^Custom-[A-Za-z0-9_]{1,250}$")
_FATAL_STATUSES = frozenset({401, 403, 404})   # every chunk would be refused alike
_NEVER_RETRIED = frozenset({400, 401, 403, 404, 413})   # retrying cannot fix these, even with a Retry-After
_ROLE_HINT = "the identity needs the Monitoring Metrics Publisher role on the data collection rule"


class SentinelSettings(BaseSettings):
    """``AISPM_SENTINEL_*``: the contract's three names plus retry and timeout knobs with safe defaults."""

    model_config = SettingsConfigDict(env_prefix="AISPM_SENTINEL_", extra="ignore", env_ignore_empty=True)

    dce_url: str = ""
    dcr_id: str = ""
    stream: str = STREAM
    max_attempts: int = Field(default=6, ge=1)
    retry_base_seconds: float = Field(default=0.8, ge=0)
    retry_cap_seconds: float = Field(default=60.0, ge=0)
    timeout_seconds: float = Field(default=60.0, gt=0)


def load_settings() -> SentinelSettings:
    """The settings from the environment; SinkConfigError naming the variable when they cannot work."""
    try:
        settings = SentinelSettings()
    except ValidationError as exc:
        raise settings_error("AISPM_SENTINEL_", exc) from None
    return checked(settings)


def checked(settings: SentinelSettings) -> SentinelSettings:
    url = urlsplit(settings.dce_url)
    if not settings.dce_url:
        raise SinkConfigError("--sink sentinel needs AISPM_SENTINEL_DCE_URL, "
                              "e.g. https://aispm-dce-abcd.westeurope-1.ingest.monitor.azure.com")
    if url.scheme != "https" or not url.hostname:
        raise SinkConfigError("AISPM_SENTINEL_DCE_URL must be an https URL (the bearer token needs TLS)")
    if not _DCR_ID.match(settings.dcr_id):
        raise SinkConfigError("--sink sentinel needs AISPM_SENTINEL_DCR_ID, the data collection rule's immutable id "
                              "(dcr- and 32 hex digits)")
    if not _STREAM.match(settings.stream):
        raise SinkConfigError("AISPM_SENTINEL_STREAM must be a custom stream name such as Custom-AispmFindings_CL")
    return settings


def _retry_policy(settings: SentinelSettings) -> Any:
    """azure-core's ``RetryPolicy`` that also retries the upload's POST on 429 and 5xx (by default it retries a
    POST only on 500, 503 and 504) and never retries a refusal that no retry can fix."""
    from azure.core.pipeline.policies import RetryPolicy

    class IngestionRetry(RetryPolicy[Any, Any]):
        def _is_method_retryable(self, settings: dict[str, Any], request: Any, response: Any = None) -> bool:
            return True

        def is_retry(self, settings: dict[str, Any], response: Any) -> bool:
            if response.http_response.status_code in _NEVER_RETRIED:
                return False
            return bool(super().is_retry(settings, response))

    retries = settings.max_attempts - 1
    return IngestionRetry(retry_total=retries, retry_connect=retries, retry_read=retries, retry_status=retries,
                          retry_backoff_factor=settings.retry_base_seconds,
                          retry_backoff_max=settings.retry_cap_seconds)


def _untrusted(error: BaseException | None) -> bool:
    """Whether ``error`` or anything it wraps is a certificate the client does not trust."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(error):
            return True
        inner = getattr(error, "inner_exception", None)
        error = inner if isinstance(inner, BaseException) else (error.__cause__ or error.__context__)
    return False


class _Stop(Exception):
    """Every later chunk would fail alike: the delivery stops; ``first`` is the failed chunk's first row."""

    def __init__(self, reason: str, first: Mapping[str, Any]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.first = first


class SentinelSink:
    name = "sentinel"

    def __init__(self, settings: SentinelSettings | None = None, credential: Any = None) -> None:
        self.settings = checked(settings) if settings is not None else load_settings()
        try:
            from azure.monitor.ingestion import LogsIngestionClient
        except ImportError:
            raise SinkConfigError("--sink sentinel needs azure-monitor-ingestion: "
                                  "pip install 'aispm[azure]'") from None
        if credential is None:
            from aispm.collectors.azure.arm import default_credential

            credential = default_credential()
        s = self.settings
        self._host = urlsplit(s.dce_url).hostname or ""
        self._client = LogsIngestionClient(
            endpoint=s.dce_url, credential=credential, retry_policy=_retry_policy(s),
            connection_verify=ca_bundle() or True, connection_timeout=s.timeout_seconds,
            read_timeout=s.timeout_seconds, logging_enable=False)

    def deliver(self, batch: Batch) -> DeliveryReport:
        """Upload every finding or return it undelivered with the reason."""
        report = DeliveryReport(sink=self.name)
        payloads = [wire(item) for item in batch.items]
        if not payloads:
            return report
        rows: list[MutableMapping[str, Any]] = [to_row(p) for p in payloads]
        failed: dict[int, str] = {}   # id(row) -> why it was not delivered
        parts: deque[list[MutableMapping[str, Any]]] = deque([rows])
        while parts:
            part = parts.popleft()
            too_large: list[list[MutableMapping[str, Any]]] = []
            try:
                self._client.upload(self.settings.dcr_id, self.settings.stream, part,
                                    on_error=partial(self._on_error, too_large=too_large, failed=failed))
            except Exception as exc:  # noqa: BLE001 - whatever stops the upload leaves the rest for the dead letters
                if isinstance(exc, _Stop):
                    start = next((i for i, r in enumerate(part) if r is exc.first), 0)
                    reason = exc.reason
                else:
                    start, reason = 0, f"unexpected error while uploading: {type(exc).__name__}: {one_line(exc, 200)}"
                rest = part[start:] + [r for chunk in too_large for r in chunk] + [r for p in parts for r in p]
                for row in rest:
                    failed.setdefault(id(row), reason)
                break
            for chunk in reversed(too_large):   # halves of a refused chunk go next, in order
                half = len(chunk) // 2
                parts.extendleft([chunk[half:], chunk[:half]])
        report.delivered = len(rows) - len(failed)
        report.undelivered = [Undelivered(self.name, failed[id(row)], payload)
                              for row, payload in zip(rows, payloads, strict=True) if id(row) in failed]
        return report

    def _on_error(self, error: Any, *, too_large: list[list[MutableMapping[str, Any]]],
                  failed: dict[int, str]) -> None:
        """The SDK's callback for a chunk that failed after its retries."""
        chunk: list[MutableMapping[str, Any]] = list(error.failed_logs)
        status = getattr(error.error, "status_code", None)
        if status == 413 and len(chunk) > 1:
            too_large.append(chunk)
            return
        reason, fatal = self._reason(error.error, status)
        if fatal:
            raise _Stop(reason, chunk[0])
        for row in chunk:
            failed[id(row)] = reason

    def _reason(self, exc: BaseException, status: int | None) -> tuple[str, bool]:
        """(one-line reason, whether every other chunk would fail alike)."""
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

        attempts = self.settings.max_attempts
        if status is not None and isinstance(exc, HttpResponseError):
            err = exc.error
            code = getattr(err, "code", None) or getattr(exc, "reason", None) or ""
            message = getattr(err, "message", None) or ""
            detail = one_line(f"HTTP {status} {code}: {message}".rstrip(": "), 240)
            if status in (401, 403):
                return f"the Logs Ingestion API refused the credential: {detail} ({_ROLE_HINT})", True
            if status in _FATAL_STATUSES:
                return (f"no data collection rule {self.settings.dcr_id} with stream {self.settings.stream} "
                        f"at {self._host}: {detail}"), True
            if status == 413:
                return f"a single record is larger than the Logs Ingestion API accepts: {detail}", False
            if status == 429 or status >= 500:
                return f"{detail}; gave up after {attempts} attempts", False
            return f"the Logs Ingestion API rejected the records: {detail}", False
        if isinstance(exc, ClientAuthenticationError):
            from aispm.collectors.azure.arm import credential_error_line

            return f"cannot get an Azure token for the Logs Ingestion API: {credential_error_line(exc, 300)}", True
        if _untrusted(exc):
            return (f"TLS certificate of {self._host} not trusted (set REQUESTS_CA_BUNDLE or SSL_CERT_FILE to its "
                    "CA)"), True
        return f"connection to {self._host} failed: {one_line(exc, 200)}; gave up after {attempts} attempts", False

"""Cloud Audit Logs of one project through the Cloud Logging API ``entries.list`` (REST, google-auth).

``POST /v2/entries:list`` with ``resourceNames: ["projects/<id>"]``, a filter on the Vertex AI service (and
Resource Manager's ``SetIamPolicy``) and the window on ``timestamp``, paged by ``nextPageToken``. The host is
``logging.googleapis.com`` unless ``AISPM_GCP_ENDPOINT`` replaces it, as for every Google call of aispm.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import Any

from aispm.collectors.audit import AuditSourceError
from aispm.collectors.base import ApiCalls, one_line
from aispm.collectors.gcp.endpoint import endpoint_override

LOGGING_HOST = "logging.googleapis.com"
PAGE_SIZE = 1000
_RETRYABLE = frozenset({429, 500, 502, 503, 504})


def logging_base() -> str:
    override = endpoint_override()
    host = override or LOGGING_HOST
    return host if "://" in host else f"https://{host}"


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def audit_filter(start: dt.datetime, end: dt.datetime) -> str:
    """The contract's filter: Vertex AI audit entries and Resource Manager SetIamPolicy, in ``[start, end)``."""
    return (f'(protoPayload.serviceName="aiplatform.googleapis.com" OR '
            f'(protoPayload.serviceName="cloudresourcemanager.googleapis.com" AND '
            f'protoPayload.methodName:"SetIamPolicy")) AND '
            f'timestamp>="{_rfc3339(start)}" AND timestamp<"{_rfc3339(end)}"')


def log_entries(session: Any, project: str, start: dt.datetime, end: dt.datetime, *, attempts: int = 5,
                sleep: Callable[[float], None] = time.sleep, calls: ApiCalls | None = None
                ) -> Iterator[dict[str, Any]]:
    """Each audit entry of ``project`` in the window. ``session`` is a google-auth ``AuthorizedSession``.
    AuditSourceError when a page cannot be read (after retrying 429 and 5xx answers)."""
    body: dict[str, Any] = {"resourceNames": [f"projects/{project}"], "filter": audit_filter(start, end),
                            "orderBy": "timestamp asc", "pageSize": PAGE_SIZE}
    url = f"{logging_base()}/v2/entries:list"
    while True:
        if calls is not None:
            calls.add("gcp", "logging.entries.list")
        page = _post(session, url, body, attempts, sleep)
        entries = page.get("entries") or []
        if not isinstance(entries, list):
            raise AuditSourceError("logging.entries.list: malformed response: 'entries' is not a list")
        yield from (e for e in entries if isinstance(e, dict))
        token = page.get("nextPageToken")
        if not token:
            return
        body["pageToken"] = token


def _post(session: Any, url: str, body: dict[str, Any], attempts: int,
          sleep: Callable[[float], None]) -> dict[str, Any]:
    for attempt in range(1, attempts + 1):
        try:
            response = session.post(url, json=body, timeout=60)
        except Exception as exc:   # transport and credential errors alike fail the source
            raise AuditSourceError(f"logging.entries.list: {one_line(exc)}") from exc
        if response.status_code in _RETRYABLE and attempt < attempts:
            sleep(min(30.0, 2.0 ** (attempt - 1)))
            continue
        if response.status_code >= 400:
            try:
                err = response.json().get("error") or {}
                reason = f"{err.get('status') or ''}: {err.get('message') or ''}".strip(": ")
            except (ValueError, AttributeError):
                reason = ""
            raise AuditSourceError(f"logging.entries.list: HTTP {response.status_code}"
                                   + (f" {one_line(reason, 300)}" if reason else ""))
        try:
            data = response.json()
        except ValueError as exc:
            raise AuditSourceError("logging.entries.list: malformed JSON in the response") from exc
        if not isinstance(data, dict):
            raise AuditSourceError("logging.entries.list: malformed response: expected a JSON object")
        return data
    raise AuditSourceError("logging.entries.list: no answer")   # pragma: no cover

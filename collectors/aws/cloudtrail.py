"""CloudTrail ``LookupEvents`` for one account x region and window (the AWS source of ``aispm detect``).

LookupEvents takes one lookup attribute per call, so each event source of the contract is read on its own
(``bedrock``, ``sagemaker``, ``aws-marketplace``). The API allows 2 requests per second per account and region:
calls are spaced by ``min_interval`` (0.6 s) so the scan stays under it. Throttling is retried here with
backoff, so the answer of every attempt is observed the same way whoever gives it (the service or a Stubber).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from aispm.collectors.audit import AuditSourceError
from aispm.collectors.aws.session import error_code
from aispm.collectors.base import one_line

EVENT_SOURCES = ("bedrock.amazonaws.com", "sagemaker.amazonaws.com", "aws-marketplace.amazonaws.com")
THROTTLED = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"})


@dataclass
class LookupPacer:
    """Spaces LookupEvents calls of one account x region and retries throttled ones with backoff."""

    min_interval: float = 0.6
    attempts: int = 6
    backoff: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    _last: float | None = field(default=None, init=False)

    def call(self, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """``fn()`` (one LookupEvents call), spaced from the previous call and retried while throttled."""
        for attempt in range(1, self.attempts + 1):
            if self._last is not None:
                wait = self.min_interval - (self.clock() - self._last)
                if wait > 0:
                    self.sleep(wait)
            self._last = self.clock()
            try:
                return fn()
            except ClientError as exc:
                if error_code(exc) not in THROTTLED or attempt == self.attempts:
                    raise
                self.sleep(self.backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")   # pragma: no cover


def lookup_events(cloudtrail: Any, start: dt.datetime, end: dt.datetime, pacer: LookupPacer | None = None,
                  sources: tuple[str, ...] = EVENT_SOURCES) -> Iterator[dict[str, Any]]:
    """Each CloudTrail record of ``sources`` between ``start`` and ``end``, parsed from its ``CloudTrailEvent``
    JSON string (the API's EndTime is inclusive: the caller keeps the half-open window).
    AuditSourceError when a page cannot be read."""
    pacer = pacer or LookupPacer()
    for source in sources:
        kwargs: dict[str, Any] = {
            "LookupAttributes": [{"AttributeKey": "EventSource", "AttributeValue": source}],
            "StartTime": start, "EndTime": end, "MaxResults": 50,
        }
        while True:
            try:
                page = pacer.call(lambda kw=kwargs: cloudtrail.lookup_events(**kw))  # type: ignore[misc]
            except (ClientError, BotoCoreError) as exc:
                raise AuditSourceError(f"cloudtrail:LookupEvents ({source}): {one_line(exc)}") from exc
            for item in page.get("Events", []):
                try:
                    record = json.loads(item["CloudTrailEvent"])
                except (KeyError, TypeError, ValueError) as exc:
                    raise AuditSourceError(f"cloudtrail:LookupEvents: a record without a readable "
                                           f"CloudTrailEvent ({item.get('EventId', '?')})") from exc
                if not isinstance(record, dict):
                    continue
                record.setdefault("eventID", item.get("EventId"))
                yield record
            token = page.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token

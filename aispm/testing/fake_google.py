"""A local fake of the Google Cloud REST APIs that the GCP collector calls.

Serves Vertex AI v1 (thirteen resource collections per location, single gets, the
locations mixin), Resource Manager v3 (``projects:search``, ``projects.list``,
``projects.get``, ``projects.getIamPolicy``) and the Cloud Storage JSON API's
``buckets.getIamPolicy`` (``GET /storage/v1/b/{bucket}/iam``) from an *estate*: a JSON document
holding the exact camelCase JSON that the real APIs return.  The real
``google-cloud-aiplatform`` and ``google-cloud-resource-manager`` clients talk to
it unchanged with ``transport="rest"`` and
``client_options={"api_endpoint": fake.url}``.

Wire behaviour that matches the real services:

* Vertex resource names carry the project *number*; paths may use the project id
  or the number.  Resource Manager accepts either too and answers
  ``name: projects/<number>`` with ``projectId: <id>``.
* Lists page with ``pageSize``/``pageToken``/``nextPageToken``; an empty
  collection answers ``{}``; the last page has no ``nextPageToken``.
* ``$alt=json;enum-encoding=int`` (what the GAPIC REST transport sends) turns
  enum values into their numbers; without it enums are their names.
* Errors use the Google error body ``{"error": {"code", "message", "status",
  "details"}}`` with a ``google.rpc.ErrorInfo`` detail where Google sends one.
* ``getIamPolicy`` honours ``options.requestedPolicyVersion``: below 3, conditional
  bindings come back without their condition and with ``_withcond_<hash>``
  appended to the role, as IAM does.
* A bucket's IAM policy comes back as ``storage#policy`` with
  ``resourceId: projects/_/buckets/<name>``; a bucket the estate does not hold
  answers 404 with the JSON API's ``errors[]`` (reason ``notFound``).

Estate format (``estates/gcp_demo.json``)::

    {"format": "aispm.fake-google.estate/v1", "description": "...",
     "projects": [{
        "project":   <Resource Manager v3 Project JSON; name "projects/<number>">,
        "iamPolicy": <google.iam.v1 Policy JSON as stored (version 3 if it has conditions)>,
        "locations": [<google.cloud.location.Location JSON>, ...],
        "vertex": {"<locationId>": {"<collection>": [<Vertex AI v1 resource JSON>, ...]}}
     }],
     "buckets": [{"name": <bucket>, "projectNumber": <number>,
                  "iamPolicy": {"bindings": [{"role", "members"}, ...]}}]}

Resources are stored exactly as the API returns them (names with the project
number, enums by name, int64 as strings, proto3 defaults omitted) and served in
file order.  ``validate_estate`` checks that every name matches its project
number, location and collection, and that enum values are valid names.

Deliberate simplifications: ``orderBy`` and ``readMask`` are ignored (estate order
is kept, whole resources are returned); the Vertex ``filter`` supports the
documented comparisons on ``display_name``, ``state``, ``create_time``,
``update_time`` and ``labels.<key>`` joined by ``AND``/``OR``/``NOT`` and
parentheses; any location id is accepted and a location with no data lists
empty; the page size is ``min(pageSize, FakeGoogle.page_size)`` so paging is
exercised even when callers ask for large pages.

The server, recording and fault plumbing are :mod:`aispm.testing.server`'s.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from aispm.testing import server

__all__ = [
    "DEMO_ESTATE_PATH",
    "ENUM_FIELDS",
    "ENUM_VALUES",
    "VERTEX_COLLECTIONS",
    "EstateError",
    "FakeGoogle",
    "Fault",
    "RecordedRequest",
    "demo_estate",
    "encode_enums",
    "load_estate",
    "validate_estate",
]

JSON = Any
"""A decoded JSON value."""

# The estates belong to the demo (aispm/demo/estates); found by path so that the fakes never import the demo.
DEMO_ESTATE_PATH = Path(__file__).resolve().parents[1] / "demo" / "estates" / "gcp_demo.json"

VERTEX_COLLECTIONS: tuple[str, ...] = (
    "endpoints",
    "models",
    "customJobs",
    "datasets",
    "indexEndpoints",
    "notebookRuntimeTemplates",
    "notebookRuntimes",
    "modelDeploymentMonitoringJobs",
    "reasoningEngines",
    "tuningJobs",
    "ragCorpora",
    "featureOnlineStores",
    "pipelineJobs",
)
"""Vertex AI v1 collections under ``projects/*/locations/*`` that the estate may hold.

The key of each list response is the collection name itself
(``ListEndpointsResponse.endpoints``, ``ListCustomJobsResponse.customJobs``...).
"""

# Enum names and numbers of the google.cloud.aiplatform.v1, resourcemanager.v3
# and iam.v1 protos, for the enum fields an estate may hold.
_JOB_STATE = {
    "JOB_STATE_UNSPECIFIED": 0,
    "JOB_STATE_QUEUED": 1,
    "JOB_STATE_PENDING": 2,
    "JOB_STATE_RUNNING": 3,
    "JOB_STATE_SUCCEEDED": 4,
    "JOB_STATE_FAILED": 5,
    "JOB_STATE_CANCELLING": 6,
    "JOB_STATE_CANCELLED": 7,
    "JOB_STATE_PAUSED": 8,
    "JOB_STATE_EXPIRED": 9,
    "JOB_STATE_UPDATING": 10,
    "JOB_STATE_PARTIALLY_SUCCEEDED": 11,
}
ENUM_VALUES: dict[str, dict[str, int]] = {
    "google.cloud.aiplatform.v1.JobState": _JOB_STATE,
    "google.cloud.aiplatform.v1.AcceleratorType": {
        "ACCELERATOR_TYPE_UNSPECIFIED": 0,
        "NVIDIA_TESLA_K80": 1,
        "NVIDIA_TESLA_P100": 2,
        "NVIDIA_TESLA_V100": 3,
        "NVIDIA_TESLA_P4": 4,
        "NVIDIA_TESLA_T4": 5,
        "TPU_V2": 6,
        "TPU_V3": 7,
        "NVIDIA_TESLA_A100": 8,
        "NVIDIA_A100_80GB": 9,
        "TPU_V4_POD": 10,
        "NVIDIA_L4": 11,
        "TPU_V5_LITEPOD": 12,
        "NVIDIA_H100_80GB": 13,
        "NVIDIA_H100_MEGA_80GB": 14,
        "NVIDIA_H200_141GB": 15,
        "NVIDIA_B200": 16,
        "NVIDIA_GB200": 17,
        "NVIDIA_RTX_PRO_6000": 18,
    },
    "google.cloud.aiplatform.v1.ModelDeploymentMonitoringJob.MonitoringScheduleState": {
        "MONITORING_SCHEDULE_STATE_UNSPECIFIED": 0,
        "PENDING": 1,
        "OFFLINE": 2,
        "RUNNING": 3,
    },
    "google.cloud.aiplatform.v1.NotebookRuntime.HealthState": {
        "HEALTH_STATE_UNSPECIFIED": 0,
        "HEALTHY": 1,
        "UNHEALTHY": 2,
    },
    "google.cloud.aiplatform.v1.NotebookRuntime.RuntimeState": {
        "RUNTIME_STATE_UNSPECIFIED": 0,
        "RUNNING": 1,
        "BEING_STARTED": 2,
        "BEING_STOPPED": 3,
        "STOPPED": 4,
        "BEING_UPGRADED": 5,
        "ERROR": 100,
        "INVALID": 101,
    },
    "google.cloud.aiplatform.v1.NotebookRuntimeType": {
        "NOTEBOOK_RUNTIME_TYPE_UNSPECIFIED": 0,
        "USER_DEFINED": 1,
        "ONE_CLICK": 2,
    },
    "google.cloud.aiplatform.v1.Model.DeploymentResourcesType": {
        "DEPLOYMENT_RESOURCES_TYPE_UNSPECIFIED": 0,
        "DEDICATED_RESOURCES": 1,
        "AUTOMATIC_RESOURCES": 2,
        "SHARED_RESOURCES": 3,
    },
    "google.cloud.aiplatform.v1.Model.ExportFormat.ExportableContent": {
        "EXPORTABLE_CONTENT_UNSPECIFIED": 0,
        "ARTIFACT": 1,
        "IMAGE": 2,
    },
    "google.cloud.aiplatform.v1.ModelSourceInfo.ModelSourceType": {
        "MODEL_SOURCE_TYPE_UNSPECIFIED": 0,
        "AUTOML": 1,
        "CUSTOM": 2,
        "BQML": 3,
        "MODEL_GARDEN": 4,
        "GENIE": 5,
        "CUSTOM_TEXT_EMBEDDING": 6,
        "MARKETPLACE": 7,
    },
    "google.cloud.aiplatform.v1.ReasoningEngineSpec.IdentityType": {
        "IDENTITY_TYPE_UNSPECIFIED": 0,
        "SERVICE_ACCOUNT": 2,
        "AGENT_IDENTITY": 3,
    },
    "google.cloud.aiplatform.v1.SupervisedHyperParameters.AdapterSize": {
        "ADAPTER_SIZE_UNSPECIFIED": 0,
        "ADAPTER_SIZE_ONE": 1,
        "ADAPTER_SIZE_TWO": 6,
        "ADAPTER_SIZE_FOUR": 2,
        "ADAPTER_SIZE_EIGHT": 3,
        "ADAPTER_SIZE_SIXTEEN": 4,
        "ADAPTER_SIZE_THIRTY_TWO": 5,
    },
    "google.cloud.aiplatform.v1.CorpusStatus.State": {
        "UNKNOWN": 0,
        "INITIALIZED": 1,
        "ACTIVE": 2,
        "ERROR": 3,
    },
    "google.cloud.aiplatform.v1.FeatureOnlineStore.State": {
        "STATE_UNSPECIFIED": 0,
        "STABLE": 1,
        "UPDATING": 2,
    },
    "google.cloud.aiplatform.v1.PipelineState": {
        "PIPELINE_STATE_UNSPECIFIED": 0,
        "PIPELINE_STATE_QUEUED": 1,
        "PIPELINE_STATE_PENDING": 2,
        "PIPELINE_STATE_RUNNING": 3,
        "PIPELINE_STATE_SUCCEEDED": 4,
        "PIPELINE_STATE_FAILED": 5,
        "PIPELINE_STATE_CANCELLING": 6,
        "PIPELINE_STATE_CANCELLED": 7,
        "PIPELINE_STATE_PAUSED": 8,
    },
    "google.cloud.resourcemanager.v3.Project.State": {
        "STATE_UNSPECIFIED": 0,
        "ACTIVE": 1,
        "DELETE_REQUESTED": 2,
    },
    "google.iam.v1.AuditLogConfig.LogType": {
        "LOG_TYPE_UNSPECIFIED": 0,
        "ADMIN_READ": 1,
        "DATA_WRITE": 2,
        "DATA_READ": 3,
    },
}
"""Enum type full name -> {value name: number}."""

_ACCEL = "google.cloud.aiplatform.v1.AcceleratorType"
ENUM_FIELDS: dict[str, dict[str, str]] = {
    "endpoints": {
        "deployedModels[].dedicatedResources.machineSpec.acceleratorType": _ACCEL,
    },
    "models": {
        "supportedDeploymentResourcesTypes[]": "google.cloud.aiplatform.v1.Model.DeploymentResourcesType",
        "supportedExportFormats[].exportableContents[]": (
            "google.cloud.aiplatform.v1.Model.ExportFormat.ExportableContent"
        ),
        "modelSourceInfo.sourceType": "google.cloud.aiplatform.v1.ModelSourceInfo.ModelSourceType",
    },
    "customJobs": {
        "state": "google.cloud.aiplatform.v1.JobState",
        "jobSpec.workerPoolSpecs[].machineSpec.acceleratorType": _ACCEL,
    },
    "datasets": {},
    "indexEndpoints": {},
    "notebookRuntimeTemplates": {
        "notebookRuntimeType": "google.cloud.aiplatform.v1.NotebookRuntimeType",
        "machineSpec.acceleratorType": _ACCEL,
    },
    "notebookRuntimes": {
        "healthState": "google.cloud.aiplatform.v1.NotebookRuntime.HealthState",
        "runtimeState": "google.cloud.aiplatform.v1.NotebookRuntime.RuntimeState",
        "notebookRuntimeType": "google.cloud.aiplatform.v1.NotebookRuntimeType",
        "machineSpec.acceleratorType": _ACCEL,
    },
    "modelDeploymentMonitoringJobs": {
        "state": "google.cloud.aiplatform.v1.JobState",
        "scheduleState": ("google.cloud.aiplatform.v1.ModelDeploymentMonitoringJob.MonitoringScheduleState"),
    },
    "reasoningEngines": {"spec.identityType": "google.cloud.aiplatform.v1.ReasoningEngineSpec.IdentityType"},
    "tuningJobs": {
        "state": "google.cloud.aiplatform.v1.JobState",
        "supervisedTuningSpec.hyperParameters.adapterSize": (
            "google.cloud.aiplatform.v1.SupervisedHyperParameters.AdapterSize"
        ),
    },
    "ragCorpora": {"corpusStatus.state": "google.cloud.aiplatform.v1.CorpusStatus.State"},
    "featureOnlineStores": {"state": "google.cloud.aiplatform.v1.FeatureOnlineStore.State"},
    "pipelineJobs": {"state": "google.cloud.aiplatform.v1.PipelineState"},
    "project": {"state": "google.cloud.resourcemanager.v3.Project.State"},
    "iamPolicy": {"auditConfigs[].auditLogConfigs[].logType": "google.iam.v1.AuditLogConfig.LogType"},
    "location": {},
}
"""Resource kind -> {field path: enum type}.  ``x[]`` marks a repeated field."""

_STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_LOGGED_HEADERS = (
    "authorization",
    "content-type",
    "user-agent",
    "x-goog-api-client",
    "x-goog-request-params",
    "x-goog-user-project",
)

_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_VERTEX_SERVICE = ("aiplatform.googleapis.com", "Vertex AI API")
DENIED_CALLER = "aispm-demo-reader@aispm-demo.iam.gserviceaccount.com"   # named in Cloud Storage's 403 message
_RM_SERVICE = ("cloudresourcemanager.googleapis.com", "Cloud Resource Manager API")
_STORAGE_SERVICE = ("storage.googleapis.com", "Cloud Storage JSON API")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")


class EstateError(ValueError):
    """The estate document is malformed."""


class ApiError(Exception):
    """An error answered with a Google error body."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        details: Sequence[Mapping[str, JSON]] = (),
        errors: Sequence[Mapping[str, JSON]] = (),
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = list(details)
        self.errors = list(errors)   # the Cloud Storage JSON API's errors[] (domain, reason, message)

    def body(self) -> dict[str, JSON]:
        error: dict[str, JSON] = {
            "code": self.code,
            "message": self.message,
            "status": _STATUS_NAMES.get(self.code, "UNKNOWN"),
        }
        if self.details:
            error["details"] = self.details
        if self.errors:
            error["errors"] = self.errors
        return {"error": error}


@dataclass(frozen=True, kw_only=True)
class RecordedRequest(server.Recorded):
    """One request as the fake saw it (headers: authorization, content-type, user-agent, x-goog-*)."""

    body: JSON
    """Decoded JSON body, or None."""


@dataclass
class Fault(server.Fault):
    """An injected failure for every request whose path starts with ``prefix`` (project id or number)."""

    reason: str | None = None
    message: str | None = None


# --------------------------------------------------------------------------- estate


def load_estate(path: str | Path) -> dict[str, JSON]:
    """Read and validate an estate JSON file."""
    return server.load_json(path, validate_estate)


def demo_estate() -> dict[str, JSON]:
    """A fresh copy of the shipped demo estate."""
    return load_estate(DEMO_ESTATE_PATH)


_PROJECT_NAME = re.compile(r"^projects/(\d+)$")
_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")


def validate_estate(estate: Mapping[str, JSON]) -> None:
    """Check structure, name consistency and enum values; raise EstateError."""
    projects = estate.get("projects")
    if not isinstance(projects, list) or not projects:
        raise EstateError("estate needs a non-empty 'projects' list")
    ids: set[str] = set()
    numbers: set[str] = set()
    names: set[str] = set()
    for entry in projects:
        if not isinstance(entry, dict):
            raise EstateError("each project entry must be an object")
        project = entry.get("project")
        if not isinstance(project, dict):
            raise EstateError("project entry lacks a 'project' object")
        match = _PROJECT_NAME.match(str(project.get("name", "")))
        if not match:
            raise EstateError(f"project name must be projects/<number>: {project.get('name')!r}")
        number = match.group(1)
        project_id = str(project.get("projectId", ""))
        if not _PROJECT_ID.match(project_id):
            raise EstateError(f"invalid projectId {project_id!r}")
        if project_id in ids or number in numbers:
            raise EstateError(f"duplicate project {project_id} / {number}")
        ids.add(project_id)
        numbers.add(number)
        _check_enums(project, "project", project_id)
        policy = entry.get("iamPolicy", {})
        if not isinstance(policy, dict):
            raise EstateError(f"{project_id}: iamPolicy must be an object")
        _check_enums(policy, "iamPolicy", project_id)
        for binding in policy.get("bindings", []):
            if not isinstance(binding.get("role"), str) or not isinstance(binding.get("members"), list):
                raise EstateError(f"{project_id}: each binding needs a role and a members list")
        locations = entry.get("locations", [])
        location_ids: set[str] = set()
        for location in locations:
            location_id = location.get("locationId")
            if location.get("name") != f"projects/{number}/locations/{location_id}":
                raise EstateError(
                    f"{project_id}: location name {location.get('name')!r} must be "
                    f"projects/{number}/locations/{location_id}"
                )
            location_ids.add(str(location_id))
        vertex = entry.get("vertex", {})
        if not isinstance(vertex, dict):
            raise EstateError(f"{project_id}: 'vertex' must map location ids to collections")
        for location_id, collections in vertex.items():
            if location_id not in location_ids:
                raise EstateError(f"{project_id}: vertex location {location_id!r} is not in 'locations'")
            if not isinstance(collections, dict):
                raise EstateError(f"{project_id}/{location_id}: collections must be an object")
            for collection, resources in collections.items():
                if not re.fullmatch(r"[a-z][A-Za-z]*", collection):
                    raise EstateError(f"bad collection name {collection!r}")
                if not isinstance(resources, list):
                    raise EstateError(f"{project_id}/{location_id}/{collection} must be a list")
                prefix = f"projects/{number}/locations/{location_id}/{collection}/"
                for resource in resources:
                    name = resource.get("name") if isinstance(resource, dict) else None
                    if not isinstance(name, str) or not name.startswith(prefix) or "/" in name[len(prefix) :]:
                        raise EstateError(f"resource name {name!r} must be {prefix}<id>")
                    if name in names:
                        raise EstateError(f"duplicate resource name {name}")
                    names.add(name)
                    _check_enums(resource, collection, name)
    _validate_buckets(estate.get("buckets", []), numbers)


def _validate_buckets(buckets: JSON, numbers: set[str]) -> None:
    if not isinstance(buckets, list):
        raise EstateError("'buckets' must be a list")
    seen: set[str] = set()
    for bucket in buckets:
        name = bucket.get("name") if isinstance(bucket, dict) else None
        if not isinstance(name, str) or not _BUCKET_NAME.match(name) or name in seen:
            raise EstateError(f"bucket needs a valid, unique name: {name!r}")
        seen.add(name)
        if str(bucket.get("projectNumber", "")) not in numbers:
            raise EstateError(f"bucket {name}: projectNumber must be one of the estate's projects")
        for binding in bucket.get("iamPolicy", {}).get("bindings", []):
            if not isinstance(binding.get("role"), str) or not isinstance(binding.get("members"), list):
                raise EstateError(f"bucket {name}: each binding needs a role and a members list")


def _enum_slots(obj: JSON, path: str) -> Iterator[tuple[JSON, str | int]]:
    """Yield (container, key) for every value found at ``path`` inside ``obj``."""
    containers: list[JSON] = [obj]
    segments = path.split(".")
    for index, segment in enumerate(segments):
        repeated = segment.endswith("[]")
        key = segment[:-2] if repeated else segment
        last = index == len(segments) - 1
        next_containers: list[JSON] = []
        for container in containers:
            if not isinstance(container, dict) or key not in container:
                continue
            value = container[key]
            if last:
                if repeated and isinstance(value, list):
                    yield from ((value, i) for i in range(len(value)))
                elif not repeated:
                    yield container, key
            elif repeated and isinstance(value, list):
                next_containers.extend(value)
            elif not repeated:
                next_containers.append(value)
        containers = next_containers


def _check_enums(resource: JSON, kind: str, where: str) -> None:
    for path, enum_type in ENUM_FIELDS.get(kind, {}).items():
        values = ENUM_VALUES[enum_type]
        for container, key in _enum_slots(resource, path):
            value = container[key]
            if value not in values:
                raise EstateError(f"{where}: {path} = {value!r} is not a {enum_type} name")


def encode_enums(resource: JSON, kind: str) -> JSON:
    """Copy of ``resource`` with enum names of ``kind`` replaced by their numbers."""
    result = copy.deepcopy(resource)
    for path, enum_type in ENUM_FIELDS.get(kind, {}).items():
        values = ENUM_VALUES[enum_type]
        for container, key in _enum_slots(result, path):
            value = container[key]
            if isinstance(value, str) and value in values:
                container[key] = values[value]
    return result


# --------------------------------------------------------------------------- filters


_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<op><=|>=|!=|=|<|>|:)|(?P<paren>[()])|(?P<word>[^\s()<>=!:"]+))'
)

_FILTER_FIELDS = {
    "display_name": "displayName",
    "displayName": "displayName",
    "state": "state",
    "create_time": "createTime",
    "createTime": "createTime",
    "update_time": "updateTime",
    "updateTime": "updateTime",
}
_TIME_FIELDS = {"createTime", "updateTime"}

Predicate = Callable[[Mapping[str, JSON]], bool]


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ApiError(400, f"Invalid filter near {text[position:]!r}.")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append((kind, value))
        position = match.end()
    return tokens


def _parse_time(value: str) -> datetime:
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # datetime.fromisoformat takes at most microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ApiError(400, f"Invalid RFC 3339 timestamp {value!r} in filter.") from exc
    if parsed.tzinfo is None:
        raise ApiError(400, f"Timestamp {value!r} in filter needs a time zone.")
    return parsed


_LOG_TOKEN = re.compile(r'\s*(?:(?P<paren>[()])|(?P<word>AND|OR|NOT)\b|'
                        r'(?P<cmp>[A-Za-z_.@]+)\s*(?P<op>>=|<=|!=|=|<|>|:)\s*"(?P<value>(?:[^"\\]|\\.)*)")')


def _log_field(entry: Mapping[str, JSON], path: str) -> JSON:
    value: JSON = entry
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _log_term(path: str, op: str, value: str) -> Callable[[Mapping[str, JSON]], bool]:
    if path == "timestamp":
        bound = _parse_time(value)
        compare = _ORDERING[op]
        return lambda e: compare(_parse_time(str(e.get("timestamp", ""))), bound)
    if op == ":":
        return lambda e: value in str(_log_field(e, path) or "")
    if op in ("=", "!="):
        return lambda e: (str(_log_field(e, path)) == value) == (op == "=")
    raise ApiError(400, f"Operator {op!r} is not supported for {path} by this fake.")


def parse_log_filter(text: str) -> Callable[[Mapping[str, JSON]], bool]:
    """The Logging query language subset aispm uses: ``field="v"``, ``field:"v"``, ``timestamp>="..."`` and
    ``<``, joined by AND, OR, NOT and parentheses (AND binds tighter than OR; juxtaposition is AND)."""
    tokens: list[tuple[str, Any]] = []
    position, text = 0, text.strip()
    while position < len(text):
        match = _LOG_TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ApiError(400, f"Invalid filter near {text[position:]!r}.")
        if match.group("paren"):
            tokens.append(("paren", match.group("paren")))
        elif match.group("word"):
            tokens.append(("word", match.group("word")))
        else:
            tokens.append(("term", _log_term(match.group("cmp"), match.group("op"),
                                             re.sub(r"\\(.)", r"\1", match.group("value")))))
        position = match.end()
    at = 0

    def unary() -> Callable[[Mapping[str, JSON]], bool]:
        nonlocal at
        kind, value = tokens[at]
        at += 1
        if kind == "term":
            return value  # type: ignore[no-any-return]
        if kind == "word" and value == "NOT":
            inner = unary()
            return lambda e: not inner(e)
        if kind == "paren" and value == "(":
            inner = disjunction()
            if at >= len(tokens) or tokens[at] != ("paren", ")"):
                raise ApiError(400, "Invalid filter: unbalanced parentheses.")
            at += 1
            return inner
        raise ApiError(400, f"Invalid filter near {value!r}.")

    def conjunction() -> Callable[[Mapping[str, JSON]], bool]:
        nonlocal at
        parts = [unary()]
        while at < len(tokens) and tokens[at] != ("paren", ")") and tokens[at] != ("word", "OR"):
            if tokens[at] == ("word", "AND"):
                at += 1
            parts.append(unary())
        return lambda e: all(p(e) for p in parts)

    def disjunction() -> Callable[[Mapping[str, JSON]], bool]:
        nonlocal at
        parts = [conjunction()]
        while at < len(tokens) and tokens[at] == ("word", "OR"):
            at += 1
            parts.append(conjunction())
        return lambda e: any(p(e) for p in parts)

    if not tokens:
        return lambda e: True
    predicate = disjunction()
    if at != len(tokens):
        raise ApiError(400, "Invalid filter: unbalanced parentheses.")
    return predicate


def _wildcard(pattern: str, value: str) -> bool:
    regex = "^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$"
    return re.match(regex, value) is not None


_ORDERING: dict[str, Callable[[datetime, datetime], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _comparison(name: str, op: str, value: str) -> Predicate:
    if name.startswith("labels."):
        label = name[len("labels.") :]
        if op == ":" and value == "*":
            return lambda r: label in r.get("labels", {})
        if op in ("=", ":"):
            return lambda r: r.get("labels", {}).get(label) == value
        if op == "!=":
            return lambda r: r.get("labels", {}).get(label) != value
        raise ApiError(400, f"Operator {op!r} is not supported for labels.")
    field_name = _FILTER_FIELDS.get(name)
    if field_name is None:
        raise ApiError(400, f"Unsupported field {name!r} in filter.")
    if field_name in _TIME_FIELDS:
        if op not in _ORDERING:
            raise ApiError(400, f"Operator {op!r} is not supported for {name}.")
        bound = _parse_time(value)
        compare = _ORDERING[op]

        def time_predicate(resource: Mapping[str, JSON]) -> bool:
            stamp = resource.get(field_name)
            return isinstance(stamp, str) and compare(_parse_time(stamp), bound)

        return time_predicate
    if op == "=":
        return lambda r: r.get(field_name) == value
    if op == "!=":
        return lambda r: r.get(field_name) != value
    if op == ":" and field_name == "displayName":
        return lambda r: _wildcard(value, str(r.get(field_name, "")))
    raise ApiError(400, f"Operator {op!r} is not supported for {name}.")


class _FilterParser:
    """AIP-160 subset.  As in AIP-160, OR binds tighter than AND."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.position = 0

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise ApiError(400, "Filter ends unexpectedly.")
        self.position += 1
        return token

    def parse(self) -> Predicate:
        predicate = self._and()
        if self._peek() is not None:
            raise ApiError(400, f"Unexpected {self._peek()!r} in filter.")
        return predicate

    def _and(self) -> Predicate:
        parts = [self._or()]
        while (token := self._peek()) is not None and token != ("paren", ")"):
            if token == ("word", "AND"):
                self._take()
            parts.append(self._or())
        return lambda r: all(p(r) for p in parts)

    def _or(self) -> Predicate:
        parts = [self._unary()]
        while self._peek() == ("word", "OR"):
            self._take()
            parts.append(self._unary())
        return lambda r: any(p(r) for p in parts)

    def _unary(self) -> Predicate:
        token = self._peek()
        if token in (("word", "NOT"), ("word", "-")):
            self._take()
            inner = self._unary()
            return lambda r: not inner(r)
        if token == ("paren", "("):
            self._take()
            inner = self._and()
            if self._take() != ("paren", ")"):
                raise ApiError(400, "Unbalanced parentheses in filter.")
            return inner
        kind, name = self._take()
        if kind != "word":
            raise ApiError(400, f"Expected a field name in filter, got {name!r}.")
        op_kind, op = self._take()
        if op_kind != "op":
            raise ApiError(400, f"Expected a comparison after {name!r} in filter.")
        value_kind, value = self._take()
        if value_kind not in ("word", "string"):
            raise ApiError(400, f"Expected a value after {name}{op} in filter.")
        return _comparison(name, op, value)


def parse_filter(text: str) -> Predicate:
    """Compile a Vertex AI list ``filter`` into a predicate over resource JSON."""
    if not text.strip():
        return lambda r: True
    return _FilterParser(text).parse()


def _project_query(text: str) -> Callable[[Mapping[str, JSON]], bool]:
    """Resource Manager ``projects:search`` query: terms are ORed, case-insensitive."""
    terms: list[Callable[[Mapping[str, JSON]], bool]] = []
    for raw in re.findall(r'(?:[^\s"]|"[^"]*")+', text):
        if raw.upper() in ("AND", "OR"):
            continue
        match = re.fullmatch(r"([A-Za-z.\-_]+)\s*[:=]\s*(.+)", raw)
        if not match:
            raise ApiError(400, f"Invalid query term {raw!r}.")
        key, value = match.group(1), match.group(2).strip('"').lower()
        terms.append(_project_term(key, value))
    if not terms:
        return lambda p: True
    return lambda p: any(term(p) for term in terms)


def _text_match(pattern: str, value: JSON) -> bool:
    if value is None:
        return False
    return _wildcard(pattern, str(value).lower())


def _project_term(key: str, value: str) -> Callable[[Mapping[str, JSON]], bool]:
    lowered = key.lower()
    if lowered in ("displayname", "name"):
        return lambda p: _text_match(value, p.get("displayName"))
    if lowered in ("id", "projectid"):
        return lambda p: _text_match(value, p.get("projectId"))
    if lowered in ("state", "lifecyclestate"):
        return lambda p: _text_match(value, p.get("state"))
    if lowered == "parent":
        return lambda p: _text_match(value, p.get("parent"))
    if lowered == "parent.type":
        return lambda p: _text_match(value, str(p.get("parent", "")).split("/")[0].rstrip("s"))
    if lowered == "parent.id":
        return lambda p: _text_match(value, str(p.get("parent", "")).split("/")[-1])
    if lowered == "labels":
        return lambda p: any(_text_match(value, k) or _text_match(value, v) for k, v in p.get("labels", {}).items())
    if lowered.startswith("labels."):
        label = key[len("labels.") :].lower()

        def label_term(project: Mapping[str, JSON]) -> bool:
            labels = {k.lower(): v for k, v in project.get("labels", {}).items()}
            return label in labels and (value == "*" or _text_match(value, labels[label]))

        return label_term
    raise ApiError(400, f"Unsupported query field {key!r}.")


# --------------------------------------------------------------------------- server


@dataclass
class _Project:
    number: str
    project_id: str
    resource: dict[str, JSON]
    iam_policy: dict[str, JSON]
    locations: list[dict[str, JSON]]
    vertex: dict[str, dict[str, list[dict[str, JSON]]]] = field(default_factory=dict)
    audit_log: list[dict[str, JSON]] = field(default_factory=list)   # Cloud Audit Logs LogEntry objects


@dataclass
class _Response:
    status: int
    body: JSON
    headers: dict[str, str] = field(default_factory=dict)


class FakeGoogle(server.FakeServer[RecordedRequest, Fault]):
    """Fake Vertex AI v1 and Resource Manager v3 REST server on 127.0.0.1.

    ``FakeGoogle(estate)`` takes an estate mapping (``None`` = the shipped demo
    estate).  ``start()`` binds an ephemeral port and serves from a daemon thread;
    ``url`` is then ``http://127.0.0.1:PORT``.  Use it as a context manager to
    start and stop it.
    """

    server_name = "fake-google"

    def __init__(
        self,
        estate: Mapping[str, JSON] | None = None,
        *,
        page_size: int | None = 2,
        require_auth: bool = False,
        port: int = 0,
    ) -> None:
        super().__init__(port=port)
        data = copy.deepcopy(dict(estate)) if estate is not None else demo_estate()
        validate_estate(data)
        self.estate: dict[str, JSON] = data
        self.page_size = page_size
        """Largest page the fake answers; None = as many as requested (all if unspecified)."""
        self.require_auth = require_auth
        """When true, a request without ``Authorization: Bearer ...`` gets 401 UNAUTHENTICATED."""
        self.buckets: dict[str, dict[str, JSON]] = {b["name"]: b for b in data.get("buckets", [])}
        """Cloud Storage buckets by name (their IAM policies are served by ``buckets.getIamPolicy``)."""
        self._projects: list[_Project] = []
        for entry in data["projects"]:
            resource = entry["project"]
            self._projects.append(
                _Project(
                    number=resource["name"].split("/", 1)[1],
                    project_id=resource["projectId"],
                    resource=resource,
                    iam_policy=entry.get("iamPolicy", {"version": 1, "etag": "ACAB"}),
                    locations=entry.get("locations", []),
                    vertex=entry.get("vertex", {}),
                    audit_log=entry.get("auditLog", []),
                )
            )

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> FakeGoogle:
        """Build a server from an estate JSON file."""
        return cls(load_estate(path), **kwargs)

    # ------------------------------------------------------------------ inspection

    def requests_to(self, prefix: str, method: str | None = None) -> list[RecordedRequest]:
        """Recorded requests whose path starts with ``prefix`` (id or number form)."""
        recorded = self.requests
        return [r for r in recorded if self._path_matches(r.path, prefix) and (method is None or r.method == method)]

    def project_number(self, project: str) -> str:
        """Project number for a project id or number (KeyError when unknown)."""
        found = self._find_project(project)
        if found is None:
            raise KeyError(project)
        return found.number

    # ------------------------------------------------------------------ faults

    def fail(
        self,
        prefix: str,
        status: int,
        *,
        times: int | None = None,
        reason: str | None = None,
        message: str | None = None,
        method: str | None = None,
    ) -> Fault:
        """Answer ``status`` to requests under ``prefix``: ``times`` times, or always if None.

        ``prefix`` is matched against the decoded path with the project given by id
        or by number.  ``reason`` goes into the ErrorInfo detail (403 defaults to
        ``IAM_PERMISSION_DENIED``, 429 to ``RATE_LIMIT_EXCEEDED``; ``SERVICE_DISABLED``
        produces the body Google sends when the API is not enabled).  Faults are
        checked in the order added; the first active match answers.

        The GAPIC REST transport picks the exception class from the HTTP code only:
        403 -> ``Forbidden``, 429 -> ``TooManyRequests``, 400 -> ``BadRequest``,
        500 -> ``InternalServerError``, 503 -> ``ServiceUnavailable``.
        """
        if status not in _STATUS_NAMES:
            raise ValueError(f"unsupported status {status}")
        return self.add_fault(Fault(prefix, status, times, method.upper() if method else None,
                                    reason=reason, message=message))

    def rate_limit(self, prefix: str, times: int = 1) -> Fault:
        """429 RESOURCE_EXHAUSTED ``times`` times, then normal answers."""
        return self.fail(prefix, 429, times=times)

    def deny(self, prefix: str, times: int | None = None) -> Fault:
        """403 PERMISSION_DENIED (always by default)."""
        return self.fail(prefix, 403, times=times)

    def disable_service(self, prefix: str) -> Fault:
        """403 with ErrorInfo reason SERVICE_DISABLED, always."""
        return self.fail(prefix, 403, reason="SERVICE_DISABLED")

    def not_offered(self, prefix: str, status: int = 404) -> Fault:
        """What a location without the service answers (Agent Engine, RAG Engine): 404 NOT_FOUND, or
        501 UNIMPLEMENTED with ``status=501``; always."""
        if status not in (404, 501):
            raise ValueError(f"a service that is not offered answers 404 or 501, not {status}")
        return self.fail(prefix, status)

    def unavailable(self, prefix: str, times: int | None = 1, status: int = 503) -> Fault:
        """503 UNAVAILABLE (or 500 INTERNAL with ``status=500``) ``times`` times."""
        return self.fail(prefix, status, times=times)

    # ------------------------------------------------------------------ internals

    def _find_project(self, ref: str) -> _Project | None:
        for project in self._projects:
            if ref in (project.number, project.project_id):
                return project
        return None

    def _canonical(self, path: str) -> str:
        """Path with ``projects/<id>`` replaced by ``projects/<number>``."""

        def replace(match: re.Match[str]) -> str:
            project = self._find_project(match.group(2))
            return match.group(1) + (project.number if project else match.group(2))

        return re.sub(r"(projects/)([^/:]+)", replace, path)

    def _path_matches(self, path: str, prefix: str) -> bool:
        return path.startswith(prefix) or self._canonical(path).startswith(self._canonical(prefix))

    def _fault_matches(self, fault: Fault, path: str) -> bool:
        return self._path_matches(path, fault.prefix)

    # ------------------------------------------------------------------ dispatch

    def _answer(self, request: server.Handler) -> None:
        arrived = time.monotonic()
        raw_path, _, raw_query = request.path.partition("?")
        path = unquote(raw_path)
        query = {key: values[0] for key, values in parse_qs(raw_query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in request.headers.items()}
        raw_body = request.read_body()
        body: JSON = None
        response: _Response
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                response = _Response(400, ApiError(400, "Invalid JSON payload received.").body())
            else:
                response = self.handle(request.command, path, query, headers, body)
        else:
            response = self.handle(request.command, path, query, headers, body)
        self._record(
            RecordedRequest(
                method=request.command,
                path=path,
                query=query,
                headers={k: v for k, v in headers.items() if k in _LOGGED_HEADERS},
                body=body,
                status=response.status,
                at=arrived,
            )
        )
        payload = json.dumps(response.body, indent=2).encode("utf-8")
        request.reply(response.status, payload, response.headers.items())

    def handle(
        self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str], body: JSON
    ) -> _Response:
        """Answer one request (used by the HTTP handler; callable directly in tests)."""
        try:
            if self.require_auth:
                authorization = headers.get("authorization", "")
                if not authorization.lower().startswith("bearer ") or not authorization[7:].strip():
                    raise ApiError(
                        401,
                        "Request is missing required authentication credential. Expected OAuth 2 "
                        "access token, login cookie or other valid authentication credential.",
                        details=[_error_info("CREDENTIALS_MISSING", "googleapis.com", {})],
                    )
            fault = self._take_fault(method, path)
            if fault is not None:
                raise self._fault_error(fault, method, path)
            payload = self._route(method, path, query, body)
        except ApiError as error:
            return _Response(error.code, error.body())
        if "enum-encoding=int" in query.get("$alt", ""):
            payload = self._encode_payload(path, payload)
        return _Response(200, payload)

    def _route(self, method: str, path: str, query: Mapping[str, str], body: JSON) -> JSON:
        parts = path.strip("/").split("/")
        if method == "GET" and len(parts) >= 3 and parts[0] in ("v1", "ui") and parts[1] == "projects":
            return self._vertex(parts[0], parts[2:], query)
        if parts[:1] == ["v3"]:
            return self._resource_manager(method, parts[1:], query, body)
        if method == "POST" and parts == ["v2", "entries:list"]:
            return self._log_entries(body)
        if method == "GET" and len(parts) == 5 and parts[:3] == ["storage", "v1", "b"] and parts[4] == "iam":
            return self._bucket_iam(parts[3], query)
        raise _not_found(path)

    # Cloud Storage --------------------------------------------------------

    def _bucket_iam(self, name: str, query: Mapping[str, str]) -> JSON:
        """``buckets.getIamPolicy``: the stored bindings as a ``storage#policy``."""
        bucket = self.buckets.get(name)
        if bucket is None:
            message = "The specified bucket does not exist."
            raise ApiError(404, message, details=(), errors=[{"message": message, "domain": "global",
                                                               "reason": "notFound"}])
        stored = copy.deepcopy(bucket.get("iamPolicy", {}))
        conditional = any("condition" in b for b in stored.get("bindings", []))
        requested = int(query.get("optionsRequestedPolicyVersion") or 1)
        return {"kind": "storage#policy", "resourceId": f"projects/_/buckets/{name}",
                "version": 3 if conditional and requested >= 3 else 1, "etag": stored.get("etag", "CAE="),
                "bindings": stored.get("bindings", [])}

    # Cloud Logging --------------------------------------------------------

    def _log_entries(self, body: JSON) -> JSON:
        """``entries.list``: the ``auditLog`` entries of the named projects that the filter keeps, by
        timestamp (``orderBy`` ``timestamp asc``, the default, or ``desc``), paged by ``pageToken``."""
        if not isinstance(body, dict) or not body.get("resourceNames"):
            raise ApiError(400, "Request contains an invalid argument: resourceNames is required.")
        entries: list[dict[str, JSON]] = []
        for name in body["resourceNames"]:
            kind, _, ref = str(name).partition("/")
            project = self._find_project(ref) if kind == "projects" else None
            if project is None:
                raise ApiError(403, f"The caller does not have permission to list entries of {name}.",
                               details=[_error_info("IAM_PERMISSION_DENIED", "logging.googleapis.com",
                                                    {"permission": "logging.logEntries.list"})])
            entries.extend(project.audit_log)
        keep = parse_log_filter(str(body.get("filter", "")))
        selected = sorted((e for e in entries if keep(e)), key=lambda e: _parse_time(str(e["timestamp"])),
                          reverse=str(body.get("orderBy", "")).endswith("desc"))
        query = {"pageSize": str(body.get("pageSize", "") or ""), "pageToken": str(body.get("pageToken", "") or "")}
        scope = "entries|" + json.dumps([body["resourceNames"], body.get("filter", "")])
        return self._page(selected, "entries", query, scope)

    # Vertex AI ----------------------------------------------------------

    def _vertex(self, version: str, parts: list[str], query: Mapping[str, str]) -> JSON:
        project_ref = parts[0]
        rest = parts[1:]
        if not rest or rest[0] != "locations":
            raise _not_found("/".join(["", version, "projects", *parts]))
        if len(rest) == 1:
            return self._list_locations(self._vertex_project(project_ref, "locations.list"), query)
        location_id = rest[1]
        if len(rest) == 2:
            project = self._vertex_project(project_ref, "locations.get")
            for location in project.locations:
                if location.get("locationId") == location_id:
                    return copy.deepcopy(location)
            raise ApiError(404, f"Location projects/{project.number}/locations/{location_id} not found.")
        if version != "v1" or len(rest) > 4:
            raise _not_found("/".join(["", version, "projects", *parts]))
        collection = rest[2]
        if collection not in self._served_collections():
            raise _not_found("/".join(["", version, "projects", *parts]))
        if len(rest) == 3:
            project = self._vertex_project(project_ref, f"{collection}.list")
            items = project.vertex.get(location_id, {}).get(collection, [])
            predicate = parse_filter(query.get("filter", ""))
            selected = [r for r in items if predicate(r)]
            parent = f"projects/{project.number}/locations/{location_id}/{collection}"
            return self._page(selected, collection, query, parent + "|" + query.get("filter", ""))
        project = self._vertex_project(project_ref, f"{collection}.get")
        resource_id = rest[3]
        base_id, _, version_ref = resource_id.partition("@")
        name = f"projects/{project.number}/locations/{location_id}/{collection}/{base_id}"
        for resource in project.vertex.get(location_id, {}).get(collection, []):
            if resource.get("name") != name:
                continue
            if (
                version_ref
                and version_ref != resource.get("versionId")
                and version_ref not in resource.get("versionAliases", [])
            ):
                break
            return copy.deepcopy(resource)
        kind = _singular(collection)
        raise ApiError(404, f"{kind} {name}{'@' + version_ref if version_ref else ''} is not found.")

    def _served_collections(self) -> set[str]:
        served = set(VERTEX_COLLECTIONS)
        for project in self._projects:
            for collections in project.vertex.values():
                served.update(collections)
        return served

    def _vertex_project(self, ref: str, permission: str) -> _Project:
        project = self._find_project(ref)
        if project is None:
            resource = f"//aiplatform.googleapis.com/projects/{ref}"
            raise ApiError(
                403,
                f"Permission 'aiplatform.{permission}' denied on resource '{resource}' (or it may not exist).",
                details=[
                    _error_info(
                        "IAM_PERMISSION_DENIED",
                        "aiplatform.googleapis.com",
                        {"permission": f"aiplatform.{permission}", "resource": f"projects/{ref}"},
                    )
                ],
            )
        return project

    def _list_locations(self, project: _Project, query: Mapping[str, str]) -> JSON:
        # The locations mixin returns everything in one page unless a page size is asked for.
        if not query.get("pageSize"):
            return {"locations": copy.deepcopy(project.locations)} if project.locations else {}
        key = f"projects/{project.number}/locations"
        return self._page(project.locations, "locations", query, key)

    # Resource Manager ---------------------------------------------------

    def _resource_manager(self, method: str, parts: list[str], query: Mapping[str, str], body: JSON) -> JSON:
        path = "/v3/" + "/".join(parts)
        if parts == ["projects:search"] and method == "GET":
            predicate = _project_query(query.get("query", ""))
            selected = [p.resource for p in self._projects if predicate(p.resource)]
            return self._page(selected, "projects", query, "search|" + query.get("query", ""))
        if parts == ["projects"] and method == "GET":
            parent = query.get("parent", "")
            if not parent:
                raise ApiError(400, "Request contains an invalid argument: parent is required.")
            show_deleted = query.get("showDeleted", "").lower() == "true"
            selected = [
                p.resource
                for p in self._projects
                if p.resource.get("parent") == parent
                and (show_deleted or p.resource.get("state") != "DELETE_REQUESTED")
            ]
            return self._page(selected, "projects", query, f"list|{parent}|{show_deleted}")
        if len(parts) == 2 and parts[0] == "projects":
            ref, _, verb = parts[1].partition(":")
            if method == "GET" and not verb:
                return copy.deepcopy(self._rm_project(ref, "resourcemanager.projects.get").resource)
            if method == "POST" and verb == "getIamPolicy":
                project = self._rm_project(ref, "resourcemanager.projects.getIamPolicy")
                return self._iam_policy(project, body)
        raise _not_found(path)

    def _rm_project(self, ref: str, permission: str) -> _Project:
        project = self._find_project(ref)
        if project is None:
            resource = f"//cloudresourcemanager.googleapis.com/projects/{ref}"
            raise ApiError(
                403,
                f"Permission '{permission}' denied on resource '{resource}' (or it may not exist).",
                details=[
                    _error_info(
                        "IAM_PERMISSION_DENIED",
                        "cloudresourcemanager.googleapis.com",
                        {"permission": permission, "resource": f"projects/{ref}"},
                    )
                ],
            )
        return project

    def _iam_policy(self, project: _Project, body: JSON) -> JSON:
        options = body.get("options", {}) if isinstance(body, dict) else {}
        requested = options.get("requestedPolicyVersion", 0) if isinstance(options, dict) else 0
        if requested not in (0, 1, 3):
            raise ApiError(400, f"Invalid requested policy version {requested}; valid values are 0, 1 and 3.")
        policy = copy.deepcopy(project.iam_policy)
        bindings = policy.get("bindings", [])
        conditional = any("condition" in binding for binding in bindings)
        if requested == 3:
            policy["version"] = 3 if conditional else 1
            return policy
        policy["version"] = 1
        for binding in bindings:
            condition = binding.pop("condition", None)
            if condition is not None:
                digest = hashlib.sha256(json.dumps(condition, sort_keys=True).encode()).hexdigest()
                binding["role"] = f"{binding['role']}_withcond_{digest[:20]}"
        return policy

    # Paging and encoding --------------------------------------------------

    def _page(self, items: Sequence[JSON], key: str, query: Mapping[str, str], scope: str) -> JSON:
        try:
            requested = int(query.get("pageSize") or 0)
        except ValueError as exc:
            raise ApiError(400, "Invalid value for pageSize.") from exc
        if requested < 0:
            raise ApiError(400, "pageSize must not be negative.")
        size = requested if requested else len(items)
        if self.page_size is not None:
            size = min(size, self.page_size) if requested else self.page_size
        size = max(size, 1)
        fingerprint = hashlib.sha256(self._canonical(scope).encode()).hexdigest()[:16]
        offset = 0
        token = query.get("pageToken", "")
        if token:
            offset = _decode_token(token, fingerprint)
        chunk = [copy.deepcopy(item) for item in items[offset : offset + size]]
        response: dict[str, JSON] = {}
        if chunk:
            response[key] = chunk
        if offset + size < len(items):
            response["nextPageToken"] = _encode_token(offset + size, fingerprint)
        return response

    def _encode_payload(self, path: str, payload: JSON) -> JSON:
        if not isinstance(payload, dict):
            return payload
        parts = path.strip("/").split("/")
        if parts[:1] == ["v3"]:
            if path.endswith(":getIamPolicy"):
                return encode_enums(payload, "iamPolicy")
            if "projects" in payload:
                payload["projects"] = [encode_enums(p, "project") for p in payload["projects"]]
                return payload
            return encode_enums(payload, "project")
        if len(parts) >= 6 and parts[3] == "locations":
            collection = parts[5]
            if len(parts) == 6:
                if collection in payload:
                    payload[collection] = [encode_enums(r, collection) for r in payload[collection]]
                return payload
            return encode_enums(payload, collection)
        return payload

    def _fault_error(self, fault: Fault, method: str, path: str) -> ApiError:
        service, title = (_RM_SERVICE if path.startswith("/v3/") else
                          _STORAGE_SERVICE if path.startswith("/storage/") else _VERTEX_SERVICE)
        if path.startswith("/storage/") and fault.status == 403:
            message = fault.message or (
                f"{DENIED_CALLER} does not have storage.buckets.getIamPolicy access to the Google Cloud Storage "
                "bucket. Permission 'storage.buckets.getIamPolicy' denied on resource (or it may not exist).")
            return ApiError(403, message, errors=[{"message": message, "domain": "global", "reason": "forbidden"}])
        match = re.search(r"projects/([^/:]+)", path)
        project = self._find_project(match.group(1)) if match else None
        number = project.number if project else (match.group(1) if match else "0")
        code = fault.status
        if code == 403 and fault.reason == "SERVICE_DISABLED":
            url = f"https://console.developers.google.com/apis/api/{service}/overview?project={number}"
            message = fault.message or (
                f"{title} has not been used in project {number} before or it is disabled. Enable it by "
                f"visiting {url} then retry. If you enabled this API recently, wait a few minutes for "
                "the action to propagate to our systems and retry."
            )
            return ApiError(
                403,
                message,
                details=[
                    _error_info(
                        "SERVICE_DISABLED",
                        "googleapis.com",
                        {
                            "consumer": f"projects/{number}",
                            "service": service,
                            "serviceTitle": title,
                            "containerInfo": number,
                            "activationUrl": url,
                        },
                    ),
                    {
                        "@type": "type.googleapis.com/google.rpc.Help",
                        "links": [{"description": "Google developers console API activation", "url": url}],
                    },
                ],
            )
        if code == 403:
            permission = _permission_for(method, path)
            resource = f"//{service}/{match.group(0) if match else path}"
            return ApiError(
                403,
                fault.message or f"Permission '{permission}' denied on resource '{resource}' (or it may not exist).",
                details=[
                    _error_info(
                        fault.reason or "IAM_PERMISSION_DENIED",
                        service,
                        {"permission": permission, "resource": match.group(0) if match else path},
                    )
                ],
            )
        if code == 429:
            metric = f"{service}/default_requests"
            return ApiError(
                429,
                fault.message
                or f"Quota exceeded for quota metric '{metric}' and limit 'Requests per minute' of "
                f"service '{service}' for consumer 'project_number:{number}'.",
                details=[
                    _error_info(
                        fault.reason or "RATE_LIMIT_EXCEEDED",
                        "googleapis.com",
                        {"consumer": f"projects/{number}", "quota_metric": metric, "service": service},
                    )
                ],
            )
        defaults = {
            404: f"The requested URL {path} was not found on this server.",
            501: "Operation is not implemented, or supported, or enabled.",
            500: "Internal error encountered.",
            503: "The service is currently unavailable.",
            504: "The request timed out.",
        }
        details = [_error_info(fault.reason, service, {})] if fault.reason else []
        return ApiError(code, fault.message or defaults.get(code, "Injected failure."), details=details)


def _singular(collection: str) -> str:
    words = {
        "endpoints": "Endpoint",
        "models": "Model",
        "customJobs": "CustomJob",
        "datasets": "Dataset",
        "indexEndpoints": "IndexEndpoint",
        "notebookRuntimeTemplates": "NotebookRuntimeTemplate",
        "notebookRuntimes": "NotebookRuntime",
        "modelDeploymentMonitoringJobs": "ModelDeploymentMonitoringJob",
        "reasoningEngines": "ReasoningEngine",
        "tuningJobs": "TuningJob",
        "ragCorpora": "RagCorpus",
        "featureOnlineStores": "FeatureOnlineStore",
        "pipelineJobs": "PipelineJob",
    }
    return words.get(collection, collection[:1].upper() + collection[1:].rstrip("s"))


def _permission_for(method: str, path: str) -> str:
    if path.startswith("/storage/"):
        return "storage.buckets.getIamPolicy"
    if path.startswith("/v3/"):
        if path.endswith(":getIamPolicy"):
            return "resourcemanager.projects.getIamPolicy"
        if path.endswith(":search") or path == "/v3/projects":
            return "resourcemanager.projects.list"
        return "resourcemanager.projects.get"
    parts = path.strip("/").split("/")
    if len(parts) == 4:
        return "aiplatform.locations.list"
    if len(parts) >= 6:
        return f"aiplatform.{parts[5]}.{'list' if len(parts) == 6 else 'get'}"
    return "aiplatform.locations.get"


def _error_info(reason: str, domain: str, metadata: Mapping[str, str]) -> dict[str, JSON]:
    info: dict[str, JSON] = {"@type": _ERROR_INFO, "reason": reason, "domain": domain}
    if metadata:
        info["metadata"] = dict(metadata)
    return info


def _not_found(path: str) -> ApiError:
    return ApiError(404, f"The requested URL {path} was not found on this server.")


def _encode_token(offset: int, fingerprint: str) -> str:
    raw = json.dumps({"o": offset, "f": fingerprint}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, fingerprint: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        offset = int(data["o"])
        if data["f"] != fingerprint or offset < 0:
            raise ValueError(token)
    except (ValueError, KeyError, TypeError) as exc:
        raise ApiError(400, "Invalid page token.") from exc
    return offset


def main(argv: Sequence[str] | None = None) -> None:
    """Serve an estate until interrupted: ``python -m aispm.testing.fake_google``."""
    parser = argparse.ArgumentParser(description="Serve a fake Vertex AI / Resource Manager estate.")
    parser.add_argument("--estate", default=str(DEMO_ESTATE_PATH), help="estate JSON file")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--page-size", type=int, default=2)
    parser.add_argument("--require-auth", action="store_true")
    args = parser.parse_args(argv)
    fake = FakeGoogle.from_file(args.estate, page_size=args.page_size, require_auth=args.require_auth, port=args.port)
    with fake:
        print(fake.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()

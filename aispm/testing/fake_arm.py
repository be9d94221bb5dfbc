"""A local fake of Azure Resource Manager (ARM) for the Azure collector, its tests and ``aispm demo``.

The fake serves an *estate*: a JSON document that holds the resources exactly as
ARM returns them.  The real Azure SDK pipeline (``azure.mgmt.core.ARMPipelineClient``
or any generated management client, through ``client._send_request``) talks to it
unchanged when its base URL is :attr:`FakeArm.url`.

Estate format
-------------
A JSON object (load it with :func:`load_estate`; the shipped one is
``estates/azure_demo.json``, :data:`DEMO_ESTATE_PATH`)::

    {
      "tenantId": "<guid>",                                  # used in auth challenges
      "apiVersions": {"Microsoft.MachineLearningServices": ["2025-12-01"],
                      "Microsoft.CognitiveServices": ["2025-12-01"], "Microsoft.Insights": ["2021-05-01-preview"]},
      "managementGroups": [                                  # optional
        {"name": "<tenant id>", "parent": null, "subscriptions": []},
        {"name": "mg-ai", "parent": "<tenant id>", "subscriptions": ["<sub id>"]}
      ],
      "subscriptions": [                                     # GET /subscriptions objects
        {"subscriptionId": "<guid>", "displayName": "...", "state": "Enabled", "tenantId": "<guid>"}
      ],
      "resourceGroups": [                                    # optional; derived from resources
        {"id": "/subscriptions/<s>/resourceGroups/<rg>", "location": "eastus2"}
      ],
      "resources": [                                         # flat list, any nesting depth
        {"id": "/subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.MachineLearningServices"
               "/workspaces/<ws>/computes/<c>", "name": "<c>", "type": "...", "properties": {...}}
      ],
      "roleAssignments": [                                   # RoleAssignment objects
        {"id": "...", "name": "<guid>", "type": "Microsoft.Authorization/roleAssignments",
         "properties": {"scope": "/subscriptions/<s>", "principalId": "<guid>",
                        "roleDefinitionId": ".../roleDefinitions/<guid>", ...}}
      ]
    }

Each resource ``id`` is the full ARM id exactly as Azure spells it; a missing
``name`` or ``type`` is derived from it.  The collection of a resource is its id
minus the last segment, so ``.../workspaces/<ws>/computes`` lists the computes of a
workspace and ``.../resourceGroups/<rg>/providers/<ns>/workspaces`` the workspaces
of a resource group.  ``apiVersions`` names, per provider namespace, the versions
whose response shapes the estate holds; a request for another version of that
namespace is refused (namespaces not listed accept any version).  Other top-level
keys (``description``, ``expectations``) are ignored by the server.

What is served (GET only; every path and id is matched case-insensitively)
-----------------------------------------------------------------------------
* ``/subscriptions``, ``/subscriptions/{s}``, ``/subscriptions/{s}/resourcegroups``,
  ``/subscriptions/{s}/resourcegroups/{rg}``;
* ``{resource id}``: one resource, with the id's original casing in the body;
* ``{collection}``: the children of a resource group or resource (empty when the
  parent exists and has none of that type);
* ``/subscriptions/{s}/providers/{namespace}/{type}``: every top-level resource of
  that type in the subscription, across resource groups;
* ``/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/{name}``: a storage
  account as the Microsoft.Storage REST reference returns it (``kind``, ``sku``, ``properties`` with
  ``allowBlobPublicAccess``, ``primaryEndpoints`` ...; GET never returns keys), read by the collector for
  the datastores that use it (list ``Microsoft.Storage`` under ``apiVersions`` to pin its api-version);
* ``{resource id}/providers/Microsoft.Insights/diagnosticSettings``: the resource's
  diagnostic settings, held in the estate as extension resources whose id is that
  path plus ``/{name}`` (empty when the resource has none);
* ``{scope}/providers/Microsoft.Authorization/roleAssignments``: the assignments
  that apply at, above (management groups, root ``/``) or below the scope.
  ``$filter=atScope()`` keeps those at or above; ``principalId eq '<id>'`` and
  ``assignedTo('<id>')`` keep one principal's (the fake has no groups); terms may
  be joined with ``and``;
* ``/subscriptions/{s}/providers/Microsoft.Insights/eventtypes/management/values``: the Activity Log, the
  estate's top-level ``activityLog`` records (as Azure returns them: ``operationName``, ``operationId``,
  ``status``, ``eventTimestamp``, ``subscriptionId`` ...) of that subscription within the ``$filter``'s
  ``eventTimestamp ge '...' and eventTimestamp le '...'`` (required, both bounds inclusive), oldest first.

Wire behaviour that matches ARM
-------------------------------
* Every request needs ``Authorization: Bearer <token>`` with the configured token:
  otherwise 401 ``AuthenticationFailed`` (header missing or malformed) or
  ``InvalidAuthenticationToken`` (wrong token), with a ``WWW-Authenticate`` challenge.
* Every request needs ``api-version``: otherwise 400 ``MissingApiVersionParameter``.
* Lists answer ``{"value": [...], "nextLink": "<absolute url>"}``; ``nextLink``
  keeps the query (api-version, ``$filter``) and adds a continuation token
  (``$skip`` for Microsoft.MachineLearningServices, as its swagger names it,
  ``$skiptoken`` elsewhere).  The last page has no ``nextLink``.
* Errors use the ARM body ``{"error": {"code": ..., "message": ...}}``: 404
  ``SubscriptionNotFound``, ``ResourceGroupNotFound`` or ``ResourceNotFound``.
* Write-only secrets are never returned: datastore ``credentials.secrets`` keep only
  ``secretsType``, endpoint ``keys`` and compute admin passwords are dropped, as ARM
  does (the estate may hold them, to prove they do not leak).

Deliberate simplifications: the fake is read-only, so any other method answers 405
and is recorded, which lets a test assert that nothing called ``listKeys`` or
``listSecrets``; ``$top`` and ``$expand`` are ignored; estate order is kept.

Faults (see :meth:`FakeArm.fail`) answer a chosen status with an ARM error body for
requests under a path prefix, always or a number of times; ``rate_limit`` adds
``Retry-After`` so the SDK's retry policy waits and retries; ``malformed`` answers
200 with a body that is not valid JSON.

TLS: ``FakeArm(..., tls=True)`` serves https with a certificate for 127.0.0.1 from a
throw-away CA written to :attr:`FakeArm.ca_cert_path`, so a client can keep certificate
verification on (``connection_verify=`` or ``REQUESTS_CA_BUNDLE``) and needs no
plain-http switch.  The server, TLS, recording and fault plumbing are
:mod:`aispm.testing.server`'s.
"""

from __future__ import annotations

import argparse
import base64
import copy
import datetime
import json
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from aispm.testing import server

__all__ = [
    "DEFAULT_TOKEN",
    "DEMO_ESTATE_PATH",
    "ArmError",
    "EstateError",
    "FakeArm",
    "Fault",
    "RecordedRequest",
    "demo_estate",
    "load_estate",
    "main",
    "validate_estate",
]

JSON = Any
"""A decoded JSON value."""

# The estates belong to the demo (aispm/demo/estates); found by path so that the fakes never import the demo.
DEMO_ESTATE_PATH = Path(__file__).resolve().parents[1] / "demo" / "estates" / "azure_demo.json"
DEFAULT_TOKEN = "aispm-fake-arm-token"

_ML = "microsoft.machinelearningservices"
_COGNITIVE = "microsoft.cognitiveservices"
_DIAGNOSTIC_SETTINGS = "/providers/microsoft.insights/diagnosticsettings"
_AUTHZ = "microsoft.authorization"
_RESOURCES = "microsoft.resources"
_MG_PREFIX = "/providers/microsoft.management/managementgroups/"
_SKIP_PARAMS = frozenset({"$skip", "$skiptoken"})

# Child collections a parent may list even when the estate has none of them.
_KNOWN_CHILDREN: dict[str, frozenset[str]] = {
    f"{_ML}/workspaces": frozenset({"computes", "onlineendpoints", "batchendpoints", "datastores"}),
    f"{_ML}/workspaces/onlineendpoints": frozenset({"deployments"}),
    f"{_ML}/workspaces/batchendpoints": frozenset({"deployments"}),
    f"{_COGNITIVE}/accounts": frozenset({"deployments", "raipolicies", "projects"}),
}

_DEFAULT_CODES: dict[int, str] = {
    400: "BadRequest",
    401: "InvalidAuthenticationToken",
    403: "AuthorizationFailed",
    404: "ResourceNotFound",
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}

_SELECTED_HEADERS = (
    "accept",
    "content-type",
    "user-agent",
    "x-ms-client-request-id",
    "x-ms-return-client-request-id",
)


class EstateError(ValueError):
    """The estate document is malformed."""


class ArmError(Exception):
    """An error answered with the ARM error body."""

    def __init__(self, status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, JSON]:
        return {"error": {"code": self.code, "message": self.message}}


@dataclass(frozen=True, kw_only=True)
class RecordedRequest(server.Recorded):
    """One request as the fake saw it (headers: accept, content-type, user-agent, x-ms-client-request-id)."""

    target: str
    """The request target as sent: path and query string, still percent-encoded."""
    authorized: bool
    """The request carried the expected bearer token."""


@dataclass
class Fault(server.Fault):
    """An injected failure for requests whose decoded path starts with ``prefix`` (any case)."""

    code: str | None = None
    message: str | None = None
    retry_after: int | None = None
    garbled: bool = False
    """Answer 200 with a truncated, unparseable JSON body instead of an error."""


@dataclass(frozen=True)
class _Reply:
    status: int
    body: JSON
    headers: dict[str, str]
    raw: bytes | None = None
    """Bytes sent as they are instead of ``body`` (for malformed answers)."""


class _Garbled(Exception):
    """Raised by a ``malformed`` fault: answer a body that is not valid JSON."""


_GARBLED_BODY = b'{"value": [{"id": "/subscriptions/'


# --------------------------------------------------------------------------- estate


def load_estate(path: str | Path) -> dict[str, JSON]:
    """Read and validate an estate JSON file."""
    return server.load_json(path, validate_estate)


def demo_estate() -> dict[str, JSON]:
    """A fresh copy of the shipped Azure demo estate."""
    return load_estate(DEMO_ESTATE_PATH)


def validate_estate(estate: Mapping[str, JSON]) -> None:
    """Raise :class:`EstateError` naming the first problem found."""
    if not isinstance(estate, Mapping):
        raise EstateError("the estate must be a JSON object")
    subs = estate.get("subscriptions")
    if not isinstance(subs, list) or not subs:
        raise EstateError("'subscriptions' must be a non-empty list")
    known_subs: set[str] = set()
    for index, sub in enumerate(subs):
        sub_id = sub.get("subscriptionId") if isinstance(sub, Mapping) else None
        if not isinstance(sub_id, str) or not sub_id:
            raise EstateError(f"subscriptions[{index}] has no subscriptionId")
        known_subs.add(sub_id.lower())
    groups = estate.get("managementGroups", [])
    if not isinstance(groups, list):
        raise EstateError("'managementGroups' must be a list")
    group_names = {str(g.get("name", "")).lower() for g in groups if isinstance(g, Mapping)}
    for index, group in enumerate(groups):
        if not isinstance(group, Mapping) or not group.get("name"):
            raise EstateError(f"managementGroups[{index}] has no name")
        parent = group.get("parent")
        if parent is not None and str(parent).lower() not in group_names:
            raise EstateError(f"managementGroups[{index}] names an unknown parent {parent!r}")
        for sub_id in group.get("subscriptions", []):
            if str(sub_id).lower() not in known_subs:
                raise EstateError(f"managementGroups[{index}] lists unknown subscription {sub_id!r}")
    seen: set[str] = set()
    for index, resource in enumerate(estate.get("resources", [])):
        rid = resource.get("id") if isinstance(resource, Mapping) else None
        where = f"resources[{index}]"
        if not isinstance(rid, str):
            raise EstateError(f"{where} has no id")
        segments = rid.strip("/").split("/")
        if (
            len(segments) < 8
            or len(segments) % 2
            or segments[0].lower() != "subscriptions"
            or segments[2].lower() != "resourcegroups"
            or segments[4].lower() != "providers"
        ):
            shape = "/subscriptions/{s}/resourceGroups/{rg}/providers/{namespace}/{type}/{name}[/{type}/{name}...]"
            raise EstateError(f"{where} id {rid!r} is not of the form {shape}")
        if segments[1].lower() not in known_subs:
            raise EstateError(f"{where} id {rid!r} names an unknown subscription")
        if rid.lower() in seen:
            raise EstateError(f"{where} id {rid!r} is listed twice")
        seen.add(rid.lower())
    for index, assignment in enumerate(estate.get("roleAssignments", [])):
        props = assignment.get("properties") if isinstance(assignment, Mapping) else None
        if not isinstance(props, Mapping) or not all(
            isinstance(props.get(key), str) for key in ("scope", "principalId", "roleDefinitionId")
        ):
            raise EstateError(f"roleAssignments[{index}] needs properties.scope, principalId and roleDefinitionId")
    versions = estate.get("apiVersions", {})
    if not isinstance(versions, Mapping) or not all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in versions.values()
    ):
        raise EstateError("'apiVersions' must map a provider namespace to a list of api-versions")


_ACTIVITY_LOG = ["providers", "microsoft.insights", "eventtypes", "management", "values"]
_ACTIVITY_FILTER = re.compile(r"eventTimestamp\s+(ge|le)\s+'([^']+)'", re.IGNORECASE)


def _instant(text: str) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.UTC)


def _resource_type(rid: str) -> str:
    """``Microsoft.X/a/b`` for ``.../providers/Microsoft.X/a/{n}/b/{m}`` (casing kept); an extension resource
    (``{resource id}/providers/Microsoft.Insights/diagnosticSettings/{n}``) has the type after its last
    ``providers``."""
    segments = rid.strip("/").split("/")
    last = max(i for i, s in enumerate(segments) if s.lower() == "providers")
    provider = segments[last + 1 :]
    return "/".join([provider[0], *provider[1::2]])


def _scrub(resource: Mapping[str, JSON]) -> JSON:
    """A copy without the write-only secrets ARM never returns on GET."""
    result = copy.deepcopy(dict(resource))
    kind = str(result.get("type", "")).lower()
    props = result.get("properties")
    if not isinstance(props, dict):
        return result
    if kind == f"{_ML}/workspaces/datastores":
        credentials = props.get("credentials")
        if isinstance(credentials, dict) and isinstance(credentials.get("secrets"), dict):
            secrets = credentials["secrets"]
            credentials["secrets"] = {k: v for k, v in secrets.items() if k == "secretsType"}
    elif kind in (f"{_ML}/workspaces/onlineendpoints", f"{_ML}/workspaces/batchendpoints"):
        props.pop("keys", None)
    elif kind == f"{_ML}/workspaces/computes":
        inner = props.get("properties")
        accounts = inner.get("userAccountCredentials") if isinstance(inner, dict) else None
        if isinstance(accounts, dict):
            accounts.pop("adminUserPassword", None)
            accounts.pop("adminUserSshPublicKey", None)
    return result


def _encode_token(offset: int) -> str:
    raw = json.dumps({"o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str) -> int:
    if token.isdigit():
        return int(token)
    try:
        data = json.loads(base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode()))
        offset = int(data["o"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ArmError(400, "InvalidQueryParameterValue", f"The continuation token '{token}' is invalid.") from exc
    if offset < 0:
        raise ArmError(400, "InvalidQueryParameterValue", f"The continuation token '{token}' is invalid.")
    return offset


# --------------------------------------------------------------------------- server


class FakeArm(server.FakeServer[RecordedRequest, Fault]):
    """Fake Azure Resource Manager on 127.0.0.1, serving an estate from a daemon thread.

    ``FakeArm(estate)`` takes an estate mapping (``None`` = the shipped demo estate).
    ``start()`` binds an ephemeral port; ``url`` is then ``http://127.0.0.1:PORT``
    (``https://`` with ``tls=True``).  Use it as a context manager to start and stop it.
    """

    server_name = "fake-arm"
    methods = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})
    caller_object_id = "7d1d5c36-0e43-4d8e-9c65-1f2f3a4b5c6d"
    """Object id named in the default 403 AuthorizationFailed message."""

    def __init__(
        self,
        estate: Mapping[str, JSON] | None = None,
        *,
        token: str = DEFAULT_TOKEN,
        page_size: int = 2,
        tls: bool = False,
        port: int = 0,
    ) -> None:
        super().__init__(tls=tls, port=port)
        data = copy.deepcopy(dict(estate)) if estate is not None else demo_estate()
        validate_estate(data)
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.estate: dict[str, JSON] = data
        self.token = token
        """The bearer token every request must carry."""
        self.page_size = page_size
        """Items per page of every list."""
        self.api_versions: dict[str, frozenset[str]] = {
            ns.lower(): frozenset(versions) for ns, versions in data.get("apiVersions", {}).items()
        }
        """Accepted api-versions per lower-cased provider namespace; others accept any."""
        self.tenant_id: str = str(data.get("tenantId") or data["subscriptions"][0].get("tenantId") or "common")
        self._index(data)

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> FakeArm:
        """Build a server from an estate JSON file."""
        return cls(load_estate(path), **kwargs)

    # ------------------------------------------------------------------ inspection

    def requests_to(self, prefix: str, method: str | None = None) -> list[RecordedRequest]:
        """Recorded requests whose decoded path starts with ``prefix`` (any case)."""
        recorded = self.requests
        low = prefix.lower()
        return [r for r in recorded if r.path.lower().startswith(low) and (method is None or r.method == method)]

    # ------------------------------------------------------------------ faults

    def fail(
        self,
        prefix: str,
        status: int,
        *,
        times: int | None = None,
        code: str | None = None,
        message: str | None = None,
        retry_after: int | None = None,
        method: str | None = "GET",
    ) -> Fault:
        """Answer ``status`` with an ARM error body to requests under ``prefix``.

        ``times`` failures, then normal answers; None = always.  ``code`` defaults
        per status (403 ``AuthorizationFailed``, 404 ``ResourceNotFound``, 429
        ``TooManyRequests``, 500 ``InternalServerError``...), ``message`` to the text
        ARM sends.  ``retry_after`` adds a ``Retry-After`` header (429 gets 1 second
        by default).  ``method`` None matches every method.  Faults are checked after
        authentication and the check that ``api-version`` is present, before the
        version is matched against the estate (so a typed SDK operation pinned to an
        old version still sees the fault), in the order added; the first active match
        answers.
        """
        if status < 400 or status > 599:
            raise ValueError(f"a fault needs an error status, not {status}")
        if status == 429 and retry_after is None:
            retry_after = 1
        return self.add_fault(Fault(prefix, status, times, method.upper() if method else None,
                                    code=code, message=message, retry_after=retry_after))

    def deny(self, prefix: str, times: int | None = None) -> Fault:
        """403 AuthorizationFailed (always by default)."""
        return self.fail(prefix, 403, times=times)

    def rate_limit(self, prefix: str, times: int = 1, retry_after: int = 1) -> Fault:
        """429 TooManyRequests with ``Retry-After`` ``times`` times, then normal answers."""
        return self.fail(prefix, 429, times=times, retry_after=retry_after)

    def unavailable(self, prefix: str, times: int | None = 1, status: int = 503) -> Fault:
        """503 ServiceUnavailable (or another 5xx) ``times`` times."""
        return self.fail(prefix, status, times=times)

    def malformed(self, prefix: str, times: int | None = None) -> Fault:
        """200 with a truncated JSON body (``times`` times; None = always), as a broken proxy might send."""
        return self.add_fault(Fault(prefix, 200, times, method="GET", garbled=True))

    # ------------------------------------------------------------------ index

    def _index(self, data: Mapping[str, JSON]) -> None:
        self._subs: dict[str, JSON] = {}
        for sub in data["subscriptions"]:
            sub.setdefault("id", f"/subscriptions/{sub['subscriptionId']}")
            self._subs[sub["subscriptionId"].lower()] = sub
        self._mg_parent: dict[str, str | None] = {}
        self._sub_mg: dict[str, str] = {}
        for group in data.get("managementGroups", []):
            name = str(group["name"]).lower()
            parent = group.get("parent")
            self._mg_parent[name] = str(parent).lower() if parent is not None else None
            for sub_id in group.get("subscriptions", []):
                self._sub_mg[str(sub_id).lower()] = name
        self._rgs: dict[str, JSON] = {}
        for group in data.get("resourceGroups", []):
            rid = str(group["id"])
            group.setdefault("name", rid.rstrip("/").rsplit("/", 1)[-1])
            group.setdefault("type", "Microsoft.Resources/resourceGroups")
            group.setdefault("properties", {"provisioningState": "Succeeded"})
            self._rgs[rid.lower()] = group
        self._resources: dict[str, JSON] = {}
        self._children: dict[str, list[str]] = {}
        for resource in data.get("resources", []):
            rid = str(resource["id"])
            resource.setdefault("name", rid.rsplit("/", 1)[-1])
            resource.setdefault("type", _resource_type(rid))
            low = rid.lower()
            self._resources[low] = resource
            self._children.setdefault(low.rsplit("/", 1)[0], []).append(low)
            segments = rid.strip("/").split("/")
            rg_id = "/" + "/".join(segments[:4])
            if rg_id.lower() not in self._rgs:
                self._rgs[rg_id.lower()] = {
                    "id": rg_id,
                    "name": segments[3],
                    "type": "Microsoft.Resources/resourceGroups",
                    "location": resource.get("location", "eastus"),
                    "properties": {"provisioningState": "Succeeded"},
                }
        self._role_assignments: list[JSON] = list(data.get("roleAssignments", []))

    # ------------------------------------------------------------------ request handling

    def _answer(self, request: server.Handler) -> None:
        arrived = time.monotonic()
        method = request.command
        raw_path, _, raw_query = request.path.partition("?")
        path = unquote(raw_path)
        pairs = parse_qsl(raw_query, keep_blank_values=True)
        request.read_body()
        reply, authorized = self._respond(method, path, pairs, request.headers.get("Authorization"))
        selected = {name: request.headers[name] for name in _SELECTED_HEADERS if name in request.headers}
        query: dict[str, str] = {}
        for key, value in pairs:
            query.setdefault(key, value)
        self._record(RecordedRequest(method=method, target=request.path, path=path, query=query, headers=selected,
                                     authorized=authorized, status=reply.status, at=arrived))
        if reply.raw is not None:
            payload = reply.raw
        else:
            payload = json.dumps(reply.body).encode() if reply.body is not None else b""
        headers = [
            ("Cache-Control", "no-cache"),
            ("x-ms-request-id", str(uuid.uuid4())),
            ("x-ms-correlation-request-id", str(uuid.uuid4())),
        ]
        client_request_id = request.headers.get("x-ms-client-request-id")
        if client_request_id:
            headers.append(("x-ms-client-request-id", client_request_id))
        headers.extend(reply.headers.items())
        request.reply(reply.status, payload, headers, content_type="application/json; charset=utf-8")

    def _respond(
        self, method: str, path: str, pairs: Sequence[tuple[str, str]], authorization: str | None
    ) -> tuple[_Reply, bool]:
        """Answer one request; also tell whether it carried the right token."""
        authorized = False
        try:
            self._authenticate(authorization)
            authorized = True
            query = {key.lower(): value for key, value in reversed(pairs)}
            version = query.get("api-version", "")
            if not version:
                raise ArmError(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                )
            self._raise_fault(method, path)
            if method != "GET":
                raise ArmError(
                    405,
                    "MethodNotAllowed",
                    f"The fake Resource Manager is read-only; {method} {path} is not served.",
                )
            self._check_api_version(path, version)
            return self._route(path, pairs, query), authorized
        except ArmError as err:
            return _Reply(err.status, err.body(), err.headers), authorized
        except _Garbled:
            return _Reply(200, None, {}, raw=_GARBLED_BODY), authorized

    def _authenticate(self, authorization: str | None) -> None:
        challenge = (
            f'Bearer authorization_uri="https://login.microsoftonline.com/{self.tenant_id}", '
            'error="invalid_token", error_description="{}"'
        )
        if not authorization:
            message = "Authentication failed. The 'Authorization' header is missing."
            raise ArmError(
                401, "AuthenticationFailed", message, headers={"WWW-Authenticate": challenge.format(message)}
            )
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            message = "Authentication failed. The 'Authorization' header is provided in an invalid format."
            raise ArmError(
                401, "AuthenticationFailed", message, headers={"WWW-Authenticate": challenge.format(message)}
            )
        if token.strip() != self.token:
            message = "The access token is invalid."
            raise ArmError(
                401,
                "InvalidAuthenticationToken",
                message,
                headers={"WWW-Authenticate": challenge.format(message)},
            )

    def _fault_matches(self, fault: Fault, path: str) -> bool:
        return path.lower().startswith(fault.prefix.lower())

    def _raise_fault(self, method: str, path: str) -> None:
        chosen = self._take_fault(method, path)
        if chosen is None:
            return
        if chosen.garbled:
            raise _Garbled
        code = chosen.code or _DEFAULT_CODES.get(chosen.status, "InternalServerError")
        message = chosen.message or self._default_message(chosen.status, path)
        headers = {"Retry-After": str(chosen.retry_after)} if chosen.retry_after is not None else {}
        raise ArmError(chosen.status, code, message, headers=headers)

    def _default_message(self, status: int, path: str) -> str:
        if status == 403:
            action, scope = _action_and_scope(path)
            oid = self.caller_object_id
            return (
                f"The client '{oid}' with object id '{oid}' does not have authorization to perform action "
                f"'{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, "
                "please refresh your credentials."
            )
        if status == 404:
            return self._not_found(path).message
        if status == 429:
            return "The request is being throttled. Please retry after the number of seconds in Retry-After."
        if status >= 500:
            return "The server encountered an internal error. Please retry the request."
        return "The request failed."

    def _check_api_version(self, path: str, version: str) -> None:
        namespace = _namespace(path)
        accepted = self.api_versions.get(namespace)
        if accepted is not None and version not in accepted:
            kind = _type_in_namespace(path) or namespace
            raise ArmError(
                400,
                "NoRegisteredProviderFound",
                f"No registered resource provider found for API version '{version}' and type '{kind}'. "
                f"The supported api-versions are '{', '.join(sorted(accepted))}'.",
            )

    def _route(self, path: str, pairs: Sequence[tuple[str, str]], query: Mapping[str, str]) -> _Reply:
        clean = "/" + path.strip("/")
        low = clean.lower()
        segments = low.strip("/").split("/") if low != "/" else []
        if segments[-3:] == ["providers", _AUTHZ, "roleassignments"]:
            scope = "/" + "/".join(clean.strip("/").split("/")[:-3])
            return self._role_assignments_list(scope, clean, pairs, query)
        if not segments or segments[0] != "subscriptions":
            raise self._not_found(clean)
        if len(segments) == 1:
            return self._page(list(self._subs.values()), clean, pairs)
        sub = self._require_subscription(segments[1])
        if len(segments) == 2:
            return _Reply(200, copy.deepcopy(sub), {})
        if segments[2:] == _ACTIVITY_LOG:
            return self._activity_log(segments[1], clean, pairs, query)
        if segments[2] == "resourcegroups":
            if len(segments) == 3:
                prefix = f"/subscriptions/{segments[1]}/resourcegroups/"
                groups = [g for key, g in self._rgs.items() if key.startswith(prefix)]
                return self._page(groups, clean, pairs)
            group = self._rgs.get("/" + "/".join(segments[:4]))
            if group is None:
                raise ArmError(
                    404, "ResourceGroupNotFound", f"Resource group '{clean.split('/')[4]}' could not be found."
                )
            if len(segments) == 4:
                return _Reply(200, copy.deepcopy(group), {})
        resource = self._resources.get(low)
        if resource is not None:
            return _Reply(200, _scrub(resource), {})
        members = self._collection(low, segments)
        if members is None:
            raise self._not_found(clean)
        return self._page(members, clean, pairs)

    def _activity_log(self, sub_id: str, path: str, pairs: Sequence[tuple[str, str]],
                      query: Mapping[str, str]) -> _Reply:
        """The estate's ``activityLog`` records of the subscription whose ``eventTimestamp`` the ``$filter``
        keeps (``ge`` and ``le``, both inclusive, as Azure's), oldest first, paged like every list."""
        text = query.get("$filter")
        bounds = dict(_ACTIVITY_FILTER.findall(text or ""))
        if "ge" not in bounds:
            raise ArmError(400, "BadRequest", "The $filter query parameter must name an eventTimestamp range "
                           "(eventTimestamp ge '...' and eventTimestamp le '...').")
        low_bound = _instant(bounds["ge"])
        high_bound = _instant(bounds["le"]) if "le" in bounds else None
        records = [
            r for r in self.estate.get("activityLog", [])
            if str(r.get("subscriptionId", "")).lower() == sub_id
            and low_bound <= _instant(str(r["eventTimestamp"]))
            and (high_bound is None or _instant(str(r["eventTimestamp"])) <= high_bound)
        ]
        records.sort(key=lambda r: _instant(str(r["eventTimestamp"])))
        return self._page(records, path, pairs)

    def _collection(self, low: str, segments: Sequence[str]) -> list[JSON] | None:
        """The members of the collection at ``low``, or None when it is not one."""
        if low in self._children:
            return [self._resources[rid] for rid in self._children[low]]
        if len(segments) == 5 and segments[2] == "providers":
            wanted = f"{segments[3]}/{segments[4]}"
            prefix = f"/subscriptions/{segments[1]}/resourcegroups/"
            return [
                r for rid, r in self._resources.items() if rid.startswith(prefix) and str(r["type"]).lower() == wanted
            ]
        if len(segments) == 7 and segments[2] == "resourcegroups" and segments[4] == "providers":
            return []
        if low.endswith(_DIAGNOSTIC_SETTINGS) and low.removesuffix(_DIAGNOSTIC_SETTINGS) in self._resources:
            return []   # a resource without diagnostic settings
        parent, _, child = low.rpartition("/")
        owner = self._resources.get(parent)
        if owner is not None and child in _KNOWN_CHILDREN.get(str(owner["type"]).lower(), frozenset()):
            return []
        return None

    def _require_subscription(self, sub_id: str) -> JSON:
        sub = self._subs.get(sub_id.lower())
        if sub is None:
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub_id}' could not be found.")
        return sub

    def _not_found(self, path: str) -> ArmError:
        """ResourceNotFound naming the first missing resource along ``path``."""
        segments = path.strip("/").split("/")
        if len(segments) >= 8 and segments[0].lower() == "subscriptions" and segments[4].lower() == "providers":
            missing = segments
            for end in range(8, len(segments) + 1, 2):
                if "/" + "/".join(segments[:end]).lower() not in self._resources:
                    missing = segments[:end]
                    break
            return ArmError(
                404,
                "ResourceNotFound",
                f"The Resource '{'/'.join(missing[5:])}' under resource group '{segments[3]}' was not found. "
                "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
            )
        return ArmError(404, "ResourceNotFound", f"The resource '{path}' was not found.")

    def _page(self, items: Sequence[JSON], path: str, pairs: Sequence[tuple[str, str]]) -> _Reply:
        token_param = "$skip" if _namespace(path) == _ML else "$skiptoken"
        offset = 0
        for key, value in pairs:
            if key.lower() in _SKIP_PARAMS:
                offset = _decode_token(value)
        end = offset + self.page_size
        body: dict[str, JSON] = {"value": [_scrub(item) for item in items[offset:end]]}
        if end < len(items):
            kept = [(k, v) for k, v in pairs if k.lower() not in _SKIP_PARAMS]
            kept.append((token_param, _encode_token(end)))
            query = urlencode(kept, quote_via=quote, safe="$'(),:")
            body["nextLink"] = f"{self.url}{quote(path, safe='/')}?{query}"
        return _Reply(200, body, {})

    # ------------------------------------------------------------------ role assignments

    def _role_assignments_list(
        self, scope: str, path: str, pairs: Sequence[tuple[str, str]], query: Mapping[str, str]
    ) -> _Reply:
        low = scope.lower().rstrip("/") or "/"
        parts = low.strip("/").split("/")
        if parts[0] == "subscriptions" and len(parts) >= 2:
            self._require_subscription(parts[1])
            if len(parts) >= 4 and parts[2] == "resourcegroups" and "/".join(["", *parts[:4]]) not in self._rgs:
                raise ArmError(
                    404, "ResourceGroupNotFound", f"Resource group '{scope.split('/')[4]}' could not be found."
                )
        elif low.startswith(_MG_PREFIX) and low[len(_MG_PREFIX) :] not in self._mg_parent:
            raise ArmError(404, "ManagementGroupNotFound", f"The management group '{scope}' could not be found.")
        at_scope, principal = _parse_role_filter(query.get("$filter"))
        above = self._ancestors(low)
        selected = []
        for assignment in self._role_assignments:
            props = assignment["properties"]
            their_scope = str(props["scope"]).lower().rstrip("/") or "/"
            applies = their_scope in above or (not at_scope and low in self._ancestors(their_scope))
            if applies and (principal is None or str(props["principalId"]).lower() == principal):
                selected.append(assignment)
        return self._page(selected, path, pairs)

    def _mg_chain(self, name: str) -> set[str]:
        chain: set[str] = set()
        current: str | None = name
        while current is not None and current not in chain:
            chain.add(current)
            current = self._mg_parent.get(current)
        return {_MG_PREFIX + group for group in chain}

    def _ancestors(self, scope: str) -> set[str]:
        """Lower-cased scopes at or above ``scope`` (itself included; root is ``/``)."""
        low = scope.lower().rstrip("/") or "/"
        result = {"/", low}
        if low.startswith(_MG_PREFIX):
            return result | self._mg_chain(low[len(_MG_PREFIX) :].split("/")[0])
        parts = low.strip("/").split("/")
        if parts[0] != "subscriptions" or len(parts) < 2:
            return result
        group = self._sub_mg.get(parts[1])
        if group is not None:
            result |= self._mg_chain(group)
        ends = [2]
        if len(parts) >= 4 and parts[2] == "resourcegroups":
            ends.append(4)
        if "providers" in parts:
            ends.extend(range(parts.index("providers") + 4, len(parts) + 1, 2))
        result.update("/" + "/".join(parts[:end]) for end in ends if end <= len(parts))
        return result


def _parse_role_filter(text: str | None) -> tuple[bool, str | None]:
    """``(atScope, principal)`` from a role assignment ``$filter``."""
    if not text:
        return False, None
    at_scope = False
    principal: str | None = None
    for term in _split_and(text):
        compact = term.strip()
        low = compact.lower()
        if low == "atscope()":
            at_scope = True
            continue
        value: str | None = None
        if low.startswith("principalid eq "):
            value = compact[len("principalid eq ") :].strip()
        elif low.startswith("assignedto(") and low.endswith(")"):
            value = compact[len("assignedto(") : -1].strip()
        if value is None or len(value) < 2 or value[0] != "'" or value[-1] != "'":
            raise ArmError(
                400,
                "UnsupportedQuery",
                f"The filter '{text}' is not supported. Supported filters are 'atScope()', "
                "\"principalId eq '{value}'\" and \"assignedTo('{value}')\", optionally joined with 'and'.",
            )
        principal = value[1:-1].lower()
    return at_scope, principal


def _split_and(text: str) -> Iterable[str]:
    parts: list[str] = []
    rest = text
    while True:
        index = rest.lower().find(" and ")
        if index < 0:
            parts.append(rest)
            return parts
        parts.append(rest[:index])
        rest = rest[index + len(" and ") :]


def _namespace(path: str) -> str:
    """Lower-cased provider namespace a path belongs to (the last ``providers/{ns}``)."""
    segments = path.strip("/").lower().split("/")
    for index in range(len(segments) - 2, -1, -1):
        if segments[index] == "providers":
            return segments[index + 1]
    return _RESOURCES


def _type_in_namespace(path: str) -> str:
    segments = path.strip("/").split("/")
    lowered = [s.lower() for s in segments]
    if "providers" not in lowered:
        return ""
    index = len(lowered) - 1 - lowered[::-1].index("providers")
    return "/".join(segments[index + 2 :: 2])


def _action_and_scope(path: str) -> tuple[str, str]:
    """The ARM action a GET of ``path`` needs and the scope it is checked at."""
    segments = path.strip("/").split("/")
    lowered = [s.lower() for s in segments]
    if "providers" not in lowered:
        if len(segments) <= 2:
            return "Microsoft.Resources/subscriptions/read", "/" + "/".join(segments[:2])
        return "Microsoft.Resources/subscriptions/resourceGroups/read", "/" + "/".join(segments[:4])
    index = len(lowered) - 1 - lowered[::-1].index("providers")
    tail = segments[index + 1 :]
    action = "/".join([tail[0], *tail[1::2], "read"])
    if len(tail) % 2:  # ends with a resource name: the resource itself
        scope_segments = segments
    elif len(tail) == 2:  # a top-level collection: its resource group or subscription
        scope_segments = segments[:index]
    else:  # a child collection: its parent resource
        scope_segments = segments[:-1]
    return action, "/" + "/".join(scope_segments)


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m aispm.testing.fake_arm``: serve an estate until interrupted."""
    parser = argparse.ArgumentParser(description="Serve an Azure estate as a fake Resource Manager on 127.0.0.1.")
    parser.add_argument("--estate", type=Path, default=DEMO_ESTATE_PATH, help="estate JSON file")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: any free port)")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="bearer token to accept")
    parser.add_argument("--page-size", type=int, default=2)
    parser.add_argument("--tls", action="store_true", help="serve https with a certificate from a new local CA")
    args = parser.parse_args(argv)
    fake = FakeArm.from_file(args.estate, token=args.token, page_size=args.page_size, tls=args.tls, port=args.port)
    with fake:
        info = {"url": fake.url, "token": fake.token}
        if args.tls:
            info["ca_cert"] = str(fake.ca_cert_path)
        print(json.dumps(info), flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

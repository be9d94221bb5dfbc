"""Azure test building blocks: a test credential, the plain-http test policy, real SDK clients bound to the
fake Resource Manager, the real collector bound to it, and small estates.

The fixtures built on these (``estate``, ``fake_arm``, ``arm_client``) live in tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import pytest
from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.core.rest import HttpRequest, HttpResponse
from azure.mgmt.machinelearningservices import MachineLearningServicesMgmtClient

from aispm.collectors.azure.arm import ArmSettings
from aispm.collectors.azure.collector import AzureCollector
from aispm.collectors.base import CollectResult
from aispm.normalizer import normalize, normalize_identities
from aispm.rules.engine import EngineResult, evaluate
from aispm.rules.policy import Policy
from aispm.testing.fake_arm import FakeArm

ML_API = "2025-12-01"
"""api-version of Microsoft.MachineLearningServices the estate's shapes belong to."""
AUTHZ_API = "2022-04-01"
"""api-version for Microsoft.Authorization role assignments."""
SUBSCRIPTIONS_API = "2022-12-01"
"""api-version for subscriptions and resource groups."""
TEST_TOKEN = "aispm-test-token"

AMBIENT_ENV = (   # hidden from every test (tests/conftest.py)
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_USERNAME",
    "AZURE_PASSWORD",
    "AZURE_TOKEN_CREDENTIALS",
    "IDENTITY_ENDPOINT",
    "MSI_ENDPOINT",
    "AISPM_AZURE_ARM_ENDPOINT",
    "REQUESTS_CA_BUNDLE",
    "SSL_CERT_FILE",
)


class StaticTokenCredential:
    """A ``TokenCredential`` for tests: always the same token; records the scopes asked for."""

    def __init__(self, token: str = TEST_TOKEN, lifetime_seconds: int = 3600) -> None:
        self.token = token
        self.lifetime_seconds = lifetime_seconds
        self.scopes: list[tuple[str, ...]] = []

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + self.lifetime_seconds)

    def get_token_info(self, *scopes: str, options: TokenRequestOptions | None = None) -> AccessTokenInfo:
        self.scopes.append(scopes)
        return AccessTokenInfo(self.token, int(time.time()) + self.lifetime_seconds)


class AllowPlainHttpForTests(SansIOHTTPPolicy[Any, Any]):
    """Tests only: lets the bearer-token policy send to an ``http://`` fake.

    azure-core refuses bearer tokens over plain http; this per-call policy marks
    each request so it may.  Never use it outside tests (use ``FakeArm(tls=True)``
    with certificate verification instead where https matters).
    """

    def on_request(self, request: PipelineRequest[Any]) -> None:
        request.context["enforce_https"] = False


class _Client(Protocol):
    def _send_request(self, request: HttpRequest, *, stream: bool = False, **kwargs: Any) -> HttpResponse: ...


def make_arm_client(
    fake: FakeArm,
    *,
    token: str | None = None,
    credential: Any = None,
    subscription_id: str | None = None,
    **kwargs: Any,
) -> MachineLearningServicesMgmtClient:
    """A real management client (the whole ARM pipeline) bound to ``fake``.

    Plain http gets :class:`AllowPlainHttpForTests`; with ``FakeArm(tls=True)`` pass
    ``connection_verify=str(fake.ca_cert_path)`` instead.  Extra keyword arguments go
    to the client (``retry_total=0``, ``per_call_policies=...``).
    """
    if credential is None:
        credential = StaticTokenCredential(token if token is not None else fake.token)
    if subscription_id is None:
        subscription_id = str(fake.estate["subscriptions"][0]["subscriptionId"])
    per_call = list(kwargs.pop("per_call_policies", []))
    if fake.url.startswith("http://"):
        per_call.append(AllowPlainHttpForTests())
    return MachineLearningServicesMgmtClient(
        credential,
        subscription_id,
        base_url=fake.url,
        credential_scopes=[f"{fake.url}/.default"],
        per_call_policies=per_call,
        **kwargs,
    )


def arm_get(client: _Client, url: str, params: Mapping[str, str] | None = None) -> HttpResponse:
    """GET ``url`` (a path, or an absolute nextLink) through the client's pipeline.

    ``api-version`` defaults to :data:`ML_API` unless the url or ``params`` carry one.
    """
    query = dict(params or {})
    if "api-version=" not in url and "api-version" not in query:
        query["api-version"] = ML_API
    return client._send_request(HttpRequest("GET", url, params=query))


def arm_list(client: _Client, url: str, params: Mapping[str, str] | None = None) -> tuple[list[dict[str, Any]], int]:
    """Every item of an ARM list, following ``nextLink``; also the number of pages read."""
    items: list[dict[str, Any]] = []
    pages = 0
    next_url: str | None = url
    first = True
    while next_url:
        response = arm_get(client, next_url, params if first else None)
        response.raise_for_status()
        body = response.json()
        items.extend(body["value"])
        pages += 1
        next_url = body.get("nextLink")
        first = False
    return items, pages


SUB = "11111111-2222-4333-8444-555555555555"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-test"
ML = f"{RG}/providers/Microsoft.MachineLearningServices"
ML_VERSIONS = {"Microsoft.MachineLearningServices": ["2025-12-01"]}


def fake_az(bin_dir: Path, token: str, *, error: str | None = None, wait_for: Path | None = None) -> Path:
    """An ``az`` in ``bin_dir`` that answers ``az account get-access-token`` as the Azure CLI does, so the real
    ``DefaultAzureCredential`` (``AZURE_TOKEN_CREDENTIALS=AzureCliCredential``) gets ``token`` with no identity
    endpoint involved. ``error``: it fails with that text instead; ``wait_for``: it first waits for that file.
    Returns the file each call's arguments are appended to (one JSON list a line)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    calls = bin_dir / "az.calls"
    script = bin_dir / "az"
    script.write_text(f"""#!{sys.executable} -S
import json, os, sys, time
with open({str(calls)!r}, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
wait_for = {str(wait_for) if wait_for else None!r}
while wait_for and not os.path.exists(wait_for):
    time.sleep(0.05)
error = {error!r}
if error:
    sys.stderr.write(error)
    sys.exit(1)
print(json.dumps({{"accessToken": {token!r}, "expires_on": int(time.time()) + 3600, "tokenType": "Bearer"}}))
""")
    script.chmod(0o755)
    return calls


def az_calls(calls: Path) -> list[list[str]]:
    """The argument lists the :func:`fake_az` was called with."""
    return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []


def scan_env(monkeypatch: pytest.MonkeyPatch, fake: FakeArm, bin_dir: Path) -> Path:
    """The environment a real ``aispm scan --provider azure`` needs to read ``fake`` (served with ``tls=True``):
    its endpoint, its CA trusted, and ``DefaultAzureCredential`` limited to the Azure CLI credential, answered
    by :func:`fake_az` with the fake's token. Returns the az call log."""
    monkeypatch.setenv("AISPM_AZURE_ARM_ENDPOINT", fake.url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca_cert_path))
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential")
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ.get('PATH', '')}")
    return fake_az(bin_dir, fake.token)


def collector(fake: FakeArm, credential: Any = None, **settings: Any) -> AzureCollector:
    """The real collector on ``fake`` (plain http needs the test-only policy); fast retries."""
    settings.setdefault("retry_backoff_factor", 0.01)
    return AzureCollector(
        subscriptions=tuple(settings.pop("subscriptions", ())),
        settings=ArmSettings(
            endpoint=fake.url,
            credential=credential or StaticTokenCredential(fake.token),
            per_call_policies=(AllowPlainHttpForTests(),),
            **settings,
        ),
    )


def collect_all(fake: FakeArm, **settings: Any) -> list[CollectResult]:
    c = collector(fake, **settings)
    units, errors = c.plan()
    assert errors == []
    return [c.collect(u) for u in units]


def outcomes(results: list[CollectResult], required_tags: tuple[str, ...] = ()) -> dict[tuple[str, str], str]:
    """(resource uid, rule id) -> 'Pass' / 'Fail' / 'Error' over every unit, through mapper and engine."""
    out: dict[tuple[str, str], str] = {}
    for r in results:
        engine: EngineResult = evaluate(
            normalize("azure", r.records),
            {i.uid: i for i in normalize_identities("azure", r.identities)},
            Policy(required_tags=list(required_tags)),
        )
        for ev in engine.evaluations:
            out[(ev.asset.uid, ev.rule.id)] = ev.status.capitalize()
    return out


def estate(resources: list[dict[str, Any]], role_assignments: list[dict[str, Any]] | None = None,
           subscriptions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "tenantId": "99999999-8888-4777-8666-555555555555",
        "apiVersions": ML_VERSIONS,
        "subscriptions": subscriptions or [{"subscriptionId": SUB, "displayName": "test", "state": "Enabled"}],
        "resources": resources,
        "roleAssignments": role_assignments or [],
    }


def assignment(principal: str, role_guid: str, scope: str, name: str) -> dict[str, Any]:
    return {
        "id": f"{scope.rstrip('/')}/providers/Microsoft.Authorization/roleAssignments/{name}",
        "name": name,
        "type": "Microsoft.Authorization/roleAssignments",
        "properties": {
            "roleDefinitionId": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{role_guid}",
            "principalId": principal,
            "principalType": "ServicePrincipal",
            "scope": scope,
        },
    }

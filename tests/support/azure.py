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
from aispm.collectors.azure.storage import STORAGE_API
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
COGNITIVE = f"{RG}/providers/Microsoft.CognitiveServices"
COGNITIVE_API = "2025-12-01"
"""api-version of Microsoft.CognitiveServices the Azure AI Services shapes belong to."""
INSIGHTS_API = "2021-05-01-preview"
"""api-version of Microsoft.Insights diagnostic settings."""
AI_VERSIONS = {**ML_VERSIONS, "Microsoft.CognitiveServices": [COGNITIVE_API], "Microsoft.Insights": [INSIGHTS_API]}
STORAGE_VERSIONS = {**ML_VERSIONS, "Microsoft.Storage": [STORAGE_API]}
STORAGE = f"{RG}/providers/Microsoft.Storage"


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
           subscriptions: list[dict[str, Any]] | None = None,
           api_versions: Mapping[str, list[str]] = ML_VERSIONS) -> dict[str, Any]:
    return {
        "tenantId": "99999999-8888-4777-8666-555555555555",
        "apiVersions": dict(api_versions),
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


# --------------------------------------------------------------------------- Azure AI Services wire shapes
# As the Microsoft.CognitiveServices 2025-12-01 and Microsoft.Insights 2021-05-01-preview REST references
# return them (accounts, accounts/deployments, accounts/raiPolicies, accounts/projects, diagnosticSettings).


def ai_account(name: str, kind: str = "OpenAI", identity: dict[str, Any] | None = None,
               **properties: Any) -> dict[str, Any]:
    """A ``Microsoft.CognitiveServices/accounts`` resource; ``properties`` are set as given (absent: defaults)."""
    rid = f"{COGNITIVE}/accounts/{name}"
    return {
        "id": rid, "name": name, "type": "Microsoft.CognitiveServices/accounts", "location": "eastus", "kind": kind,
        "sku": {"name": "S0"}, "tags": {"owner": "ai@contoso.example"},
        **({"identity": identity} if identity else {}),
        "systemData": {"createdAt": "2025-03-01T10:00:00Z", "createdByType": "User"},
        "properties": {"endpoint": f"https://{name}.openai.azure.com/", "customSubDomainName": name,
                       "provisioningState": "Succeeded", **properties},
    }


def ai_deployment(account: str, name: str, rai_policy: str | None = None, model: str = "gpt-4o") -> dict[str, Any]:
    """A model deployment of ``account``; ``rai_policy`` None leaves ``raiPolicyName`` out."""
    props: dict[str, Any] = {"model": {"format": "OpenAI", "name": model, "version": "2024-11-20"},
                             "versionUpgradeOption": "OnceNewDefaultVersionAvailable", "provisioningState": "Succeeded"}
    if rai_policy is not None:
        props["raiPolicyName"] = rai_policy
    return {"id": f"{COGNITIVE}/accounts/{account}/deployments/{name}", "name": name,
            "type": "Microsoft.CognitiveServices/accounts/deployments",
            "sku": {"name": "GlobalStandard", "capacity": 10}, "properties": props}


def content_filter(name: str, source: str, enabled: bool = True, blocking: bool = True) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "enabled": enabled, "blocking": blocking, "source": source}
    if name in ("Hate", "Sexual", "Violence", "Selfharm"):
        entry["severityThreshold"] = "Medium"
    return entry


def strong_filters() -> list[dict[str, Any]]:
    """Jailbreak, and Hate, Sexual, Violence and Selfharm on prompts and completions, all enabled and blocking."""
    return [content_filter("Jailbreak", "Prompt")] + [
        content_filter(kind, side) for kind in ("Hate", "Sexual", "Violence", "Selfharm")
        for side in ("Prompt", "Completion")]


def rai_policy(account: str, name: str, filters: list[dict[str, Any]], mode: str = "Blocking") -> dict[str, Any]:
    return {"id": f"{COGNITIVE}/accounts/{account}/raiPolicies/{name}", "name": name,
            "type": "Microsoft.CognitiveServices/accounts/raiPolicies",
            "properties": {"type": "UserManaged", "mode": mode, "basePolicyName": "Microsoft.DefaultV2",
                           "contentFilters": filters}}


def diagnostic_setting(account: str, name: str, logs: list[dict[str, Any]]) -> dict[str, Any]:
    """A diagnostic setting of ``account`` sending ``logs`` (entries with category or categoryGroup) to Log
    Analytics."""
    return {"id": f"{COGNITIVE}/accounts/{account}/providers/Microsoft.Insights/diagnosticSettings/{name}",
            "name": name, "type": "Microsoft.Insights/diagnosticSettings",
            "properties": {"workspaceId": f"{RG}/providers/Microsoft.OperationalInsights/workspaces/law-test",
                           "logs": [{"categoryGroup": None, "category": None, "enabled": True,
                                     "retentionPolicy": {"enabled": False, "days": 0}, **e} for e in logs],
                           "metrics": [{"category": "AllMetrics", "enabled": True,
                                        "retentionPolicy": {"enabled": False, "days": 0}}]}}


OWNER_ROLE = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR_ROLE = "b24988ac-6180-42a0-ab88-20f7382dd24c"
AI_PRINCIPALS = {   # principal ids of the identities in ai_estate()
    "locked": "a0000000-0000-4000-8000-000000000001",
    "acl-uai": "a0000000-0000-4000-8000-000000000002",
    "proj-admin": "a0000000-0000-4000-8000-000000000003",
    "proj-plain": "a0000000-0000-4000-8000-000000000004",
}


def ai_estate() -> dict[str, Any]:
    """Every Azure AI Services rule line's Pass, Fail and absent-field default (see ``AI_EXPECTED``), with lists
    longer than a page of two: three accounts, six deployments and five content filter policies on one account."""
    uai = f"{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uai-acl"
    weak = [f for f in strong_filters() if (f["name"], f["source"]) != ("Violence", "Completion")]
    weak[0] = content_filter("Jailbreak", "Prompt", blocking=False)
    off = [{**f, "enabled": False, "blocking": False} for f in strong_filters()]
    resources = [
        ai_account("oai-locked", identity={"type": "SystemAssigned", "principalId": AI_PRINCIPALS["locked"]},
                   publicNetworkAccess="Disabled", disableLocalAuth=True,
                   encryption={"keySource": "Microsoft.KeyVault", "keyVaultProperties": {
                       "keyName": "cmk", "keyVersion": "1", "keyVaultUri": "https://kv-test.vault.azure.net/"}}),
        ai_account("ais-acl", kind="AIServices", identity={"type": "UserAssigned", "userAssignedIdentities": {
                       uai: {"principalId": AI_PRINCIPALS["acl-uai"],
                             "clientId": "c0000000-0000-4000-8000-000000000002"}}},
                   publicNetworkAccess="Enabled", networkAcls={"defaultAction": "Deny", "ipRules": [],
                                                               "virtualNetworkRules": []},
                   encryption={"keySource": "Microsoft.CognitiveServices"}, disableLocalAuth=False,
                   allowProjectManagement=True),
        ai_account("lang-bare", kind="TextAnalytics"),
        *(ai_deployment("oai-locked", name, policy) for name, policy in (
            ("d-none", None), ("d-default", "Microsoft.DefaultV2"), ("d-strong", "strong"), ("d-weak", "weak"),
            ("d-off", "off"), ("d-ghost", "ghost"))),
        rai_policy("oai-locked", "Microsoft.Default", strong_filters(), mode="Default"),
        rai_policy("oai-locked", "Microsoft.DefaultV2", strong_filters(), mode="Default"),
        rai_policy("oai-locked", "strong", strong_filters()),
        rai_policy("oai-locked", "weak", weak),
        rai_policy("oai-locked", "off", off),
        {"id": f"{COGNITIVE}/accounts/ais-acl/projects/p-admin", "name": "p-admin", "location": "eastus",
         "type": "Microsoft.CognitiveServices/accounts/projects",
         "identity": {"type": "SystemAssigned", "principalId": AI_PRINCIPALS["proj-admin"]},
         "properties": {"displayName": "Admin project", "isDefault": True, "provisioningState": "Succeeded"}},
        {"id": f"{COGNITIVE}/accounts/ais-acl/projects/p-plain", "name": "p-plain", "location": "eastus",
         "type": "Microsoft.CognitiveServices/accounts/projects",
         "identity": {"type": "SystemAssigned", "principalId": AI_PRINCIPALS["proj-plain"]},
         "properties": {"displayName": "Plain project", "provisioningState": "Succeeded"}},
        diagnostic_setting("oai-locked", "to-law", [{"category": "Audit"}, {"category": "Trace", "enabled": False}]),
        diagnostic_setting("ais-acl", "all-logs", [{"categoryGroup": "allLogs"}]),
    ]
    roles = [assignment(AI_PRINCIPALS["acl-uai"], OWNER_ROLE, f"/subscriptions/{SUB}", "r-acl-owner"),
             assignment(AI_PRINCIPALS["proj-admin"], CONTRIBUTOR_ROLE, RG, "r-proj-contrib")]
    return estate(resources, roles, api_versions=AI_VERSIONS)


def ai_uid(path: str) -> str:
    return f"{COGNITIVE}/accounts/{path}"


AI_EXPECTED: dict[tuple[str, str], str] = {
    # NET-003: Disabled -> Pass; Enabled but ACLs deny by default -> Pass; absent (Enabled, Allow) -> Fail.
    (ai_uid("oai-locked"), "AISPM-NET-003"): "Pass",
    (ai_uid("ais-acl"), "AISPM-NET-003"): "Pass",
    (ai_uid("lang-bare"), "AISPM-NET-003"): "Fail",
    # ENC-001: Microsoft.KeyVault -> Pass; Microsoft.CognitiveServices or absent -> Fail.
    (ai_uid("oai-locked"), "AISPM-ENC-001"): "Pass",
    (ai_uid("ais-acl"), "AISPM-ENC-001"): "Fail",
    (ai_uid("lang-bare"), "AISPM-ENC-001"): "Fail",
    # IAM-003: disableLocalAuth true -> Pass; false or absent -> Fail.
    (ai_uid("oai-locked"), "AISPM-IAM-003"): "Pass",
    (ai_uid("ais-acl"), "AISPM-IAM-003"): "Fail",
    (ai_uid("lang-bare"), "AISPM-IAM-003"): "Fail",
    # IAM-001: no grant -> Pass; Owner at the subscription (user-assigned) or Contributor on the group -> Fail;
    # no identity -> Pass.
    (ai_uid("oai-locked"), "AISPM-IAM-001"): "Pass",
    (ai_uid("ais-acl"), "AISPM-IAM-001"): "Fail",
    (ai_uid("lang-bare"), "AISPM-IAM-001"): "Pass",
    (ai_uid("ais-acl/projects/p-admin"), "AISPM-IAM-001"): "Fail",
    (ai_uid("ais-acl/projects/p-plain"), "AISPM-IAM-001"): "Pass",
    # LOG-003: an enabled Audit category or allLogs group -> Pass; no diagnostic setting -> Fail.
    (ai_uid("oai-locked"), "AISPM-LOG-003"): "Pass",
    (ai_uid("ais-acl"), "AISPM-LOG-003"): "Pass",
    (ai_uid("lang-bare"), "AISPM-LOG-003"): "Fail",
    # GAI-001 / GAI-002: no policy or a platform default -> Pass; strong -> Pass, Pass; weak -> Pass, Fail;
    # every filter disabled -> Fail, Fail; a custom policy the account does not hold -> Error, nothing.
    (ai_uid("oai-locked/deployments/d-none"), "AISPM-GAI-001"): "Pass",
    (ai_uid("oai-locked/deployments/d-none"), "AISPM-GAI-002"): "Pass",
    (ai_uid("oai-locked/deployments/d-default"), "AISPM-GAI-001"): "Pass",
    (ai_uid("oai-locked/deployments/d-default"), "AISPM-GAI-002"): "Pass",
    (ai_uid("oai-locked/deployments/d-strong"), "AISPM-GAI-001"): "Pass",
    (ai_uid("oai-locked/deployments/d-strong"), "AISPM-GAI-002"): "Pass",
    (ai_uid("oai-locked/deployments/d-weak"), "AISPM-GAI-001"): "Pass",
    (ai_uid("oai-locked/deployments/d-weak"), "AISPM-GAI-002"): "Fail",
    (ai_uid("oai-locked/deployments/d-off"), "AISPM-GAI-001"): "Fail",
    (ai_uid("oai-locked/deployments/d-off"), "AISPM-GAI-002"): "Fail",
    (ai_uid("oai-locked/deployments/d-ghost"), "AISPM-GAI-001"): "Error",
}


# --------------------------------------------------------------------------- provenance wire shapes
# A Microsoft.Storage/storageAccounts GET (REST reference, api-version STORAGE_API) and the Machine Learning
# datastores and online deployments that lead to storage accounts and registered models.


def storage_account(name: str, allow_public: bool | None, group: str = RG) -> dict[str, Any]:
    """A StorageV2 account; ``allow_public`` None leaves ``allowBlobPublicAccess`` out (Azure: false)."""
    props: dict[str, Any] = {
        "provisioningState": "Succeeded", "isHnsEnabled": False, "supportsHttpsTrafficOnly": True,
        "minimumTlsVersion": "TLS1_2", "accessTier": "Hot", "primaryLocation": "eastus",
        "primaryEndpoints": {"blob": f"https://{name}.blob.core.windows.net/",
                             "dfs": f"https://{name}.dfs.core.windows.net/"},
        "networkAcls": {"bypass": "AzureServices", "virtualNetworkRules": [], "ipRules": [], "defaultAction": "Allow"},
        "encryption": {"keySource": "Microsoft.Storage", "services": {"blob": {"enabled": True, "keyType": "Account"}}},
    }
    if allow_public is not None:
        props["allowBlobPublicAccess"] = allow_public
    return {"id": f"{group}/providers/Microsoft.Storage/storageAccounts/{name}", "name": name,
            "type": "Microsoft.Storage/storageAccounts", "location": "eastus", "kind": "StorageV2",
            "sku": {"name": "Standard_LRS", "tier": "Standard"}, "tags": {}, "properties": props}


def datastore(workspace: str, name: str, account: str, datastore_type: str = "AzureBlob",
              **properties: Any) -> dict[str, Any]:
    """A credential-less datastore of ``workspace`` (an id) on ``account``; ``properties`` are added as given."""
    props: dict[str, Any] = {"datastoreType": datastore_type, "accountName": account, "endpoint": "core.windows.net",
                             "protocol": "https", "credentials": {"credentialsType": "None"}, "isDefault": False,
                             "tags": {}, "properties": {}}
    if datastore_type == "AzureBlob":
        props["containerName"] = f"{name}-data"
    elif datastore_type == "AzureDataLakeGen2":
        props["filesystem"] = f"{name}-fs"
    props.update(properties)
    return {"id": f"{workspace}/datastores/{name}", "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces/datastores", "properties": props}


def online_deployment(endpoint: str, name: str, model: str | None, compute: str = "Managed") -> dict[str, Any]:
    """An online deployment of ``endpoint`` (an id); ``model`` None leaves ``properties.model`` out."""
    props: dict[str, Any] = {"endpointComputeType": compute, "instanceType": "Standard_DS3_v2",
                             "provisioningState": "Succeeded", "appInsightsEnabled": True}
    if model is not None:
        props["model"] = model
    return {"id": f"{endpoint}/deployments/{name}", "name": name, "location": "eastus",
            "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
            "sku": {"name": "Default", "capacity": 2}, "properties": props}

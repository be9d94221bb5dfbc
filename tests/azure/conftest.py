"""Shared pieces for Azure tests: a test credential, the plain-http test policy, the fake
Resource Manager and real Azure SDK clients bound to it.

Nothing here may leave 127.0.0.1: the suite's network guard (pytest-socket, loopback only)
refuses anything else, ambient Azure credentials are hidden, and no test builds
``DefaultAzureCredential``.

Reuse from other test modules: the fixtures below, or the helpers with
``from tests.azure.conftest import StaticTokenCredential, make_arm_client, arm_get, arm_list``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import pytest
from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.core.rest import HttpRequest, HttpResponse
from azure.mgmt.machinelearningservices import MachineLearningServicesMgmtClient

from aispm.testing.fake_arm import FakeArm, demo_estate

ML_API = "2025-12-01"
"""api-version of Microsoft.MachineLearningServices the estate's shapes belong to."""
AUTHZ_API = "2022-04-01"
"""api-version for Microsoft.Authorization role assignments."""
SUBSCRIPTIONS_API = "2022-12-01"
"""api-version for subscriptions and resource groups."""
TEST_TOKEN = "aispm-test-token"

_HIDDEN_ENV = (
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


@pytest.fixture(autouse=True)
def _no_ambient_azure_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the machine's Azure credentials, identity endpoints or CA bundles."""
    for name in _HIDDEN_ENV:
        monkeypatch.delenv(name, raising=False)


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


@pytest.fixture
def estate() -> dict[str, Any]:
    """A fresh copy of the shipped Azure demo estate."""
    return demo_estate()


@pytest.fixture
def fake_arm(estate: dict[str, Any]) -> Iterator[FakeArm]:
    """The demo estate served over http on an ephemeral port, two items per page."""
    with FakeArm(estate, token=TEST_TOKEN, page_size=2) as fake:
        yield fake


@pytest.fixture
def arm_client(fake_arm: FakeArm) -> MachineLearningServicesMgmtClient:
    """A real ``MachineLearningServicesMgmtClient`` bound to :func:`fake_arm`."""
    return make_arm_client(fake_arm)

"""Fixtures for GCP tests: the fake Google API server and real REST clients bound to it.

Nothing here may leave 127.0.0.1: the metadata-server probe is disabled, ambient
Google credentials are hidden, and the suite's network guard (pytest-socket,
loopback only) refuses anything else.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials, Credentials

from aispm.testing.fake_google import FakeGoogle

os.environ["NO_GCE_CHECK"] = "true"

ClientT = TypeVar("ClientT")
ClientFactory = Callable[..., Any]

_HIDDEN_ENV = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_PROJECT",
    "GCLOUD_PROJECT",
    "CLOUDSDK_CONFIG",
    "GOOGLE_API_USE_CLIENT_CERTIFICATE",
    "GOOGLE_API_USE_MTLS_ENDPOINT",
)


def anonymous_credentials() -> Credentials:
    """Credentials that send no Authorization header and never touch the network."""
    return cast(Callable[[], Credentials], AnonymousCredentials)()


@pytest.fixture(autouse=True)
def _google_offline_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per test: no metadata probe, no ambient Google credentials."""
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    for name in _HIDDEN_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake_google() -> Iterator[FakeGoogle]:
    """The demo estate served on an ephemeral port, two items per page."""
    with FakeGoogle(page_size=2) as fake:
        yield fake


@pytest.fixture
def google_client(fake_google: FakeGoogle) -> ClientFactory:
    """``google_client(ServiceClient, credentials=None)``: a REST client bound to the fake.

    Works for any GAPIC client class (``aiplatform_v1.EndpointServiceClient``,
    ``resourcemanager_v3.ProjectsClient``...).  Credentials default to
    ``AnonymousCredentials`` (no Authorization header).
    """

    def make(client_class: Callable[..., ClientT], credentials: Credentials | None = None) -> ClientT:
        return client_class(
            transport="rest",
            credentials=credentials if credentials is not None else anonymous_credentials(),
            client_options=ClientOptions(api_endpoint=fake_google.url),
        )

    return make


@pytest.fixture
def projects_client(google_client: ClientFactory) -> Any:
    """``resourcemanager_v3.ProjectsClient`` bound to the fake."""
    from google.cloud import resourcemanager_v3

    return google_client(resourcemanager_v3.ProjectsClient)

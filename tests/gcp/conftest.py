"""Fixtures for GCP tests: the fake Google API server and real REST clients bound to it.

Nothing here may leave 127.0.0.1: the metadata-server probe is disabled, ambient
Google credentials are hidden, and every socket connect to a non-loopback
address fails before any packet is sent.
"""

from __future__ import annotations

import ipaddress
import os
import socket
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


class NonLoopbackConnection(RuntimeError):
    """A test tried to open a connection beyond 127.0.0.1."""


def _check_address(sock: socket.socket, address: Any) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    host = address[0] if isinstance(address, tuple) else address
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise NonLoopbackConnection(f"connection to {address!r} refused: tests stay on loopback")


def anonymous_credentials() -> Credentials:
    """Credentials that send no Authorization header and never touch the network."""
    return cast(Callable[[], Credentials], AnonymousCredentials)()


@pytest.fixture(autouse=True)
def _google_offline_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per test: no metadata probe, no ambient Google credentials, loopback-only sockets."""
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    for name in _HIDDEN_ENV:
        monkeypatch.delenv(name, raising=False)
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        _check_address(self, address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check_address(self, address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


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

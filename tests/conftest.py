"""Suite-wide safety: every SDK stays on 127.0.0.1 with dummy credentials; and the fixtures several test
packages share (each package's own fixtures live in its conftest; helpers live in tests/support).

Connections beyond loopback are refused by pytest-socket (``--allow-hosts`` in pyproject's addopts); no test
sees the machine's Azure or Google credentials, identity endpoints or CA bundles, and no test builds
``DefaultAzureCredential``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import pytest
from azure.mgmt.machinelearningservices import MachineLearningServicesMgmtClient
from google.api_core.client_options import ClientOptions
from google.auth.credentials import Credentials
from pytest_socket import SocketBlockedError

from aispm.testing import moto_gaps
from aispm.testing.fake_arm import FakeArm, demo_estate
from aispm.testing.fake_google import FakeGoogle
from tests.support import azure, gcp

for _key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "GOOGLE_APPLICATION_CREDENTIALS", "AZURE_CLIENT_ID",
             "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AISPM_AZURE_ARM_ENDPOINT", "AISPM_GCP_ENDPOINT"):
    os.environ.pop(_key, None)
os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "NO_GCE_CHECK": "true",
    "GCE_METADATA_HOST": "127.0.0.1:9",
    "GCE_METADATA_IP": "127.0.0.1:9",
})


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own finding lifecycle state (the default lives under XDG_STATE_HOME)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))
    for key in ("AISPM_STATE_TABLE", "AISPM_DEAD_LETTER_QUEUE_URL"):
        monkeypatch.delenv(key, raising=False)


def _resolved_locally(host: Any) -> bool:
    """Loopback names and address literals never reach a DNS server (the connect guard judges addresses)."""
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if host in (None, "", "localhost"):
        return True
    try:
        ipaddress.ip_address(str(host).split("%")[0])
    except ValueError:
        return False
    return True


@pytest.fixture(autouse=True)
def _moto_gaps() -> Iterator[None]:
    """moto, taught the SageMaker and Bedrock calls it lacks (empty unless a test seeds them), so that a
    whole region stays readable; tests of those calls' wire handling use botocore's Stubber."""
    moto_gaps.install()
    yield
    moto_gaps.reset()


@pytest.fixture(autouse=True)
def _no_ambient_cloud_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per test: no Azure or Google credentials, identity endpoints, CA bundles or metadata probe of the machine."""
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    for name in (*azure.AMBIENT_ENV, *gcp.AMBIENT_ENV):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _loopback_names_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest-socket's host list guards connections, not name lookups, and this machine's resolver is not on
    loopback: looking up any other name fails too, before a query is sent."""
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _resolved_locally(host):
            raise SocketBlockedError(f"A test tried to look up {host!r}: tests stay on loopback")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


HEC_TOKEN = "3d1c0e4b-7f2a-4b8e-9a0c-5e6f7a8b9c0d"


@pytest.fixture
def sagemaker() -> Iterator[Any]:
    """moto with the SageMaker execution role ``exec``; yields a function that creates notebook instances
    ``(names, region="us-east-1")`` and returns that region's SageMaker client."""
    import json

    import boto3
    from moto import mock_aws

    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "sagemaker.amazonaws.com"}}]}
    with mock_aws():
        role = boto3.client("iam", region_name="us-east-1").create_role(
            RoleName="exec", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]

        def notebooks(names: Sequence[str] = (), region: str = "us-east-1") -> Any:
            sm = boto3.client("sagemaker", region_name=region)
            for name in names:
                sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=role)
            return sm

        notebooks.role = role  # type: ignore[attr-defined]
        yield notebooks


@pytest.fixture
def hec(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The HEC test server, with the splunk sink's settings pointing at it and fast, short retries."""
    from aispm.testing.hec import FakeHec

    with FakeHec(HEC_TOKEN) as fake:
        monkeypatch.setenv("AISPM_SPLUNK_HEC_URL", fake.url)
        monkeypatch.setenv("AISPM_SPLUNK_HEC_TOKEN", HEC_TOKEN)
        monkeypatch.setenv("AISPM_SPLUNK_RETRY_BASE_SECONDS", "0.001")
        monkeypatch.setenv("AISPM_SPLUNK_MAX_ATTEMPTS", "2")
        yield fake


# --- Azure: the fake Resource Manager and a real SDK client bound to it ---------------------------------------


@pytest.fixture
def estate() -> dict[str, Any]:
    """A fresh copy of the shipped Azure demo estate."""
    return demo_estate()


@pytest.fixture
def fake_arm(estate: dict[str, Any]) -> Iterator[FakeArm]:
    """The demo estate served over http on an ephemeral port, two items per page."""
    with FakeArm(estate, token=azure.TEST_TOKEN, page_size=2) as fake:
        yield fake


@pytest.fixture
def arm_client(fake_arm: FakeArm) -> MachineLearningServicesMgmtClient:
    """A real ``MachineLearningServicesMgmtClient`` bound to :func:`fake_arm`."""
    return azure.make_arm_client(fake_arm)


# --- GCP: the fake Google API server and real REST clients bound to it -----------------------------------------

ClientT = TypeVar("ClientT")


@pytest.fixture
def fake_google() -> Iterator[FakeGoogle]:
    """The demo estate served on an ephemeral port, two items per page."""
    with FakeGoogle(page_size=2) as fake:
        yield fake


@pytest.fixture
def google_client(fake_google: FakeGoogle) -> gcp.ClientFactory:
    """``google_client(ServiceClient, credentials=None)``: a REST client bound to the fake.

    Works for any GAPIC client class (``aiplatform_v1.EndpointServiceClient``,
    ``resourcemanager_v3.ProjectsClient``...).  Credentials default to
    ``AnonymousCredentials`` (no Authorization header).
    """

    def make(client_class: Callable[..., ClientT], credentials: Credentials | None = None) -> ClientT:
        return client_class(
            transport="rest",
            credentials=credentials if credentials is not None else gcp.anonymous_credentials(),
            client_options=ClientOptions(api_endpoint=fake_google.url),
        )

    return make


@pytest.fixture
def projects_client(google_client: gcp.ClientFactory) -> Any:
    """``resourcemanager_v3.ProjectsClient`` bound to the fake."""
    from google.cloud import resourcemanager_v3

    return google_client(resourcemanager_v3.ProjectsClient)


@pytest.fixture
def moto_server() -> Iterator[str]:
    """A moto server on 127.0.0.1 (a fresh state), for tests that run aispm in a subprocess; yields its URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10).close()
    yield url
    server.stop()

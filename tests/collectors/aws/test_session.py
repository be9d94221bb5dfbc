"""The one way aispm builds boto3 clients, against a moto server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from aispm.collectors.aws.session import client, error_code
from aispm.collectors.base import ApiCalls


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    yield url
    server.stop()


def test_s3_control_reaches_a_custom_endpoint_without_the_account_in_its_host(endpoint: str) -> None:
    """S3 Control's endpoint rules prefix the host with the account id, even a custom endpoint's
    (``123456789012.127.0.0.1``, which does not resolve): the client sends it to the endpoint as configured."""
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    calls = ApiCalls()
    s3control = client(session, "s3control", "us-east-1", calls)
    sent: list[str] = []
    s3control.meta.events.register("before-send.s3-control.*", lambda request, **_: sent.append(request.url))
    with pytest.raises(s3control.exceptions.NoSuchPublicAccessBlockConfiguration) as caught:
        s3control.get_public_access_block(AccountId="123456789012")   # the emulator's answer, not a DNS failure
    assert error_code(caught.value) == "NoSuchPublicAccessBlockConfiguration"
    assert sent == [f"{endpoint}/v20180820/configuration/publicAccessBlock"]
    assert calls.as_dict() == {"aws": {"s3control:GetPublicAccessBlock": 1}}

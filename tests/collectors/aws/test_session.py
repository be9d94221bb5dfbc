"""The one way aispm builds boto3 clients, against a moto server on loopback."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import DataNotFoundError
from botocore.loaders import Loader
from moto.server import ThreadedMotoServer

from aispm.collectors.aws.session import ModelFileLoader, client, error_code
from aispm.collectors.base import ApiCalls
from tests.support.aws_calls import AWS_READ_SERVICES


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


@pytest.mark.parametrize("service", sorted(AWS_READ_SERVICES))
def test_service_models_load_as_botocore_loads_them(service: str) -> None:
    """The faster model loader gives botocore the same data, key order and number types as its own."""
    ours, theirs = Loader(file_loader=ModelFileLoader()), Loader()
    for type_name in ("service-2", "paginators-1", "waiters-2", "endpoint-rule-set-1"):
        try:
            expected = theirs.load_service_model(service, type_name)
        except DataNotFoundError:
            continue
        assert json.dumps(ours.load_service_model(service, type_name)) == json.dumps(expected)


def test_shared_data_loads_as_botocore_loads_it() -> None:
    ours, theirs = Loader(file_loader=ModelFileLoader()), Loader()
    for name in ("endpoints", "partitions", "sdk-default-configuration"):
        assert json.dumps(ours.load_data(name)) == json.dumps(theirs.load_data(name))


def test_a_file_orjson_refuses_is_read_the_standard_way(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text('{"limit": NaN, "name": "x"}')
    (tmp_path / "packed.json.gz").write_bytes(gzip.compress(b'{"a": [1, 2]}'))
    loaded = ModelFileLoader().load_file(str(tmp_path / "model"))
    assert loaded["name"] == "x" and loaded["limit"] != loaded["limit"]   # NaN, as json.loads reads it
    assert ModelFileLoader().load_file(str(tmp_path / "packed")) == {"a": [1, 2]}
    assert ModelFileLoader().load_file(str(tmp_path / "absent")) is None


def test_clients_are_built_with_the_faster_model_loader(endpoint: str) -> None:
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    sts = client(session, "sts", "us-east-1", ApiCalls())
    assert sts.get_caller_identity()["Account"] == "123456789012"
    assert isinstance(session._session.get_component("data_loader").file_loader, ModelFileLoader)

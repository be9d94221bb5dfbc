"""Tests of the HEC fake itself, spoken to with http.client only (no product code)."""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import ssl
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from aispm.testing.hec import HEC_CODES, FakeHec

TOKEN = "6b1f2a3c-0d4e-4f5a-8b6c-7d8e9f0a1b2c"
AUTH = {"Authorization": f"Splunk {TOKEN}"}
EVENT = "/services/collector/event"
ACK = "/services/collector/ack"
HEALTH = "/services/collector/health"


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


def connect(fake: FakeHec, context: ssl.SSLContext | None = None) -> http.client.HTTPConnection:
    if fake.tls:
        ctx = context if context is not None else ssl.create_default_context(cafile=fake.ca_file)
        return http.client.HTTPSConnection("127.0.0.1", fake.port, timeout=5, context=ctx)
    return http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)


def send(
    fake: FakeHec,
    path: str = EVENT,
    body: bytes = b"",
    *,
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
    conn: http.client.HTTPConnection | None = None,
) -> Reply:
    own = conn is None
    client = connect(fake) if conn is None else conn
    try:
        client.request(method, path, body=body, headers=dict(AUTH if headers is None else headers))
        response = client.getresponse()
        raw = response.read()
        return Reply(
            response.status,
            json.loads(raw) if raw else {},
            {name.lower(): value for name, value in response.getheaders()},
        )
    finally:
        if own:
            client.close()


def finding(uid: str, **envelope: Any) -> dict[str, Any]:
    return {
        "time": 1_700_000_000.25,
        "sourcetype": "aispm:finding",
        "event": {"class_uid": 2003, "finding_info": {"uid": uid}},
        **envelope,
    }


def stacked(*objects: Any, sep: str = "") -> bytes:
    return sep.join(json.dumps(o) for o in objects).encode("utf-8")


def uids(fake: FakeHec) -> list[str]:
    return [e["event"]["finding_info"]["uid"] for e in fake.events]


@pytest.fixture
def hec() -> Iterator[FakeHec]:
    with FakeHec(TOKEN) as fake:
        yield fake


@pytest.fixture
def hec_ack() -> Iterator[FakeHec]:
    with FakeHec(TOKEN, ack=True) as fake:
        yield fake


def with_channel(channel: str) -> dict[str, str]:
    return {**AUTH, "X-Splunk-Request-Channel": channel}


# --------------------------------------------------------------- code table
def test_code_table_matches_documentation() -> None:
    assert {code: status for code, (status, _) in HEC_CODES.items()} == {
        0: 200, 1: 403, 2: 401, 3: 401, 4: 403, 5: 400, 6: 400, 7: 400, 8: 500,
        9: 503, 10: 400, 11: 400, 12: 400, 13: 400, 14: 400, 15: 400, 16: 400,
        17: 200, 18: 503,
    }  # fmt: skip
    assert HEC_CODES[9][1] == "Server is busy"
    assert HEC_CODES[13][1] == "Event field cannot be blank"


# -------------------------------------------------------------- lifecycle
def test_binds_loopback_and_stop_refuses_connections() -> None:
    fake = FakeHec(TOKEN).start()
    port = fake.port
    assert fake.url == f"http://127.0.0.1:{port}"
    assert fake.event_url == f"http://127.0.0.1:{port}/services/collector/event"
    assert send(fake, HEALTH, method="GET").status == 200
    fake.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_stop_closes_idle_keep_alive_connections() -> None:
    fake = FakeHec(TOKEN).start()
    client = connect(fake)
    assert send(fake, body=stacked(finding("a")), conn=client).status == 200
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 2
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        send(fake, body=stacked(finding("b")), conn=client)
    client.close()


def test_health(hec: FakeHec) -> None:
    reply = send(hec, HEALTH, method="GET", headers={})
    assert (reply.status, reply.body) == (200, {"text": "HEC is healthy", "code": 17})
    hec.set_unhealthy()
    reply = send(hec, HEALTH, method="GET", headers={})
    assert (reply.status, reply.body) == (503, {"text": "HEC is unhealthy, queues are full", "code": 18})


def test_unknown_path_and_wrong_method(hec: FakeHec) -> None:
    assert send(hec, "/services/collector/raw", b"x").status == 404
    assert send(hec, EVENT, method="GET").status == 405
    assert hec.events == []


# ------------------------------------------------------------------- auth
def test_missing_token_is_401_code_2(hec: FakeHec) -> None:
    reply = send(hec, body=stacked(finding("a")), headers={})
    assert (reply.status, reply.body) == (401, {"text": "Token is required", "code": 2})
    assert hec.events == []


def test_wrong_token_is_403_code_4(hec: FakeHec) -> None:
    reply = send(hec, body=stacked(finding("a")), headers={"Authorization": "Splunk not-the-token"})
    assert (reply.status, reply.body) == (403, {"text": "Invalid token", "code": 4})
    assert hec.events == []


def test_other_scheme_is_401_code_3(hec: FakeHec) -> None:
    reply = send(hec, body=stacked(finding("a")), headers={"Authorization": f"Bearer {TOKEN}"})
    assert (reply.status, reply.body["code"]) == (401, 3)


def test_query_string_token_is_not_enabled(hec: FakeHec) -> None:
    reply = send(hec, f"{EVENT}?token={TOKEN}", stacked(finding("a")), headers={})
    assert (reply.status, reply.body["code"]) == (400, 16)


def test_basic_auth_carries_token_as_password(hec: FakeHec) -> None:
    import base64

    basic = base64.b64encode(f"x:{TOKEN}".encode()).decode()
    reply = send(hec, body=stacked(finding("a")), headers={"Authorization": f"Basic {basic}"})
    assert reply.status == 200
    assert uids(hec) == ["a"]


def test_forbidden_mode_is_permanent_until_turned_off(hec: FakeHec) -> None:
    hec.set_forbidden()
    for _ in range(3):
        reply = send(hec, body=stacked(finding("a")))
        assert (reply.status, reply.body) == (403, {"text": "Token disabled", "code": 1})
    hec.set_forbidden(code=4)
    assert send(hec, body=stacked(finding("a"))).body["code"] == 4
    hec.set_forbidden(False)
    assert send(hec, body=stacked(finding("a"))).status == 200
    assert uids(hec) == ["a"]
    with pytest.raises(ValueError, match="not a 403"):
        hec.set_forbidden(code=9)


# ------------------------------------------------------------ event format
def test_single_event_is_stored_as_sent(hec: FakeHec) -> None:
    envelope = finding("f-1", host="collector-1", source="aispm", index="security", fields={"rule": "r1"})
    reply = send(hec, body=stacked(envelope))
    assert (reply.status, reply.body) == (200, {"text": "Success", "code": 0})
    assert "ackid" not in json.dumps(reply.body).lower()
    assert hec.events == [envelope]
    [post] = hec.event_posts
    assert (post.outcome, post.status, post.code, post.event_count) == ("accepted", 200, 0, 1)
    assert post.headers["authorization"] == f"Splunk {TOKEN}"


@pytest.mark.parametrize("sep", ["", "\n", "\r\n", " \n\t"])
def test_stacked_events_keep_order(hec: FakeHec, sep: str) -> None:
    body = stacked(finding("a"), finding("b"), finding("c"), sep=sep)
    reply = send(hec, body=body)
    assert reply.status == 200
    assert uids(hec) == ["a", "b", "c"]
    assert hec.event_posts[0].event_count == 3


def test_json_array_is_invalid_data_format(hec: FakeHec) -> None:
    reply = send(hec, body=json.dumps([finding("a"), finding("b")]).encode())
    assert (reply.status, reply.body) == (
        400,
        {"text": "Invalid data format", "code": 6, "invalid-event-number": 0},
    )
    assert hec.events == []
    assert hec.event_posts[0].outcome == "rejected"


def test_json_array_can_be_allowed() -> None:
    with FakeHec(TOKEN, accept_json_array=True) as fake:
        assert send(fake, body=json.dumps([finding("a"), finding("b")]).encode()).status == 200
        assert uids(fake) == ["a", "b"]


def test_missing_event_field_rejects_whole_post(hec: FakeHec) -> None:
    body = stacked(finding("a"), {"time": 1, "host": "h"}, finding("c"))
    reply = send(hec, body=body)
    assert (reply.status, reply.body) == (
        400,
        {"text": "Event field is required", "code": 12, "invalid-event-number": 1},
    )
    assert hec.events == []


@pytest.mark.parametrize("blank", ["", "   ", None, {}])
def test_blank_event_is_code_13(hec: FakeHec, blank: Any) -> None:
    reply = send(hec, body=stacked(finding("a"), {"event": blank}))
    assert (reply.status, reply.body["code"], reply.body["invalid-event-number"]) == (400, 13, 1)
    assert hec.events == []


@pytest.mark.parametrize("body", [b"", b"  \n "])
def test_no_data_is_code_5(hec: FakeHec, body: bytes) -> None:
    reply = send(hec, body=body)
    assert (reply.status, reply.body) == (400, {"text": "No data", "code": 5})


def test_broken_json_is_code_6_at_its_position(hec: FakeHec) -> None:
    reply = send(hec, body=stacked(finding("a")) + b'{"event": ')
    assert (reply.status, reply.body["code"], reply.body["invalid-event-number"]) == (400, 6, 1)
    reply = send(hec, body=b'"just a string"')
    assert (reply.status, reply.body["code"]) == (400, 6)
    assert hec.events == []


def test_time_may_be_number_or_numeric_string(hec: FakeHec) -> None:
    body = stacked(finding("a", time=1_700_000_000), finding("b", time="1700000000.123"))
    assert send(hec, body=body).status == 200
    assert [e["time"] for e in hec.events] == [1_700_000_000, "1700000000.123"]
    reply = send(hec, body=stacked(finding("c", time="yesterday")))
    assert (reply.status, reply.body["code"]) == (400, 15)
    assert uids(hec) == ["a", "b"]


def test_indexed_fields_must_be_strings(hec: FakeHec) -> None:
    assert send(hec, body=stacked(finding("a", fields={"tags": ["x", "y"]}))).status == 200
    reply = send(hec, body=stacked(finding("b", fields={"severity_id": 4})))
    assert (reply.status, reply.body["code"]) == (400, 15)
    assert uids(hec) == ["a"]


def test_index_outside_allow_list_is_code_7() -> None:
    with FakeHec(TOKEN, allowed_indexes={"security"}) as fake:
        assert send(fake, body=stacked(finding("a", index="security"))).status == 200
        reply = send(fake, body=stacked(finding("b", index="main")))
        assert (reply.status, reply.body) == (
            400,
            {"text": "Incorrect index", "code": 7, "invalid-event-number": 0},
        )
        assert uids(fake) == ["a"]


# -------------------------------------------------------- transport details
def test_gzip_body_is_decoded_and_recorded(hec: FakeHec) -> None:
    plain = stacked(*(finding(f"g-{i}") for i in range(50)), sep="\n")
    packed = gzip.compress(plain)
    reply = send(hec, body=packed, headers={**AUTH, "Content-Encoding": "gzip"})
    assert reply.status == 200
    assert uids(hec) == [f"g-{i}" for i in range(50)]
    [post] = hec.event_posts
    assert post.compressed is True
    assert (post.body_size, post.decoded_size) == (len(packed), len(plain))
    assert post.body_size < post.decoded_size
    assert post.headers["content-encoding"] == "gzip"


def test_bad_gzip_is_code_6(hec: FakeHec) -> None:
    reply = send(hec, body=b"not gzip at all", headers={**AUTH, "Content-Encoding": "gzip"})
    assert (reply.status, reply.body["code"]) == (400, 6)
    assert hec.events == []


def test_chunked_body_is_read(hec: FakeHec) -> None:
    client = connect(hec)
    try:
        body = iter([stacked(finding("a")), stacked(finding("b"))])
        client.request("POST", EVENT, body=body, headers=AUTH, encode_chunked=True)
        response = client.getresponse()
        assert (response.status, json.loads(response.read())) == (200, {"text": "Success", "code": 0})
    finally:
        client.close()
    assert uids(hec) == ["a", "b"]
    assert hec.requests[0].headers["transfer-encoding"] == "chunked"


def test_keep_alive_serves_many_requests_on_one_connection(hec: FakeHec) -> None:
    client = connect(hec)
    try:
        for uid in ("a", "b", "c"):
            assert send(hec, body=stacked(finding(uid)), conn=client).status == 200
    finally:
        client.close()
    ports = {r.client_port for r in hec.requests}
    assert len(hec.requests) == 3
    assert len(ports) == 1


def test_max_content_length_is_413() -> None:
    with FakeHec(TOKEN, max_content_length=100) as fake:
        reply = send(fake, body=stacked(*(finding(str(i)) for i in range(5))))
        assert reply.status == 413
        assert fake.events == []
        assert send(fake, body=b'{"event":"ok"}').status == 200


# ------------------------------------------------------------------ faults
def test_busy_injection_then_success(hec: FakeHec) -> None:
    hec.fail_busy(2, retry_after=3)
    for _ in range(2):
        reply = send(hec, body=stacked(finding("a")))
        assert (reply.status, reply.body) == (503, {"text": "Server is busy", "code": 9})
        assert reply.headers["retry-after"] == "3"
    assert send(hec, body=stacked(finding("a"))).status == 200
    assert hec.events_by_uid() == {"a": 1}
    assert [(r.outcome, r.status) for r in hec.event_posts] == [
        ("injected", 503),
        ("injected", 503),
        ("accepted", 200),
    ]


def test_throttle_is_429(hec: FakeHec) -> None:
    hec.throttle(1, retry_after=1)
    reply = send(hec, body=stacked(finding("a")))
    assert (reply.status, reply.headers["retry-after"]) == (429, "1")
    assert hec.events == []
    assert send(hec, body=stacked(finding("a"))).status == 200
    assert uids(hec) == ["a"]


def test_fail_next_with_any_code(hec: FakeHec) -> None:
    hec.fail_next(1, 8)
    reply = send(hec, body=stacked(finding("a")))
    assert (reply.status, reply.body) == (500, {"text": "Internal server error", "code": 8})
    assert hec.events == []


def test_faults_are_consumed_in_order(hec: FakeHec) -> None:
    hec.throttle(1)
    hec.fail_busy(1)
    statuses = [send(hec, body=stacked(finding(str(i)))).status for i in range(3)]
    assert statuses == [429, 503, 200]
    assert uids(hec) == ["2"]


def test_dropped_connection_gives_no_response(hec: FakeHec) -> None:
    hec.drop_connections(1)
    with pytest.raises(http.client.RemoteDisconnected):
        send(hec, body=stacked(finding("a")))
    assert hec.events == []
    assert send(hec, body=stacked(finding("a"))).status == 200
    assert hec.events_by_uid() == {"a": 1}
    assert [(r.outcome, r.status) for r in hec.event_posts] == [("dropped", None), ("accepted", 200)]


def test_dropped_connection_with_reset(hec: FakeHec) -> None:
    hec.drop_connections(1, reset=True)
    with pytest.raises(ConnectionResetError):
        send(hec, body=stacked(finding("a")))
    assert hec.events == []


def test_delay_slows_every_answer(hec: FakeHec) -> None:
    hec.delay = 0.3
    started = time.monotonic()
    assert send(hec, body=stacked(finding("a"))).status == 200
    assert time.monotonic() - started >= 0.3
    hec.delay = 0
    started = time.monotonic()
    assert send(hec, HEALTH, method="GET").status == 200
    assert time.monotonic() - started < 0.3


# --------------------------------------------------------------------- ack
def test_ack_needs_a_channel(hec_ack: FakeHec) -> None:
    reply = send(hec_ack, body=stacked(finding("a")))
    assert (reply.status, reply.body) == (400, {"text": "Data channel is missing", "code": 10})
    reply = send(hec_ack, body=stacked(finding("a")), headers=with_channel("not-a-guid"))
    assert (reply.status, reply.body) == (400, {"text": "Invalid data channel", "code": 11})
    assert hec_ack.events == []


def test_ack_ids_count_per_channel_and_turn_true(hec_ack: FakeHec) -> None:
    one, two = str(uuid.uuid4()), str(uuid.uuid4()).upper()
    first = send(hec_ack, body=stacked(finding("a")), headers=with_channel(one))
    second = send(hec_ack, body=stacked(finding("b")), headers=with_channel(one))
    other = send(hec_ack, f"{EVENT}?channel={two}", stacked(finding("c")))
    assert first.body == {"text": "Success", "code": 0, "ackId": 0}
    assert (second.body["ackId"], other.body["ackId"]) == (1, 0)
    assert [r.channel for r in hec_ack.event_posts] == [one, one, two]

    reply = send(hec_ack, ACK, json.dumps({"acks": [0, 1, 7]}).encode(), headers=with_channel(one))
    assert (reply.status, reply.body) == (200, {"acks": {"0": True, "1": True, "7": False}})
    # once reported true an ackId is forgotten
    reply = send(hec_ack, f"{ACK}?channel={one}", json.dumps({"acks": [0, 1]}).encode())
    assert reply.body == {"acks": {"0": False, "1": False}}
    reply = send(hec_ack, f"{ACK}?channel={two}", json.dumps({"acks": [0]}).encode())
    assert reply.body == {"acks": {"0": True}}
    assert uids(hec_ack) == ["a", "b", "c"]


def test_ack_query_errors(hec_ack: FakeHec) -> None:
    channel = str(uuid.uuid4())
    assert send(hec_ack, ACK, b'{"acks":[0]}').body["code"] == 10
    assert send(hec_ack, ACK, b'{"acks":[0]}', headers=with_channel("x")).body["code"] == 11
    assert send(hec_ack, ACK, b"", headers=with_channel(channel)).body["code"] == 5
    assert send(hec_ack, ACK, b'{"acks":"0"}', headers=with_channel(channel)).body["code"] == 6
    reply = send(hec_ack, ACK, b'{"acks":[0]}', headers={"X-Splunk-Request-Channel": channel})
    assert (reply.status, reply.body["code"]) == (401, 2)


def test_ack_query_without_ack_enabled_is_code_14(hec: FakeHec) -> None:
    reply = send(hec, ACK, b'{"acks":[0]}', headers=with_channel(str(uuid.uuid4())))
    assert (reply.status, reply.body) == (400, {"text": "ACK is disabled", "code": 14})


def test_slow_ack_after_polls() -> None:
    with FakeHec(TOKEN, ack=True, ack_after_polls=2) as fake:
        channel = str(uuid.uuid4())
        ack_id = send(fake, body=stacked(finding("a")), headers=with_channel(channel)).body["ackId"]
        assert fake.events == []
        assert fake.pending_acks == 1
        query = json.dumps({"acks": [ack_id]}).encode()
        answers = [send(fake, ACK, query, headers=with_channel(channel)).body["acks"]["0"] for _ in range(3)]
        assert answers == [False, False, True]
        assert uids(fake) == ["a"]
        assert fake.pending_acks == 0


def test_slow_ack_after_seconds() -> None:
    with FakeHec(TOKEN, ack=True, ack_after_seconds=0.3) as fake:
        channel = str(uuid.uuid4())
        send(fake, body=stacked(finding("a")), headers=with_channel(channel))
        query = b'{"acks":[0]}'
        assert send(fake, ACK, query, headers=with_channel(channel)).body == {"acks": {"0": False}}
        assert fake.events == []
        time.sleep(0.35)
        assert send(fake, ACK, query, headers=with_channel(channel)).body == {"acks": {"0": True}}
        assert uids(fake) == ["a"]


def test_lost_ack_never_turns_true_and_a_resend_arrives_once(hec_ack: FakeHec) -> None:
    channel = str(uuid.uuid4())
    hec_ack.lose_acks(1)
    batch = stacked(finding("a"), finding("b"))
    lost = send(hec_ack, body=batch, headers=with_channel(channel))
    assert (lost.status, lost.body["ackId"]) == (200, 0)
    for _ in range(5):
        reply = send(hec_ack, ACK, b'{"acks":[0]}', headers=with_channel(channel))
        assert reply.body == {"acks": {"0": False}}
    assert hec_ack.events == []
    assert [e["event"]["finding_info"]["uid"] for e in hec_ack.lost_events] == ["a", "b"]

    resent = send(hec_ack, body=batch, headers=with_channel(channel))
    assert resent.body["ackId"] == 1
    assert send(hec_ack, ACK, b'{"acks":[1]}', headers=with_channel(channel)).body == {"acks": {"1": True}}
    assert hec_ack.events_by_uid() == {"a": 1, "b": 1}


def test_faults_on_the_ack_endpoint(hec_ack: FakeHec) -> None:
    channel = str(uuid.uuid4())
    send(hec_ack, body=stacked(finding("a")), headers=with_channel(channel))
    hec_ack.fail_busy(1, endpoint="ack")
    hec_ack.drop_connections(1, endpoint="ack")
    assert send(hec_ack, ACK, b'{"acks":[0]}', headers=with_channel(channel)).status == 503
    with pytest.raises(http.client.RemoteDisconnected):
        send(hec_ack, ACK, b'{"acks":[0]}', headers=with_channel(channel))
    assert send(hec_ack, ACK, b'{"acks":[0]}', headers=with_channel(channel)).body == {"acks": {"0": True}}


def test_lose_acks_needs_ack_mode(hec: FakeHec) -> None:
    with pytest.raises(RuntimeError, match="ack=True"):
        hec.lose_acks()


# --------------------------------------------------------------- accessors
def test_events_by_uid_counts_duplicates_and_missing(hec: FakeHec) -> None:
    send(hec, body=stacked(finding("a"), finding("b"), finding("a"), {"event": "plain text"}))
    assert hec.events_by_uid() == {"a": 2, "b": 1, None: 1}
    assert hec.events_by_uid(("sourcetype",)) == {"aispm:finding": 3, None: 1}


def test_clear_forgets_everything(hec: FakeHec) -> None:
    hec.fail_busy(5)
    send(hec, body=stacked(finding("a")))
    hec.clear()
    assert (hec.events, hec.requests) == ([], [])
    assert send(hec, body=stacked(finding("b"))).status == 200


# --------------------------------------------------------------------- TLS
@pytest.fixture
def hec_tls() -> Iterator[FakeHec]:
    with FakeHec(TOKEN, tls=True) as fake:
        yield fake


def test_tls_is_refused_without_the_ca(hec_tls: FakeHec) -> None:
    assert hec_tls.url.startswith("https://127.0.0.1:")
    with pytest.raises(ssl.SSLCertVerificationError):
        send(hec_tls, body=stacked(finding("a")), conn=connect(hec_tls, ssl.create_default_context()))
    assert hec_tls.events == []
    deadline = time.monotonic() + 2
    while hec_tls.tls_handshake_failures == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert hec_tls.tls_handshake_failures == 1


def test_tls_succeeds_with_the_ca(hec_tls: FakeHec) -> None:
    context = ssl.create_default_context(cafile=hec_tls.ca_file)
    reply = send(hec_tls, body=stacked(finding("a")), conn=connect(hec_tls, context))
    assert reply.status == 200
    assert uids(hec_tls) == ["a"]
    localhost = http.client.HTTPSConnection("localhost", hec_tls.port, timeout=5, context=context)
    assert send(hec_tls, HEALTH, method="GET", conn=localhost).body["code"] == 17


def test_tls_with_requests_ca_bundle(hec_tls: FakeHec, monkeypatch: pytest.MonkeyPatch) -> None:
    requests = pytest.importorskip("requests")
    for name in (
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    body = stacked(finding("a"))
    with pytest.raises(requests.exceptions.SSLError):
        requests.post(hec_tls.event_url, data=body, headers=AUTH, timeout=5)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", hec_tls.ca_file)
    response = requests.post(hec_tls.event_url, data=body, headers=AUTH, timeout=5)
    assert (response.status_code, response.json()) == (200, {"text": "Success", "code": 0})
    assert uids(hec_tls) == ["a"]


def test_tls_files_are_removed_on_stop() -> None:
    import pathlib

    fake = FakeHec(TOKEN, tls=True).start()
    ca = pathlib.Path(fake.ca_file)
    assert ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
    fake.stop()
    assert not ca.exists()
    with pytest.raises(RuntimeError):
        _ = fake.ca_file


def test_no_server_errors_were_recorded(hec: FakeHec) -> None:
    send(hec, body=stacked(finding("a")))
    send(hec, body=b"[]")
    send(hec, body=b"\xff\xfe")
    assert hec.errors == []

"""The suite's network guard: connections reach loopback only (pytest-socket), names beyond it are never looked up.

Every connect below that must fail targets TEST-NET (RFC 5737) and is refused before any packet is sent.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from pytest_socket import SocketBlockedError, SocketConnectBlockedError

pytestmark = pytest.mark.filterwarnings("ignore:A test tried to")  # pytest-socket warns as it raises


def test_the_guard_is_installed() -> None:
    # pytest-socket replaces socket.socket.connect; without it the refusals below would be real attempts.
    assert "connect" in vars(socket.socket)


def test_a_connect_beyond_loopback_is_refused() -> None:
    assert "connect" in vars(socket.socket)
    for address in (("192.0.2.1", 443), ("192.0.2.10", 80)):
        with pytest.raises(SocketConnectBlockedError):
            socket.create_connection(address, timeout=0.2)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(SocketConnectBlockedError):
        sock.connect(("192.0.2.1", 443))


def test_names_beyond_loopback_are_not_looked_up() -> None:
    with pytest.raises(SocketBlockedError):
        socket.getaddrinfo("management.azure.com", 443)
    assert socket.getaddrinfo("localhost", 443)


def test_loopback_and_unix_sockets_still_connect(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server, \
            socket.create_connection(server.getsockname()[:2], timeout=2):
        pass
    path = str(tmp_path / "s.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(path)

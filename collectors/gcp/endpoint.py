"""The ``AISPM_GCP_ENDPOINT`` override, checked without importing any Google SDK.

The check runs twice: ``check_configuration()`` before a scan starts (so a bad
value is a configuration error, exit 2, before any cloud call), and again
whenever a client host is chosen, so no code path can send a token in
cleartext beyond this machine.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from aispm.collectors.base import loopback_host

ENDPOINT_ENV = "AISPM_GCP_ENDPOINT"


class EndpointError(ValueError):
    """An ``AISPM_GCP_ENDPOINT`` that cannot be used: cleartext beyond loopback, or not a host or URL."""


def endpoint_override() -> str | None:
    """The endpoint that replaces every Google API host, or None; EndpointError when it is unusable.

    Accepted: ``https://host[:port]``, a bare ``host[:port]`` (the clients use https), and
    ``http://`` only to a loopback address (a local fake). The message names the variable and
    the host, never the whole value, which could carry user information.
    """
    raw = os.environ.get(ENDPOINT_ENV, "").strip()
    value = raw.rstrip("/")
    if not raw:
        return None
    if any(ord(c) < 0x20 or ord(c) == 0x7F or c.isspace() for c in value):
        raise EndpointError(f"{ENDPOINT_ENV} must be a URL such as https://HOST:PORT (it contains whitespace "
                            "or a control character)")
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    try:
        parts = urlsplit(value if scheme else f"https://{value}")
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        hostname = None
    if scheme not in ("", "https", "http") or not hostname:
        raise EndpointError(f"{ENDPOINT_ENV} must be a URL such as https://HOST:PORT")
    if scheme == "http" and not loopback_host(hostname):
        raise EndpointError(f"{ENDPOINT_ENV} must use https for {hostname}: credentials would travel in "
                            "cleartext (plain http is allowed only to a loopback address)")
    return value


def check_configuration() -> None:
    """Raise EndpointError (a ValueError, one line) when the GCP configuration cannot be used.

    Call it before planning a GCP scan: it reads only the environment, imports no SDK and
    makes no network call.
    """
    endpoint_override()


__all__ = ["ENDPOINT_ENV", "EndpointError", "check_configuration", "endpoint_override"]

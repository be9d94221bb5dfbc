"""The TLS context every HTTPS sink uses: verification always on, custom CA from the standard variables."""

from __future__ import annotations

import os
import ssl


def ca_bundle() -> str | None:
    """The CA bundle named by ``REQUESTS_CA_BUNDLE`` or ``SSL_CERT_FILE`` (first set wins)."""
    for key in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(key, "").strip()
        if value:
            return value
    return None


def client_context() -> ssl.SSLContext:
    """A verifying client context; a custom bundle replaces the system store, as with requests."""
    bundle = ca_bundle()
    if bundle is None:
        return ssl.create_default_context()
    if os.path.isdir(bundle):
        return ssl.create_default_context(capath=bundle)
    return ssl.create_default_context(cafile=bundle)

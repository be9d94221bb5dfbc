"""GCP test building blocks: anonymous credentials and the ambient settings every test hides.

The fixtures built on these (``fake_google``, ``google_client``, ``projects_client``) live in tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from google.auth.credentials import AnonymousCredentials, Credentials

ClientFactory = Callable[..., Any]

AMBIENT_ENV = (   # hidden from every test (tests/conftest.py)
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

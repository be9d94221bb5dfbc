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


def bucket(name: str, project_number: str, *public_members: str, role: str = "roles/storage.objectViewer",
           ) -> dict[str, Any]:
    """A Cloud Storage bucket for the fake's estate (``buckets[]``): the project's legacy bindings, plus ``role``
    granted to each of ``public_members`` (``allUsers``, ``allAuthenticatedUsers``)."""
    bindings: list[dict[str, Any]] = [
        {"role": "roles/storage.legacyBucketOwner", "members": [f"projectOwner:{project_number}"]},
        {"role": "roles/storage.legacyBucketReader", "members": [f"projectViewer:{project_number}"]},
    ]
    if public_members:
        bindings.append({"role": role, "members": list(public_members)})
    return {"name": name, "projectNumber": project_number, "iamPolicy": {"etag": "CAE=", "bindings": bindings}}

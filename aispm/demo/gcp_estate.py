"""The demo's simulated GCP estate: the local Google API fake, read by the real Vertex AI REST clients.

Credentials come the shipped way (``google.auth.default()`` reading
``GOOGLE_APPLICATION_CREDENTIALS``) from a throwaway service-account key made
for this run. Service-account credentials in Google's clients sign their own
JWTs, so no token endpoint is ever called and nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from aispm.collectors.gcp.clients import ENDPOINT_ENV
from aispm.testing.fake_google import FakeGoogle, demo_estate

DEMO_SERVICE_ACCOUNT = "aispm-demo-reader@aispm-demo.iam.gserviceaccount.com"


def service_account_file(directory: Path) -> Path:
    """Write a service-account key file with a freshly generated RSA key (valid nowhere but the fake)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    info = {
        "type": "service_account",
        "project_id": "aispm-demo",
        "private_key_id": "0" * 40,
        "private_key": pem,
        "client_email": DEMO_SERVICE_ACCOUNT,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    path = directory / "service-account.json"
    path.write_text(json.dumps(info), encoding="utf-8")
    path.chmod(0o600)
    return path


def _job_window_days(estate: Mapping[str, Any]) -> int:
    """Days back to the oldest job (custom, tuning, pipeline) of the estate, so the recent-jobs window keeps
    them all."""
    now = dt.datetime.now(dt.UTC)
    created = [
        dt.datetime.fromisoformat(job["createTime"].replace("Z", "+00:00"))
        for entry in estate["projects"]
        for collections in entry.get("vertex", {}).values()
        for collection in ("customJobs", "tuningJobs", "pipelineJobs")
        for job in collections.get(collection, [])
    ]
    return max([30, *((now - c).days + 1 for c in created)])


@contextmanager
def serve() -> Iterator[tuple[dict[str, Any], Any]]:
    """Start the fake with the demo estate; yields the scan options for this provider (and no credentials:
    a service-account file through ``GOOGLE_APPLICATION_CREDENTIALS``)."""
    estate = demo_estate()
    with tempfile.TemporaryDirectory(prefix="aispm-demo-gcp-") as tmp, FakeGoogle(estate, page_size=2) as fake, \
            mock.patch.dict(os.environ, {ENDPOINT_ENV: fake.url, "NO_GCE_CHECK": "true",
                                         "GOOGLE_APPLICATION_CREDENTIALS": str(service_account_file(Path(tmp)))}):
        yield {
            "projects": [entry["project"]["projectId"] for entry in estate["projects"]],
            "locations": sorted({loc["locationId"] for entry in estate["projects"]
                                 for loc in entry.get("locations", [])}),
            "job_window_days": _job_window_days(estate),
        }, None

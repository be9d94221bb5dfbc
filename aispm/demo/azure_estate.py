"""The demo's simulated Azure estate: the fake Resource Manager over TLS, read by the real collector.

Certificate verification stays on: the fake's self-signed CA is added to the
standard ``REQUESTS_CA_BUNDLE`` / ``SSL_CERT_FILE`` bundles. The collector gets a
local token credential (handed to the collector as its credentials), so the demo never reaches an
identity endpoint; real scans use ``DefaultAzureCredential``.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions

from aispm.collectors.azure.arm import ENDPOINT_ENV
from aispm.testing.fake_arm import FakeArm

_BUNDLE_ENV = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")


class LocalTokenCredential:
    """A ``TokenCredential`` that hands out the fake's token; it talks to no identity endpoint."""

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes: str, claims: str | None = None, tenant_id: str | None = None,
                  enable_cae: bool = False, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: TokenRequestOptions | None = None) -> AccessTokenInfo:
        return AccessTokenInfo(self._token, int(time.time()) + 3600)


def _bundle(env: str, ca: Path, directory: Path) -> str:
    """A CA bundle of what ``env`` already names plus ``ca``, so other local fakes stay trusted."""
    parts = []
    current = os.environ.get(env)
    if current and Path(current).is_file():
        parts.append(Path(current).read_text(encoding="utf-8"))
    parts.append(ca.read_text(encoding="utf-8"))
    path = directory / f"{env.lower()}.pem"
    path.write_text("\n".join(parts), encoding="utf-8")
    return str(path)


@contextmanager
def serve() -> Iterator[tuple[dict[str, Any], Any]]:
    """Serve the shipped estate on 127.0.0.1 over https; yields the scan options for this provider and the
    local token credential the collector uses instead of ``DefaultAzureCredential``."""
    with FakeArm(tls=True) as fake, tempfile.TemporaryDirectory(prefix="aispm-demo-azure-") as tmp:
        bundles = {env: _bundle(env, fake.ca_cert_path, Path(tmp)) for env in _BUNDLE_ENV}
        with mock.patch.dict(os.environ, {ENDPOINT_ENV: fake.url, **bundles}):
            yield {}, LocalTokenCredential(fake.token)

"""The Azure part of ``aispm demo``: https with certificate verification on, a local credential, no bypass."""

from __future__ import annotations

import os

from aispm.collectors.azure import build
from aispm.collectors.base import CollectOptions
from aispm.demo.azure_estate import serve


def test_demo_serves_the_estate_over_verified_tls_and_restores_the_environment() -> None:
    before = {k: os.environ.get(k) for k in ("AISPM_AZURE_ARM_ENDPOINT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")}
    with serve() as (overrides, credential):
        assert overrides == {}
        endpoint = os.environ["AISPM_AZURE_ARM_ENDPOINT"]
        assert endpoint.startswith("https://127.0.0.1:")
        collector = build(CollectOptions(), credential)
        assert collector.settings.per_call_policies == ()   # nothing relaxes https enforcement
        units, errors = collector.plan()
        assert errors == [] and len(units) == 2
        results = [collector.collect(u) for u in units]
    assert all(r.errors == [] for r in results)
    assert sum(len(r.records) for r in results) == 27
    assert {k: os.environ.get(k) for k in before} == before

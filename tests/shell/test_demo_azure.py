"""The Azure part of ``aispm demo``: https with certificate verification on, a local credential, no bypass; each
rule line of the v2 Azure kinds passes on one demo asset and fails on another."""

from __future__ import annotations

import os
from collections import defaultdict
from importlib import resources
from pathlib import Path

from aispm.collectors.azure import build
from aispm.collectors.base import CollectOptions
from aispm.demo.azure_estate import serve
from aispm.demo.run import safe_env
from aispm.pipeline import run_scan
from aispm.pipeline_types import ScanRequest
from aispm.rules.catalog import all_rules
from aispm.rules.policy import load_policy
from aispm.sinks.transports.files import FileSink


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
    assert sum(len(r.records) for r in results) == 38   # 27 Machine Learning and 11 Azure AI Services assets
    assert {k: os.environ.get(k) for k in before} == before


AI_KINDS = ("ai_services_account", "model_deployment", "ai_project")   # the Azure kinds of rules-v2.md


def test_every_new_azure_rule_line_passes_on_one_demo_asset_and_fails_on_another(tmp_path: Path) -> None:
    lines = {(r.id, kind) for r in all_rules() for kind in r.kinds.get("azure", ()) if kind in AI_KINDS}
    assert {"AISPM-GAI-001", "AISPM-GAI-002", "AISPM-LOG-003"} <= {rule for rule, _ in lines}
    with resources.as_file(resources.files("aispm.demo") / "policy.yaml") as path:
        policy = load_policy(path)
    with safe_env(), serve() as (options, credential):
        outcome = run_scan(ScanRequest(providers=["azure"], options=CollectOptions(**options, collect_tags=True),
                                       policy=policy, out_dir=tmp_path, sinks=[FileSink(tmp_path)],
                                       credentials={"azure": credential}))
    assert outcome.batch.summary["errors"] == 0
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for f in outcome.batch.findings:
        seen[(f.rule.id, f.asset.kind)].add(f.status.value)
    assert {line: sorted(seen[line]) for line in sorted(lines)} == {line: ["fail", "pass"] for line in sorted(lines)}

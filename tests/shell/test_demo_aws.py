"""The AWS part of ``aispm demo``: each rule line of the v2 AWS kinds, and SEC-001 on notebook lifecycle
scripts, passes on one demo asset and fails on another, so the demo shows both sides of every new check."""

from __future__ import annotations

from collections import defaultdict
from importlib import resources
from pathlib import Path

from aispm.collectors.aws.kinds import AI_SERVICE_SETTINGS, KINDS
from aispm.collectors.base import CollectOptions
from aispm.demo import aws_estate
from aispm.demo.run import safe_env
from aispm.pipeline import run_scan
from aispm.pipeline_types import ScanRequest
from aispm.rules.catalog import all_rules
from aispm.rules.policy import load_policy
from aispm.sinks.transports.files import FileSink

# The kinds rules-v2.md added to AWS: every Bedrock kind of the kind table, the region's Bedrock settings,
# and the two SageMaker kinds it brought.
NEW_KINDS = {k.kind for k in KINDS if k.service == "bedrock"} | {
    AI_SERVICE_SETTINGS, "feature_group", "monitoring_job_definition"}
LIFECYCLE_LINE = ("AISPM-SEC-001", "notebook")   # v2 reads the notebook's lifecycle scripts
SCRIPT_SECRET = "hf_live_5e8a3c1f7d2b"           # the literal token of the demo's leaky lifecycle script


def test_every_new_aws_rule_line_passes_on_one_demo_asset_and_fails_on_another(tmp_path: Path) -> None:
    lines = {(r.id, kind) for r in all_rules() for kind in r.kinds.get("aws", ()) if kind in NEW_KINDS}
    assert LIFECYCLE_LINE in {(r.id, k) for r in all_rules() for k in r.kinds.get("aws", ())}
    lines.add(LIFECYCLE_LINE)
    assert {"AISPM-GAI-001", "AISPM-GAI-002", "AISPM-GAI-003", "AISPM-LOG-003"} <= {rule for rule, _ in lines}
    with resources.as_file(resources.files("aispm.demo") / "policy.yaml") as path:
        policy = load_policy(path)
    with safe_env(), aws_estate.serve() as (options, _):
        outcome = run_scan(ScanRequest(providers=["aws"], options=CollectOptions(**options, collect_tags=True),
                                       policy=policy, out_dir=tmp_path, sinks=[FileSink(tmp_path)]))
    summary = outcome.batch.summary
    assert all(scope["status"] == "ok" for scope in summary["scopes"])
    kinds = {a.uid: a.kind for a in outcome.batch.assets}
    assert [e for e in summary["evaluation_errors"] if (e["rule"], kinds.get(e["resource"])) in lines] == []
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    for f in outcome.batch.findings:
        seen[(f.rule.id, f.asset.kind)].add(f.status.value)
    assert {line: sorted(seen[line]) for line in sorted(lines)} == {line: ["fail", "pass"] for line in sorted(lines)}

    # LOG-003 is judged once per region: logging with text on in the first region, none in the second.
    log = {f.asset.region: f.status.value for f in outcome.batch.findings if f.rule.id == "AISPM-LOG-003"}
    assert log == {aws_estate.REGIONS[0]: "pass", aws_estate.REGIONS[1]: "fail"}
    # The lifecycle finding names the configuration and the variable, never the token.
    leaky = [f for f in outcome.batch.findings if (f.rule.id, f.asset.kind) == LIFECYCLE_LINE
             and f.status.value == "fail"]
    assert {f.asset.name for f in leaky} == {"research-sandbox"}
    assert all("lifecycle configuration sandbox-setup OnStart:HF_TOKEN" in f.detail for f in leaky)
    for written in tmp_path.iterdir():
        assert SCRIPT_SECRET not in written.read_text(), written.name

"""The policy file: every config error is one line naming file, key and reason; suppressions match and expire."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from aispm.cli import main
from aispm.normalizer.providers import PROVIDERS
from aispm.normalizer.schema import Asset
from aispm.rules.engine import evaluate
from aispm.rules.finding import finding_of
from aispm.rules.model import Severity
from aispm.rules.policy import MAX_POLICY_BYTES, MAX_POLICY_DEPTH, Policy, PolicyError, Suppression, load_policy
from aispm.sinks.formats.ocsf import to_ocsf

NB_ARN = "arn:aws:sagemaker:us-east-1:123456789012:notebook-instance/sandbox-1"
OPEN = {"network": {"direct_internet_access": {"value": True, "source": "DirectInternetAccess",
                                               "observed": "Enabled"}}}


@pytest.mark.parametrize(("text", "key", "reason"), [
    ("rule:\n  disabled: []\n", "rule", "unknown key"),
    ("rules:\n  enabled: [AISPM-NET-001]\n", "rules.enabled", "unknown key"),
    ("suppressions:\n  - rule: AISPM-NET-001\n    resource: x\n    justification: j\n    reason: r\n",
     "suppressions.0.reason", "unknown key"),
    ("rules:\n  disabled: [AISPM-NET-001, AISPM-XYZ-001]\n", "rules.disabled.1", "unknown rule id 'AISPM-XYZ-001'"),
    ("rules:\n  severity: {AISPM-XYZ-001: low}\n", "rules.severity.AISPM-XYZ-001", "unknown rule id 'AISPM-XYZ-001'"),
    ("suppressions:\n  - rule: AISPM-NOPE\n    resource: x\n    justification: j\n", "suppressions.0.rule",
     "unknown rule id 'AISPM-NOPE'"),
    ("rules:\n  severity: {AISPM-LOG-001: urgent}\n", "rules.severity.AISPM-LOG-001", "unknown severity 'urgent'"),
    ("rules:\n  severity: {AISPM-LOG-001: 3}\n", "rules.severity.AISPM-LOG-001", "unknown severity 3"),
    ("suppressions:\n  - rule: AISPM-NET-002\n    resource: 'x*'\n", "suppressions.0.justification",
     "required key missing"),
    ("suppressions:\n  - rule: AISPM-NET-002\n    resource: 'x*'\n    justification: '  '\n",
     "suppressions.0.justification", "must not be empty"),
    ("suppressions:\n  - rule: AISPM-NET-002\n    resource: x\n    justification: j\n    expires: 2027-13-45\n",
     "suppressions.0.expires", "bad date '2027-13-45' (use YYYY-MM-DD)"),
    ("suppressions:\n  - rule: AISPM-NET-002\n    resource: x\n    justification: j\n    expires: next week\n",
     "suppressions.0.expires", "bad date 'next week'"),
    ("suppressions:\n  - rule: AISPM-NET-002\n    justification: j\n", "suppressions.0",
     "at least one of 'resource' and 'tags' is required"),
    ("suppressions:\n  - rule: AISPM-NET-002\n    tags: {}\n    justification: j\n", "suppressions.0",
     "at least one of 'resource' and 'tags' is required"),
    ("suppressions:\n  - rule: AISPM-NET-002\n    resource: ''\n    justification: j\n", "suppressions.0.resource",
     "must not be empty"),
    ("rules:\n  disabled: AISPM-NET-001\n", "rules.disabled", "expected a list"),
    ("rules: [AISPM-NET-001]\n", "rules", "expected a mapping"),
    ("required_tags: owner\n", "required_tags", "expected a list"),
    ("suppressions:\n  - rule: AISPM-NET-002\n    tags: {env: [a, b]}\n    justification: j\n",
     "suppressions.0.tags.env", "expected a string"),
    ("suppressions:\n  - rule: 5\n    resource: x\n    justification: j\n", "suppressions.0.rule", "expected a string"),
    ("suppressions:\n  rule: AISPM-NET-002\n", "suppressions", "expected a list"),
    ("- AISPM-NET-002\n", "(top level)", "expected a mapping"),
    ("required_tags: [a]\nrequired_tags: [b]\n", "invalid YAML at line 2", "duplicate key 'required_tags'"),
    ("rules: [\n", "invalid YAML at line 2", "expected the node content"),
])
def test_config_error_exit_2_one_line_naming_file_key_reason(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str, reason: str) -> None:
    cfg = tmp_path / "policy.yaml"
    cfg.write_text(text)
    assert main(["scan", "--provider", "aws", "--config", str(cfg), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"aispm: error: {cfg}: {key}: {reason}")
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    assert main(["scan", "--provider", "aws", "--config", str(missing)]) == 2
    assert capsys.readouterr().err == f"aispm: error: {missing}: cannot read: No such file or directory\n"


def test_valid_config_loads_every_key(tmp_path: Path) -> None:
    cfg = tmp_path / "p.yaml"
    cfg.write_text(
        "rules:\n  disabled: [AISPM-GOV-002]\n  severity: {AISPM-LOG-001: Medium}\n"
        "required_tags: [owner, cost-center]\n"
        "suppressions:\n"
        "  - rule: AISPM-NET-002\n    resource: 'arn:aws:sagemaker:*:*:notebook-instance/sandbox-*'\n"
        "    tags: {env: sandbox, tier: 1}\n    justification: Sandbox accounts are isolated by SCP\n"
        "    expires: 2027-01-31\n"
        "  - rule: '*'\n    tags: {env: sandbox}\n    justification: accepted\n")
    p = load_policy(cfg)
    assert p.rules.disabled == ["AISPM-GOV-002"]
    assert p.rules.severity == {"AISPM-LOG-001": Severity.medium}
    assert p.required_tags == ["owner", "cost-center"]
    assert p.suppressions[0].expires == dt.date(2027, 1, 31)
    assert p.suppressions[0].tags == {"env": "sandbox", "tier": "1"}
    assert p.suppressions[1].rule == "*"


def test_empty_config_is_the_default_policy(tmp_path: Path) -> None:
    cfg = tmp_path / "p.yaml"
    cfg.write_text("# nothing configured\n")
    assert load_policy(cfg) == Policy()
    with pytest.raises(PolicyError):
        load_policy(tmp_path)   # a directory is not a config file


def _scan_config_error(tmp_path: Path, cfg: Path, capsys: pytest.CaptureFixture[str]) -> str:
    out = tmp_path / "out"
    assert main(["scan", "--provider", "aws", "--config", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Traceback" not in err and "RecursionError" not in err
    assert not out.exists()
    return err


@pytest.mark.parametrize("text", [
    "rules: " + "[" * 50_000 + "]" * 50_000 + "\n",          # flow sequences
    "a: " + "{a: " * 50_000 + "x" + "}" * 50_000 + "\n",     # flow mappings
])
def test_a_config_nested_50000_deep_exits_2_naming_the_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> None:
    cfg = tmp_path / "deep.yaml"
    cfg.write_text(text)
    err = _scan_config_error(tmp_path, cfg, capsys)
    assert err == f"aispm: error: {cfg}: invalid YAML at line 1: nested deeper than {MAX_POLICY_DEPTH} levels\n"


def test_nesting_limit_counts_block_levels_and_allows_a_real_policy_depth(tmp_path: Path) -> None:
    cfg = tmp_path / "deep.yaml"
    cfg.write_text("".join("  " * i + "k:\n" for i in range(MAX_POLICY_DEPTH + 1)))
    with pytest.raises(PolicyError, match=rf"nested deeper than {MAX_POLICY_DEPTH} levels"):
        load_policy(cfg)
    ok = tmp_path / "ok.yaml"   # just under the limit is a YAML that loads (and is then validated as usual)
    ok.write_text("x: " + "[" * (MAX_POLICY_DEPTH - 2) + "]" * (MAX_POLICY_DEPTH - 2) + "\n")
    with pytest.raises(PolicyError, match=r"x: unknown key$"):
        load_policy(ok)


def test_a_recursion_error_inside_the_yaml_loader_is_a_config_error(tmp_path: Path) -> None:
    # Within the nesting limit, a small interpreter stack still overflows in PyYAML's recursive composer:
    # the loader's RecursionError must come out as one PolicyError line, never as a crash.
    cfg = tmp_path / "deep.yaml"
    cfg.write_text("rules: " + "[" * 60 + "]" * 60 + "\n")
    code = ("import sys\nfrom rules.policy import PolicyError, load_policy\nsys.setrecursionlimit(150)\n"
            "try:\n    load_policy(sys.argv[1])\nexcept PolicyError as exc:\n    print(exc)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(cfg)], capture_output=True, text=True,
                          timeout=120, check=False, cwd=Path(__file__).resolve().parents[2])
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == f"{cfg}: invalid YAML: nested too deeply\n"


def test_a_config_file_over_1_mib_exits_2_naming_the_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "big.yaml"
    cfg.write_text("required_tags: [owner]\n" + "#" * MAX_POLICY_BYTES + "\n")
    err = _scan_config_error(tmp_path, cfg, capsys)
    assert err == f"aispm: error: {cfg}: file is larger than 1 MiB; a policy file must be at most 1 MiB\n"
    exact = tmp_path / "exact.yaml"   # exactly the limit is still read
    body = "required_tags: [owner]\n"
    exact.write_text(body + "#" * (MAX_POLICY_BYTES - len(body) - 1) + "\n")
    assert exact.stat().st_size == MAX_POLICY_BYTES
    assert load_policy(exact).required_tags == ["owner"]


def _asset(uid: str = NB_ARN, tags: dict[str, str] | None = None, provider: str = "aws",
           kind: str = "notebook", facts: dict[str, Any] | None = None) -> Asset:
    return Asset.model_validate({"uid": uid, "provider": provider, "service": PROVIDERS[provider].services[0],
                                 "kind": kind, "name": uid.rsplit("/", 1)[-1], "account": "123456789012",
                                 "region": "us-east-1", "tags": tags or {}, **(facts or OPEN)})


def _suppressed(sup: Suppression, a: Asset, rule: str = "AISPM-NET-002",
                today: dt.date = dt.date(2026, 6, 1)) -> str | None:
    [ev] = [e for e in evaluate([a], policy=Policy(suppressions=[sup]), today=today).evaluations
            if e.rule.id == rule]
    return ev.suppression


@pytest.mark.parametrize(("sup", "tags", "expected"), [
    # resource glob
    (Suppression(rule="AISPM-NET-002", resource="arn:aws:sagemaker:*:*:notebook-instance/sandbox-*",
                 justification="glob"), {}, "glob"),
    (Suppression(rule="AISPM-NET-002", resource="arn:aws:sagemaker:*:*:notebook-instance/prod-*",
                 justification="glob"), {}, None),
    (Suppression(rule="AISPM-NET-002", resource="ARN:AWS:SAGEMAKER:*", justification="case"), {}, None),
    # tags: every listed tag must match
    (Suppression(rule="AISPM-NET-002", tags={"env": "sandbox"}, justification="tags"),
     {"env": "sandbox", "owner": "x"}, "tags"),
    (Suppression(rule="AISPM-NET-002", tags={"env": "sandbox", "owner": "y"}, justification="tags"),
     {"env": "sandbox", "owner": "x"}, None),
    (Suppression(rule="AISPM-NET-002", tags={"env": "sandbox"}, justification="tags"), {}, None),
    # both: resource and tags must match
    (Suppression(rule="AISPM-NET-002", resource="*sandbox-1", tags={"env": "sandbox"}, justification="both"),
     {"env": "sandbox"}, "both"),
    (Suppression(rule="AISPM-NET-002", resource="*sandbox-1", tags={"env": "sandbox"}, justification="both"),
     {"env": "prod"}, None),
    (Suppression(rule="AISPM-NET-002", resource="*prod-1", tags={"env": "sandbox"}, justification="both"),
     {"env": "sandbox"}, None),
    # any rule, or another rule
    (Suppression(rule="*", resource="*sandbox-*", justification="any rule"), {}, "any rule"),
    (Suppression(rule="AISPM-NET-005", resource="*sandbox-*", justification="other rule"), {}, None),
])
def test_suppression_matching(sup: Suppression, tags: dict[str, str], expected: str | None) -> None:
    assert _suppressed(sup, _asset(tags=tags)) == expected


def test_suppressed_fail_becomes_ocsf_status_3_with_justification() -> None:
    sup = Suppression(rule="*", tags={"env": "sandbox"}, justification="Sandbox isolated by SCP")
    [ev] = [e for e in evaluate([_asset(tags={"env": "sandbox"})], policy=Policy(suppressions=[sup])).evaluations
            if e.rule.id == "AISPM-NET-002"]
    f = to_ocsf(finding_of(ev, 1, "0"))
    assert (f["status_id"], f["status"]) == (3, "Suppressed")
    assert f["status_detail"] == ("Suppressed: Sandbox isolated by SCP "
                                  "(DirectInternetAccess is Enabled: it has direct internet access.)")
    assert (f["compliance"]["status"], f["compliance"]["status_id"]) == ("Fail", 3)


def test_pass_findings_are_never_marked_suppressed() -> None:
    closed = {"network": {"direct_internet_access": {"value": False, "source": "DirectInternetAccess",
                                                     "observed": "Disabled"}}}
    sup = Suppression(rule="*", resource="*", justification="everything")
    assert _suppressed(sup, _asset(facts=closed)) is None


def test_suppression_applies_through_its_expiry_day_and_not_after() -> None:
    sup = Suppression(rule="AISPM-NET-002", resource="*sandbox-1", justification="temporary",
                      expires=dt.date(2026, 6, 1))
    assert _suppressed(sup, _asset(), today=dt.date(2026, 6, 1)) == "temporary"
    assert _suppressed(sup, _asset(), today=dt.date(2026, 6, 2)) is None
    result = evaluate([_asset()], policy=Policy(suppressions=[sup]), today=dt.date(2026, 6, 2))
    assert result.expired_suppressions == [sup]
    assert sup.label() == "AISPM-NET-002 on resource *sandbox-1 (expired 2026-06-01)"


def test_severity_override_and_disabled_rules() -> None:
    policy = Policy.model_validate({"rules": {"disabled": ["AISPM-NET-005"], "severity": {"AISPM-NET-002": "low"}}})
    facts = {"network": {**OPEN["network"], "private_network": {"value": False, "source": "SubnetId",
                                                               "observed": "absent"}}}
    evs = {e.rule.id: e for e in evaluate([_asset(facts=facts)], policy=policy).evaluations}
    assert evs["AISPM-NET-002"].severity == Severity.low
    assert "AISPM-NET-005" not in evs
    assert "AISPM-NET-005" in {e.rule.id for e in evaluate([_asset(facts=facts)]).evaluations}


@pytest.fixture
def aws_estate() -> Iterator[None]:
    with mock_aws():
        sm: Any = boto3.client("sagemaker", region_name="us-east-1")
        iam: Any = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        sm.create_notebook_instance(NotebookInstanceName="sandbox-1", InstanceType="ml.t3.medium", RoleArn=role,
                                    DirectInternetAccess="Enabled", Tags=[{"Key": "env", "Value": "sandbox"}])
        sm.create_notebook_instance(NotebookInstanceName="prod-1", InstanceType="ml.t3.medium", RoleArn=role,
                                    DirectInternetAccess="Enabled")
        yield


def _findings(out: Path) -> dict[tuple[str, str], dict[str, Any]]:
    lines = (out / "findings.ocsf.jsonl").read_text().splitlines()
    return {(f["compliance"]["control"], f["resources"][0]["name"]): f for f in map(json.loads, lines)}


def test_scan_warns_about_an_expired_suppression_and_no_longer_applies_it(
        aws_estate: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "policy.yaml"
    cfg.write_text(
        "suppressions:\n"
        "  - rule: AISPM-NET-002\n    resource: '*notebook-instance/prod-*'\n"
        "    justification: Migration ticket 42\n    expires: 2020-01-31\n"
        "  - rule: '*'\n    tags: {env: sandbox}\n    justification: Sandbox isolated by SCP\n")
    out = tmp_path / "out"
    code = main(["scan", "--provider", "aws", "--region", "us-east-1", "--config", str(cfg), "--out", str(out)])
    assert code == 0
    err = capsys.readouterr().err
    assert ("aispm: warning: suppression expired and no longer applies: "
            "AISPM-NET-002 on resource *notebook-instance/prod-* (expired 2020-01-31)") in err
    findings = _findings(out)
    prod = findings[("AISPM-NET-002", "prod-1")]
    assert (prod["status_id"], prod["compliance"]["status"]) == (1, "Fail")
    assert "Migration ticket 42" not in prod["status_detail"]
    sandbox = findings[("AISPM-NET-002", "sandbox-1")]
    assert sandbox["status_id"] == 3
    assert sandbox["status_detail"].startswith("Suppressed: Sandbox isolated by SCP (")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["findings"]["suppressed"] == sum(f["status_id"] == 3 for f in findings.values())

"""The OCSF finding shape of the contract, field by field."""

from __future__ import annotations

import pytest

from aispm.normalizer import normalize
from aispm.rules.engine import evaluate
from aispm.rules.finding import finding_of
from aispm.rules.model import Severity
from aispm.rules.policy import Policy, RuleSettings, Suppression
from aispm.sinks.formats.ocsf import closed, finding_uid, from_ocsf, to_ocsf
from tests.support.aws import record
from tests.support.findings import TIME_MS, aws_asset, azure_asset, finding, gcp_asset

ARN = "arn:aws:sagemaker:us-east-1:123456789012:notebook-instance/nb"
NB = {"NotebookInstanceArn": ARN, "NotebookInstanceName": "nb", "DirectInternetAccess": "Enabled"}


def _finding(policy: Policy | None = None, rule: str = "AISPM-NET-002") -> dict:
    assets = normalize("aws", [record("notebook", NB)])
    [ev] = [e for e in evaluate(assets, policy=policy).evaluations if e.rule.id == rule]
    return to_ocsf(finding_of(ev, 1_700_000_000_123, "1.2.3", "scan-1"))


def test_contract_fields() -> None:
    f = _finding()
    assert (f["class_uid"], f["category_uid"], f["type_uid"], f["activity_id"]) == (2003, 2, 200301, 1)
    assert f["time"] == 1_700_000_000_123
    assert (f["severity_id"], f["severity"]) == (4, "High")
    assert f["metadata"]["version"] == "1.3.0"
    assert f["metadata"]["product"]["name"] == "aispm"
    assert f["metadata"]["product"]["vendor_name"]
    assert f["metadata"]["product"]["version"] == "1.2.3"
    assert f["finding_info"]["uid"] == finding_uid("AISPM-NET-002", ARN)
    assert f["finding_info"]["title"] == "Notebook or development environment has direct internet access"
    assert f["finding_info"]["desc"]
    assert f["compliance"]["control"] == "AISPM-NET-002"
    assert (f["compliance"]["status"], f["compliance"]["status_id"]) == ("Fail", 3)
    assert isinstance(f["compliance"]["standards"], list)
    assert isinstance(f["compliance"]["requirements"], list)
    res = f["resources"][0]
    assert (res["uid"], res["type"], res["name"], res["region"]) == (ARN, "notebook", "nb", "us-east-1")
    assert f["cloud"] == {"provider": "AWS", "account": {"uid": "123456789012"}, "region": "us-east-1"}
    assert f["remediation"]["desc"]
    assert f["status_detail"] == "DirectInternetAccess is Enabled: it has direct internet access."


def test_pass_finding() -> None:
    nb = dict(NB, DirectInternetAccess="Disabled")
    [ev] = [e for e in evaluate(normalize("aws", [record("notebook", nb)])).evaluations
            if e.rule.id == "AISPM-NET-002"]
    p = to_ocsf(finding_of(ev, 1, "1"))
    assert (p["compliance"]["status"], p["compliance"]["status_id"]) == ("Pass", 1)


def test_finding_uid_depends_only_on_rule_and_resource() -> None:
    a = finding_uid("AISPM-NET-002", ARN)
    assert a == finding_uid("AISPM-NET-002", ARN)
    assert a != finding_uid("AISPM-NET-005", ARN)
    assert a != finding_uid("AISPM-NET-002", ARN + "2")


def test_severity_override_and_suppression() -> None:
    policy = Policy(
        rules=RuleSettings(severity={"AISPM-NET-002": Severity.low}),
        suppressions=[Suppression(rule="AISPM-NET-002", resource="arn:aws:sagemaker:*:*:notebook-instance/n*",
                                  justification="isolated by SCP")],
    )
    f = _finding(policy)
    assert (f["severity_id"], f["severity"]) == (2, "Low")
    assert f["status_id"] == 3
    assert "isolated by SCP" in f["status_detail"]
    assert f["compliance"]["status"] == "Fail"


# ------------------------------------------------------------------ v1.1 amendments


def test_a_pass_is_informational_and_keeps_the_rule_severity_and_pass_wording() -> None:
    nb = {**NB, "DirectInternetAccess": "Disabled"}
    assets = normalize("aws", [record("notebook", nb)])
    policy = Policy(rules=RuleSettings(severity={"AISPM-NET-002": Severity.critical}))
    [ev] = [e for e in evaluate(assets, policy=policy).evaluations if e.rule.id == "AISPM-NET-002"]
    f = to_ocsf(finding_of(ev, 1_700_000_000_123, "1.2.3", "scan-1"))
    assert (f["compliance"]["status"], f["severity_id"], f["severity"]) == ("Pass", 1, "Informational")
    assert f["unmapped"]["rule_severity"] == "critical"
    assert f["message"] == "Notebook or development environment has no direct internet access: nb"


def test_a_fail_names_the_title_and_every_finding_declares_the_cloud_profile_and_times() -> None:
    f = _finding()
    assert f["message"] == "Notebook or development environment has direct internet access: nb"
    assert f["unmapped"]["rule_severity"] == "high"
    assert f["metadata"]["profiles"] == ["cloud"]
    assert f["finding_info"]["first_seen_time"] == f["finding_info"]["last_seen_time"] == 1_700_000_000_123


def test_every_rule_has_pass_wording() -> None:
    from aispm.rules.catalog import all_rules

    assert all(r.pass_title and r.pass_title != r.title for r in all_rules())


def test_what_aispm_writes_reads_back_exactly() -> None:
    # Dead letters and the lifecycle state hold OCSF: reading one back and writing it again changes nothing.
    samples = [
        finding(aws_asset(1)),
        finding(aws_asset(2), status="pass"),
        finding(azure_asset(1), rule_id="AISPM-NET-003"),
        finding(gcp_asset(1), rule_id="AISPM-NET-001"),
        finding(aws_asset(3), suppression="accepted by the CISO (sandbox, see TICKET-1)"),
        closed(finding(aws_asset(4)), TIME_MS + 1),
        closed(finding(aws_asset(5), status="pass"), TIME_MS + 1),
    ]
    for o in samples:
        assert to_ocsf(from_ocsf(o)) == o
    suppressed = from_ocsf(samples[4])
    assert (suppressed.outcome, suppressed.suppressed) == ("suppressed", True)
    assert [from_ocsf(o).outcome for o in samples[5:]] == ["closed", "closed"]


def test_a_letter_that_is_not_an_aispm_finding_is_refused() -> None:
    for broken in ({}, {"finding_info": {}}, dict(finding(aws_asset(1)), resources=[])):
        with pytest.raises((KeyError, IndexError, TypeError, ValueError)):
            from_ocsf(broken)

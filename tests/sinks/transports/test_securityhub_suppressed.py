"""Suppressed findings in Security Hub (contract v1.1).

moto covers BatchImportFindings and GetFindings, but not BatchUpdateFindings, and its GetFindings
ignores Filters; it also merges a re-imported finding's Workflow into the stored one, where Security
Hub keeps an existing finding's workflow. So the "existing finding becomes suppressed" cases use
botocore's Stubber on the sink's Security Hub client (it validates every request and response
against the service model), with STS from moto. New suppressed findings are checked against moto.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.stub import ANY, Stubber

from aispm.sinks.base import Batch
from aispm.sinks.formats.asff import product_arn, to_asff
from aispm.sinks.formats.ocsf import from_ocsf
from aispm.sinks.transports.securityhub import SecurityHubSettings, SecurityHubSink
from tests.support.findings import ACCOUNT, aws_asset, finding, uids
from tests.support.securityhub import Calls

PRODUCT = product_arn("us-east-1", ACCOUNT)
SANDBOX = "Sandbox accounts are isolated by SCP"
LAB = "Lab notebooks have no data"


def batch(findings: list[dict[str, Any]]) -> Batch:
    return Batch(scan_id="s", findings=[from_ocsf(f) for f in findings], assets=[], summary={})


def stored(session: Any) -> dict[str, dict[str, Any]]:
    client = session.client("securityhub")
    return {f["Id"]: f for f in client.get_findings(MaxResults=100)["Findings"]}


def as_stored(f: dict[str, Any], workflow: str) -> dict[str, Any]:
    """What GetFindings returns for ``f`` once Security Hub holds it with this workflow status."""
    a = to_asff(f, product=PRODUCT, account=ACCOUNT, region="us-east-1")
    return dict(a, Workflow={"Status": workflow})


def id_filter(findings: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Filters": {"Id": [{"Value": u, "Comparison": "EQUALS"} for u in uids(findings)],
                        "ProductArn": [{"Value": PRODUCT, "Comparison": "EQUALS"}]},
            "MaxResults": 100}


def identifiers(findings: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"Id": u, "ProductArn": PRODUCT} for u in uids(findings)]


# ------------------------------------------------------------------------- moto
def test_new_suppressed_finding_is_imported_suppressed_and_not_updated(session: Any) -> None:
    plain = finding(aws_asset(1))
    passing = finding(aws_asset(2), status="pass")
    quiet = finding(aws_asset(3), suppression=SANDBOX)
    calls = Calls(session)
    s = SecurityHubSink(SecurityHubSettings(), session=session)
    report = s.deliver(batch([plain, passing, quiet]))
    made = list(calls.made)
    assert (report.delivered, report.undelivered) == (3, [])
    held = stored(session)
    assert held[quiet["finding_info"]["uid"]]["Workflow"] == {"Status": "SUPPRESSED"}
    assert "Workflow" not in held[plain["finding_info"]["uid"]]
    assert "Workflow" not in held[passing["finding_info"]["uid"]]
    assert all("Note" not in f and "UserDefinedFields" not in f for f in held.values())
    # Read back to check, and already SUPPRESSED: no BatchUpdateFindings.
    assert [name for name, _ in made] == ["BatchImportFindings", "GetFindings"]
    [(_, params)] = [c for c in made if c[0] == "GetFindings"]
    assert [v["Value"] for v in params["Filters"]["Id"]] == uids([quiet])


def test_suppressed_findings_are_read_back_twenty_ids_at_a_time(session: Any) -> None:
    quiet = [finding(aws_asset(i), suppression=SANDBOX) for i in range(45)]
    calls = Calls(session)
    s = SecurityHubSink(SecurityHubSettings(), session=session)
    report = s.deliver(batch([finding(aws_asset(100)), *quiet]))
    assert (report.delivered, report.undelivered) == (46, [])
    asked = [[v["Value"] for v in p["Filters"]["Id"]] for name, p in calls.made if name == "GetFindings"]
    assert [len(a) for a in asked] == [20, 20, 5]
    assert sorted(u for a in asked for u in a) == sorted(uids(quiet))
    assert "BatchUpdateFindings" not in calls.names()


# ---------------------------------------------------------------------- Stubber
def stubbed_sink(session: Any) -> tuple[SecurityHubSink, Stubber]:
    s = SecurityHubSink(SecurityHubSettings(), session=session)
    stub = Stubber(s.client("us-east-1"))
    stub.activate()
    return s, stub


ANY_UPDATE = {"FindingIdentifiers": ANY, "Workflow": {"Status": "SUPPRESSED"}, "Note": ANY}


def imported(n: int) -> dict[str, Any]:
    return {"FailedCount": 0, "SuccessCount": n, "FailedFindings": []}


def test_existing_finding_that_becomes_suppressed_is_set_suppressed_with_a_note(session: Any) -> None:
    plain = finding(aws_asset(1))
    was_new = finding(aws_asset(2), suppression=SANDBOX)          # existing, workflow NEW
    notified = finding(aws_asset(3), suppression=LAB)             # existing, NOTIFIED, another justification
    already = finding(aws_asset(4), suppression=SANDBOX)          # existing, already SUPPRESSED
    brand_new = finding(aws_asset(5), suppression=SANDBOX)        # new: the import's Workflow applied
    quiet = [was_new, notified, already, brand_new]
    s, stub = stubbed_sink(session)
    stub.add_response("batch_import_findings", imported(5), {"Findings": ANY})
    stub.add_response("get_findings", {"Findings": [
        as_stored(was_new, "NEW"), as_stored(notified, "NOTIFIED"), as_stored(already, "SUPPRESSED"),
        as_stored(brand_new, "SUPPRESSED")]}, id_filter(quiet))
    stub.add_response("batch_update_findings", {"ProcessedFindings": identifiers([was_new]), "UnprocessedFindings": []},
                      {"FindingIdentifiers": identifiers([was_new]), "Workflow": {"Status": "SUPPRESSED"},
                       "Note": {"Text": was_new["status_detail"], "UpdatedBy": "aispm"}})
    stub.add_response("batch_update_findings", {"ProcessedFindings": identifiers([notified]),
                                                "UnprocessedFindings": []},
                      {"FindingIdentifiers": identifiers([notified]), "Workflow": {"Status": "SUPPRESSED"},
                       "Note": {"Text": notified["status_detail"], "UpdatedBy": "aispm"}})
    report = s.deliver(batch([plain, *quiet]))
    stub.assert_no_pending_responses()
    assert (report.delivered, report.undelivered) == (5, [])
    assert SANDBOX in was_new["status_detail"] and LAB in notified["status_detail"]
    assert (s.calls, s.lookups, s.updates) == (1, 1, 2)


def test_a_finding_not_returned_by_get_findings_is_not_updated(session: Any) -> None:
    quiet = finding(aws_asset(1), suppression=SANDBOX)
    s, stub = stubbed_sink(session)
    stub.add_response("batch_import_findings", imported(1), {"Findings": ANY})
    # A filter Security Hub honours never returns other Ids; one that slipped through is ignored.
    other = finding(aws_asset(9), suppression=SANDBOX)
    stub.add_response("get_findings", {"Findings": [as_stored(other, "NEW")]}, id_filter([quiet]))
    report = s.deliver(batch([quiet]))
    stub.assert_no_pending_responses()
    assert (report.delivered, report.undelivered, s.updates) == (1, [], 0)


def test_batch_update_failure_leaves_those_findings_undelivered(session: Any) -> None:
    plain = finding(aws_asset(1))
    quiet = finding(aws_asset(2), suppression=SANDBOX)
    s, stub = stubbed_sink(session)
    stub.add_response("batch_import_findings", imported(2), {"Findings": ANY})
    stub.add_response("get_findings", {"Findings": [as_stored(quiet, "NEW")]}, id_filter([quiet]))
    stub.add_client_error("batch_update_findings", service_error_code="AccessDeniedException",
                          service_message="not authorized to perform securityhub:BatchUpdateFindings",
                          http_status_code=403)
    report = s.deliver(batch([plain, quiet]))
    stub.assert_no_pending_responses()
    assert report.delivered == 1
    [left] = report.undelivered
    assert left.payload == quiet
    assert "BatchUpdateFindings" in left.reason and "AccessDeniedException" in left.reason


def test_unprocessed_findings_are_undelivered(session: Any) -> None:
    a, b = (finding(aws_asset(i), suppression=SANDBOX) for i in (1, 2))
    s, stub = stubbed_sink(session)
    stub.add_response("batch_import_findings", imported(2), {"Findings": ANY})
    stub.add_response("get_findings", {"Findings": [as_stored(a, "NEW"), as_stored(b, "NEW")]}, id_filter([a, b]))
    stub.add_response("batch_update_findings", {
        "ProcessedFindings": identifiers([a]),
        "UnprocessedFindings": [{"FindingIdentifier": identifiers([b])[0], "ErrorCode": "FindingNotFound",
                                 "ErrorMessage": "not found"}]}, ANY_UPDATE)
    report = s.deliver(batch([a, b]))
    stub.assert_no_pending_responses()
    assert report.delivered == 1
    [left] = report.undelivered
    assert left.payload == b and "FindingNotFound" in left.reason



def test_get_findings_failure_leaves_only_the_suppressed_undelivered(session: Any) -> None:
    plain = finding(aws_asset(1))
    quiet = finding(aws_asset(2), suppression=SANDBOX)
    s, stub = stubbed_sink(session)
    stub.add_response("batch_import_findings", imported(2), {"Findings": ANY})
    stub.add_client_error("get_findings", service_error_code="AccessDeniedException", http_status_code=403)
    report = s.deliver(batch([plain, quiet]))
    stub.assert_no_pending_responses()  # and no BatchUpdateFindings was attempted
    assert report.delivered == 1
    [left] = report.undelivered
    assert left.payload == quiet and "GetFindings" in left.reason


def test_only_suppressed_findings_carry_workflow_in_the_import(session: Any) -> None:
    plain, passing = finding(aws_asset(1)), finding(aws_asset(2), status="pass")
    quiet = finding(aws_asset(3), suppression=SANDBOX)
    sent: list[dict[str, Any]] = []

    def keep(params: dict[str, Any], **_: Any) -> None:
        sent.extend(json.loads(params["body"])["Findings"])

    session.events.register("before-call.securityhub.BatchImportFindings", keep)  # observes only
    SecurityHubSink(SecurityHubSettings(), session=session).deliver(batch([plain, passing, quiet]))
    by_id = {f["Id"]: f for f in sent}
    assert by_id[quiet["finding_info"]["uid"]]["Workflow"] == {"Status": "SUPPRESSED"}
    for f in (plain, passing):
        assert not {"Workflow", "Note", "UserDefinedFields"} & set(by_id[f["finding_info"]["uid"]])

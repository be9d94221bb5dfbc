"""Replayed dead letters never replace a newer record in Security Hub.

A letter keeps the UpdatedAt of the scan that produced it; before importing a replay the sink reads
what Security Hub holds for those Ids and imports only letters that are newer. moto's
BatchImportFindings overwrites whatever it is sent (it does not compare UpdatedAt), so these tests fail
if the sink imports a stale letter. moto's GetFindings ignores Filters, which the sink tolerates (it
checks every returned Id and ProductArn itself); the filters it sends are checked on the requests.

Stubber (on the sink's own Security Hub client, STS from moto) where moto lacks a behaviour:
a GetFindings call that fails (moto cannot be made to fail one), a held record whose UpdatedAt is
written with an offset or is unreadable (moto returns exactly what it was sent), and
BatchUpdateFindings (not implemented by moto).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from botocore.stub import Stubber

from aispm.replay import replay
from aispm.sinks.base import Batch, Undelivered
from aispm.sinks.delivery.deadletter import FileDeadLetter
from aispm.sinks.formats.asff import iso, product_arn, to_asff
from aispm.sinks.formats.ocsf import closed, from_ocsf
from aispm.sinks.transports.securityhub import SecurityHubSettings, SecurityHubSink
from tests.support.findings import ACCOUNT, TIME_MS, aws_asset, finding, uids
from tests.support.securityhub import Calls

PRODUCT = product_arn("us-east-1", ACCOUNT)
HOUR = 3_600_000
SANDBOX = "Sandbox accounts are isolated by SCP"


def sink(session: Any) -> SecurityHubSink:
    return SecurityHubSink(SecurityHubSettings(retry_base_seconds=0.001), session=session)


def scan(findings: list[dict[str, Any]]) -> Batch:
    return Batch(scan_id="s", findings=[from_ocsf(f) for f in findings], assets=[], summary={})


def replayed(findings: list[dict[str, Any]]) -> Batch:
    return Batch(scan_id="replay-x", findings=[from_ocsf(f) for f in findings], assets=[], summary={}, replay=True)


def held(session: Any) -> dict[str, dict[str, Any]]:
    client = session.client("securityhub")
    out: dict[str, dict[str, Any]] = {}
    kwargs: dict[str, Any] = {"MaxResults": 100}
    while True:
        page = client.get_findings(**kwargs)
        out.update((f["Id"], f) for f in page["Findings"])
        if not page.get("NextToken"):
            return out
        kwargs["NextToken"] = page["NextToken"]


def uid(f: dict[str, Any]) -> str:
    return str(f["finding_info"]["uid"])


# ------------------------------------------------------------------------- moto
def test_an_older_letter_replayed_after_a_newer_scan_is_superseded(session: Any) -> None:
    asset = aws_asset(1)
    letter = finding(asset, status="fail", time_ms=TIME_MS)               # scan N: never reached Security Hub
    newer = finding(asset, status="pass", time_ms=TIME_MS + HOUR)          # scan N+1: imported
    assert sink(session).deliver(scan([newer])).delivered == 1
    s = sink(session)
    report = s.deliver(replayed([letter]))
    assert (report.delivered, report.undelivered) == (1, [])   # superseded: it leaves the dead-letter store
    assert (s.superseded, s.calls) == (1, 0)                    # and it was never imported
    stored = held(session)[uid(letter)]
    assert stored["Compliance"]["Status"] == "PASSED"
    assert stored["UpdatedAt"] == iso(TIME_MS + HOUR)


def test_a_replayed_letter_does_not_reopen_an_archived_finding(session: Any) -> None:
    asset = aws_asset(1)
    letter = finding(asset, status="fail", time_ms=TIME_MS)
    gone = closed(finding(asset, status="fail", time_ms=TIME_MS - HOUR), TIME_MS + HOUR)  # the resource vanished
    assert sink(session).deliver(scan([gone])).delivered == 1
    assert held(session)[uid(letter)]["RecordState"] == "ARCHIVED"
    report = sink(session).deliver(replayed([letter]))
    assert (report.delivered, report.undelivered) == (1, [])
    stored = held(session)[uid(letter)]
    assert (stored["RecordState"], stored["UpdatedAt"]) == ("ARCHIVED", iso(TIME_MS + HOUR))


def test_a_letter_of_the_same_scan_as_the_record_held_is_not_imported_again(session: Any) -> None:
    f = finding(aws_asset(1), time_ms=TIME_MS)
    assert sink(session).deliver(scan([f])).delivered == 1
    s = sink(session)
    report = s.deliver(replayed([dict(f, status_detail="changed only to tell the records apart")]))
    assert (report.delivered, report.undelivered, s.calls, s.superseded) == (1, [], 0, 1)
    assert "changed only" not in held(session)[uid(f)]["ProductFields"].get("aispm/StatusDetail", "")


def test_a_letter_newer_than_the_record_held_is_imported(session: Any) -> None:
    asset = aws_asset(1)
    assert sink(session).deliver(scan([finding(asset, status="fail", time_ms=TIME_MS)])).delivered == 1
    letter = finding(asset, status="pass", time_ms=TIME_MS + HOUR)
    s = sink(session)
    report = s.deliver(replayed([letter]))
    assert (report.delivered, report.undelivered, s.calls, s.superseded) == (1, [], 1, 0)
    stored = held(session)[uid(letter)]
    assert (stored["Compliance"]["Status"], stored["UpdatedAt"]) == ("PASSED", iso(TIME_MS + HOUR))


def test_a_letter_whose_id_is_not_held_is_imported_and_the_lookup_is_filtered(session: Any) -> None:
    other = finding(aws_asset(2))
    assert sink(session).deliver(scan([other])).delivered == 1
    letter = finding(aws_asset(1))
    calls = Calls(session)
    report = sink(session).deliver(replayed([letter]))
    assert (report.delivered, report.undelivered) == (1, [])
    assert held(session)[uid(letter)]["UpdatedAt"] == iso(TIME_MS)
    assert calls.names()[:2] == ["GetFindings", "BatchImportFindings"]
    _, params = calls.made[0]
    assert params["Filters"] == {"Id": [{"Value": uid(letter), "Comparison": "EQUALS"}],
                                 "ProductArn": [{"Value": PRODUCT, "Comparison": "EQUALS"}]}


def test_of_two_letters_of_one_id_only_the_newer_is_imported(session: Any) -> None:
    asset = aws_asset(1)
    newer = finding(asset, status="pass", time_ms=TIME_MS + HOUR)
    older = finding(asset, status="fail", time_ms=TIME_MS)
    calls = Calls(session)
    s = sink(session)
    report = s.deliver(replayed([newer, older]))   # imported in this order, the older would win in moto
    assert (report.delivered, report.undelivered, s.superseded) == (2, [], 1)
    sent = [[f["UpdatedAt"] for f in p["Findings"]] for name, p in calls.made if name == "BatchImportFindings"]
    assert sent == [[iso(TIME_MS + HOUR)]]
    assert held(session)[uid(newer)]["Compliance"]["Status"] == "PASSED"


def test_replay_lookups_take_twenty_ids_at_a_time(session: Any) -> None:
    current = [finding(aws_asset(i), status="pass", time_ms=TIME_MS + HOUR) for i in range(30)]
    assert sink(session).deliver(scan(current)).delivered == 30
    letters = [finding(aws_asset(i), time_ms=TIME_MS) for i in range(45)]   # 30 superseded, 15 new
    calls = Calls(session)
    s = sink(session)
    report = s.deliver(replayed(letters))
    assert (report.delivered, report.undelivered, s.superseded) == (45, [], 30)
    asked = [[v["Value"] for v in p["Filters"]["Id"]] for name, p in calls.made if name == "GetFindings"]
    assert [len(a) for a in asked] == [20, 20, 5]
    assert sorted(u for a in asked for u in a) == sorted(uids(letters))
    imported = [f["Id"] for name, p in calls.made if name == "BatchImportFindings" for f in p["Findings"]]
    assert sorted(imported) == sorted(uids(letters[30:]))
    stored = held(session)
    assert {stored[u]["Compliance"]["Status"] for u in uids(current)} == {"PASSED"}


def test_a_scan_makes_no_lookup_before_importing(session: Any) -> None:
    asset = aws_asset(1)
    assert sink(session).deliver(scan([finding(asset, time_ms=TIME_MS + HOUR)])).delivered == 1
    calls = Calls(session)
    s = sink(session)
    report = s.deliver(scan([finding(asset, status="pass", time_ms=TIME_MS + 2 * HOUR)]))
    assert (report.delivered, report.undelivered) == (1, [])
    assert (calls.names(), s.lookups, s.superseded) == (["BatchImportFindings"], 0, 0)


def test_a_replay_that_runs_into_the_deadline_keeps_its_letters(session: Any) -> None:
    s = sink(session)
    s.set_deadline(time.monotonic() + 1)   # the sink's default clock; less than the 5 s margin: no call starts
    report = s.deliver(replayed([finding(aws_asset(1))]))
    assert report.delivered == 0
    [left] = report.undelivered
    assert "deadline" in left.reason and "not imported" in left.reason
    assert (s.lookups, s.calls) == (0, 0)
    assert held(session) == {}


def test_aispm_replay_removes_a_superseded_letter_and_keeps_the_newer_state(
        session: Any, tmp_path: Path) -> None:
    asset = aws_asset(1)
    letter = finding(asset, status="fail", time_ms=TIME_MS)
    store = FileDeadLetter(tmp_path / "dead-letter.jsonl")
    store.put([Undelivered("securityhub", "throttled", letter)])
    assert sink(session).deliver(scan([closed(letter, TIME_MS + HOUR)])).delivered == 1
    delivered, remaining = replay(store, [], tmp_path)
    assert (delivered, remaining) == (1, [])
    assert store.read() == []
    stored = held(session)[uid(letter)]
    assert (stored["RecordState"], stored["UpdatedAt"]) == ("ARCHIVED", iso(TIME_MS + HOUR))


# ---------------------------------------------------------------------- Stubber
def stubbed(session: Any) -> tuple[SecurityHubSink, Stubber]:
    s = SecurityHubSink(SecurityHubSettings(), session=session)
    stub = Stubber(s.client("us-east-1"))
    stub.activate()
    return s, stub


def as_sent(f: dict[str, Any]) -> dict[str, Any]:
    return to_asff(f, product=PRODUCT, account=ACCOUNT, region="us-east-1")


def as_held(f: dict[str, Any], updated_at: str, workflow: str = "NEW") -> dict[str, Any]:
    """What GetFindings returns for ``f`` held with this UpdatedAt and workflow status."""
    return dict(as_sent(f), UpdatedAt=updated_at, Workflow={"Status": workflow})


def lookup(findings: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Filters": {"Id": [{"Value": u, "Comparison": "EQUALS"} for u in uids(findings)],
                        "ProductArn": [{"Value": PRODUCT, "Comparison": "EQUALS"}]},
            "MaxResults": 100}


def imported(n: int) -> dict[str, Any]:
    return {"FailedCount": 0, "SuccessCount": n, "FailedFindings": []}


def test_a_failed_lookup_leaves_only_its_letters_undelivered(session: Any) -> None:
    # Not in moto: a GetFindings call that fails.
    letters = [finding(aws_asset(i)) for i in range(25)]
    first, second = letters[:20], letters[20:]
    s, stub = stubbed(session)
    stub.add_response("get_findings", {"Findings": []}, lookup(first))
    stub.add_client_error("get_findings", service_error_code="AccessDeniedException",
                          service_message="not authorized to perform securityhub:GetFindings",
                          http_status_code=403, expected_params=lookup(second))
    # Only the letters whose lookup succeeded are imported (the Stubber checks the request exactly).
    stub.add_response("batch_import_findings", imported(20), {"Findings": [as_sent(f) for f in first]})
    report = s.deliver(replayed(letters))
    stub.assert_no_pending_responses()
    assert report.delivered == 20
    assert sorted(uids([u.payload for u in report.undelivered])) == sorted(uids(second))
    assert all("GetFindings" in u.reason and "AccessDeniedException" in u.reason and "not imported" in u.reason
               for u in report.undelivered)


def test_held_times_are_compared_as_times(session: Any) -> None:
    # Not in moto: a record written with an offset or an unreadable UpdatedAt (moto returns what it was sent).
    later = finding(aws_asset(1), time_ms=TIME_MS + 30 * 60_000)   # 00:30Z
    older = finding(aws_asset(2), time_ms=TIME_MS)                  # 00:00Z
    unreadable = finding(aws_asset(3), time_ms=TIME_MS + HOUR)
    letters = [later, older, unreadable]
    s, stub = stubbed(session)
    stub.add_response("get_findings", {"Findings": [
        as_held(later, "2026-01-01T01:00:00+01:00"),    # 00:00Z: the letter is newer, though it sorts lower as text
        as_held(older, "2026-01-01T00:00:00.000001Z"),  # a microsecond later than the letter
        as_held(unreadable, "yesterday"),
    ]}, lookup(letters))
    stub.add_response("batch_import_findings", imported(1), {"Findings": [as_sent(later)]})
    report = s.deliver(replayed(letters))
    stub.assert_no_pending_responses()
    assert (report.delivered, s.superseded) == (2, 1)    # later imported, older superseded
    [left] = report.undelivered
    assert left.payload == unreadable and "UpdatedAt" in left.reason


def test_a_replayed_suppressed_letter_is_checked_and_suppressed_with_one_lookup(session: Any) -> None:
    # Not in moto: BatchUpdateFindings. The lookup before the import also tells which workflow to set.
    existing = finding(aws_asset(1), suppression=SANDBOX, time_ms=TIME_MS + HOUR)
    new = finding(aws_asset(2), suppression=SANDBOX, time_ms=TIME_MS + HOUR)
    s, stub = stubbed(session)
    stub.add_response("get_findings", {"Findings": [as_held(existing, iso(TIME_MS), "NOTIFIED")]},
                      lookup([existing, new]))
    stub.add_response("batch_import_findings", imported(2), {"Findings": [as_sent(existing), as_sent(new)]})
    stub.add_response("batch_update_findings",
                      {"ProcessedFindings": [{"Id": uid(existing), "ProductArn": PRODUCT}], "UnprocessedFindings": []},
                      {"FindingIdentifiers": [{"Id": uid(existing), "ProductArn": PRODUCT}],
                       "Workflow": {"Status": "SUPPRESSED"},
                       "Note": {"Text": existing["status_detail"], "UpdatedBy": "aispm"}})
    report = s.deliver(replayed([existing, new]))
    stub.assert_no_pending_responses()
    assert (report.delivered, report.undelivered) == (2, [])
    assert (s.lookups, s.calls, s.updates) == (1, 1, 1)

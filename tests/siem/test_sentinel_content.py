"""The Sentinel content in siem/sentinel/ (ARM JSON; no Bicep or Azure CLI installable here to lint it): the
data collection rule's stream and the custom table have exactly the columns the sentinel sink writes, every
detection of the catalog has an analytics rule whose filter matches the rows of real findings, and every query
of the rules and the workbook reads only the table's columns."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from aispm.rules.detections.catalog import detections_by_id
from aispm.sinks.formats.sentinel import COLUMNS, STREAM, TABLE, to_row
from tests.support.siem import detection_events, posture_events

SENTINEL = Path(__file__).resolve().parents[2] / "siem" / "sentinel"
TACTICS = {"InitialAccess", "Execution", "Persistence", "PrivilegeEscalation", "DefenseEvasion", "CredentialAccess",
           "Discovery", "LateralMovement", "Collection", "Exfiltration", "CommandAndControl", "Impact",
           "Reconnaissance", "ResourceDevelopment"}
KQL_WORDS = {"Failures", "Resources", "Detections", "Ocsf"}   # names a query defines, and the raw OCSF column


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SENTINEL / name).read_text())
    return data


def resources(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in template["resources"] if r["type"] == kind]


def test_the_stream_and_the_table_have_the_sinks_columns() -> None:
    template = load("logs-ingestion.json")
    expected = [{"name": k, "type": v} for k, v in COLUMNS.items()]
    [table] = resources(template, "Microsoft.OperationalInsights/workspaces/tables")
    assert table["properties"]["schema"]["columns"] == expected
    assert template["variables"]["tableName"] == TABLE
    [dcr] = resources(template, "Microsoft.Insights/dataCollectionRules")
    assert dcr["properties"]["streamDeclarations"] == {STREAM: {"columns": expected}}
    [flow] = dcr["properties"]["dataFlows"]
    assert flow["streams"] == [STREAM] and flow["outputStream"] == STREAM
    assert resources(template, "Microsoft.Insights/dataCollectionEndpoints")
    assert {"AISPM_SENTINEL_DCE_URL", "AISPM_SENTINEL_DCR_ID", "AISPM_SENTINEL_STREAM"} <= set(template["outputs"])
    assert set(to_row(posture_events()[0])) == set(COLUMNS)


def columns_used(query: str) -> set[str]:
    """Capitalised identifiers a KQL query names, outside string literals (the table's columns are CamelCase)."""
    bare = re.sub(r'"[^"]*"', " ", query)
    names = set(re.findall(r"(?<![\w.])([A-Z][A-Za-z]+)(?![\w(])", bare))
    return names - {TABLE.removesuffix("_CL")} - KQL_WORDS


def matches(query: str, row: dict[str, Any]) -> bool:
    """Whether a row passes the query's first ``where`` (a conjunction of == and != on columns)."""
    where = re.search(r"\| where (.+)", query)
    assert where is not None
    for column, op, value in re.findall(r'(\w+) (==|!=) "([^"]*)"', where.group(1)):
        if (row[column] == value) != (op == "=="):
            return False
    return True


def test_an_analytics_rule_per_detection_and_for_critical_posture_findings() -> None:
    rules = resources(load("content.json"), "Microsoft.OperationalInsights/workspaces/providers/alertRules")
    by_rule_id = {m.group(1): r for r in rules if (m := re.search(r'RuleId == "([^"]+)"', r["properties"]["query"]))}
    assert set(by_rule_id) == set(detections_by_id())
    critical = [r for r in rules if 'Severity == "Critical"' in r["properties"]["query"]]
    assert len(critical) == 1 and len(rules) == len(detections_by_id()) + 1
    for rule in rules:
        props = rule["properties"]
        assert rule["kind"] == "Scheduled"
        assert props["query"].startswith(TABLE)
        assert columns_used(props["query"]) <= set(COLUMNS), props["displayName"]
        assert set(props["tactics"]) <= TACTICS
        assert all(re.fullmatch(r"T\d{4}", t) for t in props["techniques"])
        for mapping in props["entityMappings"]:
            assert {m["columnName"] for m in mapping["fieldMappings"]} <= set(COLUMNS)
    rows = [to_row(e) for e in detection_events()]
    for row in rows:
        fired = [d for d, r in by_rule_id.items() if matches(r["properties"]["query"], row)]
        assert fired == [row["RuleId"]]
    posture = [to_row(e) for e in posture_events()]
    assert not any(matches(critical[0]["properties"]["query"], r) for r in posture)   # none is critical
    critical_row = dict(posture[0], Severity="Critical")
    assert matches(critical[0]["properties"]["query"], critical_row)


def test_the_workbook_reads_the_table_and_its_columns() -> None:
    workbook = load("workbook.json")
    queries = [i["content"]["query"] for i in workbook["items"] if i["type"] == 3]
    assert len(queries) == 5
    for query in queries:
        assert query.startswith(TABLE)
        assert columns_used(query) <= set(COLUMNS), query
    [resource] = resources(load("content.json"), "Microsoft.Insights/workbooks")
    assert resource["properties"]["serializedData"] == "[string(parameters('workbookData'))]"

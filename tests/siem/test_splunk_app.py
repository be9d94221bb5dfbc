"""The Splunk app in siem/splunk/ against real aispm events, offline: every JSON key its aliases and evals read
exists in the events of its sourcetype, every field its eventtypes, saved searches and dashboard use exists
(extracted or computed), timestamps and line breaking find what aispm writes, and the build gives one app folder.
(splunk-appinspect itself runs in scripts/lint-siem.)"""

from __future__ import annotations

import configparser
import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.support.siem import detection_events, posture_events

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "siem" / "splunk"
DEFAULT = APP / "default"
SOURCETYPES = ("aispm:finding", "aispm:detection")
BUILT_IN = {"_time", "_raw", "index", "host", "source", "sourcetype", "eventtype", "tag", "count"}
SPL_WORDS = {"AS", "BY", "OVER", "NOT", "OR", "AND", "as", "by", "over", "count", "dc", "sort", "head", "table",
             "stats", "chart", "timechart", "dedup", "where", "relative_time", "now", "true", "lower", "mvindex",
             "case"}


def conf(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, delimiters=("=",), comment_prefixes=("#",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEFAULT / name, encoding="utf-8")
    return parser


def splunk_keys(event: Any, prefix: str = "") -> set[str]:
    """The field names Splunk's JSON extraction (KV_MODE = json) gives an event: dotted paths, ``{}`` for arrays."""
    keys: set[str] = set()
    if isinstance(event, dict):
        for key, value in event.items():
            keys |= splunk_keys(value, f"{prefix}.{key}" if prefix else key)
    elif isinstance(event, list):
        for value in event:
            keys |= splunk_keys(value, prefix + "{}")
    else:
        keys.add(prefix)
    return keys


EVENTS = {"aispm:finding": posture_events(), "aispm:detection": detection_events()}
EXTRACTED = {st: set().union(*(splunk_keys(e) for e in events)) for st, events in EVENTS.items()}


def alias_pairs(value: str) -> list[tuple[str, str]]:
    return re.findall(r'"?([\w.{}]+)"?\s+AS\s+([\w.]+)', value)


def eval_refs(expression: str) -> set[str]:
    """Fields an eval expression reads: 'quoted' names and bare names that are not functions or literals."""
    quoted = set(re.findall(r"'([^']+)'", expression))
    bare = re.sub(r"'[^']*'|\"[^\"]*\"", " ", expression)
    names = {n for n in re.findall(r"\b([A-Za-z_][\w.]*)\b(?!\s*\()", bare) if n not in SPL_WORDS}
    return quoted | names


def computed(sourcetype: str) -> set[str]:
    """Fields the app adds to a sourcetype (aliases and evals)."""
    stanza = conf("props.conf")[sourcetype]
    out = set()
    for key, value in stanza.items():
        if key.startswith("FIELDALIAS-"):
            out |= {new for _, new in alias_pairs(value)}
        elif key.startswith("EVAL-"):
            out.add(key.removeprefix("EVAL-"))
    return out


def fields(sourcetype: str) -> set[str]:
    return EXTRACTED[sourcetype] | computed(sourcetype) | BUILT_IN


@pytest.mark.parametrize("sourcetype", SOURCETYPES)
def test_every_key_the_aliases_and_evals_read_exists_in_real_events(sourcetype: str) -> None:
    stanza = conf("props.conf")[sourcetype]
    missing = []
    for key, value in stanza.items():
        if key.startswith("FIELDALIAS-"):
            pairs = alias_pairs(value)
            assert pairs, key
            missing += [f"{key}: {old}" for old, _ in pairs if old not in EXTRACTED[sourcetype]]
        elif key.startswith("EVAL-"):
            missing += [f"{key}: {ref}" for ref in eval_refs(value) if ref not in EXTRACTED[sourcetype]]
    assert missing == []


@pytest.mark.parametrize("sourcetype", SOURCETYPES)
def test_cim_fields_are_there(sourcetype: str) -> None:
    cim = {"signature", "signature_id", "severity", "dest", "vendor_product", "action", "id", "type", "app",
           "description", "vendor_account", "category"} - ({"category"} if sourcetype == "aispm:detection" else set())
    assert cim <= computed(sourcetype) | EXTRACTED[sourcetype]
    if sourcetype == "aispm:detection":
        assert {"user", "src"} <= computed(sourcetype)


@pytest.mark.parametrize("sourcetype", SOURCETYPES)
def test_timestamp_and_line_breaking_find_what_aispm_writes(sourcetype: str) -> None:
    stanza = conf("props.conf")[sourcetype]
    assert stanza["KV_MODE"] == "json" and stanza["SHOULD_LINEMERGE"] == "false"
    assert stanza["TIME_FORMAT"] == "%s%3N"
    for event in EVENTS[sourcetype]:
        line = json.dumps(event)   # one object a line, as the file and HEC sinks write it
        assert not re.search(stanza["LINE_BREAKER"], line)
        match = re.search(stanza["TIME_PREFIX"].replace("\\s", r"\s"), line)
        assert match is not None
        stamp = line[match.end():match.end() + int(stanza["MAX_TIMESTAMP_LOOKAHEAD"])]
        assert re.match(r"\d{13}\b", stamp) and int(stamp[:13]) == event["time"]


def search_fields(spl: str) -> set[str]:
    """Field names an SPL search uses: field=value terms, and the arguments of table, dedup, by, over, dc()
    and where."""
    spl = spl.replace("`aispm_index`", "")
    used = set(re.findall(r"(?<![\w.'])([A-Za-z_][\w.{}]*)\s*(?:=|!=|>=|<=)", spl))
    for clause in re.findall(r"\b(?:table|dedup|by|over)\s+([^|]+)", spl):
        used |= {w for w in re.split(r"[\s,]+", clause.strip()) if w and not w.startswith("-")}
    used |= set(re.findall(r"\bdc\(([\w.{}]+)\)", spl))
    for clause in re.findall(r"\bwhere\s+([^|]+)", spl):
        used |= eval_refs(clause)
    return {u for u in used if u not in SPL_WORDS and not u.isdigit()}


def eventtype_sourcetypes(spl: str) -> list[str]:
    types = re.findall(r"eventtype=(\w+)", spl)
    assert types, spl
    searches = conf("eventtypes.conf")
    return [re.search(r'sourcetype="([^"]+)"', searches[t]["search"]).group(1) for t in types]  # type: ignore[union-attr]


def check_search(spl: str) -> list[str]:
    missing = []
    for sourcetype in eventtype_sourcetypes(spl):
        missing += [f"{sourcetype}: {f}" for f in sorted(search_fields(spl) - fields(sourcetype))
                    if not f.startswith(("failures", "resources"))]   # stats outputs named in the search
    return missing


def test_the_search_check_catches_a_missing_field() -> None:
    spl = "`aispm_index` eventtype=aispm_detection compliance.status=Fail | stats count by signature_id nosuch"
    assert check_search(spl) == ["aispm:detection: compliance.status", "aispm:detection: nosuch"]


def test_eventtypes_use_real_fields_and_values() -> None:
    for name in conf("eventtypes.conf").sections():
        search = conf("eventtypes.conf")[name]["search"]
        sourcetype = re.search(r'sourcetype="([^"]+)"', search).group(1)  # type: ignore[union-attr]
        assert sourcetype in SOURCETYPES
        for field, value in re.findall(r'(?<!\w)([\w.]+)="([^"]+)"', search):
            if field == "sourcetype":
                continue
            assert field in EXTRACTED[sourcetype], (name, field)
            values = {str(v) for e in EVENTS[sourcetype] for v in [_value(e, field)]}
            assert value in values, (name, field, value)


def _value(event: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        event = event.get(part) if isinstance(event, dict) else None  # type: ignore[assignment]
    return event


def test_every_saved_search_references_only_existing_fields() -> None:
    saved = conf("savedsearches.conf")
    assert len(saved.sections()) == 5
    for name in saved.sections():
        assert check_search(saved[name]["search"]) == [], name
    severities = {re.search(r"severity=(\w+)", saved[n]["search"]).group(1)  # type: ignore[union-attr]
                  for n in saved.sections() if "Detections" in n}
    assert severities == {"critical", "high", "medium", "low"}
    found = {e["severity"].lower() for e in EVENTS["aispm:detection"]}
    assert found <= severities


def test_the_dashboard_is_dashboard_studio_and_its_searches_use_existing_fields() -> None:
    text = (DEFAULT / "data" / "ui" / "views" / "aispm_overview.xml").read_text()
    assert '<dashboard version="2"' in text
    definition = json.loads(text.split("<![CDATA[", 1)[1].split("]]>", 1)[0])
    sources = definition["dataSources"]
    assert {v["dataSources"]["primary"] for v in definition["visualizations"].values()} == set(sources)
    assert {i["item"] for i in definition["layout"]["structure"]} == set(definition["visualizations"])
    for name, source in sources.items():
        assert check_search(source["options"]["query"]) == [], name


def test_tags_put_findings_in_the_cim_models() -> None:
    tags = conf("tags.conf")
    assert dict(tags["eventtype=aispm_posture_failure"]) == {"report": "enabled", "vulnerability": "enabled"}
    assert dict(tags["eventtype=aispm_detection"]) == {"alert": "enabled"}


def test_the_build_is_one_app_folder(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_splunk_app.py"), "--out", str(tmp_path)],
                         check=True, capture_output=True, text=True).stdout.strip()
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert {n.split("/")[0] for n in names} == {"aispm_for_splunk"}
    assert "aispm_for_splunk/default/app.conf" in names and "aispm_for_splunk/metadata/default.meta" in names
    again = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_splunk_app.py"), "--out",
                            str(tmp_path / "again")], check=True, capture_output=True, text=True).stdout.strip()
    assert Path(out).read_bytes() == Path(again).read_bytes()

"""Plain-text tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aispm.normalizer.providers import PROVIDERS
from aispm.rules.finding import Finding


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary_table(summary: dict[str, Any], findings: Sequence[Finding]) -> str:
    """Assets and failing findings per provider (columns) and rule (rows); suppressed findings are not
    failing and are counted apart, in their own column."""
    providers = list(summary.get("by_provider", {}))
    display = {name: p.display for name, p in PROVIDERS.items()}
    fails: dict[str, dict[str, int]] = {}
    severity: dict[str, str] = {}
    suppressed: dict[str, int] = {}
    for f in findings:
        if f.outcome not in ("fail", "suppressed"):   # closed ones are gone
            continue
        rule = f.rule.id
        severity[rule] = f.severity.name
        per = fails.setdefault(rule, {})
        if f.outcome == "suppressed":   # accepted, not failing; counted apart
            suppressed[rule] = suppressed.get(rule, 0) + 1
            continue
        provider = display[f.asset.provider]
        per[provider] = per.get(provider, 0) + 1
    rows: list[list[Any]] = [
        ["assets", "", *(summary["by_provider"][p].get("assets", 0) for p in providers), ""]
    ]
    for rule in sorted(fails):
        counts = [fails[rule].get(display[p], "-") for p in providers]
        rows.append([rule, severity[rule], *counts, suppressed.get(rule, "")])
    headers = ["failing findings", "severity", *(display[p] for p in providers), "suppressed"]
    return render_table(headers, rows)


def framework_table(framework: dict[str, Any], title_width: int = 60) -> str:
    """One compliance framework of summary.json, a row per requirement."""
    rows = []
    for r in framework["requirements"]:
        title = r["title"] if len(r["title"]) <= title_width else r["title"][: title_width - 1] + "…"
        failing = ", ".join(r["failing_rules"]) or "-"
        rows.append([r["id"], title, r["pass"], r["fail"], r.get("suppressed", 0), failing])
    return render_table(["requirement", "title", "pass", "fail", "suppressed", "failing rules"], rows)

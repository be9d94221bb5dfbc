"""Plain-text tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary_table(summary: dict[str, Any], findings: Sequence[dict[str, Any]]) -> str:
    """Assets and failing findings per provider and rule."""
    fails: dict[tuple[str, str], int] = {}
    for f in findings:
        if f["compliance"]["status"] == "Fail" and f.get("activity_id") != 3:  # closed ones are gone
            key = (f["cloud"]["provider"], f["compliance"]["control"])
            fails[key] = fails.get(key, 0) + 1
    rows: list[list[Any]] = []
    for provider, counts in summary.get("by_provider", {}).items():
        rows.append([provider, "(assets)", counts.get("assets", 0)])
        display = {"aws": "AWS", "azure": "Azure", "gcp": "GCP"}[provider]
        for (p, rule), n in sorted(fails.items()):
            if p == display:
                rows.append(["", rule, n])
    return render_table(["provider", "rule", "failing"], rows)


def framework_table(framework: dict[str, Any], title_width: int = 60) -> str:
    """One compliance framework of summary.json, a row per requirement."""
    rows = []
    for r in framework["requirements"]:
        title = r["title"] if len(r["title"]) <= title_width else r["title"][: title_width - 1] + "…"
        rows.append([r["id"], title, r["pass"], r["fail"], ", ".join(r["failing_rules"]) or "-"])
    return render_table(["requirement", "title", "pass", "fail", "failing rules"], rows)

"""The rule catalog as people read it: JSON records, terminal text and docs/rules.md.

Everything here is rendered from the validated catalog, so the CLI, the docs
and the findings never disagree. Regenerate the docs with
``python -m aispm.rules.docs > docs/rules.md`` (a test fails when they are stale).
"""

from __future__ import annotations

import textwrap
from typing import Any

from aispm.normalizer.providers import PROVIDERS
from aispm.rules.catalog import all_rules
from aispm.rules.frameworks import FRAMEWORKS, framework_name
from aispm.rules.model import Rule

DOCS_COMMAND = "python -m aispm.rules.docs > docs/rules.md"


def applies_to(rule: Rule) -> dict[str, str]:
    """Provider -> readable list of the asset kinds the rule evaluates."""
    return {p: ("every taggable asset" if kinds == ("*",) else ", ".join(kinds)) for p, kinds in rule.kinds.items()}


def listed_kinds(rule: Rule, framework_id: str, req_id: str) -> tuple[str, ...] | None:
    """The asset kinds on which ``rule``'s mapping to a requirement is listed (None: every kind it evaluates).

    Narrowed by the native control's kinds and by the mapping's own kinds (OWASP LLM06 on IAM-001's agents).
    """
    fw = FRAMEWORKS[framework_id]
    req = fw.requirement(req_id)
    native = req.kinds if req is not None and fw.provider is not None else None
    scoped = rule.compliance_kinds.get(framework_id, {}).get(req_id)
    if native is None and scoped is None:
        return None
    evaluated = tuple(dict.fromkeys(k for p, ks in rule.kinds.items() if fw.provider in (None, p) for k in ks))
    if "*" in evaluated:
        evaluated = native if native is not None else scoped or ()
    return tuple(k for k in evaluated if (native is None or k in native) and (scoped is None or k in scoped))


def _details(framework_id: str, req_id: str) -> str:
    req = FRAMEWORKS[framework_id].requirement(req_id)
    said = ", ".join(f"{k} {v}" for k, v in ((req.details or {}) if req else {}).items())
    return f" ({said})" if said else ""


def _where(rule: Rule, framework_id: str, req_id: str, nothing: str) -> str | None:
    kinds = listed_kinds(rule, framework_id, req_id)
    if kinds is None:
        return None
    return (", ".join(kinds) + _details(framework_id, req_id)) if kinds else nothing


def _on(rule: Rule, framework_id: str, req_id: str) -> str:
    return _where(rule, framework_id, req_id, "none") or "all"


def mappings(rule: Rule) -> list[dict[str, Any]]:
    """The rule's compliance mappings with framework names and requirement titles."""
    out: list[dict[str, Any]] = []
    for fid, ids in rule.compliance.items():
        fw = FRAMEWORKS[fid]
        out.append({
            "framework": fid,
            "name": fw.name,
            **({"provider": fw.provider} if fw.provider else {}),
            "requirements": [{"id": i, "title": fw.title_of(i),
                              **({"kinds": list(k)} if (k := rule.compliance_kinds.get(fid, {}).get(i)) else {})}
                             for i in ids],
        })
    return out


def rule_record(rule: Rule) -> dict[str, Any]:
    """Everything the catalog knows about a rule, as JSON."""
    return {
        "id": rule.id,
        "title": rule.title,
        "pass_title": rule.pass_title,
        "severity": rule.severity.name,
        "providers": list(rule.providers),
        "kinds": {p: list(k) for p, k in rule.kinds.items()},
        "requires_config": rule.requires_config,
        "description": rule.description,
        "risk": rule.risk,
        "remediation": {
            "text": rule.remediation.text,
            "cli": dict(rule.remediation.cli),
            "terraform": dict(rule.remediation.terraform),
            "terraform_unavailable": dict(rule.remediation.terraform_unavailable),
        },
        "references": list(rule.references),
        "compliance": {k: list(v) for k, v in rule.compliance.items()},
        "mappings": mappings(rule),
    }


def _para(text: str, indent: str = "  ", width: int = 100) -> str:
    return textwrap.fill(" ".join(text.split()), width=width, initial_indent=indent, subsequent_indent=indent)


def _block(text: str, indent: str) -> str:
    return "\n".join(indent + line for line in text.splitlines())


def rule_text(rule: Rule) -> str:
    """A rule for the terminal (``aispm rules show``)."""
    lines = [f"{rule.id}  {rule.title}", f"Severity: {rule.severity.name}"]
    lines.append("Applies to: " + "; ".join(f"{PROVIDERS[p].display} {k}" for p, k in applies_to(rule).items()))
    if rule.requires_config:
        lines.append("Evaluated only when the config file sets required_tags.")
    lines.append(f"When it passes: {rule.pass_title}")
    lines += ["", "Description", _para(rule.description), "", "Risk", _para(rule.risk), "", "Remediation",
              _para(rule.remediation.text)]
    for p in rule.providers:
        name = PROVIDERS[p].display
        if p in rule.remediation.cli:
            lines += ["", f"  {name} CLI:", _block(rule.remediation.cli[p], "    ")]
        if p in rule.remediation.terraform:
            lines += [f"  {name} Terraform:", _block(rule.remediation.terraform[p], "    ")]
        elif p in rule.remediation.terraform_unavailable:
            lines += [f"  {name} Terraform: none.", _para(rule.remediation.terraform_unavailable[p], "    ")]
    lines += ["", "Compliance"]
    for m in mappings(rule):
        for r in m["requirements"]:
            title = r["title"] if len(r["title"]) <= 90 else r["title"][:89] + "…"
            where = _where(rule, m["framework"], r["id"], "no asset aispm collects")
            on = "" if where is None else f" (on {where})"
            lines.append(f"  {m['name']} {r['id']}: {title}{on}")
    lines += ["", "References"] + [f"  {ref}" for ref in rule.references]
    return "\n".join(lines)


def _md_escape(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def catalog_markdown() -> str:
    """docs/rules.md: the catalog for auditors and users, generated, never edited by hand."""
    rules = all_rules()
    out = [
        "# aispm rule catalog",
        "",
        f"<!-- Generated from rules/catalog.py and rules/data by `{DOCS_COMMAND}`; do not edit by hand. -->",
        "",
        "Each rule is written once against the normalized AI asset schema and evaluated on every asset kind",
        "listed under *Applies to*; it emits a Pass or a Fail finding per asset. Ids are permanent.",
        "Steer the rules with a `--config` file (disable rules, override severities, set `required_tags`,",
        "suppress findings with a justification); see the README.",
        "",
        "| id | title | severity | clouds |",
        "|---|---|---|---|",
    ]
    for r in rules:
        clouds = ", ".join(PROVIDERS[p].display for p in r.providers)
        out.append(f"| [{r.id}](#{r.id.lower()}) | {_md_escape(r.title)} | {r.severity.name} | {clouds} |")
    for r in rules:
        out += ["", f"## {r.id}", "", f"**{r.title}** — severity **{r.severity.name}**", "",
                f"When it passes: {_md_escape(r.pass_title)}", ""]
        out += ["Applies to:", ""]
        out += [f"- {PROVIDERS[p].display}: {k}" for p, k in applies_to(r).items()]
        if r.requires_config:
            out += ["", "Evaluated only when the config file sets `required_tags`."]
        out += ["", "### Description", "", _md_escape(r.description), "", "### Risk", "", _md_escape(r.risk)]
        out += ["", "### Remediation", "", _md_escape(r.remediation.text)]
        for p in r.providers:
            name = PROVIDERS[p].display
            if p in r.remediation.cli:
                out += ["", f"{name} CLI:", "", "```sh", r.remediation.cli[p], "```"]
            if p in r.remediation.terraform:
                out += ["", f"{name} Terraform: {_md_escape(r.remediation.terraform[p])}"]
            elif p in r.remediation.terraform_unavailable:
                out += ["", f"{name} Terraform: none — {_md_escape(r.remediation.terraform_unavailable[p])}"]
        out += ["", "### Compliance", "", "| framework | requirement | title | on |", "|---|---|---|---|"]
        for m in mappings(r):
            out += [f"| {m['name']} | {req['id']} | {_md_escape(req['title'])} | {_on(r, m['framework'], req['id'])} |"
                    for req in m["requirements"]]
        out += ["", "### References", ""] + [f"- <{ref}>" for ref in r.references]
    out += ["", "## Compliance coverage", "",
            "Which rules give evidence for which requirement. A framework requirement counts every finding",
            "of its rules (*on*: all), unless a rule's mapping names the asset kinds it holds on (e.g. OWASP",
            "LLM06 on the agent findings of AISPM-IAM-001 only). A cloud-native control is listed, in findings",
            "and in the `--framework` views, only on findings of its own cloud and of the asset kinds it covers",
            "(*on*; e.g. SageMaker.2 on notebook instances, never on training jobs), and where it names an",
            "asset detail, only on assets with that value (e.g. SageMaker.9 on data-quality monitoring job",
            "definitions, never on model-bias ones). `aispm scan --framework ID` adds the per-requirement",
            "Pass/Fail summary of a scan to summary.json, suppressed findings counted apart."]
    for fw in FRAMEWORKS.values():
        by_req: dict[str, list[str]] = {}
        for r in rules:
            for req in r.compliance.get(fw.id, ()):
                scoped = r.compliance_kinds.get(fw.id, {}).get(req)
                by_req.setdefault(req, []).append(f"{r.id} (on {', '.join(scoped)})" if scoped else r.id)
        version = f" (version {fw.version})" if fw.version else ""
        out += ["", f"### {framework_name(fw.id)}{version}", "", f"`--framework {fw.id}`", ""]
        if fw.provider is None:
            out += ["| requirement | title | rules |", "|---|---|---|"]
            out += [f"| {req.id} | {_md_escape(req.title)} | {', '.join(by_req[req.id])} |"
                    for req in fw.requirements if req.id in by_req]
        else:
            out += ["| control | title | on | rules |", "|---|---|---|---|"]
            out += [f"| {req.id} | {_md_escape(req.title)} | "
                    f"{(', '.join(req.kinds or ()) + _details(fw.id, req.id)) if req.kinds else 'none'} | "
                    f"{', '.join(by_req[req.id])} |" for req in fw.requirements if req.id in by_req]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(catalog_markdown(), end="")

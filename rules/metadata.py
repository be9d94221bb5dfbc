"""The prose half of the rule catalog (``rules/data/rules.yaml``), validated against the code and the catalogs.

Auditors read this text in findings, ``aispm rules`` and docs/rules.md, so it is
checked as strictly as code: complete per rule, one entry per rule of the code,
remediation for exactly the clouds the rule covers, and every compliance id
present in its catalog. Titles, severities and pass wording are written only here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aispm.normalizer.schema import ASSET_KINDS
from aispm.rules.frameworks import CatalogError, Framework, load_yaml
from aispm.rules.model import Logic

# Every rule maps at least to these (rules-v1.md, "Compliance mappings").
REQUIRED_NIST = "MEASURE 2.7"
NIST, ISO = "nist-ai-rmf", "iso-42001"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CloudRemediation(_Model):
    """How to fix the rule on one cloud: a CLI command and the Terraform setting, or why none exists."""

    cli: str = Field(min_length=1)
    terraform: str | None = Field(default=None, min_length=1)
    terraform_unavailable: str | None = Field(
        default=None, min_length=1, description="why no Terraform resource can hold the setting")

    @model_validator(mode="after")
    def _terraform_or_reason(self) -> CloudRemediation:
        if (self.terraform is None) == (self.terraform_unavailable is None):
            raise ValueError("give exactly one of 'terraform' and 'terraform_unavailable'")
        return self


class RemediationMeta(_Model):
    text: str = Field(min_length=1)
    aws: CloudRemediation | None = None
    azure: CloudRemediation | None = None
    gcp: CloudRemediation | None = None

    def clouds(self) -> dict[str, CloudRemediation]:
        return {p: c for p in ("aws", "azure", "gcp") if (c := getattr(self, p)) is not None}


class ScopedMapping(_Model):
    """A mapping that holds only on some of the kinds the rule evaluates (in YAML: ``{id: LLM06, kinds: [agent]}``).

    IAM-001 judges every workload identity, but only an agent's is OWASP LLM06 (excessive agency);
    ENC-001 judges every store, but only a knowledge base's is LLM08 (vector and embedding weaknesses).
    """

    id: str = Field(min_length=1)
    kinds: tuple[str, ...] = Field(min_length=1)


class RuleMeta(_Model):
    id: str
    title: str = Field(min_length=1)
    pass_title: str = Field(min_length=1, description="a Pass's outcome, e.g. 'Notebook has no direct internet access'")
    severity: Literal["informational", "low", "medium", "high", "critical"]
    description: str = Field(min_length=1)
    risk: str = Field(min_length=1)
    remediation: RemediationMeta
    references: tuple[str, ...] = Field(min_length=1)
    compliance: dict[str, tuple[str | ScopedMapping, ...]]

    def mapped_ids(self, framework_id: str) -> tuple[str, ...]:
        """The requirement ids the rule maps to in one catalog, scoped or not."""
        return tuple(e if isinstance(e, str) else e.id for e in self.compliance.get(framework_id, ()))

    def scoped(self, framework_id: str) -> dict[str, tuple[str, ...]]:
        """Requirement id -> the kinds it is restricted to, for the scoped mappings of one catalog."""
        return {e.id: e.kinds for e in self.compliance.get(framework_id, ()) if isinstance(e, ScopedMapping)}

    @field_validator("references")
    @classmethod
    def _https(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [r for r in v if not r.startswith("https://")]
        if bad:
            raise ValueError(f"references must be https URLs: {', '.join(bad)}")
        return v


def load_metadata(path: Traversable | None = None) -> list[RuleMeta]:
    """Parse rules.yaml; a malformed entry raises CatalogError naming the rule and key."""
    p = path or resources.files("aispm.rules") / "data" / "rules.yaml"
    raw: Any = load_yaml(p.read_text(encoding="utf-8"))
    entries = raw.get("rules") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        raise CatalogError("rules.yaml: expected a top-level 'rules' list")
    out: list[RuleMeta] = []
    for i, entry in enumerate(entries):
        rid = entry.get("id", f"rules[{i}]") if isinstance(entry, dict) else f"rules[{i}]"
        try:
            out.append(RuleMeta.model_validate(entry))
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(x) for x in err["loc"]) or "(entry)"
            raise CatalogError(f"rules.yaml: {rid}: {key}: {err['msg']}") from None
    return out


def problems(code_rules: Sequence[Logic], metas: Sequence[RuleMeta],
             frameworks: Mapping[str, Framework]) -> list[str]:
    """Every way the metadata disagrees with the code or the catalogs; empty when consistent."""
    out: list[str] = []
    by_id: dict[str, RuleMeta] = {}
    for m in metas:
        if m.id in by_id:
            out.append(f"{m.id}: listed twice in rules.yaml")
        by_id[m.id] = m
    code_ids = {r.id for r in code_rules}
    out.extend(f"{rid}: in rules.yaml but not a rule of the catalog" for rid in by_id if rid not in code_ids)
    for rule in code_rules:
        meta = by_id.get(rule.id)
        if meta is None:
            out.append(f"{rule.id}: no metadata in rules.yaml")
            continue
        out.extend(f"{rule.id}: {p}" for p in _rule_problems(rule, meta, frameworks))
    return out


def _rule_problems(rule: Logic, m: RuleMeta, frameworks: Mapping[str, Framework]) -> list[str]:
    out: list[str] = []
    for provider, kinds in rule.kinds.items():
        out.extend(f"kinds.{provider}: unknown asset kind {k!r}" for k in kinds if k != "*" and k not in ASSET_KINDS)
    clouds = set(m.remediation.clouds())
    for p in sorted(set(rule.providers) - clouds):
        out.append(f"remediation.{p}: missing (the rule applies to {p})")
    for p in sorted(clouds - set(rule.providers)):
        out.append(f"remediation.{p}: given, but the rule does not apply to {p}")
    for fid in m.compliance:
        ids = m.mapped_ids(fid)
        fw = frameworks.get(fid)
        if fw is None:
            out.append(f"compliance.{fid}: unknown framework")
            continue
        if fw.provider is not None and ids and fw.provider not in rule.providers:
            out.append(f"compliance.{fid}: {fw.provider} controls, but the rule does not apply to {fw.provider}")
        for req in ids:
            if fw.requirement(req) is None:
                out.append(f"compliance.{fid}: unknown requirement {req!r}")
        if len(set(ids)) != len(ids):
            out.append(f"compliance.{fid}: a requirement is listed twice")
        # A scoped mapping must name kinds the rule evaluates (on the catalog's cloud, for native controls),
        # or it would show on no finding.
        evaluated = {k for p, ks in rule.kinds.items() if fw.provider in (None, p) for k in ks}
        for req, kinds in m.scoped(fid).items():
            out.extend(f"compliance.{fid}: {req} on {k!r}, a kind the rule does not evaluate"
                       for k in kinds if "*" not in evaluated and k not in evaluated)
            if len(set(kinds)) != len(kinds):
                out.append(f"compliance.{fid}: {req}: an asset kind is listed twice")
    if REQUIRED_NIST not in m.compliance.get(NIST, ()):
        out.append(f"compliance.{NIST}: must include {REQUIRED_NIST!r}")
    if not m.compliance.get(ISO):
        out.append(f"compliance.{ISO}: must map to at least one Annex A control")
    return out

"""The compliance catalogs rules map to: AI frameworks and cloud-native controls.

Loaded and validated once at import from ``rules/data/frameworks/*.yaml`` and
``rules/data/native-controls.yaml``, so every display name and requirement
title shown in findings, docs and compliance summaries has one source.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aispm.normalizer.schema import ASSET_KINDS, Provider
from aispm.rules.model import Rule


class CatalogError(ValueError):
    """Catalog data that contradicts itself or the code; raised at import so it cannot ship."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Requirement(_Model):
    """One requirement, control or technique of a catalog.

    ``kinds`` is set on cloud-native controls only: the asset kinds the control covers (from its
    title; empty when aispm collects no asset of the kind it governs). A framework requirement
    (``kinds`` None) applies to every asset a mapped rule evaluates (a rule's mapping may narrow
    that to some kinds, see ``Rule.compliance_kinds``). ``details`` narrows a native control
    further to assets whose inventory details hold these values, because one kind can hold
    resources of several types that Security Hub judges apart: SageMaker.9 concerns data-quality
    job definitions only, never model-bias ones (``{job_definition_type: DataQuality}``).
    """

    id: str = Field(min_length=1)
    title: str = Field(min_length=1)
    kinds: tuple[str, ...] | None = None
    details: dict[str, str] | None = Field(default=None, min_length=1)

    @field_validator("id", mode="before")
    @classmethod
    def _as_text(cls, v: Any) -> Any:
        # YAML reads an unquoted id such as 1.10 as a number; ids are text.
        return str(v) if isinstance(v, int | float) else v

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is None:
            return v
        for kind in v:
            if kind not in ASSET_KINDS:
                raise ValueError(f"unknown asset kind {kind!r} (one of {', '.join(ASSET_KINDS)})")
        if len(set(v)) != len(v):
            raise ValueError("an asset kind is listed twice")
        return v

    @model_validator(mode="after")
    def _details_narrow_kinds(self) -> Requirement:
        if self.details is not None and self.kinds == ():
            raise ValueError(f"control {self.id!r}: 'details' narrows 'kinds', which names no asset kind")
        return self

    def covers(self, kind: str | None, details: Mapping[str, Any] | None = None) -> bool:
        """Whether findings on an asset of ``kind`` with inventory ``details`` give evidence for this requirement
        (``details`` None: not known to the caller, so not filtered on)."""
        if self.kinds is not None and kind not in self.kinds:
            return False
        return self.details is None or details is None or all(details.get(k) == v for k, v in self.details.items())


class Framework(_Model):
    """A standard (``kind`` framework) or a cloud's own control set (``kind`` native, tied to ``provider``)."""

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    version: str = ""
    kind: Literal["framework", "native"] = "framework"
    provider: Provider | None = None
    requirements: tuple[Requirement, ...]

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int | float) else v

    @model_validator(mode="after")
    def _consistent(self) -> Framework:
        if (self.kind == "native") != (self.provider is not None):
            raise ValueError("a native control set names its provider; a framework names none")
        seen: set[str] = set()
        for r in self.requirements:
            if r.id in seen:
                raise ValueError(f"requirement {r.id!r} is listed twice")
            seen.add(r.id)
            if self.kind == "native" and r.kinds is None:
                raise ValueError(f"control {r.id!r}: 'kinds' is required (the asset kinds the control covers)")
            if self.kind == "framework" and r.kinds is not None:
                raise ValueError(f"requirement {r.id!r}: 'kinds' is only for cloud-native controls")
            if self.kind == "framework" and r.details is not None:
                raise ValueError(f"requirement {r.id!r}: 'details' is only for cloud-native controls")
        return self

    @cached_property
    def requirements_by_id(self) -> dict[str, Requirement]:
        """Looked up for every finding's compliance references: a scan asks thousands of times."""
        return {r.id: r for r in self.requirements}

    def requirement(self, req_id: str) -> Requirement | None:
        return self.requirements_by_id.get(req_id)

    def title_of(self, req_id: str) -> str:
        r = self.requirement(req_id)
        return r.title if r else ""

    def covers(self, req_id: str, kind: str | None, details: Mapping[str, Any] | None = None) -> bool:
        """Whether requirement ``req_id`` applies to an asset of ``kind`` (native controls: only their kinds
        and, where they say so, only assets with their ``details``)."""
        r = self.requirement(req_id)
        return r is not None and r.covers(kind, details)

    @property
    def detail_keys(self) -> frozenset[str]:
        """The asset details any control of this catalog filters on."""
        return frozenset(k for r in self.requirements for k in (r.details or {}))


def _validated(source: str, data: dict[str, Any]) -> Framework:
    try:
        return Framework.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(x) for x in err["loc"])
        where = f"{source}: {key}" if key else source   # model-wide checks name the requirement themselves
        raise CatalogError(f"{where}: {str(err['msg']).removeprefix('Value error, ')}") from None


def load_yaml(text: str) -> Any:
    """Safe YAML through libyaml when PyYAML has it: the catalogs load at every start, 15x faster than the
    pure-Python parser (about 0.5 s of each ``aispm`` command otherwise)."""
    loader = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
    return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader, C or Python


def _read(path: Traversable) -> Any:
    return load_yaml(path.read_text(encoding="utf-8"))


def load_frameworks(data_dir: Traversable | None = None) -> dict[str, Framework]:
    """Every catalog, standards first (sorted by id), then native control sets in file order."""
    data = data_dir or resources.files("aispm.rules") / "data"
    out: dict[str, Framework] = {}
    files = sorted((f for f in (data / "frameworks").iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name)
    for f in files:
        raw = _read(f)
        if not isinstance(raw, dict) or not isinstance(raw.get("framework"), dict):
            raise CatalogError(f"frameworks/{f.name}: expected 'framework' and 'requirements' keys")
        fw = _validated(f"frameworks/{f.name}", {**raw["framework"], "requirements": raw.get("requirements")})
        if f"{fw.id}.yaml" != f.name:
            raise CatalogError(f"frameworks/{f.name}: framework.id {fw.id!r} does not match the file name")
        out[fw.id] = fw
    native = _read(data / "native-controls.yaml")
    if not isinstance(native, dict):
        raise CatalogError("native-controls.yaml: expected a mapping of control sets")
    for fid, body in native.items():
        if not isinstance(body, dict):
            raise CatalogError(f"native-controls.yaml: {fid}: expected name, provider and controls")
        body = dict(body)
        requirements = body.pop("controls", None)
        fw = _validated(f"native-controls.yaml: {fid}",
                        {**body, "id": fid, "kind": "native", "requirements": requirements})
        if fid in out:
            raise CatalogError(f"native-controls.yaml: {fid}: id already used by a framework")
        out[fid] = fw
    return out


FRAMEWORKS: Mapping[str, Framework] = load_frameworks()


def framework_name(framework_id: str) -> str:
    fw = FRAMEWORKS.get(framework_id)
    return fw.name if fw else framework_id


def gives_evidence(rule: Rule, fw: Framework, req_id: str, provider: str, kind: str,
                   details: Mapping[str, Any] | None = None) -> bool:
    """Whether a finding of ``rule`` on an asset (its cloud, kind and inventory details) counts for ``req_id``.

    Three narrowings, each written once in the catalogs: a native control counts only on its own
    cloud, its kinds and (when it names them) its details; any requirement counts only on the
    kinds the rule's mapping is restricted to (``Rule.compliance_kinds``), e.g. OWASP LLM06 on the
    agent findings of IAM-001 but not on its training jobs'.
    """
    if fw.provider is not None and fw.provider != provider:
        return False
    return fw.covers(req_id, kind, details) and rule.maps_on(fw.id, req_id, kind)


def compliance_refs(rule: Rule, provider: str, kind: str | None = None,
                    details: Mapping[str, Any] | None = None) -> tuple[list[str], list[str]]:
    """(standards, requirements) the rule maps to, filtered to the asset's cloud, kind and details.

    A native control (Security Hub, Azure Policy, Google org policy) is listed only for its own
    cloud and, when ``kind`` (the asset kind) is given, only on the asset kinds (and details) it
    covers, e.g. SageMaker.2 on notebook instances but never on training jobs; a mapping restricted
    to some kinds (OWASP LLM06 on IAM-001's agents) is listed only on those. A catalog left with no
    requirement is not named either. Display names come from the compliance catalogs (rules/data).
    """
    standards: list[str] = []
    requirements: list[str] = []
    for framework, ids in rule.compliance.items():
        fw = FRAMEWORKS.get(framework)
        native_of = fw.provider if fw is not None else None
        if native_of is not None and native_of != provider:
            continue
        if fw is not None and kind is not None:
            ids = tuple(i for i in ids if gives_evidence(rule, fw, i, provider, kind, details))
        if not ids:
            continue
        standards.append(fw.name if fw is not None else framework)
        requirements.extend(ids)
    return standards, requirements

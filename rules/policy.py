"""The policy a security team steers the rules with: the ``--config`` YAML file.

Validation is strict (unknown keys, unknown rule ids, missing justification,
bad dates are errors) because a typo in a suppression must never silently hide
or show findings.
"""

from __future__ import annotations

import datetime as dt
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from normalizer.schema import Asset
from rules.catalog import rules_by_id
from rules.model import Severity


class PolicyError(ValueError):
    """A configuration file that cannot be used; the message names file, key and reason."""


def _check_rule_id(value: str) -> str:
    if value not in rules_by_id():
        raise ValueError(f"unknown rule id {value!r}")
    return value


class RuleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    disabled: list[str] = Field(default_factory=list)
    severity: dict[str, Severity] = Field(default_factory=dict)

    @field_validator("disabled")
    @classmethod
    def _known_disabled(cls, v: list[str]) -> list[str]:
        return [_check_rule_id(x) for x in v]

    @field_validator("severity", mode="before")
    @classmethod
    def _known_severity(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        out: dict[str, Severity] = {}
        for rule_id, sev in v.items():
            _check_rule_id(str(rule_id))
            if isinstance(sev, Severity):
                out[str(rule_id)] = sev
                continue
            try:
                out[str(rule_id)] = Severity[str(sev).lower()]
            except KeyError:
                names = ", ".join(s.name for s in Severity)
                raise ValueError(f"unknown severity {sev!r} for {rule_id} (use one of {names})") from None
        return out


class Suppression(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: str
    resource: str | None = None
    tags: dict[str, str] | None = None
    justification: str
    expires: dt.date | None = None

    @field_validator("rule")
    @classmethod
    def _known_rule(cls, v: str) -> str:
        return v if v == "*" else _check_rule_id(v)

    @field_validator("justification")
    @classmethod
    def _non_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("justification must not be empty")
        return v

    @field_validator("tags", mode="before")
    @classmethod
    def _tag_strings(cls, v: Any) -> Any:
        return {str(k): str(x) for k, x in v.items()} if isinstance(v, dict) else v

    @model_validator(mode="after")
    def _has_target(self) -> Suppression:
        if self.resource is None and not self.tags:
            raise ValueError("at least one of 'resource' and 'tags' is required")
        return self

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and today > self.expires

    def matches(self, rule_id: str, asset: Asset) -> bool:
        if self.rule not in ("*", rule_id):
            return False
        if self.resource is not None and not fnmatchcase(asset.uid, self.resource):
            return False
        return all(asset.tags.get(k) == v for k, v in (self.tags or {}).items())

    def label(self) -> str:
        target = self.resource or ",".join(f"{k}={v}" for k, v in (self.tags or {}).items())
        return f"{self.rule} on {target}"


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: RuleSettings = Field(default_factory=RuleSettings)
    required_tags: list[str] = Field(default_factory=list)
    suppressions: list[Suppression] = Field(default_factory=list)


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file; every failure is a PolicyError naming file, key and reason."""
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(f"{p}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise PolicyError(f"{p}: invalid YAML{where}") from None
    if raw is None:
        return Policy()
    if not isinstance(raw, dict):
        raise PolicyError(f"{p}: (top level): expected a mapping")
    try:
        return Policy.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(x) for x in err["loc"]) or "(top level)"
        reason = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            reason = "unknown key"
        raise PolicyError(f"{p}: {key}: {reason}") from None

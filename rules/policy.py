"""The policy a security team steers the rules with: the ``--config`` YAML file.

Validation is strict (unknown keys, unknown rule ids, missing justification,
bad dates are errors) because a typo in a suppression must never silently hide
or show findings.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from aispm.normalizer.schema import Asset
from aispm.rules.catalog import rules_by_id
from aispm.rules.detections.catalog import Settings as DetectionConfig
from aispm.rules.detections.catalog import detections_by_id
from aispm.rules.model import Severity


class PolicyError(ValueError):
    """A configuration file that cannot be used; the message names file, key and reason."""


# A policy is a few kilobytes and four levels deep (suppressions > item > tags > value); these limits are far
# above any real policy and keep a hostile or runaway file from exhausting memory or the interpreter's stack.
MAX_POLICY_BYTES = 1024 * 1024
MAX_POLICY_DEPTH = 64


class _TooDeep(yaml.YAMLError):
    def __init__(self, line: int) -> None:
        super().__init__(f"nested deeper than {MAX_POLICY_DEPTH} levels")
        self.line = line


def _check_rule_id(value: str) -> str:
    if value not in rules_by_id() and value not in detections_by_id():
        raise ValueError(f"unknown rule id {value!r} (see 'aispm rules list')")
    return value


def _severity_name(value: Any) -> Severity:
    names = ", ".join(s.name for s in Severity)
    if isinstance(value, Severity):
        return value
    if isinstance(value, str) and value.lower() in Severity.__members__:
        return Severity[value.lower()]
    raise ValueError(f"unknown severity {value!r} (use one of {names})")


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _tag_value(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if isinstance(value, int | float) else value


RuleId = Annotated[str, AfterValidator(_check_rule_id)]
SeverityName = Annotated[Severity, BeforeValidator(_severity_name)]
NonBlank = Annotated[str, AfterValidator(_non_blank)]
TagValue = Annotated[str, BeforeValidator(_tag_value)]


class RuleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    disabled: list[RuleId] = Field(default_factory=list)
    severity: dict[RuleId, SeverityName] = Field(default_factory=dict)


class DetectionSettings(BaseModel):
    """``detections:``: the DET-003 threshold and the address ranges DET-005 trusts."""

    model_config = ConfigDict(extra="forbid")

    llmjacking_threshold: float = Field(default=0.4, ge=0, le=1)
    trusted_cidrs: list[str] = Field(default_factory=list)

    @field_validator("trusted_cidrs")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        for cidr in v:
            try:
                ipaddress.ip_network(str(cidr).strip(), strict=False)
            except ValueError:
                raise ValueError(f"not an address range: {cidr!r} (use e.g. 203.0.113.0/24)") from None
        return v

    def config(self) -> DetectionConfig:
        return DetectionConfig(
            llmjacking_threshold=self.llmjacking_threshold,
            trusted_cidrs=tuple(ipaddress.ip_network(c.strip(), strict=False) for c in self.trusted_cidrs))


class Suppression(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: str
    resource: NonBlank | None = None
    tags: dict[str, TagValue] | None = None
    justification: NonBlank
    expires: dt.date | None = None

    @field_validator("rule")
    @classmethod
    def _known_rule(cls, v: str) -> str:
        return v if v == "*" else _check_rule_id(v)

    @model_validator(mode="after")
    def _has_target(self) -> Suppression:
        if self.resource is None and not self.tags:
            raise ValueError("at least one of 'resource' and 'tags' is required")
        return self

    def expired(self, today: dt.date) -> bool:
        """The suppression applies through its ``expires`` day, and no longer after it."""
        return self.expires is not None and today > self.expires

    def matches(self, rule_id: str, asset: Asset) -> bool:
        if self.rule not in ("*", rule_id):
            return False
        if self.resource is not None and not fnmatchcase(asset.uid, self.resource):
            return False
        return all(asset.tags.get(k) == v for k, v in (self.tags or {}).items())

    def label(self) -> str:
        """How warnings name the suppression: rule, target and expiry."""
        parts = [f"resource {self.resource}"] if self.resource is not None else []
        if self.tags:
            parts.append("tags " + ",".join(f"{k}={v}" for k, v in self.tags.items()))
        expiry = f" (expired {self.expires.isoformat()})" if self.expires else ""
        return f"{self.rule} on {' and '.join(parts)}{expiry}"


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: RuleSettings = Field(default_factory=RuleSettings)
    required_tags: list[NonBlank] = Field(default_factory=list)
    suppressions: list[Suppression] = Field(default_factory=list)
    detections: DetectionSettings = Field(default_factory=DetectionSettings)

    @property
    def needs_tags(self) -> bool:
        """Whether collectors must read tags: for required_tags and for suppressions that match on tags."""
        return bool(self.required_tags) or any(s.tags for s in self.suppressions)


class _PolicyLoader(yaml.SafeLoader):
    """Safe YAML that rejects duplicate keys and leaves dates as text.

    A duplicate key would silently drop half of a policy; dates are parsed by the
    model so a bad one ("2027-13-45") is a named config error, not a crash. Nesting deeper than
    ``MAX_POLICY_DEPTH`` stops composing at once, before the recursive composer and constructor can run
    out of stack.
    """

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_POLICY_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise _TooDeep(event.start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:
                continue   # unhashable: SafeLoader reports it
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_PolicyLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_REASONS = {
    "missing": "required key missing",
    "extra_forbidden": "unknown key",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "dict_type": "expected a mapping",
    "list_type": "expected a list",
    "string_type": "expected a string",
}


def _explain(err: ErrorDetails) -> tuple[str, str]:
    """(key path, reason) of a validation error, in the config file's own terms."""
    key = ".".join(str(x) for x in err["loc"] if x != "[key]") or "(top level)"
    kind = err["type"]
    if kind in _REASONS:
        return key, _REASONS[kind]
    if kind.startswith(("date_", "datetime_")):
        return key, f"bad date {err.get('input')!r} (use YYYY-MM-DD)"
    return key, str(err["msg"]).removeprefix("Value error, ")


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file; every failure is a PolicyError naming file, key and reason."""
    p = Path(path)
    limit = f"{MAX_POLICY_BYTES // (1024 * 1024)} MiB"
    try:
        with p.open("rb") as f:
            data = f.read(MAX_POLICY_BYTES + 1)   # never more: the path may be a huge file or a device
    except OSError as exc:
        raise PolicyError(f"{p}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_POLICY_BYTES:
        raise PolicyError(f"{p}: file is larger than {limit}; a policy file must be at most {limit}")
    try:
        raw = yaml.load(data.decode("utf-8"), Loader=_PolicyLoader)  # noqa: S506 - a SafeLoader subclass
    except UnicodeDecodeError:
        raise PolicyError(f"{p}: not UTF-8 text") from None
    except _TooDeep as exc:
        raise PolicyError(f"{p}: invalid YAML at line {exc.line}: {exc}") from None
    except RecursionError:
        raise PolicyError(f"{p}: invalid YAML: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None)
        raise PolicyError(f"{p}: invalid YAML{where}" + (f": {problem}" if problem else "")) from None
    if raw is None:
        return Policy()
    if not isinstance(raw, dict):
        raise PolicyError(f"{p}: (top level): expected a mapping")
    try:
        return Policy.model_validate(raw)
    except ValidationError as exc:
        key, reason = _explain(exc.errors()[0])
        raise PolicyError(" ".join(f"{p}: {key}: {reason}".split())) from None

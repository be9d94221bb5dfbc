"""What a rule is, and what evaluating it yields."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal

from aispm.normalizer.schema import Asset
from aispm.rules.identity import IdentityVerdicts


class Severity(IntEnum):
    """OCSF severity ids."""

    informational = 1
    low = 2
    medium = 3
    high = 4
    critical = 5

    @property
    def label(self) -> str:
        return self.name.capitalize()


Status = Literal["pass", "fail", "error"]


@dataclass(frozen=True)
class Outcome:
    """The verdict of one rule on one asset, with one sentence naming the setting."""

    status: Status
    detail: str


@dataclass(frozen=True)
class Context:
    """Scan-wide facts a rule may need beyond the asset itself."""

    identities: IdentityVerdicts = field(default_factory=lambda: IdentityVerdicts({}))
    known_accounts: frozenset[str] = frozenset()
    required_tags: tuple[str, ...] = ()


Check = Callable[[Asset, Context], Outcome | None]


@dataclass(frozen=True)
class Remediation:
    text: str = ""
    cli: Mapping[str, str] = field(default_factory=dict)        # provider -> command
    terraform: Mapping[str, str] = field(default_factory=dict)  # provider -> setting
    terraform_unavailable: Mapping[str, str] = field(default_factory=dict)  # provider -> why there is none


@dataclass(frozen=True)
class Logic:
    """The code half of a rule (rules/catalog.py): the kinds it covers per cloud and its predicate; the
    rest is data (rules/data/rules.yaml)."""

    id: str
    kinds: Mapping[str, tuple[str, ...]]   # provider -> asset kinds the rule applies to
    check: Check
    requires_config: bool = False

    @property
    def providers(self) -> tuple[str, ...]:
        return tuple(self.kinds)


@dataclass(frozen=True)
class Rule:
    """A whole rule, its Logic merged with its metadata; ``check`` returns None when it does not apply."""

    id: str
    title: str
    severity: Severity
    kinds: Mapping[str, tuple[str, ...]]   # provider -> asset kinds the rule applies to
    check: Check
    pass_title: str = ""                   # the outcome of a Pass, in the message of Pass findings
    description: str = ""
    risk: str = ""
    remediation: Remediation = field(default_factory=Remediation)
    references: tuple[str, ...] = ()
    compliance: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # framework id -> requirement ids
    # framework id -> requirement id -> the only asset kinds on which that mapping holds (absent: every kind)
    compliance_kinds: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    requires_config: bool = False

    @property
    def providers(self) -> tuple[str, ...]:
        return tuple(self.kinds)

    def maps_on(self, framework_id: str, req_id: str, kind: str) -> bool:
        """Whether this rule's mapping to ``req_id`` holds on an asset of ``kind``.

        Most mappings hold on every kind the rule evaluates; some fit only part of it, e.g. an
        over-privileged identity is OWASP LLM06 (excessive agency) on a Bedrock agent, not on a
        training job, so such a mapping names its kinds.
        """
        kinds = self.compliance_kinds.get(framework_id, {}).get(req_id)
        return kinds is None or kind in kinds


@dataclass(frozen=True)
class Evaluation:
    """One (rule, asset) verdict after policy (severity overrides, suppressions) was applied."""

    rule: Rule
    asset: Asset
    status: Status
    detail: str
    severity: Severity
    suppression: str | None = None   # the justification when a suppression matched

"""Recognize literal secrets in container environments, so they can be flagged and redacted.

Detection happens during normalization because the value must never leave the
process: the asset keeps only the variable name, the redacted value and why it
was judged a secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from normalizer.schema import EnvVar

REDACTED = "***REDACTED***"

_VALUE_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("AWS access key id", re.compile(r"(AKIA|ASIA)[A-Z0-9]{16}")),
    ("private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}")),
    ("Slack token", re.compile(r"\bxox[abpr]-[A-Za-z0-9-]{8,}")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}")),
    ("JSON Web Token", re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}")),
    ("Azure storage connection string", re.compile(r"AccountKey=[A-Za-z0-9+/=]{16,}", re.IGNORECASE)),
)

_SECRET_NAME = re.compile(
    r"(?i)(secret|passw(or)?d|token|api[_-]?key|private[_-]?key|access[_-]?key|conn(ection)?[_-]?str)"
)

_REFERENCES: tuple[re.Pattern[str], ...] = (
    re.compile(r"^arn:aws[\w-]*:(secretsmanager|ssm):", re.IGNORECASE),
    re.compile(r"^https://[\w-]+\.vault\.(azure\.net|azure\.cn|usgovcloudapi\.net)/", re.IGNORECASE),
    re.compile(r"^@Microsoft\.KeyVault\(", re.IGNORECASE),
    re.compile(r"^projects/[^/]+/secrets/[^/]+", re.IGNORECASE),
    re.compile(r"^\$\{.*\}$", re.DOTALL),
    re.compile(r"^\{\{resolve:.*\}\}$", re.DOTALL),
)


def secret_reason(name: str, value: str) -> str | None:
    """Why ``value`` is a literal secret, or None. Value formats apply whatever the name."""
    if not value:
        return None
    for label, pattern in _VALUE_FORMATS:
        if pattern.search(value):
            return f"value matches the {label} format"
    if _SECRET_NAME.search(name) and not any(p.search(value.strip()) for p in _REFERENCES):
        return "secret-like name with a literal value"
    return None


def env_vars(pairs: Iterable[tuple[str, str]], container: str = "") -> tuple[EnvVar, ...]:
    """Build redacted environment entries from (name, value) pairs."""
    out: list[EnvVar] = []
    for name, raw in pairs:
        value = "" if raw is None else str(raw)
        reason = secret_reason(name, value)
        out.append(EnvVar(name=name, value=REDACTED if reason else value, secret=reason, container=container))
    return tuple(out)

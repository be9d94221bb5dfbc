"""Recognize literal secrets in container environments and scripts, so they can be flagged and redacted.

Detection happens during normalization because the value must never leave the
process: the asset keeps only the variable name, the redacted value and why it
was judged a secret.  No reason returned here ever quotes the value.

The test (AISPM-SEC-001, rules-v1.md as amended by rules-v2.md "SEC-001 precision"):

- a value that matches a known credential format is a secret whatever the name
  (:func:`value_format_reason`; :func:`text_secrets` applies the same formats to
  a whole text, such as a notebook lifecycle script);
- so is a URL carrying a password (``scheme://user:password@host``) and a
  ``key=value;`` connection string holding ``Password=`` or ``Pwd=`` with a
  non-empty literal that is not a reference;
- a secret-like name (:func:`secret_like_name`, tested word by word) with a
  non-empty literal value that is not a reference (:func:`is_reference`).

:func:`secret_reason` applies all of it to one (name, value) pair; with
``script=True`` a shell expansion (``$VAR``, ``${VAR}``, ``$(...)``) also counts
as a reference, as it does in scripts.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from itertools import pairwise

from aispm.normalizer.schema import EnvVar

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

# --- names ------------------------------------------------------------------------------------------------

_SECRET_WORDS = frozenset({
    "secret", "secrets", "password", "passwd", "token",
    "apikey", "accesskey", "privatekey", "connstr", "connectionstring",
})
_SECRET_PAIRS = frozenset({("api", "key"), ("access", "key"), ("private", "key"), ("conn", "str"),
                           ("connection", "string")})

_SEPARATORS = re.compile(r"[_\-.\s]+")
# camelCase boundaries: lower-to-upper ("dbPassword") and upper-to-upper-lower ("APIKey", "DBPassword").
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def name_words(name: str) -> tuple[str, ...]:
    """The lower-cased words of a variable name: split at ``_ - .``, spaces and camelCase boundaries."""
    words: list[str] = []
    for part in _SEPARATORS.split(name):
        words.extend(w.lower() for w in _CAMEL.split(part) if w)
    return tuple(words)


def secret_like_name(name: str) -> bool:
    """Whether a variable name reads as a credential (``HF_TOKEN``, ``dbPassword``), not a count (``MAX_TOKENS``)."""
    words = name_words(name)
    return any(w in _SECRET_WORDS for w in words) or any(pair in _SECRET_PAIRS for pair in pairwise(words))


# --- references ---------------------------------------------------------------------------------------------

_REFERENCES: tuple[re.Pattern[str], ...] = (
    re.compile(r"^arn:aws[\w-]*:(secretsmanager|ssm):", re.IGNORECASE),
    re.compile(r"^https://[\w-]+\.vault\.(azure\.net|azure\.cn|usgovcloudapi\.net)/", re.IGNORECASE),
    re.compile(r"^@Microsoft\.KeyVault\(", re.IGNORECASE),
    re.compile(r"^projects/[^/]+/secrets/[^/]+", re.IGNORECASE),
    re.compile(r"^\$\{.*\}$", re.DOTALL),
    re.compile(r"^\{\{resolve:.*\}\}$", re.DOTALL),
)
_SHELL_EXPANSIONS: tuple[re.Pattern[str], ...] = (
    re.compile(r"^\$[A-Za-z_][A-Za-z0-9_]*$"),
    re.compile(r"^\$[0-9]$"),
    re.compile(r"^\$\{[^}]*\}$"),
    re.compile(r"^\$\(.*\)$", re.DOTALL),
)


def is_reference(value: str, *, script: bool = False) -> bool:
    """Whether ``value`` points at a secret rather than holding one.

    A Secrets Manager / Parameter Store ARN, a Key Vault URI or ``@Microsoft.KeyVault(...)``,
    a Secret Manager resource name, ``${...}`` or ``{{resolve:...}}``; with ``script=True`` (a value
    read from a shell script) also a shell expansion (``$VAR``, ``${VAR}``, ``$(...)``).
    """
    value = value.strip()
    if any(p.search(value) for p in _REFERENCES):
        return True
    return script and any(p.search(value) for p in _SHELL_EXPANSIONS)


def _literal(value: str, script: bool) -> bool:
    """A non-empty literal: something that is neither blank nor a reference."""
    return bool(value.strip()) and not is_reference(value, script=script)


# --- values -------------------------------------------------------------------------------------------------

# A URL's scheme and "://"; the authority (up to "/", "?", "#", whitespace or a quote) is parsed in code so a
# "@" later in the path is never taken for credentials. References are masked first so that "${...}" or
# "{{resolve:ssm:/a/b}}" inside a password does not end the authority early.
_URL_START = re.compile(r"(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]*://")
_AUTHORITY_END = re.compile(r"[/?#\s\"'<>]")
_MASKABLE = re.compile(r"\$\{[^}]*\}|\{\{resolve:.*?\}\}|\$\([^)]*\)", re.DOTALL)


def _url_has_password(value: str, script: bool) -> bool:
    masked: list[str] = []

    def mask(m: re.Match[str]) -> str:
        masked.append(m.group(0))
        return f"\x00{len(masked) - 1}\x00"

    text = _MASKABLE.sub(mask, value)
    for start in _URL_START.finditer(text):
        rest = text[start.end():]
        end = _AUTHORITY_END.search(rest)
        authority = rest[:end.start()] if end else rest
        if "@" not in authority:
            continue
        userinfo = authority.rsplit("@", 1)[0]
        if ":" not in userinfo:
            continue                                       # user@host: no password
        password = re.sub(r"\x00(\d+)\x00", lambda m: masked[int(m.group(1))], userinfo.split(":", 1)[1])
        if _literal(password, script):
            return True
    return False


_CONN_PASSWORD_KEYS = frozenset({"password", "pwd"})


def _connection_string_has_password(value: str, script: bool) -> bool:
    if ";" not in value:
        return False
    segments = [s for s in value.split(";") if s.strip()]
    for segment in segments:
        key, sep, val = segment.partition("=")
        if sep and key.strip().lower() in _CONN_PASSWORD_KEYS:
            val = val.strip()
            if len(val) >= 2 and val[0] == val[-1] and val[0] in "\"'":
                val = val[1:-1]
            if _literal(val, script):
                return True
    return False


def value_format_reason(value: str) -> str | None:
    """Why ``value`` is in a known credential format (v1's value formats), or None."""
    for label, pattern in _VALUE_FORMATS:
        if pattern.search(value):
            return f"value matches the {label} format"
    return None


def secret_reason(name: str, value: str, *, script: bool = False) -> str | None:
    """Why the variable ``name`` = ``value`` holds a literal secret, or None. The reason never quotes the value.

    ``script=True`` is for assignments read from shell scripts: a value that is a shell
    expansion (``$VAR``, ``${VAR}``, ``$(...)``) is then a reference, not a literal.
    """
    if not value or not value.strip():
        return None
    if reason := value_format_reason(value):
        return reason
    if _url_has_password(value, script):
        return "value is a URL with a literal password"
    if _connection_string_has_password(value, script):
        return "value is a connection string with a literal password"
    if secret_like_name(name) and _literal(value, script):
        return "secret-like name with a literal value"
    return None


def text_secrets(text: str) -> list[tuple[int, str]]:
    """(1-based line number, reason) for every place a whole text matches a known credential format.

    For scripts: test each shell assignment with ``secret_reason(name, value, script=True)``
    and the whole text with this. Line numbers are sorted; each (line, reason) once.
    """
    found: set[tuple[int, str]] = set()
    for label, pattern in _VALUE_FORMATS:
        for m in pattern.finditer(text):
            found.add((text.count("\n", 0, m.start()) + 1, f"value matches the {label} format"))
    return sorted(found)


def env_vars(pairs: Iterable[tuple[str, str]], container: str = "") -> tuple[EnvVar, ...]:
    """Build redacted environment entries from (name, value) pairs."""
    out: list[EnvVar] = []
    for name, raw in pairs:
        value = "" if raw is None else str(raw)
        reason = secret_reason(name, value)
        out.append(EnvVar(name=name, value=REDACTED if reason else value, secret=reason, container=container))
    return tuple(out)


# A shell assignment: NAME=value, optionally after export / declare [-x] / local / readonly.
_ASSIGNMENT = re.compile(r"^\s*(?:(?:export|declare|typeset|local|readonly)\s+(?:-\w+\s+)*)?"
                         r"([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def _shell_value(raw: str) -> str:
    """The value a shell assigns from the text after ``=``: quotes removed, a trailing comment dropped;
    a command substitution is returned as written (it is a reference)."""
    raw = raw.strip()
    if raw.lstrip('"').startswith(("$(", "`")):
        return "$(command substitution)"   # its output is not in the script: a reference
    try:
        words = shlex.split(raw, comments=True, posix=True)
    except ValueError:   # unbalanced quotes: take the text as it stands
        return raw.strip("\"'")
    return words[0] if words else ""


def script_env(text: str, container: str) -> tuple[EnvVar, ...]:
    """Secrets in a shell script, as environment entries that never carry the script's values.

    Every assignment is tested with :func:`secret_reason` (``script=True``) and kept under its variable
    name; the whole text is tested for credential formats (:func:`text_secrets`), and a hit on a line that
    no assignment already flagged is kept as ``line N``. Values are ``REDACTED`` for secrets and empty
    otherwise: nothing of the script leaves the process but names and line numbers.
    """
    out: list[EnvVar] = []
    flagged: set[int] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        m = _ASSIGNMENT.match(line)
        if not m:
            continue
        reason = secret_reason(m.group(1), _shell_value(m.group(2)), script=True)
        if reason:
            flagged.add(number)
        out.append(EnvVar(name=m.group(1), value=REDACTED if reason else "", secret=reason, container=container))
    for number, reason in text_secrets(text):
        if number not in flagged:
            flagged.add(number)
            out.append(EnvVar(name=f"line {number}", value=REDACTED, secret=reason, container=container))
    return tuple(out)

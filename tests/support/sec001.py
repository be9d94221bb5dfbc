"""Shared SEC-001 cases for the per-cloud end-to-end tests (rules-v2.md "SEC-001 precision").

One environment that must fail, variable by variable, and one that must pass,
plus the checks every cloud's scan output has to satisfy: the failing finding
names each secret variable, no secret value appears anywhere in
``findings.ocsf.jsonl`` or ``assets.jsonl``, and values that are not secrets
are kept as they are.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

REDACTED = "***REDACTED***"

SECRET_ENV = {
    "HF_TOKEN": "hf-live-9c1d7e2b4aQ",                              # secret-like names, one word or two
    "OPENAI_API_KEY": "sk-proj-Aa11Bb22Cc33Dd44",
    "dbPassword": "Winter-2026-rotate-me",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMIxK7MDENGxbPxRfiCYzz",
    "DBPassword": "Summer-2026-rotate-me",                          # acronym boundaries
    "APIKey": "k-55aa66bb77cc",
    "DATABASE_URL": "postgres://app:Tr0ub4dor-and-3@db.internal:5432/prod",   # credentials in a URL
    "CACHE": "redis://:Sesame-0pen-42@cache.internal:6379/0",
    "SQL_DSN": "Server=tcp:sql.example.net,1433;User ID=svc;Pwd=C0rrect-H0rse-B4ttery;",  # connection string
    "WAREHOUSE": "Host=wh;Database=w;Password=Staple-9-Gun;",
    "BOOTSTRAP": "AKIAIOSFODNN7EXAMPLE",                            # a v1 value format, any name
}
SECRET_VALUES = tuple(SECRET_ENV.values())
PASSWORDS = ("Tr0ub4dor-and-3", "Sesame-0pen-42", "C0rrect-H0rse-B4ttery", "Staple-9-Gun")

CLEAN_ENV = {
    "MAX_TOKENS": "4096",                                           # counts and paths, not credentials
    "TOKENIZER_PATH": "/opt/ml/model/tokenizer.json",
    "NUM_TOKENS_PER_BATCH": "8192",
    "KEYSTONE_URL": "https://keystone.example.com:5000/v3",
    "MODEL_URL": "https://models.example.com/v1/user:pass@latest",  # "@" in the path, not the authority
    "INDEX_URL": "https://ci@pypi.example.com/simple",              # a user without a password
    "REPLICA_DSN": "postgres://app:@replica.internal/prod",         # an empty password
    "PRIMARY_DSN": "postgres://app:${DB_PASSWORD}@db.internal/prod",   # a reference password
    "SQL_REF": "Server=db;User ID=svc;Password={{resolve:secretsmanager:db:SecretString:password}};",
    "SQL_EMPTY": "Server=db;User ID=svc;Pwd=;",
    "HF_TOKEN": "${HF_TOKEN}",                                      # a secret-like name holding a reference
}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def sec001(out: Path) -> dict[str, dict[str, Any]]:
    """Resource name -> its SEC-001 finding from ``findings.ocsf.jsonl``."""
    found: dict[str, dict[str, Any]] = {}
    for f in read_jsonl(out / "findings.ocsf.jsonl"):
        if f["compliance"]["control"] == "AISPM-SEC-001":
            name = f["resources"][0]["name"]
            assert name not in found, name
            found[name] = f
    return found


def named(detail: str, variable: str) -> bool:
    """Whether a finding detail names ``variable`` (as ``NAME (reason)`` or ``container:NAME (reason)``)."""
    return re.search(rf"(?:^|[ :]){re.escape(variable)} \(", detail) is not None


def assert_scan_output(out: Path, leaky: str, clean: str, secret_env: dict[str, str] = SECRET_ENV,
                       clean_env: dict[str, str] = CLEAN_ENV) -> None:
    """The SEC-001 contract on one scan's output folder: ``leaky`` fails naming every secret, ``clean`` passes."""
    findings = sec001(out)
    bad, good = findings[leaky], findings[clean]
    assert bad["compliance"]["status"] == "Fail"
    assert good["compliance"]["status"] == "Pass", good["status_detail"]
    for variable in secret_env:
        assert named(bad["status_detail"], variable), (variable, bad["status_detail"])
    for variable in set(clean_env) - set(secret_env):
        assert not named(bad["status_detail"], variable), variable

    # No secret value, and no password taken from inside a value, leaves the process.
    for name in ("findings.ocsf.jsonl", "assets.jsonl", "summary.json"):
        text = (out / name).read_text()
        for value in (*secret_env.values(), *PASSWORDS):
            assert value not in text, (name, value)

    assets = {a["name"]: a for a in read_jsonl(out / "assets.jsonl")}
    leaked = {e["name"]: e for e in assets[leaky]["environment"]}
    assert set(leaked) == set(secret_env)
    assert all(e["value"] == REDACTED and e["secret"] for e in leaked.values())
    kept = {e["name"]: e for e in assets[clean]["environment"]}
    assert {n: (e["value"], e["secret"]) for n, e in kept.items()} == {n: (v, None) for n, v in clean_env.items()}

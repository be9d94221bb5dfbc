"""Finding lifecycle state: per scope, the findings of its last successful scan.

Kept so that a finding whose resource vanished can be re-issued once as closed.
Each finding is stored whole, so the closed copy carries everything a SIEM needs.
Two stores behind one interface: a local JSON file and a DynamoDB table
(partition key ``scope`` (S)).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

ScopeState = dict[str, dict[str, Any]]  # finding uid -> the OCSF finding last delivered for it

_DYNAMO_CHUNK_BYTES = 350_000  # an item may hold 400 KB; a large scope spills into extra items


class StateError(Exception):
    """The state store cannot be read or written."""


class StateStore(Protocol):
    location: str

    def load(self, scopes: Iterable[str]) -> dict[str, ScopeState]:
        """The stored state of each scope that has one."""
        ...

    def save(self, states: Mapping[str, ScopeState]) -> None:
        """Replace the state of exactly these scopes; every other scope is left as it was."""
        ...


def default_state_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME", "").strip() or str(Path.home() / ".local" / "state")
    return Path(base) / "aispm" / "state.json"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class FileStateStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.location = str(self.path)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"version": 1, "scopes": {}}
        except (OSError, ValueError) as exc:
            raise StateError(f"cannot read state file {self.path}: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("scopes"), dict):
            raise StateError(f"state file {self.path} is not an aispm state file")
        return data

    def load(self, scopes: Iterable[str]) -> dict[str, ScopeState]:
        stored = self._read()["scopes"]
        out: dict[str, ScopeState] = {}
        for s in scopes:
            if s not in stored:
                continue
            entry = stored[s]
            findings = entry.get("findings") if isinstance(entry, dict) else None
            if not isinstance(findings, dict) or not all(isinstance(f, dict) for f in findings.values()):
                raise StateError(f"state file {self.path}: scope {s!r} is malformed")
            out[s] = dict(findings)
        return out

    def save(self, states: Mapping[str, ScopeState]) -> None:
        if not states:
            return
        data = self._read()
        for scope, findings in states.items():
            data["scopes"][scope] = {"updated": _now(), "findings": findings}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            tmp.write_text(json.dumps(data, separators=(",", ":"), default=str), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            raise StateError(f"cannot write state file {self.path}: {exc.strerror or exc}") from None


class DynamoStateStore:
    """One item per scope (``findings`` gzip'd JSON); a scope too large for one item spills into
    ``<scope>#<n>`` items, counted by ``chunks`` on the main item."""

    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        self.location = f"dynamodb table {table}"
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            from sinks.aws import client_config

            self._client = boto3.client("dynamodb", config=client_config())
        return self._client

    def _batch_get(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        items: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {self.table: {"Keys": [{"scope": {"S": k}} for k in keys[start:start + 100]],
                                                    "ConsistentRead": True}}
            while request:
                answer = self.client.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.table, []):
                    items[item["scope"]["S"]] = item
                request = answer.get("UnprocessedKeys") or {}
        return items

    def load(self, scopes: Iterable[str]) -> dict[str, ScopeState]:
        wanted = list(dict.fromkeys(scopes))
        try:
            mains = self._batch_get(wanted)
            extra = [f"{s}#{n}" for s, item in mains.items() for n in range(1, int(item["chunks"]["N"]))]
            chunks = self._batch_get(extra) if extra else {}
        except Exception as exc:  # noqa: BLE001 - reported as one line by the caller
            raise StateError(f"cannot read {self.location}: {' '.join(str(exc).split())}") from None
        out: dict[str, ScopeState] = {}
        for scope, item in mains.items():
            parts = [bytes(item["findings"]["B"])]
            for n in range(1, int(item["chunks"]["N"])):
                chunk = chunks.get(f"{scope}#{n}")
                if chunk is None:
                    raise StateError(f"{self.location}: state of {scope} is incomplete (chunk {n} missing)")
                parts.append(bytes(chunk["findings"]["B"]))
            out[scope] = json.loads(gzip.decompress(b"".join(parts)))
        return out

    def save(self, states: Mapping[str, ScopeState]) -> None:
        try:
            for scope, findings in states.items():
                blob = gzip.compress(json.dumps(findings, separators=(",", ":"), default=str).encode())
                parts = [blob[i:i + _DYNAMO_CHUNK_BYTES] for i in range(0, len(blob), _DYNAMO_CHUNK_BYTES)] or [b""]
                # Chunks first, the main item last: a reader never sees a main item whose chunks are missing.
                for n, part in enumerate(parts[1:], start=1):
                    self.client.put_item(TableName=self.table, Item={
                        "scope": {"S": f"{scope}#{n}"}, "findings": {"B": part}})
                self.client.put_item(TableName=self.table, Item={
                    "scope": {"S": scope}, "findings": {"B": parts[0]}, "chunks": {"N": str(len(parts))},
                    "count": {"N": str(len(findings))}, "updated": {"S": _now()}})
        except Exception as exc:  # noqa: BLE001
            raise StateError(f"cannot write {self.location}: {' '.join(str(exc).split())}") from None


def open_state(path: str | None, table: str | None) -> StateStore:
    """``--state PATH`` wins, then ``AISPM_STATE_TABLE``, then the default local file."""
    if path:
        return FileStateStore(path)
    if table:
        return DynamoStateStore(table)
    return FileStateStore(default_state_path())

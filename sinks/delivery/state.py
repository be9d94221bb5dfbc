"""Finding lifecycle state: per scope, the findings of its last successful scan.

Kept so that a finding whose resource vanished can be re-issued once as closed.
Each finding is stored whole, so the closed copy carries everything a SIEM needs.
Two stores behind one interface: a local JSON file and a DynamoDB table
(partition key ``scope`` (S)).

Both are safe for concurrent runs and crashes: a reader sees either the old or
the new state of a scope, never a mix. A store or scope that cannot be read is
reported and left exactly as it is, never overwritten.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import os
import uuid
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from filelock import Timeout

from aispm.collectors.base import one_line
from aispm.rules.finding import Finding
from aispm.sinks.atomic import file_lock, write_atomic
from aispm.sinks.formats.jsonbytes import compact
from aispm.sinks.formats.ocsf import to_ocsf

# finding uid -> the finding last delivered for it: its OCSF object as read back, or this run's Finding, made OCSF
# only as it is written (a scan never holds the OCSF objects of all its findings at once).
Stored = dict[str, Any] | Finding
ScopeState = dict[str, Stored]

_DYNAMO_CHUNK_BYTES = 350_000  # an item may hold 400 KB; a large scope spills into extra items


_READ_ATTEMPTS = 3   # reads of a scope whose chunks a concurrent save replaced meanwhile


class _Switched(Exception):
    """A scope's chunks were replaced between reading its main item and its chunks."""


class StateError(Exception):
    """The state store as a whole cannot be read or written."""


@dataclass
class Loaded:
    """The stored state of each scope that has one, and the scopes whose state cannot be read."""

    states: dict[str, ScopeState] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)   # scope -> one line


class StateStore(Protocol):
    location: str

    def load(self, scopes: Iterable[str]) -> Loaded:
        """The stored state of each scope; StateError when the store as a whole cannot be read."""
        ...

    def save(self, states: Mapping[str, ScopeState]) -> None:
        """Replace the state of exactly these scopes; every other scope is left as it was."""
        ...


def default_state_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME", "").strip() or str(Path.home() / ".local" / "state")
    return Path(base) / "aispm" / "state.json"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _scope_findings(entry: Any) -> ScopeState | None:
    findings = entry.get("findings") if isinstance(entry, dict) else None
    if not isinstance(findings, dict) or not all(isinstance(f, dict) for f in findings.values()):
        return None
    return dict(findings)


def _identity(path: Path) -> tuple[int, int, int, int] | None:
    """What tells one version of a file from the next: every save replaces it with a new file."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _encode(value: Any) -> Any:
    """JSON for what the encoder cannot write itself: a Finding is written as its OCSF object."""
    return to_ocsf(value) if isinstance(value, Finding) else str(value)


def dumps(value: Any) -> bytes:
    """Compact JSON of ``value`` as the state stores keep it, a Finding as its OCSF object (``compact``: a
    large scan's state is written twice)."""
    return compact(value, _encode)


def json_chunks(value: Any, depth: int = 4) -> Iterator[bytes]:
    """``dumps(value)`` in pieces: objects are opened ``depth`` levels deep (the state file's scopes, then
    each finding), so a large state is never held as one string and its bytes at once."""
    if depth and isinstance(value, dict) and all(isinstance(k, str) for k in value):
        yield b"{"
        for i, (key, item) in enumerate(value.items()):
            yield (b"," if i else b"") + compact(key) + b":"
            yield from json_chunks(item, depth - 1)
        yield b"}"
    else:
        yield dumps(value)


@dataclass
class _Seen:
    """The file as this store last read or wrote it, without the scopes it handed out or replaced."""

    identity: tuple[int, int, int, int]
    without: frozenset[str]
    rest: dict[str, Any]


class FileStateStore:
    """One JSON file; every save is a locked read-modify-write of the scopes it replaces.

    A save does not decode the file again when it is still the version this store last read or wrote
    (no other run saved since) and replaces at least the scopes that read handed out: the rest of that
    version is kept, so a scan's state is never held twice (its own copy and the file's)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.location = str(self.path)
        self._seen: _Seen | None = None

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {"version": 1, "scopes": {}}
        except (OSError, ValueError, RecursionError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else one_line(exc, 300)
            raise StateError(f"cannot read state file {self.path}: {reason}") from None
        if not isinstance(data, dict) or not isinstance(data.get("scopes"), dict):
            raise StateError(f"state file {self.path} is not an aispm state file")
        return data

    def _remember(self, data: dict[str, Any], without: Iterable[str]) -> None:
        identity = _identity(self.path)
        without = frozenset(without)
        self._seen = None if identity is None else _Seen(identity, without, {
            **data, "scopes": {k: v for k, v in data["scopes"].items() if k not in without}})

    def _current(self, replacing: Iterable[str]) -> dict[str, Any]:
        """The file's data, from what this store kept of it when the file is unchanged since."""
        seen = self._seen
        if seen is not None and seen.without <= set(replacing) and _identity(self.path) == seen.identity:
            return {**seen.rest, "scopes": dict(seen.rest["scopes"])}
        return self._read()

    def load(self, scopes: Iterable[str]) -> Loaded:
        data = self._read()
        stored = data["scopes"]
        out = Loaded()
        for s in scopes:
            if s not in stored:
                continue
            findings = _scope_findings(stored[s])
            if findings is None:
                out.errors[s] = f"state file {self.path}: scope {s!r} is malformed"
            else:
                out.states[s] = findings
        self._remember(data, out.states)
        return out

    def save(self, states: Mapping[str, ScopeState]) -> None:
        if not states:
            return
        try:
            with file_lock(self.path):
                data = self._current(states)   # under the lock: what other runs saved meanwhile is kept
                self._seen = None
                for scope, findings in states.items():
                    data["scopes"][scope] = {"updated": _now(), "findings": findings}
                write_atomic(self.path, json_chunks(data))
                self._remember(data, states)
        except Timeout:
            raise StateError(f"state file {self.path} is locked by another run") from None
        except OSError as exc:
            raise StateError(f"cannot write state file {self.path}: {exc.strerror or exc}") from None


class DynamoStateStore:
    """One main item per scope (``findings`` gzip'd JSON). A scope too large for one item spills into
    chunk items ``<scope>#<generation>#<n>``: a save writes its chunks under a new generation first and
    switches the main item last, so a save that fails half way leaves the previous state readable.
    The chunks of the replaced generation are removed afterwards (best effort: an orphan is harmless).
    Items of the older layout (chunks ``<scope>#<n>``, no generation) are still read."""

    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        self.location = f"dynamodb table {table}"
        self._client = client
        self._seen: dict[str, dict[str, Any] | None] = {}   # scope -> main item as loaded (None: none)

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            from aispm.sinks.aws import client_config

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

    @staticmethod
    def _chunk_keys(scope: str, item: dict[str, Any]) -> list[str]:
        chunks = int(item.get("chunks", {}).get("N", "1"))
        gen = item.get("gen", {}).get("S")
        return [f"{scope}#{gen}#{n}" if gen else f"{scope}#{n}" for n in range(1, chunks)]

    def _read_items(self, scopes: list[str]) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """(main items, chunk items) of ``scopes``; StateError when the table cannot be read."""
        try:
            mains = self._batch_get(scopes)
            extra: list[str] = []
            for scope, main in mains.items():
                with contextlib.suppress(KeyError, TypeError, ValueError):   # reported by load, for that scope
                    extra += self._chunk_keys(scope, main)
            return mains, (self._batch_get(extra) if extra else {})
        except Exception as exc:  # noqa: BLE001 - reported as one line by the caller
            raise StateError(f"cannot read {self.location}: {one_line(exc, 300)}") from None

    def load(self, scopes: Iterable[str]) -> Loaded:
        """A scope whose chunks are missing is read again: a concurrent save may have switched its
        generation between the two reads. Still missing after that, the scope's state is corrupt."""
        out = Loaded()
        pending = list(dict.fromkeys(scopes))
        for attempt in range(_READ_ATTEMPTS):
            mains, chunks = self._read_items(pending)
            switched: list[str] = []
            for scope in pending:
                item = mains.get(scope)
                self._seen[scope] = item
                if item is None:
                    continue
                try:
                    parts = [bytes(item["findings"]["B"])]
                    for key in self._chunk_keys(scope, item):
                        chunk = chunks.get(key)
                        if chunk is None:
                            if attempt + 1 < _READ_ATTEMPTS:
                                raise _Switched
                            raise ValueError(f"chunk {key} is missing")
                        parts.append(bytes(chunk["findings"]["B"]))
                    findings = _scope_findings({"findings": json.loads(gzip.decompress(b"".join(parts)))})
                    if findings is None:
                        raise ValueError("not a map of findings")
                except _Switched:
                    switched.append(scope)
                    continue
                except (KeyError, TypeError, ValueError, OSError, EOFError, zlib.error, RecursionError) as exc:
                    # gzip raises OSError, EOFError or zlib.error, JSON ValueError: this scope's state is corrupt.
                    out.errors[scope] = f"{self.location}: state of {scope} cannot be read ({one_line(exc, 300)})"
                    continue
                out.states[scope] = findings
            if not switched:
                break
            pending = switched
        return out

    def save(self, states: Mapping[str, ScopeState]) -> None:
        failed: list[str] = []
        for scope, findings in states.items():
            try:
                self._save_scope(scope, findings)
            except Exception as exc:  # noqa: BLE001 - one scope's failure leaves the others saved
                failed.append(f"{scope}: {one_line(exc, 300)}")
        if failed:
            raise StateError(f"cannot write {self.location}: " + "; ".join(failed))

    def _save_scope(self, scope: str, findings: ScopeState) -> None:
        blob = gzip.compress(dumps(findings))
        parts = [blob[i:i + _DYNAMO_CHUNK_BYTES] for i in range(0, len(blob), _DYNAMO_CHUNK_BYTES)] or [b""]
        gen = uuid.uuid4().hex
        for n, part in enumerate(parts[1:], start=1):
            self.client.put_item(TableName=self.table, Item={"scope": {"S": f"{scope}#{gen}#{n}"},
                                                             "findings": {"B": part}})
        main = {"scope": {"S": scope}, "gen": {"S": gen}, "findings": {"B": parts[0]},
                "chunks": {"N": str(len(parts))}, "count": {"N": str(len(findings))}, "updated": {"S": _now()}}
        previous = self._seen.get(scope)
        kwargs: dict[str, Any] = {}
        if scope in self._seen:
            # Switch only from the state this run read: a concurrent run's newer save is not overwritten.
            if previous is None:
                kwargs["ConditionExpression"] = "attribute_not_exists(#s)"
                kwargs["ExpressionAttributeNames"] = {"#s": "scope"}
            elif "updated" in previous:
                kwargs["ConditionExpression"] = "#u = :u"
                kwargs["ExpressionAttributeNames"] = {"#u": "updated"}
                kwargs["ExpressionAttributeValues"] = {":u": previous["updated"]}
        self.client.put_item(TableName=self.table, Item=main, **kwargs)
        self._seen[scope] = main
        if previous is not None:
            try:
                old = self._chunk_keys(scope, previous)
            except (KeyError, TypeError, ValueError):
                old = []
            for key in old:
                try:
                    self.client.delete_item(TableName=self.table, Key={"scope": {"S": key}})
                except Exception:  # noqa: BLE001, S112 - an orphaned chunk is never read again
                    continue


def open_state(path: str | None, table: str | None) -> StateStore:
    """``--state PATH`` wins, then ``AISPM_STATE_TABLE``, then the default local file."""
    if path:
        return FileStateStore(path)
    if table:
        return DynamoStateStore(table)
    return FileStateStore(default_state_path())

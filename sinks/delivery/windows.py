"""Detection windows: per scope, the end of its last completed detect window.

Kept in the same state stores as the finding lifecycle (a local JSON file or a DynamoDB table: atomic and
safe for concurrent runs), under the scope key ``detect#<scope>``, so a deployment needs no new table. The
next run of a scope starts exactly where the last one ended (windows are half-open, ``[start, end)``), so no
event is skipped or read twice. A scope whose state cannot be read is reported and its state left as it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from aispm.sinks.delivery.state import StateStore

PREFIX = "detect#"


@dataclass
class Windows:
    """The remembered window end of each scope that has one, and the scopes whose state cannot be read."""

    ends: dict[str, dt.datetime] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _parse(value: object) -> dt.datetime:
    moment = dt.datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError("no time zone")
    return moment.astimezone(dt.UTC)


class WindowStore:
    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.location = store.location

    def load(self, scopes: Iterable[str]) -> Windows:
        """StateError (from the store) when the store as a whole cannot be read."""
        scopes = list(scopes)
        loaded = self.store.load(PREFIX + s for s in scopes)
        out = Windows()
        for scope in scopes:
            key = PREFIX + scope
            if key in loaded.errors:
                out.errors[scope] = loaded.errors[key]
                continue
            state = loaded.states.get(key)
            if state is None:
                continue
            try:
                window = state["window"]
                if not isinstance(window, dict):
                    raise TypeError("not a window")
                out.ends[scope] = _parse(window["end"])
            except (KeyError, TypeError, ValueError):
                out.errors[scope] = f"{self.location}: detect window of {scope} is malformed"
        return out

    def save(self, ends: Mapping[str, dt.datetime]) -> None:
        """Advance these scopes (StateError when the store cannot be written); other scopes are untouched."""
        self.store.save({PREFIX + scope: {"window": {"end": end.astimezone(dt.UTC).isoformat()}}
                         for scope, end in ends.items()})

"""``aispm replay``: re-deliver the dead-letter store and remove what was delivered.

Each item goes back to its own sink unless ``--sink`` names others; what still
fails stays in the store with its latest reason, and the exit code is 5.
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aispm import exitcodes
from aispm.exitcodes import UsageError
from aispm.rules.detections.finding import DetectionFinding
from aispm.rules.finding import Finding
from aispm.sinks.base import Batch, Sink, Undelivered, deliver_safely, wire
from aispm.sinks.delivery.deadletter import DeadLetterError, DeadLetterStore, Letter, open_store
from aispm.sinks.errors import SinkConfigError
from aispm.sinks.formats.ocsf import from_ocsf
from aispm.sinks.formats.ocsf_detection import from_ocsf_detection, is_detection
from aispm.terminal import say, warn


def _key(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)


def _sinks(names: Sequence[str], out_dir: Path) -> dict[str, Sink]:
    from aispm.sinks.registry import build_sink

    built: dict[str, Sink] = {}
    for name in names:
        try:
            built[name] = build_sink(name, out_dir)
        except SinkConfigError as exc:
            raise UsageError(f"--sink {name}: {exc}") from None
    return built


def replay(store: DeadLetterStore, targets: Sequence[str], out_dir: Path,
           letters: list[Letter] | None = None) -> tuple[int, list[Undelivered]]:
    """(items delivered, items remaining); the store is rewritten with what remains.
    ``letters``: what the caller already read from ``store`` (default: read it all here)."""
    letters = store.read() if letters is None else letters
    if not letters:
        if store.skipped:
            store.settle([], [])   # nothing to deliver, but the invalid lines are still set aside
        return 0, []
    by_sink: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for letter in letters:
        for name in targets or [letter.item.sink]:
            by_sink[name].append(letter.item.payload)
    sinks = _sinks(list(by_sink), out_dir)
    remaining: list[Undelivered] = []
    failed: dict[str, Counter[str]] = {}
    scan_id = f"replay-{uuid.uuid4()}"
    for name, payloads in by_sink.items():
        findings: list[Finding] = []
        detections: list[DetectionFinding] = []
        original: dict[str, dict[str, Any]] = {}   # what a sink reports undelivered -> the letter as it was
        failed[name] = Counter()
        for payload in payloads:
            finding: Finding | DetectionFinding
            try:
                finding = from_ocsf_detection(payload) if is_detection(payload) else from_ocsf(payload)
            except (KeyError, TypeError, ValueError, IndexError, AttributeError):
                remaining.append(Undelivered(name, "not an aispm finding (kept as it was)", payload))
                failed[name][_key(payload)] += 1
                continue
            if isinstance(finding, DetectionFinding):
                detections.append(finding)
            else:
                findings.append(finding)
            original[_key(wire(finding))] = payload
        batch = Batch(scan_id=scan_id, findings=findings, assets=[], summary={}, replay=True, detections=detections)
        report = deliver_safely(sinks[name], batch)
        # Undelivered items keep the name they were replayed to, so the next replay retries that sink.
        for u in report.undelivered:
            payload = original.get(_key(u.payload), u.payload)
            remaining.append(Undelivered(name, u.reason, payload))
            failed[name][_key(payload)] += 1
    delivered = sum(1 for letter in letters
                    if not any(failed[n][_key(letter.item.payload)] for n in targets or [letter.item.sink]))
    store.settle(letters, remaining)
    return delivered, remaining


def run_replay(args: argparse.Namespace) -> int:
    store = open_store(args.source)
    try:
        letters = store.read()
    except DeadLetterError as exc:
        raise UsageError(f"replay: {exc}") from None   # the store cannot be opened: nothing was sent
    try:
        delivered, remaining = replay(store, list(dict.fromkeys(args.sink)), Path(args.out), letters)
    except DeadLetterError as exc:
        # Delivered, but the store could not be updated: the letters are still there and will be sent again.
        warn(f"replay: the dead-letter store was not updated ({exc}); its letters remain and may be sent again")
        return exitcodes.DELIVERY
    for skipped in store.skipped:
        warn(f"skipped an invalid dead letter: {skipped}")
    if remaining:
        warn(f"{len(remaining)} items still undelivered ({remaining[0].reason}); kept in {store.location}")
    say(f"replayed {delivered} items from {store.location}; {len(remaining)} remain"
        + (f"; {len(store.skipped)} invalid skipped" if store.skipped else ""))
    return exitcodes.DELIVERY if remaining else exitcodes.OK

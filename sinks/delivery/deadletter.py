"""The dead-letter store: what a sink could not deliver, kept until ``aispm replay`` re-delivers it.

Locally a JSON-lines file (``<out>/dead-letter.jsonl``); when deployed an SQS queue.
One item per line or message: ``{"sink", "reason", "payload"}``.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from aispm.collectors.base import one_line
from aispm.sinks.atomic import file_lock, write_atomic
from aispm.sinks.base import Undelivered

DEAD_LETTER_FILE = "dead-letter.jsonl"
_SQS_MAX_BATCH_BYTES = 200_000  # below the SQS limit of 256 KiB per SendMessageBatch, with room for attributes


_NOT_UTF8 = re.compile("[\udc80-\udcff]")   # what surrogateescape makes of bytes that are not UTF-8


def _raw(line: str) -> bytes:
    return (line + "\n").encode("utf-8", "surrogateescape")


class DeadLetterError(Exception):
    """The store cannot be read or written."""


@dataclass
class Letter:
    """One stored item, with the handle the store needs to remove it."""

    item: Undelivered
    handle: Any = None


def to_json(item: Undelivered) -> str:
    return json.dumps({"sink": item.sink, "reason": item.reason, "payload": item.payload},
                      separators=(",", ":"), default=str)


def from_json(text: str, where: str) -> Undelivered:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DeadLetterError(f"{where}: not JSON ({exc.msg})") from None
    if not (isinstance(data, dict) and isinstance(data.get("sink"), str) and isinstance(data.get("payload"), dict)):
        raise DeadLetterError(f"{where}: expected an object with 'sink', 'reason' and 'payload'")
    return Undelivered(sink=data["sink"], reason=str(data.get("reason", "")), payload=data["payload"])


class DeadLetterStore(Protocol):
    location: str
    skipped: list[str]   # what the last read() could not parse, one line each (kept aside, not delivered)

    def put(self, items: Sequence[Undelivered]) -> None: ...

    def read(self) -> list[Letter]: ...

    def settle(self, read: Sequence[Letter], remaining: Sequence[Undelivered]) -> None:
        """Remove exactly the letters that were read and put back what remains undelivered (with its
        latest reason); letters stored by others since the read are left alone."""
        ...


class FileDeadLetter:
    """A JSON-lines file, locked for every read-modify-write so a replay and a scan appending to it
    never lose each other's letters. A torn or invalid line is moved to ``<file>.invalid``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self.invalid_path = self.path.with_name(self.path.name + ".invalid")
        self.skipped: list[str] = []
        self._invalid: list[str] = []

    def _lock(self) -> Any:
        from filelock import Timeout

        try:
            lock = file_lock(self.path)
            lock.acquire()
        except Timeout:
            raise DeadLetterError(f"{self.path} is locked by another run") from None
        except OSError as exc:
            raise DeadLetterError(f"cannot lock {self.path}: {exc.strerror or exc}") from None
        return lock

    def put(self, items: Sequence[Undelivered]) -> None:
        if not items:
            return
        try:
            lock = self._lock()
            try:
                with self.path.open("ab") as fh:
                    if fh.tell() > 0 and not self._ends_with_newline():
                        fh.write(b"\n")   # a torn last line (a crash mid-write) stays a line of its own
                    for item in items:
                        fh.write((to_json(item) + "\n").encode("utf-8"))
                    fh.flush()
                    os.fsync(fh.fileno())
            finally:
                lock.release()
        except OSError as exc:
            raise DeadLetterError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as fh:
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) == b"\n"

    def _lines(self) -> list[str]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            raise DeadLetterError(f"no dead-letter file at {self.path}") from None
        except OSError as exc:
            raise DeadLetterError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        # Bytes that are not UTF-8 survive as surrogates, so such a line is recognised as invalid and
        # moved aside byte for byte, never delivered with replacement characters.
        return [line.rstrip("\r") for line in data.decode("utf-8", "surrogateescape").split("\n")]

    def read(self) -> list[Letter]:
        lock = self._lock()
        try:
            lines = self._lines()
        finally:
            lock.release()
        letters: list[Letter] = []
        self.skipped, self._invalid = [], []
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                if _NOT_UTF8.search(line):
                    raise DeadLetterError(f"{self.path}:{n}: not UTF-8")
                letters.append(Letter(from_json(line, f"{self.path}:{n}"), line))
            except DeadLetterError as exc:
                self.skipped.append(f"{exc}; moved to {self.invalid_path}")
                self._invalid.append(line)
        return letters

    def settle(self, read: Sequence[Letter], remaining: Sequence[Undelivered]) -> None:
        try:
            lock = self._lock()
            try:
                if self._invalid:
                    with self.invalid_path.open("ab") as fh:
                        fh.writelines(_raw(line) for line in self._invalid)
                        fh.flush()
                        os.fsync(fh.fileno())
                gone = Counter(str(letter.handle) for letter in read)
                gone.update(self._invalid)
                kept: list[str] = []
                for line in self._lines() if self.path.exists() else []:
                    if gone[line] > 0:
                        gone[line] -= 1
                    elif line.strip():
                        kept.append(line)   # stored since the read (e.g. by a scan): not ours to remove
                kept += [to_json(item) for item in remaining]
                write_atomic(self.path, [_raw(line) for line in kept])
                self._invalid = []
            finally:
                lock.release()
        except OSError as exc:
            raise DeadLetterError(f"cannot rewrite {self.path}: {exc.strerror or exc}") from None


class SqsDeadLetter:
    """An SQS queue; messages are deleted once re-delivered, the rest made visible again."""

    def __init__(self, queue_url: str, client: Any = None, max_messages: int | None = None) -> None:
        self.location = queue_url
        self.queue_url = queue_url
        self._client = client
        self.max_messages = max_messages   # read at most this many (a bounded replay); None: all
        self.skipped: list[str] = []

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            from aispm.sinks.aws import client_config

            region = _queue_region(self.queue_url)
            self._client = boto3.client("sqs", region_name=region, config=client_config())
        return self._client

    def put(self, items: Sequence[Undelivered]) -> None:
        bodies = [to_json(i) for i in items]
        groups: list[list[str]] = []
        size = 0
        for body in bodies:
            if not groups or len(groups[-1]) == 10 or size + len(body) > _SQS_MAX_BATCH_BYTES:
                groups.append([])
                size = 0
            groups[-1].append(body)
            size += len(body)
        try:
            for group in groups:
                entries = [{"Id": str(n), "MessageBody": body} for n, body in enumerate(group)]
                for _ in range(5):
                    answer = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
                    failed = {f["Id"] for f in answer.get("Failed", [])}
                    entries = [e for e in entries if e["Id"] in failed]
                    if not entries:
                        break
                if entries:
                    raise DeadLetterError(f"SQS refused {len(entries)} messages for {self.queue_url}")
        except DeadLetterError:
            raise
        except Exception as exc:  # noqa: BLE001 - any AWS failure here is reported; the caller falls back
            raise DeadLetterError(f"cannot send to {self.queue_url}: {one_line(exc)}") from None

    def read(self) -> list[Letter]:
        letters: list[Letter] = []
        self.skipped = []
        try:
            while True:
                want = 10 if self.max_messages is None else max(1, min(10, self.max_messages - len(letters)))
                answer = self.client.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=want,
                                                     VisibilityTimeout=900, WaitTimeSeconds=0)
                messages = answer.get("Messages", [])
                if not messages:
                    return letters
                for m in messages:
                    try:
                        letters.append(Letter(from_json(m["Body"], f"{self.queue_url} message {m['MessageId']}"),
                                              m["ReceiptHandle"]))
                    except DeadLetterError as exc:   # left in the queue (visible again later), never deleted
                        self.skipped.append(f"{exc}; left in the queue")
                if self.max_messages is not None and len(letters) >= self.max_messages:
                    return letters
        except DeadLetterError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise DeadLetterError(f"cannot read {self.queue_url}: {one_line(exc)}") from None

    def settle(self, read: Sequence[Letter], remaining: Sequence[Undelivered]) -> None:
        """What remains is sent again first, then every message read is deleted: a failure in between
        duplicates an item, never loses one."""
        self.put(remaining)
        try:
            for start in range(0, len(read), 10):
                chunk = read[start:start + 10]
                self.client.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                    {"Id": str(n), "ReceiptHandle": letter.handle} for n, letter in enumerate(chunk)])
        except Exception as exc:  # noqa: BLE001
            raise DeadLetterError(f"cannot remove messages of {self.queue_url}: {one_line(exc)}") from None


def _queue_region(url: str) -> str | None:
    """``https://sqs.<region>.amazonaws.com/...`` names its region; other hosts use the session's."""
    host = url.split("://", 1)[-1].split("/", 1)[0]
    parts = host.split(".")
    if len(parts) >= 3 and parts[0] == "sqs":
        return parts[1]
    return None


def is_queue_url(location: str) -> bool:
    return location.startswith(("https://", "http://"))


def open_store(location: str) -> DeadLetterStore:
    """A queue URL means SQS; anything else is a file path."""
    return SqsDeadLetter(location) if is_queue_url(location) else FileDeadLetter(location)

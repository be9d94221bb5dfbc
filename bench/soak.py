"""Soak: many ``aispm scan`` runs under faults and kills prove "nothing lost, nothing wrongly resolved".

    python bench/soak.py [--scans 50] [--seed N] [--max-minutes 15]

A small SageMaker estate lives on a local moto server (127.0.0.1), with Security Hub enabled and
reached through a throttling proxy; findings go to the test HEC server ``aispm/testing/hec.py``.
``--scans`` scans run one after another as subprocesses
(``python -m aispm scan --provider aws --region us-east-1 --out OUT --state STATE --sink splunk
--sink securityhub``). Between scans the estate is mutated at random (resources deleted and created,
settings changed so findings flip Pass/Fail; some resources live for one scan only); each scan may get
HEC faults (503 bursts, 429s, dropped connections, an outage, a disabled token, a slow HEC), Security Hub
throttling (429 TooManyRequestsException from the proxy: a moto server cannot throttle), and a SIGKILL at
a random moment (a random delay, the n-th HEC request, or during the Security Hub import). Then one
healthy scan runs and ``aispm replay OUT/dead-letter.jsonl`` (each letter to its own sink) is repeated
until the dead-letter file is empty.

Measured from what HEC received, against the bench's own view of the estate at every scan:

* findings lost: a finding of the last healthy scan never received with its final status, or a
  finding of a deleted resource never closed (OCSF ``activity_id`` 3) after its last open event;
* last event disagrees: uids (after dedup) whose last event in HEC arrival order differs from the
  final truth (also given by event time, as a SIEM sorting on ``_time`` sees it);
* wrong closures: a Close for a resource that existed when the closing scan ran, while the rule still
  produced that finding (the truth of a killed scan comes from a file-only rescan of the same estate).

Security Hub's final state (read from moto) is also checked against the final truth. Exit 1 when a
finding is lost, a closure is wrong, Security Hub disagrees, a scan crashed (traceback, unexpected
exit code or a hang) or dead letters remain. Not a test: kills land at timing-dependent points, so a
seed reproduces the plan of mutations and faults, not every kill point.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from aispm.testing import moto_gaps  # noqa: E402
from aispm.testing.hec import FakeHec  # noqa: E402

ACCOUNT = "123456789012"
REGION = "us-east-1"
TOKEN = "soak-token-0000"  # noqa: S105 - a throw-away token for a loopback server
VANISHED = "The resource no longer exists."
SCAN_TIMEOUT = 180.0       # seconds; a scan still running then is killed and reported as a hang
BASE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true", "NO_GCE_CHECK": "true",
    "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
}
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"Service": "sagemaker.amazonaws.com"}}]}
SCOPED = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::soak-artifacts/*"}]}
ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
KMS = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
VPC = {"SecurityGroupIds": ["sg-0a1b2c3d4e5f60718"], "Subnets": ["subnet-0a1b2c3d4e5f60718"]}
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/inference:2.1"
KINDS = ("notebook", "model", "config", "endpoint")


# --------------------------------------------------------------------------- Security Hub proxy
class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):   # a killed scan's connection
            super().handle_error(request, client_address)


class ThrottlingProxy:
    """Relays Security Hub calls to moto (which cannot throttle); answers the next ``n``
    BatchImportFindings calls with HTTP 429 TooManyRequestsException, as Security Hub does."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._lock = threading.Lock()
        self._throttle = 0
        self.imports = 0      # BatchImportFindings calls received (throttled or relayed)
        self.throttled = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                proxy.relay(self)

            def do_GET(self) -> None:
                proxy.relay(self)

            def do_PATCH(self) -> None:
                proxy.relay(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="securityhub-proxy", daemon=True)

    def start(self) -> ThrottlingProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def throttle(self, n: int) -> None:
        with self._lock:
            self._throttle = n

    def relay(self, h: BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        throttled = False
        if h.path.startswith("/findings/import"):
            with self._lock:
                self.imports += 1
                if self._throttle > 0:
                    self._throttle -= 1
                    self.throttled += 1
                    throttled = True
        if throttled:
            data = json.dumps({"__type": "TooManyRequestsException", "message": "Rate exceeded"}).encode()
            self._answer(h, 429, [("Content-Type", "application/json"),
                                  ("x-amzn-ErrorType", "TooManyRequestsException")], data)
            return
        hop = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=60)
        try:
            conn.request(h.command, h.path, body=body,
                         headers={k: v for k, v in h.headers.items() if k.lower() not in hop})
            resp = conn.getresponse()
            data = resp.read()
            headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in hop]
            status = resp.status
        except (OSError, http.client.HTTPException):
            status, headers, data = 502, [], b""
        finally:
            conn.close()
        self._answer(h, status, headers, data)

    @staticmethod
    def _answer(h: BaseHTTPRequestHandler, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
        with contextlib.suppress(OSError):   # the scan may have been killed mid-call
            h.send_response(status)
            for k, v in headers:
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)


# --------------------------------------------------------------------------- the estate
@dataclass
class Estate:
    """The SageMaker resources the bench manages in moto, and their current settings."""

    sm: Any
    iam: Any
    rng: random.Random
    roles: dict[str, str] = field(default_factory=dict)
    live: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {k: {} for k in KINDS})
    serial: int = 0
    flip_admin: bool = False
    fresh: list[tuple[str, str]] = field(default_factory=list)   # (kind, name) created since the last scan
    ephemeral: set[str] = field(default_factory=set)   # created to live for exactly one scan
    log: Counter[str] = field(default_factory=Counter)

    def setup(self, notebooks: int, models: int, configs: int, endpoints: int) -> None:
        for name, doc in (("soak-scoped", SCOPED), ("soak-admin", ADMIN), ("soak-flip", SCOPED)):
            self.roles[name] = self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))[
                "Role"]["Arn"]
            self.iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=json.dumps(doc))
        # Pinned resources (never mutated): what endpoint configs and endpoints refer to.
        self.sm.create_model(ModelName="pinned-model", ExecutionRoleArn=self.roles["soak-scoped"],
                             PrimaryContainer={"Image": IMAGE})
        for count in (1, 2):
            self.sm.create_endpoint_config(EndpointConfigName=f"pinned-config-{count}", ProductionVariants=[
                {"VariantName": "v", "ModelName": "pinned-model", "InitialInstanceCount": count,
                 "InstanceType": "ml.m5.large"}])
        for kind, n in (("notebook", notebooks), ("model", models), ("config", configs), ("endpoint", endpoints)):
            for _ in range(n):
                self.create(kind)

    def _settings(self, kind: str) -> dict[str, Any]:
        r = self.rng
        if kind == "notebook":
            return {"internet": r.random() < 0.5, "root": r.random() < 0.5, "kms": r.random() < 0.5,
                    "role": r.choice(list(self.roles))}
        if kind == "model":
            return {"secret": r.random() < 0.4, "vpc": r.random() < 0.5, "isolated": r.random() < 0.5,
                    "role": r.choice(list(self.roles))}
        if kind == "config":
            return {"kms": r.random() < 0.5, "capture": r.random() < 0.5, "count": r.choice((1, 2))}
        return {"config": r.choice(("pinned-config-1", "pinned-config-2"))}

    def _make(self, kind: str, name: str, s: dict[str, Any]) -> None:
        sm = self.sm
        if kind == "notebook":
            extra: dict[str, Any] = {"KmsKeyId": KMS} if s["kms"] else {}
            if not s["internet"]:
                extra.update(SubnetId=VPC["Subnets"][0], SecurityGroupIds=VPC["SecurityGroupIds"])
            sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium",
                                        RoleArn=self.roles[s["role"]],
                                        DirectInternetAccess="Enabled" if s["internet"] else "Disabled",
                                        RootAccess="Enabled" if s["root"] else "Disabled", **extra)
        elif kind == "model":
            env = {"WORKERS": "2"}
            if s["secret"]:
                env["HF_TOKEN"] = "hf_live_" + name.replace("-", "")  # plaintext secret: AISPM-SEC-001 fails
            extra = {"VpcConfig": VPC} if s["vpc"] else {}
            sm.create_model(ModelName=name, ExecutionRoleArn=self.roles[s["role"]],
                            EnableNetworkIsolation=s["isolated"],
                            PrimaryContainer={"Image": IMAGE, "Environment": env}, **extra)
        elif kind == "config":
            extra = {"KmsKeyId": KMS} if s["kms"] else {}
            if s["capture"]:
                extra["DataCaptureConfig"] = {"EnableCapture": True, "InitialSamplingPercentage": 10,
                                              "DestinationS3Uri": "s3://soak-capture/x",
                                              "CaptureOptions": [{"CaptureMode": "Input"}]}
            sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
                {"VariantName": "v", "ModelName": "pinned-model", "InitialInstanceCount": s["count"],
                 "InstanceType": "ml.m5.large"}], **extra)
        else:
            sm.create_endpoint(EndpointName=name, EndpointConfigName=s["config"])

    def _remove(self, kind: str, name: str) -> None:
        sm = self.sm
        if kind == "notebook":
            sm.stop_notebook_instance(NotebookInstanceName=name)
            sm.delete_notebook_instance(NotebookInstanceName=name)
        elif kind == "model":
            sm.delete_model(ModelName=name)
        elif kind == "config":
            sm.delete_endpoint_config(EndpointConfigName=name)
        else:
            sm.delete_endpoint(EndpointName=name)

    def create(self, kind: str) -> str:
        self.serial += 1
        name = f"soak-{kind}-{self.serial:03d}"
        s = self._settings(kind)
        self._make(kind, name, s)
        self.live[kind][name] = s
        self.fresh.append((kind, name))
        if self.rng.random() < 0.35:
            self.ephemeral.add(name)
        self.log["created"] += 1
        return name

    def delete(self, kind: str, short_lived: list[tuple[str, str]]) -> str | None:
        """Delete a resource; half the time one seen by only the last scan (short-lived resources are
        where a scan killed between delivery and saving its state would leave findings never closed)."""
        short_lived = [(k, n) for k, n in short_lived if n in self.live[k]]
        ephemeral = [(k, n) for k, n in short_lived if n in self.ephemeral]
        if ephemeral:
            kind, name = ephemeral[0]
        elif short_lived and self.rng.random() < 0.5:
            kind, name = self.rng.choice(short_lived)
        elif self.live[kind]:
            name = self.rng.choice(sorted(self.live[kind]))
        else:
            return None
        self._remove(kind, name)
        del self.live[kind][name]
        self.ephemeral.discard(name)
        self.log["deleted"] += 1
        return name

    def flip(self, kind: str) -> str | None:
        """Recreate a resource under the same name (same ARN, same finding uids) with one setting toggled:
        SageMaker cannot update these settings in place. It exists at every scan."""
        toggles = {"notebook": ("internet", "root"), "model": ("secret", "isolated"), "config": ("kms", "capture")}
        if kind not in toggles or not self.live[kind]:
            return None
        name = self.rng.choice(sorted(self.live[kind]))
        s = dict(self.live[kind][name])
        key = self.rng.choice(toggles[kind])
        s[key] = not s[key]
        self._remove(kind, name)
        self._make(kind, name, s)
        self.live[kind][name] = s
        self.log["changed"] += 1
        return name

    def flip_role(self) -> None:
        """Make the shared role soak-flip admin (or scoped again): AISPM-IAM-001 flips for its users."""
        self.flip_admin = not self.flip_admin
        self.iam.put_role_policy(RoleName="soak-flip", PolicyName="inline",
                                 PolicyDocument=json.dumps(ADMIN if self.flip_admin else SCOPED))
        self.log["role policy changed"] += 1

    def mutate(self, low: int, high: int) -> list[str]:
        done: list[str] = []
        short_lived, self.fresh = self.fresh, []
        for _ in [n for _, n in short_lived if n in self.ephemeral]:   # a CI-style resource: one scan saw it
            name = self.delete("", short_lived)
            done += [f"-{name}"] if name else []
        for _ in range(self.rng.randint(1, 4)):
            size = sum(len(v) for v in self.live.values())
            kind = self.rng.choice(KINDS)
            roll = self.rng.random()
            if size >= high or (size > low and roll < 0.35):
                name = self.delete(kind, short_lived)
                done += [f"-{name}"] if name else []
            elif size <= low or roll < 0.7:
                done.append(f"+{self.create(kind)}")
            elif roll < 0.9:
                name = self.flip(kind)
                done += [f"~{name}"] if name else []
            else:
                self.flip_role()
                done.append("~role:soak-flip")
        return done

    def arns(self) -> set[str]:
        """Every SageMaker resource ARN in moto now, listed independently of aispm."""
        out: set[str] = set()
        for op, key, arn_key in (("list_notebook_instances", "NotebookInstances", "NotebookInstanceArn"),
                                 ("list_models", "Models", "ModelArn"),
                                 ("list_endpoint_configs", "EndpointConfigs", "EndpointConfigArn"),
                                 ("list_endpoints", "Endpoints", "EndpointArn")):
            kwargs: dict[str, Any] = {"MaxResults": 100}
            for _ in range(100):
                page = getattr(self.sm, op)(**kwargs)
                out.update(item[arn_key] for item in page.get(key, []))
                if not page.get("NextToken"):
                    break
                kwargs["NextToken"] = page["NextToken"]
        return out


# --------------------------------------------------------------------------- faults and scans
HEC_FAULTS: tuple[tuple[str, int], ...] = (
    ("none", 30), ("busy-short", 14), ("busy-long", 10), ("drop-short", 10), ("drop-long", 6),
    ("throttle-429", 8), ("outage", 8), ("token-disabled", 6), ("slow", 8),
)


def clear_hec_faults(hec: FakeHec) -> None:
    """Cancel faults a previous scan did not use up."""
    hec.clear_faults()
    hec.set_forbidden(False)
    hec.delay = 0.0


def inject_hec(hec: FakeHec, kind: str, rng: random.Random) -> str:
    if kind == "busy-short":
        n = rng.randint(1, 4)
        hec.fail_busy(n)
        return f"HEC 503 x{n}"
    if kind == "busy-long":
        n = rng.randint(6, 16)
        hec.fail_busy(n)
        return f"HEC 503 x{n}"
    if kind == "drop-short":
        n, reset = rng.randint(1, 4), rng.random() < 0.5
        hec.drop_connections(n, reset=reset)
        return f"HEC drop{'(RST)' if reset else ''} x{n}"
    if kind == "drop-long":
        n, reset = rng.randint(6, 14), rng.random() < 0.5
        hec.drop_connections(n, reset=reset)
        return f"HEC drop{'(RST)' if reset else ''} x{n}"
    if kind == "throttle-429":
        n = rng.randint(1, 8)
        hec.throttle(n)
        return f"HEC 429 x{n}"
    if kind == "outage":
        hec.fail_busy(10_000)
        return "HEC outage (503 to every post)"
    if kind == "token-disabled":
        hec.set_forbidden(True)
        return "HEC token disabled (403)"
    if kind == "slow":
        hec.delay = round(rng.uniform(0.05, 0.2), 2)
        return f"HEC slow ({hec.delay}s per request)"
    return ""


def weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([k for k, _ in table], weights=[w for _, w in table])[0]


@dataclass
class ScanRun:
    index: int
    label: str
    faults: list[str]
    kill_plan: str
    started_ms: int = 0
    ended_ms: int = 0
    seconds: float = 0.0
    rc: int | None = None
    killed: str = ""          # where the SIGKILL landed ("" if none)
    hung: bool = False
    stderr: str = ""
    summary: dict[str, Any] = field(default_factory=dict)
    truth: dict[str, str] = field(default_factory=dict)   # open finding uid -> Pass/Fail for this estate
    estate: set[str] = field(default_factory=set)
    dead_letters: int = 0


def scan_env(base: dict[str, str], tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")}
    env.update(BASE_ENV)
    env.update(base)
    env.update({"AWS_CONFIG_FILE": str(tmp / "no-aws-config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-creds"),
                "XDG_STATE_HOME": str(tmp / "xdg-state"), "PYTHONPATH": str(ROOT)})
    return env


def read_findings(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text().splitlines():
            f = json.loads(line)
            if f.get("activity_id") == 1:
                out[f["finding_info"]["uid"]] = f["compliance"]["status"]
    return out


def count_lines(path: Path) -> int:
    try:
        return sum(1 for line in path.read_text().splitlines() if line.strip())
    except FileNotFoundError:
        return 0


def wait_kill(proc: subprocess.Popen[str], ready: Callable[[], bool], deadline: float) -> bool:
    """Poll until ``ready()`` (then SIGKILL, True) or the process ends or the deadline passes (False)."""
    while time.monotonic() < deadline and proc.poll() is None:
        if ready():
            proc.send_signal(signal.SIGKILL)
            return True
        time.sleep(0.003)
    return False


def run_scan(run: ScanRun, cmd: list[str], env: dict[str, str], hec: FakeHec, proxy: ThrottlingProxy,
             rng: random.Random, typical: float) -> None:
    with tempfile.TemporaryFile(mode="w+") as errfile:
        run.started_ms = int(time.time() * 1000)
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=errfile, text=True)
        try:
            run.killed = kill_as_planned(proc, run.kill_plan, hec, proxy, rng, typical, t0 + SCAN_TIMEOUT)
            try:
                proc.wait(timeout=max(0.1, t0 + SCAN_TIMEOUT - time.monotonic()))
            except subprocess.TimeoutExpired:
                run.hung = True
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
            run.rc = proc.returncode
            run.seconds = time.monotonic() - t0
            run.ended_ms = int(time.time() * 1000)
            errfile.seek(0)
            run.stderr = errfile.read()


def kill_as_planned(proc: subprocess.Popen[str], plan: str, hec: FakeHec, proxy: ThrottlingProxy,
                    rng: random.Random, typical: float, deadline: float) -> str:
    """SIGKILL the scan at the planned point; where it landed, or "" if the scan ended first."""
    t0 = time.monotonic()
    if plan == "random":
        delay = rng.uniform(0.05, 1.1 * typical)
        return f"after {delay:.2f}s" if wait_kill(proc, lambda: time.monotonic() - t0 >= delay, deadline) else ""
    if plan == "hec":
        base, nth = len(hec.requests), rng.randint(1, 6)
        return f"at HEC request {nth}" if wait_kill(proc, lambda: len(hec.requests) >= base + nth, deadline) else ""
    if plan == "securityhub":
        base, pause = proxy.imports, rng.uniform(0.0, 0.15)
        seen: list[float] = []

        def ready() -> bool:
            if not seen and proxy.imports > base:
                seen.append(time.monotonic())
            return bool(seen) and time.monotonic() - seen[0] >= pause
        return f"{pause:.2f}s into the Security Hub import" if wait_kill(proc, ready, deadline) else ""
    return ""


# --------------------------------------------------------------------------- analysis
@dataclass
class Event:
    order: int
    uid: str
    resource: str
    time: int
    closed: bool
    status: str          # Pass/Fail, or "closed"
    detail: str
    replayed: bool
    rule: str


def analyse(events: list[Event], runs: list[ScanRun], final: ScanRun) -> dict[str, Any]:
    windows = sorted((r.started_ms, r.ended_ms, r) for r in runs)

    def scan_of(t: int) -> ScanRun | None:
        for lo, hi, r in windows:
            if lo <= t <= hi:
                return r
        return None

    by_uid: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        by_uid[e.uid].append(e)
    unattributed = sum(1 for e in events if scan_of(e.time) is None)

    # 1. Lost: the final truth never received with its status; a deleted resource's finding never closed.
    lost_final = sorted(u for u, st in final.truth.items()
                        if not any(not e.closed and e.status == st for e in by_uid.get(u, [])))
    presence: dict[str, list[int]] = defaultdict(list)
    for r in runs:
        for arn in r.estate:
            presence[arn].append(r.index)
    deleted = {arn: max(idx) for arn, idx in presence.items() if arn not in final.estate}
    lost_closures: list[str] = []
    deleted_uids = 0
    for uid, evs in by_uid.items():
        res = evs[0].resource
        if res not in deleted:
            continue
        opens = [e.time for e in evs if not e.closed]
        if not opens:
            continue
        deleted_uids += 1
        closes = [e.time for e in evs if e.closed]
        if not closes or max(closes) <= max(opens):
            seen = presence[res]
            last_open = scan_of(max(opens))
            lost_closures.append(
                f"{uid} ({evs[0].rule}) of {res}: existed at scans {min(seen)}-{max(seen)}, deleted before scan "
                f"{max(seen) + 1}; its last open event came from scan {last_open.label if last_open else '?'}"
                + (f" ({'; '.join(last_open.faults) or 'no fault'}; SIGKILL {last_open.killed})"
                   if last_open and last_open.killed else "") + "; no Close ever reached HEC")

    # 2. Wrong closures: a Close from a scan that saw the resource, for a finding that scan still produced.
    wrong: dict[tuple[str, int], Event] = {}
    not_applicable = 0
    for e in events:
        if not e.closed:
            continue
        r = scan_of(e.time)
        if r is None or e.resource not in r.estate:
            continue
        if e.detail == VANISHED or e.uid in r.truth:
            wrong.setdefault((e.uid, r.index), e)
        else:
            not_applicable += 1

    # 3. After dedup by uid, the last event against the final truth.
    disagree_arrival: list[tuple[str, str, str, bool]] = []
    disagree_time: list[str] = []
    for uid, evs in by_uid.items():
        truth = final.truth.get(uid, "closed")
        last = evs[-1]
        if last.status != truth:
            disagree_arrival.append((uid, last.status, truth, last.replayed))
        if max(evs, key=lambda e: (e.time, e.order)).status != truth:
            disagree_time.append(uid)
    return {
        "unattributed": unattributed, "uids": len(by_uid), "events": len(events),
        "lost_final": lost_final, "lost_closures": lost_closures, "deleted_resources": len(deleted),
        "deleted_uids": deleted_uids, "wrong": wrong, "not_applicable": not_applicable,
        "disagree_arrival": disagree_arrival, "disagree_time": disagree_time,
    }


def hec_events(hec: FakeHec, replay_from: int) -> list[Event]:
    out = []
    for n, raw in enumerate(hec.events):
        f = raw["event"]
        closed = f.get("activity_id") == 3
        out.append(Event(order=n, uid=str(f["finding_info"]["uid"]), resource=str(f["resources"][0]["uid"]),
                         time=int(f["time"]), closed=closed,
                         status="closed" if closed else str(f["compliance"]["status"]),
                         detail=str(f.get("status_detail", "")), replayed=n >= replay_from,
                         rule=str(f["compliance"]["control"])))
    return out


def securityhub_state(url: str) -> dict[str, tuple[str, str]]:
    """Finding Id -> (RecordState, Compliance.Status), read from moto directly (not through the proxy)."""
    sh = boto3.client("securityhub", region_name=REGION, endpoint_url=url)
    out: dict[str, tuple[str, str]] = {}
    kwargs: dict[str, Any] = {"MaxResults": 100}
    for _ in range(10_000):
        page = sh.get_findings(**kwargs)
        for f in page.get("Findings", []):
            out[f["Id"]] = (f.get("RecordState", ""), (f.get("Compliance") or {}).get("Status", ""))
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    return out


# --------------------------------------------------------------------------- main
@contextlib.contextmanager
def servers() -> Iterator[tuple[str, FakeHec, ThrottlingProxy]]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto_gaps.install()   # ListMonitoringSchedules etc. answer in the server, as on AWS
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    hec = FakeHec(TOKEN)
    proxy: ThrottlingProxy | None = None
    try:
        host, port = moto.get_host_and_port()
        hec.start()
        proxy = ThrottlingProxy(port).start()
        yield f"http://{host}:{port}", hec, proxy
    finally:
        if proxy is not None:
            proxy.stop()
        hec.stop()
        moto.stop()


def describe_faults(runs: list[ScanRun]) -> Counter[str]:
    c: Counter[str] = Counter()
    for r in runs:
        for f in r.faults:
            c[f.split(" x")[0].split(" (")[0]] += 1
    return c


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scans", type=int, default=50, help="scans under faults (one healthy scan follows)")
    p.add_argument("--seed", type=int, default=None, help="seed of the mutation and fault plan (default: random)")
    p.add_argument("--max-minutes", type=float, default=15.0, help="stop starting faulty scans after this long")
    p.add_argument("--keep", action="store_true", help="keep the work directory (printed) for inspection")
    args = p.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    rng = random.Random(seed)
    os.environ.update(BASE_ENV)
    wall0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="aispm-soak-"))
    out, state = tmp / "out", tmp / "state.json"
    problems: list[str] = []
    try:
        with servers() as (url, hec, proxy):
            kw: dict[str, Any] = {"region_name": REGION, "endpoint_url": url}
            estate = Estate(sm=boto3.client("sagemaker", **kw), iam=boto3.client("iam", **kw), rng=rng)
            estate.setup(notebooks=7, models=7, configs=6, endpoints=4)
            estate.log.clear()
            estate.fresh.clear()
            boto3.client("securityhub", **kw).enable_security_hub()
            env = scan_env({
                "AWS_ENDPOINT_URL": url, "AWS_ENDPOINT_URL_SECURITYHUB": proxy.url,
                "AISPM_SPLUNK_HEC_URL": hec.url, "AISPM_SPLUNK_HEC_TOKEN": TOKEN, "AISPM_SPLUNK_HOST": "soak",
                "AISPM_SPLUNK_BATCH_COUNT": "20",             # several posts per scan: faults hit some of them
                "AISPM_SPLUNK_RETRY_BASE_SECONDS": "0.02", "AISPM_SPLUNK_RETRY_CAP_SECONDS": "0.25",
                "AISPM_SPLUNK_TIMEOUT_SECONDS": "10", "AISPM_SECURITYHUB_RETRY_BASE_SECONDS": "0.05",
            }, tmp)
            scan_cmd = [sys.executable, "-m", "aispm", "scan", "--provider", "aws", "--region", REGION,
                        "--out", str(out), "--state", str(state), "--sink", "splunk", "--sink", "securityhub"]
            runs: list[ScanRun] = []
            typical: list[float] = []
            # One Security Hub outage per soak: botocore's adaptive backoff makes it cost a few seconds.
            sh_outage_at = rng.randint(max(2, args.scans // 3), max(2, 2 * args.scans // 3))
            print(f"soak seed {seed}; work dir {tmp}; {len(estate.arns())} SageMaker resources to start with")
            for index in range(1, args.scans + 2):
                late = time.monotonic() - wall0 > args.max_minutes * 60
                final = index == args.scans + 1 or late
                if late:
                    problems.append(f"time budget of {args.max_minutes} min reached after {index - 1} scans")
                changes = estate.mutate(low=18, high=34) if index > 1 and not final else []
                clear_hec_faults(hec)
                proxy.throttle(0)
                faults: list[str] = []
                kill_plan = ""
                if index > 1 and not final:
                    text = inject_hec(hec, weighted(rng, HEC_FAULTS), rng)
                    faults += [text] if text else []
                    if index == sh_outage_at:
                        proxy.throttle(9)   # all 9 attempts (8 botocore retries) of one call: dead letters
                        faults.append("Security Hub throttled x9 (outage)")
                    elif rng.random() < 0.2:
                        n = rng.randint(1, 3)
                        proxy.throttle(n)
                        faults.append(f"Security Hub throttled x{n}")
                    if index != sh_outage_at and rng.random() < 0.3:
                        kill_plan = rng.choices(("random", "hec", "securityhub"), weights=(35, 30, 35))[0]
                run = ScanRun(index=index, label="final" if final else f"{index:02d}", faults=faults,
                              kill_plan=kill_plan, estate=estate.arns())
                run_scan(run, scan_cmd, env, hec, proxy, rng, median(typical) if typical else 2.0)
                if run.killed or run.hung:
                    # Truth for this estate (unchanged until the next mutation): a file-only scan, no state.
                    oracle = tmp / "oracle"
                    shutil.rmtree(oracle, ignore_errors=True)
                    shutil.rmtree(tmp / "xdg-state", ignore_errors=True)
                    rescan = subprocess.run([*scan_cmd[:8], "--out", str(oracle)], cwd=ROOT, env=env, check=False,
                                            capture_output=True, text=True, timeout=SCAN_TIMEOUT)
                    run.truth = read_findings(oracle / "findings.ocsf.jsonl")
                    if rescan.returncode != 0 or not run.truth:
                        problems.append(f"truth rescan after scan {index} failed (exit {rescan.returncode}): "
                                        f"{rescan.stderr.strip()[-500:]}")
                else:
                    run.truth = read_findings(out / "findings.ocsf.jsonl")
                    with contextlib.suppress(FileNotFoundError, ValueError):
                        run.summary = json.loads((out / "summary.json").read_text())
                    if not faults:
                        typical.append(run.seconds)
                run.dead_letters = count_lines(out / "dead-letter.jsonl")
                runs.append(run)
                rc = f"rc={run.rc}" + (f" SIGKILL {run.killed}" if run.killed else "")
                if run.kill_plan and not run.killed:
                    rc += f" (kill '{run.kill_plan}' missed: the scan ended first)"
                closed = (run.summary.get("findings") or {}).get("closed", "-")
                undelivered = (run.summary.get("delivery") or {}).get("undelivered", "-")
                print(f"scan {run.label:>5} {run.seconds:5.1f}s {rc:<44} open={len(run.truth):<3} closed={closed:<3} "
                      f"undelivered={undelivered:<4} dead letters={run.dead_letters:<5} "
                      f"{'; '.join(faults) or 'no fault'}" + (f"  [{' '.join(changes)}]" if changes else ""))
                if "Traceback" in run.stderr or run.hung or (not run.killed and run.rc not in (0, 5)) or (
                        final and run.rc != 0):
                    what = "hung" if run.hung else f"exit {run.rc}"
                    problems.append(f"scan {run.label} ({'; '.join(faults) or 'no fault'}): {what}: "
                                    f"{run.stderr.strip()[-1500:]}")
                if final:
                    break
            final_run = runs[-1]

            # Replay the dead letters until none remain (bounded).
            replay_from = len(hec.events)
            letters = tmp / "out" / "dead-letter.jsonl"
            kept = dead_letter_uids(letters)
            replays: list[str] = []
            for _ in range(5):
                if count_lines(letters) == 0:
                    break
                before = count_lines(letters)
                done = subprocess.run([sys.executable, "-m", "aispm", "replay", str(letters), "--out", str(out)],
                                      cwd=ROOT, env=env, check=False, capture_output=True, text=True,
                                      timeout=SCAN_TIMEOUT)
                replays.append(f"{before} -> {count_lines(letters)} (rc={done.returncode})")
                if "Traceback" in done.stderr or done.returncode not in (0, 5):
                    problems.append(f"replay exit {done.returncode}: {done.stderr.strip()[-1500:]}")
            remaining = count_lines(letters)
            invalid = count_lines(letters.with_name(letters.name + ".invalid"))
            if remaining:
                problems.append(f"{remaining} dead letters remain after {len(replays)} replays")
            events = hec_events(hec, replay_from)
            result = analyse(events, runs, final_run)
            sh = securityhub_state(url)
            hec_errors = hec.errors
    finally:
        if args.keep:
            print(f"work directory kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    sh_result = check_securityhub(sh, final_run.truth, kept.get("securityhub", set()))
    faulty = [r for r in runs if r is not final_run]
    faults = describe_faults(faulty)
    lost = len(result["lost_final"]) + len(result["lost_closures"])
    wrong = len(result["wrong"])
    arrival = result["disagree_arrival"]
    print()
    print(f"scans: {len(faulty)} under faults + 1 final healthy scan; SIGKILLs: {sum(1 for r in runs if r.killed)} "
          f"(of {sum(1 for r in runs if r.kill_plan)} planned); faults injected: {sum(faults.values())} "
          f"({', '.join(f'{k} {v}' for k, v in sorted(faults.items()))}); estate changes: {dict(estate.log)}")
    letters_by_sink = ", ".join(f"{k} {len(v)}" for k, v in sorted(kept.items())) or "none"
    print(f"dead letters before replay (distinct uids per sink): {letters_by_sink}; "
          f"replays: {'; '.join(replays) or 'none needed'}; left: {remaining}; torn letters set aside: {invalid}")
    print(f"HEC received {result['events']} events for {result['uids']} finding uids; final truth "
          f"{len(final_run.truth)} open findings; {result['deleted_resources']} resources deleted "
          f"({result['deleted_uids']} of their findings had reached HEC); {result['not_applicable']} closures "
          "of a finding whose rule stopped applying")
    print(f"Security Hub: {len(sh)} findings; final truth missing: {len(sh_result['missing'])}; left ACTIVE "
          f"although closed: {len(sh_result['left_open'])}; stale status: {len(sh_result['stale'])} "
          f"({sh_result['replayed']} of these had a Security Hub dead letter replayed)")
    print(f"wall time {time.monotonic() - wall0:.0f}s on {os.cpu_count()} CPUs (seed {seed})")
    print()
    print(f"findings lost:          {lost:>4}  (final findings never received: {len(result['lost_final'])}; "
          f"deleted-resource findings never closed: {len(result['lost_closures'])})")
    print(f"last event disagrees:   {len(arrival):>4}  (uids after dedup whose last event in HEC arrival order is "
          f"not the final truth; {sum(1 for *_, r in arrival if r)} of them a replayed dead letter older than a "
          f"later scan's event; by event time: {len(result['disagree_time'])})")
    print(f"wrong closures:         {wrong:>4}")
    for line in result["lost_closures"][:20]:
        print(f"  LOST CLOSURE: {line}")
    for uid in result["lost_final"][:20]:
        print(f"  LOST: {uid} ({final_run.truth[uid]}) never received")
    for (uid, k), e in list(result["wrong"].items())[:20]:
        print(f"  WRONG CLOSURE: {uid} of {e.resource} closed by scan {k} ({e.detail!r}) while it existed")
    for uid, last, truth, replayed in arrival[:5]:
        why = " (a replayed dead letter)" if replayed else ""
        print(f"  last HEC event of {uid}: {last}, final truth {truth}{why}")
    for uid, what in (sh_result["left_open"] + sh_result["stale"] + sh_result["missing"])[:10]:
        print(f"  SECURITY HUB: {uid}: {what}")
    if result["unattributed"]:
        problems.append(f"{result['unattributed']} HEC events could not be attributed to a scan by their time")
    if hec_errors:
        problems.append(f"the HEC fake reported errors: {hec_errors[:3]}")
    if sh_result["missing"] or sh_result["left_open"] or sh_result["stale"]:
        problems.append("Security Hub's final state disagrees with the final truth")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    ok = lost == 0 and wrong == 0 and not problems
    print("targets met: 0 lost, 0 wrong closures" if ok else "TARGET MISSED")
    return 0 if ok else 1


def dead_letter_uids(path: Path) -> dict[str, set[str]]:
    """Sink -> finding uids in the dead-letter file."""
    out: dict[str, set[str]] = defaultdict(set)
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError, KeyError, TypeError):
                item = json.loads(line)
                out[item["sink"]].add(str(item["payload"]["finding_info"]["uid"]))
    return dict(out)


def check_securityhub(sh: dict[str, tuple[str, str]], truth: dict[str, str], replayed: set[str]) -> dict[str, Any]:
    want = {"Pass": "PASSED", "Fail": "FAILED"}
    missing = [(u, "finding of the final truth never imported") for u in truth if u not in sh]
    left_open = [(u, f"RecordState {rec} ({status}), but the finding is closed") for u, (rec, status) in sh.items()
                 if u not in truth and rec != "ARCHIVED"]
    stale = [(u, f"RecordState {rec} {status}, final truth ACTIVE {want[truth[u]]}") for u, (rec, status) in sh.items()
             if u in truth and (rec != "ACTIVE" or status != want[truth[u]])]
    return {"missing": missing, "left_open": left_open, "stale": stale,
            "replayed": sum(1 for u, _ in left_open + stale if u in replayed)}


def median(values: list[float]) -> float:
    s = sorted(values)
    return s[len(s) // 2]


if __name__ == "__main__":
    raise SystemExit(main())

"""What the AWS scan benchmarks share: run ``aispm scan`` as a measured child, and the latency-bound figures.

The scan runs in its own process (its peak RSS is that child's, not the bench's, which also hosts the emulator),
with dummy credentials, ``AWS_ENDPOINT_URL`` at the emulator or the latency proxy, and an empty state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.latency_proxy import ProxyStats

ROOT = Path(__file__).resolve().parents[1]
# Runs the scan as its own child and reports that child's peak RSS and CPU time: measured from the bench process
# itself, the fork would count the bench's (and the emulator's) pages before exec.
MEASURE = ("import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:], check=False).returncode; "
           "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
           "print(u.ru_utime + u.ru_stime, u.ru_maxrss, file=sys.stderr); sys.exit(rc)")
ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true", "NO_GCE_CHECK": "true",
}


@dataclass(frozen=True)
class ScanRun:
    wall: float
    cpu: float   # user + system seconds of the scan process
    peak_mb: float
    summary: dict[str, Any]
    returncode: int
    stderr: str
    kinds: dict[str, int]   # assets per kind (assets.jsonl)

    @property
    def calls(self) -> dict[str, int]:
        return dict(self.summary["api_calls"].get("aws", {}))

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


def run_scan(endpoint: str, out: Path, args: list[str], checkout: Path | None = None) -> ScanRun:
    """``python -m aispm scan --provider aws ARGS --out OUT`` against ``endpoint``; wall time of the whole child.

    ``checkout``: run the aispm of that source tree (e.g. ``git archive REV | tar -x -C DIR``) to compare
    revisions on the same estate; its directory comes first on the child's path."""
    env = {**os.environ, **ENV, "AWS_ENDPOINT_URL": endpoint, "XDG_STATE_HOME": str(out / "state")}
    cmd = [sys.executable, "-c", MEASURE, sys.executable, "-m", "aispm", "scan", "--provider", "aws", *args,
           "--out", str(out)]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=checkout or ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - t0
    cpu, maxrss = proc.stderr.strip().splitlines()[-1].split()
    peak_mb = int(maxrss) / 1024
    summary_file = out / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {"api_calls": {}, "assets": 0}
    kinds: Counter[str] = Counter()
    if (out / "assets.jsonl").exists():
        with (out / "assets.jsonl").open() as f:
            kinds.update(json.loads(line)["kind"] for line in f if line.strip())
    return ScanRun(wall, float(cpu), peak_mb, summary, proc.returncode, proc.stderr, dict(sorted(kinds.items())))


@dataclass(frozen=True)
class Concurrency:
    """What the scan may keep in flight: ``min(--workers, scopes) x describe workers``, and the request rate the
    rate limits allow (per account and region, for SageMaker, the service nearly every call of these estates goes
    to). The bound on wall time is calls / min(in flight / latency, rate)."""

    workers: int
    describe_workers: int
    scopes: int
    rate_per_scope: float | None   # None: no client-side rate limit in this version of the collector

    @property
    def in_flight(self) -> int:
        return min(self.workers, self.scopes) * self.describe_workers

    def effective(self, latency_ms: float) -> float:
        """Calls in flight the limits allow on average at this latency (the rate cap turned into concurrency)."""
        cap = float(self.in_flight)
        if self.rate_per_scope is not None:
            cap = min(cap, self.rate_per_scope * min(self.workers, self.scopes) * latency_ms / 1000)
        return cap

    def bound(self, calls: int, latency_ms: float) -> float:
        """Seconds the calls need at best: calls x latency / effective concurrency (no fixed cost)."""
        return calls * latency_ms / 1000 / self.effective(latency_ms)

    def describe(self, latency_ms: float) -> str:
        rate = f", SageMaker rate limit {self.rate_per_scope:g}/s per account and region" \
            if self.rate_per_scope is not None else ", no client-side rate limit"
        return (f"min(--workers {self.workers}, {self.scopes} scopes) x {self.describe_workers} describe workers"
                f"{rate} -> {self.effective(latency_ms):.1f} in flight at {latency_ms:g} ms")


# Read in the checkout the scan runs from, so the bound is that revision's.
_CONFIGURED = """
import json
from aispm.collectors.aws.sagemaker import AwsOptions
from aispm.settings import Settings
try:
    from aispm.collectors.ratelimit import DEFAULT_RATES
except ImportError:
    DEFAULT_RATES = {}
print(json.dumps({"workers": Settings().workers, "describe_workers": getattr(AwsOptions(), "describe_workers", 1),
                  "rate": DEFAULT_RATES.get("sagemaker")}))
"""


def configured(workers: int | None, scopes: int, checkout: Path | None = None) -> Concurrency:
    """The scan's configured concurrency as the code it runs defines it (defaults read from that code):
    ``--workers`` (or its default), the describe workers of a scope and the SageMaker rate limit, if any."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AISPM_")}
    proc = subprocess.run([sys.executable, "-c", _CONFIGURED], cwd=checkout or ROOT, env=env, capture_output=True,
                          text=True, check=True)
    found = json.loads(proc.stdout)
    return Concurrency(workers=workers or int(found["workers"]), describe_workers=int(found["describe_workers"]),
                       scopes=scopes, rate_per_scope=float(found["rate"]) if found["rate"] else None)


def latency_lines(run: ScanRun, proxy: ProxyStats, latency_ms: float, conc: Concurrency, resources: int,
                  fixed_s: float | None = None, baseline: ScanRun | None = None) -> list[str]:
    """The latency-bound figures of one run, then a one-line summary (``RESULT ...``) to paste or grep.

    ``resources``: what the estate holds (monitoring schedules count, though they are facts of their endpoint
    rather than assets). ``baseline``: the same scan without added latency; when it takes most of the wall time,
    the run was bound by the emulator and the machine's CPU, not by the latency, and says so."""
    assets = run.summary.get("assets", 0) or 0
    achieved = proxy.concurrency(latency_ms, run.wall)
    bound = conc.bound(proxy.calls, latency_ms)
    target = 1.5 * bound + (fixed_s or 0.0)
    per = proxy.calls / resources if resources else 0.0
    lines = [
        f"wall {run.wall:.1f}s  scan CPU {run.cpu:.1f}s  peak RSS {run.peak_mb:.0f} MB  assets {assets}: "
        + ", ".join(f"{k} {n}" for k, n in run.kinds.items()),
        f"calls: {proxy.calls} through the proxy, {run.total_calls} in summary.json  ({per:.3f} per resource of "
        f"{resources:,}; {proxy.calls / assets if assets else 0:.3f} per asset)",
        f"max in flight {proxy.max_in_flight}  achieved concurrency {achieved:.2f} (calls x latency / wall)"
        + (f"  ({proxy.replayed} calls answered from the baseline's answers)" if proxy.replayed else ""),
        f"configured: {conc.describe(latency_ms)}",
        f"bound calls x latency / configured = {bound:.1f}s; 1.5 x bound"
        f"{f' + fixed cost {fixed_s:.1f}s' if fixed_s else ''} = {target:.1f}s -> wall / bound {run.wall / bound:.2f}",
    ]
    if baseline is not None and not proxy.replayed and baseline.wall > run.wall / 2:
        lines.append(f"NOTE: without added latency the scan took {baseline.wall:.1f}s of these {run.wall:.1f}s: "
                     "bound by the emulator and the CPU here, not by the latency (re-run on a quieter machine)")
    lines.append(
        f"RESULT latency={latency_ms:g}ms resources={resources} assets={assets} calls={proxy.calls} "
        f"per_resource={per:.3f} wall={run.wall:.1f}s cpu={run.cpu:.1f}s max_in_flight={proxy.max_in_flight} "
        f"achieved={achieved:.2f} bound={bound:.1f}s peak_rss={run.peak_mb:.0f}MB"
        + (f" wall_at_0ms={baseline.wall:.1f}s" if baseline is not None else "")
        + (f" replayed={proxy.replayed}" if proxy.replayed else ""))
    return lines

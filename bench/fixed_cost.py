"""Benchmark: the fixed cost of ``aispm scan --provider aws`` on an empty account (no resources on moto).

What every scan pays whatever the estate: the interpreter's start, the imports, planning, the region's list
calls answering nothing, and writing the outputs. Runs the scan ``--runs`` times (after one warm-up run, which
also writes the bytecode caches) and prints the median wall time and the median CPU time (user + system) of the
scan process; the CPU time is steadier on a shared machine, where the wall time also counts other processes'
turns. For the split it also times ``python -c pass`` and the import of the modules a scan loads before its
first call. Target (issue #20): under 1.5 s. Not a test: numbers depend on the machine.

    python bench/fixed_cost.py [--runs 5] [--checkout DIR]
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from moto.server import ThreadedMotoServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from aispm.testing import moto_gaps
from bench.scan_bench import ENV, ROOT

TARGET_S = 1.5
# What the scan imports before its first call (the CLI, the scan command, the AWS collector).
IMPORTS = "import aispm.cli, aispm.scan, aispm.pipeline, aispm.collectors.aws"


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the child, exit code)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 3):
        print(proc.stderr, file=sys.stderr)
    return wall, cpu, proc.returncode


def median_of(label: str, cmd: list[str], env: dict[str, str], cwd: Path, runs: int) -> tuple[float, float]:
    timed(cmd, env, cwd)   # warm-up: bytecode written, page cache filled
    samples = [timed(cmd, env, cwd) for _ in range(runs)]
    wall = statistics.median(s[0] for s in samples)
    cpu = statistics.median(s[1] for s in samples)
    codes = sorted({s[2] for s in samples})
    print(f"{label:<34} wall {wall:5.2f}s (min {min(s[0] for s in samples):.2f})  cpu {cpu:5.2f}s  exit {codes}")
    return wall, cpu


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--checkout", type=Path, default=None,
                   help="measure the aispm of this source tree (default: this one), to compare revisions")
    args = p.parse_args()
    cwd = args.checkout or ROOT
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto_gaps.install()   # the calls moto lacks answer empty, as on an empty account
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        with tempfile.TemporaryDirectory() as out:
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            env.update(ENV, AWS_ENDPOINT_URL=f"http://{host}:{port}", XDG_STATE_HOME=str(Path(out) / "state"))
            py = sys.executable
            median_of("python -c pass", [py, "-c", "pass"], env, cwd, args.runs)
            median_of("imports before the first call", [py, "-c", IMPORTS], env, cwd, args.runs)
            wall, cpu = median_of("aispm scan --provider aws (empty)",
                                  [py, "-m", "aispm", "scan", "--provider", "aws", "--region", "us-east-1",
                                   "--out", str(Path(out) / "out")], env, cwd, args.runs)
    finally:
        server.stop()
    load = os.getloadavg()[0]
    print(f"RESULT fixed_cost wall={wall:.2f}s cpu={cpu:.2f}s target<{TARGET_S}s "
          f"{'met' if wall < TARGET_S else 'missed'} (load average {load:.1f} on {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Findings per second delivered by the splunk sink to a local HEC server (batching + gzip).

    python bench/hec_throughput.py [--findings 50000] [--ack] [--receiver fake|counting]

The server runs in a separate process so that it does not share the sink's interpreter
lock. ``fake`` is aispm/testing/hec.py, which parses and validates every event in pure
Python (about 150 us per 3 KB event here, so it bounds the end-to-end figure);
``counting`` answers the same HEC protocol but only gunzips and counts events, which
measures what the sink itself can push.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aispm.sinks.base import Batch  # noqa: E402
from aispm.sinks.formats.ocsf import from_ocsf  # noqa: E402
from aispm.sinks.transports.splunk import SplunkSettings, SplunkSink  # noqa: E402
from tests.support.findings import aws_asset, finding  # noqa: E402

TOKEN = "bench-token-0000"  # noqa: S105 - a throw-away token for a loopback server
COUNTING = """
import gzip, json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
count = 0
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # one write per reply: headers and body in separate segments stall on delayed ACKs
    def do_POST(self):
        global count
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Authorization") != "Splunk {token}":
            reply = (403, {{"text": "Invalid token", "code": 4}})
        else:
            count += gzip.decompress(body).count(b"\\n") + 1
            reply = (200, {{"text": "Success", "code": 0}})
        data = json.dumps(reply[1]).encode()
        self.send_response(reply[0])
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *a):
        pass
server = ThreadingHTTPServer(("127.0.0.1", 0), H)
import threading
threading.Thread(target=server.serve_forever, daemon=True).start()
print(f"http://127.0.0.1:{{server.server_address[1]}}", flush=True)
sys.stdin.readline()
print(count, flush=True)
"""

SERVER = """
import sys, time
sys.path.insert(0, {root!r})
from aispm.testing import hec
with hec.FakeHec({token!r}, ack={ack!r}) as fake:
    print(fake.url, flush=True)
    sys.stdin.readline()
    print(len(fake.events), flush=True)
"""


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--findings", type=int, default=50_000)
    p.add_argument("--ack", action="store_true")
    p.add_argument("--receiver", choices=("fake", "counting"), default="fake")
    args = p.parse_args()
    template = [finding(aws_asset(i)) for i in range(1000)]
    findings = []
    for i in range(args.findings):
        f = dict(template[i % 1000])
        f["finding_info"] = dict(f["finding_info"], uid=f"bench-{i}")
        findings.append(f)
    if args.receiver == "counting" and args.ack:
        p.error("--ack needs the fake receiver")
    code = (COUNTING.format(token=TOKEN) if args.receiver == "counting"
            else SERVER.format(root=str(ROOT), token=TOKEN, ack=args.ack))
    server = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert server.stdout is not None
    assert server.stdin is not None
    url = server.stdout.readline().strip()
    sink = SplunkSink(SplunkSettings(hec_url=url, hec_token=TOKEN, ack=args.ack, host="bench"))
    started, cpu = time.perf_counter(), time.process_time()
    report = sink.deliver(Batch(scan_id="bench", findings=[from_ocsf(f) for f in findings], assets=[], summary={}))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    server.stdin.write("\n")
    server.stdin.flush()
    stored = int(server.stdout.readline())
    server.wait(timeout=30)
    print(f"{report.delivered} findings delivered ({stored} stored by the server, "
          f"{len(report.undelivered)} undelivered) in {elapsed:.2f}s over {sink.requests} requests: "
          f"{report.delivered / elapsed:,.0f} findings/s to the {args.receiver} receiver"
          f"{' with indexer acks' if args.ack else ''}; the sink used {cpu:.2f}s CPU "
          f"({report.delivered / cpu:,.0f} findings per CPU-second); load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()

"""A scan killed (SIGKILL) while it delivers: its findings may already be in the SIEM, so the next run
must still know them and close them when their resource is gone. Found by bench/soak.py."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "0c5a4c8e-3e0f-4a53-9f0e-4f1f6a7b2d10"
SCOPE = "aws:123456789012:us-east-1"




class _Hec:
    """A HEC endpoint that records events, and can hold every request until released (a scan stuck in
    delivery, to be killed there)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.hold = True
        self.arrived = threading.Event()
        self.release = threading.Event()
        hec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                decoder, text, pos = json.JSONDecoder(), body.decode(), 0
                while text[pos:].strip():
                    while text[pos].isspace():
                        pos += 1
                    obj, pos = decoder.raw_decode(text, pos)
                    hec.events.append(obj["event"])
                hec.arrived.set()   # the SIEM has the events ...
                if hec.hold and not hec.release.wait(60):   # ... and the scan dies before hearing so
                    return
                answer = b'{"text":"Success","code":0}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def _scan(moto_server: str, hec: _Hec, state: Path, out: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_server, "AISPM_SPLUNK_HEC_URL": hec.url,
           "AISPM_SPLUNK_HEC_TOKEN": TOKEN, "AISPM_SPLUNK_MAX_ATTEMPTS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "aispm", "scan", "--provider", "aws", "--region", "us-east-1", "--sink", "splunk",
         "--state", str(state), "--out", str(out)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_scan_killed_during_delivery_still_has_its_new_resource_closed_next_run(
        moto_server: str, tmp_path: Path) -> None:
    iam: Any = boto3.client("iam", region_name="us-east-1", endpoint_url=moto_server)
    sm: Any = boto3.client("sagemaker", region_name="us-east-1", endpoint_url=moto_server)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "sagemaker.amazonaws.com"}}]}
    role = iam.create_role(RoleName="exec", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    sm.create_notebook_instance(NotebookInstanceName="brief", InstanceType="ml.t3.medium", RoleArn=role)
    state = tmp_path / "state.json"
    hec = _Hec()
    try:
        # The scan reaches the SIEM, then dies before it can finish: the events arrive, the process is killed.
        proc = _scan(moto_server, hec, state, tmp_path / "1")
        assert hec.arrived.wait(120), proc.communicate(timeout=30)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        delivered = {e["finding_info"]["uid"] for e in hec.events if e["resources"][0]["name"] == "brief"}
        assert delivered, "the killed scan delivered the notebook's findings"

        # The notebook is gone before the next scan, which must close what the SIEM holds.
        sm.stop_notebook_instance(NotebookInstanceName="brief")
        sm.delete_notebook_instance(NotebookInstanceName="brief")
        hec.events.clear()
        hec.hold = False
        proc = _scan(moto_server, hec, state, tmp_path / "2")
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        closed = {e["finding_info"]["uid"] for e in hec.events if e["activity_id"] == 3}
        assert delivered <= closed
        assert json.loads(state.read_text())["scopes"][SCOPE]["findings"] == {}
    finally:
        hec.close()

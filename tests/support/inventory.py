"""A small three-cloud estate with lineage edges and real findings, for the inventory export tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aispm.normalizer.schema import Asset, EnvVar, Fact, LineageEdge, Network
from aispm.rules.catalog import rules_by_id
from aispm.rules.finding import Finding, finding_of
from aispm.rules.model import Evaluation
from aispm.sinks.formats.ocsf import to_ocsf

TIME_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
ACCOUNT = "123456789012"
ARN = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}"
DATA = "s3://ml-data/churn/train/"
ARTIFACTS = "s3://ml-artifacts/churn/model.tar.gz"
IMAGE = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/xgboost:1.7"
SECRET = "sk-live-4f9a8b7c6d5e4f3a2b1c"
HOSTILE = "<script>alert('x')</script>"


def _public(value: bool) -> Network:
    return Network(public_endpoint=Fact(value=value, source="PublicAccess", observed=str(value)))


def estate() -> list[Asset]:
    """Data -> training job -> model -> endpoint config / endpoint on AWS, an Azure OpenAI deployment, a GCP model
    and endpoint, and a notebook whose name and tags are hostile."""
    return [
        Asset(uid=f"{ARN}:training-job/churn-train", provider="aws", service="sagemaker", kind="training_job",
              name="churn-train", account=ACCOUNT, region="us-east-1",
              lineage=(LineageEdge(rel="trained_on", uid=DATA),),
              environment=(EnvVar(name="API_KEY", value="***REDACTED***", secret="literal"),)),
        Asset(uid=f"{ARN}:model/churn-xgb", provider="aws", service="sagemaker", kind="model", name="churn-xgb",
              account=ACCOUNT, region="us-east-1", tags={"owner": "ml"},
              environment=(EnvVar(name="DB_URL", value=SECRET),),
              lineage=(LineageEdge(rel="trained_by", uid=f"{ARN}:training-job/churn-train"),
                       LineageEdge(rel="artifacts_in", uid=ARTIFACTS), LineageEdge(rel="image", uid=IMAGE))),
        Asset(uid=f"{ARN}:endpoint-config/churn-cfg", provider="aws", service="sagemaker", kind="endpoint_config",
              name="churn-cfg", account=ACCOUNT, region="us-east-1",
              lineage=(LineageEdge(rel="serves", uid=f"{ARN}:model/churn-xgb"),)),
        Asset(uid=f"{ARN}:endpoint/churn", provider="aws", service="sagemaker", kind="endpoint", name="churn",
              account=ACCOUNT, region="us-east-1", network=_public(False),
              lineage=(LineageEdge(rel="serves", uid=f"{ARN}:endpoint-config/churn-cfg"),
                       LineageEdge(rel="serves", uid=f"{ARN}:model/churn-xgb"))),
        Asset(uid=f"{ARN}:notebook-instance/evil", provider="aws", service="sagemaker", kind="notebook",
              name=f"=HYPERLINK(\"http://evil.example\"){HOSTILE}", account=ACCOUNT, region="us-east-1",
              tags={"team": "<b>red</b>", "note": "a,b \"quoted\"\nline2", "ünï": "cødé"}),
        Asset(uid="/subscriptions/s1/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/oai/"
                  "deployments/gpt", provider="azure", service="azureai", kind="model_deployment", name="gpt",
              account="s1", region="eastus2",
              details={"model_name": "gpt-4o", "model_version": "2024-08-06", "model_format": "OpenAI"}),
        Asset(uid="projects/42/locations/us-central1/models/7", provider="gcp", service="vertexai", kind="model",
              name="fraud", account="p1", region="us-central1", details={"version": "3"}),
        Asset(uid="projects/42/locations/us-central1/endpoints/9", provider="gcp", service="vertexai",
              kind="endpoint", name="fraud-ep", account="p1", region="us-central1", network=_public(True),
              lineage=(LineageEdge(rel="serves", uid="projects/42/locations/us-central1/models/7"),)),
    ]


def findings(assets: list[Asset]) -> list[Finding]:
    """A Fail of NET-001 on each endpoint, SEC-001 on the model, one Pass of ENC-001 on every asset."""
    rules = rules_by_id()
    out = []
    for a in assets:
        cases = [("AISPM-ENC-001", "pass")]
        if a.kind == "endpoint":
            cases.append(("AISPM-NET-001", "fail"))
        if a.kind == "model" and a.provider == "aws":
            cases.append(("AISPM-SEC-001", "fail"))
        for rule_id, status in cases:
            rule = rules[rule_id]
            ev = Evaluation(rule=rule, asset=a, status=status, detail=f"{rule_id} {status}",  # type: ignore[arg-type]
                            severity=rule.severity)
            out.append(finding_of(ev, TIME_MS, "0.1.0", "scan-test"))
    return out


def summary(assets: list[Asset]) -> dict[str, Any]:
    return {"scan_id": "3f2b9a4e-1111-4c1e-9a2b-000000000001", "version": "0.1.0",
            "started": "2026-01-01T00:00:00+00:00", "finished": "2026-01-01T00:01:00+00:00",
            "assets": len(assets), "findings": {"pass": 0, "fail": 0, "suppressed": 0, "closed": 0},
            "scopes": [{"provider": "aws", "scope": f"{ACCOUNT}/us-east-1", "status": "ok"},
                       {"provider": "gcp", "scope": "p1/europe-west4", "status": "error",
                        "error": f"PermissionDenied {HOSTILE}"}],
            "errors": 1, "evaluation_errors": []}


def write_scan_dir(folder: Path) -> tuple[list[Asset], list[Finding]]:
    """The estate written as a scan's --out folder (assets.jsonl, findings.ocsf.jsonl, summary.json)."""
    assets = estate()
    found = findings(assets)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "assets.jsonl").write_text("".join(json.dumps(a.model_dump(mode="json")) + "\n" for a in assets))
    (folder / "findings.ocsf.jsonl").write_text("".join(json.dumps(to_ocsf(f)) + "\n" for f in found))
    (folder / "summary.json").write_text(json.dumps(summary(assets)))
    return assets, found

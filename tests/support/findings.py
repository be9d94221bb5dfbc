"""Real OCSF findings (made by sinks.ocsf.to_ocsf from catalog rules) for sink tests."""

from __future__ import annotations

from typing import Any

from aispm.normalizer.schema import Asset
from aispm.rules.catalog import rules_by_id
from aispm.rules.finding import finding_of
from aispm.rules.model import Evaluation
from aispm.sinks.formats.ocsf import to_ocsf

TIME_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
ACCOUNT = "123456789012"


def aws_asset(i: int, kind: str = "notebook", account: str = ACCOUNT, region: str = "us-east-1") -> Asset:
    collection = {"notebook": "notebook-instance", "endpoint": "endpoint", "model": "model"}[kind]
    name = f"{kind}-{i:05d}"
    return Asset(uid=f"arn:aws:sagemaker:{region}:{account}:{collection}/{name}", provider="aws",
                 service="sagemaker", kind=kind, name=name, account=account, region=region,
                 tags={"owner": "ml-team"}, details={"instance_type": "ml.t3.medium"})


def azure_asset(i: int) -> Asset:
    sub = "00000000-0000-0000-0000-000000000001"
    uid = (f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.MachineLearningServices/"
           f"workspaces/ws-{i}")
    return Asset(uid=uid, provider="azure", service="azureml", kind="workspace", name=f"ws-{i}",
                 account=sub, region="westeurope")


def gcp_asset(i: int) -> Asset:
    uid = f"projects/123456789/locations/us-central1/endpoints/{1000 + i}"
    return Asset(uid=uid, provider="gcp", service="vertexai", kind="endpoint", name=f"ep-{i}",
                 account="my-project", region="us-central1")


def finding(asset: Asset, rule_id: str = "AISPM-NET-002", status: str = "fail", time_ms: int = TIME_MS,
            suppression: str | None = None) -> dict[str, Any]:
    rule = rules_by_id()[rule_id]
    detail = "DirectInternetAccess is Enabled" if status == "fail" else "DirectInternetAccess is Disabled"
    ev = Evaluation(rule=rule, asset=asset, status=status, detail=detail,  # type: ignore[arg-type]
                    severity=rule.severity, suppression=suppression)
    return to_ocsf(finding_of(ev, time_ms, "0.1.0", "scan-test"))


def aws_findings(n: int, **kwargs: Any) -> list[dict[str, Any]]:
    return [finding(aws_asset(i, **kwargs)) for i in range(n)]


def uids(findings: list[dict[str, Any]]) -> list[str]:
    return [f["finding_info"]["uid"] for f in findings]

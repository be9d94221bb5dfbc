"""The example lineage chain `aispm demo` prints: data -> job -> model -> endpoint from the assets' edges."""

from __future__ import annotations

from typing import Any

from aispm.demo.run import example_chain
from aispm.normalizer.schema import Asset


def _asset(kind: str, name: str, *edges: tuple[str, str]) -> Asset:
    data: dict[str, Any] = {"uid": f"uid:{name}", "provider": "aws", "service": "sagemaker", "kind": kind,
                            "name": name, "account": "1", "region": "r",
                            "lineage": [{"rel": rel, "uid": uid} for rel, uid in edges]}
    return Asset.model_validate(data)


def test_the_longest_chain_is_printed_by_name() -> None:
    assets = [
        _asset("training_job", "train", ("trained_on", "s3://data/x/")),
        _asset("model", "bare"),
        _asset("model", "churn", ("trained_by", "uid:train"), ("artifacts_in", "s3://m/")),
        _asset("endpoint_config", "cfg", ("serves", "uid:churn")),
        _asset("endpoint", "prod", ("serves", "uid:cfg"), ("serves", "uid:churn")),
    ]
    assert example_chain(assets) == ["s3://data/x/", "train", "churn", "prod"]


def test_no_chain_without_edges() -> None:
    assert example_chain([_asset("model", "bare")]) == []

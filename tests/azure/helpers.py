"""Building blocks for Azure collector tests: the real collector bound to a fake, small estates."""

from __future__ import annotations

from typing import Any

from aispm.collectors.azure.arm import ArmSettings
from aispm.collectors.azure.collector import AzureCollector
from aispm.collectors.base import CollectResult
from aispm.normalizer import normalize, normalize_identities
from aispm.rules.engine import EngineResult, evaluate
from aispm.rules.policy import Policy
from aispm.testing.fake_arm import FakeArm
from tests.azure.conftest import AllowPlainHttpForTests, StaticTokenCredential

SUB = "11111111-2222-4333-8444-555555555555"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-test"
ML = f"{RG}/providers/Microsoft.MachineLearningServices"
ML_VERSIONS = {"Microsoft.MachineLearningServices": ["2025-12-01"]}


def collector(fake: FakeArm, credential: Any = None, **settings: Any) -> AzureCollector:
    """The real collector on ``fake`` (plain http needs the test-only policy); fast retries."""
    settings.setdefault("retry_backoff_factor", 0.01)
    return AzureCollector(
        subscriptions=tuple(settings.pop("subscriptions", ())),
        settings=ArmSettings(
            endpoint=fake.url,
            credential=credential or StaticTokenCredential(fake.token),
            per_call_policies=(AllowPlainHttpForTests(),),
            **settings,
        ),
    )


def collect_all(fake: FakeArm, **settings: Any) -> list[CollectResult]:
    c = collector(fake, **settings)
    units, errors = c.plan()
    assert errors == []
    return [c.collect(u) for u in units]


def outcomes(results: list[CollectResult], required_tags: tuple[str, ...] = ()) -> dict[tuple[str, str], str]:
    """(resource uid, rule id) -> 'Pass' / 'Fail' / 'Error' over every unit, through mapper and engine."""
    out: dict[tuple[str, str], str] = {}
    for r in results:
        engine: EngineResult = evaluate(
            normalize("azure", r.records),
            {i.uid: i for i in normalize_identities("azure", r.identities)},
            Policy(required_tags=list(required_tags)),
        )
        for ev in engine.evaluations:
            out[(ev.asset.uid, ev.rule.id)] = ev.status.capitalize()
    return out


def estate(resources: list[dict[str, Any]], role_assignments: list[dict[str, Any]] | None = None,
           subscriptions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "tenantId": "99999999-8888-4777-8666-555555555555",
        "apiVersions": ML_VERSIONS,
        "subscriptions": subscriptions or [{"subscriptionId": SUB, "displayName": "test", "state": "Enabled"}],
        "resources": resources,
        "roleAssignments": role_assignments or [],
    }


def assignment(principal: str, role_guid: str, scope: str, name: str) -> dict[str, Any]:
    return {
        "id": f"{scope.rstrip('/')}/providers/Microsoft.Authorization/roleAssignments/{name}",
        "name": name,
        "type": "Microsoft.Authorization/roleAssignments",
        "properties": {
            "roleDefinitionId": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{role_guid}",
            "principalId": principal,
            "principalType": "ServicePrincipal",
            "scope": scope,
        },
    }

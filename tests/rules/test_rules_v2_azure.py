"""The Azure lines of rules-v2.md end to end: every rule line on Azure AI Services accounts, model deployments
and Foundry projects passes, fails and takes its default for absent fields, through the real collector (on the
fake Resource Manager), the mapper and the engine; a custom content filter policy the account does not hold is
an evaluation error for GAI-001 and no GAI-002 finding; the findings name the wire settings and cite the
Azure Policy built-ins."""

from __future__ import annotations

from aispm.normalizer import normalize, normalize_identities
from aispm.rules.catalog import all_rules
from aispm.rules.engine import evaluate
from aispm.rules.frameworks import compliance_refs
from aispm.rules.policy import Policy
from aispm.testing.fake_arm import FakeArm
from tests.support.azure import AI_EXPECTED, COGNITIVE, TEST_TOKEN, ai_estate, ai_uid, collect_all, outcomes

AI_KINDS = ("ai_services_account", "model_deployment", "ai_project")
RULES = {r.id: r for r in all_rules()}


def _scan() -> list:   # type: ignore[type-arg]
    with FakeArm(ai_estate(), token=TEST_TOKEN, page_size=2) as fake:
        return collect_all(fake)


def test_every_rule_line_passes_fails_and_takes_its_default() -> None:
    got = {k: v for k, v in outcomes(_scan()).items() if k[0].startswith(COGNITIVE)}
    assert got == AI_EXPECTED
    # Every Azure line of the new kinds is exercised both ways.
    lines = {(rid, kind) for rid, r in RULES.items() for kind in r.kinds.get("azure", ()) if kind in AI_KINDS}
    assert lines == {("AISPM-NET-003", "ai_services_account"), ("AISPM-ENC-001", "ai_services_account"),
                     ("AISPM-IAM-001", "ai_services_account"), ("AISPM-IAM-001", "ai_project"),
                     ("AISPM-IAM-003", "ai_services_account"), ("AISPM-GAI-001", "model_deployment"),
                     ("AISPM-GAI-002", "model_deployment"), ("AISPM-LOG-003", "ai_services_account")}
    kind_of = {"accounts": "ai_services_account", "deployments": "model_deployment", "projects": "ai_project"}
    seen: dict[tuple[str, str], set[str]] = {}
    for (uid, rule), status in got.items():
        parts = uid.removeprefix(f"{COGNITIVE}/accounts/").split("/")
        seen.setdefault((rule, kind_of[parts[-2]] if len(parts) > 1 else "ai_services_account"), set()).add(status)
    assert {line: seen.get(line, set()) >= {"Pass", "Fail"} for line in lines} == dict.fromkeys(lines, True)


def test_a_custom_policy_the_account_does_not_hold_is_an_error_for_gai001_and_silent_for_gai002() -> None:
    [result] = _scan()
    assets = normalize("azure", result.records)
    engine = evaluate(assets, {i.uid: i for i in normalize_identities("azure", result.identities)}, Policy())
    ghost = ai_uid("oai-locked/deployments/d-ghost")
    mine = {e.rule.id: e for e in engine.evaluations if e.asset.uid == ghost}
    assert set(mine) == {"AISPM-GAI-001"}
    assert mine["AISPM-GAI-001"].status == "error"
    assert "ghost" in mine["AISPM-GAI-001"].detail and "raiPolicies" in mine["AISPM-GAI-001"].detail


def test_findings_name_the_wire_settings_and_the_assets_carry_the_verdicts_inputs() -> None:
    [result] = _scan()
    assets = {a.uid: a for a in normalize("azure", result.records)}
    engine = evaluate(list(assets.values()), {i.uid: i for i in normalize_identities("azure", result.identities)},
                      Policy())
    detail = {(e.asset.uid, e.rule.id): e.detail for e in engine.evaluations}
    assert "properties.publicNetworkAccess and properties.networkAcls.defaultAction is absent (default Enabled) " \
           "and absent (default Allow)" in detail[(ai_uid("lang-bare"), "AISPM-NET-003")]
    assert "properties.networkAcls.defaultAction is Deny" in detail[(ai_uid("ais-acl"), "AISPM-NET-003")]
    assert "absent (default Microsoft.CognitiveServices)" in detail[(ai_uid("lang-bare"), "AISPM-ENC-001")]
    weak = detail[(ai_uid("oai-locked/deployments/d-weak"), "AISPM-GAI-002")]
    assert "Jailbreak" in weak and "Violence on Completion" in weak and "Hate" not in weak
    assert "0 of 9 content filters enabled" in detail[(ai_uid("oai-locked/deployments/d-off"), "AISPM-GAI-001")]
    assert "to-law: Audit" in detail[(ai_uid("oai-locked"), "AISPM-LOG-003")]
    assert "diagnosticSettings is none" in detail[(ai_uid("lang-bare"), "AISPM-LOG-003")]
    # Service, inventory details and the link to the account.
    deployment = assets[ai_uid("oai-locked/deployments/d-weak")]
    assert (deployment.service, deployment.kind, deployment.region) == ("azureai", "model_deployment", "eastus")
    assert deployment.details["model_name"] == "gpt-4o" and deployment.details["rai_policy"] == "weak"
    assert "Jailbreak/Prompt: enabled" in deployment.details["content_filters"]
    assert [r.uid for r in deployment.relations] == [ai_uid("oai-locked")]
    account = assets[ai_uid("ais-acl")]
    assert (account.service, account.details["account_kind"], account.details["log_categories"]) == (
        "azureai", "AIServices", "allLogs")
    assert assets[ai_uid("ais-acl/projects/p-admin")].relations[0].uid == ai_uid("ais-acl")


def test_azure_policy_built_ins_are_cited_on_the_kinds_they_govern() -> None:
    cases = {
        ("AISPM-NET-003", "ai_services_account"): {"037eea7a-bd0a-46c5-9a66-03aea78705d3",
                                                   "47ba1dd7-28d9-4b07-a8d5-9813bed64e0c"},
        ("AISPM-ENC-001", "ai_services_account"): {"67121cc7-ff39-4ab8-b7e3-95b84dab487d"},
        ("AISPM-IAM-003", "ai_services_account"): {"71ef260a-8f18-47b7-abcb-62d0673d94dc",
                                                   "55eff01b-f2bd-4c32-9203-db285f709d30"},
        ("AISPM-LOG-003", "ai_services_account"): {"1b4d1c4e-934c-4703-944c-27c82c06bebb"},
        ("AISPM-GAI-001", "model_deployment"): {"930f48f9-f07e-427c-9494-52603581c6a9"},
        ("AISPM-GAI-002", "model_deployment"): {"930f48f9-f07e-427c-9494-52603581c6a9",
                                                "f3a9c2e0-7b4d-4d8f-9c3a-2e1f6b9a8d4e"},
    }
    for (rid, kind), guids in cases.items():
        _, requirements = compliance_refs(RULES[rid], "azure", kind)
        assert guids <= set(requirements), (rid, kind)
    # An account's built-ins are never listed on a Machine Learning workspace, nor a workspace's on an account.
    assert "037eea7a-bd0a-46c5-9a66-03aea78705d3" not in compliance_refs(RULES["AISPM-NET-003"], "azure",
                                                                         "workspace")[1]
    assert "438c38d2-3772-465a-a9cc-7a6666a275ce" not in compliance_refs(RULES["AISPM-NET-003"], "azure",
                                                                         "ai_services_account")[1]
    gai = compliance_refs(RULES["AISPM-GAI-001"], "azure", "model_deployment")[1]
    assert {"LLM01", "LLM05"} <= set(gai)

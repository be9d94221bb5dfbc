"""Bedrock collection: moto where it implements the call, botocore's Stubber where it does not.

moto implements agents, knowledge bases, custom models (through CreateModelCustomizationJob) and the
invocation-logging configuration. It lacks ListGuardrails/GetGuardrail, ListImportedModels/GetImportedModel
and ListDataSources/GetDataSource: their wire handling is pinned with Stubber, which validates every request
and answer against the real service model. It lacks ListAgentKnowledgeBases (and AssociateAgentKnowledgeBase)
too: the emulator extension answers it from associations seeded with ``moto_gaps.add_agent_knowledge_base``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from aispm.collectors.aws import AwsCollector, AwsOptions
from aispm.collectors.aws.session import client
from aispm.collectors.base import ApiCalls, CollectOptions, CollectResult, ScopeUnit
from aispm.normalizer import normalize
from aispm.normalizer.schema import Asset
from aispm.pipeline import run_scan, scan_unit
from aispm.pipeline_types import ScanRequest
from aispm.rules.policy import Policy
from aispm.sinks.formats.ocsf import to_ocsf
from aispm.testing import moto_gaps
from tests.support.aws_faults import Fault, json_error, region_is

ACCT = "123456789012"
REGION = "us-east-1"
UNIT = ScopeUnit(provider="aws", scope=f"aws:{ACCT}:{REGION}", account=ACCT, region=REGION)
NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
KEY = f"arn:aws:kms:{REGION}:{ACCT}:key/k"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "bedrock.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def _role(name: str) -> str:
    return str(boto3.client("iam", region_name=REGION).create_role(
        RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"])


def _collect(collector: AwsCollector | None = None) -> CollectResult:
    collector = collector or AwsCollector(options=AwsOptions(regions=(REGION,)))
    units, errors = collector.plan()
    assert errors == []
    return collector.collect(units[0])


def _assets(result: CollectResult) -> dict[str, Asset]:
    return {a.name: a for a in normalize("aws", result.records)}


def test_agents_knowledge_bases_custom_models_and_logging_against_moto(aws: None) -> None:
    agents = boto3.client("bedrock-agent", region_name=REGION)
    role = _role("agent-role")
    agents.create_agent(agentName="support", agentResourceRoleArn=role, foundationModel="anthropic.claude-v2",
                        customerEncryptionKeyArn=KEY)
    agents.create_agent(agentName="plain", agentResourceRoleArn=role, foundationModel="anthropic.claude-v2")
    kb_id = agents.create_knowledge_base(
        name="docs", roleArn=_role("kb-role"),
        knowledgeBaseConfiguration={"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {
            "embeddingModelArn": f"arn:aws:bedrock:{REGION}::foundation-model/amazon.titan-embed-text-v2:0"}},
        storageConfiguration={"type": "OPENSEARCH_SERVERLESS", "opensearchServerlessConfiguration": {
            "collectionArn": f"arn:aws:aoss:{REGION}:{ACCT}:collection/c", "vectorIndexName": "i",
            "fieldMapping": {"vectorField": "v", "textField": "t", "metadataField": "m"}}},
    )["knowledgeBase"]["knowledgeBaseId"]
    bedrock = boto3.client("bedrock", region_name=REGION)
    bedrock.create_model_customization_job(
        jobName="tune", customModelName="tuned", roleArn=role, baseModelIdentifier="amazon.titan-text-express-v1",
        trainingDataConfig={"s3Uri": "s3://train/data.jsonl"}, outputDataConfig={"s3Uri": "s3://out/"},
        hyperParameters={}, customModelKmsKeyId=KEY, customizationType="FINE_TUNING")
    bedrock.put_model_invocation_logging_configuration(loggingConfig={
        "cloudWatchConfig": {"logGroupName": "bedrock", "roleArn": role}, "textDataDeliveryEnabled": True})

    result = _collect()
    assert result.errors == []
    assets = _assets(result)
    assert {a.kind for a in assets.values()} >= {"agent", "knowledge_base", "custom_model", "ai_service_settings"}
    assert {a.service for a in assets.values()} == {"bedrock"}
    support = assets["support"]
    assert support.uid.startswith(f"arn:aws:bedrock:{REGION}:{ACCT}:agent/")
    assert support.identities == (role,)
    assert [f.value for f in support.encryption.customer_managed_key] == [True]
    assert [f.value for f in assets["plain"].encryption.customer_managed_key] == [False]
    assert assets["plain"].guardrails.applied is not None and assets["plain"].guardrails.applied.value is False
    docs = assets["docs"]
    assert docs.uid.endswith(f":knowledge-base/{kb_id}")
    assert [(f.source, f.value) for f in docs.encryption.customer_managed_key] == [("dataSources", True)]  # none
    assert assets["tuned"].details["customization"] == "FINE_TUNING"
    assert [f.value for f in assets["tuned"].encryption.customer_managed_key] == [True]
    settings = assets["model-invocation-logging"]
    assert settings.uid == f"arn:aws:bedrock:{REGION}:{ACCT}:model-invocation-logging"
    assert settings.logging.invocation_logging is not None and settings.logging.invocation_logging.value is True
    # Both roles were read once each for IAM-001, however many assets run as them.
    assert sorted(i.data["RoleArn"] for i in result.identities) == sorted([role, _arn("kb-role")])
    calls = result.api_calls["aws"]
    assert calls["bedrock-agent:GetAgent"] == 2
    assert calls["bedrock-agent:GetKnowledgeBase"] == 1
    assert calls["bedrock-agent:ListDataSources"] == 1
    assert calls["bedrock-agent:ListAgentKnowledgeBases"] == 2   # one per agent: GetAgent does not name them
    assert calls["bedrock:GetCustomModel"] == 1
    assert calls["bedrock:GetModelInvocationLoggingConfiguration"] == 1


def _arn(role: str) -> str:
    return f"arn:aws:iam::{ACCT}:role/{role}"


def test_no_bedrock_asset_and_no_logging_configuration_emits_no_settings(aws: None) -> None:
    result = _collect()
    assert result.errors == []
    assert [r for r in result.records if r.type == "ai_service_settings"] == []
    assert result.api_calls["aws"]["bedrock:GetModelInvocationLoggingConfiguration"] == 1


def test_a_logging_configuration_alone_emits_the_settings(aws: None) -> None:
    boto3.client("bedrock", region_name=REGION).put_model_invocation_logging_configuration(loggingConfig={
        "s3Config": {"bucketName": "logs"}})   # textDataDeliveryEnabled absent: false
    [settings] = [a for a in _assets(_collect()).values() if a.kind == "ai_service_settings"]
    fact = settings.logging.invocation_logging
    assert fact is not None and fact.value is False
    assert fact.source == "loggingConfig.textDataDeliveryEnabled" and fact.observed == "absent (default false)"


def _kb(agents: Any, name: str, role: str) -> str:
    return str(agents.create_knowledge_base(
        name=name, roleArn=role,
        knowledgeBaseConfiguration={"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {
            "embeddingModelArn": f"arn:aws:bedrock:{REGION}::foundation-model/amazon.titan-embed-text-v2:0"}},
        storageConfiguration={"type": "OPENSEARCH_SERVERLESS", "opensearchServerlessConfiguration": {
            "collectionArn": f"arn:aws:aoss:{REGION}:{ACCT}:collection/c", "vectorIndexName": "i",
            "fieldMapping": {"vectorField": "v", "textField": "t", "metadataField": "m"}}},
    )["knowledgeBase"]["knowledgeBaseId"])


def _agents_with_bases(names_and_bases: dict[str, int]) -> dict[str, tuple[str, list[str]]]:
    """Agents (name -> how many knowledge bases to associate) on moto: name -> (agent id, knowledge base ids)."""
    agents = boto3.client("bedrock-agent", region_name=REGION)
    role, kb_role = _role("agent-role"), _role("kb-role")
    out: dict[str, tuple[str, list[str]]] = {}
    for name, count in names_and_bases.items():
        agent_id = agents.create_agent(agentName=name, agentResourceRoleArn=role,
                                       foundationModel="anthropic.claude-v2")["agent"]["agentId"]
        bases = [_kb(agents, f"{name}-kb-{i}", kb_role) for i in range(count)]
        for kb in bases:
            moto_gaps.add_agent_knowledge_base(ACCT, REGION, agent_id, kb)
        out[name] = (agent_id, bases)
    return out


def _edges(asset: Asset) -> list[tuple[str, str]]:
    return [(e.rel, e.uid) for e in asset.lineage]


@pytest.mark.parametrize("page_size", [None, 1])
def test_agent_lineage_names_each_associated_knowledge_base(aws: None, page_size: int | None) -> None:
    """One paged ListAgentKnowledgeBases per agent (its DRAFT version): an edge per knowledge base, none without."""
    made = _agents_with_bases({"two": 2, "none": 0})
    result = _collect(AwsCollector(options=AwsOptions(regions=(REGION,)), page_size=page_size))
    assert result.errors == []
    assets = _assets(result)
    base = f"arn:aws:bedrock:{REGION}:{ACCT}"
    claude = f"arn:aws:bedrock:{REGION}::foundation-model/anthropic.claude-v2"
    kb1, kb2 = made["two"][1]
    assert _edges(assets["two"]) == [("uses", f"{base}:knowledge-base/{kb1}"), ("uses", f"{base}:knowledge-base/{kb2}"),
                                     ("uses", claude)]
    assert _edges(assets["none"]) == [("uses", claude)]
    # The edges name the knowledge bases as scanned.
    assert {assets["two-kb-0"].uid, assets["two-kb-1"].uid} == {f"{base}:knowledge-base/{kb1}",
                                                                 f"{base}:knowledge-base/{kb2}"}
    calls = result.api_calls["aws"]["bedrock-agent:ListAgentKnowledgeBases"]
    assert calls == (3 if page_size == 1 else 2)   # "two" takes two pages of one when pages hold one


def test_unreadable_agent_knowledge_bases_are_an_error_field_and_a_scope_error(aws: None) -> None:
    made = _agents_with_bases({"denied": 1, "readable": 1})
    denied_id = made["denied"][0]
    session = boto3.Session(region_name=REGION)
    fault = Fault(session, "bedrock-agent.ListAgentKnowledgeBases",
                  lambda: json_error("AccessDeniedException", "not authorized to perform bedrock", 403),
                  when=lambda request: f"/agents/{denied_id}/agentversions/DRAFT/" in request.url)
    result = _collect(AwsCollector(session=session, options=AwsOptions(regions=(REGION,))))
    assert fault.hits == 1
    [error] = result.errors
    assert f"knowledge bases of agent {denied_id}" in error.error and "AccessDeniedException" in error.error
    [denied] = [r for r in result.records if r.type == "agent" and r.data["agentName"] == "denied"]
    assert "AccessDeniedException" in denied.data["KnowledgeBasesError"] and "knowledgeBases" not in denied.data
    assets = _assets(result)
    assert not any(e.uid.endswith(made["denied"][1][0]) for e in assets["denied"].lineage)
    assert (f"arn:aws:bedrock:{REGION}:{ACCT}:knowledge-base/{made['readable'][1][0]}"
            in [e.uid for e in assets["readable"].lineage])   # the other agent is still read


def test_an_agent_deleted_before_its_knowledge_bases_are_read_is_dropped(aws: None) -> None:
    made = _agents_with_bases({"vanished": 0, "kept": 0})
    gone_id = made["vanished"][0]
    session = boto3.Session(region_name=REGION)
    Fault(session, "bedrock-agent.ListAgentKnowledgeBases",
          lambda: json_error("ResourceNotFoundException", f"Agent {gone_id} not found", 404),
          when=lambda request: f"/agents/{gone_id}/" in request.url)
    result = _collect(AwsCollector(session=session, options=AwsOptions(regions=(REGION,))))
    assert result.errors == []
    assert [r.data["agentName"] for r in result.records if r.type == "agent"] == ["kept"]


def test_the_emulator_answers_list_agent_knowledge_bases_like_aws(aws: None) -> None:
    """The moto extension: an unknown agent is ResourceNotFoundException; pages follow maxResults."""
    made = _agents_with_bases({"a": 3})
    agents = boto3.client("bedrock-agent", region_name=REGION)
    first = agents.list_agent_knowledge_bases(agentId=made["a"][0], agentVersion="DRAFT", maxResults=2)
    assert [s["knowledgeBaseId"] for s in first["agentKnowledgeBaseSummaries"]] == made["a"][1][:2]
    assert first["agentKnowledgeBaseSummaries"][0]["knowledgeBaseState"] == "ENABLED"
    rest = agents.list_agent_knowledge_bases(agentId=made["a"][0], agentVersion="DRAFT", nextToken=first["nextToken"])
    assert [s["knowledgeBaseId"] for s in rest["agentKnowledgeBaseSummaries"]] == made["a"][1][2:]
    with pytest.raises(agents.exceptions.ResourceNotFoundException):
        agents.list_agent_knowledge_bases(agentId="NOPE123456", agentVersion="DRAFT")


def test_bedrock_is_read_only_where_botocore_offers_it(aws: None) -> None:
    """A region botocore's partition data does not list for Bedrock gets no Bedrock call at all."""
    session = boto3.Session(region_name=REGION)
    offered = set(session.get_available_regions("bedrock"))
    lacking = next(r for r in session.get_available_regions("sagemaker") if r not in offered)
    result = _collect(AwsCollector(session=session, options=AwsOptions(regions=(lacking,))))
    assert result.errors == []
    assert not any(op.startswith("bedrock") for op in result.api_calls["aws"])


def test_throttled_bedrock_in_one_region_is_retried(aws: None) -> None:
    boto3.client("bedrock-agent", region_name="eu-west-1").create_agent(
        agentName="west", agentResourceRoleArn=_role("r"), foundationModel="m")
    session = boto3.Session(region_name=REGION)
    fault = Fault(session, "bedrock-agent.ListAgents", lambda: json_error("ThrottlingException", "Rate exceeded", 429),
                  when=region_is("eu-west-1"), times=2)
    collector = AwsCollector(session=session, options=AwsOptions(regions=(REGION, "eu-west-1")))
    units, _ = collector.plan()
    results = {u.region: collector.collect(u) for u in units}
    assert fault.hits == 2 and fault.seen == 3   # two throttled attempts, then the retry that got through
    assert results["eu-west-1"].errors == []
    assert [r.data["agentName"] for r in results["eu-west-1"].records if r.type == "agent"] == ["west"]
    assert results["eu-west-1"].api_calls["aws"]["bedrock-agent:ListAgents"] == 1


def test_access_denied_on_bedrock_is_a_scope_error_and_sagemaker_is_still_read(aws: None, tmp_path: Path) -> None:
    sm = boto3.client("sagemaker", region_name=REGION)
    sm.create_notebook_instance(NotebookInstanceName="nb", InstanceType="ml.t3.medium", RoleArn=_role("nb"))
    session = boto3.Session(region_name=REGION)
    for event in ("bedrock.*", "bedrock-agent.*"):
        Fault(session, event, lambda: json_error("AccessDeniedException", "not authorized to perform bedrock", 403))
    outcome = run_scan(ScanRequest(providers=["aws"], options=CollectOptions(regions=[REGION]), out_dir=tmp_path,
                                   credentials={"aws": session}))
    assert outcome.exit_code == 4
    summary = json.loads((tmp_path / "summary.json").read_text())
    [scope] = summary["scopes"]
    assert scope["status"] == "error"
    for call in ("list_agents", "list_custom_models", "list_guardrails", "list_imported_models",
                 "list_knowledge_bases", "get_model_invocation_logging_configuration"):
        assert call in scope["error"], call
    findings = [json.loads(line) for line in (tmp_path / "findings.ocsf.jsonl").read_text().splitlines()]
    assert {f["resources"][0]["name"] for f in findings} == {"nb"}   # SageMaker still scanned and reported


def test_an_agent_role_that_cannot_be_read_makes_iam001_an_error(aws: None) -> None:
    foreign = "arn:aws:iam::999988887777:role/elsewhere"   # an account the scan cannot read
    boto3.client("bedrock-agent", region_name=REGION).create_agent(
        agentName="outsider", agentResourceRoleArn=foreign, foundationModel="m")
    collector = AwsCollector(options=AwsOptions(regions=(REGION,)))
    result = scan_unit(collector, collector.plan()[0][0], Policy(), known_accounts={ACCT})
    # An evaluation error (summary.json), never a Pass finding.
    assert [f for f in map(to_ocsf, result.findings) if f["compliance"]["control"] == "AISPM-IAM-001"] == []
    [error] = [e for e in result.evaluation_errors if e["rule"] == "AISPM-IAM-001"]
    assert foreign in error["error"] and error["resource"].endswith(":agent/" + error["resource"].rsplit("/")[-1])


# --- Stubber: the calls moto lacks -------------------------------------------------------------------------


Answer = tuple[str, dict[str, Any], dict[str, Any] | None]
# Each Bedrock client's list calls in collection order, with their empty answers.
EMPTY: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "bedrock": [("list_guardrails", {"guardrails": []}), ("list_custom_models", {"modelSummaries": []}),
                ("list_imported_models", {"modelSummaries": []})],
    "bedrock-agent": [("list_agents", {"agentSummaries": []}),
                      ("list_knowledge_bases", {"knowledgeBaseSummaries": []})]}


def _stubbed_region(setup: dict[str, list[Answer]]) -> CollectResult:
    """Collect one region whose Bedrock clients answer from ``setup`` (a list call -> the calls that replace
    its empty answer: the list itself and what follows it), in collection order. SageMaker is not read;
    STS (for the partition) is moto's."""
    calls = ApiCalls()
    session = boto3.Session(region_name=REGION)
    clients = {name: client(session, name, REGION, calls) for name in EMPTY}
    stubs = {name: Stubber(c) for name, c in clients.items()}
    for name, lists in EMPTY.items():
        for op, empty in lists:
            for method, answer, expected in setup.get(op, [(op, empty, {"maxResults": 1000})]):
                if "Error" in answer:
                    stub_error = answer["Error"]
                    stubs[name].add_client_error(method, stub_error["Code"], stub_error["Message"], 403,
                                                 expected_params=expected)
                else:
                    stubs[name].add_response(method, answer, expected)
    stubs["bedrock"].add_response("get_model_invocation_logging_configuration", {}, {})
    collector = AwsCollector(options=AwsOptions(regions=(REGION,), describe_workers=1))
    for stub in stubs.values():
        stub.activate()
    try:
        result = collector.collect_region(clients, session, UNIT, calls)
        for stub in stubs.values():
            stub.assert_no_pending_responses()
    finally:
        for stub in stubs.values():
            stub.deactivate()
    return result


def _guardrail(gid: str, **policies: Any) -> dict[str, Any]:
    return {"name": f"gr-{gid}", "guardrailId": gid, "guardrailArn": f"arn:aws:bedrock:{REGION}:{ACCT}:guardrail/{gid}",
            "version": "DRAFT", "status": "READY", "createdAt": NOW, "updatedAt": NOW,
            "blockedInputMessaging": "no", "blockedOutputsMessaging": "no", **policies}


STRONG = {"filters": [{"type": "PROMPT_ATTACK", "inputStrength": "HIGH", "outputStrength": "NONE"}] + [
    {"type": t, "inputStrength": "MEDIUM", "outputStrength": "LOW"}
    for t in ("HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT")]}


def test_guardrails_gap_paged_list_then_one_get_each(aws: None) -> None:
    """Gap: ListGuardrails, GetGuardrail (moto: not implemented). The list pages; each draft is read once."""
    summary = {k: v for k, v in _guardrail("a").items() if k in ("name", "version", "status", "createdAt", "updatedAt")}
    result = _stubbed_region({"list_guardrails": [
        ("list_guardrails", {"guardrails": [summary | {"id": "a", "arn": _guardrail("a")["guardrailArn"]}],
                             "nextToken": "p2"}, {"maxResults": 1000}),
        ("list_guardrails", {"guardrails": [summary | {"id": "b", "arn": _guardrail("b")["guardrailArn"]}]},
         {"maxResults": 1000, "nextToken": "p2"}),
        ("get_guardrail", _guardrail("a", contentPolicy=STRONG, sensitiveInformationPolicy={
            "piiEntities": [{"type": "EMAIL", "action": "ANONYMIZE"}]}), {"guardrailIdentifier": "a"}),
        ("get_guardrail", _guardrail("b", contentPolicy={"filters": [
            {"type": "PROMPT_ATTACK", "inputStrength": "MEDIUM", "outputStrength": "NONE"}]}),
         {"guardrailIdentifier": "b"}),
    ]})
    assert result.errors == []
    assets = _assets(result)
    strong, weak = assets["gr-a"].guardrails, assets["gr-b"].guardrails
    assert strong.harmful_content is not None and strong.harmful_content.value is True
    assert strong.sensitive_information is not None and strong.sensitive_information.value is True
    assert weak.harmful_content is not None and weak.harmful_content.value is False
    assert "PROMPT_ATTACK input MEDIUM" in weak.harmful_content.observed
    assert "HATE input NONE" in weak.harmful_content.observed   # a missing filter counts as NONE
    assert weak.sensitive_information is not None and weak.sensitive_information.value is False
    assert result.api_calls["aws"]["bedrock:ListGuardrails"] == 2
    assert result.api_calls["aws"]["bedrock:GetGuardrail"] == 2
    # A region with a Bedrock asset reports its invocation logging, here absent.
    [settings] = [a for a in assets.values() if a.kind == "ai_service_settings"]
    assert settings.logging.invocation_logging is not None and settings.logging.invocation_logging.value is False


def test_imported_models_gap(aws: None) -> None:
    """Gap: ListImportedModels, GetImportedModel (moto: not implemented)."""
    arn = f"arn:aws:bedrock:{REGION}:{ACCT}:imported-model/abc"
    result = _stubbed_region({"list_imported_models": [
        ("list_imported_models", {"modelSummaries": [{"modelArn": arn, "modelName": "llama-ft",
                                                      "creationTime": NOW}]}, {"maxResults": 1000}),
        ("get_imported_model", {"modelArn": arn, "modelName": "llama-ft", "jobArn": "arn:aws:bedrock:x:1:j/1",
                                "modelDataSource": {"s3DataSource": {"s3Uri": "s3://weights/llama/"}},
                                "creationTime": NOW, "modelArchitecture": "llama3"}, {"modelIdentifier": arn}),
    ]})
    assert result.errors == []
    model = _assets(result)["llama-ft"]
    assert (model.kind, model.service, model.uid) == ("custom_model", "bedrock", arn)
    assert model.details["customization"] == "IMPORTED"
    [key] = model.encryption.customer_managed_key
    assert (key.source, key.value, key.observed) == ("modelKmsKeyArn", False, "absent")


def _kb_answers(sources: list[tuple[str, dict[str, Any]]]) -> list[Answer]:
    kb = {"knowledgeBaseId": "KB1", "name": "handbook", "knowledgeBaseArn": f"arn:aws:bedrock:{REGION}:{ACCT}:"
          "knowledge-base/KB1", "roleArn": _arn("kb"), "status": "ACTIVE", "createdAt": NOW, "updatedAt": NOW,
          "knowledgeBaseConfiguration": {"type": "VECTOR"}, "storageConfiguration": {"type": "RDS"}}
    calls: list[Answer] = [
        ("list_knowledge_bases", {"knowledgeBaseSummaries": [{"knowledgeBaseId": "KB1", "name": "handbook",
                                                              "status": "ACTIVE", "updatedAt": NOW}]},
         {"maxResults": 1000}),
        ("get_knowledge_base", {"knowledgeBase": kb}, {"knowledgeBaseId": "KB1"}),
        ("list_data_sources", {"dataSourceSummaries": [
            {"knowledgeBaseId": "KB1", "dataSourceId": sid, "name": sid, "status": "AVAILABLE", "updatedAt": NOW}
            for sid, _ in sources]}, {"knowledgeBaseId": "KB1", "maxResults": 1000}),
    ]
    for sid, answer in sources:
        calls.append(("get_data_source", answer, {"knowledgeBaseId": "KB1", "dataSourceId": sid}))
    return calls


def _source(sid: str, kms: str | None) -> dict[str, Any]:
    return {"dataSource": {
        "knowledgeBaseId": "KB1", "dataSourceId": sid, "name": sid, "status": "AVAILABLE", "createdAt": NOW,
        "updatedAt": NOW, "dataSourceConfiguration": {"type": "S3", "s3Configuration": {"bucketArn": "arn:aws:s3:::d"}},
        **({"serverSideEncryptionConfiguration": {"kmsKeyArn": kms}} if kms else {})}}


@pytest.mark.parametrize(("keys", "expected"), [
    ((KEY, KEY), [True, True]),
    ((KEY, None), [True, False]),
])
def test_knowledge_base_data_sources_gap(aws: None, keys: tuple[str | None, ...], expected: list[bool]) -> None:
    """Gap: ListDataSources, GetDataSource (moto: not implemented). Each data source's KMS key is a fact."""
    result = _stubbed_region({"list_knowledge_bases": _kb_answers(
        [(f"ds{i}", _source(f"ds{i}", k)) for i, k in enumerate(keys)])})
    assert result.errors == []
    kb = _assets(result)["handbook"]
    assert [f.value for f in kb.encryption.customer_managed_key] == expected
    source = kb.encryption.customer_managed_key[0].source
    assert source == "dataSources[ds0].serverSideEncryptionConfiguration.kmsKeyArn"
    assert kb.identities == (_arn("kb"),)


def test_unreadable_data_source_is_an_evaluation_error_and_a_scope_error(aws: None) -> None:
    """Gap: GetDataSource (moto: not implemented). AccessDenied on it: ENC-001 cannot pass."""
    result = _stubbed_region({"list_knowledge_bases": _kb_answers(
        [("ds0", {"Error": {"Code": "AccessDeniedException", "Message": "denied"}})])})
    assert len(result.errors) == 1 and "data sources of knowledge base KB1" in result.errors[0].error
    [fact] = _assets(result)["handbook"].encryption.customer_managed_key
    assert fact.error is not None and "could not be read" in fact.error


def test_bedrock_resources_get_their_tags_from_the_same_tagging_call() -> None:
    """GOV-003 reads Bedrock tags too: one paged tag:GetResources covers both services (Stubber: the filter)."""
    from aispm.collectors.aws.tags import region_tags

    tagging = boto3.client("resourcegroupstaggingapi", region_name=REGION, aws_access_key_id="k",
                           aws_secret_access_key="s")
    agent = f"arn:aws:bedrock:{REGION}:{ACCT}:agent/A1"
    with Stubber(tagging) as stub:
        stub.add_response("get_resources", {"ResourceTagMappingList": [
            {"ResourceARN": agent, "Tags": [{"Key": "owner", "Value": "ml"}]}]},
            {"ResourceTypeFilters": ["sagemaker", "bedrock"], "ResourcesPerPage": 100})
        assert region_tags(tagging) == {agent.lower(): [{"Key": "owner", "Value": "ml"}]}

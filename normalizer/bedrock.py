"""Amazon Bedrock raw records -> AI assets (rules-v2.md): guardrails, agents, knowledge bases, custom and
imported models, and the region's invocation-logging settings.

Defaults for absent fields are the spec's: a missing content filter counts as strength NONE, an absent
``textDataDeliveryEnabled`` as false.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aispm.collectors.base import RawRecord
from aispm.normalizer import aws_provenance as provenance
from aispm.normalizer.aws_base import base, cmk, role
from aispm.normalizer.common import dig, fact, present
from aispm.normalizer.schema import Asset, Encryption, Fact, Guardrails, Logging, Provenance

# GAI-002: each of these content filters must filter both directions (strength not NONE).
HARMFUL_CONTENT = ("HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT")


def _strength(f: Mapping[str, Any], side: str) -> str:
    return str(f.get(side) or "NONE")


def _harmful_content(policy: Mapping[str, Any] | None) -> Fact:
    filters = {str(f.get("type")): f for f in (policy or {}).get("filters") or []}
    attack = _strength(filters.get("PROMPT_ATTACK", {}), "inputStrength")
    weak = [] if attack == "HIGH" else [f"PROMPT_ATTACK input {attack}"]
    for kind in HARMFUL_CONTENT:
        for side in ("inputStrength", "outputStrength"):
            if _strength(filters.get(kind, {}), side) == "NONE":
                weak.append(f"{kind} {side.removesuffix('Strength')} NONE")
    if weak:
        return Fact(value=False, source="contentPolicy.filters", observed="; ".join(weak))
    return Fact(value=True, source="contentPolicy.filters",
                observed=f"PROMPT_ATTACK input HIGH; {', '.join(HARMFUL_CONTENT)} filtered on input and output")


def _sensitive_information(policy: Mapping[str, Any] | None) -> Fact:
    pii, regexes = (policy or {}).get("piiEntities") or [], (policy or {}).get("regexes") or []
    if policy is None:
        return fact(False, "sensitiveInformationPolicy", None)
    return fact(bool(pii or regexes), "sensitiveInformationPolicy",
                f"{len(pii)} PII entity types, {len(regexes)} regexes")


def guardrail(rec: RawRecord, _ctx: object) -> Asset:
    d = rec.data
    return Asset(
        **base(rec),
        guardrails=Guardrails(
            harmful_content=_harmful_content(d.get("contentPolicy")),
            sensitive_information=_sensitive_information(d.get("sensitiveInformationPolicy")),
        ),
        details={k: str(d[k]) for k in ("version", "status") if d.get(k)},
    )


def agent(rec: RawRecord, _ctx: object) -> Asset:
    d = rec.data
    guardrail_id = dig(d, "guardrailConfiguration.guardrailIdentifier")
    return Asset(
        **base(rec),
        encryption=Encryption(customer_managed_key=(cmk(d.get("customerEncryptionKeyArn"),
                                                        "customerEncryptionKeyArn"),)),
        identities=role(d.get("agentResourceRoleArn")),
        guardrails=Guardrails(applied=fact(present(guardrail_id), "guardrailConfiguration.guardrailIdentifier",
                                           guardrail_id)),
        lineage=provenance.agent(d),
        details={k: str(d[v]) for k, v in (("foundation_model", "foundationModel"), ("status", "agentStatus"))
                 if d.get(v)},
    )


def _data_source_keys(d: Mapping[str, Any]) -> tuple[Fact, ...]:
    """ENC-001: every data source needs a KMS key; a knowledge base without data sources passes."""
    if d.get("DataSourcesError"):
        return (Fact(value=False, source="dataSources", observed="unreadable",
                     error=f"The data sources could not be read: {d['DataSourcesError']}"),)
    sources = d.get("dataSources") or []
    if not sources:
        return (fact(True, "dataSources", "none"),)
    return tuple(cmk(dig(s, "serverSideEncryptionConfiguration.kmsKeyArn"),
                     f"dataSources[{s.get('name') or s.get('dataSourceId')}].serverSideEncryptionConfiguration"
                     ".kmsKeyArn") for s in sources)


def knowledge_base(rec: RawRecord, _ctx: object) -> Asset:
    d = rec.data
    return Asset(
        **base(rec),
        encryption=Encryption(customer_managed_key=_data_source_keys(d)),
        identities=role(d.get("roleArn")),
        lineage=provenance.knowledge_base(d),
        provenance=Provenance(public_storage=provenance.public_storage(rec)),
        details={k: str(v) for k, v in {
            "type": dig(d, "knowledgeBaseConfiguration.type"),
            "storage": dig(d, "storageConfiguration.type"),
            "status": d.get("status"),
            "data_sources": len(d.get("dataSources") or []) if "dataSources" in d else None,
        }.items() if v is not None and v != ""},
    )


def custom_model(rec: RawRecord, _ctx: object) -> Asset:
    d = rec.data
    imported = ":imported-model/" in str(d.get("modelArn"))
    return Asset(
        **base(rec),
        encryption=Encryption(customer_managed_key=(cmk(d.get("modelKmsKeyArn"), "modelKmsKeyArn"),)),
        lineage=provenance.custom_model(d),
        provenance=Provenance(public_storage=provenance.public_storage(rec)),
        details={k: str(v) for k, v in {
            "customization": "IMPORTED" if imported else d.get("customizationType"),
            "base_model": d.get("baseModelArn"),
            "architecture": d.get("modelArchitecture"),
            "status": d.get("modelStatus"),
        }.items() if v},
    )


def ai_service_settings(rec: RawRecord, _ctx: object) -> Asset:
    d = rec.data
    config = d.get("loggingConfig") or {}
    destination = dig(config, "cloudWatchConfig.logGroupName") or dig(config, "s3Config.bucketName")
    if not present(config):
        logged = fact(False, "loggingConfig", None)
    elif not destination:
        logged = fact(False, "loggingConfig.cloudWatchConfig.logGroupName, loggingConfig.s3Config.bucketName",
                      None)
    else:
        text = config.get("textDataDeliveryEnabled")
        logged = fact(text is True, "loggingConfig.textDataDeliveryEnabled", text, "false")
    return Asset(
        **base(rec, uid=str(d["settingsArn"]), name="model-invocation-logging", service="bedrock"),
        taggable=False,
        logging=Logging(invocation_logging=logged),
        details={k: str(v) for k, v in {
            "log_group": dig(config, "cloudWatchConfig.logGroupName"),
            "s3_bucket": dig(config, "s3Config.bucketName"),
        }.items() if v},
    )


MAPPERS: dict[str, Callable[[RawRecord, Any], Asset]] = {
    "guardrail": guardrail,
    "agent": agent,
    "knowledge_base": knowledge_base,
    "custom_model": custom_model,
    "ai_service_settings": ai_service_settings,
}

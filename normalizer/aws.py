"""AWS SageMaker raw records -> AI assets.

Defaults for absent fields are the documented AWS defaults (rules-v1.md): an
absent field is what AWS does, not "unknown".
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from aispm.collectors.aws.kinds import MONITORING_LISTED
from aispm.collectors.base import RawRecord
from aispm.normalizer import bedrock
from aispm.normalizer.aws_base import base, cmk, role
from aispm.normalizer.aws_provenance import Lineage, private_image, public_storage, registered
from aispm.normalizer.common import dig, fact, not_equal_fact, present
from aispm.normalizer.schema import (
    Access,
    Asset,
    Encryption,
    EnvVar,
    Fact,
    Identity,
    Lifecycle,
    Logging,
    Network,
    PolicyStatement,
    Provenance,
    Relation,
    Resilience,
)
from aispm.normalizer.secrets import env_vars, script_env

# Instance families whose storage is local NVMe instance store: AWS refuses a volume KMS key on them.
NVME_FAMILIES = frozenset({
    "ml.p3dn", "ml.p4d", "ml.p4de", "ml.p5", "ml.p5e", "ml.p5en", "ml.g4dn", "ml.g5", "ml.g6", "ml.g6e",
    "ml.m5d", "ml.c5d", "ml.r5d", "ml.trn1", "ml.trn1n", "ml.trn2",
})


def _family(instance_type: str) -> str:
    return instance_type.rsplit(".", 1)[0] if instance_type.count(".") >= 2 else instance_type


def _arn_base(arn: str) -> str:
    """'arn:aws:sagemaker:us-east-1:123456789012' from any SageMaker ARN."""
    return ":".join(arn.split(":")[:5])


def _related(arn: str, kind: str, resource: str, name: str) -> Relation:
    # SageMaker ARNs carry resource names in lower case.
    return Relation(kind=kind, uid=f"{_arn_base(arn)}:{resource}/{name.lower()}", role=kind)


def _environment(envs: Iterable[tuple[str, Mapping[str, Any] | None]]) -> tuple[EnvVar, ...]:
    out: list[EnvVar] = []
    for container, env in envs:
        out.extend(env_vars(((str(k), str(v)) for k, v in (env or {}).items()), container=container))
    return tuple(out)


def _count(variant: Mapping[str, Any]) -> int:
    """A variant's initial instance count; absent means the one instance SageMaker starts."""
    value = variant.get("InitialInstanceCount")
    return 1 if value is None else int(value)


def notebook(rec: RawRecord, _ctx: Context) -> Asset:
    d = rec.data
    platform = d.get("PlatformIdentifier")
    imds = dig(d, "InstanceMetadataServiceConfiguration.MinimumInstanceMetadataServiceVersion")
    scripts, scripts_error = _lifecycle_env(d)
    return Asset(
        **base(rec),
        network=Network(
            direct_internet_access=not_equal_fact(d.get("DirectInternetAccess"), "Disabled",
                                                  "DirectInternetAccess", "Enabled"),
            private_network=fact(present(d.get("SubnetId")), "SubnetId", d.get("SubnetId")),
        ),
        encryption=Encryption(customer_managed_key=(cmk(d.get("KmsKeyId"), "KmsKeyId"),)),
        access=Access(
            root_access=not_equal_fact(d.get("RootAccess"), "Disabled", "RootAccess", "Enabled"),
            imds_v1=not_equal_fact(imds, "2", "InstanceMetadataServiceConfiguration."
                                   "MinimumInstanceMetadataServiceVersion", "1"),
        ),
        identities=role(d.get("RoleArn")),
        environment=scripts,
        environment_error=scripts_error,
        lifecycle=Lifecycle(
            outdated_image=(
                fact(str(platform).startswith(("notebook-al1-", "notebook-al2-")), "PlatformIdentifier", platform)
                if platform else None
            ),
        ),
        details={k: str(d[k]) for k in ("InstanceType", "PlatformIdentifier") if d.get(k)},
    )


def _lifecycle_env(d: Mapping[str, Any]) -> tuple[tuple[EnvVar, ...], str | None]:
    """Secrets in the notebook's lifecycle configuration scripts (base64 ``Content`` of each OnCreate and
    OnStart entry), decoded here in memory, and why they could not be read; no configuration means nothing
    can hold a script secret."""
    name = d.get("NotebookInstanceLifecycleConfigName")
    if d.get("LifecycleConfigError"):
        return (), f"Lifecycle configuration {name} could not be read: {d['LifecycleConfigError']}"
    config = d.get("LifecycleConfig") or {}
    out: list[EnvVar] = []
    for hook in ("OnCreate", "OnStart"):
        entries = config.get(hook) or []
        for i, entry in enumerate(entries):
            label = f"lifecycle configuration {name} {hook if len(entries) == 1 else f'{hook}[{i}]'}"
            try:
                text = base64.b64decode(str(entry.get("Content") or "")).decode("utf-8", errors="replace")
            except binascii.Error:
                return tuple(out), f"The script of {label} is not valid base64."
            out.extend(script_env(text, container=label))
    return tuple(out), None


def model(rec: RawRecord, ctx: Context) -> Asset:
    d = rec.data
    containers: list[tuple[str, Mapping[str, Any] | None]] = []
    if d.get("PrimaryContainer"):
        containers.append(("PrimaryContainer", d["PrimaryContainer"].get("Environment")))
    for i, c in enumerate(d.get("Containers") or []):
        containers.append((c.get("ContainerHostname") or f"Containers[{i}]", c.get("Environment")))
    images = [str(c.get("Image")) for c in [d.get("PrimaryContainer") or {}, *(d.get("Containers") or [])]
              if c.get("Image")]
    return Asset(
        **base(rec),
        network=Network(
            egress_isolated=fact(d.get("EnableNetworkIsolation") is True, "EnableNetworkIsolation",
                                 d.get("EnableNetworkIsolation"), "false"),
            private_network=fact(present(d.get("VpcConfig")), "VpcConfig", d.get("VpcConfig")),
        ),
        identities=role(d.get("ExecutionRoleArn")),
        environment=_environment(containers),
        lineage=ctx.lineage.model(d),
        provenance=Provenance(private_image=private_image(d), registered=registered(d),
                              public_storage=public_storage(rec)),
        details={"images": ",".join(images)} if images else {},
    )


def endpoint_config(rec: RawRecord, _ctx: Context) -> Asset:
    d = rec.data
    arn = d["EndpointConfigArn"]
    capture = d.get("DataCaptureConfig") or {}
    if not present(capture):
        capture_fact = fact(False, "DataCaptureConfig", None)
    else:
        enabled = capture.get("EnableCapture")
        capture_fact = fact(enabled is not False, "DataCaptureConfig.EnableCapture", enabled, "true")
    variants = d.get("ProductionVariants") or []
    instance_variants = [v for v in variants if v.get("InstanceType") or v.get("InstancePools")]
    if instance_variants:
        low = min(instance_variants, key=_count)
        count = _count(low)
        redundant = fact(count >= 2, f"ProductionVariants[{low.get('VariantName')}].InitialInstanceCount", count)
    else:
        redundant = fact(True, "ProductionVariants", "serverless only")
    return Asset(
        **base(rec),
        encryption=Encryption(customer_managed_key=(cmk(d.get("KmsKeyId"), "KmsKeyId"),)),
        logging=Logging(request_capture=capture_fact),
        resilience=Resilience(redundant=redundant),
        relations=tuple(_related(arn, "model", "model", v["ModelName"]) for v in variants if v.get("ModelName")),
        lineage=Lineage.endpoint_config(d),
    )


def endpoint(rec: RawRecord, ctx: Context) -> Asset:
    d = rec.data
    arn = d["EndpointArn"]
    relations = (_related(arn, "endpoint_config", "endpoint-config", d["EndpointConfigName"]),) if d.get(
        "EndpointConfigName") else ()
    monitoring = None
    if ctx.monitoring_known:
        schedules = ctx.monitored_endpoints.get(str(d["EndpointName"]), [])
        monitoring = fact(bool(schedules), "MonitoringSchedules[Status=Scheduled]",
                          ",".join(schedules) if schedules else "none")
    return Asset(
        **base(rec),
        logging=Logging(monitoring=monitoring),
        relations=relations,
        lineage=ctx.lineage.endpoint(d),
        details={"status": str(d.get("EndpointStatus", ""))},
    )


def training_job(rec: RawRecord, _ctx: Context) -> Asset:
    d = rec.data
    rc = d.get("ResourceConfig") or {}
    types = [str(rc["InstanceType"])] if rc.get("InstanceType") else []
    types += [str(g["InstanceType"]) for g in rc.get("InstanceGroups") or [] if g.get("InstanceType")]
    keys = [cmk(dig(d, "OutputDataConfig.KmsKeyId"), "OutputDataConfig.KmsKeyId")]
    nvme_only = bool(types) and all(_family(t) in NVME_FAMILIES for t in types)
    if not nvme_only:
        keys.append(cmk(rc.get("VolumeKmsKeyId"), "ResourceConfig.VolumeKmsKeyId"))
    relations: list[Relation] = []
    return Asset(
        **base(rec),
        network=Network(
            egress_isolated=fact(d.get("EnableNetworkIsolation") is True, "EnableNetworkIsolation",
                                 d.get("EnableNetworkIsolation"), "false"),
            private_network=fact(present(d.get("VpcConfig")), "VpcConfig", d.get("VpcConfig")),
        ),
        encryption=Encryption(
            customer_managed_key=tuple(keys),
            inter_node=fact(d.get("EnableInterContainerTrafficEncryption") is True,
                            "EnableInterContainerTrafficEncryption",
                            d.get("EnableInterContainerTrafficEncryption"), "false"),
        ),
        identities=role(d.get("RoleArn")),
        environment=_environment([("", d.get("Environment"))]),
        relations=tuple(relations),
        lineage=Lineage.training_job(d),
        provenance=Provenance(public_storage=public_storage(rec)),
        details={k: v for k, v in {"instance_types": ",".join(types),
                                   "status": str(d.get("TrainingJobStatus", ""))}.items() if v},
    )


def _network_config(d: Mapping[str, Any]) -> tuple[Network, Fact]:
    """The network and inter-container encryption facts of a ``NetworkConfig`` block (processing jobs,
    monitoring job definitions): absent settings are AWS's defaults, off."""
    net = d.get("NetworkConfig") or {}
    vpc = net.get("VpcConfig")
    network = Network(
        egress_isolated=fact(net.get("EnableNetworkIsolation") is True, "NetworkConfig.EnableNetworkIsolation",
                             net.get("EnableNetworkIsolation"), "false"),
        private_network=fact(present(vpc), "NetworkConfig.VpcConfig", vpc),
    )
    inter_node = fact(net.get("EnableInterContainerTrafficEncryption") is True,
                      "NetworkConfig.EnableInterContainerTrafficEncryption",
                      net.get("EnableInterContainerTrafficEncryption"), "false")
    return network, inter_node


def processing_job(rec: RawRecord, _ctx: Context) -> Asset:
    d = rec.data
    cluster = dig(d, "ProcessingResources.ClusterConfig") or {}
    network, inter_node = _network_config(d)
    return Asset(
        **base(rec),
        network=network,
        encryption=Encryption(
            customer_managed_key=(cmk(dig(d, "ProcessingOutputConfig.KmsKeyId"), "ProcessingOutputConfig.KmsKeyId"),),
            inter_node=inter_node,
        ),
        identities=role(d.get("RoleArn")),
        environment=_environment([("", d.get("Environment"))]),
        details={k: v for k, v in {"instance_types": str(cluster.get("InstanceType") or ""),
                                   "image": str(dig(d, "AppSpecification.ImageUri") or ""),
                                   "status": str(d.get("ProcessingJobStatus", ""))}.items() if v},
    )


def studio_domain(rec: RawRecord, _ctx: Context) -> Asset:
    d = rec.data
    return Asset(
        **base(rec),
        network=Network(
            direct_internet_access=not_equal_fact(d.get("AppNetworkAccessType"), "VpcOnly", "AppNetworkAccessType",
                                                  "PublicInternetOnly"),
        ),
        encryption=Encryption(customer_managed_key=(cmk(d.get("KmsKeyId"), "KmsKeyId"),)),
        identities=role(dig(d, "DefaultUserSettings.ExecutionRole")),
        details={k: str(d[k]) for k in ("DomainId", "AuthMode", "VpcId") if d.get(k)},
    )


def _domain_relation(arn: str, domain_id: Any) -> tuple[Relation, ...]:
    if not domain_id:
        return ()
    return (Relation(kind="studio_domain", uid=f"{_arn_base(arn)}:domain/{domain_id}", role="studio_domain"),)


def user_profile(rec: RawRecord, _ctx: Context) -> Asset:
    d = rec.data
    return Asset(
        **base(rec),
        relations=_domain_relation(str(d["UserProfileArn"]), d.get("DomainId")),
        details={k: str(d[k]) for k in ("DomainId", "Status") if d.get(k)},
    )


def space(rec: RawRecord, _ctx: Context) -> Asset:
    d = rec.data
    return Asset(
        **base(rec),
        relations=_domain_relation(str(d["SpaceArn"]), d.get("DomainId")),
        details={k: v for k, v in {"DomainId": str(d.get("DomainId") or ""), "Status": str(d.get("Status") or ""),
                                   "app_type": str(dig(d, "SpaceSettingsSummary.AppType") or ""),
                                   "sharing": str(dig(d, "SpaceSharingSettingsSummary.SharingType") or "")
                                   }.items() if v},
    )


def feature_group(rec: RawRecord, _ctx: Context) -> Asset:
    d = rec.data
    offline, online = d.get("OfflineStoreConfig") or {}, d.get("OnlineStoreConfig") or {}
    keys: list[Fact] = []
    if present(offline):
        keys.append(cmk(dig(offline, "S3StorageConfig.KmsKeyId"), "OfflineStoreConfig.S3StorageConfig.KmsKeyId"))
    # Only the Standard tier takes a KMS key; InMemory does not (absent StorageType = Standard).
    if online.get("EnableOnlineStore") is True and (online.get("StorageType") or "Standard") == "Standard":
        keys.append(cmk(dig(online, "SecurityConfig.KmsKeyId"), "OnlineStoreConfig.SecurityConfig.KmsKeyId"))
    stores = [s for s, on in (("offline", present(offline)), ("online", online.get("EnableOnlineStore") is True))
              if on]
    return Asset(
        **base(rec),
        encryption=Encryption(customer_managed_key=tuple(keys)),
        identities=role(d["RoleArn"]) if d.get("RoleArn") else None,   # no role: IAM-001 emits nothing
        details={k: v for k, v in {"stores": ",".join(stores), "status": str(d.get("FeatureGroupStatus") or ""),
                                   "online_storage": str(online.get("StorageType") or "")}.items() if v},
    )


def monitoring_job_definition(rec: RawRecord, _ctx: Context) -> Asset:
    d = rec.data
    # DataQualityJobOutputConfig, ModelQualityJobOutputConfig, ModelBiasJobOutputConfig, ...
    output = next((k for k in sorted(d) if k.endswith("JobOutputConfig")), "JobOutputConfig")
    job_input = next((v for k, v in sorted(d.items()) if k.endswith("JobInput") and isinstance(v, Mapping)), {})
    network, inter_node = _network_config(d)
    return Asset(
        **base(rec),
        network=network,
        encryption=Encryption(
            customer_managed_key=(cmk(dig(d, f"{output}.KmsKeyId"), f"{output}.KmsKeyId"),),
            inter_node=inter_node,
        ),
        identities=role(d.get("RoleArn")),
        details={k: v for k, v in {
            "job_definition_type": output.removesuffix("JobOutputConfig"),
            "endpoint": str(dig(job_input, "EndpointInput.EndpointName") or ""),
        }.items() if v},
    )


def policy_principals(document: Any) -> tuple[str, ...]:
    """Accounts (or '*') an Allow statement of a resource policy grants; service principals are not accounts."""
    doc = _policy_document(document)
    raw = doc.get("Statement", [])
    found: list[str] = []
    for st in [raw] if isinstance(raw, dict) else raw:
        if st.get("Effect") != "Allow":
            continue
        principal = st.get("Principal")
        if principal == "*" or "NotPrincipal" in st:   # Allow with NotPrincipal: everyone but the named
            values: tuple[str, ...] = ("*",)
        elif isinstance(principal, dict):
            values = _strings(principal.get("AWS"))
        else:
            values = ()
        for v in values:
            if v == "*":
                account = "*"
            elif v.startswith("arn:"):
                account = v.split(":")[4] if v.count(":") >= 5 else v
            else:
                account = v
            if account and account not in found:
                found.append(account)
    return tuple(found)


def model_package_group(rec: RawRecord, _ctx: Context) -> Asset:
    d = rec.data
    policy = d.get("ResourcePolicy")
    # A policy that could not be read is a scope error: no verdict without it.
    principals = None if d.get("PolicyError") else (policy_principals(policy) if policy else ())
    own = rec.account
    return Asset(
        **base(rec),
        access=Access(resource_policy_principals=None if principals is None else
                      tuple(p for p in principals if p != own)),
        details={k: str(d[k]) for k in ("ModelPackageGroupStatus",) if d.get(k)},
    )


class Context:
    """Facts that span records of one scope (e.g. which endpoints a monitoring schedule watches)."""

    def __init__(self, records: Sequence[RawRecord]) -> None:
        schedules = [r for r in records if r.type == "monitoring_schedule"]
        self.monitoring_known = any(r.type == MONITORING_LISTED for r in records)
        self.lineage = Lineage(records)
        self.monitored_endpoints: dict[str, list[str]] = {}
        for r in schedules:
            if r.data.get("MonitoringScheduleStatus") == "Scheduled" and r.data.get("EndpointName"):
                self.monitored_endpoints.setdefault(str(r.data["EndpointName"]), []).append(
                    str(r.data.get("MonitoringScheduleName", "")))


MAPPERS: dict[str, Callable[[RawRecord, Context], Asset]] = {
    "notebook": notebook,
    "model": model,
    "endpoint_config": endpoint_config,
    "endpoint": endpoint,
    "training_job": training_job,
    "processing_job": processing_job,
    "studio_domain": studio_domain,
    "user_profile": user_profile,
    "space": space,
    "model_package_group": model_package_group,
    "feature_group": feature_group,
    "monitoring_job_definition": monitoring_job_definition,
    **bedrock.MAPPERS,
}




def _policy_document(doc: Any) -> dict[str, Any]:
    if isinstance(doc, str):
        from urllib.parse import unquote

        doc = json.loads(unquote(doc))
    return doc if isinstance(doc, dict) else {}


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def statements(policy_name: str, document: Any) -> tuple[PolicyStatement, ...]:
    doc = _policy_document(document)
    raw = doc.get("Statement", [])
    out = []
    for st in [raw] if isinstance(raw, dict) else raw:
        out.append(PolicyStatement(
            policy=policy_name,
            effect="Allow" if st.get("Effect") == "Allow" else "Deny",
            actions=_strings(st.get("Action")),
            not_actions=_strings(st.get("NotAction")),
            resources=_strings(st.get("Resource")),
            not_resources=_strings(st.get("NotResource")),
            conditional=bool(st.get("Condition")),
        ))
    return tuple(out)


def map_identities(records: Sequence[RawRecord]) -> list[Identity]:
    out = []
    for r in records:
        d = r.data
        stmts: list[PolicyStatement] = []
        for p in d.get("Policies", []):
            stmts.extend(statements(str(p["PolicyName"]), p.get("Document")))
        out.append(Identity(uid=d["RoleArn"], provider="aws", kind="aws_role", account=r.account,
                            name=str(d.get("RoleName", "")), statements=tuple(stmts), error=d.get("Error")))
    return out

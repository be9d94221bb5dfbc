"""Google Vertex AI raw records -> AI assets.

Records hold Vertex AI v1 REST JSON (camelCase, proto3 defaults omitted), so an
absent boolean is false and an absent message is "not configured": the
documented behaviour, not "unknown" (rules-v1.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from aispm.collectors.base import RawRecord
from aispm.collectors.gcp.kinds import (
    CUSTOM_JOB,
    DATASET,
    ENDPOINT,
    FEATURE_ONLINE_STORE,
    INDEX_ENDPOINT,
    MODEL,
    MONITORING_JOB,
    NOTEBOOK_RUNTIME,
    NOTEBOOK_RUNTIME_TEMPLATE,
    PIPELINE_JOB,
    RAG_CORPUS,
    REASONING_ENGINE,
    ROWS,
    TUNING_JOB,
)
from aispm.normalizer import gcp_provenance as provenance
from aispm.normalizer.common import dig, fact, identity_fields, present
from aispm.normalizer.schema import (
    Asset,
    Encryption,
    EnvVar,
    Fact,
    Identity,
    Lifecycle,
    Logging,
    Network,
    Provenance,
    Relation,
    Resilience,
)
from aispm.normalizer.secrets import env_vars

_DEFAULT_COMPUTE_SA = re.compile(r"^\d+-compute@developer\.gserviceaccount\.com$", re.IGNORECASE)


def identity_uid(project: str, email: str) -> str:
    """Roles are granted per project, so the same account is one identity per project."""
    return f"{project}/{email}"


def _base(rec: RawRecord, *, display: str = "displayName", taggable: bool = True) -> dict[str, Any]:
    """uid, name, labels and creation time; the kind is the record's type, a row of the kind table.

    ``display`` names the field holding the human name (tuning jobs have none of their own); a kind whose
    API has no labels is not ``taggable`` (GOV-003 cannot ask for tags it could never carry).
    """
    d = rec.data
    name = str(d["name"])
    return identity_fields(rec, ROWS[rec.type].kind, name, str(d.get(display) or name.rsplit("/", 1)[-1]),
                           {str(k): str(v) for k, v in (d.get("labels") or {}).items()}, d.get("createTime"),
                           taggable=taggable)


def _cmk(d: Mapping[str, Any]) -> Encryption:
    key = dig(d, "encryptionSpec.kmsKeyName")
    return Encryption(customer_managed_key=(fact(present(key), "encryptionSpec.kmsKeyName", key),))


def _environment(envs: Iterable[tuple[str, Any]]) -> tuple[EnvVar, ...]:
    out: list[EnvVar] = []
    for container, env in envs:
        pairs = ((str(v["name"]), str(v.get("value", ""))) for v in env or [] if isinstance(v, Mapping))
        out.extend(env_vars(pairs, container=container))
    return tuple(out)


def _identities(rec: RawRecord) -> tuple[str, ...]:
    """The service accounts the workload runs as, where its kind's row says they are."""
    return tuple(dict.fromkeys(identity_uid(rec.account, e) for e in ROWS[rec.type].service_accounts(rec.data)))


def _private_endpoint(d: Mapping[str, Any]) -> Fact:
    """NET-001 for endpoints: private with PSC (new or deprecated field) or a peered VPC network."""
    psc = dig(d, "privateServiceConnectConfig.enablePrivateServiceConnect")
    if psc is True:
        return fact(False, "privateServiceConnectConfig.enablePrivateServiceConnect", psc)
    if d.get("enablePrivateServiceConnect") is True:
        return fact(False, "enablePrivateServiceConnect", True)
    if present(d.get("network")):
        return fact(False, "network", d["network"])
    return fact(True, "privateServiceConnectConfig.enablePrivateServiceConnect, network", None,
                "public endpoint")


def _redundancy(deployed: Sequence[Mapping[str, Any]]) -> Fact:
    """RES-001: every deployed model on dedicated or automatic resources keeps >= 2 replicas."""
    sized: list[tuple[str, int]] = []
    for i, m in enumerate(deployed):
        for block in ("dedicatedResources", "automaticResources"):
            if isinstance(m.get(block), Mapping):
                label = f"deployedModels[{m.get('id') or i}].{block}.minReplicaCount"
                sized.append((label, int(m[block].get("minReplicaCount") or 0)))
                break
    if not sized:
        observed = "no deployed models" if not deployed else "shared resources only"
        return fact(True, "deployedModels", observed)
    source, count = min(sized, key=lambda s: s[1])
    return fact(count >= 2, source, count)


def endpoint(rec: RawRecord, ctx: Context) -> Asset:
    d = rec.data
    deployed = [m for m in d.get("deployedModels") or [] if isinstance(m, Mapping)]
    logging_enabled = dig(d, "predictRequestResponseLoggingConfig.enabled")
    monitoring = None
    if ctx.monitoring_known(rec):
        jobs = ctx.monitors.get(str(d["name"]), [])
        monitoring = fact(bool(jobs), f"{MONITORING_JOB.collection}[].endpoint", ",".join(jobs) if jobs else "none")
    return Asset(
        **_base(rec),
        network=Network(public_endpoint=_private_endpoint(d)),
        encryption=_cmk(d),
        identities=_identities(rec),
        logging=Logging(
            request_capture=fact(logging_enabled is True, "predictRequestResponseLoggingConfig.enabled",
                                 logging_enabled, "false"),
            monitoring=monitoring,
        ),
        resilience=Resilience(redundant=_redundancy(deployed)),
        relations=tuple(
            Relation(kind=MODEL.kind, uid=str(m["model"]), role=MODEL.kind) for m in deployed if m.get("model")
        ),
        lineage=provenance.Lineage.endpoint(d),
        details={"deployed_models": str(len(deployed))},
    )


def model(rec: RawRecord, ctx: Context) -> Asset:
    d = rec.data
    spec = d.get("containerSpec")
    image = dig(d, "containerSpec.imageUri")
    return Asset(
        **_base(rec),
        encryption=_cmk(d),
        # The spec skips SEC-001 when the API returns no containerSpec (AutoML, BigQuery ML models).
        environment=_environment([("containerSpec", spec.get("env"))]) if isinstance(spec, Mapping) else None,
        lineage=ctx.lineage.model(d),
        provenance=Provenance(private_image=provenance.private_image(d), public_storage=provenance.public_storage(rec)),
        details={k: str(v) for k, v in {"image": image, "version": d.get("versionId")}.items() if v},
    )


def _private_network(spec: Mapping[str, Any], prefix: str = "") -> Fact:
    """NET-005 for jobs: a peered VPC ``network`` or a non-empty ``pscInterfaceConfig.networkAttachment``."""
    attachment = dig(spec, "pscInterfaceConfig.networkAttachment")
    if present(spec.get("network")):
        return fact(True, f"{prefix}network", spec["network"])
    if present(attachment):
        return fact(True, f"{prefix}pscInterfaceConfig.networkAttachment", attachment)
    return fact(False, f"{prefix}network, {prefix}pscInterfaceConfig.networkAttachment", None)


def _details(values: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if v}


def custom_job(rec: RawRecord, _ctx: Context) -> Asset:
    d = rec.data
    spec = d.get("jobSpec") or {}
    private = _private_network(spec, "jobSpec.")
    web, dashboard = spec.get("enableWebAccess") is True, spec.get("enableDashboardAccess") is True
    if web or dashboard:
        remote = fact(True, "jobSpec.enableWebAccess" if web else "jobSpec.enableDashboardAccess", True)
    else:
        remote = fact(False, "jobSpec.enableWebAccess, jobSpec.enableDashboardAccess", None, "false")
    pools = [p for p in spec.get("workerPoolSpecs") or [] if isinstance(p, Mapping)]
    envs = [
        (f"workerPoolSpecs[{i}].{part}", dig(pool, f"{part}.env"))
        for i, pool in enumerate(pools)
        for part in ("containerSpec", "pythonPackageSpec")
        if isinstance(pool.get(part), Mapping)
    ]
    machines = [str(dig(p, "machineSpec.machineType")) for p in pools if dig(p, "machineSpec.machineType")]
    return Asset(
        **_base(rec),
        network=Network(private_network=private, public_remote_access=remote),
        encryption=_cmk(d),
        identities=_identities(rec),
        environment=_environment(envs),
        lineage=provenance.Lineage.custom_job(d),
        provenance=Provenance(public_storage=provenance.public_storage(rec)),
        details={k: v for k, v in {"state": str(d.get("state") or ""), "machine_types": ",".join(machines)}.items()
                 if v},
    )


def dataset(rec: RawRecord, _ctx: Context) -> Asset:
    return Asset(**_base(rec), encryption=_cmk(rec.data), lineage=provenance.Lineage.dataset(rec.data),
                 provenance=Provenance(public_storage=provenance.public_storage(rec)))


def index_endpoint(rec: RawRecord, _ctx: Context) -> Asset:
    public = rec.data.get("publicEndpointEnabled")
    return Asset(
        **_base(rec),
        network=Network(public_endpoint=fact(public is True, "publicEndpointEnabled", public, "false")),
    )


def notebook_runtime_template(rec: RawRecord, _ctx: Context) -> Asset:
    d = rec.data
    internet = dig(d, "networkSpec.enableInternetAccess")
    idle = d.get("idleShutdownConfig")
    if not isinstance(idle, Mapping):
        idle_fact = fact(False, "idleShutdownConfig", None)
    else:
        disabled = idle.get("idleShutdownDisabled")
        idle_fact = fact(disabled is not True, "idleShutdownConfig.idleShutdownDisabled", disabled, "false")
    return Asset(
        **_base(rec),
        network=Network(direct_internet_access=fact(internet is True, "networkSpec.enableInternetAccess",
                                                    internet, "false")),
        encryption=_cmk(d),
        lifecycle=Lifecycle(idle_shutdown=idle_fact),
        details={k: str(v) for k, v in {"machine_type": dig(d, "machineSpec.machineType")}.items() if v},
    )


def notebook_runtime(rec: RawRecord, _ctx: Context) -> Asset:
    d = rec.data
    template = dig(d, "notebookRuntimeTemplateRef.notebookRuntimeTemplate")
    return Asset(
        **_base(rec),
        relations=(Relation(kind=NOTEBOOK_RUNTIME_TEMPLATE.kind, uid=str(template), role="template"),) if template
        else (),
        details={k: str(v) for k, v in {"state": d.get("runtimeState"), "user": d.get("runtimeUser")}.items() if v},
    )


def reasoning_engine(rec: RawRecord, _ctx: Context) -> Asset:
    """Agent Engine: ``deploymentSpec.env`` is tested for secrets; ``secretEnv`` entries name Secret Manager
    secrets (references), so they are kept by name and reference and never judged secrets."""
    d = rec.data
    deployment = dig(d, "spec.deploymentSpec")
    deployment = deployment if isinstance(deployment, Mapping) else {}
    references = tuple(
        EnvVar(name=str(v["name"]), value=_secret_ref(v.get("secretRef")), container="spec.deploymentSpec.secretEnv")
        for v in deployment.get("secretEnv") or [] if isinstance(v, Mapping)
    )
    return Asset(
        **_base(rec),
        encryption=_cmk(d),
        identities=_identities(rec),
        environment=_environment([("spec.deploymentSpec.env", deployment.get("env"))]) + references,
        details=_details({"agent_framework": dig(d, "spec.agentFramework"),
                          "identity_type": dig(d, "spec.identityType")}),
    )


def _secret_ref(ref: Any) -> str:
    """A Secret Manager reference as shown: ``<secret>@<version>`` (the version defaults to latest)."""
    if not isinstance(ref, Mapping) or not ref.get("secret"):
        return ""
    return f"{ref['secret']}@{ref.get('version') or 'latest'}"


def tuning_job(rec: RawRecord, _ctx: Context) -> Asset:
    d = rec.data
    tuned: Mapping[str, Any] = d["tunedModel"] if isinstance(d.get("tunedModel"), Mapping) else {}
    relations = [Relation(kind=MODEL.kind, uid=str(tuned["model"]), role="tuned_model")] if tuned.get("model") \
        else []
    if tuned.get("endpoint"):
        relations.append(Relation(kind=ENDPOINT.kind, uid=str(tuned["endpoint"]), role="endpoint"))
    return Asset(
        **_base(rec, display="tunedModelDisplayName"),
        encryption=_cmk(d),
        identities=_identities(rec),
        relations=tuple(relations),
        details=_details({"base_model": d.get("baseModel"), "state": d.get("state")}),
    )


def rag_corpus(rec: RawRecord, _ctx: Context) -> Asset:
    d = rec.data
    vector_db = d.get("vectorDbConfig")
    stores = [k for k in vector_db if k not in ("ragEmbeddingModelConfig", "apiAuth")] \
        if isinstance(vector_db, Mapping) else []
    return Asset(
        **_base(rec, taggable=False),   # RAG corpora carry no labels
        encryption=_cmk(d),
        details=_details({"vector_db": ",".join(stores), "state": dig(d, "corpusStatus.state"),
                          "vertex_ai_search": dig(d, "vertexAiSearchConfig.servingConfig")}),
    )


def feature_online_store(rec: RawRecord, _ctx: Context) -> Asset:
    d = rec.data
    storage = "bigtable" if "bigtable" in d else "optimized" if "optimized" in d else ""
    return Asset(**_base(rec), encryption=_cmk(d), details=_details({"storage": storage, "state": d.get("state")}))


def pipeline_job(rec: RawRecord, _ctx: Context) -> Asset:
    d = rec.data
    return Asset(
        **_base(rec),
        network=Network(private_network=_private_network(d)),
        encryption=_cmk(d),
        identities=_identities(rec),
        details=_details({"state": d.get("state"), "template": d.get("templateUri")}),
    )


class Context:
    """Facts that span records of one scope: which endpoints a monitoring job watches, the custom jobs whose
    output holds a model's artifacts."""

    def __init__(self, records: Sequence[RawRecord]) -> None:
        self.lineage = provenance.Lineage(records)
        self._listed = {(r.account, r.region) for r in records if r.type == MONITORING_JOB.listed}
        self.monitors: dict[str, list[str]] = {}
        for r in records:
            if r.type == MONITORING_JOB.kind and r.data.get("endpoint"):
                self.monitors.setdefault(str(r.data["endpoint"]), []).append(
                    str(r.data.get("displayName") or r.data.get("name", "")))

    def monitoring_known(self, rec: RawRecord) -> bool:
        return (rec.account, rec.region) in self._listed


MAPPERS: dict[str, Callable[[RawRecord, Context], Asset]] = {
    ENDPOINT.kind: endpoint,
    MODEL.kind: model,
    CUSTOM_JOB.kind: custom_job,
    DATASET.kind: dataset,
    INDEX_ENDPOINT.kind: index_endpoint,
    NOTEBOOK_RUNTIME_TEMPLATE.kind: notebook_runtime_template,
    NOTEBOOK_RUNTIME.kind: notebook_runtime,
    REASONING_ENGINE.kind: reasoning_engine,
    TUNING_JOB.kind: tuning_job,
    RAG_CORPUS.kind: rag_corpus,
    FEATURE_ONLINE_STORE.kind: feature_online_store,
    PIPELINE_JOB.kind: pipeline_job,
}



def map_identities(records: Sequence[RawRecord]) -> list[Identity]:
    """Service accounts with the roles the project policy grants them without a condition."""
    out: list[Identity] = []
    for r in records:
        d = r.data
        email = str(d["email"])
        roles = tuple(dict.fromkeys(
            str(b["role"]) for b in d.get("bindings") or [] if not present(b.get("condition"))
        ))
        out.append(Identity(
            uid=identity_uid(r.account, email),
            provider="gcp",
            kind="gcp_service_account",
            account=r.account,
            name=email,
            project_roles=roles,
            default_compute_account=bool(_DEFAULT_COMPUTE_SA.match(email)),
            error=d.get("error"),
        ))
    return out

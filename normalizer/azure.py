"""Azure Machine Learning raw records (ARM JSON, api-version 2025-12-01) -> AI assets; the Azure AI Services
kinds are mapped in ``normalizer.azureai``.

Absent fields mean Azure's documented default (rules-v1.md), not "unknown".
Enum values are compared case-insensitively, as Resource Manager does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aispm.collectors.azure.kinds import (
    BATCH_ENDPOINT,
    COMPUTE,
    DATASTORE,
    DEPLOYMENT,
    ENDPOINT,
    REGISTRY,
    WORKSPACE,
)
from aispm.collectors.base import RawRecord
from aispm.normalizer import azure_provenance as provenance
from aispm.normalizer import azureai
from aispm.normalizer.azure_base import base as _base
from aispm.normalizer.azure_base import details as _details
from aispm.normalizer.azure_base import fold as _fold
from aispm.normalizer.azure_base import identities as _identities
from aispm.normalizer.azure_base import obj as _obj
from aispm.normalizer.azure_base import parent as _parent
from aispm.normalizer.common import dig, fact, not_equal_fact, present
from aispm.normalizer.schema import (
    Access,
    Asset,
    Encryption,
    Fact,
    Identity,
    Lifecycle,
    Logging,
    Network,
    Provenance,
    Relation,
    Resilience,
    RoleAssignment,
)
from aispm.normalizer.secrets import env_vars

KEY_CREDENTIALS = frozenset({"accountkey", "sas", "serviceprincipal", "certificate"})
ISOLATED_MODES = frozenset({"allowinternetoutbound", "allowonlyapprovedoutbound"})


class Context:
    """Cross-record facts of one subscription: workspaces by lower-cased id, the deployments of each endpoint."""

    def __init__(self, records: Sequence[RawRecord]) -> None:
        self.lineage = provenance.Lineage(records)
        self.workspaces: dict[str, Mapping[str, Any]] = {
            str(r.data["id"]).lower(): r.data for r in records if r.type == WORKSPACE.kind
        }

    def workspace(self, child_uid: str, levels: int = 1) -> Mapping[str, Any] | None:
        return self.workspaces.get(_parent(child_uid, levels).lower())

    def relation(self, child_uid: str, levels: int = 1) -> Relation:
        ws = self.workspace(child_uid, levels)
        uid = str(ws["id"]) if ws else _parent(child_uid, levels)
        return Relation(kind=WORKSPACE.kind, uid=uid, role=WORKSPACE.kind)


def _disabled(raw: Any, source: str, default: str = "Enabled") -> Fact:
    """True (exposed) unless ``raw`` is 'Disabled'; absent means ``default``."""
    return not_equal_fact(raw, "Disabled", source, default, casefold=True)



def workspace(rec: RawRecord, _ctx: Context) -> Asset:
    d = rec.data
    p = _obj(d.get("properties"), "properties")
    mode = dig(p, "managedNetwork.isolationMode")
    status = dig(p, "encryption.status")
    hub = p.get("hubResourceId")
    return Asset(
        **_base(rec),
        network=Network(
            public_network_access=_disabled(p.get("publicNetworkAccess"), "properties.publicNetworkAccess"),
            egress_isolated=fact(_fold(mode) == "allowonlyapprovedoutbound",
                                 "properties.managedNetwork.isolationMode", mode, "Disabled"),
        ),
        encryption=Encryption(customer_managed_key=(
            fact(_fold(status) == "enabled", "properties.encryption.status", status),)),
        identities=_identities(rec),
        relations=(Relation(kind=WORKSPACE.kind, uid=str(hub), role="hub"),) if hub else (),
        details=_details(workspace_kind=d.get("kind"), isolation_mode=mode, sku=dig(d, "sku.name")),
    )


def registry(rec: RawRecord, _ctx: Context) -> Asset:
    p = _obj(rec.data.get("properties"), "properties")
    return Asset(
        **_base(rec),
        network=Network(
            public_network_access=_disabled(p.get("publicNetworkAccess"), "properties.publicNetworkAccess"),
        ),
        details=_details(regions=",".join(str(r.get("location")) for r in p.get("regionDetails") or []
                                          if isinstance(r, Mapping) and r.get("location"))),
    )


def compute(rec: RawRecord, ctx: Context) -> Asset:
    d = rec.data
    uid = str(d["id"])
    p = _obj(d.get("properties"), "properties")
    inner = _obj(p.get("properties"), "properties.properties")
    ctype = _fold(p.get("computeType"))
    instance, cluster = ctype == "computeinstance", ctype == "amlcompute"
    subnet = dig(inner, "subnet.id")
    ws = ctx.workspace(uid)
    mode = dig(ws, "properties.managedNetwork.isolationMode") if ws else None

    private: Fact | None = None
    remote: Fact | None = None
    public_ip: Fact | None = None
    outdated: Fact | None = None
    idle: Fact | None = None
    if instance or cluster:
        if present(subnet):
            private = fact(True, "properties.properties.subnet.id", subnet)
        else:
            private = fact(_fold(mode) in ISOLATED_MODES, "no properties.properties.subnet.id, and the "
                           "workspace's properties.managedNetwork.isolationMode", mode, "Disabled")
    if instance:
        ssh = dig(inner, "sshSettings.sshPublicAccess")
        remote = fact(_fold(ssh) == "enabled", "properties.properties.sshSettings.sshPublicAccess", ssh, "Disabled")
        node_ip = inner.get("enableNodePublicIp")
        public_ip = fact(node_ip is not False and _fold(node_ip) != "false",
                         "properties.properties.enableNodePublicIp", node_ip, "true")
        latest = dig(inner, "osImageMetadata.isLatestOsImageVersion")
        if latest is not None:
            outdated = fact(latest is False or _fold(latest) == "false",
                            "properties.properties.osImageMetadata.isLatestOsImageVersion", latest)
        shutdown = inner.get("idleTimeBeforeShutdown")
        idle = fact(present(shutdown), "properties.properties.idleTimeBeforeShutdown", shutdown)
    elif cluster:
        port = inner.get("remoteLoginPortPublicAccess")
        # NotSpecified (or absent) leaves the SSH port open when the cluster has no subnet.
        unspecified = _fold(port) in ("", "notspecified")
        source = "properties.properties.remoteLoginPortPublicAccess"
        remote = fact(_fold(port) == "enabled" or (unspecified and not present(subnet)),
                      f"{source} (no properties.properties.subnet)" if unspecified and not present(subnet)
                      else source, port, "NotSpecified")
    local = p.get("disableLocalAuth")
    return Asset(
        **_base(rec),
        network=Network(direct_internet_access=public_ip, private_network=private, public_remote_access=remote),
        access=Access(local_auth=fact(local is not True, "properties.disableLocalAuth", local, "false")),
        identities=_identities(rec),
        lifecycle=Lifecycle(outdated_image=outdated, idle_shutdown=idle),
        relations=(ctx.relation(uid),),
        details=_details(compute_type=p.get("computeType"), vm_size=inner.get("vmSize"), state=inner.get("state")),
    )


def endpoint(rec: RawRecord, ctx: Context) -> Asset:
    d = rec.data
    p = _obj(d.get("properties"), "properties")
    auth = p.get("authMode")
    return Asset(
        **_base(rec),
        network=Network(public_endpoint=_disabled(p.get("publicNetworkAccess"), "properties.publicNetworkAccess")),
        access=Access(local_auth=fact(_fold(auth) == "key", "properties.authMode", auth)),
        identities=_identities(rec),
        relations=(ctx.relation(str(d["id"])),),
        lineage=ctx.lineage.endpoint(d),
        details=_details(auth_mode=auth, endpoint_kind=d.get("kind")),
    )


def deployment(rec: RawRecord, ctx: Context) -> Asset:
    d = rec.data
    uid = str(d["id"])
    p = _obj(d.get("properties"), "properties")
    managed = _fold(p.get("endpointComputeType")) == "managed"
    egress = p.get("egressPublicNetworkAccess")
    insights = p.get("appInsightsEnabled")
    capacity = dig(d, "sku.capacity")
    count = int(capacity) if capacity is not None else 1
    env = p.get("environmentVariables")
    environment = env_vars((str(k), "" if v is None else str(v)) for k, v in env.items()) if isinstance(
        env, Mapping) else ()
    return Asset(
        **_base(rec),
        network=Network(egress_isolated=fact(_fold(egress) == "disabled", "properties.egressPublicNetworkAccess",
                                             egress, "Enabled") if managed else None),
        environment=environment,
        logging=Logging(request_capture=fact(insights is True, "properties.appInsightsEnabled", insights, "false")
                        if managed else None),
        resilience=Resilience(redundant=fact(count >= 2, "sku.capacity", capacity, "1") if managed else None),
        relations=(Relation(kind=ENDPOINT.kind, uid=_parent(uid), role=ENDPOINT.kind), ctx.relation(uid, 2)),
        lineage=provenance.Lineage.deployment(d),
        provenance=Provenance(registered=provenance.registered(d) if managed else None),
        details=_details(compute_type=p.get("endpointComputeType"), instance_type=p.get("instanceType"),
                         model=p.get("model"), environment=p.get("environmentId")),
    )


def batch_endpoint(rec: RawRecord, ctx: Context) -> Asset:
    p = _obj(rec.data.get("properties"), "properties")
    return Asset(
        **_base(rec),
        relations=(ctx.relation(str(rec.data["id"])),),
        details=_details(auth_mode=p.get("authMode"), default_deployment=dig(p, "defaults.deploymentName")),
    )


def datastore(rec: RawRecord, ctx: Context) -> Asset:
    p = _obj(rec.data.get("properties"), "properties")
    kind = dig(p, "credentials.credentialsType")
    return Asset(
        **_base(rec, taggable=False),   # no ARM tags: properties.tags are asset metadata
        access=Access(local_auth=fact(_fold(kind) in KEY_CREDENTIALS, "properties.credentials.credentialsType",
                                      kind, "None")),
        relations=(ctx.relation(str(rec.data["id"])),),
        lineage=provenance.Lineage.datastore(rec.data),
        provenance=Provenance(public_storage=provenance.public_storage(rec.data)),
        details=_details(datastore_type=p.get("datastoreType"), credentials_type=kind,
                         account=p.get("accountName")),
    )


MAPPERS: dict[str, Callable[[RawRecord, Context], Asset]] = {
    WORKSPACE.kind: workspace,
    REGISTRY.kind: registry,
    COMPUTE.kind: compute,
    ENDPOINT.kind: endpoint,
    DEPLOYMENT.kind: deployment,
    BATCH_ENDPOINT.kind: batch_endpoint,
    DATASTORE.kind: datastore,
    **azureai.MAPPERS,
}




def map_identities(records: Sequence[RawRecord]) -> list[Identity]:
    out = []
    for r in records:
        d = r.data
        assignments = tuple(
            RoleAssignment(role_definition_id=str(a["roleDefinitionId"]), scope=str(a["scope"]))
            for a in d.get("roleAssignments") or []
            if a.get("roleDefinitionId") and a.get("scope")
        )
        out.append(Identity(uid=str(d["principalId"]), provider="azure", kind="azure_principal", account=r.account,
                            name=str(d.get("name") or ""), role_assignments=assignments, error=d.get("error")))
    return out

"""``aibom.cdx.json`` (inventory-v1.md): the AI inventory as a CycloneDX 1.6 JSON ML-BOM.

Models are ``machine-learning-model`` components with a model card, data (assets and the storage locations
lineage names) ``data`` components, container images ``container`` components, every other asset kind a
``platform`` component; endpoints, agents and reasoning engines are ``services``; ``dependencies`` follow
lineage (endpoint -> model -> data / image).

Written here, not through cyclonedx-python-lib's model and outputter, for two measured reasons: that library
(11.x) has no model card and no component ``data`` (both are "TODO since CDX1.5" in its source), and its
outputter checks the dependency graph with a linear scan per component (``Bom.validate`` ->
``register_dependency``), so 10,000 components took minutes. The document is streamed one entry at a time;
the tests validate it with that library's strict CycloneDX 1.6 JSON schema validator.

No property carries an environment value, a tag value or any other free-form setting: only the asset's
coordinates, its failing-finding count and the ids of the rules it fails.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from aispm.normalizer.schema import Asset
from aispm.sinks.formats.inventory import Inventory

SPEC_VERSION = "1.6"
SCHEMA_URL = "http://cyclonedx.org/schema/bom-1.6.schema.json"
_SERIAL_NAMESPACE = uuid.UUID("0b7c1f0e-6a53-4d1e-9a6b-2f8c5d7e1a90")

MODEL_KINDS = frozenset({"model", "custom_model"})
DATA_KINDS = frozenset({"dataset", "datastore", "knowledge_base", "rag_corpus", "feature_group"})
SERVICE_KINDS = frozenset({"endpoint", "batch_endpoint", "index_endpoint", "agent", "reasoning_engine"})
OTHER_TYPE = "platform"   # every other asset kind (README: AI-BOM)
# What a lineage edge points at when the target is not an asset of this inventory.
_TARGET_TYPE = {"serves": "machine-learning-model", "based_on": "machine-learning-model", "image": "container",
                "trained_on": "data", "artifacts_in": "data"}


def is_location(ref: str) -> bool:
    """A storage location URI (s3://, gs://, https://...) rather than a cloud resource id."""
    return "://" in ref


@dataclass
class _Entry:
    """One component or service of the BOM, with the refs it depends on."""

    ref: str
    body: dict[str, Any]
    service: bool = False
    depends_on: set[str] = field(default_factory=set)


def _properties(asset: Asset, inventory: Inventory) -> list[dict[str, str]]:
    tally = inventory.tally(asset.uid)
    pairs = [("provider", asset.provider), ("service", asset.service), ("kind", asset.kind),
             ("account", asset.account), ("region", asset.region), ("fail", str(tally.failing)),
             ("rules_failed", ",".join(sorted(tally.rules_failed)))]
    return [{"name": f"aispm:{k}", "value": v} for k, v in pairs]


def _version(asset: Asset) -> str | None:
    for key in ("version", "model_version"):
        if asset.details.get(key):
            return str(asset.details[key])
    return None


def _foundation_model(asset: Asset) -> tuple[str, dict[str, Any]] | None:
    """The foundation model a model deployment serves: (its ref, its component), one per name and version."""
    name = asset.details.get("model_name")
    if not name:
        return None
    version = asset.details.get("model_version") or ""
    based_on = next((e.uid for e in asset.lineage if e.rel == "based_on"), None)
    fmt = asset.details.get("model_format") or asset.provider
    ref = based_on or f"urn:aispm:foundation-model:{fmt}/{name}" + (f"@{version}" if version else "")
    body: dict[str, Any] = {"type": "machine-learning-model", "bom-ref": ref, "name": str(name)}
    if version:
        body["version"] = str(version)
    body["properties"] = [{"name": "aispm:provider", "value": asset.provider},
                          {"name": "aispm:service", "value": asset.service},
                          {"name": "aispm:format", "value": str(fmt)}]
    return ref, body


def _service(asset: Asset, inventory: Inventory) -> dict[str, Any]:
    net = asset.network
    public = any(f is not None and f.value for f in (net.public_endpoint, net.public_network_access))
    # Every cloud's inference and agent APIs take signed requests or tokens; only an explicit "none" is open.
    auth = str(asset.details.get("auth_mode") or asset.details.get("AuthMode") or "").lower()
    body: dict[str, Any] = {"bom-ref": asset.uid, "name": asset.name}
    version = _version(asset)
    if version:
        body["version"] = version
    body["authenticated"] = auth not in ("none", "anonymous")
    body["x-trust-boundary"] = public
    urls = [str(asset.details[k]) for k in ("endpoint", "scoring_uri", "url")
            if str(asset.details.get(k) or "").startswith("https://")]
    if urls:
        body["endpoints"] = urls
    body["properties"] = _properties(asset, inventory)
    return body


def _component(asset: Asset, inventory: Inventory, kind_type: str) -> dict[str, Any]:
    body: dict[str, Any] = {"type": kind_type, "bom-ref": asset.uid, "name": asset.name}
    version = _version(asset)
    if version:
        body["version"] = version
    body["properties"] = _properties(asset, inventory)
    if kind_type == "data":
        body["data"] = [{"type": "dataset", "name": asset.name}]
    return body


def _lineage_only(ref: str, rel: str) -> dict[str, Any]:
    """A component for a lineage target that is not in the inventory (a location, an image, a base model)."""
    if is_location(ref) and rel != "image":
        kind_type = "data"
    elif "foundation-model/" in ref or "/publishers/" in ref:   # Bedrock and Vertex base models
        kind_type = "machine-learning-model"
    else:
        kind_type = _TARGET_TYPE.get(rel, OTHER_TYPE)
    body: dict[str, Any] = {"type": kind_type, "bom-ref": ref, "name": ref}
    if kind_type == "data":
        body["data"] = [{"type": "dataset", "name": ref}]
    body["properties"] = [{"name": "aispm:lineage_only", "value": "true"}]
    return body


def _model_card(asset: Asset, training_data: list[str]) -> dict[str, Any] | None:
    params: dict[str, Any] = {}
    task = asset.details.get("task")
    if task:
        params["task"] = str(task)
    family = asset.details.get("architecture") or asset.details.get("architecture_family")
    if family:
        params["architectureFamily"] = str(family)
    if asset.details.get("model_architecture"):
        params["modelArchitecture"] = str(asset.details["model_architecture"])
    if training_data:
        params["datasets"] = [{"ref": ref} for ref in training_data]
    return {"modelParameters": params} if params else None


def bom_entries(inventory: Inventory) -> list[_Entry]:
    """Every component and service, in the inventory order, then the lineage-only targets."""
    entries: dict[str, _Entry] = {}
    assets = {a.uid: a for a in inventory.assets}
    for asset in inventory.assets:
        if asset.uid in entries:
            continue
        if asset.kind in SERVICE_KINDS:
            entries[asset.uid] = _Entry(asset.uid, _service(asset, inventory), service=True)
            continue
        kind_type = ("machine-learning-model" if asset.kind in MODEL_KINDS else
                     "data" if asset.kind in DATA_KINDS else OTHER_TYPE)
        entries[asset.uid] = _Entry(asset.uid, _component(asset, inventory, kind_type))
    extra: dict[str, _Entry] = {}
    for asset in inventory.assets:
        entry = entries[asset.uid]
        for edge in asset.lineage:
            if edge.uid == asset.uid:
                continue
            entry.depends_on.add(edge.uid)
            if edge.uid not in entries and edge.uid not in extra:
                extra[edge.uid] = _Entry(edge.uid, _lineage_only(edge.uid, edge.rel))
        if asset.kind == "model_deployment":
            found = _foundation_model(asset)
            if found is not None:
                ref, body = found
                entry.depends_on.add(ref)
                if ref not in entries and ref not in extra:
                    extra[ref] = _Entry(ref, body)
    entries.update(extra)
    # Model cards: the data each model was trained on, directly or through the job that trained it.
    for entry in entries.values():
        model = assets.get(entry.ref)
        if model is None or model.kind not in MODEL_KINDS:
            continue
        data = [e.uid for e in model.lineage if e.rel == "trained_on"]
        for job in (e.uid for e in model.lineage if e.rel == "trained_by"):
            if job in assets:
                data += [e.uid for e in assets[job].lineage if e.rel == "trained_on"]
        card = _model_card(model, sorted({d for d in data if d in entries and
                                          entries[d].body.get("type") == "data"}))
        if card is not None:
            entry.body["modelCard"] = card
    return list(entries.values())


def serial_number(scan_id: str) -> str:
    """``urn:uuid:`` new for each scan, and the same when one scan's BOM is exported again."""
    value = uuid.uuid5(_SERIAL_NAMESPACE, scan_id) if scan_id else uuid.uuid4()
    return f"urn:uuid:{value}"


def _array(key: str, items: Iterable[dict[str, Any]], last: bool = False) -> Iterator[bytes]:
    """One entry a line, as compact JSON: orjson writes the bytes ``json.dumps(item, ensure_ascii=False,
    separators=(",", ":"))`` encodes to (the same escapes for every character), three times faster."""
    yield f' "{key}": ['.encode()
    sep = b"\n  "
    for item in items:
        yield sep + orjson.dumps(item)
        sep = b",\n  "
    yield b"\n ]" + (b"\n" if last else b",\n")


def bom_bytes(inventory: Inventory) -> Iterator[bytes]:
    """The JSON document (UTF-8), one component, service or dependency per line."""
    entries = bom_entries(inventory)
    metadata: dict[str, Any] = {
        "timestamp": inventory.timestamp.isoformat(),
        "tools": {"components": [{"type": "application", "name": "aispm",
                                  "version": inventory.product_version or "unknown"}]},
    }
    if inventory.scan_id:
        metadata["properties"] = [{"name": "aispm:scan_id", "value": inventory.scan_id}]
    head = {"$schema": SCHEMA_URL, "bomFormat": "CycloneDX", "specVersion": SPEC_VERSION,
            "serialNumber": serial_number(inventory.scan_id), "version": 1, "metadata": metadata}
    opening = json.dumps(head, ensure_ascii=False, indent=1)
    yield (opening[:-2] + ",\n").encode()   # keep the object open for the arrays
    yield from _array("components", (e.body for e in entries if not e.service))
    yield from _array("services", (e.body for e in entries if e.service))
    known = {e.ref for e in entries}
    yield from _array("dependencies", ({"ref": e.ref, "dependsOn": sorted(d for d in e.depends_on if d in known)}
                                       for e in entries), last=True)
    yield b"}\n"


def bom_chunks(inventory: Inventory) -> Iterator[str]:
    """The document as text."""
    for chunk in bom_bytes(inventory):
        yield chunk.decode()

"""The storage account behind an Azure Machine Learning datastore, and where its data lives (AISPM-PRV-003).

A blob or Data Lake Gen2 datastore names its storage account (``properties.accountName``), in
``properties.subscriptionId`` / ``resourceGroup`` when given, else in its workspace's (rules-v2.md). The
collector reads each such account once per scan (``collectors.azure.attached``); the mapper turns the verdict
into the PRV-003 fact and the datastore's lineage edge to its location
(``https://<account>.blob.<suffix>/<container>``, inventory-v1.md §Lineage).

Pure (no SDK import): the normalizer reads it without the Azure SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

STORAGE_API = "2024-01-01"   # Microsoft.Storage/storageAccounts GET (properties.allowBlobPublicAccess)
# Datastore types whose data sits in a storage account's blob service (compared case-insensitively).
BLOB_DATASTORES = frozenset({"azureblob", "azuredatalakegen2"})
DEFAULT_SUFFIX = "core.windows.net"


def _props(datastore: Mapping[str, Any]) -> Mapping[str, Any]:
    props = datastore.get("properties")
    return props if isinstance(props, Mapping) else {}


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def storage_account_id(datastore: Mapping[str, Any]) -> str | None:
    """The ARM id of the storage account a blob or Data Lake Gen2 datastore uses; None for other datastores
    (file shares, Data Lake Gen1, OneLake) or one that names no account."""
    props = _props(datastore)
    account = _text(props.get("accountName"))
    if str(props.get("datastoreType") or "").casefold() not in BLOB_DATASTORES or not account:
        return None
    segments = str(datastore.get("id") or "").strip("/").split("/")
    if len(segments) < 4:
        return None
    subscription = _text(props.get("subscriptionId")) or segments[1]
    group = _text(props.get("resourceGroup")) or segments[3]
    return f"/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Storage/storageAccounts/{account}"


def location(datastore: Mapping[str, Any]) -> str | None:
    """The datastore's storage location as a blob URI (a Data Lake Gen2 filesystem is a blob container)."""
    props = _props(datastore)
    if storage_account_id(datastore) is None:
        return None
    suffix = _text(props.get("endpoint")) or DEFAULT_SUFFIX
    container = _text(props.get("containerName")) or _text(props.get("filesystem"))
    base = f"https://{_text(props.get('accountName'))}.blob.{suffix}"
    return f"{base}/{container}" if container else base


def account_name(account_id: str) -> str:
    return account_id.rstrip("/").rsplit("/", 1)[-1]

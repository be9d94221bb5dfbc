"""OCSF findings as Parquet in the Amazon Security Lake custom-source layout (the ``parquet`` extra).

``ext/<source>/region=<region>/accountId=<account>/eventDay=YYYYMMDD/<class>-<scan-id>.parquet``:
one object per partition and OCSF class, as Security Lake requires. Free-form maps
(``resources[].data``) are stored as JSON strings, so every object shares one schema shape.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from aispm.sinks.errors import SinkConfigError


def require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise SinkConfigError("AISPM_S3_SECURITY_LAKE needs pyarrow: pip install 'aispm[parquet]'") from None


def _flatten_free_form(finding: dict[str, Any]) -> dict[str, Any]:
    out = dict(finding)
    out["resources"] = [
        {**r, "data": json.dumps(r["data"], sort_keys=True, default=str)} if "data" in r else r
        for r in finding.get("resources") or []
    ]
    return out


def partition_key(finding: dict[str, Any], source: str) -> str:
    cloud = finding.get("cloud") or {}
    region = str(cloud.get("region") or "global")
    account = str((cloud.get("account") or {}).get("uid") or "unknown")
    day = dt.datetime.fromtimestamp(int(finding.get("time") or 0) / 1000, dt.UTC).strftime("%Y%m%d")
    return f"ext/{source}/region={region}/accountId={account}/eventDay={day}"


def security_lake_objects(findings: list[dict[str, Any]], source: str, scan_id: str,
                          when: dt.datetime) -> Iterator[tuple[str, bytes]]:
    """(key, parquet bytes) per (partition, OCSF class), rows sorted by time as Security Lake prefers."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for f in findings:
        groups[(partition_key(f, source), int(f.get("class_uid") or 0))].append(_flatten_free_form(f))
    for (partition, class_uid), rows in sorted(groups.items()):
        rows.sort(key=lambda r: int(r.get("time") or 0))
        # pa.array infers one struct type from every row (from_pylist would take the first row's keys only).
        table = pa.Table.from_struct_array(pa.array(rows))
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        yield f"{partition}/{class_uid}-{scan_id}-{when.strftime('%H%M%S')}.parquet", buf.getvalue()

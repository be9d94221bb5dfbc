"""SageMaker operations moto does not implement, added to the emulator for the simulated estate.

moto answers ListMonitoringSchedules, Get/PutModelPackageGroupPolicy,
ListUserProfiles and ListSpaces with "not implemented". The demo and the
benchmark need a whole region to be readable, so this module teaches moto's
SageMaker responder these operations over a small in-memory store. Data is
seeded with the ``add_*`` functions (or PutModelPackageGroupPolicy); answers
follow the service model's shapes. Emulator only: never imported by the scanner.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

_LOCK = threading.Lock()


@dataclass
class _Region:
    schedules: list[dict[str, Any]] = field(default_factory=list)
    policies: dict[str, str] = field(default_factory=dict)
    user_profiles: list[dict[str, Any]] = field(default_factory=list)
    spaces: list[dict[str, Any]] = field(default_factory=list)


_STORE: defaultdict[tuple[str, str], _Region] = defaultdict(_Region)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def add_monitoring_schedule(account: str, region: str, name: str, endpoint: str, status: str = "Scheduled") -> None:
    with _LOCK:
        _STORE[(account, region)].schedules.append({
            "MonitoringScheduleName": name,
            "MonitoringScheduleArn": f"arn:aws:sagemaker:{region}:{account}:monitoring-schedule/{name.lower()}",
            "CreationTime": _now(), "LastModifiedTime": _now(),
            "MonitoringScheduleStatus": status, "EndpointName": endpoint, "MonitoringType": "DataQuality",
        })


def add_user_profile(account: str, region: str, domain_id: str, name: str) -> None:
    with _LOCK:
        _STORE[(account, region)].user_profiles.append({
            "DomainId": domain_id, "UserProfileName": name, "Status": "InService",
            "CreationTime": _now(), "LastModifiedTime": _now(),
        })


def add_space(account: str, region: str, domain_id: str, name: str, sharing: str = "Private") -> None:
    with _LOCK:
        _STORE[(account, region)].spaces.append({
            "DomainId": domain_id, "SpaceName": name, "Status": "InService",
            "CreationTime": _now(), "LastModifiedTime": _now(),
            "SpaceSettingsSummary": {"AppType": "JupyterLab"},
            "SpaceSharingSettingsSummary": {"SharingType": sharing},
        })


def reset() -> None:
    with _LOCK:
        _STORE.clear()


def _page(items: list[dict[str, Any]], token: Any, max_results: Any) -> tuple[list[dict[str, Any]], str | None]:
    start = int(token or 0)
    size = int(max_results or 10)
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


def install() -> None:
    """Teach moto's SageMaker responder the missing operations (idempotent)."""
    from moto.core.responses import ActionResult
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.responses import SageMakerResponse

    def region(self: Any) -> _Region:
        return _STORE[(self.current_account, self.region)]

    def listing(key: str, attr: str) -> Any:
        def handler(self: Any) -> Any:
            with _LOCK:
                items = list(getattr(region(self), attr))
            endpoint = self._get_param("EndpointName")
            if endpoint and attr == "schedules":
                items = [i for i in items if i["EndpointName"] == endpoint]
            page, token = _page(items, self._get_param("NextToken"), self._get_param("MaxResults"))
            return ActionResult({key: page, "NextToken": token} if token else {key: page})
        return handler

    def get_policy(self: Any) -> Any:
        name = self._get_param("ModelPackageGroupName")
        with _LOCK:
            policy = region(self).policies.get(name)
        if policy is None:
            raise ValidationError(message=f"Model Package Group {name} does not have a resource policy.")
        return ActionResult({"ResourcePolicy": policy})

    def put_policy(self: Any) -> Any:
        name = self._get_param("ModelPackageGroupName")
        with _LOCK:
            region(self).policies[name] = self._get_param("ResourcePolicy")
        arn = f"arn:aws:sagemaker:{self.region}:{self.current_account}:model-package-group/{name.lower()}"
        return ActionResult({"ModelPackageGroupArn": arn})

    for op, fn in {
        "list_monitoring_schedules": listing("MonitoringScheduleSummaries", "schedules"),
        "list_user_profiles": listing("UserProfiles", "user_profiles"),
        "list_spaces": listing("Spaces", "spaces"),
        "get_model_package_group_policy": get_policy,
        "put_model_package_group_policy": put_policy,
    }.items():
        if not hasattr(SageMakerResponse, op):
            setattr(SageMakerResponse, op, fn)

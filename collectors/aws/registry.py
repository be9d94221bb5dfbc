"""Model package group resource policies (AISPM-IAM-004).

SageMaker has no batch call for these, so each group costs one
GetModelPackageGroupPolicy; a group without a policy answers with an error
that says so, which means "no policy", not a failure.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from aispm.collectors.aws.session import error_code

_NO_POLICY_CODES = {"ValidationException", "ResourceNotFound", "ResourceNotFoundException"}


class GroupGone(Exception):
    """The group vanished between List and Get."""


def group_policy(sm: Any, group_name: str) -> str | None:
    """The group's resource policy document (JSON text), or None when it has none."""
    try:
        return str(sm.get_model_package_group_policy(ModelPackageGroupName=group_name)["ResourcePolicy"])
    except ClientError as exc:
        if error_code(exc) not in _NO_POLICY_CODES:
            raise
        message = str(exc.response.get("Error", {}).get("Message", "")).lower()
        if "polic" not in message and ("not exist" in message or "not found" in message):
            raise GroupGone(group_name) from exc
        return None

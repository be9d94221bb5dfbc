"""Tags of every SageMaker and Bedrock resource of a region in one paged call, instead of one ListTags per asset."""

from __future__ import annotations

from typing import Any

# The resource types the tagging API accepts for the whole SageMaker and Bedrock services.
RESOURCE_TYPES = ["sagemaker", "bedrock"]


def region_tags(tagging: Any, page_size: int = 100) -> dict[str, list[dict[str, str]]]:
    """Resource ARN (lower case) -> tags, for every tagged SageMaker or Bedrock resource of the client's region.

    A resource that was never tagged is absent from the answer: it has no tags.
    """
    out: dict[str, list[dict[str, str]]] = {}
    pages = tagging.get_paginator("get_resources").paginate(
        ResourceTypeFilters=RESOURCE_TYPES, ResourcesPerPage=min(page_size, 100))
    for page in pages:
        for item in page.get("ResourceTagMappingList", []):
            out[str(item["ResourceARN"]).lower()] = [
                {"Key": str(t["Key"]), "Value": str(t.get("Value", ""))} for t in item.get("Tags", [])
            ]
    return out

"""The Vertex AI kind table: every collection aispm lists, one row per list call.

A row says which client lists it (service key and method), the REST collection and the list response's
repeated field, whether only recent jobs are listed, whether the service exists only in some locations, and
which record field names the service account the workload runs as. The raw record's type is the asset kind.
The collector lists from the rows and the mapper reads kinds and identity fields from them, so a new kind is
one row here plus its mapper (and a test).

Pure (no SDK import): the normalizer reads it without the Google libraries.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class GcpKind:
    kind: str                      # the asset kind, and the type of its raw records
    collection: str                # REST collection, as in the resource name
    service: str                   # Clients service key
    method: str                    # list method of the client
    field: str                     # repeated field of the list response
    jobs: bool = False             # recent ones only (CollectOptions.job_window_days)
    identity: str | None = None    # dotted path of the service account; a step ending in [] runs over a list
    asset: bool = True             # False: records only inform other kinds' assets (no mapper)
    listed: str | None = None      # a record of this type marks a successful listing (absence then means none)
    regional: bool = False         # offered in some locations only: NOT_FOUND / UNIMPLEMENTED there lists empty

    def service_accounts(self, data: Mapping[str, Any]) -> list[str]:
        """Emails of the service accounts the record's workload runs as (unset: none, Vertex uses its agent)."""
        if not self.identity:
            return []
        return [str(v) for v in _values(data, self.identity.split(".")) if v]


def _values(cur: Any, steps: list[str]) -> Iterator[Any]:
    if not steps:
        yield cur
        return
    if not isinstance(cur, Mapping):
        return
    step, rest = steps[0], steps[1:]
    if step.endswith("[]"):
        items = cur.get(step[:-2])
        for item in items if isinstance(items, list) else ():
            yield from _values(item, rest)
    else:
        yield from _values(cur.get(step), rest)


MONITORING_LISTED = "monitoring_jobs_listed"

ENDPOINT = GcpKind(kind="endpoint", collection="endpoints", service="endpoint", method="list_endpoints",
                   field="endpoints", identity="deployedModels[].serviceAccount")
MODEL = GcpKind(kind="model", collection="models", service="model", method="list_models", field="models")
CUSTOM_JOB = GcpKind(kind="custom_job", collection="customJobs", service="job", method="list_custom_jobs",
                     field="custom_jobs", jobs=True, identity="jobSpec.serviceAccount")
DATASET = GcpKind(kind="dataset", collection="datasets", service="dataset", method="list_datasets",
                  field="datasets")
INDEX_ENDPOINT = GcpKind(kind="index_endpoint", collection="indexEndpoints", service="index_endpoint",
                         method="list_index_endpoints", field="index_endpoints")
NOTEBOOK_RUNTIME_TEMPLATE = GcpKind(kind="notebook_runtime_template", collection="notebookRuntimeTemplates",
                                    service="notebook", method="list_notebook_runtime_templates",
                                    field="notebook_runtime_templates")
NOTEBOOK_RUNTIME = GcpKind(kind="notebook_runtime", collection="notebookRuntimes", service="notebook",
                           method="list_notebook_runtimes", field="notebook_runtimes")
# Not an asset: tells the endpoint mapper which endpoints are monitored (LOG-002).
MONITORING_JOB = GcpKind(kind="model_deployment_monitoring_job", collection="modelDeploymentMonitoringJobs",
                         service="job", method="list_model_deployment_monitoring_jobs",
                         field="model_deployment_monitoring_jobs", asset=False, listed=MONITORING_LISTED)
# Generative AI and pipelines (rules-v2.md). Agent Engine and RAG Engine are offered in some locations only.
REASONING_ENGINE = GcpKind(kind="reasoning_engine", collection="reasoningEngines", service="reasoning_engine",
                           method="list_reasoning_engines", field="reasoning_engines", regional=True,
                           identity="spec.serviceAccount")
TUNING_JOB = GcpKind(kind="tuning_job", collection="tuningJobs", service="tuning", method="list_tuning_jobs",
                     field="tuning_jobs", jobs=True, identity="serviceAccount")
RAG_CORPUS = GcpKind(kind="rag_corpus", collection="ragCorpora", service="rag", method="list_rag_corpora",
                     field="rag_corpora", regional=True)
FEATURE_ONLINE_STORE = GcpKind(kind="feature_online_store", collection="featureOnlineStores",
                               service="feature_online_store", method="list_feature_online_stores",
                               field="feature_online_stores")
PIPELINE_JOB = GcpKind(kind="pipeline_job", collection="pipelineJobs", service="pipeline",
                       method="list_pipeline_jobs", field="pipeline_jobs", jobs=True, identity="serviceAccount")

# In listing order.
KINDS: tuple[GcpKind, ...] = (ENDPOINT, MODEL, CUSTOM_JOB, DATASET, INDEX_ENDPOINT, NOTEBOOK_RUNTIME_TEMPLATE,
                              NOTEBOOK_RUNTIME, MONITORING_JOB, REASONING_ENGINE, TUNING_JOB, RAG_CORPUS,
                              FEATURE_ONLINE_STORE, PIPELINE_JOB)
ROWS: Mapping[str, GcpKind] = {k.kind: k for k in KINDS}

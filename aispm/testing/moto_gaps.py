"""SageMaker, Bedrock and CloudTrail operations moto does not implement, added to the emulator for the
simulated estate.

moto answers ListMonitoringSchedules, Get/PutModelPackageGroupPolicy, ListUserProfiles, ListSpaces,
ListFeatureGroups, Bedrock's guardrail and imported-model calls, bedrock-agent's data-source calls and
ListAgentKnowledgeBases (associations seeded with ``add_agent_knowledge_base``; moto has no
AssociateAgentKnowledgeBase either), and CloudTrail LookupEvents (records seeded with ``add_cloudtrail_event``)
with "not implemented". The demo, the benchmark and tests that scan a whole region need it readable, so this
module teaches moto's responders these operations over a small in-memory store (ListFeatureGroups reads moto's
own feature groups). Data is seeded with the ``add_*`` functions (or PutModelPackageGroupPolicy); answers follow
the service model's shapes. Emulator only: never imported by the scanner.

It also closes three fidelity gaps where moto drops what a request set, so an estate can show both sides of
a rule: CreateAgent's ``guardrailConfiguration`` (GetAgent returns it, as AWS does, and the ``agentVersion``
``DRAFT`` AWS answers where moto invents ``1.0``), CreateFeatureGroup's ``OnlineStoreConfig``
(DescribeFeatureGroup returns it) and CreateModelCustomizationJob's ``customModelKmsKeyId`` (moto gives every
custom model a made-up key; here GetCustomModel's ``modelKmsKeyArn`` is the key the request named, and absent
without one).
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
    guardrails: list[dict[str, Any]] = field(default_factory=list)
    imported_models: list[dict[str, Any]] = field(default_factory=list)
    data_sources: dict[str, list[dict[str, Any]]] = field(default_factory=dict)   # knowledge base id -> sources
    agent_bases: dict[str, list[dict[str, Any]]] = field(default_factory=dict)   # agent id -> associations
    trail: list[dict[str, Any]] = field(default_factory=list)   # CloudTrail records (LookupEvents)


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


def add_guardrail(account: str, region: str, name: str, **policies: Any) -> str:
    """A guardrail's working draft with the given GetGuardrail members (contentPolicy, kmsKeyArn, ...)."""
    with _LOCK:
        store = _STORE[(account, region)]
        gid = f"gr{len(store.guardrails):010d}"
        store.guardrails.append({
            "name": name, "guardrailId": gid, "guardrailArn": f"arn:aws:bedrock:{region}:{account}:guardrail/{gid}",
            "version": "DRAFT", "status": "READY", "createdAt": _now().isoformat(), "updatedAt": _now().isoformat(),
            "blockedInputMessaging": "Sorry.", "blockedOutputsMessaging": "Sorry.", **policies,
        })
        return gid


def add_imported_model(account: str, region: str, name: str, s3_uri: str, kms_key: str | None = None) -> str:
    with _LOCK:
        store = _STORE[(account, region)]
        arn = f"arn:aws:bedrock:{region}:{account}:imported-model/im{len(store.imported_models):010d}"
        store.imported_models.append({
            "modelArn": arn, "modelName": name, "jobName": f"{name}-import",
            "jobArn": f"arn:aws:bedrock:{region}:{account}:model-import-job/{name}",
            "modelDataSource": {"s3DataSource": {"s3Uri": s3_uri}}, "creationTime": _now().isoformat(),
            "modelArchitecture": "llama3", **({"modelKmsKeyArn": kms_key} if kms_key else {}),
        })
        return arn


def add_data_source(account: str, region: str, knowledge_base_id: str, name: str, bucket_arn: str,
                    kms_key: str | None = None) -> str:
    with _LOCK:
        sources = _STORE[(account, region)].data_sources.setdefault(knowledge_base_id, [])
        sid = f"ds{len(sources):08d}"
        sources.append({
            "knowledgeBaseId": knowledge_base_id, "dataSourceId": sid, "name": name, "status": "AVAILABLE",
            "dataSourceConfiguration": {"type": "S3", "s3Configuration": {"bucketArn": bucket_arn}},
            "dataDeletionPolicy": "RETAIN", "createdAt": _now().isoformat(), "updatedAt": _now().isoformat(),
            **({"serverSideEncryptionConfiguration": {"kmsKeyArn": kms_key}} if kms_key else {}),
        })
        return sid


def add_agent_knowledge_base(account: str, region: str, agent_id: str, kb_id: str, description: str | None = None,
                             state: str = "ENABLED") -> None:
    """Associate a knowledge base with an agent's working draft (what AssociateAgentKnowledgeBase stores)."""
    with _LOCK:
        _STORE[(account, region)].agent_bases.setdefault(agent_id, []).append({
            "knowledgeBaseId": kb_id, "knowledgeBaseState": state, "updatedAt": _now().isoformat(),
            **({"description": description} if description else {}),
        })


def add_cloudtrail_event(account: str, region: str, record: dict[str, Any]) -> None:
    """A CloudTrail record (the lowerCamelCase JSON CloudTrail writes) that LookupEvents returns."""
    with _LOCK:
        _STORE[(account, region)].trail.append(dict(record))


def reset() -> None:
    with _LOCK:
        _STORE.clear()


def _page(items: list[dict[str, Any]], token: Any, max_results: Any) -> tuple[list[dict[str, Any]], str | None]:
    start = int(token or 0)
    size = int(max_results or 10)
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


def install() -> None:
    """Teach moto's SageMaker, Bedrock and bedrock-agent responders the missing operations (idempotent)."""
    from moto.core.responses import ActionResult
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.responses import SageMakerResponse

    _install_bedrock()
    _install_cloudtrail()
    _keep_dropped_fields()
    _search_models_by_page()

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

    def list_feature_groups(self: Any) -> Any:
        groups = sorted(self.sagemaker_backend.feature_groups.values(), key=lambda g: g.feature_group_name)
        items = [{"FeatureGroupName": g.feature_group_name, "FeatureGroupArn": g.arn,
                  "CreationTime": g.creation_time, "FeatureGroupStatus": "Created"} for g in groups]
        page, token = _page(items, self._get_param("NextToken"), self._get_param("MaxResults"))
        return ActionResult({"FeatureGroupSummaries": page, "NextToken": token} if token
                            else {"FeatureGroupSummaries": page})

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
        "list_feature_groups": list_feature_groups,
    }.items():
        if not hasattr(SageMakerResponse, op):
            setattr(SageMakerResponse, op, fn)


def _install_bedrock() -> None:
    import json

    from moto.bedrock.exceptions import ResourceNotFoundException as BedrockNotFound
    from moto.bedrock.responses import BedrockResponse
    from moto.bedrockagent.exceptions import ResourceNotFoundException as AgentNotFound
    from moto.bedrockagent.responses import AgentsforBedrockResponse

    def store(self: Any) -> _Region:
        return _STORE[(self.current_account, self.region)]

    def paged(self: Any, key: str, items: list[dict[str, Any]]) -> str:
        page, token = _page(items, self._get_param("nextToken"), self._get_param("maxResults") or 1000)
        return json.dumps({key: page, **({"nextToken": token} if token else {})})

    def list_guardrails(self: Any) -> str:
        with _LOCK:
            items = [{"id": g["guardrailId"], "arn": g["guardrailArn"], "status": g["status"], "name": g["name"],
                      "version": g["version"], "createdAt": g["createdAt"], "updatedAt": g["updatedAt"]}
                     for g in store(self).guardrails]
        return paged(self, "guardrails", items)

    def get_guardrail(self: Any) -> str:
        ident = self._get_param("guardrailIdentifier")
        with _LOCK:
            found = [g for g in store(self).guardrails if ident in (g["guardrailId"], g["guardrailArn"])]
        if not found:
            raise BedrockNotFound(f"Guardrail {ident} not found")
        return json.dumps(found[0])

    def list_imported_models(self: Any) -> str:
        with _LOCK:
            items = [{k: m[k] for k in ("modelArn", "modelName", "creationTime", "modelArchitecture")}
                     for m in store(self).imported_models]
        return paged(self, "modelSummaries", items)

    def get_imported_model(self: Any) -> str:
        ident = self._get_param("modelIdentifier")
        with _LOCK:
            found = [m for m in store(self).imported_models if ident in (m["modelArn"], m["modelName"])]
        if not found:
            raise BedrockNotFound(f"Imported model {ident} not found")
        return json.dumps(found[0])

    def list_data_sources(self: Any) -> str:
        kb = self._get_param("knowledgeBaseId")
        with _LOCK:
            items = [{k: d[k] for k in ("knowledgeBaseId", "dataSourceId", "name", "status", "updatedAt")}
                     for d in store(self).data_sources.get(kb, [])]
        return paged(self, "dataSourceSummaries", items)

    def get_data_source(self: Any) -> str:
        kb, sid = self._get_param("knowledgeBaseId"), self._get_param("dataSourceId")
        with _LOCK:
            found = [d for d in store(self).data_sources.get(kb, []) if d["dataSourceId"] == sid]
        if not found:
            raise AgentNotFound(f"Data source {sid} not found")
        return json.dumps({"dataSource": found[0]})

    def list_agent_knowledge_bases(self: Any) -> str:
        agent_id = self._get_param("agentId")
        self.bedrockagent_backend.get_agent(agent_id)   # ResourceNotFoundException for an unknown agent, as AWS
        draft = self._get_param("agentVersion") == "DRAFT"   # associations are seeded on the working draft
        with _LOCK:
            items = list(store(self).agent_bases.get(agent_id, [])) if draft else []
        return paged(self, "agentKnowledgeBaseSummaries", items)

    for cls, ops in ((BedrockResponse, {"list_guardrails": list_guardrails, "get_guardrail": get_guardrail,
                                        "list_imported_models": list_imported_models,
                                        "get_imported_model": get_imported_model}),
                     (AgentsforBedrockResponse, {"list_data_sources": list_data_sources,
                                                 "get_data_source": get_data_source,
                                                 "list_agent_knowledge_bases": list_agent_knowledge_bases})):
        for op, fn in ops.items():
            if not hasattr(cls, op):
                setattr(cls, op, fn)



def _install_cloudtrail() -> None:
    """LookupEvents over the seeded records: one EventSource or EventName attribute, StartTime and EndTime
    inclusive, newest first, ``MaxResults`` (at most 50) per page, as CloudTrail answers."""
    import json

    from moto.cloudtrail.responses import CloudTrailResponse

    def instant(value: Any) -> dt.datetime:
        if isinstance(value, int | float):
            return dt.datetime.fromtimestamp(value, dt.UTC)
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))

    def lookup_events(self: Any) -> str:
        attrs = self._get_param("LookupAttributes") or []
        start, end = self._get_param("StartTime"), self._get_param("EndTime")
        with _LOCK:
            records = list(_STORE[(self.current_account, self.region)].trail)
        key = {"EventSource": "eventSource", "EventName": "eventName", "EventId": "eventID"}
        for attr in attrs:
            records = [r for r in records if r.get(key[attr["AttributeKey"]]) == attr["AttributeValue"]]
        if start is not None:
            records = [r for r in records if instant(r["eventTime"]) >= instant(start)]
        if end is not None:
            records = [r for r in records if instant(r["eventTime"]) <= instant(end)]
        records.sort(key=lambda r: instant(r["eventTime"]), reverse=True)
        page, token = _page(records, self._get_param("NextToken"), min(int(self._get_param("MaxResults") or 50), 50))
        events = [{"EventId": r["eventID"], "EventName": r["eventName"], "ReadOnly": "false",
                   "EventTime": instant(r["eventTime"]).timestamp(), "EventSource": r["eventSource"],
                   "Resources": [], "CloudTrailEvent": json.dumps(r)} for r in page]
        return json.dumps({"Events": events, **({"NextToken": token} if token else {})})

    if not hasattr(CloudTrailResponse, "lookup_events"):
        CloudTrailResponse.lookup_events = lookup_events  # type: ignore[attr-defined]


_PATCHED: set[tuple[type, str]] = set()


def _patch(cls: type, op: str, make: Any) -> None:
    """Replace ``cls.op`` by ``make(original)``, once per process however often ``install`` runs."""
    with _LOCK:
        if (cls, op) in _PATCHED:
            return
        _PATCHED.add((cls, op))
        setattr(cls, op, make(getattr(cls, op)))


def _keep_dropped_fields() -> None:
    """Keep what moto's CreateAgent, CreateFeatureGroup and CreateModelCustomizationJob drop or invent."""
    import json

    from moto.bedrock.responses import BedrockResponse
    from moto.bedrockagent.models import Agent
    from moto.bedrockagent.responses import AgentsforBedrockResponse
    from moto.sagemaker.models import FeatureGroup
    from moto.sagemaker.responses import SageMakerResponse

    def create_agent(original: Any) -> Any:
        def handler(self: Any) -> str:
            body = json.loads(original(self))
            config = self._get_param("guardrailConfiguration")
            if config:
                self.bedrockagent_backend.get_agent(body["agent"]["agentId"]).guardrail_configuration = config
                body["agent"]["guardrailConfiguration"] = config
            return json.dumps(body)
        return handler

    def agent_dict(original: Any) -> Any:
        def to_dict(agent: Any) -> dict[str, Any]:
            # GetAgent describes the working draft: AWS answers agentVersion "DRAFT" (moto: "1.0").
            out: dict[str, Any] = {**original(agent), "agentVersion": "DRAFT"}
            config = getattr(agent, "guardrail_configuration", None)
            return {**out, "guardrailConfiguration": config} if config else out
        return to_dict

    def create_feature_group(original: Any) -> Any:
        def handler(self: Any) -> Any:
            answer = original(self)
            config = self._get_param("OnlineStoreConfig")
            if config:
                name = self._get_param("FeatureGroupName")
                group = next(g for g in self.sagemaker_backend.feature_groups.values()
                             if g.feature_group_name == name)
                group.online_store_config = config
            return answer
        return handler

    def group_describe(original: Any) -> Any:
        def describe(group: Any) -> dict[str, Any]:
            out: dict[str, Any] = original(group)
            config = getattr(group, "online_store_config", None)
            return {**out, "OnlineStoreConfig": config} if config else out
        return describe

    def create_customization_job(original: Any) -> Any:
        def handler(self: Any) -> Any:
            answer = original(self)
            model = self.bedrock_backend.custom_models[self._get_param("customModelName")]
            model.model_kms_key_arn = self._get_param("customModelKmsKeyId")   # None: to_dict leaves it out
            return answer
        return handler

    _patch(AgentsforBedrockResponse, "create_agent", create_agent)
    _patch(Agent, "to_dict", agent_dict)
    _patch(SageMakerResponse, "create_feature_group", create_feature_group)
    _patch(FeatureGroup, "describe", group_describe)
    _patch(BedrockResponse, "create_model_customization_job", create_customization_job)


def _search_models_by_page() -> None:
    """SageMaker Search: moto rejects ``Resource=Model``, compares a ``CreationTime GreaterThan`` filter as
    equality and answers every resource in one page. Here Model is answered as AWS does (``Results[].Model.Model``,
    the DescribeModel fields), training jobs filter by creation time, and every resource is paged by
    ``MaxResults`` (default 10, at most 100) and ``NextToken``."""
    from moto.core.responses import ActionResult
    from moto.sagemaker.responses import SageMakerResponse

    def search(original: Any) -> Any:
        def handler(self: Any) -> Any:
            since = _created_since(self._get_param("SearchExpression"))
            if self._get_param("Resource") == "Model":
                models = sorted(self.sagemaker_backend.list_models(), key=lambda m: m.model_name)
                items = [{"Model": {"Model": m.response_object}} for m in models]
            elif self._get_param("Resource") == "TrainingJob" and since is not None:
                jobs = sorted(self.sagemaker_backend.training_jobs.values(), key=lambda j: j.training_job_name)
                items = [{"TrainingJob": j.response_object} for j in jobs
                         if j.creation_time.replace(tzinfo=dt.UTC) >= since]
            else:
                items = list(original(self).result.get("Results", []))
            page, token = _page(items, self._get_param("NextToken"), self._get_param("MaxResults") or 10)
            return ActionResult({"Results": page, "NextToken": token} if token else {"Results": page})
        return handler

    _patch(SageMakerResponse, "search", search)


def _created_since(expression: Any) -> dt.datetime | None:
    """The instant of a ``CreationTime GreaterThan(OrEqualTo)`` Search filter (moto compares it as equality)."""
    for f in (expression or {}).get("Filters") or []:
        if f.get("Name") == "CreationTime" and f.get("Operator") in ("GreaterThan", "GreaterThanOrEqualTo"):
            return dt.datetime.fromisoformat(str(f["Value"])).replace(tzinfo=dt.UTC)
    return None


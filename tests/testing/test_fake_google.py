"""The fake Google API server, driven through the real Vertex AI and Resource Manager REST clients."""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
from google.api_core import exceptions
from google.api_core import retry as retries
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import aiplatform_v1, resourcemanager_v3
from google.cloud.location import locations_pb2
from google.iam.v1 import iam_policy_pb2, options_pb2, policy_pb2
from google.oauth2.credentials import Credentials as OAuthCredentials
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from aispm.testing.fake_google import (
    ENUM_FIELDS,
    ENUM_VALUES,
    VERTEX_COLLECTIONS,
    EstateError,
    FakeGoogle,
    demo_estate,
    encode_enums,
    validate_estate,
)
from tests.support.gcp_wire import EXPECTED_FAILS, wire_outcomes

ClientFactory = Callable[..., Any]

PROJECT_A, NUMBER_A = "ml-prod-4821", "418203957711"
PROJECT_B, NUMBER_B = "genai-sandbox-7730", "772045316829"
US, EU = "us-central1", "europe-west4"

# collection -> (client class, list method, get method, proto-plus message type)
COLLECTIONS: dict[str, tuple[Any, str, str, Any]] = {
    "endpoints": (aiplatform_v1.EndpointServiceClient, "list_endpoints", "get_endpoint", aiplatform_v1.Endpoint),
    "models": (aiplatform_v1.ModelServiceClient, "list_models", "get_model", aiplatform_v1.Model),
    "customJobs": (aiplatform_v1.JobServiceClient, "list_custom_jobs", "get_custom_job", aiplatform_v1.CustomJob),
    "datasets": (aiplatform_v1.DatasetServiceClient, "list_datasets", "get_dataset", aiplatform_v1.Dataset),
    "indexEndpoints": (
        aiplatform_v1.IndexEndpointServiceClient,
        "list_index_endpoints",
        "get_index_endpoint",
        aiplatform_v1.IndexEndpoint,
    ),
    "notebookRuntimeTemplates": (
        aiplatform_v1.NotebookServiceClient,
        "list_notebook_runtime_templates",
        "get_notebook_runtime_template",
        aiplatform_v1.NotebookRuntimeTemplate,
    ),
    "notebookRuntimes": (
        aiplatform_v1.NotebookServiceClient,
        "list_notebook_runtimes",
        "get_notebook_runtime",
        aiplatform_v1.NotebookRuntime,
    ),
    "modelDeploymentMonitoringJobs": (
        aiplatform_v1.JobServiceClient,
        "list_model_deployment_monitoring_jobs",
        "get_model_deployment_monitoring_job",
        aiplatform_v1.ModelDeploymentMonitoringJob,
    ),
    "reasoningEngines": (
        aiplatform_v1.ReasoningEngineServiceClient,
        "list_reasoning_engines",
        "get_reasoning_engine",
        aiplatform_v1.ReasoningEngine,
    ),
    "tuningJobs": (
        aiplatform_v1.GenAiTuningServiceClient,
        "list_tuning_jobs",
        "get_tuning_job",
        aiplatform_v1.TuningJob,
    ),
    "ragCorpora": (
        aiplatform_v1.VertexRagDataServiceClient,
        "list_rag_corpora",
        "get_rag_corpus",
        aiplatform_v1.RagCorpus,
    ),
    "featureOnlineStores": (
        aiplatform_v1.FeatureOnlineStoreAdminServiceClient,
        "list_feature_online_stores",
        "get_feature_online_store",
        aiplatform_v1.FeatureOnlineStore,
    ),
    "pipelineJobs": (
        aiplatform_v1.PipelineServiceClient,
        "list_pipeline_jobs",
        "get_pipeline_job",
        aiplatform_v1.PipelineJob,
    ),
}


def estate_resources(project_number: str, location: str, collection: str) -> list[dict[str, Any]]:
    for entry in demo_estate()["projects"]:
        if entry["project"]["name"] == f"projects/{project_number}":
            result: list[dict[str, Any]] = entry.get("vertex", {}).get(location, {}).get(collection, [])
            return result
    raise KeyError(project_number)


def all_resources() -> Iterator[tuple[str, dict[str, Any]]]:
    for entry in demo_estate()["projects"]:
        for collections in entry.get("vertex", {}).values():
            for collection, resources in collections.items():
                for resource in resources:
                    yield collection, resource


def fast_retry(*kinds: type[Exception]) -> retries.Retry:
    return retries.Retry(
        predicate=retries.if_exception_type(*kinds), initial=0.01, maximum=0.05, multiplier=2, timeout=10
    )


def raw_get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), json.loads(error.read())


# --------------------------------------------------------------------------- estate fidelity


def _proto_descriptor(kind: str) -> Descriptor:
    if kind in COLLECTIONS:
        descriptor: Descriptor = COLLECTIONS[kind][3].pb().DESCRIPTOR
        return descriptor
    if kind == "project":
        project_descriptor: Descriptor = resourcemanager_v3.Project.pb().DESCRIPTOR
        return project_descriptor
    if kind == "iamPolicy":
        return policy_pb2.Policy.DESCRIPTOR
    return locations_pb2.Location.DESCRIPTOR


def _estate_documents() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for entry in demo_estate()["projects"]:
        yield "project", entry["project"]["projectId"], entry["project"]
        yield "iamPolicy", entry["project"]["projectId"] + " policy", entry["iamPolicy"]
        for location in entry["locations"]:
            yield "location", location["name"], location
    for collection, resource in all_resources():
        yield collection, resource["name"], resource


def test_estate_is_exact_rest_json() -> None:
    """Every document parses strictly into its proto type and serializes back unchanged.

    Strict parsing rejects any field name the v1 API does not have; the round trip
    proves proto3 JSON conventions (int64 as strings, defaults omitted, Durations
    as "3600s").
    """
    for kind, where, document in _estate_documents():
        message = json_format.ParseDict(document, _message_class(kind)(), ignore_unknown_fields=False)
        assert json_format.MessageToDict(message) == document, where


def _message_class(kind: str) -> Callable[[], Any]:
    if kind in COLLECTIONS:
        proto_plus = COLLECTIONS[kind][3]
        return lambda: proto_plus.pb(proto_plus())
    if kind == "project":
        return lambda: resourcemanager_v3.Project.pb(resourcemanager_v3.Project())
    if kind == "iamPolicy":
        return lambda: policy_pb2.Policy()
    return lambda: locations_pb2.Location()


def _field_at(descriptor: Descriptor, path: str) -> FieldDescriptor:
    current: Descriptor | None = descriptor
    found: FieldDescriptor | None = None
    for segment in path.split("."):
        assert current is not None, path
        name = segment.removesuffix("[]")
        matches = [f for f in current.fields if f.json_name == name]
        assert matches, f"{descriptor.full_name} has no field {path}"
        found = matches[0]
        assert found.is_repeated == segment.endswith("[]"), path
        current = found.message_type
    assert found is not None
    return found


def test_enum_tables_match_the_protos() -> None:
    for kind, fields in ENUM_FIELDS.items():
        for path, enum_type in fields.items():
            field = _field_at(_proto_descriptor(kind), path)
            assert field.enum_type is not None, path
            assert field.enum_type.full_name == enum_type
            proto_values = {v.name: v.number for v in field.enum_type.values}
            assert ENUM_VALUES[enum_type] == proto_values, enum_type


def _enum_strings(document: Any, descriptor: Descriptor, where: str) -> Iterator[str]:
    """Paths of enum fields that still hold a name instead of a number."""
    if not isinstance(document, dict):
        return
    for field in descriptor.fields:
        if field.json_name not in document:
            continue
        value = document[field.json_name]
        items = value if field.is_repeated else [value]
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            continue
        for item in items:
            if field.enum_type is not None and isinstance(item, str):
                yield f"{where}.{field.json_name}"
            elif field.message_type is not None and not field.message_type.full_name.startswith("google.protobuf."):
                yield from _enum_strings(item, field.message_type, f"{where}.{field.json_name}")


def test_int_enum_encoding_covers_every_enum_in_the_estate() -> None:
    for kind, where, document in _estate_documents():
        encoded = encode_enums(document, kind)
        assert list(_enum_strings(encoded, _proto_descriptor(kind), where)) == []
        as_names = json_format.ParseDict(document, _message_class(kind)())
        as_numbers = json_format.ParseDict(encoded, _message_class(kind)())
        assert as_names == as_numbers, where


def test_estate_validation_rejects_inconsistent_names() -> None:
    estate = demo_estate()
    estate["projects"][0]["vertex"][US]["models"][0]["name"] = f"projects/{PROJECT_A}/locations/{US}/models/1"
    with pytest.raises(EstateError, match="must be projects/418203957711"):
        validate_estate(estate)
    estate = demo_estate()
    estate["projects"][0]["vertex"][US]["customJobs"][0]["state"] = "SUCCEEDED"
    with pytest.raises(EstateError, match="JobState"):
        validate_estate(estate)


# --------------------------------------------------------------------------- Vertex AI


def test_list_models_pages_three_times_in_order(fake_google: FakeGoogle, google_client: ClientFactory) -> None:
    client = google_client(aiplatform_v1.ModelServiceClient)
    pager = client.list_models(parent=f"projects/{PROJECT_A}/locations/{US}")
    names = [model.name for model in pager]
    expected = [m["name"] for m in estate_resources(NUMBER_A, US, "models")]
    assert len(expected) >= 5
    assert names == expected
    assert all(name.startswith(f"projects/{NUMBER_A}/") for name in names)
    calls = fake_google.requests_to(f"/v1/projects/{PROJECT_A}/locations/{US}/models")
    assert [c.path for c in calls] == [f"/v1/projects/{PROJECT_A}/locations/{US}/models"] * 3
    assert "pageToken" not in calls[0].query
    assert calls[1].query["pageToken"] and calls[2].query["pageToken"] != calls[1].query["pageToken"]
    assert all(c.query["$alt"] == "json;enum-encoding=int" for c in calls)
    assert all(c.method == "GET" and c.status == 200 for c in calls)
    assert calls[0].headers["x-goog-request-params"] == f"parent=projects/{PROJECT_A}/locations/{US}"
    assert "authorization" not in calls[0].headers


def test_page_size_is_capped_by_the_fake(fake_google: FakeGoogle, google_client: ClientFactory) -> None:
    client = google_client(aiplatform_v1.ModelServiceClient)
    request = aiplatform_v1.ListModelsRequest(parent=f"projects/{PROJECT_A}/locations/{US}", page_size=100)
    pages = list(client.list_models(request=request).pages)
    assert [len(page.models) for page in pages] == [2, 2, 1]
    assert fake_google.requests_to("/v1/projects")[0].query["pageSize"] == "100"
    fake_google.page_size = None
    pages = list(client.list_models(request=request).pages)
    assert [len(page.models) for page in pages] == [5]


@pytest.mark.parametrize("collection", VERTEX_COLLECTIONS)
@pytest.mark.parametrize(
    ("project", "number", "location"),
    [(PROJECT_A, NUMBER_A, US), (PROJECT_A, NUMBER_A, EU), (PROJECT_B, NUMBER_B, US), (PROJECT_B, NUMBER_B, EU)],
)
def test_every_collection_lists_through_the_real_client(
    fake_google: FakeGoogle,
    google_client: ClientFactory,
    collection: str,
    project: str,
    number: str,
    location: str,
) -> None:
    client_class, list_method, _, _ = COLLECTIONS[collection]
    client = google_client(client_class)
    listed = list(getattr(client, list_method)(parent=f"projects/{project}/locations/{location}"))
    expected = estate_resources(number, location, collection)
    assert [r.name for r in listed] == [r["name"] for r in expected]
    path = f"/v1/projects/{project}/locations/{location}/{collection}"
    assert fake_google.requests_to(path)[0].path == path


@pytest.mark.parametrize("collection", VERTEX_COLLECTIONS)
def test_single_get_by_full_name(fake_google: FakeGoogle, google_client: ClientFactory, collection: str) -> None:
    client_class, _, get_method, message_type = COLLECTIONS[collection]
    client = google_client(client_class)
    expected = estate_resources(NUMBER_A, US, collection)[-1]
    by_number = getattr(client, get_method)(name=expected["name"])
    by_id = getattr(client, get_method)(name=expected["name"].replace(NUMBER_A, PROJECT_A, 1))
    assert by_number == by_id
    assert json_format.MessageToDict(message_type.pb(by_number)) == expected
    assert [r.path for r in fake_google.requests_to("/v1/")] == [
        "/v1/" + expected["name"],
        "/v1/" + expected["name"].replace(NUMBER_A, PROJECT_A, 1),
    ]


def test_endpoint_fields_survive_the_client(google_client: ClientFactory) -> None:
    client = google_client(aiplatform_v1.EndpointServiceClient)
    endpoints = {e.display_name: e for e in client.list_endpoints(parent=f"projects/{PROJECT_A}/locations/{US}")}
    psc = endpoints["credit-risk-psc"]
    assert psc.private_service_connect_config.enable_private_service_connect is True
    assert psc.predict_request_response_logging_config.enabled is True
    assert [m.dedicated_resources.min_replica_count for m in psc.deployed_models] == [2, 3]
    assert psc.deployed_models[0].dedicated_resources.machine_spec.accelerator_type.name == "NVIDIA_TESLA_T4"
    assert endpoints["churn-legacy-psc"].enable_private_service_connect is True
    assert endpoints["recsys-vpc-peered"].network == f"projects/{NUMBER_A}/global/networks/ml-vpc"
    assert endpoints["recsys-vpc-peered"].deployed_models[0].automatic_resources.min_replica_count == 1
    public = endpoints["fraud-scoring-public"]
    assert public.deployed_models[0].service_account == f"{NUMBER_A}-compute@developer.gserviceaccount.com"
    assert public.encryption_spec.kms_key_name == ""


def test_custom_job_state_arrives_as_enum(google_client: ClientFactory) -> None:
    client = google_client(aiplatform_v1.JobServiceClient)
    jobs = list(client.list_custom_jobs(parent=f"projects/{PROJECT_A}/locations/{US}"))
    assert [j.state for j in jobs] == [
        aiplatform_v1.JobState.JOB_STATE_SUCCEEDED,
        aiplatform_v1.JobState.JOB_STATE_RUNNING,
        aiplatform_v1.JobState.JOB_STATE_FAILED,
        aiplatform_v1.JobState.JOB_STATE_CANCELLED,
    ]
    sweep = jobs[2]
    assert sweep.job_spec.enable_dashboard_access is True
    pool = sweep.job_spec.worker_pool_specs[0]
    assert [e.name for e in pool.python_package_spec.env] == ["HUGGINGFACE_HUB_TOKEN", "NCCL_DEBUG"]


def test_enum_encoding_follows_the_alt_parameter(fake_google: FakeGoogle) -> None:
    path = f"{fake_google.url}/v1/projects/{PROJECT_A}/locations/{US}/customJobs?pageSize=1"
    status, as_names = raw_get(path)
    assert status == 200 and as_names["customJobs"][0]["state"] == "JOB_STATE_SUCCEEDED"
    status, as_numbers = raw_get(path + "&%24alt=json%3Benum-encoding%3Dint")
    assert status == 200 and as_numbers["customJobs"][0]["state"] == 4


def test_get_model_by_version_alias(google_client: ClientFactory) -> None:
    client = google_client(aiplatform_v1.ModelServiceClient)
    base = f"projects/{PROJECT_A}/locations/{US}/models/6620185304482160640"
    assert client.get_model(name=base + "@canary").version_id == "3"
    assert client.get_model(name=base + "@3").display_name == "credit-risk-tf"
    with pytest.raises(exceptions.NotFound):
        client.get_model(name=base + "@1")


def test_missing_resource_is_not_found(google_client: ClientFactory) -> None:
    client = google_client(aiplatform_v1.EndpointServiceClient)
    with pytest.raises(exceptions.NotFound):
        client.get_endpoint(name=f"projects/{PROJECT_A}/locations/{US}/endpoints/1")


def test_unknown_project_is_permission_denied(google_client: ClientFactory) -> None:
    client = google_client(aiplatform_v1.EndpointServiceClient)
    with pytest.raises(exceptions.Forbidden) as caught:
        list(client.list_endpoints(parent=f"projects/no-such-project/locations/{US}"))
    assert caught.value.reason == "IAM_PERMISSION_DENIED"
    assert "aiplatform.endpoints.list" in caught.value.message


def test_empty_location_lists_nothing(fake_google: FakeGoogle, google_client: ClientFactory) -> None:
    for collection in VERTEX_COLLECTIONS:
        client_class, list_method, _, _ = COLLECTIONS[collection]
        client = google_client(client_class)
        assert list(getattr(client, list_method)(parent=f"projects/{PROJECT_B}/locations/{EU}")) == []
    status, body = raw_get(f"{fake_google.url}/v1/projects/{PROJECT_B}/locations/{EU}/endpoints")
    assert (status, body) == (200, {})
    assert len(fake_google.requests_to(f"/v1/projects/{NUMBER_B}/locations/{EU}/")) == len(VERTEX_COLLECTIONS) + 1


def test_custom_job_filters(google_client: ClientFactory) -> None:
    client = google_client(aiplatform_v1.JobServiceClient)
    parent = f"projects/{PROJECT_A}/locations/{US}"

    def names(filter_text: str) -> list[str]:
        request = aiplatform_v1.ListCustomJobsRequest(parent=parent, filter=filter_text)
        return [j.display_name for j in client.list_custom_jobs(request=request)]

    recent = names('create_time>"2024-01-01T00:00:00Z"')
    assert "churn-retrain" not in recent and len(recent) == 3
    assert names('createTime<="2023-06-14T10:11:12.131415Z"') == ["churn-retrain"]
    assert names('state="JOB_STATE_FAILED" OR state="JOB_STATE_CANCELLED"') == [
        "recsys-hp-sweep-trial-7",
        "churn-retrain",
    ]
    assert names('labels.cost-center:* AND NOT display_name="churn-retrain"') == [
        "fraud-nightly-train",
        "credit-risk-train",
    ]
    assert names('display_name:"credit-*"') == ["credit-risk-train"]
    with pytest.raises(exceptions.BadRequest):
        names('create_time>"yesterday"')
    with pytest.raises(exceptions.BadRequest):
        names('budget>"3"')


def test_invalid_page_token_is_rejected(google_client: ClientFactory) -> None:
    client = google_client(aiplatform_v1.ModelServiceClient)
    request = aiplatform_v1.ListModelsRequest(parent=f"projects/{PROJECT_A}/locations/{US}", page_token="bogus")
    with pytest.raises(exceptions.BadRequest):
        list(client.list_models(request=request))


def test_list_and_get_locations(fake_google: FakeGoogle, google_client: ClientFactory) -> None:
    client = google_client(aiplatform_v1.EndpointServiceClient)
    response = client.list_locations(request=locations_pb2.ListLocationsRequest(name=f"projects/{PROJECT_A}"))
    assert [loc.location_id for loc in response.locations] == [US, EU]
    assert response.locations[0].name == f"projects/{NUMBER_A}/locations/{US}"
    assert response.next_page_token == ""
    request = locations_pb2.GetLocationRequest(name=f"projects/{PROJECT_A}/locations/{EU}")
    location = client.get_location(request=request)
    assert location.display_name == "Netherlands"
    assert [(r.method, r.path, r.query) for r in fake_google.requests] == [
        ("GET", f"/ui/projects/{PROJECT_A}/locations", {}),
        ("GET", f"/ui/projects/{PROJECT_A}/locations/{EU}", {}),
    ]


# --------------------------------------------------------------------------- Resource Manager


def test_search_projects(fake_google: FakeGoogle, projects_client: Any) -> None:
    projects = list(projects_client.search_projects(query=""))
    assert [(p.name, p.project_id) for p in projects] == [
        (f"projects/{NUMBER_A}", PROJECT_A),
        (f"projects/{NUMBER_B}", PROJECT_B),
    ]
    assert projects[0].state == resourcemanager_v3.Project.State.ACTIVE
    assert projects[0].labels["cost-center"] == "cc-1000"
    assert [p.project_id for p in projects_client.search_projects(query=f"id:{PROJECT_B}")] == [PROJECT_B]
    assert [p.project_id for p in projects_client.search_projects(query="labels.env:prod")] == [PROJECT_A]
    assert [p.project_id for p in projects_client.search_projects(query="parent.type:folder")] == [PROJECT_B]
    first = fake_google.requests_to("/v3/projects:search")[0]
    assert (first.method, first.query) == ("GET", {"$alt": "json;enum-encoding=int"})


def test_search_projects_pages(fake_google: FakeGoogle, projects_client: Any) -> None:
    fake_google.page_size = 1
    assert len(list(projects_client.search_projects())) == 2
    assert len(fake_google.requests_to("/v3/projects:search")) == 2


def test_list_projects_by_parent(projects_client: Any) -> None:
    listed = list(projects_client.list_projects(parent="organizations/731905284416"))
    assert [p.project_id for p in listed] == [PROJECT_A]


def test_get_project_by_id_and_number(fake_google: FakeGoogle, projects_client: Any) -> None:
    by_id = projects_client.get_project(name=f"projects/{PROJECT_A}")
    by_number = projects_client.get_project(name=f"projects/{NUMBER_A}")
    assert by_id == by_number
    assert (by_id.name, by_id.project_id, by_id.parent) == (
        f"projects/{NUMBER_A}",
        PROJECT_A,
        "organizations/731905284416",
    )
    assert [r.path for r in fake_google.requests] == [f"/v3/projects/{PROJECT_A}", f"/v3/projects/{NUMBER_A}"]
    with pytest.raises(exceptions.Forbidden):
        projects_client.get_project(name="projects/not-a-project")


def _policy(projects_client: Any, project: str, version: int) -> Any:
    request = iam_policy_pb2.GetIamPolicyRequest(
        resource=f"projects/{project}",
        options=options_pb2.GetPolicyOptions(requested_policy_version=version),
    )
    return projects_client.get_iam_policy(request=request)


def test_get_iam_policy_version_3(fake_google: FakeGoogle, projects_client: Any) -> None:
    policy = _policy(projects_client, PROJECT_A, 3)
    assert policy.version == 3
    roles = {(b.role, b.condition.title) for b in policy.bindings}
    assert ("roles/owner", "breakglass-until-2026-01-31") in roles
    editors = next(b for b in policy.bindings if b.role == "roles/editor")
    assert f"serviceAccount:{NUMBER_A}-compute@developer.gserviceaccount.com" in editors.members
    assert f"serviceAccount:legacy-trainer@{PROJECT_A}.iam.gserviceaccount.com" in editors.members
    assert policy.audit_configs[0].audit_log_configs[0].log_type == policy_pb2.AuditLogConfig.DATA_READ
    call = fake_google.requests_to(f"/v3/projects/{PROJECT_A}:getIamPolicy")[0]
    assert call.method == "POST"
    assert call.body == {"options": {"requestedPolicyVersion": 3}}


def test_get_iam_policy_below_version_3_hides_conditions(projects_client: Any) -> None:
    policy = _policy(projects_client, PROJECT_A, 1)
    assert policy.version == 1
    assert not any(b.HasField("condition") for b in policy.bindings)
    assert any(re.fullmatch(r"roles/owner_withcond_[0-9a-f]{20}", b.role) for b in policy.bindings)
    unconditional = _policy(projects_client, PROJECT_B, 3)
    assert unconditional.version == 1


# --------------------------------------------------------------------------- faults and retries


def test_permission_denied_fault(fake_google: FakeGoogle, google_client: ClientFactory) -> None:
    fake_google.deny(f"/v1/projects/{NUMBER_A}/locations/{US}/endpoints")
    client = google_client(aiplatform_v1.EndpointServiceClient)
    for _ in range(2):
        with pytest.raises(exceptions.Forbidden) as caught:
            list(client.list_endpoints(parent=f"projects/{PROJECT_A}/locations/{US}"))
    assert caught.value.code == 403
    assert caught.value.reason == "IAM_PERMISSION_DENIED"
    assert list(client.list_endpoints(parent=f"projects/{PROJECT_A}/locations/{EU}"))


def test_rest_errors_map_by_http_status_not_by_google_status(
    fake_google: FakeGoogle, google_client: ClientFactory
) -> None:
    """The REST transport picks the exception from the HTTP code alone.

    403 PERMISSION_DENIED arrives as ``Forbidden`` (the base class of
    ``PermissionDenied``), 429 RESOURCE_EXHAUSTED as ``TooManyRequests`` and 400
    INVALID_ARGUMENT as ``BadRequest``: catch and retry on the base classes, which
    also cover the gRPC transport's subclasses.
    """
    client = google_client(aiplatform_v1.EndpointServiceClient)
    parent = f"projects/{PROJECT_A}/locations/{US}"
    expected = {
        403: exceptions.Forbidden,
        429: exceptions.TooManyRequests,
        500: exceptions.InternalServerError,
        503: exceptions.ServiceUnavailable,
        504: exceptions.GatewayTimeout,
    }
    for status, exception_class in expected.items():
        fake_google.fail("/v1/" + parent, status, times=1)
        with pytest.raises(exceptions.GoogleAPICallError) as caught:
            list(client.list_endpoints(parent=parent))
        assert type(caught.value) is exception_class, status
        assert caught.value.code == status
    request = aiplatform_v1.ListEndpointsRequest(parent=parent, filter="nonsense")
    with pytest.raises(exceptions.GoogleAPICallError) as caught:
        list(client.list_endpoints(request=request))
    assert type(caught.value) is exceptions.BadRequest


def test_service_disabled_fault(fake_google: FakeGoogle, google_client: ClientFactory) -> None:
    fault = fake_google.disable_service(f"/v1/projects/{PROJECT_B}/")
    client = google_client(aiplatform_v1.ModelServiceClient)
    with pytest.raises(exceptions.Forbidden) as caught:
        list(client.list_models(parent=f"projects/{NUMBER_B}/locations/{US}"))
    assert caught.value.reason == "SERVICE_DISABLED"
    assert caught.value.domain == "googleapis.com"
    assert caught.value.metadata is not None
    assert caught.value.metadata["service"] == "aiplatform.googleapis.com"
    assert caught.value.metadata["consumer"] == f"projects/{NUMBER_B}"
    assert fault.hits == 1


def test_rate_limit_is_not_retried_by_default(fake_google: FakeGoogle, google_client: ClientFactory) -> None:
    fake_google.rate_limit(f"/v1/projects/{PROJECT_A}/locations/{US}/models", times=1)
    client = google_client(aiplatform_v1.ModelServiceClient)
    with pytest.raises(exceptions.TooManyRequests) as caught:
        list(client.list_models(parent=f"projects/{PROJECT_A}/locations/{US}"))
    assert caught.value.code == 429
    assert caught.value.reason == "RATE_LIMIT_EXCEEDED"
    assert len(fake_google.requests) == 1


def test_rate_limit_retried_with_caller_retry(fake_google: FakeGoogle, google_client: ClientFactory) -> None:
    fault = fake_google.rate_limit(f"/v1/projects/{PROJECT_A}/locations/{US}/models", times=1)
    client = google_client(aiplatform_v1.ModelServiceClient)
    pager = client.list_models(
        parent=f"projects/{PROJECT_A}/locations/{US}", retry=fast_retry(exceptions.TooManyRequests)
    )
    assert len(list(pager)) == 5
    assert fault.hits == 1 and not fault.active
    assert [r.status for r in fake_google.requests] == [429, 200, 200, 200]


def test_caller_retry_also_covers_later_pages(fake_google: FakeGoogle, google_client: ClientFactory) -> None:
    client = google_client(aiplatform_v1.ModelServiceClient)
    pager = client.list_models(
        parent=f"projects/{PROJECT_A}/locations/{US}",
        retry=fast_retry(exceptions.TooManyRequests, exceptions.ServiceUnavailable),
    )
    pages = iter(pager.pages)
    assert len(next(pages).models) == 2
    fake_google.rate_limit("/v1/projects", times=2)
    fake_google.unavailable("/v1/projects", times=1)
    remaining = [m.name for page in pages for m in page.models]
    assert len(remaining) == 3
    assert [r.status for r in fake_google.requests] == [200, 429, 429, 503, 200, 200]


def test_vertex_503_is_not_retried_by_default(fake_google: FakeGoogle, google_client: ClientFactory) -> None:
    fake_google.unavailable(f"/v1/projects/{PROJECT_A}/locations/{US}/endpoints", times=1)
    client = google_client(aiplatform_v1.EndpointServiceClient)
    with pytest.raises(exceptions.ServiceUnavailable):
        list(client.list_endpoints(parent=f"projects/{PROJECT_A}/locations/{US}"))
    fake_google.unavailable(f"/v1/projects/{PROJECT_A}/locations/{US}/endpoints", times=1, status=500)
    with pytest.raises(exceptions.InternalServerError):
        list(client.list_endpoints(parent=f"projects/{PROJECT_A}/locations/{US}"))


def test_resource_manager_default_retries(fake_google: FakeGoogle, projects_client: Any) -> None:
    """get_project and get_iam_policy retry 503 by default; 429 and search_projects do not."""
    fake_google.unavailable(f"/v3/projects/{PROJECT_A}", times=1)
    assert projects_client.get_project(name=f"projects/{PROJECT_A}").project_id == PROJECT_A
    fake_google.unavailable(f"/v3/projects/{PROJECT_A}:getIamPolicy", times=1)
    assert _policy(projects_client, PROJECT_A, 3).version == 3
    assert [r.status for r in fake_google.requests] == [503, 200, 503, 200]
    fake_google.rate_limit(f"/v3/projects/{PROJECT_A}:getIamPolicy", times=1)
    with pytest.raises(exceptions.TooManyRequests):
        _policy(projects_client, PROJECT_A, 3)
    fake_google.unavailable("/v3/projects:search", times=1)
    with pytest.raises(exceptions.ServiceUnavailable):
        list(projects_client.search_projects())


def test_fault_for_one_method_only(fake_google: FakeGoogle, projects_client: Any) -> None:
    fake_google.fail(f"/v3/projects/{PROJECT_A}", 403, method="POST")
    assert projects_client.get_project(name=f"projects/{PROJECT_A}").project_id == PROJECT_A
    with pytest.raises(exceptions.Forbidden) as caught:
        _policy(projects_client, PROJECT_A, 3)
    assert caught.value.metadata is not None
    assert caught.value.metadata["permission"] == "resourcemanager.projects.getIamPolicy"
    fake_google.clear_faults()
    assert _policy(projects_client, PROJECT_A, 3).etag


# --------------------------------------------------------------------------- transport details


def test_authorization_is_checked_when_required() -> None:
    with FakeGoogle(require_auth=True) as fake:
        anonymous = aiplatform_v1.ModelServiceClient(
            transport="rest",
            credentials=cast(Callable[[], Credentials], AnonymousCredentials)(),
            client_options={"api_endpoint": fake.url},
        )
        # A 401 makes the session refresh the credentials; anonymous ones cannot refresh.
        with pytest.raises(auth_exceptions.InvalidOperation):
            list(anonymous.list_models(parent=f"projects/{PROJECT_A}/locations/{US}"))
        token = cast(Callable[..., Credentials], OAuthCredentials)(token="fake-access-token")
        signed = aiplatform_v1.ModelServiceClient(
            transport="rest", credentials=token, client_options={"api_endpoint": fake.url}
        )
        assert len(list(signed.list_models(parent=f"projects/{PROJECT_A}/locations/{US}"))) == 5
        assert fake.requests[-1].headers["authorization"] == "Bearer fake-access-token"
        assert fake.requests[0].status == 401
        status, body = raw_get(f"{fake.url}/v3/projects/{PROJECT_A}")
        assert status == 401 and body["error"]["status"] == "UNAUTHENTICATED"


def test_unknown_paths_get_a_google_404(fake_google: FakeGoogle) -> None:
    for path in ("/v1/projects/ml-prod-4821/locations/us-central1/batchPredictionJobs", "/v2/anything", "/"):
        status, body = raw_get(fake_google.url + path)
        assert status == 404, path
        assert body["error"]["code"] == 404 and body["error"]["status"] == "NOT_FOUND"


def test_stop_closes_idle_keep_alive_connections() -> None:
    fake = FakeGoogle().start()
    connection = socket.create_connection(("127.0.0.1", fake.port))
    connection.sendall(b"GET /v3/projects/ml-prod-4821 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert connection.recv(64).startswith(b"HTTP/1.1 200")
    fake.stop()
    connection.settimeout(5)
    data = b"x"
    while data:
        data = connection.recv(65536)
    connection.close()
    with pytest.raises(RuntimeError):
        _ = fake.url


# --------------------------------------------------------------------------- rule coverage of the demo estate


def test_demo_estate_has_a_pass_and_a_fail_for_every_gcp_rule() -> None:
    outcomes = wire_outcomes()
    for rule, expected_fails in EXPECTED_FAILS.items():
        evaluated = {label: passed for (r, label), passed in outcomes.items() if r == rule}
        fails = {label for label, passed in evaluated.items() if not passed}
        assert fails == expected_fails, rule
        assert len(evaluated) > len(fails) > 0, rule
    assert ("SEC-001", "recsys-automl-tabular") not in outcomes  # no containerSpec: skipped


def test_demo_estate_iam_edge_cases() -> None:
    estate = demo_estate()
    policy = estate["projects"][0]["iamPolicy"]
    conditional = [b for b in policy["bindings"] if "condition" in b]
    assert conditional and conditional[0]["role"] == "roles/owner"
    unset = [
        r["displayName"]
        for collection, r in all_resources()
        if collection == "customJobs" and "serviceAccount" not in r["jobSpec"]
    ]
    assert unset == ["recsys-hp-sweep-trial-7"]
    labelled = [r for _, r in all_resources() if {"owner", "cost-center"} <= set(r.get("labels", {}))]
    unlabelled = [r for _, r in all_resources() if "owner" not in r.get("labels", {})]
    assert labelled and unlabelled


# --------------------------------------------------------------------------- Cloud Storage bucket IAM


def test_bucket_iam_answers_the_storage_client_as_cloud_storage_does(fake_google: FakeGoogle) -> None:
    """google-cloud-storage's own client reads the demo buckets' policies; an unknown bucket is its NotFound and
    a denied one its Forbidden, with the JSON API's errors[] reason."""
    from google.cloud import storage

    client = storage.Client(project="ml-prod-4821", credentials=cast(Credentials, AnonymousCredentials()),
                            client_options={"api_endpoint": fake_google.url})
    policy = client.bucket("ml-prod-4821-training").get_iam_policy()
    assert {"allUsers"} <= set(policy["roles/storage.objectViewer"])
    assert policy.etag == "CAI=" and policy.version == 1
    private = client.bucket("ml-prod-4821-models").get_iam_policy()
    assert not any(m in ("allUsers", "allAuthenticatedUsers") for members in private.values() for m in members)
    with pytest.raises(exceptions.NotFound, match="does not exist"):
        client.bucket("no-such-bucket-4821").get_iam_policy()
    fake_google.deny("/storage/v1/b/ml-prod-4821-data/iam")
    with pytest.raises(exceptions.Forbidden, match=r"storage\.buckets\.getIamPolicy"):
        client.bucket("ml-prod-4821-data").get_iam_policy()
    recorded = [r for r in fake_google.requests_to("/storage/v1/b/") if r.path.endswith("/iam")]
    assert [r.status for r in recorded] == [200, 200, 404, 403]   # (the client also GETs bucket metadata: 404)
    body = fake_google.handle("GET", "/storage/v1/b/no-such-bucket-4821/iam", {}, {}, None).body
    assert body["error"]["errors"] == [{"message": "The specified bucket does not exist.", "domain": "global",
                                        "reason": "notFound"}]


def test_estate_buckets_are_validated() -> None:
    estate = demo_estate()
    estate["buckets"].append({"name": "x-bucket", "projectNumber": "1", "iamPolicy": {}})
    with pytest.raises(EstateError, match="projectNumber"):
        FakeGoogle(estate)

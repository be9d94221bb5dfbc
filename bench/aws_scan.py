"""Benchmark: a full ``aispm scan --provider aws`` of a large region served by a local moto server.

Fills a ThreadedMotoServer on 127.0.0.1 with 500 models, 500 endpoint configs,
500 endpoints and 200 notebook instances, and the generative AI estate of rules v2:
200 Bedrock agents, 200 knowledge bases with 2 data sources each, 100 guardrails,
100 custom models (half fine-tuned, half imported) and 300 feature groups. Scans it
in a subprocess through ``AWS_ENDPOINT_URL``, and prints wall time, the scan
process's peak RSS and API calls per asset (from summary.json). Not a test:
numbers depend on the machine.

With ``--latency-ms N`` the scan reaches moto through a loopback proxy that adds N ms to every call
(bench/latency_proxy.py) and the bench prints what a latency-bound scan is judged by: calls (counted by the
proxy and by summary.json), calls per resource, the most calls in flight, the achieved concurrency
(calls x latency / wall) and the bound calls x latency / configured concurrency. The estate is filled
straight into moto, never through the proxy. ``--v1`` is the estate of the latency targets: 1,700 SageMaker
resources of every v1 kind in one region, no Bedrock.

    python bench/aws_scan.py [--models 500] [--notebooks 200] [--agents 200] [--knowledge-bases 200]
                             [--guardrails 100] [--custom-models 100] [--feature-groups 300]
                             [--training-jobs N] [--processing-jobs N] [--user-profiles N] [--spaces N]
                             [--package-groups N] [--schedules N] [--v1] [--latency-ms 50] [--workers N]
                             [--baseline | --replay]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from aispm.testing import moto_gaps
from bench.latency_proxy import Answers, LatencyProxy
from bench.scan_bench import ENV, configured, latency_lines, run_scan

ACCOUNT, REGION = "123456789012", "us-east-1"   # moto's default account
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/bench"
SOURCES_PER_KB = 2
# Knowledge-base data sources spread over this many corpus buckets (AISPM-PRV-003 reads each bucket once).
CORPUS_BUCKETS = 20


@dataclass(frozen=True)
class Estate:
    models: int = 500
    notebooks: int = 200
    agents: int = 200
    knowledge_bases: int = 200
    guardrails: int = 100
    custom_models: int = 100
    feature_groups: int = 300
    training_jobs: int = 0
    processing_jobs: int = 0
    user_profiles: int = 0   # with spaces: in one Studio domain, made when either is asked for
    spaces: int = 0
    package_groups: int = 0
    schedules: int = 0   # monitoring schedules, one per endpoint from the first

    @property
    def generative(self) -> bool:
        return any((self.agents, self.knowledge_bases, self.guardrails, self.custom_models, self.feature_groups))

    @property
    def resources(self) -> int:
        """What the estate holds (the scan adds a region's AI service settings where Bedrock is offered)."""
        return (3 * self.models + self.notebooks + self.agents + (1 + SOURCES_PER_KB) * self.knowledge_bases
                + self.guardrails + self.custom_models + self.feature_groups + self.training_jobs
                + self.processing_jobs + (1 if self.user_profiles or self.spaces else 0) + self.user_profiles
                + self.spaces + self.package_groups + self.schedules)


# The estate of the latency targets: 1,700 SageMaker resources of every v1 kind, no Bedrock.
V1 = Estate(models=400, notebooks=200, agents=0, knowledge_bases=0, guardrails=0, custom_models=0, feature_groups=0,
            training_jobs=50, processing_jobs=50, user_profiles=79, spaces=20, package_groups=50, schedules=50)


def fill(url: str, estate: Estate) -> None:
    """The SageMaker estate through the server; then the generative AI one."""
    models, notebooks = estate.models, estate.notebooks
    kw: Any = {"region_name": REGION, "endpoint_url": url}
    iam = boto3.client("iam", **kw)
    role = iam.create_role(RoleName="exec", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    iam.put_role_policy(RoleName="exec", PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
    sm = boto3.client("sagemaker", **kw)

    def chain(i: int) -> None:
        sm.create_model(ModelName=f"model-{i}", ExecutionRoleArn=role,
                        PrimaryContainer={"Image": "img", "Environment": {"WORKERS": "2"}})
        sm.create_endpoint_config(EndpointConfigName=f"config-{i}", ProductionVariants=[
            {"VariantName": "v", "ModelName": f"model-{i}", "InitialInstanceCount": 1 + i % 2,
             "InstanceType": "ml.m5.large"}])
        sm.create_endpoint(EndpointName=f"endpoint-{i}", EndpointConfigName=f"config-{i}")

    def notebook(i: int) -> None:
        sm.create_notebook_instance(NotebookInstanceName=f"notebook-{i}", InstanceType="ml.t3.medium", RoleArn=role)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(chain, range(models)))
        list(pool.map(notebook, range(notebooks)))
    fill_v1_rest(url, estate, role)
    if estate.generative:
        fill_generative(url, estate, role)


def fill_v1_rest(url: str, estate: Estate, role: str) -> None:
    """Training and processing jobs, a Studio domain with user profiles and spaces, model package groups and
    monitoring schedules. moto lacks the listing of profiles, spaces and schedules: seeded into the store."""
    sm: Any = boto3.client("sagemaker", region_name=REGION, endpoint_url=url)
    cluster = {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}}

    def training(i: int) -> None:
        sm.create_training_job(
            TrainingJobName=f"train-{i}", RoleArn=role,
            AlgorithmSpecification={"TrainingImage": "img", "TrainingInputMode": "File"},
            StoppingCondition={"MaxRuntimeInSeconds": 60}, OutputDataConfig={"S3OutputPath": "s3://out/"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1})

    def processing(i: int) -> None:
        sm.create_processing_job(ProcessingJobName=f"process-{i}", RoleArn=role,
                                 AppSpecification={"ImageUri": "img"}, ProcessingResources=cluster)

    def group(i: int) -> None:
        sm.create_model_package_group(ModelPackageGroupName=f"group-{i}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(training, range(estate.training_jobs)))
        list(pool.map(processing, range(estate.processing_jobs)))
        list(pool.map(group, range(estate.package_groups)))
    if estate.user_profiles or estate.spaces:
        domain = sm.create_domain(DomainName="studio", AuthMode="IAM", DefaultUserSettings={"ExecutionRole": role},
                                  SubnetIds=["subnet-1"], VpcId="vpc-1")["DomainArn"].rsplit("/", 1)[-1]
        for i in range(estate.user_profiles):
            moto_gaps.add_user_profile(ACCOUNT, REGION, domain, f"user-{i}")
        for i in range(estate.spaces):
            moto_gaps.add_space(ACCOUNT, REGION, domain, f"space-{i}")
    for i in range(min(estate.schedules, estate.models)):
        moto_gaps.add_monitoring_schedule(ACCOUNT, REGION, f"schedule-{i}", f"endpoint-{i}")


def fill_generative(url: str, estate: Estate, role: str) -> None:
    """Agents (each associated with one knowledge base), knowledge bases with their data sources, guardrails,
    custom and imported models, feature groups and the region's invocation logging. What moto lacks
    (guardrails, imported models, data sources, agent knowledge bases) is seeded straight into the extension's
    store, which the in-process server answers from."""
    kw: Any = {"region_name": REGION, "endpoint_url": url}
    agents: Any = boto3.client("bedrock-agent", **kw)
    bedrock: Any = boto3.client("bedrock", **kw)
    sm: Any = boto3.client("sagemaker", **kw)
    s3: Any = boto3.client("s3", **kw)
    for bucket in ["models", "train", "out", "features", *(f"corpus-{n}" for n in range(CORPUS_BUCKETS))]:
        s3.create_bucket(Bucket=bucket)
    guardrails = [moto_gaps.add_guardrail(ACCOUNT, REGION, f"guardrail-{i}", contentPolicy={"filters": [
        {"type": "PROMPT_ATTACK", "inputStrength": "HIGH", "outputStrength": "NONE"}]})
        for i in range(estate.guardrails)]
    features = [{"FeatureName": "id", "FeatureType": "String"}, {"FeatureName": "at", "FeatureType": "String"}]

    def agent(i: int) -> str:
        extra = {"guardrailConfiguration": {"guardrailIdentifier": guardrails[i % len(guardrails)],
                                            "guardrailVersion": "DRAFT"}} if guardrails and i % 2 else {}
        return str(agents.create_agent(agentName=f"agent-{i}", agentResourceRoleArn=role, foundationModel="m",
                                       **extra)["agent"]["agentId"])

    def knowledge_base(i: int) -> str:
        kb = agents.create_knowledge_base(
            name=f"kb-{i}", roleArn=role,
            knowledgeBaseConfiguration={"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {
                "embeddingModelArn": f"arn:aws:bedrock:{REGION}::foundation-model/amazon.titan-embed-text-v2:0"}},
            storageConfiguration={"type": "OPENSEARCH_SERVERLESS", "opensearchServerlessConfiguration": {
                "collectionArn": f"arn:aws:aoss:{REGION}:{ACCOUNT}:collection/c{i}", "vectorIndexName": "i",
                "fieldMapping": {"vectorField": "v", "textField": "t", "metadataField": "m"}}},
        )["knowledgeBase"]["knowledgeBaseId"]
        for j in range(SOURCES_PER_KB):
            corpus = f"arn:aws:s3:::corpus-{(i * SOURCES_PER_KB + j) % CORPUS_BUCKETS}"
            moto_gaps.add_data_source(ACCOUNT, REGION, kb, f"kb-{i}-source-{j}", corpus,
                                      kms_key=KEY if j else None)
        return str(kb)

    def custom_model(i: int) -> None:
        if i % 2:
            moto_gaps.add_imported_model(ACCOUNT, REGION, f"imported-{i}", f"s3://models/imported-{i}/")
            return
        bedrock.create_model_customization_job(
            jobName=f"tune-{i}", customModelName=f"tuned-{i}", roleArn=role, baseModelIdentifier="base",
            trainingDataConfig={"s3Uri": "s3://train/data.jsonl"}, outputDataConfig={"s3Uri": "s3://out/"},
            hyperParameters={}, customModelKmsKeyId=KEY)

    def feature_group(i: int) -> None:
        sm.create_feature_group(
            FeatureGroupName=f"features-{i}", RecordIdentifierFeatureName="id", EventTimeFeatureName="at",
            FeatureDefinitions=features, RoleArn=role,
            OfflineStoreConfig={"S3StorageConfig": {"S3Uri": f"s3://features/{i}"}})

    with ThreadPoolExecutor(max_workers=8) as pool:
        agent_ids = list(pool.map(agent, range(estate.agents)))
        kb_ids = list(pool.map(knowledge_base, range(estate.knowledge_bases)))
        list(pool.map(custom_model, range(estate.custom_models)))
        list(pool.map(feature_group, range(estate.feature_groups)))
    for i, agent_id in enumerate(agent_ids if kb_ids else []):
        moto_gaps.add_agent_knowledge_base(ACCOUNT, REGION, agent_id, kb_ids[i % len(kb_ids)])
    bedrock.put_model_invocation_logging_configuration(loggingConfig={
        "s3Config": {"bucketName": "invocation-logs"}, "textDataDeliveryEnabled": True})


def describes(url: str, estate: Estate) -> list[tuple[Any, dict[str, str]]]:
    """The describe-like calls the scan makes, one per asset (and per data source, and per agent its knowledge
    bases)."""
    kw: Any = {"region_name": REGION, "endpoint_url": url}
    sm: Any = boto3.client("sagemaker", **kw)
    agents: Any = boto3.client("bedrock-agent", **kw)
    bedrock: Any = boto3.client("bedrock", **kw)
    work: list[tuple[Any, dict[str, str]]] = [
        (sm.describe_model, {"ModelName": f"model-{i}"}) for i in range(estate.models)]
    work += [(sm.describe_endpoint_config, {"EndpointConfigName": f"config-{i}"}) for i in range(estate.models)]
    work += [(sm.describe_notebook_instance, {"NotebookInstanceName": f"notebook-{i}"})
             for i in range(estate.notebooks)]
    work += [(sm.describe_feature_group, {"FeatureGroupName": f"features-{i}"})
             for i in range(estate.feature_groups)]
    for a in agents.list_agents(maxResults=1000)["agentSummaries"]:
        work += [(agents.get_agent, {"agentId": a["agentId"]}),
                 (agents.list_agent_knowledge_bases, {"agentId": a["agentId"], "agentVersion": "DRAFT"})]
    for kb in agents.list_knowledge_bases(maxResults=1000)["knowledgeBaseSummaries"]:
        kb_id = kb["knowledgeBaseId"]
        work.append((agents.get_knowledge_base, {"knowledgeBaseId": kb_id}))
        work += [(agents.get_data_source, {"knowledgeBaseId": kb_id, "dataSourceId": d["dataSourceId"]})
                 for d in agents.list_data_sources(knowledgeBaseId=kb_id)["dataSourceSummaries"]]
    work += [(bedrock.get_guardrail, {"guardrailIdentifier": g["id"]})
             for g in bedrock.list_guardrails(maxResults=1000)["guardrails"]]
    work += [(bedrock.get_custom_model, {"modelIdentifier": m["modelArn"]})
             for m in bedrock.list_custom_models(maxResults=1000)["modelSummaries"]]
    work += [(bedrock.get_imported_model, {"modelIdentifier": m["modelArn"]})
             for m in bedrock.list_imported_models(maxResults=1000)["modelSummaries"]]
    return work


def emulator_floor(work: list[tuple[Any, dict[str, str]]]) -> float:
    """Seconds the emulator needs to answer the describes the scan makes, 8 at a time, with bare boto3.

    Endpoints are not among them: the scan reads their config names from Search pages.
    """
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda w: w[0](**w[1]), work))
    return time.monotonic() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", type=int, default=None, help="models, endpoint configs and endpoints each (500)")
    p.add_argument("--notebooks", type=int, default=None, help="(200)")
    p.add_argument("--agents", type=int, default=None, help="(200)")
    p.add_argument("--knowledge-bases", type=int, default=None, help=f"each with {SOURCES_PER_KB} data sources (200)")
    p.add_argument("--guardrails", type=int, default=None, help="(100)")
    p.add_argument("--custom-models", type=int, default=None, help="half fine-tuned, half imported (100)")
    p.add_argument("--feature-groups", type=int, default=None, help="(300)")
    p.add_argument("--training-jobs", type=int, default=None, help="(0)")
    p.add_argument("--processing-jobs", type=int, default=None, help="(0)")
    p.add_argument("--user-profiles", type=int, default=None, help="in one Studio domain (0)")
    p.add_argument("--spaces", type=int, default=None, help="in the same domain (0)")
    p.add_argument("--package-groups", type=int, default=None, help="model package groups (0)")
    p.add_argument("--schedules", type=int, default=None, help="monitoring schedules on the first endpoints (0)")
    p.add_argument("--v1", action="store_true", help="start from the v1 estate: 1,700 SageMaker resources, no "
                   "Bedrock (400 models, configs and endpoints, 200 notebooks, 50 training and 50 processing "
                   "jobs, a domain with 79 user profiles and 20 spaces, 50 package groups, 50 schedules)")
    p.add_argument("--latency-ms", type=float, default=0.0, help="add this round trip to every scan call (proxy)")
    p.add_argument("--workers", type=int, default=None, help="the scan's --workers (default: the scan's own)")
    p.add_argument("--baseline", action="store_true", help="with --latency-ms: first scan once without added "
                   "latency (the emulator's and the scan's own CPU time: what no concurrency can hide)")
    p.add_argument("--replay", action="store_true", help="with --latency-ms: scan once without added latency "
                   "(as --baseline), keeping moto's answers, and serve the measured scan from them: the emulator's "
                   "CPU out of the measured run (bench/latency_proxy.py)")
    p.add_argument("--fixed-cost", type=float, default=None,
                   help="seconds of fixed cost (bench/fixed_cost.py) to add to the target 1.5 x bound")
    p.add_argument("--checkout", type=Path, default=None,
                   help="scan with the aispm of this source tree (default: this one), to compare revisions")
    args = p.parse_args()
    base = V1 if args.v1 else Estate()
    chosen = {f: getattr(args, f) for f in base.__dataclass_fields__ if getattr(args, f) is not None}
    estate = Estate(**{**base.__dict__, **chosen})
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto_gaps.install()   # ListMonitoringSchedules, ListGuardrails etc. answer in the server, as on AWS
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    proxy = None
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        os.environ.update(ENV)
        t0 = time.monotonic()
        fill(url, estate)
        print(f"filled {estate.resources:,} resources in {time.monotonic() - t0:.1f}s")
        scan_args = ["--region", REGION, *(["--workers", str(args.workers)] if args.workers else [])]
        zero = None
        answers: Answers | None = {} if args.replay else None
        if args.latency_ms and (args.baseline or args.replay):
            baseline = LatencyProxy(url, 0, answers=answers).start()
            try:
                with tempfile.TemporaryDirectory() as out:
                    zero = run_scan(baseline.url, Path(out), scan_args, args.checkout)
            finally:
                baseline.stop()
            print(f"baseline at 0 ms: wall {zero.wall:.1f}s  scan CPU {zero.cpu:.1f}s  calls {baseline.stats().calls}  "
                  f"max in flight {baseline.stats().max_in_flight}  peak RSS {zero.peak_mb:.0f} MB")
        if args.latency_ms:
            proxy = LatencyProxy(url, args.latency_ms, answers=answers).start()
        with tempfile.TemporaryDirectory() as out:
            # A first scan: no lifecycle state from earlier runs, and none left in the user's state file.
            run = run_scan(proxy.url if proxy else url, Path(out), scan_args, args.checkout)
        if run.returncode not in (0, 3):
            print(run.stderr, file=sys.stderr)
            return 1
        stats = proxy.stats() if proxy else None
        if stats is None:
            work = describes(url, estate)
            floor = emulator_floor(work)
    finally:
        if proxy:
            proxy.stop()
        server.stop()
    summary, calls = run.summary, run.calls
    if run.returncode == 3:
        print(f"scan exit 3 (partial): {run.stderr.strip().splitlines()[0][:300]}", file=sys.stderr)
    print(f"assets: {summary['assets']}  findings: {summary['findings']}")
    print(f"of which SageMaker {_count(calls, 'sagemaker:')}, Bedrock {_count(calls, 'bedrock')}, "
          f"IAM {_count(calls, 'iam:')}")
    print(json.dumps(calls, indent=1))
    if stats is None:
        print(f"the emulator alone answers the scan's {len(work)} describes in {floor:.1f}s (bare boto3, 8 threads)")
        print(f"wall time: {run.wall:.1f}s  peak RSS: {run.peak_mb:.0f} MB  "
              f"API calls: {run.total_calls} ({summary['api_calls_per_asset']} per asset)")
        return 0
    for line in latency_lines(run, stats, args.latency_ms, configured(args.workers, 1, args.checkout),
                              estate.resources, args.fixed_cost, zero):
        print(line)
    return 0


def _count(calls: dict[str, int], prefix: str) -> str:
    return f"{sum(n for op, n in calls.items() if op.startswith(prefix)):,}"


if __name__ == "__main__":
    raise SystemExit(main())

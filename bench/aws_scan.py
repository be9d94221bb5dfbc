"""Benchmark: a full ``aispm scan --provider aws`` of a large region served by a local moto server.

Fills a ThreadedMotoServer on 127.0.0.1 with 500 models, 500 endpoint configs,
500 endpoints and 200 notebook instances, and the generative AI estate of rules v2:
200 Bedrock agents, 200 knowledge bases with 2 data sources each, 100 guardrails,
100 custom models (half fine-tuned, half imported) and 300 feature groups. Scans it
in a subprocess through ``AWS_ENDPOINT_URL``, and prints wall time, the scan
process's peak RSS and API calls per asset (from summary.json). Not a test:
numbers depend on the machine.

    python bench/aws_scan.py [--models 500] [--notebooks 200] [--agents 200] [--knowledge-bases 200]
                             [--guardrails 100] [--custom-models 100] [--feature-groups 300]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
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

ROOT = Path(__file__).resolve().parents[1]
# Runs the scan as its own child and reports that child's peak RSS: measured from the bench process itself,
# the fork would count the bench's (and the emulator's) pages before exec.
MEASURE = ("import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:], check=False).returncode; "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(rc)")
ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
}
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
    fill_generative(url, estate, role)


def fill_generative(url: str, estate: Estate, role: str) -> None:
    """Agents, knowledge bases with their data sources, guardrails, custom and imported models, feature
    groups and the region's invocation logging. What moto lacks (guardrails, imported models, data sources)
    is seeded straight into the extension's store, which the in-process server answers from."""
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

    def agent(i: int) -> None:
        extra = {"guardrailConfiguration": {"guardrailIdentifier": guardrails[i % len(guardrails)],
                                            "guardrailVersion": "DRAFT"}} if guardrails and i % 2 else {}
        agents.create_agent(agentName=f"agent-{i}", agentResourceRoleArn=role, foundationModel="m", **extra)

    def knowledge_base(i: int) -> None:
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
        list(pool.map(agent, range(estate.agents)))
        list(pool.map(knowledge_base, range(estate.knowledge_bases)))
        list(pool.map(custom_model, range(estate.custom_models)))
        list(pool.map(feature_group, range(estate.feature_groups)))
    bedrock.put_model_invocation_logging_configuration(loggingConfig={
        "s3Config": {"bucketName": "invocation-logs"}, "textDataDeliveryEnabled": True})


def describes(url: str, estate: Estate) -> list[tuple[Any, dict[str, str]]]:
    """The describe-like calls the scan makes, one per asset (and per data source)."""
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
    work += [(agents.get_agent, {"agentId": a["agentId"]})
             for a in agents.list_agents(maxResults=1000)["agentSummaries"]]
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
    p.add_argument("--models", type=int, default=500, help="models, endpoint configs and endpoints each")
    p.add_argument("--notebooks", type=int, default=200)
    p.add_argument("--agents", type=int, default=200)
    p.add_argument("--knowledge-bases", type=int, default=200, help=f"each with {SOURCES_PER_KB} data sources")
    p.add_argument("--guardrails", type=int, default=100)
    p.add_argument("--custom-models", type=int, default=100, help="half fine-tuned, half imported")
    p.add_argument("--feature-groups", type=int, default=300)
    args = p.parse_args()
    estate = Estate(args.models, args.notebooks, args.agents, args.knowledge_bases, args.guardrails,
                    args.custom_models, args.feature_groups)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto_gaps.install()   # ListMonitoringSchedules, ListGuardrails etc. answer in the server, as on AWS
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        os.environ.update(ENV)
        t0 = time.monotonic()
        fill(url, estate)
        print(f"filled in {time.monotonic() - t0:.1f}s")
        with tempfile.TemporaryDirectory() as out:
            # A first scan: no lifecycle state from earlier runs, and none left in the user's state file.
            env = {**os.environ, **ENV, "AWS_ENDPOINT_URL": url, "XDG_STATE_HOME": str(Path(out) / "state")}
            t0 = time.monotonic()
            proc = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-m", "aispm", "scan", "--provider",
                                   "aws", "--region", "us-east-1", "--out", out], cwd=ROOT, env=env,
                                  capture_output=True, text=True, check=False)
            wall = time.monotonic() - t0
            peak_mb = int(proc.stderr.strip().splitlines()[-1]) / 1024
            if proc.returncode not in (0, 3):
                print(proc.stderr, file=sys.stderr)
                return 1
            summary = json.loads((Path(out) / "summary.json").read_text())
        work = describes(url, estate)
        floor = emulator_floor(work)
    finally:
        server.stop()
    calls = summary["api_calls"]["aws"]
    print(f"assets: {summary['assets']}  findings: {summary['findings']}")
    print(f"wall time: {wall:.1f}s  peak RSS: {peak_mb:.0f} MB  "
          f"API calls: {sum(calls.values())} ({summary['api_calls_per_asset']} per asset)")
    print(f"the emulator alone answers the scan's {len(work)} describes in {floor:.1f}s (bare boto3, 8 threads)")
    print(f"of which SageMaker {_count(calls, 'sagemaker:')}, Bedrock {_count(calls, 'bedrock')}, "
          f"IAM {_count(calls, 'iam:')}")
    print(json.dumps(calls, indent=1))
    return 0


def _count(calls: dict[str, int], prefix: str) -> str:
    return f"{sum(n for op, n in calls.items() if op.startswith(prefix)):,}"


if __name__ == "__main__":
    raise SystemExit(main())

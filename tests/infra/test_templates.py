"""Checks of the deployment templates: least privilege, SAM <-> Terraform parity, the state machine's contract,
cfn-lint, and the Lambda build script.

Needs cfn-lint (its CloudFormation YAML loader and its linter) and python-hcl2 (or checkov's bc-python-hcl2, which
installs the same `hcl2` module with a different output shape; both are handled below).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import hcl2
import pytest
from cfnlint.decode import cfn_yaml

from tests.support.aws_calls import AWS_READ_SERVICES, NOT_SHIPPED, SERVICES, STACK_SERVICES, Call, Graph, graph

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO / "template.yaml"
MEMBER_ROLE_PATH = REPO / "infra" / "member-role.yaml"
TF_DIR = REPO / "infra" / "terraform"
ASL_PATH = REPO / "statemachine" / "scan.asl.json"
README_PATH = REPO / "infra" / "README.md"
MAKEFILE_PATH = REPO / "Makefile"
BUILD_SCRIPT = REPO / "scripts" / "build_lambda.py"

# ------------------------------------------------------------------ the mapping tables SAM <-> Terraform

TYPE_MAP = {
    "AWS::KMS::Key": "aws_kms_key",
    "AWS::KMS::Alias": "aws_kms_alias",
    "AWS::S3::Bucket": "aws_s3_bucket",
    "AWS::S3::BucketPolicy": "aws_s3_bucket_policy",
    "AWS::DynamoDB::Table": "aws_dynamodb_table",
    "AWS::SQS::Queue": "aws_sqs_queue",
    "AWS::SQS::QueuePolicy": "aws_sqs_queue_policy",
    "AWS::Logs::LogGroup": "aws_cloudwatch_log_group",
    "AWS::IAM::Role": "aws_iam_role",
    "AWS::Serverless::Function": "aws_lambda_function",
    "AWS::Serverless::StateMachine": "aws_sfn_state_machine",
    "AWS::Scheduler::Schedule": "aws_scheduler_schedule",
}
# Terraform splits some SAM resources' properties into resources of their own.
TF_PROPERTY_TYPES = {
    "aws_s3_bucket_ownership_controls": "AWS::S3::Bucket OwnershipControls",
    "aws_s3_bucket_public_access_block": "AWS::S3::Bucket PublicAccessBlockConfiguration",
    "aws_s3_bucket_versioning": "AWS::S3::Bucket VersioningConfiguration",
    "aws_s3_bucket_server_side_encryption_configuration": "AWS::S3::Bucket BucketEncryption",
    "aws_s3_bucket_lifecycle_configuration": "AWS::S3::Bucket LifecycleConfiguration",
    "aws_s3_bucket_logging": "AWS::S3::Bucket LoggingConfiguration (conditional)",
    "aws_iam_role_policy": "AWS::IAM::Role Policies",
}

PARAM_MAP = {
    "ScheduleExpression": "schedule_expression",
    "DetectScheduleExpression": "detect_schedule_expression",
    "MaxConcurrency": "max_concurrency",
    "ToleratedFailurePercentage": "tolerated_failure_percentage",
    "ReserveConcurrency": "reserve_concurrency",
    "Regions": "regions",
    "ScanOrganization": "scan_organization",
    "OrganizationId": "organization_id",
    "MemberRoleName": "member_role_name",
    "ExternalIdSecretArn": "external_id_secret_arn",
    "SplunkHecUrl": "splunk_hec_url",
    "SplunkHecTokenSecretArn": "splunk_hec_token_secret_arn",
    "SplunkIndex": "splunk_index",
    "SplunkAck": "splunk_ack",
    "Sinks": "sinks",
    "SecurityHubRegion": "securityhub_region",
    "AzureCredentialsSecretArn": "azure_credentials_secret_arn",
    "AzureSubscriptions": "azure_subscriptions",
    "GcpWifConfigSecretArn": "gcp_wif_config_secret_arn",
    "GcpProjects": "gcp_projects",
    "ResultsRetentionDays": "results_retention_days",
    "LogRetentionDays": "log_retention_days",
    "AccessLogBucketName": "access_log_bucket_name",
}
TF_ONLY_VARIABLES = {
    "name": "plays the stack name's role (resource name prefix)",
    "artifacts_dir": "where `make build` put the zips (SAM builds itself)",
    "tags": "tags (SAM: sam deploy --tags)",
}

OUTPUT_MAP = {
    "StateMachineArn": "state_machine_arn",
    "ResultsBucketName": "results_bucket_name",
    "StateTableName": "state_table_name",
    "DeadLetterQueueUrl": "dead_letter_queue_url",
    "CollectorRoleArn": "collector_role_arn",
    "AzureCollectorRoleArn": "azure_collector_role_arn",
    "GcpCollectorRoleArn": "gcp_collector_role_arn",
    "ReplayFunctionName": "replay_function_name",
    "EncryptionKeyArn": "encryption_key_arn",
}
REQUIRED_OUTPUTS = {"StateMachineArn", "ResultsBucketName", "StateTableName", "DeadLetterQueueUrl", "CollectorRoleArn"}

FUNCTION_MAP = {  # SAM logical id -> key of local.functions (also the artifact name)
    "PlanFunction": "plan",
    "CollectAwsFunction": "collect-aws",
    "CollectAzureFunction": "collect-azure",
    "CollectGcpFunction": "collect-gcp",
    "DeliverFunction": "deliver",
    "ReplayFunction": "replay",
}
ROLE_MAP = {  # SAM role logical id -> Terraform aws_iam_role / aws_iam_policy_document name
    "CollectorRole": "collector",
    "CollectAzureRole": "collect_azure",
    "CollectGcpRole": "collect_gcp",
    "DeliveryRole": "delivery",
    "StateMachineRole": "state_machine",
    "SchedulerRole": "scheduler",
}

COLLECTOR_FUNCTIONS = ["PlanFunction", "CollectAwsFunction", "CollectAzureFunction", "CollectGcpFunction"]
DELIVER_FUNCTION = "DeliverFunction"

SAGEMAKER_READ_ACTIONS = {
    f"sagemaker:{a}"
    for a in [
        "ListNotebookInstances", "DescribeNotebookInstance", "ListDomains", "DescribeDomain",
        "ListUserProfiles", "DescribeUserProfile", "ListSpaces", "DescribeSpace", "ListModels", "DescribeModel",
        "ListEndpointConfigs", "DescribeEndpointConfig", "ListEndpoints", "DescribeEndpoint",
        "ListTrainingJobs", "DescribeTrainingJob", "ListProcessingJobs", "DescribeProcessingJob",
        "ListModelPackageGroups", "GetModelPackageGroupPolicy", "ListMonitoringSchedules",
        "DescribeMonitoringSchedule", "Search", "ListFeatureGroups", "DescribeFeatureGroup",
        "DescribeNotebookInstanceLifecycleConfig",
        "ListDataQualityJobDefinitions", "DescribeDataQualityJobDefinition",
        "ListModelQualityJobDefinitions", "DescribeModelQualityJobDefinition",
        "ListModelBiasJobDefinitions", "DescribeModelBiasJobDefinition",
        "ListModelExplainabilityJobDefinitions", "DescribeModelExplainabilityJobDefinition",
    ]
}
# Bedrock and its agents API (boto3 "bedrock-agent") authorize under the one bedrock: prefix.
BEDROCK_READ_ACTIONS = {
    f"bedrock:{a}"
    for a in [
        "ListGuardrails", "GetGuardrail", "ListCustomModels", "GetCustomModel", "ListImportedModels",
        "GetImportedModel", "ListAgents", "GetAgent", "ListAgentKnowledgeBases", "ListKnowledgeBases",
        "GetKnowledgeBase", "ListDataSources", "GetDataSource", "GetModelInvocationLoggingConfiguration",
    ]
}
# Tags of a whole region in one paged call (only when required_tags is configured).
TAG_READ_ACTIONS = {"tag:GetResources"}
IAM_READ_ACTIONS = {
    f"iam:{a}"
    for a in ["GetRole", "ListAttachedRolePolicies", "ListRolePolicies", "GetRolePolicy", "GetPolicy",
              "GetPolicyVersion"]
}

# The buckets AI assets train from or serve from (AISPM-PRV-003): the account's bucket list and public access block,
# then each bucket's public access block, policy status and ACL.
BUCKET_READ_ACTIONS = {"s3:ListAllMyBuckets", "s3:GetAccountPublicAccessBlock", "s3:GetBucketPublicAccessBlock",
                       "s3:GetBucketPolicyStatus", "s3:GetBucketAcl"}

READ_ACTION = re.compile(r"^[a-z0-9-]+:(List|Describe|Get|Search|Lookup)[A-Za-z0-9]*$")   # Lookup: CloudTrail
# Writes of findings and finding state: only the delivery role (deliver + replay functions) may hold them.
DELIVERY_WRITE = re.compile(
    r"^(securityhub:.+"
    r"|sqs:(SendMessage|SendMessageBatch|DeleteMessage|DeleteMessageBatch|PurgeQueue)"
    r"|dynamodb:(PutItem|UpdateItem|DeleteItem|BatchWriteItem|TransactWriteItems))$"
)
SECRET_PARAMS = {"ExternalIdSecretArn", "SplunkHecTokenSecretArn", "AzureCredentialsSecretArn", "GcpWifConfigSecretArn"}

# The event contract between the steps (infra/README.md, "Contract for the handler code").
PLAN_RESULT_KEYS = {"run_id", "run_prefix", "units_key", "map_prefix", "unit_count"}
PLAN_EVENT_KEYS = {"run_id", "execution_arn", "started_at", "input"}
COLLECT_EVENT_KEYS = {"provider", "index", "unit", "run_id", "run_prefix", "bucket"}
DELIVER_RESULT_KEYS = {"summary_key", "exit_code"}
EXPRESS_MAX_SECONDS = 300


# ------------------------------------------------------------------ loading


@pytest.fixture(scope="module")
def template():
    return cfn_yaml.load(str(TEMPLATE_PATH))


@pytest.fixture(scope="module")
def member_role():
    return cfn_yaml.load(str(MEMBER_ROLE_PATH))


def _hcl_flavor() -> str:
    """bc-python-hcl2 (checkov's fork) wraps every attribute value in a list; python-hcl2 >= 5 keeps the quotes."""
    value = hcl2.loads('a = "x"\n')["a"]
    return "wrapped" if isinstance(value, list) else "plain"


HCL_FLAVOR = _hcl_flavor()


def _clean(value):
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    if value == "null":
        return None
    return value


def tf_attr(body: dict, key: str, default=None):
    if key not in body:
        return default
    value = body[key]
    if HCL_FLAVOR == "wrapped":
        assert isinstance(value, list) and len(value) == 1, (key, value)
        value = value[0]
    return _clean(value)


def tf_blocks(body: dict, key: str) -> list[dict]:
    return [b for b in body.get(key, []) if isinstance(b, dict)]


def tf_labeled(body: dict, key: str) -> list[tuple[str, dict]]:
    out = []
    for item in body.get(key, []):
        for label, inner in item.items():
            if not str(label).startswith("__"):
                out.append((_clean(label), inner))
    return out


@pytest.fixture(scope="module")
def tf():
    merged = {"resource": {}, "data": {}, "variable": {}, "output": {}, "locals": {}}
    for path in sorted(TF_DIR.glob("*.tf")):
        with path.open() as fh:
            doc = hcl2.load(fh)
        for kind in ("resource", "data"):
            for rtype, named in tf_labeled(doc, kind):
                for name, body in named.items():
                    if not str(name).startswith("__"):
                        merged[kind][(rtype, _clean(name))] = body
        for kind in ("variable", "output"):
            for name, body in tf_labeled(doc, kind):
                merged[kind][name] = body
        for body in doc.get("locals", []):
            for key in body:
                if not str(key).startswith("__"):
                    merged["locals"][key] = tf_attr(body, key)
    return merged


def resources_of(t, rtype: str) -> dict:
    return {k: v for k, v in t["Resources"].items() if v["Type"] == rtype}


def as_list(value) -> list:
    return list(value) if isinstance(value, list) else [value]


def cfn_str(value) -> str:
    """An intrinsic as the ${...} string it stands for (Ref X -> ${X}, GetAtt X.Arn -> ${X.Arn}, Sub -> its text)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return f"${{{arg}}}"
        if key == "Fn::GetAtt":
            dotted = ".".join(arg if isinstance(arg, list) else arg.split("."))
            return f"${{{dotted}}}"
        if key == "Fn::Sub":
            return arg if isinstance(arg, str) else arg[0]
    return json.dumps(value, sort_keys=True, default=str)


def expand_if(node):
    """Both branches of Fn::If (a superset of what any deployment grants), without AWS::NoValue."""
    if isinstance(node, dict) and list(node) == ["Fn::If"]:
        _, when_true, when_false = node["Fn::If"]
        for branch in (when_true, when_false):
            if branch != {"Ref": "AWS::NoValue"}:
                yield from expand_if(branch)
    else:
        yield node


def role_statements(t, role_id: str) -> list[dict]:
    props = t["Resources"][role_id]["Properties"]
    assert "ManagedPolicyArns" not in props, f"{role_id}: managed policies hide what the role may do"
    out = []
    for policy in props.get("Policies", []):
        for st in policy["PolicyDocument"]["Statement"]:
            out.extend(expand_if(st))
    return out


def function_role(t, function_id: str) -> str:
    role = t["Resources"][function_id]["Properties"]["Role"]
    assert list(role) == ["Fn::GetAtt"], f"{function_id}: Role must be a role of this template"
    return role["Fn::GetAtt"][0]


def via_services(st: dict) -> set[str]:
    cond = st.get("Condition", {}).get("StringEquals", {})
    return {cfn_str(v) for v in as_list(cond.get("kms:ViaService", []))}


# ------------------------------------------------------------------ cfn-lint


CFN_LINT_MAIN = "import sys; from cfnlint.runner import main; sys.argv[0] = 'cfn-lint'; sys.exit(main())"


@pytest.mark.parametrize("path", [TEMPLATE_PATH, MEMBER_ROLE_PATH], ids=["template.yaml", "member-role.yaml"])
def test_cfn_lint_reports_no_errors(path):
    # cfn-lint has no `python -m cfnlint` entry point; run its console entry point with this interpreter.
    proc = subprocess.run(
        [sys.executable, "-c", CFN_LINT_MAIN, "--format", "parseable", str(path)],
        capture_output=True, text=True, timeout=600,
    )
    # Exit status is a bit field: 2 errors, 4 warnings, 8 informational; anything else is a crash.
    assert proc.returncode & ~(4 | 8) == 0, proc.stdout + proc.stderr


# ------------------------------------------------------------------ least privilege


def _collector_action_allowed(action: str, st: dict) -> bool:
    res = [cfn_str(r) for r in as_list(st["Resource"])]
    if action == "secretsmanager:GetSecretValue":
        return all(r in {f"${{{p}}}" for p in SECRET_PARAMS} for r in res)
    if READ_ACTION.match(action):
        return True
    if action == "sts:AssumeRole":
        return res == ["arn:${AWS::Partition}:iam::*:role/${MemberRoleName}"]
    if action == "s3:PutObject":
        return res == ["${ResultsBucket.Arn}/runs/*"]
    if action == "kms:GenerateDataKey":  # SSE-KMS PutObject; the collectors read nothing back
        return res == ["${EncryptionKey.Arn}"] and via_services(st) == {"s3.${AWS::Region}.amazonaws.com"}
    if action in {"logs:CreateLogStream", "logs:PutLogEvents"}:
        return all(re.fullmatch(r"\$\{\w+LogGroup\.Arn\}", r) for r in res)
    return action in {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_collector_roles_grant_only_reads_and_the_allowlist(template):
    roles = {function_role(template, f) for f in COLLECTOR_FUNCTIONS}
    assert roles == {"CollectorRole", "CollectAzureRole", "CollectGcpRole"}
    assert function_role(template, "PlanFunction") == function_role(template, "CollectAwsFunction") == "CollectorRole"
    for role in sorted(roles):
        for st in role_statements(template, role):
            assert st["Effect"] == "Allow", (role, st)
            for action in as_list(st["Action"]):
                assert "*" not in action, f"{role}: wildcard action {action}"
                assert _collector_action_allowed(action, st), (
                    f"{role}: {action} on {[cfn_str(r) for r in as_list(st['Resource'])]} "
                    "is neither a read action nor on the allowlist"
                )


def test_collector_role_has_exactly_the_reads_the_rules_need(template):
    actions = {a for st in role_statements(template, "CollectorRole") for a in as_list(st["Action"])}
    assert actions.issuperset(SAGEMAKER_READ_ACTIONS)
    assert actions.issuperset(BEDROCK_READ_ACTIONS)
    assert actions.issuperset(IAM_READ_ACTIONS)
    assert actions.issuperset(TAG_READ_ACTIONS)
    assert actions.issuperset(BUCKET_READ_ACTIONS)
    assert {"organizations:ListAccounts", "ec2:DescribeRegions", "account:ListRegions", "sts:AssumeRole"} <= actions
    assert {a for a in actions if a.startswith("sagemaker:")} == SAGEMAKER_READ_ACTIONS
    assert {a for a in actions if a.startswith("bedrock:")} == BEDROCK_READ_ACTIONS


def test_findings_are_written_only_by_the_delivery_role(template):
    deliver_role = function_role(template, DELIVER_FUNCTION)
    assert function_role(template, "ReplayFunction") == deliver_role, "replay re-delivers: it shares the role"
    assert not resources_of(template, "AWS::IAM::Policy") and not resources_of(template, "AWS::IAM::ManagedPolicy")
    for role in resources_of(template, "AWS::IAM::Role"):
        writes = {a for st in role_statements(template, role) for a in as_list(st["Action"]) if DELIVERY_WRITE.match(a)}
        if role == deliver_role:
            assert {"securityhub:BatchImportFindings", "sqs:SendMessage", "dynamodb:PutItem"} <= writes
        else:
            assert not writes, f"{role} may write findings or finding state: {sorted(writes)}"


def test_secrets_are_readable_only_on_their_own_arn_and_condition(template):
    expected = {
        "CollectorRole": ("ExternalIdSecretArn", "HasExternalIdSecret"),
        "CollectAzureRole": ("AzureCredentialsSecretArn", "HasAzureCredentials"),
        "CollectGcpRole": ("GcpWifConfigSecretArn", "HasGcpWifConfig"),
        "DeliveryRole": ("SplunkHecTokenSecretArn", "HasSplunkTokenSecret"),
    }
    for role in resources_of(template, "AWS::IAM::Role"):
        props = template["Resources"][role]["Properties"]
        raw = [st for p in props.get("Policies", []) for st in p["PolicyDocument"]["Statement"]]
        secret_reads = [
            st for st in role_statements(template, role) if "secretsmanager:GetSecretValue" in as_list(st["Action"])
        ]
        if role not in expected:
            assert not secret_reads, role
            continue
        param, condition = expected[role]
        assert [cfn_str(st["Resource"]) for st in secret_reads] == [f"${{{param}}}"], role
        guarded = [st for st in raw if isinstance(st, dict) and list(st) == ["Fn::If"] and st["Fn::If"][0] == condition]
        assert len(guarded) == 1, f"{role}: the secret statement must exist only when {condition}"


def test_no_write_action_on_a_wildcard_resource(template):
    star_ok = re.compile(r"^(xray:.+|logs:(Create|Get|Update|Delete|List)LogDelivery|logs:ListLogDeliveries"
                         r"|logs:PutResourcePolicy|logs:DescribeResourcePolicies|logs:DescribeLogGroups)$")
    for role in resources_of(template, "AWS::IAM::Role"):
        for st in role_statements(template, role):
            if "*" in [cfn_str(r) for r in as_list(st["Resource"])]:
                for action in as_list(st["Action"]):
                    assert READ_ACTION.match(action) or star_ok.match(action), f"{role}: {action} on *"


def test_scheduler_may_only_start_the_state_machine(template):
    (st,) = role_statements(template, "SchedulerRole")
    assert as_list(st["Action"]) == ["states:StartExecution"]
    assert cfn_str(st["Resource"]) == "${ScanStateMachine}"
    target = template["Resources"]["ScanSchedule"]["Properties"]["Target"]
    assert cfn_str(target["Arn"]) == "${ScanStateMachine}" and cfn_str(target["RoleArn"]) == "${SchedulerRole.Arn}"


def test_member_role_is_read_only_and_requires_the_external_id(member_role):
    (role_id,) = resources_of(member_role, "AWS::IAM::Role")
    props = member_role["Resources"][role_id]["Properties"]
    actions = set()
    for st in role_statements(member_role, role_id):
        assert st["Effect"] == "Allow"
        for action in as_list(st["Action"]):
            assert "*" not in action and READ_ACTION.match(action), f"member role grants {action}"
            actions.add(action)
    assert actions == SAGEMAKER_READ_ACTIONS | BEDROCK_READ_ACTIONS | TAG_READ_ACTIONS | IAM_READ_ACTIONS | (
        BUCKET_READ_ACTIONS) | {"ec2:DescribeRegions", "account:ListRegions", "cloudtrail:LookupEvents"}
    assert cfn_str(props["RoleName"]) == "${MemberRoleName}"
    (trust,) = props["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRole"
    assert cfn_str(trust["Condition"]["StringEquals"]["sts:ExternalId"]) == "${ExternalId}"
    assert cfn_str(trust["Condition"]["ArnEquals"]["aws:PrincipalArn"]) == "${CollectorRoleArn}"
    assert member_role["Parameters"]["ExternalId"]["NoEcho"] is True


# ------------------------------------------------------------------ template settings


def test_storage_encryption_and_retention(template):
    key = template["Resources"]["EncryptionKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    for st in key["KeyPolicy"]["Statement"]:
        principal = st["Principal"]
        assert principal != "*" and principal.get("AWS") != "*", "no wildcard principal in the key policy"
    bucket = template["Resources"]["ResultsBucket"]["Properties"]
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    blocks = bucket["PublicAccessBlockConfiguration"]
    assert set(blocks) == {"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"}
    assert set(blocks.values()) == {True}
    (sse,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert cfn_str(sse["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]) == "${EncryptionKey.Arn}"
    rules = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert cfn_str(rules["expire-runs"]["ExpirationInDays"]) == "${ResultsRetentionDays}"
    (deny,) = template["Resources"]["ResultsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    table = template["Resources"]["StateTable"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "scope", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "scope", "AttributeType": "S"}]
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert cfn_str(table["SSESpecification"]["KMSMasterKeyId"]) == "${EncryptionKey.Arn}"
    assert cfn_str(template["Resources"]["DeadLetterQueue"]["Properties"]["KmsMasterKeyId"]) == "${EncryptionKey.Arn}"
    for name, group in resources_of(template, "AWS::Logs::LogGroup").items():
        assert cfn_str(group["Properties"]["KmsKeyId"]) == "${EncryptionKey.Arn}", name
        assert cfn_str(group["Properties"]["RetentionInDays"]) == "${LogRetentionDays}", name


def test_functions_runtime_tracing_logging_and_build(template):
    glob = template["Globals"]["Function"]
    assert glob["Runtime"] == "python3.13" and glob["Architectures"] == ["arm64"] and glob["Tracing"] == "Active"
    functions = resources_of(template, "AWS::Serverless::Function")
    assert set(functions) == set(FUNCTION_MAP)
    groups = resources_of(template, "AWS::Logs::LogGroup")
    for name, fn in functions.items():
        props = fn["Properties"]
        assert fn["Metadata"]["BuildMethod"] == "makefile" and props["CodeUri"] == ".", name
        assert cfn_str(props["KmsKeyArn"]) == "${EncryptionKey.Arn}", name
        assert "ReservedConcurrentExecutions" in props, name
        group = cfn_str(props["LoggingConfig"]["LogGroup"])[2:-1]
        assert group in groups, name
        assert cfn_str(groups[group]["Properties"]["LogGroupName"]) == "/aispm/${AWS::StackName}/" + FUNCTION_MAP[name]
        provider = props.get("Environment", {}).get("Variables", {}).get("AISPM_PROVIDER")
        if name.startswith("Collect"):
            assert props["Handler"] == "aispm.lambdas.collect.handler"
            assert provider == FUNCTION_MAP[name].split("-")[1]
        else:
            assert provider is None
    sm = template["Resources"]["ScanStateMachine"]["Properties"]
    assert sm["Tracing"]["Enabled"] is True and sm["Logging"]["Level"] == "ALL"


# ------------------------------------------------------------------ grants derived from the code

# API operation -> the IAM action that authorizes it, where the names differ (the rest: service:Operation).
IAM_ACTION = {
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "CreateMultipartUpload"): "s3:PutObject",
    ("s3", "UploadPart"): "s3:PutObject",
    ("s3", "CompleteMultipartUpload"): "s3:PutObject",
    ("sqs", "SendMessageBatch"): "sqs:SendMessage",
    ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "sqs:ChangeMessageVisibility",
    ("dynamodb", "TransactGetItems"): "dynamodb:GetItem",
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3control", "GetPublicAccessBlock"): "s3:GetAccountPublicAccessBlock",
}
# What each action needs of the stack's key (bucket, table and queue are all encrypted with it): SSE-KMS
# PutObject generates a data key, GetObject decrypts one; an SQS producer needs GenerateDataKey and Decrypt,
# a consumer Decrypt; DynamoDB decrypts the table key for every item read or write. Multipart uploads also decrypt.
KEY_USE = {
    "s3:PutObject": {"kms:GenerateDataKey"},
    "s3:GetObject": {"kms:Decrypt"},
    "sqs:SendMessage": {"kms:GenerateDataKey", "kms:Decrypt"},
    "sqs:ReceiveMessage": {"kms:Decrypt"},
}
KEY_USE_DYNAMODB = {"kms:Decrypt"}
# Bucket and account settings (the buckets AI assets use) are no object data: no key is used to read them.
KEY_FREE = {"s3:ListBucket", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility",
            *BUCKET_READ_ACTIONS}
CODE_DERIVED_PREFIXES = set(SERVICES.values())
AWS_READ_PREFIXES = set(AWS_READ_SERVICES.values())
# Prefixes of both the stack's own resources and the scanned accounts' (s3: the results bucket, the assets' buckets).
SHARED_PREFIXES = AWS_READ_PREFIXES & set(STACK_SERVICES.values())
# Operations IAM does not authorize ("No permissions are required to perform this operation").
NO_PERMISSION = {("sts", "GetCallerIdentity")}
# Calls a deployment of these templates never makes: (service, operation, module) -> why.
NOT_DEPLOYED = {
    ("sts", "AssumeRole", "aispm.sinks.transports.securityhub"):
        "only with AISPM_SECURITYHUB_ROLE_NAME, which the templates do not set",
}
# The AWS collector's code (collectors/aws): the shared collect handler reaches every provider's collector, but a
# function runs only the one its AISPM_PROVIDER names, and Deliver/Replay reach it only through the scan's
# over-approximation. Plan runs its planning (accounts, regions); CollectAws the rest.
AWS_COLLECTOR_PACKAGE = "aispm.collectors.aws"
AWS_COLLECTOR_FUNCTIONS = ["PlanFunction", "CollectAwsFunction"]
# Reads the collector (and member) role grants though no code calls them now: the list is exact, so a new unused
# grant fails, and so does calling one of these (then it is needed, not merely granted).
GRANTED_NOT_CALLED = {"sagemaker:DescribeUserProfile", "sagemaker:DescribeSpace",
                      "sagemaker:DescribeMonitoringSchedule", "iam:GetRole"}
# What the collector reads with the caller's own session (never through a member role), checked in the code below.
CALLER_SESSION_ONLY = {"organizations:ListAccounts", "sts:AssumeRole"}


def iam_actions(call: Call) -> set[str]:
    prefix = SERVICES[call.service]
    if (call.service, call.operation) in NO_PERMISSION:
        return set()
    if (call.service, call.operation) == ("dynamodb", "TransactWriteItems"):
        assert call.entries, f"{call.where}: TransactWriteItems without Put/Update/Delete/ConditionCheck entries"
        return {f"dynamodb:{kind}Item" for kind in call.entries}
    return {IAM_ACTION.get((call.service, call.operation), f"{prefix}:{call.operation}")}


def key_use(action: str) -> set[str]:
    if action.startswith("dynamodb:"):
        return KEY_USE_DYNAMODB
    if action.startswith(("s3:", "sqs:")):
        assert action in KEY_USE or action in KEY_FREE, f"say what {action} needs of the KMS key (KEY_USE)"
        return KEY_USE.get(action, set())
    return set()


def _function_ids(template) -> dict[str, list[str]]:
    """role -> the functions running as it."""
    out: dict[str, list[str]] = {}
    for fn in resources_of(template, "AWS::Serverless::Function"):
        out.setdefault(function_role(template, fn), []).append(fn)
    return out


def _needed(template, functions: list[str]) -> dict[str, list[str]]:
    """IAM action of the derived services -> where the code of these functions calls it (or needs it, for KMS)."""
    needed: dict[str, list[str]] = {}
    for fn in functions:
        for call in graph().calls_from(template["Resources"][fn]["Properties"]["Handler"]):
            module = call.where.split(":")[0]
            if (call.service, call.operation, module) in NOT_DEPLOYED:
                continue
            if module.startswith(AWS_COLLECTOR_PACKAGE + ".") and fn not in AWS_COLLECTOR_FUNCTIONS:
                continue
            for action in iam_actions(call):
                needed.setdefault(action, []).append(f"{fn} {call.where}")
                for kms in key_use(action):
                    needed.setdefault(kms, []).append(f"{fn} {call.where} ({action})")
    return needed


def test_the_code_scan_finds_the_calls_of_the_handlers(template):
    # The scan must see the known calls, or the grant checks below would pass on an empty result.
    assert not graph().ambiguous, graph().ambiguous
    deliver = {(c.service, c.operation) for c in graph().calls_from("aispm.lambdas.deliver.handler")}
    assert {("securityhub", "BatchImportFindings"), ("securityhub", "GetFindings"),
            ("securityhub", "BatchUpdateFindings"), ("dynamodb", "PutItem"), ("dynamodb", "BatchGetItem"),
            ("sqs", "SendMessageBatch"), ("s3", "GetObject"), ("s3", "PutObject")} <= deliver
    collect = {(c.service, c.operation) for c in graph().calls_from("aispm.lambdas.collect.handler")}
    assert ("s3", "PutObject") in collect
    assert not {c for c in collect if c[0] in {"dynamodb", "sqs", "securityhub"}}, collect
    # The AWS collector's reads: region discovery (ec2, else account), the Organization, the member role, SageMaker
    # and Bedrock lists and describes picked at run time from the kind table of another module (some names built
    # there by helpers) on clients held in a dict by client name, clients passed to other modules (group policies,
    # tags, lifecycle configurations, data sources, invocation logging), and the execution roles' policies.
    plan = {(c.service, c.operation) for c in graph().calls_from("aispm.lambdas.plan.handler")}
    assert {("ec2", "DescribeRegions"), ("account", "ListRegions"), ("organizations", "ListAccounts"),
            ("sts", "AssumeRole")} <= plan
    assert {("sagemaker", "ListNotebookInstances"), ("sagemaker", "DescribeNotebookInstance"),
            ("sagemaker", "ListMonitoringSchedules"), ("sagemaker", "Search"),
            ("sagemaker", "GetModelPackageGroupPolicy"), ("resourcegroupstaggingapi", "GetResources"),
            ("iam", "ListAttachedRolePolicies"), ("iam", "GetPolicyVersion")} <= collect
    assert {("sagemaker", "ListFeatureGroups"), ("sagemaker", "DescribeFeatureGroup"),
            ("sagemaker", "DescribeNotebookInstanceLifecycleConfig"),
            ("sagemaker", "ListDataQualityJobDefinitions"), ("sagemaker", "DescribeDataQualityJobDefinition"),
            ("sagemaker", "ListModelQualityJobDefinitions"), ("sagemaker", "DescribeModelQualityJobDefinition"),
            ("sagemaker", "ListModelBiasJobDefinitions"), ("sagemaker", "DescribeModelBiasJobDefinition"),
            ("sagemaker", "ListModelExplainabilityJobDefinitions"),
            ("sagemaker", "DescribeModelExplainabilityJobDefinition"),
            ("bedrock", "ListGuardrails"), ("bedrock", "GetGuardrail"), ("bedrock", "ListCustomModels"),
            ("bedrock", "GetCustomModel"), ("bedrock", "ListImportedModels"), ("bedrock", "GetImportedModel"),
            ("bedrock", "GetModelInvocationLoggingConfiguration"), ("bedrock-agent", "ListAgents"),
            ("bedrock-agent", "GetAgent"), ("bedrock-agent", "ListKnowledgeBases"),
            ("bedrock-agent", "GetKnowledgeBase"), ("bedrock-agent", "ListDataSources"),
            ("bedrock-agent", "GetDataSource"), ("bedrock-agent", "ListAgentKnowledgeBases")} <= collect
    # The buckets AI assets use (AISPM-PRV-003): the account's bucket list and public access block (s3control), then
    # each bucket's own.
    assert {("s3", "ListBuckets"), ("s3control", "GetPublicAccessBlock"), ("s3", "GetPublicAccessBlock"),
            ("s3", "GetBucketPolicyStatus"), ("s3", "GetBucketAcl")} <= collect
    aws_code = [c for c in graph().all_calls() if c.where.startswith(AWS_COLLECTOR_PACKAGE + ".")]
    reached = set(_needed(template, AWS_COLLECTOR_FUNCTIONS))
    assert {a for c in aws_code for a in iam_actions(c)} <= reached, "the AWS functions reach every AWS collector call"


def test_code_scan_follows_calls_and_ignores_lookalikes(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "store.py").write_text(
        "import boto3\n\n\nclass Store:\n"
        "    @property\n    def client(self):\n        return boto3.client('dynamodb')\n\n"
        "    def save(self):\n        self.client.transact_write_items(TransactItems=[{'Put': {}}, {'Delete': {}}])\n\n"
        "    def forget(self):\n        self.client.delete_table(TableName='t')\n")
    (pkg / "handler.py").write_text(
        "from pkg.store import Store\n\n\n"
        "def handler(token):\n    Store().save()\n    token.get_secret_value()\n    _secret()\n\n\n"
        "def _secret():\n    from aws_lambda_powertools.utilities import parameters\n"
        "    return parameters.get_secret('arn')\n\n\n"
        "def unused(q):\n    q.client.send_message(QueueUrl='u', MessageBody='b')\n")
    scan = Graph(tmp_path, ("pkg",))
    calls = scan.calls_from("pkg.handler.handler")
    assert {(c.service, c.operation, c.entries) for c in calls} == {
        ("dynamodb", "TransactWriteItems", ("Put", "Delete")), ("secretsmanager", "GetSecretValue", ())}
    assert {a for c in calls for a in iam_actions(c)} == {
        "dynamodb:PutItem", "dynamodb:DeleteItem", "secretsmanager:GetSecretValue"}
    assert {(c.service, c.operation) for c in scan.calls_from("pkg.handler.unused")} == {("sqs", "SendMessage")}


def test_code_scan_follows_clients_into_other_functions_and_run_time_operations(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "reads.py").write_text(
        "def policy(sm, name):\n    return sm.get_model_package_group_policy(ModelPackageGroupName=name)\n\n\n"
        "def tags(tagging):\n    return tagging.get_paginator('get_resources').paginate()\n\n\n"
        "def lookalike(finder):\n    finder.list_endpoints()\n")
    (pkg / "collect.py").write_text(
        "from pkg import reads\nfrom pkg.reads import policy\n\n"
        "KINDS = [('list_models', 'describe_model'), ('list_endpoints', 'endpoint')]\n\n\n"
        "def client(session, service):\n    return session.client(service)\n\n\n"
        "def handler(session):\n    sm = client(session, 'sagemaker')\n    _each(sm)\n    policy(sm, 'g')\n"
        "    reads.tags(client(session, 'resourcegroupstaggingapi'))\n"
        "    acct = client(session, 'account')\n    acct.get_paginator('list_regions')\n\n\n"
        "def _each(sm):\n    for list_op, describe_op in KINDS:\n        sm.get_paginator(list_op)\n"
        "        getattr(sm, describe_op)(Name='x')\n")
    scan = Graph(tmp_path, ("pkg",))
    assert {(c.service, c.operation) for c in scan.calls_from("pkg.collect.handler")} == {
        ("sagemaker", "ListModels"), ("sagemaker", "DescribeModel"), ("sagemaker", "ListEndpoints"),
        ("sagemaker", "GetModelPackageGroupPolicy"), ("resourcegroupstaggingapi", "GetResources"),
        ("account", "ListRegions")}
    assert {a for c in scan.calls_from("pkg.collect.handler") for a in iam_actions(c)} >= {
        "tag:GetResources", "account:ListRegions"}
    # A same-named method of an object that is no client (in a module that makes none) is no API call.
    assert scan.calls_from("pkg.reads.lookalike") == []


def test_code_scan_follows_kind_tables_of_other_modules_and_clients_held_by_name(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    # The operation names live in another module, some built by a helper per row; the clients sit in a dict.
    (pkg / "kinds.py").write_text(
        "def _row(client, list_op, describe=True):\n"
        "    if describe:\n"
        "        return (client, list_op, 'describe_' + list_op.removeprefix('list_').removesuffix('s'))\n"
        "    return (client, list_op, None)\n\n\n"
        "def _definitions(kind):\n"
        "    snake = ''.join('_' + c.lower() if c.isupper() else c for c in kind).lstrip('_')\n"
        "    return ('sagemaker', f'list_{snake}_job_definitions', f'describe_{snake}_job_definition')\n\n\n"
        "ROWS = (_row('sagemaker', 'list_models'), _row('sagemaker', 'list_spaces', describe=False),\n"
        "        _definitions('DataQuality'), ('bedrock-agent', 'list_agents', 'get_agent'))\n")
    (pkg / "extra.py").write_text(
        "def logging(bedrock):\n    return bedrock.get_model_invocation_logging_configuration()\n\n\n"
        "class Vertex:\n    def project(self):\n        return self.clients.projects().get_project(name='p')\n")
    (pkg / "collect.py").write_text(
        "from pkg.extra import logging\nfrom pkg.kinds import ROWS\n\n\n"
        "def client(session, service):\n    return session.client(service)\n\n\n"
        "def handler(session):\n    clients = {'sagemaker': client(session, 'sagemaker')}\n"
        "    clients['bedrock'] = client(session, 'bedrock')\n"
        "    clients['bedrock-agent'] = client(session, 'bedrock-agent')\n    _region(clients)\n\n\n"
        "def _region(clients):\n    for name, list_op, describe_op in ROWS:\n"
        "        api = clients.get(name)\n        _list(api, list_op)\n"
        "        if describe_op:\n            getattr(api, describe_op)(Name='x')\n"
        "    logging(clients['bedrock'])\n\n\n"
        "def _list(api, op):\n    return api.get_paginator(op).paginate()\n")
    scan = Graph(tmp_path, ("pkg",))
    assert not scan.ambiguous, scan.ambiguous
    # Every row's operations on every client the dict may hand out, and only what exists in that service: no
    # DescribeSpace (that row makes no describe), no bedrock GetProject from the Google client's lookalike.
    assert {(c.service, c.operation) for c in scan.calls_from("pkg.collect.handler")} == {
        ("sagemaker", "ListModels"), ("sagemaker", "DescribeModel"), ("sagemaker", "ListSpaces"),
        ("sagemaker", "ListDataQualityJobDefinitions"), ("sagemaker", "DescribeDataQualityJobDefinition"),
        ("bedrock-agent", "ListAgents"), ("bedrock-agent", "GetAgent"),
        ("bedrock", "GetModelInvocationLoggingConfiguration")}
    assert {a for c in scan.calls_from("pkg.collect.handler") for a in iam_actions(c)} >= {
        "bedrock:ListAgents", "bedrock:GetAgent", "bedrock:GetModelInvocationLoggingConfiguration"}
    assert scan.calls_from("pkg.extra.Vertex.project") == []


def test_code_scan_reports_operation_names_it_cannot_build(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    # The describe name is built from a value known only at run time: the scan must say so, not drop the call.
    (pkg / "collect.py").write_text(
        "import os\n\n\n"
        "def client(session, service):\n    return session.client(service)\n\n\n"
        "def handler(session):\n    sm = client(session, 'sagemaker')\n"
        "    getattr(sm, 'describe_' + os.environ['KIND'])(Name='x')\n")
    scan = Graph(tmp_path, ("pkg",))
    assert any("pkg.collect:10" in a and "describe_" in a for a in scan.ambiguous), scan.ambiguous


@pytest.mark.parametrize("role", ["CollectorRole", "CollectAzureRole", "CollectGcpRole", "DeliveryRole"])
def test_role_grants_exactly_what_its_functions_call(template, role):
    functions = _function_ids(template)[role]
    needed = _needed(template, functions)
    statements = role_statements(template, role)
    granted = {a for st in statements for a in as_list(st["Action"]) if a.split(":")[0] in CODE_DERIVED_PREFIXES}
    missing = {a: where for a, where in needed.items() if a not in granted}
    assert not missing, f"{role} ({', '.join(functions)}) lacks what the code calls: {missing}"
    tolerated = GRANTED_NOT_CALLED if role == "CollectorRole" else set()
    called = tolerated & set(needed)
    assert not called, f"the code calls {sorted(called)}: drop it from GRANTED_NOT_CALLED"
    unused = granted - set(needed)
    assert unused == tolerated, (
        f"{role} grants {sorted(unused - tolerated)}, which no code of {', '.join(functions)} calls")
    kms = [st for st in statements if any(a.startswith("kms:") for a in as_list(st["Action"]))]
    services = {a.split(":")[0] for a in needed if key_use(a)}
    for st in kms:
        assert cfn_str(st["Resource"]) == "${EncryptionKey.Arn}", role
        assert via_services(st) == {f"{s}.${{AWS::Region}}.amazonaws.com" for s in services}, role


def _client_sessions(module: str, line: int, service: str) -> set[str]:
    """The session arguments of the ``client(<session>, "<service>", ...)`` calls in the function around ``line``."""
    tree = ast.parse((REPO / (module.replace(".", "/") + ".py")).read_text())
    funcs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.lineno <= line <= n.end_lineno]
    assert funcs, f"{module}:{line} is in no function"
    inner = max(funcs, key=lambda n: n.lineno)
    return {ast.unparse(c.args[0]) for c in ast.walk(inner)
            if isinstance(c, ast.Call) and getattr(c.func, "id", "") == "client" and len(c.args) >= 2
            and isinstance(c.args[1], ast.Constant) and c.args[1].value == service}


def test_member_role_grants_exactly_what_the_collector_reads_in_a_member_account(template, member_role):
    # The AWS collector reads a member account through the member role: everything it reads of SageMaker, IAM,
    # tags and the regions. The Organization's accounts and the AssumeRole itself use the caller's own session.
    # An S3 action counts only where the collector's code calls it: the functions write the stack's own results
    # bucket with their own role.
    needed = {}
    for action, where in _needed(template, AWS_COLLECTOR_FUNCTIONS).items():
        if action.split(":")[0] in SHARED_PREFIXES:
            where = [w for w in where if w.split()[1].startswith(AWS_COLLECTOR_PACKAGE + ".")]
        if action.split(":")[0] in AWS_READ_PREFIXES and where:
            needed[action] = where
    for action in CALLER_SESSION_ONLY:
        assert action in needed, f"{action} is no longer called: drop it from CALLER_SESSION_ONLY"
        for where in needed[action]:
            module, line = where.split()[1].split(":")
            service = {v: k for k, v in AWS_READ_SERVICES.items()}[action.split(":")[0]]
            sessions = _client_sessions(module, int(line), service)
            assert sessions and all(s.endswith(".base") for s in sessions), (
                f"{where}: {action} is made with {sorted(sessions)}, maybe a member session: "
                "grant it to the member role")
    member_needed = {a: w for a, w in needed.items() if a not in CALLER_SESSION_ONLY}
    (role_id,) = resources_of(member_role, "AWS::IAM::Role")
    granted = {a for st in role_statements(member_role, role_id) for a in as_list(st["Action"])}
    missing = {a: w for a, w in member_needed.items() if a not in granted}
    assert not missing, f"the member role lacks what the collector reads in a member account: {missing}"
    called = GRANTED_NOT_CALLED & set(member_needed)
    assert not called, f"the code calls {sorted(called)}: drop it from GRANTED_NOT_CALLED"
    unused = granted - set(member_needed)
    assert unused == GRANTED_NOT_CALLED, (
        f"the member role grants {sorted(unused - GRANTED_NOT_CALLED)}, which no code calls")


def test_aws_reads_needed_only_by_the_aws_functions_run_there(template):
    assert sorted(f for f in resources_of(template, "AWS::Serverless::Function") if f in AWS_COLLECTOR_FUNCTIONS
                  ) == sorted(AWS_COLLECTOR_FUNCTIONS)
    providers = {f: template["Resources"][f]["Properties"].get("Environment", {}).get("Variables", {}).get(
        "AISPM_PROVIDER") for f in AWS_COLLECTOR_FUNCTIONS}
    assert providers == {"PlanFunction": None, "CollectAwsFunction": "aws"}
    assert template["Resources"]["PlanFunction"]["Properties"]["Handler"] == "aispm.lambdas.plan.handler"
    # NOT_DEPLOYED: no function is told a Security Hub role to assume.
    for fn in resources_of(template, "AWS::Serverless::Function"):
        env = template["Resources"][fn]["Properties"].get("Environment", {}).get("Variables", {})
        assert "AISPM_SECURITYHUB_ROLE_NAME" not in env, fn
    assert "AISPM_SECURITYHUB_ROLE_NAME" not in template["Globals"]["Function"]["Environment"]["Variables"]
    assert "AISPM_SECURITYHUB_ROLE_NAME" not in "".join(p.read_text() for p in TF_DIR.glob("*.tf"))


def _security_hub_arn(st) -> tuple[str, object]:
    """(the ARN pattern with ${Region}, what Region is) of a Security Hub statement."""
    resource = st["Resource"]
    assert list(resource) == ["Fn::Sub"], resource
    pattern, values = resource["Fn::Sub"]
    return pattern, values["Region"]


def test_security_hub_grants_every_region_or_only_the_aggregation_region(template, tf):
    # sinks/transports/securityhub.py imports each AWS finding into its own region, or every finding into
    # AISPM_SECURITYHUB_REGION: the grant follows the same parameter.
    by_sid = {st["Sid"]: st for st in role_statements(template, "DeliveryRole")}
    region = {"Fn::If": ["HasSecurityHubRegion", {"Ref": "SecurityHubRegion"}, "*"]}
    assert as_list(by_sid["ImportFindings"]["Action"]) == ["securityhub:BatchImportFindings"]
    assert _security_hub_arn(by_sid["ImportFindings"]) == (
        "arn:${AWS::Partition}:securityhub:${Region}:${AWS::AccountId}:product/${AWS::AccountId}/default", region)
    assert set(as_list(by_sid["UpdateFindings"]["Action"])) == {"securityhub:GetFindings",
                                                                "securityhub:BatchUpdateFindings"}
    assert _security_hub_arn(by_sid["UpdateFindings"]) == (
        "arn:${AWS::Partition}:securityhub:${Region}:${AWS::AccountId}:hub/default", region)
    assert template["Conditions"]["HasSecurityHubRegion"] == {"Fn::Not": [{"Fn::Equals": [
        {"Ref": "SecurityHubRegion"}, ""]}]}
    # The functions that run the sink are told the same region; an empty value means "each finding's own".
    for fn in resources_of(template, "AWS::Serverless::Function"):
        env = template["Resources"][fn]["Properties"].get("Environment", {}).get("Variables", {})
        if function_role(template, fn) == "DeliveryRole":
            assert env.get("AISPM_SECURITYHUB_REGION") == {"Ref": "SecurityHubRegion"}, fn
        else:
            assert "AISPM_SECURITYHUB_REGION" not in env, fn
    assert "AISPM_SECURITYHUB_REGION" not in template["Globals"]["Function"]["Environment"]["Variables"]
    # Terraform: the same ARNs, "*" unless securityhub_region is set.
    assert tf["locals"]["securityhub_region"] == '${var.securityhub_region == "" ? "*" : var.securityhub_region}'
    assert tf["locals"]["securityhub_product"] == ("arn:${local.partition}:securityhub:${local.securityhub_region}:"
                                                   "${local.account_id}:product/${local.account_id}/default")
    assert tf["locals"]["securityhub_hub"] == ("arn:${local.partition}:securityhub:${local.securityhub_region}:"
                                               "${local.account_id}:hub/default")
    statements = {tf_attr(st, "sid"): st for st in tf_blocks(tf["data"][("aws_iam_policy_document", "delivery")],
                                                              "statement")}
    assert tf_attr(statements["ImportFindings"], "resources") == ["${local.securityhub_product}"]
    assert tf_attr(statements["UpdateFindings"], "resources") == ["${local.securityhub_hub}"]
    assert tf["locals"]["delivery_environment"] == {"AISPM_SECURITYHUB_REGION": "${var.securityhub_region}"}


def test_member_roles_are_assumed_only_in_the_organization_when_it_is_named(template, tf):
    props = template["Resources"]["CollectorRole"]["Properties"]
    raw = [st for p in props["Policies"] for st in p["PolicyDocument"]["Statement"]]
    (guarded,) = [st for st in raw if isinstance(st, dict) and list(st) == ["Fn::If"]
                  and st["Fn::If"][0] == "HasOrganizationId"]
    _, with_org, without_org = guarded["Fn::If"]
    for st in (with_org, without_org):
        assert st["Action"] == "sts:AssumeRole" and st["Sid"] == "AssumeMemberRole"
        assert cfn_str(st["Resource"]) == "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}"
    assert with_org["Condition"] == {"StringEquals": {"aws:ResourceOrgID": {"Ref": "OrganizationId"}}}
    assert "Condition" not in without_org
    assumes = [st for st in role_statements(template, "CollectorRole") if "sts:AssumeRole" in as_list(st["Action"])]
    assert len(assumes) == 2, "sts:AssumeRole only in the two branches of HasOrganizationId"
    body = tf["data"][("aws_iam_policy_document", "collector")]
    (assume,) = [st for st in tf_blocks(body, "statement") if tf_attr(st, "sid") == "AssumeMemberRole"]
    (dyn,) = [inner for label, inner in tf_labeled(assume, "dynamic") if label == "condition"]
    assert tf_attr(dyn, "for_each") == '${var.organization_id == "" ? [] : [var.organization_id]}'
    (content,) = tf_blocks(dyn, "content")
    assert (tf_attr(content, "test"), tf_attr(content, "variable"), tf_attr(content, "values")) == (
        "StringEquals", "aws:ResourceOrgID", ["${condition.value}"])
    assert not tf_blocks(assume, "condition"), "the Organization condition only when organization_id is set"


# ------------------------------------------------------------------ retention

# Resources that hold finding state, undelivered findings or run results, the key that decrypts them, and the logs.
RETAINED_TYPES = {"AWS::KMS::Key", "AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::SQS::Queue",
                  "AWS::Logs::LogGroup"}


def test_stateful_resources_survive_stack_deletion_and_replacement(template):
    retained = set()
    for name, res in template["Resources"].items():
        deletion, replace = res.get("DeletionPolicy"), res.get("UpdateReplacePolicy")
        if res["Type"] in RETAINED_TYPES:
            assert (deletion, replace) == ("Retain", "Retain"), f"{name} ({res['Type']}) is not retained"
            retained.add(res["Type"])
        else:
            assert deletion is None and replace is None, f"{name} needs no retention; it would be orphaned"
    assert retained == RETAINED_TYPES
    assert {"StateTable", "DeadLetterQueue", "EncryptionKey", "ResultsBucket"} <= {
        n for n, r in template["Resources"].items() if r.get("DeletionPolicy") == "Retain"}


def test_terraform_prevents_destroying_what_the_template_retains(tf):
    expected = {TYPE_MAP[t] for t in RETAINED_TYPES}
    protected = set()
    for (rtype, name), body in tf["resource"].items():
        lifecycle = tf_blocks(body, "lifecycle")
        prevent = bool(lifecycle) and tf_attr(lifecycle[0], "prevent_destroy") in (True, "true")
        if rtype in expected:
            assert prevent, f"{rtype}.{name} lacks lifecycle {{ prevent_destroy = true }}"
            protected.add(rtype)
        else:
            assert not prevent, f"{rtype}.{name} holds no state; prevent_destroy would only block destroy"
    assert protected == expected


def test_readme_documents_every_parameter_and_retention():
    readme = README_PATH.read_text()
    table = readme[readme.index("| parameter | default | meaning |"):readme.index("## Deploy with Terraform")]
    template = cfn_yaml.load(str(TEMPLATE_PATH))
    for param in template["Parameters"]:
        assert re.search(rf"\b{param}\b", table), f"infra/README.md does not describe {param}"
    for word in ("DeletionPolicy", "UpdateReplacePolicy", "prevent_destroy", "AISPM_SECURITYHUB_REGION",
                 "aws:ResourceOrgID"):
        assert word in readme, f"infra/README.md does not explain {word}"


# ------------------------------------------------------------------ SAM <-> Terraform


def _tf_instances(tf, rtype: str) -> int:
    count = 0
    for (t, _), body in tf["resource"].items():
        if t != rtype:
            continue
        for_each = tf_attr(body, "for_each")
        if for_each is not None:
            assert for_each == "${local.functions}", f"{rtype}: unexpected for_each {for_each}"
            count += len(tf["locals"]["functions"])
        else:
            count += 1
    return count


def test_terraform_resources_correspond_to_the_template(template, tf):
    sam_types = {r["Type"] for r in template["Resources"].values()}
    assert sam_types == set(TYPE_MAP), f"map every SAM resource type: {sorted(sam_types ^ set(TYPE_MAP))}"
    tf_types = {t for t, _ in tf["resource"]}
    expected = set(TYPE_MAP.values()) | set(TF_PROPERTY_TYPES)
    assert tf_types == expected, sorted(tf_types ^ expected)
    for sam_type, tf_type in TYPE_MAP.items():
        assert len(resources_of(template, sam_type)) == _tf_instances(tf, tf_type), f"{sam_type} vs {tf_type}"
    assert _tf_instances(tf, "aws_iam_role_policy") == len(resources_of(template, "AWS::IAM::Role"))


def tf_var_of(value: str) -> str:
    ref = re.fullmatch(r"\$\{var\.(\w+)\}", str(value))
    assert ref, f"{value} is not a variable"
    return ref.group(1)


def _tf_default(body):
    value = tf_attr(body, "default")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value)
    if value is None:
        return ""
    return str(value)


def test_terraform_variables_correspond_to_the_parameters(template, tf):
    assert set(template["Parameters"]) == set(PARAM_MAP), sorted(set(template["Parameters"]) ^ set(PARAM_MAP))
    assert set(tf["variable"]) == set(PARAM_MAP.values()) | set(TF_ONLY_VARIABLES), sorted(
        set(tf["variable"]) ^ (set(PARAM_MAP.values()) | set(TF_ONLY_VARIABLES)))
    for param, var in PARAM_MAP.items():
        assert str(template["Parameters"][param].get("Default", "")) == _tf_default(tf["variable"][var]), (param, var)


def test_terraform_outputs_correspond_to_the_outputs(template, tf):
    assert set(template["Outputs"]).issuperset(REQUIRED_OUTPUTS)
    assert set(template["Outputs"]) == set(OUTPUT_MAP)
    assert set(tf["output"]) == set(OUTPUT_MAP.values())


def test_terraform_functions_match_the_template(template, tf):
    functions = tf["locals"]["functions"]
    assert set(functions) == set(FUNCTION_MAP.values())
    role_refs = tf["locals"]["function_roles"]
    (lambda_body,) = [b for (t, _), b in tf["resource"].items() if t == "aws_lambda_function"]
    assert tf_attr(lambda_body, "runtime") == template["Globals"]["Function"]["Runtime"]
    assert tf_attr(lambda_body, "architectures") == template["Globals"]["Function"]["Architectures"]
    (tracing,) = tf_blocks(lambda_body, "tracing_config")
    assert tf_attr(tracing, "mode") == "Active"
    (environment,) = tf_blocks(lambda_body, "environment")
    assert "each.value.environment" in str(tf_attr(environment, "variables"))
    reserved_expr = str(tf_attr(lambda_body, "reserved_concurrent_executions"))
    assert "each.value.reserved" in reserved_expr
    for sam_name, key in FUNCTION_MAP.items():
        props = template["Resources"][sam_name]["Properties"]
        fn = functions[key]
        assert fn["handler"] == props["Handler"], key
        assert int(fn["timeout"]) == props["Timeout"], key
        assert int(fn["memory"]) == props["MemorySize"], key
        assert int(fn["storage"]) == props.get("EphemeralStorage", {}).get("Size", 512), key
        sam_env = props.get("Environment", {}).get("Variables", {})
        assert fn["provider"] == sam_env.get("AISPM_PROVIDER"), key
        tf_env = fn["environment"]
        if isinstance(tf_env, str):  # a reference to a local map
            tf_env = tf["locals"][re.fullmatch(r"\$\{local\.(\w+)\}", tf_env).group(1)]
        assert {k: tf_var_of(v) for k, v in tf_env.items()} == {
            k: PARAM_MAP[cfn_str(v)[2:-1]] for k, v in sam_env.items() if k != "AISPM_PROVIDER"}, key
        assert f"aws_iam_role.{ROLE_MAP[function_role(template, sam_name)]}.arn" in role_refs[fn["role"]], key
        (_, reserved, _) = props["ReservedConcurrentExecutions"]["Fn::If"]
        tf_reserved = re.search(r"\?\s*([\w.]+)\s*:\s*-1", str(fn["reserved"])).group(1)
        assert tf_reserved == ("var.max_concurrency" if reserved == {"Ref": "MaxConcurrency"} else str(reserved)), key


def test_terraform_environment_matches_the_template(template, tf):
    sam_env = set(template["Globals"]["Function"]["Environment"]["Variables"])
    assert set(tf["locals"]["common_environment"]) == sam_env
    assert {"AISPM_RESULTS_BUCKET", "AISPM_STATE_TABLE", "AISPM_DEAD_LETTER_QUEUE_URL", "AISPM_SINKS",
            "AISPM_SPLUNK_HEC_URL", "AISPM_SPLUNK_HEC_TOKEN_SECRET", "AISPM_SPLUNK_INDEX", "AISPM_SPLUNK_ACK",
            "AISPM_MEMBER_ROLE_NAME", "AISPM_EXTERNAL_ID_SECRET", "AISPM_REGIONS", "AISPM_ORG",
            "AISPM_AZURE_CREDENTIALS_SECRET", "AISPM_GCP_WIF_CONFIG_SECRET", "AISPM_GCP_PROJECTS",
            "AISPM_AZURE_SUBSCRIPTIONS", "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"} == sam_env


def _tf_policy_actions(tf, name: str) -> dict[str, set[str]]:
    body = tf["data"][("aws_iam_policy_document", name)]
    statements = list(tf_blocks(body, "statement"))
    for label, dyn in tf_labeled(body, "dynamic"):
        assert label == "statement"
        statements.extend(tf_blocks(dyn, "content"))
    out = {}
    for st in statements:
        actions = tf_attr(st, "actions")
        if isinstance(actions, str):  # a reference to a local list
            ref = re.fullmatch(r"\$\{local\.(\w+)\}", actions)
            assert ref, actions
            actions = tf["locals"][ref.group(1)]
        out[tf_attr(st, "sid")] = set(actions)
    return out


@pytest.mark.parametrize("sam_role", sorted(ROLE_MAP))
def test_terraform_roles_grant_what_the_template_grants(template, tf, sam_role):
    sam = {}
    for st in role_statements(template, sam_role):
        sam[st["Sid"]] = set(as_list(st["Action"]))
    assert _tf_policy_actions(tf, ROLE_MAP[sam_role]) == sam
    assert ("aws_iam_role", ROLE_MAP[sam_role]) in tf["resource"]
    policy = tf["resource"][("aws_iam_role_policy", ROLE_MAP[sam_role])]
    assert tf_attr(policy, "policy") == f"${{data.aws_iam_policy_document.{ROLE_MAP[sam_role]}.json}}"


def test_terraform_sagemaker_reads_match(tf):
    assert set(tf["locals"]["sagemaker_read_actions"]) == SAGEMAKER_READ_ACTIONS
    assert set(tf["locals"]["bedrock_read_actions"]) == BEDROCK_READ_ACTIONS


# ------------------------------------------------------------------ the state machine


def _asl_placeholders() -> set[str]:
    return set(re.findall(r"\$\{(\w+)\}", ASL_PATH.read_text()))


def _tf_templatefile_keys(tf) -> set[str]:
    body = tf["resource"][("aws_sfn_state_machine", "scan")]
    definition = str(tf_attr(body, "definition"))
    assert definition.startswith("${templatefile(local.definition_file"), definition
    assert tf["locals"]["definition_file"].endswith("/statemachine/scan.asl.json")
    return set(re.findall(r"['\"]?(\w+)['\"]?\s*[:=]\s*", definition.split("{", 1)[1]))


def render_asl(values: dict | None = None) -> dict:
    text = ASL_PATH.read_text()
    defaults = {"MaxConcurrency": "10", "ToleratedFailurePercentage": "5", "Partition": "aws",
                "ResultsBucket": "results"}
    values = {**defaults, **(values or {})}
    function_arn = "arn:aws:lambda:us-east-1:123456789012:function:{}"
    text = re.sub(r"\$\{(\w+)\}", lambda m: values.get(m.group(1), function_arn.format(m.group(1))), text)
    return json.loads(text)


def test_state_machine_substitutions_are_complete(template, tf):
    placeholders = _asl_placeholders()
    sm = template["Resources"]["ScanStateMachine"]["Properties"]
    assert sm["DefinitionUri"] == "statemachine/scan.asl.json"
    assert set(sm["DefinitionSubstitutions"]) == placeholders
    assert _tf_templatefile_keys(tf) == placeholders
    # The ASL file stays valid JSON before substitution (placeholders only inside strings).
    json.loads(ASL_PATH.read_text())


def _walk_states(states: dict, prefix=""):
    for name, state in states.items():
        yield prefix + name, state, states
        if state["Type"] == "Map":
            yield from _walk_states(state["ItemProcessor"]["States"], prefix + name + "/")


def test_state_machine_is_plan_distributed_map_deliver(template):
    asl = render_asl()
    states = asl["States"]
    # every transition points at a state of the same scope
    for name, state, scope in _walk_states(states):
        targets = [state.get("Next"), state.get("Default")] + [c["Next"] for c in state.get("Choices", [])]
        targets += [c["Next"] for c in state.get("Catch", [])]
        for target in filter(None, targets):
            assert target in scope, f"{name} -> {target}"
    order, current = [], asl["StartAt"]
    while current and len(order) < 10:
        order.append(current)
        current = states[current].get("Next")
    assert order == ["Settings", "Plan", "Collect", "Deliver", "Outcome"]

    collect = states["Collect"]
    assert collect["Type"] == "Map"
    assert collect["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    assert collect["ItemReader"]["ReaderConfig"]["InputType"] == "JSON"
    assert collect["ItemReader"]["Parameters"] == {"Bucket": "results", "Key.$": "$.plan.units_key"}
    assert collect["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}
    assert collect["MaxConcurrencyPath"] == "$.settings.max_concurrency"
    assert collect["ToleratedFailurePercentagePath"] == "$.settings.tolerated_failure_percentage"
    assert collect["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject"
    assert collect["ResultWriter"]["Parameters"] == {"Bucket": "results", "Prefix.$": "$.plan.map_prefix"}
    assert collect["Catch"][0]["Next"] == "Deliver" and collect["Catch"][0]["ResultPath"] == "$.map_error"

    inner = collect["ItemProcessor"]["States"]
    choice = inner[collect["ItemProcessor"]["StartAt"]]
    assert choice["Type"] == "Choice"
    routes = {c["StringEquals"]: c["Next"] for c in choice["Choices"] if c["Variable"] == "$.provider"}
    assert routes == {"aws": "CollectAws", "azure": "CollectAzure", "gcp": "CollectGcp"}
    for provider, state in routes.items():
        task = inner[state]
        assert task["Parameters"]["FunctionName"].endswith(f":function:Collect{provider.capitalize()}FunctionArn")
        assert task["Parameters"]["Payload.$"] == "$" and task["OutputPath"] == "$.Payload"

    rendered = render_asl({"MaxConcurrency": "40", "ToleratedFailurePercentage": "7"})
    settings = rendered["States"]["Settings"]["Parameters"]
    assert settings == {"max_concurrency.$": "States.StringToJson('40')",
                        "tolerated_failure_percentage.$": "States.StringToJson('7')"}


def test_state_machine_invokes_only_what_its_role_allows(template):
    subs = template["Resources"]["ScanStateMachine"]["Properties"]["DefinitionSubstitutions"]
    asl = ASL_PATH.read_text()
    invoked = set()
    for placeholder in re.findall(r'"FunctionName": "\$\{(\w+)\}"', asl):
        invoked.add(cfn_str(subs[placeholder]))
    (invoke,) = [st for st in role_statements(template, "StateMachineRole") if st["Sid"] == "InvokeFunctions"]
    allowed = {cfn_str(r) for r in invoke["Resource"]}
    assert invoked == {f"${{{f}.Arn}}" for f in ("PlanFunction", "CollectAwsFunction", "CollectAzureFunction",
                                                  "CollectGcpFunction", "DeliverFunction")}
    assert allowed == invoked | {a + ":*" for a in invoked}


def test_task_timeouts_leave_room_for_the_functions(template):
    states = render_asl()["States"]
    inner = states["Collect"]["ItemProcessor"]["States"]
    pairs = {"Plan": (states["Plan"], "PlanFunction"), "Deliver": (states["Deliver"], "DeliverFunction")}
    for provider in ("Aws", "Azure", "Gcp"):
        pairs[provider] = (inner[f"Collect{provider}"], f"Collect{provider}Function")
    for name, (state, function) in pairs.items():
        timeout = template["Resources"][function]["Properties"]["Timeout"]
        assert timeout < state["TimeoutSeconds"], name
        if function.startswith("Collect"):
            assert state["TimeoutSeconds"] < EXPRESS_MAX_SECONDS, f"{name}: an Express child workflow lives 5 minutes"


def test_event_contract_is_the_documented_one():
    states = render_asl()["States"]
    plan_payload = states["Plan"]["Parameters"]["Payload"]
    assert {k.removesuffix(".$") for k in plan_payload} == PLAN_EVENT_KEYS
    assert {k.removesuffix(".$") for k in states["Plan"]["ResultSelector"]} == PLAN_RESULT_KEYS
    assert states["Plan"]["ResultPath"] == "$.plan"
    assert {k.removesuffix(".$") for k in states["Collect"]["ItemSelector"]} == COLLECT_EVENT_KEYS
    assert states["Collect"]["ResultPath"] == "$.map"
    assert states["Deliver"]["Parameters"]["Payload.$"] == "$"
    assert {k.removesuffix(".$") for k in states["Deliver"]["ResultSelector"]} == DELIVER_RESULT_KEYS
    readme = README_PATH.read_text()
    contract = readme[readme.index("## Contract for the handler code"):]
    for key in PLAN_EVENT_KEYS | PLAN_RESULT_KEYS | COLLECT_EVENT_KEYS | DELIVER_RESULT_KEYS | {"map_error", "scopes"}:
        assert f'"{key}"' in contract, f"infra/README.md does not document {key}"


# ------------------------------------------------------------------ build script and Makefile


@pytest.fixture(scope="module")
def build_lambda():
    spec = importlib.util.spec_from_file_location("build_lambda", BUILD_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_lambda"] = module
    spec.loader.exec_module(module)
    return module


def test_build_table_matches_template_terraform_and_makefile(template, tf, build_lambda):
    makefile = MAKEFILE_PATH.read_text()
    assert set(build_lambda.FUNCTIONS) == set(tf["locals"]["functions"])
    for fn in build_lambda.FUNCTIONS.values():
        props = template["Resources"][fn.logical_id]["Properties"]
        assert FUNCTION_MAP[fn.logical_id] == fn.name
        assert f"{fn.module}.handler" == props["Handler"]
        provider = props.get("Environment", {}).get("Variables", {}).get("AISPM_PROVIDER")
        assert fn.extra == (provider or "aws"), fn.name
        rule = re.search(rf"^build-{fn.logical_id}:\n\t(.+)$", makefile, re.M)
        assert rule and f" {fn.name} " in rule.group(1) and "$(ARTIFACTS_DIR)" in rule.group(1), fn.logical_id
    for target in ("build:", "demo:", "test:", "lint-infra:"):
        assert re.search(rf"^{target}", makefile, re.M), target
    assert "./scripts/demo" in makefile and "./scripts/test" in makefile


def _touch(root: Path, rel: str, text: str = "x") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_prune_drops_bloat_and_keeps_runtime_files(tmp_path, build_lambda):
    for rel in ["aispm/__init__.py", "aispm/tests/test_own.py", "boto3/__init__.py", "boto3/tests/test_x.py",
                "botocore/data/endpoints.json", "yaml/__init__.pyi", "pkg/docs/index.rst", "pkg/doc/__init__.py",
                "bin/normalizer", "pkg/__pycache__/m.cpython-311.pyc",
                "aispm/demo/__init__.py", "aispm/demo/run.py", "aispm/demo/estates/azure_demo.json",
                "aispm/testing/__init__.py", "aispm/testing/server.py", "aispm/testing/fake_arm.py",
                "aispm/testing/hec.py",
                "boto3-1.0.dist-info/RECORD", "boto3-1.0.dist-info/WHEEL", "boto3-1.0.dist-info/METADATA",
                "boto3-1.0.dist-info/LICENSE", "boto3-1.0.dist-info/licenses/NOTICE",
                "boto3-1.0.dist-info/entry_points.txt"]:
        _touch(tmp_path, rel)
    plan = build_lambda.resolve_function("PlanFunction")
    notes = build_lambda.prune(tmp_path, plan, ["aispm"])
    remaining = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert remaining == {
        "aispm/__init__.py", "aispm/tests/test_own.py", "boto3/__init__.py", "botocore/data/endpoints.json",
        "pkg/doc/__init__.py", "boto3-1.0.dist-info/METADATA", "boto3-1.0.dist-info/LICENSE",
        "boto3-1.0.dist-info/licenses/NOTICE", "boto3-1.0.dist-info/entry_points.txt",
    }
    assert notes == []


def test_no_fake_server_or_demo_is_in_a_built_function(tmp_path, build_lambda):
    """The project's own sources, laid out as the wheel installs them, pruned as for every function."""
    repo_package = REPO / "aispm"
    for dirpath, _, filenames in os.walk(repo_package, followlinks=True):
        for name in filenames:
            source = Path(dirpath) / name
            if "__pycache__" not in source.parts:
                target = tmp_path / "aispm" / source.relative_to(repo_package)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
    assert (tmp_path / "aispm/testing/server.py").exists() and (tmp_path / "aispm/demo/run.py").exists()
    assert NOT_SHIPPED == build_lambda.FIRST_PARTY_NOT_SHIPPED   # the IAM code scan leaves out what the build does
    for name in build_lambda.FUNCTIONS:
        root = tmp_path / name
        shutil.copytree(tmp_path / "aispm", root / "aispm")
        build_lambda.prune(root, build_lambda.resolve_function(name), ["aispm"])
        shipped = {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*.py")}
        assert "aispm/lambdas/collect.py" in shipped and "aispm/collectors/azure/arm.py" in shipped, name
        assert not [rel for rel in shipped if rel.startswith(("aispm/demo/", "aispm/testing/"))], name
        fake_code = re.compile(r"^class \w+\(.*FakeServer"
                               r"|^\s*(from|import) aispm\.testing\b|^\s*from aispm import testing", re.M)
        assert [rel for rel, text in shipped.items() if fake_code.search(text)] == [], name


def test_prune_for_gcp_keeps_aiplatform_v1_only(tmp_path, build_lambda):
    for rel in ["aispm/__init__.py", "aispm/collect_gcp.py", "google/cloud/aiplatform_v1/__init__.py",
                "google/cloud/aiplatform_v1beta1/__init__.py", "google/cloud/aiplatform/__init__.py",
                "google/cloud/resourcemanager_v3/__init__.py", "google/cloud/bigquery/__init__.py",
                "google/cloud/storage/__init__.py", "google/genai/__init__.py", "vertexai/__init__.py",
                "agentplatform/__init__.py", "docstring_parser/__init__.py", "google/api_core/__init__.py",
                "httpx/__init__.py", "anyio/__init__.py", "google/resumable_media/__init__.py",
                "google_api_core-2.0-py3.13-nspkg.pth"]:
        _touch(tmp_path, rel)
    (tmp_path / "aispm/collect_gcp.py").write_text(
        "from google.cloud import aiplatform_v1, resourcemanager_v3\nfrom google.cloud import storage\n")
    gcp = build_lambda.resolve_function("collect-gcp")
    notes = build_lambda.prune(tmp_path, gcp, ["aispm"])
    assert not list(tmp_path.glob("*.pth"))
    left = {p.relative_to(tmp_path).parent.as_posix() for p in tmp_path.rglob("__init__.py")}
    assert left == {"aispm", "google/cloud/aiplatform_v1", "google/cloud/resourcemanager_v3", "google/api_core",
                    "google/cloud/storage"}
    assert notes == ["kept google/cloud/storage: imported by the project's own code"]


def test_zip_is_reproducible(tmp_path, build_lambda):
    src = tmp_path / "pkg"
    _touch(src, "b/mod.py", "print(1)\n")
    _touch(src, "a.py", "x = 1\n")
    _touch(src, build_lambda.MARKER, "plan arm64\n")
    first, second = tmp_path / "1.zip", tmp_path / "2.zip"
    build_lambda.write_zip(src, first)
    (src / "a.py").touch()  # a newer mtime must not change the archive
    build_lambda.write_zip(src, second)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as zf:
        assert zf.namelist() == ["a.py", "b/mod.py"]


def test_build_refuses_to_wipe_a_foreign_directory(tmp_path, build_lambda):
    _touch(tmp_path, "precious.txt")
    with pytest.raises(build_lambda.BuildError):
        build_lambda.prepare_outdir(tmp_path)
    assert (tmp_path / "precious.txt").exists()
    _touch(tmp_path / "ours", build_lambda.MARKER)
    _touch(tmp_path / "ours", "old/file.py")
    build_lambda.prepare_outdir(tmp_path / "ours")
    assert list((tmp_path / "ours").iterdir()) == []
    with pytest.raises(build_lambda.BuildError):
        build_lambda.resolve_function("collect-oci")


def test_detect_runs_on_their_own_schedule_through_the_same_workflow(template, tf):
    schedule = template["Resources"]["DetectSchedule"]["Properties"]
    assert cfn_str(schedule["ScheduleExpression"]) == "${DetectScheduleExpression}"
    assert template["Parameters"]["DetectScheduleExpression"]["Default"] == "rate(15 minutes)"
    target = schedule["Target"]
    assert cfn_str(target["Arn"]) == "${ScanStateMachine}" and cfn_str(target["RoleArn"]) == "${SchedulerRole.Arn}"
    assert json.loads(target["Input"]) == {"trigger": "schedule", "mode": "detect"}
    body = tf["resource"][("aws_scheduler_schedule", "detect")]
    assert tf_attr(body, "schedule_expression") == "${var.detect_schedule_expression}"
    (tf_target,) = tf_blocks(body, "target")
    assert "mode" in str(tf_attr(tf_target, "input")) and "detect" in str(tf_attr(tf_target, "input"))

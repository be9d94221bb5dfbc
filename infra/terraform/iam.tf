# Roles mirror template.yaml one to one. Only the delivery role (deliver + replay functions) may import findings
# into Security Hub, send to the dead-letter queue and write the state table; the collector roles read, and
# write only under runs/ of the results bucket.

locals {
  sagemaker_read_actions = [
    "sagemaker:ListNotebookInstances",
    "sagemaker:DescribeNotebookInstance",
    "sagemaker:DescribeNotebookInstanceLifecycleConfig",
    "sagemaker:ListDomains",
    "sagemaker:DescribeDomain",
    "sagemaker:ListUserProfiles",
    "sagemaker:DescribeUserProfile",
    "sagemaker:ListSpaces",
    "sagemaker:DescribeSpace",
    "sagemaker:ListModels",
    "sagemaker:DescribeModel",
    "sagemaker:ListEndpointConfigs",
    "sagemaker:DescribeEndpointConfig",
    "sagemaker:ListEndpoints",
    "sagemaker:DescribeEndpoint",
    "sagemaker:ListTrainingJobs",
    "sagemaker:DescribeTrainingJob",
    "sagemaker:ListProcessingJobs",
    "sagemaker:DescribeProcessingJob",
    "sagemaker:ListModelPackageGroups",
    "sagemaker:GetModelPackageGroupPolicy",
    "sagemaker:ListMonitoringSchedules",
    "sagemaker:DescribeMonitoringSchedule",
    "sagemaker:ListFeatureGroups",
    "sagemaker:DescribeFeatureGroup",
    "sagemaker:ListDataQualityJobDefinitions",
    "sagemaker:DescribeDataQualityJobDefinition",
    "sagemaker:ListModelQualityJobDefinitions",
    "sagemaker:DescribeModelQualityJobDefinition",
    "sagemaker:ListModelBiasJobDefinitions",
    "sagemaker:DescribeModelBiasJobDefinition",
    "sagemaker:ListModelExplainabilityJobDefinitions",
    "sagemaker:DescribeModelExplainabilityJobDefinition",
    "sagemaker:Search",
  ]

  # Bedrock and its agents (the bedrock-agent API) authorize under the one bedrock: prefix.
  bedrock_read_actions = [
    "bedrock:ListGuardrails",
    "bedrock:GetGuardrail",
    "bedrock:ListCustomModels",
    "bedrock:GetCustomModel",
    "bedrock:ListImportedModels",
    "bedrock:GetImportedModel",
    "bedrock:ListAgents",
    "bedrock:GetAgent",
    "bedrock:ListAgentKnowledgeBases",
    "bedrock:ListKnowledgeBases",
    "bedrock:GetKnowledgeBase",
    "bedrock:ListDataSources",
    "bedrock:GetDataSource",
    "bedrock:GetModelInvocationLoggingConfiguration",
  ]

  s3_via_service = "s3.${local.region}.amazonaws.com"
  run_results    = "${aws_s3_bucket.results.arn}/runs/*"

  # Each AWS finding is imported into its own region (sinks/transports/securityhub.py): every region's default product and hub,
  # or only the aggregation region when securityhub_region is set.
  securityhub_region  = var.securityhub_region == "" ? "*" : var.securityhub_region
  securityhub_product = "arn:${local.partition}:securityhub:${local.securityhub_region}:${local.account_id}:product/${local.account_id}/default"
  securityhub_hub     = "arn:${local.partition}:securityhub:${local.securityhub_region}:${local.account_id}:hub/default"
}

data "aws_iam_policy_document" "lambda_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

# ------------------------------------------------------------------ plan + AWS collector

data "aws_iam_policy_document" "collector" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [aws_cloudwatch_log_group.function["plan"].arn, aws_cloudwatch_log_group.function["collect-aws"].arn]
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  # aispm detect: the Bedrock, SageMaker and Marketplace events of CloudTrail (collectors/aws/cloudtrail.py).
  statement {
    sid       = "ReadAuditLog"
    actions   = ["cloudtrail:LookupEvents"]
    resources = ["*"]
  }

  statement {
    sid       = "ReadSageMaker"
    actions   = local.sagemaker_read_actions
    resources = ["*"]
  }

  statement {
    sid       = "ReadBedrock"
    actions   = local.bedrock_read_actions
    resources = ["*"]
  }

  # The buckets that models, training jobs, knowledge bases and custom models use (AISPM-PRV-003,
  # collectors/aws/buckets.py): the account's bucket list and public access block, then each bucket's.
  statement {
    sid = "ReadModelStorage"
    actions = [
      "s3:ListAllMyBuckets",
      "s3:GetAccountPublicAccessBlock",
      "s3:GetBucketPublicAccessBlock",
      "s3:GetBucketPolicyStatus",
      "s3:GetBucketAcl",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "ReadTags"
    actions   = ["tag:GetResources"]
    resources = ["*"]
  }

  statement {
    sid       = "ReadWorkloadRoles"
    actions   = ["iam:GetRole", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:GetRolePolicy"]
    resources = ["arn:${local.partition}:iam::${local.account_id}:role/*"]
  }

  statement {
    sid     = "ReadWorkloadPolicies"
    actions = ["iam:GetPolicy", "iam:GetPolicyVersion"]
    resources = [
      "arn:${local.partition}:iam::${local.account_id}:policy/*",
      "arn:${local.partition}:iam::aws:policy/*",
    ]
  }

  # Enabled regions: ec2:DescribeRegions, else account:ListRegions (collectors/aws/accounts.py).
  statement {
    sid       = "DiscoverAccountsAndRegions"
    actions   = ["organizations:ListAccounts", "ec2:DescribeRegions", "account:ListRegions"]
    resources = ["*"]
  }

  statement {
    sid       = "AssumeMemberRole"
    actions   = ["sts:AssumeRole"]
    resources = ["arn:${local.partition}:iam::*:role/${var.member_role_name}"]

    # Only roles of the Organization's accounts when organization_id is set.
    dynamic "condition" {
      for_each = var.organization_id == "" ? [] : [var.organization_id]

      content {
        test     = "StringEquals"
        variable = "aws:ResourceOrgID"
        values   = [condition.value]
      }
    }
  }

  statement {
    sid       = "WriteRunResults"
    actions   = ["s3:PutObject"]
    resources = [local.run_results]
  }

  statement {
    sid       = "EncryptRunResults"
    actions   = ["kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.s3_via_service]
    }
  }

  dynamic "statement" {
    for_each = var.external_id_secret_arn == "" ? [] : [var.external_id_secret_arn]

    content {
      sid       = "ReadExternalId"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role" "collector" {
  name               = "${var.name}-collector"
  description        = "aispm plan and AWS collector - read-only posture collection"
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "collector" {
  name   = "collect-aws"
  role   = aws_iam_role.collector.id
  policy = data.aws_iam_policy_document.collector.json
}

# ------------------------------------------------------------------ Azure collector

data "aws_iam_policy_document" "collect_azure" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [aws_cloudwatch_log_group.function["collect-azure"].arn]
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  statement {
    sid       = "WriteRunResults"
    actions   = ["s3:PutObject"]
    resources = [local.run_results]
  }

  statement {
    sid       = "EncryptRunResults"
    actions   = ["kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.s3_via_service]
    }
  }

  dynamic "statement" {
    for_each = var.azure_credentials_secret_arn == "" ? [] : [var.azure_credentials_secret_arn]

    content {
      sid       = "ReadAzureCredentials"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role" "collect_azure" {
  name               = "${var.name}-collect-azure"
  description        = "aispm Azure collector - reads its credential secret, writes only under runs/ of the results bucket"
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "collect_azure" {
  name   = "collect-azure"
  role   = aws_iam_role.collect_azure.id
  policy = data.aws_iam_policy_document.collect_azure.json
}

# ------------------------------------------------------------------ Google Cloud collector
# Google workload identity federation trusts this role's assumed-role ARN (see infra/README.md).

data "aws_iam_policy_document" "collect_gcp" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [aws_cloudwatch_log_group.function["collect-gcp"].arn]
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  statement {
    sid       = "WriteRunResults"
    actions   = ["s3:PutObject"]
    resources = [local.run_results]
  }

  statement {
    sid       = "EncryptRunResults"
    actions   = ["kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.s3_via_service]
    }
  }

  dynamic "statement" {
    for_each = var.gcp_wif_config_secret_arn == "" ? [] : [var.gcp_wif_config_secret_arn]

    content {
      sid       = "ReadGcpWifConfig"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role" "collect_gcp" {
  name               = "${var.name}-collect-gcp"
  description        = "aispm Google Cloud collector - reads its WIF configuration secret, writes only under runs/ of the results bucket"
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "collect_gcp" {
  name   = "collect-gcp"
  role   = aws_iam_role.collect_gcp.id
  policy = data.aws_iam_policy_document.collect_gcp.json
}

# ------------------------------------------------------------------ deliver + replay

data "aws_iam_policy_document" "delivery" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [aws_cloudwatch_log_group.function["deliver"].arn, aws_cloudwatch_log_group.function["replay"].arn]
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  statement {
    sid       = "ListRunResults"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.results.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["runs/*"]
    }
  }

  statement {
    sid       = "ReadWriteRunResults"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = [local.run_results]
  }

  # S3 PutObject and SQS SendMessage need GenerateDataKey; S3 GetObject, SQS SendMessage and ReceiveMessage and
  # DynamoDB reads and writes need Decrypt. Nothing calls kms:Encrypt.
  statement {
    sid       = "UseKeyForBucketTableQueue"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.this.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        local.s3_via_service,
        "dynamodb.${local.region}.amazonaws.com",
        "sqs.${local.region}.amazonaws.com",
      ]
    }
  }

  # sinks/delivery/state.py: BatchGetItem to load, PutItem (conditional) to save, DeleteItem for replaced chunks.
  statement {
    sid       = "FindingState"
    actions   = ["dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"]
    resources = [aws_dynamodb_table.state.arn]
  }

  # SendMessageBatch, ReceiveMessage, DeleteMessageBatch (sinks/delivery/deadletter.py), queue depth (replay).
  statement {
    sid       = "DeadLetterQueue"
    actions   = ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.dead_letter.arn]
  }

  statement {
    sid       = "ImportFindings"
    actions   = ["securityhub:BatchImportFindings"]
    resources = [local.securityhub_product]
  }

  # Reads and workflow updates of this account's findings (the sink's handling of suppressed findings).
  statement {
    sid       = "UpdateFindings"
    actions   = ["securityhub:GetFindings", "securityhub:BatchUpdateFindings"]
    resources = [local.securityhub_hub]
  }

  dynamic "statement" {
    for_each = var.splunk_hec_token_secret_arn == "" ? [] : [var.splunk_hec_token_secret_arn]

    content {
      sid       = "ReadSplunkToken"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role" "delivery" {
  name               = "${var.name}-delivery"
  description        = "aispm deliver and replay - merges run results, delivers findings, keeps finding state"
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "delivery" {
  name   = "deliver"
  role   = aws_iam_role.delivery.id
  policy = data.aws_iam_policy_document.delivery.json
}

# ------------------------------------------------------------------ state machine

data "aws_iam_policy_document" "state_machine_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "state_machine" {
  statement {
    sid       = "InvokeFunctions"
    actions   = ["lambda:InvokeFunction"]
    resources = flatten([for k in ["plan", "collect-aws", "collect-azure", "collect-gcp", "deliver"] : [aws_lambda_function.this[k].arn, "${aws_lambda_function.this[k].arn}:*"]])
  }

  statement {
    sid       = "ReadUnitListWriteMapResults"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = [local.run_results]
  }

  statement {
    sid       = "ResultsKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.this.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = [local.s3_via_service]
    }
  }

  statement {
    sid       = "RunMapChildWorkflows"
    actions   = ["states:StartExecution"]
    resources = [local.state_machine_arn]
  }

  statement {
    sid     = "ManageMapChildWorkflows"
    actions = ["states:DescribeExecution", "states:StopExecution"]
    resources = [
      "arn:${local.partition}:states:${local.region}:${local.account_id}:execution:${local.state_machine_name}/*",
      "arn:${local.partition}:states:${local.region}:${local.account_id}:express:${local.state_machine_name}/*",
    ]
  }

  statement {
    sid = "LogDelivery"
    actions = [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
    resources = ["*"]
  }
}

resource "aws_iam_role" "state_machine" {
  name               = "${var.name}-state-machine"
  description        = "aispm scan state machine"
  assume_role_policy = data.aws_iam_policy_document.state_machine_trust.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "state_machine" {
  name   = "scan"
  role   = aws_iam_role.state_machine.id
  policy = data.aws_iam_policy_document.state_machine.json
}

# ------------------------------------------------------------------ schedule

data "aws_iam_policy_document" "scheduler_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "StartScan"
    actions   = ["states:StartExecution"]
    resources = [aws_sfn_state_machine.scan.arn]
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${var.name}-scheduler"
  description        = "aispm schedule - may only start the scan state machine"
  assume_role_policy = data.aws_iam_policy_document.scheduler_trust.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "start-scan"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}

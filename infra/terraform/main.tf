# aispm - the same deployment as the SAM template (template.yaml), as a Terraform module.
# Build the function zips first: `make build` writes .build/<function>.zip.

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.id

  artifacts_dir      = coalesce(var.artifacts_dir, "${path.module}/../../.build")
  definition_file    = "${path.module}/../../statemachine/scan.asl.json"
  state_machine_name = "${var.name}-scan"
  state_machine_arn  = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${local.state_machine_name}"
  log_group_prefix   = "/aispm/${var.name}"

  # One entry per function; the keys are also the artifact names (scripts/build_lambda.py <key>).
  functions = {
    plan = {
      description = "aispm - plans the scan units and writes them to the results bucket"
      handler     = "aispm.lambdas.plan.handler"
      role        = "collector"
      provider    = null
      timeout     = 300
      memory      = 512
      storage     = 512
      reserved    = var.reserve_concurrency ? 1 : -1
      environment = {}
    }
    collect-aws = {
      description = "aispm - collects one AWS scan unit (account x region)"
      handler     = "aispm.lambdas.collect.handler"
      role        = "collector"
      provider    = "aws"
      timeout     = 240
      memory      = 1024
      storage     = 512
      reserved    = var.reserve_concurrency ? var.max_concurrency : -1
      environment = {}
    }
    collect-azure = {
      description = "aispm - collects one Azure scan unit (subscription)"
      handler     = "aispm.lambdas.collect.handler"
      role        = "collect_azure"
      provider    = "azure"
      timeout     = 240
      memory      = 1024
      storage     = 512
      reserved    = var.reserve_concurrency ? var.max_concurrency : -1
      environment = {}
    }
    collect-gcp = {
      description = "aispm - collects one Google Cloud scan unit (project)"
      handler     = "aispm.lambdas.collect.handler"
      role        = "collect_gcp"
      provider    = "gcp"
      timeout     = 240
      memory      = 1792 # one full vCPU: importing google.cloud.aiplatform_v1 builds every service's descriptors
      storage     = 512
      reserved    = var.reserve_concurrency ? var.max_concurrency : -1
      environment = {}
    }
    deliver = {
      description = "aispm - merges the run's units, delivers findings to the sinks, reconciles finding state"
      handler     = "aispm.lambdas.deliver.handler"
      role        = "delivery"
      provider    = null
      timeout     = 900
      memory      = 1024
      storage     = 2048
      reserved    = var.reserve_concurrency ? 1 : -1
      environment = local.delivery_environment
    }
    replay = {
      description = "aispm - re-delivers what is in the dead-letter queue and deletes what was delivered"
      handler     = "aispm.lambdas.replay.handler"
      role        = "delivery"
      provider    = null
      timeout     = 900
      memory      = 512
      storage     = 512
      reserved    = var.reserve_concurrency ? 1 : -1
      environment = local.delivery_environment
    }
  }

  # Deliver and replay only (the Security Hub sink); empty: each finding's own region.
  delivery_environment = {
    AISPM_SECURITYHUB_REGION = var.securityhub_region
  }

  common_environment = {
    AISPM_RESULTS_BUCKET           = aws_s3_bucket.results.id
    AISPM_STATE_TABLE              = aws_dynamodb_table.state.name
    AISPM_DEAD_LETTER_QUEUE_URL    = aws_sqs_queue.dead_letter.url
    AISPM_SINKS                    = join(",", var.sinks)
    AISPM_SPLUNK_HEC_URL           = var.splunk_hec_url
    AISPM_SPLUNK_HEC_TOKEN_SECRET  = var.splunk_hec_token_secret_arn
    AISPM_SPLUNK_INDEX             = var.splunk_index
    AISPM_SPLUNK_ACK               = tostring(var.splunk_ack)
    AISPM_MEMBER_ROLE_NAME         = var.member_role_name
    AISPM_EXTERNAL_ID_SECRET       = var.external_id_secret_arn
    AISPM_REGIONS                  = join(",", var.regions)
    AISPM_ORG                      = tostring(var.scan_organization)
    AISPM_AZURE_CREDENTIALS_SECRET = var.azure_credentials_secret_arn
    AISPM_AZURE_SUBSCRIPTIONS      = join(",", var.azure_subscriptions)
    AISPM_GCP_WIF_CONFIG_SECRET    = var.gcp_wif_config_secret_arn
    AISPM_GCP_PROJECTS             = join(",", var.gcp_projects)
    POWERTOOLS_SERVICE_NAME        = "aispm"
    POWERTOOLS_METRICS_NAMESPACE   = "aispm"
  }
}

# ------------------------------------------------------------------ encryption

data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_111:This is a key policy: Resource "*" means this key only, and kms:* for the account root is the statement that lets IAM policies grant use of the key.
  #checkov:skip=CKV_AWS_109:Same key policy statement as CKV_AWS_111: it delegates to IAM; the module's roles get only the KMS actions they need, scoped by kms:ViaService.
  #checkov:skip=CKV_AWS_356:In a key policy the only valid resource is "*" (the key itself).
  # The account administers the key; use is granted only by the IAM policies of this module's roles
  # (each scoped to this key and, where the service allows it, to kms:ViaService).
  statement {
    sid       = "AccountAdministersKeyUseGrantedByIam"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsOfThisDeploymentOnly"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_prefix}/*",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/vendedlogs/states/${local.state_machine_name}",
      ]
    }
  }
}

# The key, the results bucket, the state table, the dead-letter queue and the log groups hold state, undelivered
# findings or the means to read them: prevent_destroy makes a plan that would destroy (or replace) them fail.
# infra/README.md ("Retained resources") says how to remove them deliberately.

resource "aws_kms_key" "this" {
  description             = "aispm ${var.name} - results bucket, state table, dead-letter queue, logs, function environment"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
  tags                    = var.tags

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_kms_alias" "this" {
  name          = "alias/aispm/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}

# ------------------------------------------------------------------ results bucket

resource "aws_s3_bucket" "results" {
  #checkov:skip=CKV_AWS_18:Server access logging is enabled when access_log_bucket_name is set (the organization's central log bucket); a log bucket created here would itself be an unlogged bucket.
  #checkov:skip=CKV_AWS_144:Holds short-lived per-run artifacts that the next scheduled run recreates; cross-region replication would only copy them.
  #checkov:skip=CKV2_AWS_62:Nothing consumes object events; the state machine hands object keys from step to step.
  bucket_prefix = "${var.name}-results-"
  tags          = var.tags

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_ownership_controls" "results" {
  bucket = aws_s3_bucket.results.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "results" {
  bucket                  = aws_s3_bucket.results.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "results" {
  bucket = aws_s3_bucket.results.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "results" {
  bucket = aws_s3_bucket.results.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "results" {
  bucket = aws_s3_bucket.results.id

  rule {
    id     = "expire-runs"
    status = "Enabled"

    filter {
      prefix = "runs/"
    }

    expiration {
      days = var.results_retention_days
    }
  }

  rule {
    id     = "expire-old-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = 7
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }

    expiration {
      expired_object_delete_marker = true
    }
  }

  depends_on = [aws_s3_bucket_versioning.results]
}

resource "aws_s3_bucket_logging" "results" {
  count = var.access_log_bucket_name == "" ? 0 : 1

  bucket        = aws_s3_bucket.results.id
  target_bucket = var.access_log_bucket_name
  target_prefix = "aispm/${var.name}/"
}

data "aws_iam_policy_document" "results_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.results.arn, "${aws_s3_bucket.results.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "results" {
  bucket     = aws_s3_bucket.results.id
  policy     = data.aws_iam_policy_document.results_bucket.json
  depends_on = [aws_s3_bucket_public_access_block.results]
}

# ------------------------------------------------------------------ finding state

resource "aws_dynamodb_table" "state" {
  name         = "${var.name}-state"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "scope"

  attribute {
    name = "scope"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.this.arn
  }

  tags = var.tags

  lifecycle {
    prevent_destroy = true
  }
}

# ------------------------------------------------------------------ dead-letter queue

resource "aws_sqs_queue" "dead_letter" {
  name                              = "${var.name}-dead-letter"
  kms_master_key_id                 = aws_kms_key.this.arn
  kms_data_key_reuse_period_seconds = 3600
  message_retention_seconds         = 1209600
  visibility_timeout_seconds        = 960
  tags                              = var.tags

  lifecycle {
    prevent_destroy = true
  }
}

data "aws_iam_policy_document" "dead_letter" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.dead_letter.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "dead_letter" {
  queue_url = aws_sqs_queue.dead_letter.id
  policy    = data.aws_iam_policy_document.dead_letter.json
}

# ------------------------------------------------------------------ logs

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.functions

  name              = "${local.log_group_prefix}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = var.tags

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_cloudwatch_log_group" "state_machine" {
  name              = "/aws/vendedlogs/states/${local.state_machine_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = var.tags

  lifecycle {
    prevent_destroy = true
  }
}

# Functions are invoked synchronously by Step Functions (plan, collect-*, deliver) or by an operator (replay).

locals {
  function_roles = {
    collector     = aws_iam_role.collector.arn
    collect_azure = aws_iam_role.collect_azure.arn
    collect_gcp   = aws_iam_role.collect_gcp.arn
    delivery      = aws_iam_role.delivery.arn
  }
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously by Step Functions (which retries and records failures) or by an operator; an async-invocation DLQ never receives anything, and undeliverable findings go to the dead-letter queue through the application.
  #checkov:skip=CKV_AWS_117:The functions call public cloud APIs (AWS, Azure Resource Manager, Google Cloud) and Splunk HEC; they reach no VPC resource, and a VPC would only add a NAT gateway in front of the same calls.
  #checkov:skip=CKV_AWS_272:Artifacts are built from source by the deploying team with `make build` and uploaded directly; code signing needs AWS Signer jobs on S3 objects, which this deployment path does not use.
  for_each = local.functions

  function_name                  = "${var.name}-${each.key}"
  description                    = each.value.description
  role                           = local.function_roles[each.value.role]
  handler                        = each.value.handler
  runtime                        = "python3.13"
  architectures                  = ["arm64"]
  filename                       = "${local.artifacts_dir}/${each.key}.zip"
  source_code_hash               = filebase64sha256("${local.artifacts_dir}/${each.key}.zip")
  timeout                        = each.value.timeout
  memory_size                    = each.value.memory
  reserved_concurrent_executions = each.value.reserved
  kms_key_arn                    = aws_kms_key.this.arn

  ephemeral_storage {
    size = each.value.storage
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.function[each.key].name
  }

  environment {
    variables = merge(
      local.common_environment,
      each.value.environment,
      { for k, v in { AISPM_PROVIDER = each.value.provider } : k => v if v != null },
    )
  }

  tags = var.tags

  depends_on = [
    aws_iam_role_policy.collector,
    aws_iam_role_policy.collect_azure,
    aws_iam_role_policy.collect_gcp,
    aws_iam_role_policy.delivery,
  ]
}

# Plan -> Distributed Map (one EXPRESS child workflow per scan unit) -> Deliver. The definition is shared with the
# SAM template: statemachine/scan.asl.json, whose ${...} placeholders SAM fills from DefinitionSubstitutions and
# Terraform from templatefile().

resource "aws_sfn_state_machine" "scan" {
  name     = local.state_machine_name
  type     = "STANDARD"
  role_arn = aws_iam_role.state_machine.arn

  definition = templatefile(local.definition_file, {
    Partition                  = local.partition
    PlanFunctionArn            = aws_lambda_function.this["plan"].arn
    CollectAwsFunctionArn      = aws_lambda_function.this["collect-aws"].arn
    CollectAzureFunctionArn    = aws_lambda_function.this["collect-azure"].arn
    CollectGcpFunctionArn      = aws_lambda_function.this["collect-gcp"].arn
    DeliverFunctionArn         = aws_lambda_function.this["deliver"].arn
    ResultsBucket              = aws_s3_bucket.results.id
    MaxConcurrency             = var.max_concurrency
    ToleratedFailurePercentage = var.tolerated_failure_percentage
  })

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.state_machine.arn}:*"
    include_execution_data = true
    level                  = "ALL"
  }

  tracing_configuration {
    enabled = true
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.state_machine]
}

resource "aws_scheduler_schedule" "scan" {
  #checkov:skip=CKV_AWS_297:The schedule's only payload is the constant {"trigger": "schedule"}; it carries no data worth a customer managed key.
  name                         = "${var.name}-scan"
  description                  = "Starts the aispm scan (${var.name})"
  schedule_expression          = var.schedule_expression
  schedule_expression_timezone = "UTC"
  state                        = "ENABLED"

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_sfn_state_machine.scan.arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({ trigger = "schedule" })

    retry_policy {
      maximum_retry_attempts       = 3
      maximum_event_age_in_seconds = 3600
    }
  }
}

# The same workflow in detect mode: each scope's audit log since its last completed window.
resource "aws_scheduler_schedule" "detect" {
  #checkov:skip=CKV_AWS_297:The schedule's only payload is the constant {"trigger": "schedule", "mode": "detect"}; it carries no data worth a customer managed key.
  name                         = "${var.name}-detect"
  description                  = "Starts aispm detect (${var.name})"
  schedule_expression          = var.detect_schedule_expression
  schedule_expression_timezone = "UTC"
  state                        = "ENABLED"

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_sfn_state_machine.scan.arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({ trigger = "schedule", mode = "detect" })

    retry_policy {
      maximum_retry_attempts       = 3
      maximum_event_age_in_seconds = 900
    }
  }
}

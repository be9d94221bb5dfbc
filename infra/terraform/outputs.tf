output "state_machine_arn" {
  description = "Scan state machine (start a scan by hand with aws stepfunctions start-execution)."
  value       = aws_sfn_state_machine.scan.arn
}

output "results_bucket_name" {
  description = "Bucket with the per-run results (runs/<run_id>/)."
  value       = aws_s3_bucket.results.id
}

output "state_table_name" {
  description = "DynamoDB table with the finding state per scope."
  value       = aws_dynamodb_table.state.name
}

output "dead_letter_queue_url" {
  description = "SQS queue holding undelivered findings; drain it with the replay function."
  value       = aws_sqs_queue.dead_letter.url
}

output "collector_role_arn" {
  description = "Role of the plan and AWS collector functions; the CollectorRoleArn parameter of infra/member-role.yaml."
  value       = aws_iam_role.collector.arn
}

output "azure_collector_role_arn" {
  description = "Role of the Azure collector function."
  value       = aws_iam_role.collect_azure.arn
}

output "gcp_collector_role_arn" {
  description = "Role of the Google Cloud collector function; the identity Google workload identity federation must trust."
  value       = aws_iam_role.collect_gcp.arn
}

output "replay_function_name" {
  description = "Function that re-delivers the dead-letter queue (aws lambda invoke --function-name ...)."
  value       = aws_lambda_function.this["replay"].function_name
}

output "encryption_key_arn" {
  description = "KMS key protecting the bucket, table, queue, logs and function environment."
  value       = aws_kms_key.this.arn
}

# Each variable mirrors a parameter of the SAM template (template.yaml); the mapping is checked by
# tests/infra/test_templates.py. Lists here are comma-joined strings there.

variable "name" {
  description = "Name of this deployment (the SAM stack name's role): prefixes every resource name."
  type        = string
  default     = "aispm"

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9-]{0,39}$", var.name))
    error_message = "name must start with a letter and have at most 40 letters, digits or hyphens."
  }
}

variable "artifacts_dir" {
  description = "Directory holding the function zips built by `make build` (<function>.zip). Default: the repository's .build/."
  type        = string
  default     = null
}

variable "schedule_expression" {
  description = "EventBridge Scheduler expression (UTC) that starts a scan, e.g. rate(12 hours) or cron(0 3 * * ? *)."
  type        = string
  default     = "rate(1 day)"

  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.schedule_expression))
    error_message = "schedule_expression must be a rate(...) or cron(...) expression."
  }
}

variable "detect_schedule_expression" {
  description = "EventBridge Scheduler expression (UTC) that starts a detect run (audit logs since each scope's last run)."
  type        = string
  default     = "rate(15 minutes)"

  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.detect_schedule_expression))
    error_message = "detect_schedule_expression must be a rate(...) or cron(...) expression."
  }
}

variable "max_concurrency" {
  description = "Scan units collected at the same time (Distributed Map MaxConcurrency); with reserve_concurrency each collector reserves this many executions."
  type        = number
  default     = 10

  validation {
    condition     = var.max_concurrency >= 1 && var.max_concurrency <= 1000
    error_message = "max_concurrency must be between 1 and 1000."
  }
}

variable "tolerated_failure_percentage" {
  description = "Percentage of scan units whose collector may fail before the run is marked failed."
  type        = number
  default     = 10

  validation {
    condition     = var.tolerated_failure_percentage >= 0 && var.tolerated_failure_percentage <= 100
    error_message = "tolerated_failure_percentage must be between 0 and 100."
  }
}

variable "reserve_concurrency" {
  description = "Reserve concurrency (1 for plan, deliver and replay; max_concurrency for each collector). false for accounts whose Lambda quota is too small."
  type        = bool
  default     = true
}

variable "regions" {
  description = "AWS regions to scan, or [\"all\"] for every region enabled in each account."
  type        = list(string)
  default     = ["all"]

  validation {
    condition     = length(var.regions) > 0 && (join(",", var.regions) == "all" || alltrue([for r in var.regions : can(regex("^[a-z]{2}(-[a-z]+)+-\\d+$", r))]))
    error_message = "regions must be [\"all\"] or a list of region names."
  }
}

variable "scan_organization" {
  description = "true: scan every active account of the AWS Organization (deploy infra/member-role.yaml to the members); false: this account only."
  type        = bool
  default     = false
}

variable "organization_id" {
  description = "Id of the AWS Organization (o-...) whose member roles the collector may assume (sts:AssumeRole is then conditioned on aws:ResourceOrgID); empty: no Organization condition."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^(o-[a-z0-9]{10,32})?$", var.organization_id))
    error_message = "organization_id must be empty or an Organization id (o-...)."
  }
}

variable "member_role_name" {
  description = "Name of the read-only role (infra/member-role.yaml) the collector assumes in member accounts."
  type        = string
  default     = "aispm-member-read"

  validation {
    condition     = can(regex("^[\\w+=,.@-]{1,64}$", var.member_role_name))
    error_message = "member_role_name must be a valid IAM role name."
  }
}

variable "external_id_secret_arn" {
  description = "Full ARN of the Secrets Manager secret holding the sts:ExternalId for member roles (empty: none)."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^(|arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\\d{12}:secret:.+)$", var.external_id_secret_arn))
    error_message = "external_id_secret_arn must be empty or a full Secrets Manager secret ARN."
  }
}

variable "securityhub_region" {
  description = "Security Hub aggregation region: every finding is imported there (AISPM_SECURITYHUB_REGION) and BatchImportFindings is allowed there only. Empty: each AWS finding goes to its own region, Azure and Google Cloud findings to the deployment region."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^([a-z]{2}(-[a-z]+)+-\\d+)?$", var.securityhub_region))
    error_message = "securityhub_region must be empty or a region name."
  }
}

variable "splunk_hec_url" {
  description = "Splunk HTTP Event Collector base URL (https only), e.g. https://splunk.example.com:8088."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^(|https://.+)$", var.splunk_hec_url))
    error_message = "splunk_hec_url must be empty or an https:// URL."
  }
}

variable "splunk_hec_token_secret_arn" {
  description = "Full ARN of the Secrets Manager secret holding the HEC token (empty: no Splunk delivery)."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^(|arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\\d{12}:secret:.+)$", var.splunk_hec_token_secret_arn))
    error_message = "splunk_hec_token_secret_arn must be empty or a full Secrets Manager secret ARN."
  }
}

variable "splunk_index" {
  description = "Splunk index (empty: the token's default index)."
  type        = string
  default     = ""
}

variable "splunk_ack" {
  description = "Use HEC indexer acknowledgement."
  type        = bool
  default     = false
}

variable "sinks" {
  description = "Sinks the findings are delivered to: splunk, securityhub. Results always land in the results bucket too."
  type        = list(string)
  default     = ["securityhub"]

  validation {
    condition     = alltrue([for s in var.sinks : contains(["splunk", "securityhub"], s)])
    error_message = "sinks may only contain splunk and securityhub."
  }
}

variable "azure_credentials_secret_arn" {
  description = "Full ARN of the secret with the Azure service principal (empty: Azure is not scanned)."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^(|arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\\d{12}:secret:.+)$", var.azure_credentials_secret_arn))
    error_message = "azure_credentials_secret_arn must be empty or a full Secrets Manager secret ARN."
  }
}

variable "azure_subscriptions" {
  description = "Azure subscription ids (empty: every subscription the credential can list)."
  type        = list(string)
  default     = []
}

variable "gcp_wif_config_secret_arn" {
  description = "Full ARN of the secret with the Google workload identity federation credential configuration (empty: Google Cloud is not scanned)."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^(|arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\\d{12}:secret:.+)$", var.gcp_wif_config_secret_arn))
    error_message = "gcp_wif_config_secret_arn must be empty or a full Secrets Manager secret ARN."
  }
}

variable "gcp_projects" {
  description = "Google Cloud project ids (empty: every project the credential can list)."
  type        = list(string)
  default     = []
}

variable "results_retention_days" {
  description = "Days the per-run results (runs/ prefix of the results bucket) are kept."
  type        = number
  default     = 30

  validation {
    condition     = var.results_retention_days >= 1 && var.results_retention_days <= 3650
    error_message = "results_retention_days must be between 1 and 3650."
  }
}

variable "log_retention_days" {
  description = "Days the functions' and the state machine's CloudWatch logs are kept."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, ..., 365, ..., 3653)."
  }
}

variable "access_log_bucket_name" {
  description = "Existing bucket that receives S3 server access logs of the results bucket (empty: no server access logs)."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Tags applied to every resource that takes tags."
  type        = map(string)
  default     = {}
}

# Minimal deployment of aispm in one account: scan SageMaker in every enabled region of this account once a day
# and import the findings into Security Hub. Build the function zips first: `make build` at the repository root.

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 7.0"
    }
  }
}

provider "aws" {
  region = var.region
}

variable "region" {
  description = "Region to deploy aispm to (Security Hub findings are imported there)."
  type        = string
  default     = "us-east-1"
}

module "aispm" {
  source = "../.."

  name                = "aispm"
  schedule_expression = "cron(0 3 * * ? *)"
  regions             = ["all"]
  sinks               = ["securityhub"]

  tags = {
    application = "aispm"
  }
}

output "state_machine_arn" {
  value = module.aispm.state_machine_arn
}

output "results_bucket_name" {
  value = module.aispm.results_bucket_name
}

output "collector_role_arn" {
  value = module.aispm.collector_role_arn
}

# apigw-compliance member role in every account of some OUs of an AWS organization: a
# service-managed CloudFormation StackSet of ../member-role-stackset.yaml (the same
# template as without Terraform), with auto-deployment, so accounts that join the OUs
# later get the role too and accounts that leave lose it. See ../../organization.md.
#
# Run it with a provider for the organization's management account (call_as = "SELF")
# or for a delegated administrator account for StackSets (call_as = "DELEGATED_ADMIN"),
# with trusted access for StackSets activated. IAM is global: the one stack instance
# per account is created in the provider's region.
#
#   module "apigw_member_role" {
#     source                  = "./docs/iam/organization/terraform"
#     operator_role_arn       = "arn:aws:iam::111122223333:role/apigw-compliance"
#     external_id             = "org-audit-1234"
#     organizational_unit_ids = ["ou-ab12-cd34ef56"]
#   }
#
# Not checked in CI (Terraform is not installed there): tests/integration/iam_templates.rs
# checks only that this file names the template and its parameters.

terraform {
  required_version = ">= 1.3"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 7.0"
    }
  }
}

resource "aws_cloudformation_stack_set" "member_role" {
  name             = var.stack_set_name
  description      = "apigw-compliance member role (docs/iam/organization.md)"
  permission_model = "SERVICE_MANAGED"
  call_as          = var.call_as
  capabilities     = ["CAPABILITY_NAMED_IAM"]
  template_body    = file("${path.module}/../member-role-stackset.yaml")

  # Every template parameter is set, as the provider requires of a StackSet.
  parameters = {
    OperatorRoleArn   = var.operator_role_arn
    ExternalId        = var.external_id
    RoleName          = var.role_name
    EnableRemediation = var.enable_remediation ? "true" : "false"
  }

  auto_deployment {
    enabled                          = true
    retain_stacks_on_account_removal = false
  }

  lifecycle {
    # AWS fills in the StackSets service-linked role for a service-managed StackSet;
    # without this, provider versions before the fix plan to remove it at every apply.
    ignore_changes = [administration_role_arn]
  }
}

resource "aws_cloudformation_stack_set_instance" "member_role" {
  stack_set_name = aws_cloudformation_stack_set.member_role.name
  call_as        = var.call_as

  deployment_targets {
    organizational_unit_ids = var.organizational_unit_ids
  }
}

output "stack_set_id" {
  description = "The StackSet's id"
  value       = aws_cloudformation_stack_set.member_role.stack_set_id
}

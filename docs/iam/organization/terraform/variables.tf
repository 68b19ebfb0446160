variable "operator_role_arn" {
  description = "The operator's own IAM role (IRSA / EKS Pod Identity), e.g. arn:aws:iam::111122223333:role/apigw-compliance: the only principal the member role trusts."
  type        = string
  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$", var.operator_role_arn))
    error_message = "operator_role_arn: an IAM role ARN."
  }
}

variable "external_id" {
  description = "The sts:ExternalId the operator must present: the profile's spec.scope.organization.externalId and the tenancy grant's externalId."
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@:/_-]{2,1224}$", var.external_id))
    error_message = "external_id: 2-1224 letters, digits and +=,.@:/_-."
  }
}

variable "role_name" {
  description = "The member role's name: the profile's spec.scope.organization.roleName."
  type        = string
  default     = "apigw-compliance-audit"
  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.role_name))
    error_message = "role_name: 1-64 letters, digits and +=,.@_-."
  }
}

variable "enable_remediation" {
  description = "true: the member role may also make the changes Enforce makes (docs/iam/remediation/all.json); false: read only (Observe, DryRun)."
  type        = bool
  default     = false
}

variable "organizational_unit_ids" {
  description = "The OUs (ou-...) or the root (r-...) whose accounts get the member role, now and as they join (auto-deployment). The management account never gets it from a service-managed StackSet."
  type        = list(string)
  validation {
    condition     = length(var.organizational_unit_ids) > 0 && alltrue([for id in var.organizational_unit_ids : can(regex("^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})$", id))])
    error_message = "organizational_unit_ids: at least one OU id (ou-ab12-cd34ef56) or root id (r-ab12)."
  }
}

variable "stack_set_name" {
  description = "The StackSet's name."
  type        = string
  default     = "apigw-compliance-member-role"
}

variable "call_as" {
  description = "SELF in the management account; DELEGATED_ADMIN in a member account registered as a delegated administrator for StackSets."
  type        = string
  default     = "SELF"
  validation {
    condition     = contains(["SELF", "DELEGATED_ADMIN"], var.call_as)
    error_message = "call_as: SELF or DELEGATED_ADMIN."
  }
}

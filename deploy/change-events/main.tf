# apigw-compliance change events for one account and region (the provider's): the
# Terraform equivalent of cloudformation.yaml beside this file. An EventBridge rule
# matches CloudTrail's record of the API Gateway and WAF calls that change what the
# Security Hub API Gateway controls check, and delivers it to an SQS queue the operator
# reads (--change-events-queue-url; chart value changeEvents.queueUrls).
#
# Without central_queue_arn: a "queue stack" (queue, dead-letter queue, rule).
# With central_queue_arn: a "forwarder stack" (rule and the role it sends with) that
# sends to a queue stack of another account in the same region. See
# docs/change-events.md.
#
# Use it as a module (one instance per account and region, each with its own provider):
#
#   module "apigw_change_events" {
#     source            = "./deploy/change-events"
#     operator_role_arn = "arn:aws:iam::111122223333:role/apigw-compliance"
#   }

terraform {
  required_version = ">= 1.3"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

variable "queue_name" {
  description = "Queue stack: the queue's name; the dead-letter queue is NAME-dlq."
  type        = string
  default     = "apigw-compliance-change-events"
  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,76}$", var.queue_name))
    error_message = "queue_name: 1-76 letters, digits, - and _."
  }
}

variable "rule_name" {
  description = "The EventBridge rule's name. A forwarder's role is named RULENAME-REGION; a queue stack lets in only roles of that name from its senders, so use the same rule_name everywhere in one set."
  type        = string
  default     = "apigw-compliance-change-events"
  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,40}$", var.rule_name))
    error_message = "rule_name: 1-40 letters, digits, ., - and _."
  }
}

variable "central_queue_arn" {
  description = "Empty: a queue stack. Set: a forwarder stack sending to this queue, which must be in the provider's region (EventBridge delivers to SQS queues of other accounts in the same region only) and let this account in (sender_account_ids or sender_organization_id of its stack). It decides what is created, so it must be known at plan time (a literal or a variable, not another resource's attribute)."
  type        = string
  default     = ""
  validation {
    condition     = can(regex("^(arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80})?$", var.central_queue_arn))
    error_message = "central_queue_arn: an SQS queue ARN, or empty."
  }
}

variable "operator_role_arn" {
  description = "Queue stack: the operator's IAM role when it is in another account; the queue policy lets it receive, delete, change visibility and read attributes. Empty when it is in this account (its own policy, docs/iam/change-events.json, is enough)."
  type        = string
  default     = ""
  validation {
    condition     = can(regex("^(arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+)?$", var.operator_role_arn))
    error_message = "operator_role_arn: an IAM role ARN, or empty."
  }
}

variable "sender_account_ids" {
  description = "Queue stack: accounts whose forwarder stacks (same rule_name, this region) may send to this queue."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for id in var.sender_account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "sender_account_ids: 12-digit account ids."
  }
}

variable "sender_organization_id" {
  description = "Queue stack: an AWS Organizations id (o-...) whose accounts' forwarder stacks may send to this queue."
  type        = string
  default     = ""
  validation {
    condition     = can(regex("^(o-[a-z0-9]{10,32})?$", var.sender_organization_id))
    error_message = "sender_organization_id: o-... or empty."
  }
}

variable "visibility_timeout_seconds" {
  description = "Queue stack: the queue's default visibility timeout (the operator sets its own on each receive: --change-events-visibility-seconds, default 300)."
  type        = number
  default     = 300
}

variable "max_receive_count" {
  description = "Queue stack: receives after which a message never deleted moves to the dead-letter queue."
  type        = number
  default     = 5
}

variable "tags" {
  description = "Tags for every resource created."
  type        = map(string)
  default     = {}
}

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  forwarder = var.central_queue_arn != ""
  queue     = !local.forwarder
  # In provider 5.x aws_region has `name` (6.x renames it `region`).
  region   = data.aws_region.current.name
  rule_arn = "arn:${data.aws_partition.current.partition}:events:${local.region}:${data.aws_caller_identity.current.account_id}:rule/${var.rule_name}"
  # The forwarder role of every sender: the same name in each account of this region.
  forwarder_role_pattern = "arn:${data.aws_partition.current.partition}:iam::*:role/${var.rule_name}-${local.region}"

  event_pattern = {
    source        = ["aws.apigateway", "aws.wafv2"]
    "detail-type" = ["AWS API Call via CloudTrail"]
    detail = {
      eventSource = ["apigateway.amazonaws.com", "wafv2.amazonaws.com"]
      eventName = [
        "CreateStage", "UpdateStage", "DeleteStage", "CreateDeployment",
        "CreateRestApi", "ImportRestApi", "PutRestApi", "UpdateRestApi", "DeleteRestApi",
        "CreateApi", "ImportApi", "ReimportApi", "UpdateApi", "DeleteApi",
        "CreateRoute", "UpdateRoute", "DeleteRoute",
        "CreateIntegration", "UpdateIntegration", "DeleteIntegration", "PutIntegration",
        "DeleteAccessLogSettings", "DeleteRouteSettings",
        "CreateDomainName", "UpdateDomainName", "DeleteDomainName",
        "TagResource", "UntagResource", "UpdateAccount",
        "AssociateWebACL", "DisassociateWebACL",
      ]
    }
  }
}

# ---------------------------------------------------------------------------------
# Queue stack

resource "aws_sqs_queue" "dlq" {
  count                   = local.queue ? 1 : 0
  name                    = "${var.queue_name}-dlq"
  sqs_managed_sse_enabled = true
  # Longer than the queue's: a standard queue's message keeps its first enqueue time
  # when it moves here.
  message_retention_seconds = 1209600
  # Only the change-events queue may use it as its dead-letter queue.
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = ["arn:${data.aws_partition.current.partition}:sqs:${local.region}:${data.aws_caller_identity.current.account_id}:${var.queue_name}"]
  })
  tags = var.tags
}

resource "aws_sqs_queue" "queue" {
  count                      = local.queue ? 1 : 0
  name                       = var.queue_name
  sqs_managed_sse_enabled    = true
  visibility_timeout_seconds = var.visibility_timeout_seconds
  # Long polling; the operator asks for 20 s on each receive too.
  receive_wait_time_seconds = 20
  message_retention_seconds = 345600
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[0].arn
    maxReceiveCount     = var.max_receive_count
  })
  tags = var.tags
}

data "aws_iam_policy_document" "dlq" {
  count = local.queue ? 1 : 0
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.dlq[0].arn]
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

resource "aws_sqs_queue_policy" "dlq" {
  count     = local.queue ? 1 : 0
  queue_url = aws_sqs_queue.dlq[0].id
  policy    = data.aws_iam_policy_document.dlq[0].json
}

data "aws_iam_policy_document" "queue" {
  count = local.queue ? 1 : 0

  statement {
    sid       = "TheRuleOfThisStack"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.queue[0].arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.rule_arn]
    }
  }

  dynamic "statement" {
    for_each = length(var.sender_account_ids) > 0 ? [1] : []
    content {
      sid       = "ForwarderRolesOfTheSenderAccounts"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.queue[0].arn]
      principals {
        type        = "AWS"
        identifiers = var.sender_account_ids
      }
      condition {
        test     = "ArnLike"
        variable = "aws:PrincipalArn"
        values   = [local.forwarder_role_pattern]
      }
    }
  }

  dynamic "statement" {
    for_each = var.sender_organization_id != "" ? [1] : []
    content {
      sid       = "ForwarderRolesOfTheOrganization"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.queue[0].arn]
      principals {
        type        = "*"
        identifiers = ["*"]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:PrincipalOrgID"
        values   = [var.sender_organization_id]
      }
      condition {
        test     = "ArnLike"
        variable = "aws:PrincipalArn"
        values   = [local.forwarder_role_pattern]
      }
    }
  }

  dynamic "statement" {
    for_each = var.operator_role_arn != "" ? [1] : []
    content {
      sid = "TheOperatorReadsTheQueue"
      actions = [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
      ]
      resources = [aws_sqs_queue.queue[0].arn]
      principals {
        type        = "AWS"
        identifiers = [var.operator_role_arn]
      }
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.queue[0].arn]
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

resource "aws_sqs_queue_policy" "queue" {
  count     = local.queue ? 1 : 0
  queue_url = aws_sqs_queue.queue[0].id
  policy    = data.aws_iam_policy_document.queue[0].json
}

# ---------------------------------------------------------------------------------
# Forwarder stack: EventBridge sends to a queue of another account with a role of this
# account (the central queue's policy lets this role's name in).

data "aws_iam_policy_document" "forwarder_trust" {
  count = local.forwarder ? 1 : 0
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [local.rule_arn]
    }
  }
}

resource "aws_iam_role" "forwarder" {
  count              = local.forwarder ? 1 : 0
  name               = "${var.rule_name}-${local.region}"
  description        = "EventBridge sends apigw-compliance change events to the central queue with this role."
  assume_role_policy = data.aws_iam_policy_document.forwarder_trust[0].json
  tags               = var.tags
}

resource "aws_iam_role_policy" "forwarder" {
  count = local.forwarder ? 1 : 0
  name  = "send-to-the-central-queue"
  role  = aws_iam_role.forwarder[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = "sqs:SendMessage"
      Resource = var.central_queue_arn
    }]
  })
}

# ---------------------------------------------------------------------------------
# The rule (both)

resource "aws_cloudwatch_event_rule" "changes" {
  name           = var.rule_name
  description    = "CloudTrail records of API Gateway and WAF calls that change what apigw-compliance checks."
  event_bus_name = "default"
  event_pattern  = jsonencode(local.event_pattern)
  tags           = var.tags
}

resource "aws_cloudwatch_event_target" "queue" {
  rule      = aws_cloudwatch_event_rule.changes.name
  target_id = "apigw-compliance"
  arn       = local.forwarder ? var.central_queue_arn : aws_sqs_queue.queue[0].arn
  role_arn  = local.forwarder ? aws_iam_role.forwarder[0].arn : null
  # The queue policy must let the rule in before the first event is sent.
  depends_on = [aws_sqs_queue_policy.queue, aws_iam_role_policy.forwarder]
}

# ---------------------------------------------------------------------------------

output "queue_url" {
  description = "Queue stack: give it to the operator (chart value changeEvents.queueUrls)."
  value       = local.queue ? aws_sqs_queue.queue[0].url : null
}

output "queue_arn" {
  description = "Queue stack: the queue's ARN (forwarders' central_queue_arn; the operator role's policy)."
  value       = local.queue ? aws_sqs_queue.queue[0].arn : null
}

output "dead_letter_queue_url" {
  description = "Queue stack: messages received max_receive_count times without being deleted."
  value       = local.queue ? aws_sqs_queue.dlq[0].url : null
}

output "rule_arn" {
  description = "The EventBridge rule."
  value       = aws_cloudwatch_event_rule.changes.arn
}

output "forwarder_role_arn" {
  description = "Forwarder stack: the role EventBridge sends to the central queue with."
  value       = local.forwarder ? aws_iam_role.forwarder[0].arn : null
}

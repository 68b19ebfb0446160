//! The AWS edge of remediation: checks a plan's preconditions once each, then makes
//! (Enforce) or shows (DryRun) its calls one at a time, and reports every item.
//!
//! Calls go one after another, never in parallel: the account's management API
//! allows 10 requests per second for every caller together. A refused call fails only
//! its own change; the others still go. A precondition that does not hold blocks only
//! the items that need it, reported as such (not as a failed call). Reads are only
//! what a change needs: GetAccount once per region for execution logging, GetWebACL
//! once per web ACL, GetClientCertificates once per region when a certificate is to be
//! generated, and before every write a read of the one resource it changes, since the
//! plan's read can be an interval old: GetStage for each REST stage (one read serves
//! its UpdateStage and the AssociateWebACL after it), GetDomainName for each domain
//! name, GetStage for each v2 stage (its settings objects are read-modify-written). The
//! items are re-planned against that read: what already passes, or would now be
//! lowered or replaced, is not sent. DryRun makes those reads and no write.
//!
//! One file per service: [`rest`] (API Gateway: UpdateStage, UpdateDomainName, the
//! CloudWatch role, client certificates), [`v2`] (API Gateway v2: the read-modify-write
//! of a stage's settings, its merge a pure function), [`waf`] (WAFv2: the web ACL);
//! [`recheck`] re-plans REST items against the fresh read (pure).

mod edge;
mod options;
mod recheck;
mod rest;
mod v2;
mod waf;

use std::collections::{BTreeMap, HashMap};

use aws_config::SdkConfig;

use crate::model::outcome::{
    ApplyOutcome, CertificateAction, CertificateResult, ChangeOutcome, ItemOutcome, ItemStatus,
    PreconditionResult,
};
use crate::model::plan::{
    Call, Change, ChangeItem, Edit, Operation, PatchValue, Precondition, RemediationPlan,
};

pub use options::{ApplyOptions, WriteGate};
pub use rest::MANAGED_CERTIFICATE_TAG;

use edge::{Edge, Pending, Settled};

/// Applies `plan.changes` (never `plan.pending`). Never fails as a whole: each change
/// reports its own result.
pub async fn apply(
    plan: &RemediationPlan,
    sdk: &SdkConfig,
    options: &ApplyOptions,
) -> ApplyOutcome {
    let mut edge = Edge {
        sdk,
        clients: HashMap::new(),
        options,
        stage_reads: HashMap::new(),
    };
    let mut outcome = ApplyOutcome {
        dry_run: options.dry_run,
        ..ApplyOutcome::default()
    };

    let mut checks: BTreeMap<Precondition, PreconditionResult> = BTreeMap::new();
    let mut certificate_regions: Vec<&str> = Vec::new();
    for change in &plan.changes {
        for item in &change.items {
            if let Some(precondition) = &item.precondition
                && !checks.contains_key(precondition)
            {
                let result = edge.check(precondition).await;
                checks.insert(precondition.clone(), result);
            }
            if matches!(
                &item.edit,
                Edit::RestReplace {
                    value: PatchValue::GeneratedClientCertificate,
                    ..
                }
            ) && !certificate_regions.contains(&change.region.as_str())
            {
                certificate_regions.push(&change.region);
            }
        }
    }
    outcome.preconditions = checks.values().cloned().collect();

    let mut certificates: HashMap<String, CertificateResult> = HashMap::new();
    for region in certificate_regions {
        let result = edge.client_certificate(region).await;
        outcome.client_certificates.push(result.clone());
        certificates.insert(region.to_string(), result);
    }

    for change in &plan.changes {
        outcome
            .changes
            .push(edge.change(change, &checks, &certificates).await);
    }
    outcome
}

impl Edge<'_> {
    async fn check(&mut self, precondition: &Precondition) -> PreconditionResult {
        let (satisfied, message) = match precondition {
            Precondition::CloudWatchRoleArn { region } => self.cloudwatch_role(region).await,
            Precondition::WebAclExists { web_acl_arn } => self.web_acl_exists(web_acl_arn).await,
        };
        if !satisfied {
            tracing::warn!(precondition = %precondition.describe(), %message, "remediation precondition not met");
        }
        PreconditionResult {
            precondition: precondition.clone(),
            satisfied,
            message,
        }
    }

    async fn change(
        &mut self,
        change: &Change,
        checks: &BTreeMap<Precondition, PreconditionResult>,
        certificates: &HashMap<String, CertificateResult>,
    ) -> ChangeOutcome {
        let mut pending: Vec<Pending> = change
            .items
            .iter()
            .map(|item| prepare(item, &change.region, checks, certificates))
            .collect();

        let call = match &change.operation {
            Operation::RestUpdateStage {
                rest_api_id,
                stage_name,
            } => {
                self.rest_update_stage(change, rest_api_id, stage_name, &mut pending)
                    .await
            }
            Operation::V2UpdateStage {
                api_id,
                stage_name,
                protocol,
            } => {
                self.v2_update_stage(change, api_id, stage_name, *protocol, &mut pending)
                    .await
            }
            Operation::AssociateWebAcl { web_acl_arn } => {
                self.associate_web_acl(change, web_acl_arn, &mut pending)
                    .await
            }
            Operation::UpdateDomainName { domain_name } => {
                self.update_domain_name(change, domain_name, &mut pending)
                    .await
            }
        };

        let items = pending
            .into_iter()
            .map(|p| item_outcome(p, change, &call))
            .collect();
        ChangeOutcome {
            region: change.region.clone(),
            resource_arn: change.resource_arn.clone(),
            call,
            items,
            notes: change.notes.clone(),
        }
    }
}

/// An item before its call: blocked by a precondition that does not hold, failed with
/// the region's certificate, or open with the certificate id filled in.
fn prepare<'a>(
    item: &'a ChangeItem,
    region: &str,
    checks: &BTreeMap<Precondition, PreconditionResult>,
    certificates: &HashMap<String, CertificateResult>,
) -> Pending<'a> {
    let mut pending = Pending::new(item);
    if let Some(check) = item.precondition.as_ref().and_then(|p| checks.get(p))
        && !check.satisfied
    {
        pending.result = Some(Settled::new(
            ItemStatus::BlockedPrecondition,
            Some(check.message.clone()),
        ));
    } else if let Edit::RestReplace {
        path,
        value: PatchValue::GeneratedClientCertificate,
    } = &item.edit
    {
        match certificates.get(region) {
            Some(CertificateResult {
                client_certificate_id: Some(id),
                ..
            }) => {
                pending.edit = Edit::RestReplace {
                    path: path.clone(),
                    value: PatchValue::Literal(id.clone()),
                };
            }
            Some(CertificateResult {
                action: CertificateAction::Failed,
                message,
                ..
            }) => pending.result = Some(Settled::new(ItemStatus::Failed, Some(message.clone()))),
            // DryRun with nothing to reuse: shown with the placeholder.
            _ => {}
        }
    }
    pending
}

/// An item's outcome, logged when it changed something or failed.
fn item_outcome(p: Pending<'_>, change: &Change, call: &Call) -> ItemOutcome {
    let settled = p
        .result
        .unwrap_or_else(|| Settled::new(ItemStatus::AlreadyCompliant, None));
    match settled.status {
        ItemStatus::Applied => tracing::info!(
            control = %p.item.control_id,
            resource = %change.resource_arn,
            operation = %call.operation,
            setting = %p.item.setting,
            before = %p.item.before,
            after = %p.item.after,
            "remediated"
        ),
        ItemStatus::Failed => tracing::warn!(
            control = %p.item.control_id,
            resource = %change.resource_arn,
            operation = %call.operation,
            setting = %p.item.setting,
            message = settled.message.as_deref().unwrap_or_default(),
            "remediation failed"
        ),
        _ => {}
    }
    ItemOutcome {
        control_id: p.item.control_id,
        setting: p.item.setting.clone(),
        before: p.item.before.clone(),
        after: match &p.edit {
            Edit::RestReplace {
                value: PatchValue::Literal(value),
                ..
            } => value.clone(),
            _ => p.item.after.clone(),
        },
        status: settled.status,
        message: settled.message,
        kind: settled.kind,
    }
}

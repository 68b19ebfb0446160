//! The accounts a profile scans, for both shells: the one its identity is in, or the
//! member accounts of an AWS organization (`spec.scope.organization`), each scanned as
//! the member role assumed in it.
//!
//! ```text
//! discover(access, scope)   the listing identity (scope.roleArn, or the caller's own)
//!                           -> AWS Organizations: the accounts of the organization or
//!                              its units -> organization::select_accounts -> one
//!                              member role per account                        (AWS)
//! unreachable(..)           an account whose role was refused: a read holding only
//!                           that error (per region), so it is an error of that
//!                           account alone (pure)
//! ```

use std::sync::Arc;

use crate::aws::identity::{AssumeRoleError, AwsAccess, Identity};
use crate::aws::organization::{OrganizationError, list_accounts};
use crate::crd::Scope;
use crate::inventory::{Inventory, ReadError};
use crate::model::Finding;

use super::organization::{member_role_arn, select_accounts};

/// How many accounts of an organization are assumed and read at once. API Gateway's
/// rate limits are per account, so accounts read side by side do not slow each other;
/// this bounds the process's connections and memory instead (each account's reads of
/// its regions run with their own concurrency within).
pub const ACCOUNT_CONCURRENCY: usize = 8;

/// A member account of an organization and the role to scan it as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberAccount {
    pub account: String,
    pub identity: Identity,
}

/// The organization's accounts could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The listing role (`spec.scope.roleArn`) could not be assumed.
    #[error("cannot list the organization's accounts: {0}")]
    Lister(#[from] AssumeRoleError),
    #[error(transparent)]
    Organization(#[from] OrganizationError),
}

impl DiscoveryError {
    /// Whether retrying cannot help until someone changes IAM or the profile.
    pub fn is_terminal(&self) -> bool {
        match self {
            DiscoveryError::Lister(e) => e.kind.is_terminal(),
            DiscoveryError::Organization(e) => e.kind.is_terminal(),
        }
    }
}

/// The member accounts the profile's organization scope selects today, each with the
/// member role to assume in it (`region`: where STS and Organizations are called, the
/// profile's first region). `None` when the scope names no organization.
pub async fn discover(
    access: &Arc<AwsAccess>,
    scope: &Scope,
    region: &str,
) -> Option<Result<Vec<MemberAccount>, DiscoveryError>> {
    let organization = scope.organization.as_ref()?;
    let discovered = async {
        let lister = access
            .identity(
                &Identity::new(scope.role_arn.as_deref(), scope.external_id.as_deref()),
                region,
            )
            .await?;
        let listed = list_accounts(&lister.sdk, &organization.organizational_units).await?;
        Ok(select_accounts(&listed, organization)
            .into_iter()
            .map(|account| MemberAccount {
                identity: Identity::Role {
                    arn: member_role_arn(region, &account, &organization.role_name),
                    external_id: organization.external_id.clone(),
                },
                account,
            })
            .collect())
    };
    Some(discovered.await)
}

/// The read of an account whose member role was refused: no region read, one error
/// per region of the scope naming the account, so its resources there are neither
/// passed nor failed (nor archived by an export) and the other accounts' verdicts
/// stand.
pub fn unreachable(account: &str, regions: &[String], error: &AssumeRoleError) -> Inventory {
    Inventory {
        regions: Vec::new(),
        errors: regions
            .iter()
            .map(|region| ReadError {
                account_id: Some(account.to_string()),
                region: region.clone(),
                resource_arn: None,
                operation: "AssumeRole".to_string(),
                kind: error.kind,
                message: format!("account {account}: {error}"),
            })
            .collect(),
    }
}

/// The findings of `account` (`None`: of the identity whose account could not be
/// told) among a scan's findings, which come sorted by account: what remediation plans
/// with that account's reads.
pub fn findings_of<'f>(findings: &'f [Finding], account: Option<&str>) -> &'f [Finding] {
    let account = account.unwrap_or_default();
    let start = findings.partition_point(|f| f.account_id.as_str() < account);
    let end = start + findings[start..].partition_point(|f| f.account_id == account);
    &findings[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ControlId, ErrorKind, ResourceType, Severity, Status};

    #[test]
    fn the_findings_of_an_account_are_its_run_of_the_sorted_findings() {
        let finding = |account: &str, stage: &str| Finding {
            control_id: ControlId::new("APIGateway.1"),
            resource_type: ResourceType::RestStage,
            resource_arn: format!("arn:aws:apigateway:us-east-1::/restapis/a1/stages/{stage}"),
            resource_name: format!("orders/{stage}"),
            account_id: account.to_string(),
            region: "us-east-1".to_string(),
            status: Status::Failed,
            severity: Severity::Medium,
            reason: "x".to_string(),
            exempted: false,
        };
        let findings = [
            finding("111111111111", "a"),
            finding("111111111111", "b"),
            finding("222222222222", "a"),
            finding("333333333333", "c"),
        ];
        assert_eq!(findings_of(&findings, Some("111111111111")).len(), 2);
        assert_eq!(
            findings_of(&findings, Some("222222222222")),
            &findings[2..3]
        );
        assert!(findings_of(&findings, Some("444444444444")).is_empty());
        assert!(findings_of(&findings, None).is_empty());
        let unknown = [finding("", "a")];
        assert_eq!(findings_of(&unknown, None).len(), 1);
    }

    #[test]
    fn an_unreachable_account_is_an_error_of_that_account_in_each_region() {
        let refused = AssumeRoleError {
            role: "arn:aws:iam::222222222222:role/audit".to_string(),
            kind: ErrorKind::AccessDenied,
            message: "not authorized to perform sts:AssumeRole".to_string(),
        };
        let regions = ["eu-west-1".to_string(), "us-east-1".to_string()];
        let read = unreachable("222222222222", &regions, &refused);
        assert!(read.regions.is_empty());
        let [error, other] = read.errors.as_slice() else {
            panic!("one error per region expected: {:?}", read.errors);
        };
        assert_eq!(
            (error.region.as_str(), other.region.as_str()),
            ("eu-west-1", "us-east-1")
        );
        assert_eq!(other.account_id.as_deref(), Some("222222222222"));
        assert_eq!(error.account_id.as_deref(), Some("222222222222"));
        assert_eq!(error.operation, "AssumeRole");
        assert_eq!(error.kind, ErrorKind::AccessDenied);
        assert!(
            error.message.starts_with(
                "account 222222222222: cannot assume role arn:aws:iam::222222222222:role/audit"
            ),
            "{}",
            error.message
        );
    }
}

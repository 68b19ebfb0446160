//! The accounts of an AWS Organization, for a profile's `spec.scope.organization`:
//! the whole organization (ListAccounts), or the accounts under some organizational
//! units, recursively (ListAccountsForParent and ListOrganizationalUnitsForParent from
//! each unit down). AWS I/O only: which of them a profile scans is decided, purely, in
//! `pipeline::organization`.
//!
//! Organizations is a global service: its client resolves the partition's one endpoint
//! from whatever region the configuration carries, so the configuration is used as
//! given (a profile's first region will do; `AWS_ENDPOINT_URL` points it at an
//! emulator). Only the organization's management account or a delegated administrator
//! may list; any other identity is refused with AccessDenied.

use std::collections::BTreeSet;

use aws_config::SdkConfig;
use aws_sdk_organizations::Client;
use aws_sdk_organizations::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_organizations::types::{Account, AccountState, AccountStatus};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::model::ErrorKind;

use super::error::{AwsError, Needed, classify};

/// The IAM policy the listing identity needs, named in messages.
const LIST_POLICY: &str = "docs/iam/organization-list.json";

/// One account of the organization, as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrganizationAccount {
    /// The 12-digit account id.
    pub id: String,
    /// The account's friendly name (empty when AWS gave none).
    pub name: String,
    /// The account is ACTIVE: not suspended, closed, or still being created or closed.
    pub active: bool,
}

/// The organization's accounts could not be listed. `kind` says whether retrying can
/// help; `message` says what to change.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct OrganizationError {
    pub kind: ErrorKind,
    pub message: String,
}

/// The accounts of the organization the configuration's identity belongs to: all of
/// them when `organizational_units` is empty, else those in these units (an OU id
/// `ou-...`, or a root id `r-...`) and in the units below them. Each unit is listed
/// once even when the list names a unit and one of its ancestors. Every page of every
/// list is read; the first failed call fails the listing.
pub async fn list_accounts(
    sdk: &SdkConfig,
    organizational_units: &[String],
) -> Result<Vec<OrganizationAccount>, OrganizationError> {
    let region = sdk
        .region()
        .map(|r| r.as_ref().to_string())
        .ok_or_else(|| OrganizationError {
            kind: ErrorKind::Invalid,
            message: "listing the organization's accounts needs an AWS region to resolve the \
                      Organizations endpoint from: set one (AWS_REGION) or give the profile a \
                      region"
                .to_string(),
        })?;
    let client = Client::new(sdk);
    if organizational_units.is_empty() {
        return whole_organization(&client, &region).await;
    }
    let mut accounts = Vec::new();
    let mut visited = BTreeSet::new();
    let mut pending: Vec<String> = organizational_units.to_vec();
    while let Some(parent) = pending.pop() {
        if !visited.insert(parent.clone()) {
            continue;
        }
        accounts.extend(accounts_in(&client, &region, &parent).await?);
        pending.extend(units_in(&client, &region, &parent).await?);
    }
    Ok(accounts)
}

/// ListAccounts, every page.
async fn whole_organization(
    client: &Client,
    region: &str,
) -> Result<Vec<OrganizationAccount>, OrganizationError> {
    let pages = client
        .list_accounts()
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| organization_error(region, "ListAccounts", None, &e))?;
    Ok(pages
        .iter()
        .flat_map(|page| page.accounts())
        .filter_map(listed)
        .collect())
}

/// ListAccountsForParent of one unit, every page: the accounts directly in it.
async fn accounts_in(
    client: &Client,
    region: &str,
    parent: &str,
) -> Result<Vec<OrganizationAccount>, OrganizationError> {
    let pages = client
        .list_accounts_for_parent()
        .parent_id(parent)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| organization_error(region, "ListAccountsForParent", Some(parent), &e))?;
    Ok(pages
        .iter()
        .flat_map(|page| page.accounts())
        .filter_map(listed)
        .collect())
}

/// ListOrganizationalUnitsForParent of one unit, every page: the ids of the units
/// directly below it.
async fn units_in(
    client: &Client,
    region: &str,
    parent: &str,
) -> Result<Vec<String>, OrganizationError> {
    let pages = client
        .list_organizational_units_for_parent()
        .parent_id(parent)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| {
            organization_error(region, "ListOrganizationalUnitsForParent", Some(parent), &e)
        })?;
    Ok(pages
        .iter()
        .flat_map(|page| page.organizational_units())
        .filter_map(|unit| unit.id().map(str::to_string))
        .collect())
}

/// An account as listed; `None` for an entry without an id (the API always sends one).
fn listed(account: &Account) -> Option<OrganizationAccount> {
    Some(OrganizationAccount {
        id: account.id()?.to_string(),
        name: account.name().unwrap_or_default().to_string(),
        active: is_active(account),
    })
}

/// Whether the account is ACTIVE. `State` is the current field; `Status` is the one
/// AWS is retiring (its values are a subset of `State`'s), read only when an answer
/// has no `State`.
fn is_active(account: &Account) -> bool {
    match (account.state(), account.status()) {
        (Some(state), _) => *state == AccountState::Active,
        (None, Some(status)) => *status == AccountStatus::Active,
        (None, None) => false,
    }
}

/// Classifies a failed Organizations call with the shared classification, then says
/// what to do in this API's terms for the cases a user can fix.
fn organization_error<E>(
    region: &str,
    operation: &str,
    parent: Option<&str>,
    err: &SdkError<E, HttpResponse>,
) -> OrganizationError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let classified = classify(region, operation, Needed::Read, err);
    let service = err.as_service_error();
    let code = service.and_then(|e| e.code()).unwrap_or_default();
    let text = service.and_then(|e| e.message()).unwrap_or("no message");
    advise(classified, operation, parent, code, text)
}

/// The error for a failed call: `classified` is the shared classification, `code` and
/// `text` the service's error code and message (empty code when the call never got
/// an answer).
fn advise(
    classified: AwsError,
    operation: &str,
    parent: Option<&str>,
    code: &str,
    text: &str,
) -> OrganizationError {
    match code {
        "AWSOrganizationsNotInUseException" => OrganizationError {
            kind: ErrorKind::Invalid,
            message: format!(
                "{operation} was refused because the listing identity's account is not in an \
                 AWS organization ({code}: {text}); list with an identity of the organization's \
                 management account or of a delegated administrator (spec.scope.roleArn)"
            ),
        },
        "ParentNotFoundException" | "TargetNotFoundException" => OrganizationError {
            kind: ErrorKind::NotFound,
            message: format!(
                "{operation}: the organizational unit {} does not exist in this organization \
                 ({code}: {text}); correct spec.scope.organization.organizationalUnits (ou-... \
                 or a root id r-...)",
                parent.unwrap_or("named"),
            ),
        },
        _ if classified.kind == ErrorKind::AccessDenied => {
            let actions = if parent.is_some() {
                "organizations:ListAccountsForParent and organizations:ListOrganizationalUnitsForParent"
            } else {
                "organizations:ListAccounts"
            };
            OrganizationError {
                kind: ErrorKind::AccessDenied,
                message: format!(
                    "{operation} was denied ({code}: {text}); the listing identity needs \
                     {actions} ({LIST_POLICY}) and must be the organization's management \
                     account or a delegated administrator"
                ),
            }
        }
        _ => OrganizationError {
            kind: classified.kind,
            message: classified.message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(state: Option<AccountState>, status: Option<AccountStatus>) -> Account {
        let mut builder = Account::builder().id("123456789012").name("prod");
        if let Some(state) = state {
            builder = builder.state(state);
        }
        if let Some(status) = status {
            builder = builder.status(status);
        }
        builder.build()
    }

    #[test]
    fn state_decides_whether_an_account_is_active_and_status_only_without_it() {
        assert!(is_active(&account(Some(AccountState::Active), None)));
        // State wins over the retiring Status.
        assert!(!is_active(&account(
            Some(AccountState::Suspended),
            Some(AccountStatus::Active)
        )));
        assert!(!is_active(&account(Some(AccountState::Closed), None)));
        assert!(!is_active(&account(
            Some(AccountState::PendingActivation),
            None
        )));
        assert!(!is_active(&account(
            Some(AccountState::PendingClosure),
            None
        )));
        // An answer from before State existed.
        assert!(is_active(&account(None, Some(AccountStatus::Active))));
        assert!(!is_active(&account(None, Some(AccountStatus::Suspended))));
        assert!(!is_active(&account(None, None)));
    }

    #[test]
    fn an_account_is_listed_with_its_id_and_name() {
        assert_eq!(
            listed(&account(Some(AccountState::Active), None)),
            Some(OrganizationAccount {
                id: "123456789012".to_string(),
                name: "prod".to_string(),
                active: true,
            })
        );
        assert_eq!(listed(&Account::builder().name("no id").build()), None);
    }

    fn classified(kind: ErrorKind) -> AwsError {
        AwsError {
            kind,
            message: "shared message".to_string(),
        }
    }

    #[test]
    fn a_denied_listing_names_the_actions_and_who_may_list() {
        let whole = advise(
            classified(ErrorKind::AccessDenied),
            "ListAccounts",
            None,
            "AccessDeniedException",
            "You don't have permissions to access this resource.",
        );
        assert_eq!(whole.kind, ErrorKind::AccessDenied);
        assert!(
            whole.message.contains("organizations:ListAccounts (")
                && whole.message.contains(LIST_POLICY)
                && whole.message.contains("delegated administrator"),
            "{whole}"
        );
        let units = advise(
            classified(ErrorKind::AccessDenied),
            "ListAccountsForParent",
            Some("ou-ab12-cd34ef56"),
            "AccessDeniedException",
            "denied",
        );
        assert!(
            units
                .message
                .contains("organizations:ListAccountsForParent and organizations:ListOrganizationalUnitsForParent"),
            "{units}"
        );
    }

    #[test]
    fn an_identity_outside_any_organization_is_told_to_list_from_the_management_account() {
        let e = advise(
            classified(ErrorKind::Invalid),
            "ListAccounts",
            None,
            "AWSOrganizationsNotInUseException",
            "Your account is not a member of an organization.",
        );
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert!(
            e.message.contains("not in an AWS organization")
                && e.message.contains("spec.scope.roleArn"),
            "{e}"
        );
    }

    #[test]
    fn an_unknown_unit_is_named_as_not_found() {
        for code in ["ParentNotFoundException", "TargetNotFoundException"] {
            let e = advise(
                classified(ErrorKind::Invalid),
                "ListAccountsForParent",
                Some("ou-zz99-zzzzzzzz"),
                code,
                "You specified parent that doesn't exist.",
            );
            assert_eq!(e.kind, ErrorKind::NotFound, "{code}");
            assert!(
                e.message.contains("ou-zz99-zzzzzzzz")
                    && e.message
                        .contains("spec.scope.organization.organizationalUnits"),
                "{e}"
            );
        }
    }

    #[test]
    fn other_failures_keep_the_shared_classification() {
        for kind in [
            ErrorKind::Throttled,
            ErrorKind::Unavailable,
            ErrorKind::Credentials,
        ] {
            let e = advise(classified(kind), "ListAccounts", None, "", "");
            assert_eq!(
                e,
                OrganizationError {
                    kind,
                    message: "shared message".to_string()
                }
            );
        }
    }
}

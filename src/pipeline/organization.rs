//! Which accounts of an organization a profile scans, and the role assumed in each
//! (pure: the listing itself is `aws::organization`'s).

use std::collections::BTreeSet;

use crate::aws::organization::OrganizationAccount;
use crate::crd::OrganizationScope;
use crate::model::arn::partition;

/// The ids of the accounts to scan, sorted, each once: those listed ACTIVE, in
/// `scope.accounts.include` (every one when it is empty), and not in
/// `scope.accounts.exclude`. An included account the listing does not return (not in
/// the organization or its units, or not ACTIVE) is not scanned.
pub fn select_accounts(listed: &[OrganizationAccount], scope: &OrganizationScope) -> Vec<String> {
    let filter = &scope.accounts;
    listed
        .iter()
        .filter(|account| account.active)
        .map(|account| account.id.as_str())
        .filter(|id| filter.include.is_empty() || filter.include.iter().any(|i| i == id))
        .filter(|id| !filter.exclude.iter().any(|e| e == id))
        .collect::<BTreeSet<&str>>()
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// The ARN of the member role `role_name` (which may carry a path, `audit/scanner`) in
/// `account`, in the partition of `region`.
pub fn member_role_arn(region: &str, account: &str, role_name: &str) -> String {
    format!("arn:{}:iam::{account}:role/{role_name}", partition(region))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::AccountFilter;

    fn account(id: &str, active: bool) -> OrganizationAccount {
        OrganizationAccount {
            id: id.to_string(),
            name: format!("account {id}"),
            active,
        }
    }

    fn scope(include: &[&str], exclude: &[&str]) -> OrganizationScope {
        OrganizationScope {
            role_name: "apigw-compliance-audit".to_string(),
            accounts: AccountFilter {
                include: include.iter().map(|s| s.to_string()).collect(),
                exclude: exclude.iter().map(|s| s.to_string()).collect(),
            },
            ..OrganizationScope::default()
        }
    }

    const A: &str = "111111111111";
    const B: &str = "222222222222";
    const C: &str = "333333333333";

    #[test]
    fn without_a_filter_every_active_account_is_selected_sorted() {
        let listed = [account(C, true), account(A, true), account(B, true)];
        assert_eq!(select_accounts(&listed, &scope(&[], &[])), [A, B, C]);
    }

    #[test]
    fn accounts_not_active_are_left_out() {
        let listed = [account(A, true), account(B, false)];
        assert_eq!(select_accounts(&listed, &scope(&[], &[])), [A]);
        // Even when included by name.
        assert_eq!(
            select_accounts(&listed, &scope(&[B], &[])),
            Vec::<String>::new()
        );
    }

    #[test]
    fn include_keeps_only_the_named_accounts_that_were_listed() {
        let listed = [account(A, true), account(B, true), account(C, true)];
        assert_eq!(
            select_accounts(&listed, &scope(&[C, A, "444444444444"], &[])),
            [A, C]
        );
    }

    #[test]
    fn exclude_leaves_out_the_named_accounts() {
        let listed = [account(A, true), account(B, true), account(C, true)];
        assert_eq!(select_accounts(&listed, &scope(&[], &[B])), [A, C]);
        assert_eq!(select_accounts(&listed, &scope(&[A, B], &[B])), [A]);
    }

    #[test]
    fn an_account_listed_twice_is_selected_once() {
        let listed = [account(A, true), account(A, true), account(B, true)];
        assert_eq!(select_accounts(&listed, &scope(&[], &[])), [A, B]);
    }

    #[test]
    fn an_empty_listing_selects_nothing() {
        assert!(select_accounts(&[], &scope(&[A], &[])).is_empty());
    }

    #[test]
    fn the_member_role_is_in_the_partition_of_the_region_and_keeps_its_path() {
        assert_eq!(
            member_role_arn("us-east-1", "123456789012", "audit/apigw-compliance"),
            "arn:aws:iam::123456789012:role/audit/apigw-compliance"
        );
        assert_eq!(
            member_role_arn("cn-north-1", "123456789012", "scanner"),
            "arn:aws-cn:iam::123456789012:role/scanner"
        );
        assert_eq!(
            member_role_arn("us-gov-west-1", "123456789012", "scanner"),
            "arn:aws-us-gov:iam::123456789012:role/scanner"
        );
    }
}

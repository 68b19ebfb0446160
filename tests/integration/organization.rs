//! Organization discovery against moto: the listing (`aws::organization`) over a whole
//! organization and over units with units below them, what it answers an identity that
//! may not list, the pure selection (`pipeline::organization`) over a real listing, and
//! assuming the member role account by account (`aws::identity::AwsAccess`), where one
//! refused account stays that account's error.

use std::collections::BTreeMap;

use apigw_compliance::aws::client::AwsHttp;
use apigw_compliance::aws::identity::{AwsAccess, Identity};
use apigw_compliance::aws::organization::{OrganizationAccount, list_accounts};
use apigw_compliance::crd::{AccountFilter, OrganizationScope};
use apigw_compliance::model::ErrorKind;
use apigw_compliance::pipeline::organization::{member_role_arn, select_accounts};
use aws_config::{BehaviorVersion, Region};
use aws_sdk_sts::config::SharedCredentialsProvider;

use crate::support::moto::{DEFAULT_REGION, new_account};
use crate::support::organization::{ROOT, TestOrganization};
use crate::support::seed;

/// The listing as id -> active.
fn by_id(listed: &[OrganizationAccount]) -> BTreeMap<String, bool> {
    let map: BTreeMap<String, bool> = listed.iter().map(|a| (a.id.clone(), a.active)).collect();
    assert_eq!(
        map.len(),
        listed.len(),
        "an account listed twice: {listed:?}"
    );
    map
}

fn sorted(ids: &[&String]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn the_whole_organization_is_listed_and_a_closed_account_is_not_active() {
    let org = TestOrganization::create(1, &[("prod", ROOT, 2), ("prod-eu", "prod", 1)]).await;
    let closed = org.accounts_in("prod")[1].clone();
    org.close_account(&closed).await;

    let listed = list_accounts(&org.listing_sdk(DEFAULT_REGION), &[])
        .await
        .expect("the management account lists its organization");
    let accounts = by_id(&listed);
    let mut expected: BTreeMap<String, bool> =
        org.member_ids().into_iter().map(|id| (id, true)).collect();
    expected.insert(org.management_id().to_string(), true);
    expected.insert(closed.clone(), false);
    assert_eq!(accounts, expected);
    assert!(
        listed
            .iter()
            .any(|a| a.id == org.management_id() && a.name == "master"),
        "{listed:?}"
    );

    // The pure selection over that listing: active only, minus the excluded.
    let excluded = org.accounts_in(ROOT)[0].clone();
    let scope = OrganizationScope {
        role_name: "apigw-compliance-audit".to_string(),
        accounts: AccountFilter {
            include: Vec::new(),
            exclude: vec![excluded.clone()],
        },
        ..OrganizationScope::default()
    };
    let all = org.member_ids();
    let mut want: Vec<String> = all
        .iter()
        .filter(|id| **id != closed && **id != excluded)
        .cloned()
        .collect();
    want.push(org.management_id().to_string());
    want.sort();
    assert_eq!(select_accounts(&listed, &scope), want);

    // Including the closed account by name does not bring it back.
    let scope = OrganizationScope {
        accounts: AccountFilter {
            include: vec![closed.clone(), excluded.clone()],
            exclude: Vec::new(),
        },
        ..scope
    };
    assert_eq!(select_accounts(&listed, &scope), [excluded]);
}

#[tokio::test]
async fn a_unit_is_listed_with_the_units_below_it_and_each_account_once() {
    let org = TestOrganization::create(
        1,
        &[
            ("prod", ROOT, 2),
            ("prod-eu", "prod", 1),
            ("prod-eu-1", "prod-eu", 1),
            ("dev", ROOT, 1),
        ],
    )
    .await;
    let sdk = org.listing_sdk(DEFAULT_REGION);
    let prod: Vec<&String> = ["prod", "prod-eu", "prod-eu-1"]
        .iter()
        .flat_map(|unit| org.accounts_in(unit))
        .collect();

    let listed = list_accounts(&sdk, &[org.unit("prod").to_string()])
        .await
        .expect("list prod and below");
    assert_eq!(
        by_id(&listed).into_keys().collect::<Vec<_>>(),
        sorted(&prod),
        "prod, prod-eu and prod-eu-1, not dev nor the root's accounts"
    );

    // A unit and one of its ancestors: every unit listed once, so every account once.
    let listed = list_accounts(
        &sdk,
        &[
            org.unit("prod-eu").to_string(),
            org.unit("prod").to_string(),
            org.unit("dev").to_string(),
        ],
    )
    .await
    .expect("list overlapping units");
    let mut with_dev = prod.clone();
    with_dev.extend(org.accounts_in("dev"));
    assert_eq!(
        by_id(&listed).into_keys().collect::<Vec<_>>(),
        sorted(&with_dev)
    );

    // The root is a parent too: every account, the management account included.
    let listed = list_accounts(&sdk, std::slice::from_ref(&org.root_id))
        .await
        .expect("list from the root");
    let mut everything = org.member_ids();
    everything.push(org.management_id().to_string());
    everything.sort();
    assert_eq!(by_id(&listed).into_keys().collect::<Vec<_>>(), everything);
}

#[tokio::test]
async fn a_unit_that_does_not_exist_is_named_as_not_found() {
    let org = TestOrganization::create(0, &[("prod", ROOT, 1)]).await;
    let missing = "ou-zzzz-zzzzzzzz".to_string();
    let err = list_accounts(
        &org.listing_sdk(DEFAULT_REGION),
        &[org.unit("prod").to_string(), missing.clone()],
    )
    .await
    .expect_err("an unknown unit fails the listing");
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    assert!(
        err.message.contains(&missing) && err.message.contains("organizationalUnits"),
        "{err}"
    );
}

#[tokio::test]
async fn an_identity_that_may_not_list_is_told_what_it_needs() {
    // An account in no organization.
    let outsider = new_account().await;
    let err = list_accounts(&outsider.sdk_config(DEFAULT_REGION), &[])
        .await
        .expect_err("no organization to list");
    assert_eq!(err.kind, ErrorKind::Invalid, "{err}");
    assert!(err.message.contains("not in an AWS organization"), "{err}");

    // A member account that is not a delegated administrator.
    let org = TestOrganization::create(1, &[]).await;
    let member = org.member(&org.accounts_in(ROOT)[0]).await;
    let err = list_accounts(&member.sdk_config(DEFAULT_REGION), &[])
        .await
        .expect_err("a member may not list");
    assert_eq!(err.kind, ErrorKind::AccessDenied, "{err}");
    assert!(
        err.message.contains("organizations:ListAccounts")
            && err.message.contains("docs/iam/organization-list.json")
            && err
                .message
                .contains("management account or a delegated administrator"),
        "{err}"
    );

    // The management account without the permission for units (an IAM deny).
    org.management
        .deny("organizations:ListAccountsForParent", None, None)
        .await;
    let err = list_accounts(
        &org.listing_sdk(DEFAULT_REGION),
        std::slice::from_ref(&org.root_id),
    )
    .await
    .expect_err("denied");
    assert_eq!(err.kind, ErrorKind::AccessDenied, "{err}");
    assert!(
        err.message.contains(
            "organizations:ListAccountsForParent and organizations:ListOrganizationalUnitsForParent"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_member_role_is_assumed_per_account_and_a_refused_one_fails_alone() {
    let org = TestOrganization::create(2, &[]).await;
    let (open, refused) = (
        org.accounts_in(ROOT)[0].clone(),
        org.accounts_in(ROOT)[1].clone(),
    );
    for id in [&open, &refused] {
        seed::rest_api(
            &org.member(id).await.sdk_config(DEFAULT_REGION),
            &format!("orders-{id}"),
        )
        .await;
    }
    org.deny_assume(&refused).await;

    // The operator's own identity is the management account here, as with a profile
    // without roleArn; the defaults bring the clock and sleep AssumeRole needs.
    let base = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(DEFAULT_REGION))
        .endpoint_url(&org.management.endpoint_url)
        .credentials_provider(SharedCredentialsProvider::new(org.management.credentials()))
        .load()
        .await;
    let aws = AwsAccess::new(base, AwsHttp::new(None, None));
    let role = |account: &str| {
        Identity::new(
            Some(&member_role_arn(
                DEFAULT_REGION,
                account,
                "audit/apigw-compliance",
            )),
            Some("org-audit-1234"),
        )
    };

    let scanned = aws
        .identity(&role(&open), DEFAULT_REGION)
        .await
        .expect("the open account's role is assumed");
    assert_eq!(scanned.account.as_deref(), Some(open.as_str()));
    let apis = aws_sdk_apigateway::Client::new(&scanned.sdk)
        .get_rest_apis()
        .send()
        .await
        .expect("GetRestApis in the member account");
    let names: Vec<&str> = apis.items().iter().filter_map(|api| api.name()).collect();
    assert_eq!(
        names,
        [format!("orders-{open}")],
        "the member's own APIs only"
    );

    let Err(err) = aws.identity(&role(&refused), DEFAULT_REGION).await else {
        panic!("AssumeRole into {refused} must be refused");
    };
    assert_eq!(err.kind, ErrorKind::AccessDenied, "{err}");
    assert!(
        err.message
            .contains("not authorized to perform: sts:AssumeRole")
            && err.to_string().contains(&format!(
                "arn:aws:iam::{refused}:role/audit/apigw-compliance"
            )),
        "{err}"
    );

    // The refusal is that account's alone: the open account still works.
    aws.identity(&role(&open), DEFAULT_REGION)
        .await
        .expect("still assumed");
}

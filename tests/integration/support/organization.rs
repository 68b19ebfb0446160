//! An AWS organization in the test's moto, built through the Rust SDK
//! (aws-sdk-organizations) the way an administrator would: a management account of its
//! own (a fresh moto account, so every test has its own organization: moto keeps one per
//! management account), organizational units (nested as asked), and member accounts in
//! them. Member accounts are real moto accounts: STS AssumeRole into
//! `arn:aws:iam::<member>:role/<any>` gives credentials acting in the member, so a test
//! seeds each member's API Gateway data with [`TestOrganization::member`] and the usual
//! `seed::` helpers or [`MotoAccount::seed_bulk`].
//!
//! ```ignore
//! let org = TestOrganization::create(1, &[("prod", ROOT, 2), ("prod-eu", "prod", 1)]).await;
//! let listing = org.listing_sdk(DEFAULT_REGION);          // the management account
//! let eu = org.accounts_in("prod-eu")[0].clone();
//! seed::rest_api(&org.member(&eu).await.sdk_config(DEFAULT_REGION), "orders").await;
//! org.close_account(&org.accounts_in("prod")[1]).await;   // listed SUSPENDED from now on
//! org.deny_assume(&org.accounts_in(ROOT)[0]).await;       // its roles refuse AssumeRole
//! ```

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_sdk_organizations::Client;

use super::moto::{DEFAULT_REGION, MotoAccount, control, new_account};

/// The name [`TestOrganization`] gives the organization's root, for accounts created
/// outside any unit and for units directly under the root.
pub const ROOT: &str = "root";

/// An organization in moto, with the ids of what it holds.
pub struct TestOrganization {
    /// The management account: the organization's owner, which may list it.
    pub management: MotoAccount,
    /// The root's id (`r-...`).
    pub root_id: String,
    /// Unit name (as given to [`TestOrganization::create`]) -> OU id (`ou-...`).
    pub units: BTreeMap<String, String>,
    /// Unit name, or [`ROOT`] -> the member accounts created directly in it, in order.
    pub accounts: BTreeMap<String, Vec<String>>,
}

impl TestOrganization {
    /// A new organization (all features) whose management account is a fresh moto
    /// account, with `root_accounts` member accounts directly under the root and, for
    /// each `(name, parent, count)` of `units` in order, a unit `name` under `parent`
    /// (a unit named earlier, or [`ROOT`]) holding `count` new member accounts.
    pub async fn create(root_accounts: usize, units: &[(&str, &str, usize)]) -> TestOrganization {
        let management = new_account().await;
        let client = Client::new(&management.sdk_config(DEFAULT_REGION));
        client
            .create_organization()
            .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
            .send()
            .await
            .expect("CreateOrganization");
        let roots = client.list_roots().send().await.expect("ListRoots");
        let root_id = roots
            .roots()
            .first()
            .and_then(|root| root.id())
            .expect("the organization's root")
            .to_string();
        let mut org = TestOrganization {
            management,
            root_id,
            units: BTreeMap::new(),
            accounts: BTreeMap::new(),
        };
        for _ in 0..root_accounts {
            org.add_account(ROOT).await;
        }
        for (name, parent, count) in units {
            let parent_id = org.parent_id(parent);
            let unit = client
                .create_organizational_unit()
                .parent_id(parent_id)
                .name(*name)
                .send()
                .await
                .unwrap_or_else(|e| panic!("CreateOrganizationalUnit {name}: {e:?}"));
            let id = unit
                .organizational_unit()
                .and_then(|unit| unit.id())
                .expect("the new unit's id")
                .to_string();
            org.units.insert(name.to_string(), id);
            for _ in 0..*count {
                org.add_account(name).await;
            }
        }
        org
    }

    /// The id of unit `name` (`ou-...`), or of the root for [`ROOT`].
    pub fn unit(&self, name: &str) -> &str {
        self.parent_id(name)
    }

    fn parent_id(&self, name: &str) -> &str {
        if name == ROOT {
            return &self.root_id;
        }
        self.units
            .get(name)
            .unwrap_or_else(|| panic!("no unit {name} in {:?}", self.units))
    }

    /// The member accounts created directly in unit `name` (or under the root, for
    /// [`ROOT`]), not those in the units below it.
    pub fn accounts_in(&self, name: &str) -> &[String] {
        self.accounts
            .get(name)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Every member account created, sorted (not the management account).
    pub fn member_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.accounts.values().flatten().cloned().collect();
        ids.sort();
        ids
    }

    /// The management account's id (it is listed as an account of the organization too).
    pub fn management_id(&self) -> &str {
        &self.management.account_id
    }

    /// An SDK configuration of the management account in `region`: what lists the
    /// organization (and what assumes the member roles, in a test without a listing
    /// role of its own).
    pub fn listing_sdk(&self, region: &str) -> SdkConfig {
        self.management.sdk_config(region)
    }

    /// Creates a new member account (CreateAccount, then MoveAccount into unit `name`
    /// unless it is [`ROOT`]) and returns its id: an account joining the organization
    /// after a scan.
    pub async fn add_account(&mut self, name: &str) -> String {
        let client = self.client();
        let index = self.accounts.values().map(Vec::len).sum::<usize>();
        let created = client
            .create_account()
            .account_name(format!("member-{index}"))
            .email(format!("member-{index}@example.com"))
            .send()
            .await
            .expect("CreateAccount");
        let id = created
            .create_account_status()
            .and_then(|status| status.account_id())
            .expect("moto creates the account at once")
            .to_string();
        if name != ROOT {
            client
                .move_account()
                .account_id(&id)
                .source_parent_id(&self.root_id)
                .destination_parent_id(self.parent_id(name))
                .send()
                .await
                .unwrap_or_else(|e| panic!("MoveAccount {id} into {name}: {e:?}"));
        }
        self.accounts
            .entry(name.to_string())
            .or_default()
            .push(id.clone());
        id
    }

    /// Closes member account `id` (CloseAccount): it is listed SUSPENDED, not ACTIVE,
    /// from then on.
    pub async fn close_account(&self, id: &str) {
        self.client()
            .close_account()
            .account_id(id)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CloseAccount {id}: {e:?}"));
    }

    /// From now on, sts:AssumeRole of any role in member account `id` is refused with
    /// AccessDenied, as AWS refuses it when the role's trust policy does not let the
    /// caller in (`POST /_apigw_test/deny-assume`, tests/moto/README.md). Seed the
    /// account first: [`TestOrganization::member`] assumes a role in it too.
    pub async fn deny_assume(&self, id: &str) {
        control(
            &self.management.endpoint_url,
            "POST",
            &format!("deny-assume?account={id}"),
        )
        .await
        .expect("deny AssumeRole into an account");
    }

    /// Credentials acting in member account `id` (STS AssumeRole of
    /// `arn:aws:iam::<id>:role/apigw-compliance-test` from the management account), to
    /// seed it.
    pub async fn member(&self, id: &str) -> MotoAccount {
        let sts = aws_sdk_sts::Client::new(&self.management.sdk_config(DEFAULT_REGION));
        let assumed = sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{id}:role/apigw-compliance-test"))
            .role_session_name("apigw-compliance-test")
            .send()
            .await
            .unwrap_or_else(|e| panic!("AssumeRole into member {id}: {e:?}"));
        let credentials = assumed.credentials().expect("AssumeRole credentials");
        MotoAccount {
            endpoint_url: self.management.endpoint_url.clone(),
            account_id: id.to_string(),
            access_key_id: credentials.access_key_id().to_string(),
            secret_access_key: credentials.secret_access_key().to_string(),
            session_token: Some(credentials.session_token().to_string()),
        }
    }

    fn client(&self) -> Client {
        Client::new(&self.management.sdk_config(DEFAULT_REGION))
    }
}

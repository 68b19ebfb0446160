//! The IAM policies in `docs/iam/` grant exactly the AWS actions the code calls: every
//! action a call needs is in the policy for its mode, and the policies hold nothing
//! beyond them.
//!
//! "The calls the code makes" are found mechanically: the operation names of the AWS
//! SDK crates in the build (their `src/operation/*.rs`, located with `cargo metadata`)
//! are searched for as method calls (`.get_stages(`) in `src/**` outside test code,
//! plus aws-config's `AssumeRoleProvider` (STS AssumeRole). Each call found must have a
//! row in [`CALLS`] saying which IAM action(s) on which resources it needs, for which
//! policy; a new SDK call without a row fails this test, and so does a row whose call
//! is gone. Calls under `src/pipeline/apply/` belong to the remediation policies (one per
//! control, plus `all.json`), STS AssumeRole to `assume-roles.json` (the operator's own
//! identity), the Organizations listings to `organization-list.json` (the identity a
//! profile lists its organization's accounts with), the rest to `scan.json`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Which policy a permission belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Policy {
    /// Read-only: what a scan needs (docs/iam/scan.json).
    Scan,
    /// The operator's own identity: assuming the scan roles (docs/iam/assume-roles.json).
    AssumeRoles,
    /// The identity a profile with `spec.scope.organization` lists the organization's
    /// accounts with (docs/iam/organization-list.json).
    OrganizationList,
    /// Remediation of one control (docs/iam/remediation/<control>.json).
    Remediation(&'static str),
}

use Policy::{AssumeRoles, OrganizationList, Remediation, Scan};

const REST_STAGE: &str = "arn:aws:apigateway:*::/restapis/*/stages/*";
const V2_STAGE: &str = "arn:aws:apigateway:*::/apis/*/stages/*";
const WEB_ACL: &str = "arn:aws:wafv2:*:*:regional/webacl/*/*";
/// Any organization's root, and any of its organizational units (the account in these
/// ARNs is the management account's).
const ORGANIZATION_ROOTS: &str = "arn:aws:organizations::*:root/o-*/r-*";
const ORGANIZATIONAL_UNITS: &str = "arn:aws:organizations::*:ou/o-*/ou-*";
/// What API Gateway needs to set up access-log delivery for HTTP APIs to CloudWatch
/// Logs on an UpdateStage with AccessLogSettings (API Gateway developer guide, "Configure
/// logging for HTTP APIs"; logs:CreateLogGroup left out: remediation never creates the
/// log group). These actions have no resource-level permissions.
const LOG_DELIVERY: &[&str] = &[
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
];

/// A permission: (policy, IAM action, resource ARN pattern).
type Permission = (Policy, &'static str, &'static str);

/// Every AWS call the code makes (by SDK method name), and the permissions it needs.
/// API Gateway's IAM actions are HTTP verbs on resource paths (GET to read, PATCH to
/// update, POST to create); a name shared by apigateway and apigatewayv2 lists both.
const CALLS: &[(&str, &[Permission])] = &[
    // Inventory (src/inventory/reader.rs).
    (
        "get_rest_apis",
        &[(Scan, "apigateway:GET", "arn:aws:apigateway:*::/restapis")],
    ),
    (
        "get_stages",
        &[
            (
                Scan,
                "apigateway:GET",
                "arn:aws:apigateway:*::/restapis/*/stages",
            ),
            (
                Scan,
                "apigateway:GET",
                "arn:aws:apigateway:*::/apis/*/stages",
            ),
        ],
    ),
    (
        "get_resources",
        &[(
            Scan,
            "apigateway:GET",
            "arn:aws:apigateway:*::/restapis/*/resources",
        )],
    ),
    (
        "get_apis",
        &[(Scan, "apigateway:GET", "arn:aws:apigateway:*::/apis")],
    ),
    // One API read whole after a change event names it (src/inventory/targeted.rs).
    (
        "get_rest_api",
        &[(Scan, "apigateway:GET", "arn:aws:apigateway:*::/restapis/*")],
    ),
    (
        "get_api",
        &[(Scan, "apigateway:GET", "arn:aws:apigateway:*::/apis/*")],
    ),
    (
        "get_routes",
        &[(
            Scan,
            "apigateway:GET",
            "arn:aws:apigateway:*::/apis/*/routes",
        )],
    ),
    // Only when APIGateway.10 is selected.
    (
        "get_integrations",
        &[(
            Scan,
            "apigateway:GET",
            "arn:aws:apigateway:*::/apis/*/integrations",
        )],
    ),
    // Only when APIGateway.11 is selected.
    (
        "get_domain_names",
        &[(Scan, "apigateway:GET", "arn:aws:apigateway:*::/domainnames")],
    ),
    // One custom domain name (src/inventory/single.rs): read again just before
    // remediation's UpdateDomainName.
    (
        "get_domain_name",
        &[(
            Scan,
            "apigateway:GET",
            "arn:aws:apigateway:*::/domainnames/*",
        )],
    ),
    // The process identity's account (src/aws/identity.rs). Needs no permission (AWS allows
    // it even under an explicit deny); listed so the policy says what is called.
    (
        "get_caller_identity",
        &[(Scan, "sts:GetCallerIdentity", "*")],
    ),
    // A profile's roleArn, and `scan --profile` with a role.
    (
        "AssumeRoleProvider",
        &[(
            AssumeRoles,
            "sts:AssumeRole",
            "arn:aws:iam::*:role/apigw-compliance-*",
        )],
    ),
    // Organization discovery (src/aws/organization.rs): the whole organization, or
    // each organizational unit and the units below it. ListAccounts has no resource
    // type; the other two take the root or OU they list (Service Authorization
    // Reference, AWS Organizations).
    (
        "list_accounts",
        &[(OrganizationList, "organizations:ListAccounts", "*")],
    ),
    (
        "list_accounts_for_parent",
        &[
            (
                OrganizationList,
                "organizations:ListAccountsForParent",
                ORGANIZATION_ROOTS,
            ),
            (
                OrganizationList,
                "organizations:ListAccountsForParent",
                ORGANIZATIONAL_UNITS,
            ),
        ],
    ),
    (
        "list_organizational_units_for_parent",
        &[
            (
                OrganizationList,
                "organizations:ListOrganizationalUnitsForParent",
                ORGANIZATION_ROOTS,
            ),
            (
                OrganizationList,
                "organizations:ListOrganizationalUnitsForParent",
                ORGANIZATIONAL_UNITS,
            ),
        ],
    ),
    // Remediation (src/pipeline/apply/).
    (
        // Is a CloudWatch Logs role set in the region's account settings? Needed before
        // execution logging (.1) and WebSocket access logging to a log group (.9).
        "get_account",
        &[
            (
                Remediation("APIGateway.1"),
                "apigateway:GET",
                "arn:aws:apigateway:*::/account",
            ),
            (
                Remediation("APIGateway.9"),
                "apigateway:GET",
                "arn:aws:apigateway:*::/account",
            ),
            (
                Remediation("RestAccessLogging"),
                "apigateway:GET",
                "arn:aws:apigateway:*::/account",
            ),
        ],
    ),
    (
        "update_stage",
        &[
            // REST: one PATCH per stage with the control's patch operations.
            (Remediation("APIGateway.1"), "apigateway:PATCH", REST_STAGE),
            (Remediation("APIGateway.2"), "apigateway:PATCH", REST_STAGE),
            (Remediation("APIGateway.3"), "apigateway:PATCH", REST_STAGE),
            (Remediation("APIGateway.5"), "apigateway:PATCH", REST_STAGE),
            (
                Remediation("RestAccessLogging"),
                "apigateway:PATCH",
                REST_STAGE,
            ),
            // v2: route settings (WebSocket logging levels) and access-log settings.
            (Remediation("APIGateway.1"), "apigateway:PATCH", V2_STAGE),
            (Remediation("APIGateway.9"), "apigateway:PATCH", V2_STAGE),
            (Remediation("APIGateway.9"), LOG_DELIVERY[0], "*"),
            (Remediation("APIGateway.9"), LOG_DELIVERY[1], "*"),
            (Remediation("APIGateway.9"), LOG_DELIVERY[2], "*"),
            (Remediation("APIGateway.9"), LOG_DELIVERY[3], "*"),
            (Remediation("APIGateway.9"), LOG_DELIVERY[4], "*"),
            (Remediation("APIGateway.9"), LOG_DELIVERY[5], "*"),
            (Remediation("APIGateway.9"), LOG_DELIVERY[6], "*"),
        ],
    ),
    (
        "get_stage",
        &[
            // apigatewayv2 GetStage: the v2 settings are read-modify-written.
            (Remediation("APIGateway.1"), "apigateway:GET", V2_STAGE),
            (Remediation("APIGateway.9"), "apigateway:GET", V2_STAGE),
            // One REST stage (src/inventory/single.rs): read again just before each
            // remediation write to it (UpdateStage, AssociateWebACL), and after a
            // change event names it.
            (Scan, "apigateway:GET", REST_STAGE),
            // One v2 stage a change event names (src/inventory/targeted.rs).
            (Scan, "apigateway:GET", V2_STAGE),
        ],
    ),
    (
        "get_client_certificates",
        &[(
            Remediation("APIGateway.2"),
            "apigateway:GET",
            "arn:aws:apigateway:*::/clientcertificates",
        )],
    ),
    (
        // Carries the tag apigwcompliance.io/managed=true, authorised with the POST
        // (aws:RequestTag / aws:TagKeys conditions must allow it).
        "generate_client_certificate",
        &[(
            Remediation("APIGateway.2"),
            "apigateway:POST",
            "arn:aws:apigateway:*::/clientcertificates",
        )],
    ),
    (
        // APIGateway.11's opt-in fix: `replace /securityPolicy`.
        "update_domain_name",
        &[(
            Remediation("APIGateway.11"),
            "apigateway:PATCH",
            "arn:aws:apigateway:*::/domainnames/*",
        )],
    ),
    (
        "get_web_acl",
        &[(Remediation("APIGateway.4"), "wafv2:GetWebACL", WEB_ACL)],
    ),
    (
        "associate_web_acl",
        &[
            (
                Remediation("APIGateway.4"),
                "wafv2:AssociateWebACL",
                WEB_ACL,
            ),
            (
                Remediation("APIGateway.4"),
                "apigateway:SetWebACL",
                REST_STAGE,
            ),
        ],
    ),
];

/// The SDK crates whose operations the code may call, and the service each is.
const SDK_CRATES: &[(&str, &str)] = &[
    ("aws-sdk-apigateway", "apigateway"),
    ("aws-sdk-apigatewayv2", "apigatewayv2"),
    ("aws-sdk-wafv2", "wafv2"),
    ("aws-sdk-sts", "sts"),
    ("aws-sdk-organizations", "organizations"),
];

/// Calls made through aws-config rather than an SDK client method.
const INDIRECT_CALLS: &[&str] = &["AssumeRoleProvider"];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The host's target triple (`rustc -vV`'s `host:` line): the platform this test
/// binary was built for, so its packages are the ones on disk.
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let out = Command::new(&rustc)
        .arg("-vV")
        .current_dir(repo())
        .output()
        .unwrap_or_else(|e| panic!("run {rustc} -vV: {e}"));
    assert!(out.status.success(), "{rustc} -vV failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("{rustc} -vV printed no host line"))
}

/// Operation method names (snake case) of each SDK crate in the build: the file stems
/// of its `src/operation/` folder.
fn sdk_operations() -> BTreeMap<String, BTreeSet<&'static str>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string());
    // `--filter-platform <host>`: without it, `cargo metadata` wants every package in
    // Cargo.lock on disk, including other platforms' (e.g. Windows-only
    // `anstyle-wincon`), which a Linux build never downloads, so `--offline` fails on
    // a machine whose registry holds only what this build fetched. Filtered to the
    // host, it needs exactly the packages the test build itself just downloaded.
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline", "--locked"])
        .args(["--filter-platform", &host_triple()])
        .current_dir(repo())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
    let mut operations: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    for (krate, service) in SDK_CRATES {
        let package = metadata["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .find(|p| p["name"] == *krate)
            .unwrap_or_else(|| panic!("{krate} is not in the build"));
        let manifest = PathBuf::from(package["manifest_path"].as_str().expect("manifest_path"));
        let folder = manifest
            .parent()
            .expect("crate folder")
            .join("src/operation");
        let mut found = 0;
        for entry in std::fs::read_dir(&folder)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", folder.display()))
        {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "rs")
                && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
                && stem != "mod"
            {
                operations
                    .entry(stem.to_string())
                    .or_default()
                    .insert(service);
                found += 1;
            }
        }
        assert!(found > 5, "{krate}: only {found} operations found");
    }
    operations
}

/// The product's Rust sources (path relative to the repo, text) without test code:
/// files that are `#[cfg(test)] mod x;` modules are skipped, a `#[cfg(test)] mod tests
/// { .. }` block is cut off with the rest of its file (such blocks end their files
/// here), and comment lines are dropped.
fn product_sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&repo().join("src"), &mut files);
    files.sort();
    // Files declared as test-only modules.
    let mut test_files = BTreeSet::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read source");
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for pair in lines.windows(2) {
            if pair[0] == "#[cfg(test)]"
                && let Some(name) = pair[1]
                    .trim_start_matches("pub(crate) ")
                    .trim_start_matches("pub ")
                    .strip_prefix("mod ")
                    .and_then(|rest| rest.strip_suffix(';'))
            {
                let dir = file.parent().expect("dir");
                let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
                for candidate in [
                    dir.join(format!("{name}.rs")),
                    dir.join(name).join("mod.rs"),
                    dir.join(stem).join(format!("{name}.rs")),
                ] {
                    test_files.insert(candidate);
                }
            }
        }
    }
    files
        .into_iter()
        .filter(|f| !test_files.contains(f))
        .map(|file| {
            let text = std::fs::read_to_string(&file).expect("read source");
            let mut kept = Vec::new();
            let mut lines = text.lines().peekable();
            while let Some(line) = lines.next() {
                if line.trim() == "#[cfg(test)]"
                    && lines
                        .peek()
                        .is_some_and(|next| next.trim().starts_with("mod tests {"))
                {
                    break;
                }
                if !line.trim_start().starts_with("//") {
                    kept.push(line);
                }
            }
            let relative = file
                .strip_prefix(repo())
                .expect("under the repo")
                .display()
                .to_string();
            (relative, kept.join("\n"))
        })
        .collect()
}

/// Where `.name(` is called in `text` (as a method), or `name` is used for indirect
/// calls.
fn calls(text: &str, name: &str) -> usize {
    if INDIRECT_CALLS.contains(&name) {
        return text.matches(name).count();
    }
    text.matches(&format!(".{name}(")).count()
}

/// The AWS calls in the product's code: (policy mode, call name) -> files.
fn calls_in_code() -> BTreeMap<(bool, String), BTreeSet<String>> {
    let operations = sdk_operations();
    let mut names: Vec<String> = operations.keys().cloned().collect();
    names.extend(INDIRECT_CALLS.iter().map(|s| s.to_string()));
    let mut found: BTreeMap<(bool, String), BTreeSet<String>> = BTreeMap::new();
    for (file, text) in product_sources() {
        let remediation = file.starts_with("src/pipeline/apply/");
        for name in &names {
            if calls(&text, name) > 0 {
                found
                    .entry((remediation, name.clone()))
                    .or_default()
                    .insert(file.clone());
            }
        }
    }
    found
}

fn row(name: &str) -> Option<&'static [Permission]> {
    CALLS.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

/// What each policy must grant, from the calls in the code.
fn expected_policies() -> BTreeMap<Policy, BTreeSet<(String, String)>> {
    let found = calls_in_code();
    let unmapped: Vec<String> = found
        .iter()
        .filter(|((remediation, name), _)| {
            !row(name).is_some_and(|permissions| {
                permissions
                    .iter()
                    .any(|(p, _, _)| matches!(p, Remediation(_)) == *remediation)
            })
        })
        .map(|((remediation, name), files)| {
            format!(
                "{name} ({} call in {files:?})",
                if *remediation { "remediation" } else { "scan" }
            )
        })
        .collect();
    assert!(
        unmapped.is_empty(),
        "AWS calls without a row in CALLS (tests/integration/iam.rs) for their mode: {unmapped:?}; \
         add the IAM actions they need, and the same to the policy in docs/iam/"
    );
    let stale: Vec<&str> = CALLS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !found.keys().any(|(_, n)| n == name))
        .collect();
    assert!(
        stale.is_empty(),
        "CALLS has rows for calls the code no longer makes: {stale:?}; remove them and \
         their actions from docs/iam/"
    );
    let mut expected: BTreeMap<Policy, BTreeSet<(String, String)>> = BTreeMap::new();
    for (remediation, name) in found.keys() {
        for (policy, action, resource) in row(name).unwrap_or_default() {
            if matches!(policy, Remediation(_)) == *remediation {
                expected
                    .entry(*policy)
                    .or_default()
                    .insert((action.to_string(), resource.to_string()));
            }
        }
    }
    expected
}

fn read_policy(relative: &str) -> Value {
    let path = repo().join("docs/iam").join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read docs/iam/{relative}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("docs/iam/{relative}: {e}"))
}

fn one_or_many(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().expect("a string").to_string())
            .collect(),
        other => panic!("expected a string or a list, got {other}"),
    }
}

/// The (action, resource) pairs an identity policy allows; checks its shape too.
fn granted(relative: &str) -> BTreeSet<(String, String)> {
    let policy = read_policy(relative);
    assert_eq!(policy["Version"], "2012-10-17", "{relative}");
    let mut sids = BTreeSet::new();
    let mut pairs = BTreeSet::new();
    for statement in policy["Statement"].as_array().expect("Statement list") {
        let sid = statement["Sid"]
            .as_str()
            .expect("every statement has a Sid");
        assert!(sids.insert(sid.to_string()), "{relative}: Sid {sid} twice");
        assert_eq!(statement["Effect"], "Allow", "{relative} {sid}");
        assert!(
            statement.get("NotAction").is_none() && statement.get("NotResource").is_none(),
            "{relative} {sid}"
        );
        for action in one_or_many(&statement["Action"]) {
            assert!(
                !action.contains('*'),
                "{relative} {sid}: wildcard action {action}"
            );
            for resource in one_or_many(&statement["Resource"]) {
                assert!(
                    pairs.insert((action.clone(), resource)),
                    "{relative} {sid}: {action} granted twice on the same resource"
                );
            }
        }
    }
    pairs
}

fn diff(
    relative: &str,
    expected: &BTreeSet<(String, String)>,
    actual: &BTreeSet<(String, String)>,
) {
    let missing: Vec<_> = expected.difference(actual).collect();
    let extra: Vec<_> = actual.difference(expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/iam/{relative}: missing (called by the code) {missing:?}; beyond what the code calls {extra:?}"
    );
}

#[test]
fn every_aws_call_is_found_and_mapped() {
    let found = calls_in_code();
    // The search really finds the calls: the inventory's and remediation's known ones.
    for (remediation, name) in [
        (false, "get_rest_apis"),
        (false, "get_stages"),
        (false, "get_routes"),
        (false, "get_caller_identity"),
        (false, "AssumeRoleProvider"),
        (false, "list_accounts_for_parent"),
        (true, "update_stage"),
        (true, "associate_web_acl"),
    ] {
        assert!(
            found.contains_key(&(remediation, name.to_string())),
            "{name} not found; found {:?}",
            found.keys().collect::<Vec<_>>()
        );
    }
    // Test code is not product code: the seeding helpers' calls are not in src/.
    assert!(!found.keys().any(|(_, name)| name == "create_rest_api"));
    expected_policies();
}

#[test]
fn scan_policy_is_exactly_what_the_scan_calls() {
    let expected = expected_policies();
    diff(
        "scan.json",
        expected.get(&Scan).expect("scan calls"),
        &granted("scan.json"),
    );
    // Read-only: no write verb at all.
    for (action, _) in granted("scan.json") {
        assert!(
            action == "apigateway:GET" || action.starts_with("sts:Get"),
            "scan.json grants {action}"
        );
    }
}

#[test]
fn assume_role_policy_is_exactly_sts_assume_role() {
    let expected = expected_policies();
    diff(
        "assume-roles.json",
        expected.get(&AssumeRoles).expect("AssumeRole"),
        &granted("assume-roles.json"),
    );
}

#[test]
fn organization_list_policy_is_exactly_what_the_organization_listing_calls() {
    let expected = expected_policies();
    let listing = expected
        .get(&OrganizationList)
        .expect("the Organizations calls");
    diff(
        "organization-list.json",
        listing,
        &granted("organization-list.json"),
    );
    // Read-only: listings and nothing else.
    for (action, _) in listing {
        assert!(action.starts_with("organizations:List"), "{action}");
    }
}

#[test]
fn each_control_has_a_remediation_policy_with_exactly_what_its_remediation_calls() {
    let expected = expected_policies();
    let mut all = BTreeSet::new();
    let mut controls = BTreeSet::new();
    for (policy, pairs) in &expected {
        if let Remediation(control) = policy {
            let file = format!("remediation/{control}.json");
            diff(&file, pairs, &granted(&file));
            all.extend(pairs.iter().cloned());
            controls.insert(format!("{control}.json"));
        }
    }
    assert!(controls.len() >= 5, "{controls:?}");
    diff(
        "remediation/all.json",
        &all,
        &granted("remediation/all.json"),
    );
    // No policy for a control remediation does not act on (APIGateway.8).
    controls.insert("all.json".to_string());
    let files: BTreeSet<String> = std::fs::read_dir(repo().join("docs/iam/remediation"))
        .expect("docs/iam/remediation")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, controls);
}

#[test]
fn trust_policies_let_in_only_the_operator() {
    let irsa = read_policy("trust-irsa.json");
    let s = &irsa["Statement"][0];
    assert_eq!(s["Action"], "sts:AssumeRoleWithWebIdentity");
    assert!(
        s["Principal"]["Federated"]
            .as_str()
            .is_some_and(|p| p.contains(":oidc-provider/"))
    );
    let conditions = s["Condition"]["StringEquals"]
        .as_object()
        .expect("StringEquals");
    // The chart's ServiceAccount for `helm install apigw-compliance -n apigw-compliance`.
    assert!(
        conditions.iter().any(|(k, v)| k.ends_with(":sub")
            && v == "system:serviceaccount:apigw-compliance:apigw-compliance"),
        "{conditions:?}"
    );
    assert!(
        conditions
            .iter()
            .any(|(k, v)| k.ends_with(":aud") && v == "sts.amazonaws.com")
    );

    let pod_identity = read_policy("trust-pod-identity.json");
    let s = &pod_identity["Statement"][0];
    assert_eq!(s["Principal"]["Service"], "pods.eks.amazonaws.com");
    assert_eq!(
        one_or_many(&s["Action"]),
        vec!["sts:AssumeRole", "sts:TagSession"]
    );

    let cross = read_policy("trust-cross-account.json");
    let s = &cross["Statement"][0];
    assert_eq!(s["Action"], "sts:AssumeRole");
    assert!(
        s["Principal"]["AWS"]
            .as_str()
            .is_some_and(|p| p.contains(":role/apigw-compliance"))
    );
    assert!(
        s["Condition"]["StringEquals"]["sts:ExternalId"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "cross-account trust must require the profile's external id"
    );
    // The scan roles it trusts are the ones assume-roles.json lets the operator assume.
    let assumable = one_or_many(&read_policy("assume-roles.json")["Statement"][0]["Resource"]);
    assert_eq!(assumable, vec!["arn:aws:iam::*:role/apigw-compliance-*"]);
}

/// The SQS calls the change-event consumer may make (src/, outside test code) and the IAM
/// action each needs: the batch forms are authorised as their single forms.
const QUEUE_CALLS: &[(&str, &str)] = &[
    ("receive_message", "sqs:ReceiveMessage"),
    ("delete_message", "sqs:DeleteMessage"),
    ("delete_message_batch", "sqs:DeleteMessage"),
    ("change_message_visibility", "sqs:ChangeMessageVisibility"),
    (
        "change_message_visibility_batch",
        "sqs:ChangeMessageVisibility",
    ),
    ("get_queue_attributes", "sqs:GetQueueAttributes"),
];

/// The queues of docs/iam/change-events.json: deploy/change-events' default queue name,
/// in any account and region (a queue of another account also needs its queue policy).
const CHANGE_EVENT_QUEUES: &str = "arn:aws:sqs:*:*:apigw-compliance-change-events";

/// Operation method names of the SDK crate `krate` when it is in the build; None
/// before it is.
fn operations_of(krate: &str) -> Option<BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline", "--locked"])
        .args(["--filter-platform", &host_triple()])
        .current_dir(repo())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
    let package = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["name"] == krate)?;
    let manifest = PathBuf::from(package["manifest_path"].as_str().expect("manifest_path"));
    let folder = manifest
        .parent()
        .expect("crate folder")
        .join("src/operation");
    let operations: BTreeSet<String> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", folder.display()))
        .filter_map(|entry| {
            let path = entry.expect("entry").path();
            let stem = path.file_stem()?.to_str()?.to_string();
            (path.extension().is_some_and(|e| e == "rs") && stem != "mod").then_some(stem)
        })
        .collect();
    assert!(operations.len() > 5, "{krate}: {operations:?}");
    Some(operations)
}

/// The SDK calls of `operations` in the product's code, with the files making them.
fn called(operations: &BTreeSet<String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut called: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, text) in product_sources() {
        for name in operations {
            if calls(&text, name) > 0 {
                called.entry(name.clone()).or_default().insert(file.clone());
            }
        }
    }
    called
}

/// docs/iam/change-events.json (the operator's identity, when change events are on)
/// grants exactly the queue consumer's four actions on the change-event queues. Once the
/// code calls SQS, every SQS call it makes must be one of [`QUEUE_CALLS`], and the policy
/// must grant exactly the actions of the calls made.
#[test]
fn change_events_policy_is_exactly_what_the_queue_consumer_calls() {
    let granted = granted("change-events.json");
    let expected: BTreeSet<(String, String)> = [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
    ]
    .iter()
    .map(|action| (action.to_string(), CHANGE_EVENT_QUEUES.to_string()))
    .collect();
    diff("change-events.json", &expected, &granted);
    // The queue the deploy templates create by default is the one the policy names.
    for template in [
        "deploy/change-events/cloudformation.yaml",
        "deploy/change-events/main.tf",
    ] {
        let text = std::fs::read_to_string(repo().join(template))
            .unwrap_or_else(|e| panic!("cannot read {template}: {e}"));
        assert!(
            text.contains("apigw-compliance-change-events"),
            "{template} does not create the queue docs/iam/change-events.json names"
        );
    }

    let Some(operations) = operations_of("aws-sdk-sqs") else {
        return;
    };
    let called = called(&operations);
    if called.is_empty() {
        return;
    }
    let unmapped: Vec<String> = called
        .iter()
        .filter(|(name, _)| !QUEUE_CALLS.iter().any(|(call, _)| call == name))
        .map(|(name, files)| format!("{name} (in {files:?})"))
        .collect();
    assert!(
        unmapped.is_empty(),
        "SQS calls without a row in QUEUE_CALLS (tests/integration/iam.rs): {unmapped:?}; \
         add the IAM action they need, and the same to docs/iam/change-events.json"
    );
    let needed: BTreeSet<(String, String)> = QUEUE_CALLS
        .iter()
        .filter(|(call, _)| called.contains_key(*call))
        .map(|(_, action)| (action.to_string(), CHANGE_EVENT_QUEUES.to_string()))
        .collect();
    diff("change-events.json", &needed, &granted);
}

/// The default product of every account and region: the only product the Security Hub
/// export imports under (`arn:aws:securityhub:<region>:<account>:product/<account>/default`).
const DEFAULT_PRODUCTS: &str = "arn:aws:securityhub:*:*:product/*/default";

/// docs/iam/securityhub-export.json (every identity a profile that exports scans with)
/// grants exactly BatchImportFindings on the default products, and BatchImportFindings
/// is the only Security Hub call in the code.
#[test]
fn securityhub_export_policy_is_exactly_what_the_export_calls() {
    let granted = granted("securityhub-export.json");
    let expected: BTreeSet<(String, String)> = BTreeSet::from([(
        "securityhub:BatchImportFindings".to_string(),
        DEFAULT_PRODUCTS.to_string(),
    )]);
    diff("securityhub-export.json", &expected, &granted);
    let operations = operations_of("aws-sdk-securityhub").expect("aws-sdk-securityhub is built");
    let called = called(&operations);
    assert_eq!(
        called.keys().map(String::as_str).collect::<Vec<_>>(),
        ["batch_import_findings"],
        "the Security Hub calls in src/ ({called:?}) are not exactly BatchImportFindings: \
         add the IAM action of a new call to docs/iam/securityhub-export.json and here"
    );
}

//! The IAM set-up for organization discovery (docs/iam/organization.md) stays true: the
//! member role's CloudFormation template passes cfn-lint (the moto venv's pinned
//! cfn-lint, which also checks the IAM actions in its policies) and grants exactly the
//! statements of docs/iam/scan.json and, with EnableRemediation, of
//! docs/iam/remediation/all.json; its trust policy is the one of
//! docs/iam/organization/member-role-trust-policy.json; the operator's org-wide
//! AssumeRole policy names the roles the guide sets up, only in the organization; the
//! Organizations delegation policy delegates exactly the listing of
//! docs/iam/organization-list.json to the listing role's account; the guide's example
//! profile is accepted by `scan --profile`'s checks; the Terraform module
//! deploys that same template with every one of its parameters. Terraform itself is not
//! installed here, so the module is checked as text only.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use apigw_compliance::crd::ComplianceProfile;
use serde_json::{Value, json};

use crate::support::operator::repo;

const TEMPLATE: &str = "docs/iam/organization/member-role-stackset.yaml";
const TRUST_POLICY: &str = "docs/iam/organization/member-role-trust-policy.json";
const OPERATOR_POLICY: &str = "docs/iam/organization/operator-assume-organization-roles.json";
const DELEGATION_POLICY: &str = "docs/iam/organization/delegation-policy.json";
const TERRAFORM_MAIN: &str = "docs/iam/organization/terraform/main.tf";
const TERRAFORM_VARIABLES: &str = "docs/iam/organization/terraform/variables.tf";
const GUIDE: &str = "docs/iam/organization.md";

fn read(relative: &str) -> String {
    std::fs::read_to_string(repo(relative))
        .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

fn json_file(relative: &str) -> Value {
    serde_json::from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// A YAML value as JSON, a CloudFormation short-form function (`!Ref X`) becoming the
/// one-key object `{"!Ref": "X"}`, so the template can be compared with JSON policies.
fn to_json(value: &serde_yaml::Value) -> Value {
    use serde_yaml::Value as Yaml;
    match value {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Number(n) => serde_json::to_value(n).expect("a YAML number is a JSON number"),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Mapping(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = k
                        .as_str()
                        .unwrap_or_else(|| panic!("{TEMPLATE}: a non-string key {k:?}"));
                    (key.to_string(), to_json(v))
                })
                .collect(),
        ),
        Yaml::Tagged(tagged) => json!({ tagged.tag.to_string(): to_json(&tagged.value) }),
    }
}

fn template() -> Value {
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&read(TEMPLATE)).unwrap_or_else(|e| panic!("{TEMPLATE}: {e}"));
    to_json(&yaml)
}

/// The member role's properties in the template.
fn member_role(template: &Value) -> &Value {
    let role = &template["Resources"]["MemberRole"];
    assert_eq!(role["Type"], "AWS::IAM::Role", "{TEMPLATE}: MemberRole");
    &role["Properties"]
}

/// The template's inline policy named `name` (unconditional, or under `!If`), with
/// the condition it is under, if any.
fn inline_policy<'a>(template: &'a Value, name: &str) -> (&'a Value, Option<&'a str>) {
    let policies = member_role(template)["Policies"]
        .as_array()
        .unwrap_or_else(|| panic!("{TEMPLATE}: MemberRole has no Policies list"));
    for policy in policies {
        if policy["PolicyName"] == name {
            return (&policy["PolicyDocument"], None);
        }
        if let Some([condition, then, otherwise]) = policy["!If"].as_array().map(Vec::as_slice)
            && then["PolicyName"] == name
        {
            assert_eq!(
                otherwise,
                &json!({"!Ref": "AWS::NoValue"}),
                "{TEMPLATE}: {name} is the only alternative"
            );
            return (&then["PolicyDocument"], condition.as_str());
        }
    }
    panic!("{TEMPLATE}: no inline policy {name}")
}

/// The path of the moto venv's cfn-lint (tests/moto/install creates the venv once and
/// prints its python).
fn cfn_lint() -> PathBuf {
    let install = repo("tests/moto/install");
    let out = Command::new(&install)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", install.display()));
    assert!(
        out.status.success(),
        "tests/moto/install failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let python = PathBuf::from(String::from_utf8(out.stdout).expect("utf-8 path").trim());
    python
        .parent()
        .expect("the venv's bin folder")
        .join("cfn-lint")
}

#[test]
fn member_role_template_passes_cfn_lint() {
    let out = Command::new(cfn_lint())
        .arg(repo(TEMPLATE))
        .output()
        .expect("run cfn-lint");
    assert!(
        out.status.success(),
        "cfn-lint {TEMPLATE} (exit {:?}):\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn member_role_template_grants_exactly_the_scan_and_remediation_policies() {
    let template = template();
    let (scan, condition) = inline_policy(&template, "apigw-compliance-scan");
    assert_eq!(condition, None, "the scan policy is always there");
    assert_eq!(scan["Version"], "2012-10-17");
    assert_eq!(
        scan["Statement"],
        json_file("docs/iam/scan.json")["Statement"],
        "{TEMPLATE}: the scan policy's statements differ from docs/iam/scan.json"
    );

    let (remediate, condition) = inline_policy(&template, "apigw-compliance-remediate");
    assert_eq!(remediate["Version"], "2012-10-17");
    assert_eq!(
        remediate["Statement"],
        json_file("docs/iam/remediation/all.json")["Statement"],
        "{TEMPLATE}: the remediation policy's statements differ from docs/iam/remediation/all.json"
    );
    // Only with EnableRemediation "true", which is not the default.
    let condition = condition.expect("the remediation policy is conditional");
    assert_eq!(
        template["Conditions"][condition],
        json!({"!Equals": [{"!Ref": "EnableRemediation"}, "true"]})
    );
    let enable = &template["Parameters"]["EnableRemediation"];
    assert_eq!(enable["Default"], "false");
    assert_eq!(enable["AllowedValues"], json!(["false", "true"]));
}

#[test]
fn member_role_trusts_only_the_operator_role_with_the_external_id() {
    let trust = json_file(TRUST_POLICY);
    let statements = trust["Statement"].as_array().expect("Statement list");
    assert_eq!(statements.len(), 1, "{TRUST_POLICY}: one statement");
    let statement = &statements[0];
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(statement["Action"], "sts:AssumeRole");
    // The operator role of docs/iam/trust-cross-account.json, nothing broader.
    let operator = &json_file("docs/iam/trust-cross-account.json")["Statement"][0]["Principal"];
    assert_eq!(
        &statement["Principal"], operator,
        "{TRUST_POLICY}: Principal"
    );
    let external_id = statement["Condition"]["StringEquals"]["sts:ExternalId"]
        .as_str()
        .expect("sts:ExternalId condition");
    assert!(!external_id.is_empty());
    assert_eq!(
        statement["Condition"].as_object().map(|c| c.len()),
        Some(1),
        "{TRUST_POLICY}: only the StringEquals condition"
    );

    // The template's trust policy is that one, with the parameters in place of the
    // example operator role and external id.
    let mut expected = statement.clone();
    expected["Principal"]["AWS"] = json!({"!Ref": "OperatorRoleArn"});
    expected["Condition"]["StringEquals"]["sts:ExternalId"] = json!({"!Ref": "ExternalId"});
    let template = template();
    let assume = &member_role(&template)["AssumeRolePolicyDocument"];
    assert_eq!(assume["Version"], "2012-10-17");
    assert_eq!(
        assume["Statement"],
        json!([expected]),
        "{TEMPLATE}: trust policy"
    );
    // No default external id or operator: every rollout names its own.
    for required in ["OperatorRoleArn", "ExternalId"] {
        assert!(
            template["Parameters"][required].get("Default").is_none(),
            "{TEMPLATE}: {required} must have no default"
        );
    }
}

#[test]
fn operator_assumes_only_the_guides_roles_inside_the_organization() {
    let policy = json_file(OPERATOR_POLICY);
    let statements = policy["Statement"].as_array().expect("Statement list");
    assert_eq!(statements.len(), 1, "{OPERATOR_POLICY}: one statement");
    let statement = &statements[0];
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(statement["Action"], json!(["sts:AssumeRole"]));
    let org_id = statement["Condition"]["StringEquals"]["aws:ResourceOrgID"]
        .as_str()
        .expect("aws:ResourceOrgID condition");
    assert!(
        org_id.starts_with("o-") && org_id.len() >= 12,
        "{OPERATOR_POLICY}: {org_id} is not an organization id"
    );
    let resources: BTreeSet<&str> = statement["Resource"]
        .as_array()
        .expect("Resource list")
        .iter()
        .map(|r| r.as_str().expect("resource ARN"))
        .collect();
    // The member role, in any account of the organization, by the template's default name.
    let template = template();
    let role_name = template["Parameters"]["RoleName"]["Default"]
        .as_str()
        .expect("RoleName default");
    let member = format!("arn:aws:iam::*:role/{role_name}");
    assert!(
        resources.contains(member.as_str()),
        "{resources:?} lacks {member}"
    );
    // Everything it names is also within docs/iam/assume-roles.json's name prefix, so
    // the two policies describe the same roles.
    let prefix = json_file("docs/iam/assume-roles.json")["Statement"][0]["Resource"][0]
        .as_str()
        .expect("assume-roles.json resource")
        .trim_end_matches('*')
        .rsplit_once(":role/")
        .map(|(_, name)| name.to_string())
        .expect("a role ARN pattern");
    for resource in &resources {
        let name = resource.rsplit_once(":role/").map(|(_, n)| n).unwrap_or("");
        assert!(
            name.starts_with(&prefix),
            "{resource} is outside docs/iam/assume-roles.json's apigw-compliance-* roles"
        );
    }
}

/// The actions of every statement of a policy.
fn actions(policy: &Value) -> BTreeSet<String> {
    policy["Statement"]
        .as_array()
        .expect("Statement list")
        .iter()
        .flat_map(|statement| match &statement["Action"] {
            Value::String(action) => vec![action.clone()],
            Value::Array(list) => list
                .iter()
                .map(|a| a.as_str().expect("action").to_string())
                .collect(),
            other => panic!("Action {other:?}"),
        })
        .collect()
}

#[test]
fn delegation_policy_delegates_exactly_the_listing_to_the_listing_roles_account() {
    let delegation = json_file(DELEGATION_POLICY);
    let statements = delegation["Statement"].as_array().expect("Statement list");
    assert_eq!(statements.len(), 1, "{DELEGATION_POLICY}: one statement");
    assert_eq!(statements[0]["Effect"], "Allow");
    // What the listing needs (the listing role's own policy), and nothing more.
    assert_eq!(
        actions(&delegation),
        actions(&json_file("docs/iam/organization-list.json")),
        "{DELEGATION_POLICY} and docs/iam/organization-list.json differ"
    );
    // Delegated to the account of the listing role the operator may assume.
    let principal = statements[0]["Principal"]["AWS"]
        .as_str()
        .expect("an account principal");
    let account = principal
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.strip_suffix(":root"))
        .unwrap_or_else(|| panic!("{DELEGATION_POLICY}: {principal} is not an account"));
    let operator = json_file(OPERATOR_POLICY);
    assert!(
        operator["Statement"][0]["Resource"]
            .as_array()
            .is_some_and(|r| r.iter().any(|arn| arn
                .as_str()
                .is_some_and(|arn| arn.starts_with(&format!("arn:aws:iam::{account}:role/"))))),
        "{OPERATOR_POLICY} names no listing role in the delegated account {account}"
    );
}

/// The guide's example profile: the ```yaml block with `kind: ComplianceProfile`.
fn guide_profile() -> String {
    let guide = read(GUIDE);
    guide
        .split("```yaml")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .find(|block| block.contains("kind: ComplianceProfile"))
        .unwrap_or_else(|| panic!("{GUIDE} has no example ComplianceProfile"))
        .to_string()
}

#[test]
fn guides_example_profile_is_valid_and_uses_the_roles_it_sets_up() {
    let profile = ComplianceProfile::from_manifest(&guide_profile())
        .unwrap_or_else(|e| panic!("{GUIDE}'s example profile: {e}"));
    let scope = &profile.spec.scope;
    let organization = scope
        .organization
        .as_ref()
        .expect("the example profile scans an organization");
    let template = template();
    assert_eq!(
        Some(organization.role_name.as_str()),
        template["Parameters"]["RoleName"]["Default"].as_str(),
        "roleName is the template's RoleName"
    );
    let trust = json_file(TRUST_POLICY);
    assert_eq!(
        organization.external_id.as_deref(),
        trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"].as_str(),
        "organization.externalId is the member trust policy's"
    );
    let listing = scope
        .role_arn
        .as_deref()
        .expect("the example lists with a role");
    let operator = json_file(OPERATOR_POLICY);
    assert!(
        operator["Statement"][0]["Resource"]
            .as_array()
            .is_some_and(|r| r.iter().any(|arn| arn == listing)),
        "{OPERATOR_POLICY} does not let the operator assume the listing role {listing}"
    );
}

#[test]
fn terraform_module_deploys_the_template_with_every_parameter() {
    let main = read(TERRAFORM_MAIN);
    assert!(
        main.contains(r#"file("${path.module}/../member-role-stackset.yaml")"#),
        "{TERRAFORM_MAIN} does not deploy {TEMPLATE}"
    );
    assert!(main.contains(r#"permission_model = "SERVICE_MANAGED""#));
    assert!(main.contains(r#"capabilities     = ["CAPABILITY_NAMED_IAM"]"#));
    // The keys of `parameters = { ... }` are the template's parameters, all of them.
    let block = main
        .split("parameters = {")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .unwrap_or_else(|| panic!("{TERRAFORM_MAIN}: no parameters block"));
    let given: BTreeSet<&str> = block
        .lines()
        .filter_map(|line| line.split_once('=').map(|(key, _)| key.trim()))
        .collect();
    let template = template();
    let declared: BTreeSet<&str> = template["Parameters"]
        .as_object()
        .expect("Parameters")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(given, declared, "{TERRAFORM_MAIN}: parameters");
    // Every variable the module uses is declared.
    let variables = read(TERRAFORM_VARIABLES);
    let used: BTreeSet<&str> = main
        .split("var.")
        .skip(1)
        .filter_map(|rest| {
            rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .next()
        })
        .collect();
    assert!(used.len() >= 6, "{used:?}");
    for name in used {
        assert!(
            variables.contains(&format!("variable \"{name}\" {{")),
            "{TERRAFORM_VARIABLES} does not declare {name}"
        );
    }
}

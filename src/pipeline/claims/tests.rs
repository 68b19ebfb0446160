//! hold_claimed(): which settings two Enforce profiles fight over, who keeps them, and
//! what is left alone.

use super::*;
use crate::crd::ComplianceProfile;
use crate::inventory::MethodSetting;
use crate::model::plan::{Change, HoldReason, Operation};

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";
const ACL_A: &str = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/team-a/0a1b";
const ACL_B: &str = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/team-b/9z8y";

fn now() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A profile of `spec` (YAML under `spec:`), scoped to the region unless it says.
fn scan(spec: &str) -> Scan {
    let scope = if spec.contains("  scope:") {
        String::new()
    } else {
        format!("  scope: {{regions: [{REGION}]}}\n")
    };
    let yaml = format!(
        "apiVersion: apigwcompliance.io/v1alpha1\nkind: ComplianceProfile\nmetadata: {{name: p}}\nspec:\n{scope}{spec}"
    );
    let profile = ComplianceProfile::from_manifest(&yaml).expect("test profile is valid");
    Scan::new(profile.spec).expect("test profile scans")
}

/// An Enforce profile of the four stage controls with the given remediation
/// settings (YAML under `remediation.controls`) and control parameters.
fn enforce(controls: &str, parameters: &str) -> Scan {
    scan(&format!(
        "  controls:\n    enabled: [APIGateway.1, APIGateway.2, APIGateway.3, APIGateway.4]\n    parameters: {{{parameters}}}\n  remediation:\n    mode: Enforce\n    controls: {{{controls}}}\n"
    ))
}

fn created(second: i64, name: &str) -> Seniority {
    Seniority::new(Timestamp::from_second(second).ok(), "team", name)
}

fn claimant(second: i64, name: &str, scan: Scan) -> Claimant {
    Claimant {
        seniority: created(second, name),
        scan,
    }
}

/// One REST API `a1` with the given stages, each failing APIGateway.1 (logging OFF)
/// and .3 (no tracing).
fn inventory(stages: Vec<RestStage>) -> Inventory {
    Inventory {
        regions: vec![RegionInventory {
            region: REGION.to_string(),
            rest_apis: vec![RestApi {
                id: "a1".to_string(),
                name: "orders".to_string(),
                stages,
                ..RestApi::default()
            }],
            v2_apis: Vec::new(),
            domain_names: Vec::new(),
        }],
        errors: Vec::new(),
    }
}

fn stage(name: &str) -> RestStage {
    RestStage {
        name: name.to_string(),
        method_settings: [(
            "*/*".to_string(),
            MethodSetting {
                logging_level: Some("OFF".to_string()),
                ..MethodSetting::default()
            },
        )]
        .into(),
        ..RestStage::default()
    }
}

/// `me`'s plan on `read`, with the claims of `others` held back.
fn plan_with_claims(
    me: &Scan,
    seniority: &Seniority,
    read: &Inventory,
    others: &[Claimant],
) -> RemediationPlan {
    let verdicts = me.evaluate([read], Some(ACCOUNT), now());
    let mut plan = me.plan([read], &verdicts.findings, &OwnershipTags::default());
    hold_claimed(&mut plan, &[read], Some(ACCOUNT), now(), seniority, others);
    plan
}

fn web_acl_changes(changes: &[Change]) -> Vec<&Change> {
    changes
        .iter()
        .filter(|c| matches!(c.operation, Operation::AssociateWebAcl { .. }))
        .collect()
}

fn waf(acl: &str) -> String {
    format!("waf: {{webAclArn: \"{acl}\"}}")
}

#[test]
fn the_younger_of_two_profiles_with_different_web_acls_holds_its_association_back() {
    let read = inventory(vec![stage("prod")]);
    let (a, b) = (enforce(&waf(ACL_A), ""), enforce(&waf(ACL_B), ""));

    let younger = plan_with_claims(
        &b,
        &created(200, "b"),
        &read,
        &[claimant(100, "a", enforce(&waf(ACL_A), ""))],
    );
    assert!(web_acl_changes(&younger.changes).is_empty(), "{younger:#?}");
    assert_eq!(younger.held.len(), 1, "{younger:#?}");
    let held = &younger.held[0];
    assert_eq!(held.hold.reason, HoldReason::ConflictingProfile);
    assert_eq!(held.hold.owner, "profile team/a");
    assert!(
        held.hold.message.contains(ACL_A) && held.hold.message.contains(ACL_B),
        "{}",
        held.hold.message
    );
    // Its other fixes (logging, tracing) still go.
    assert_eq!(younger.changes.len(), 1);
    assert_eq!(younger.changes[0].call.operation, "apigateway:UpdateStage");

    // The older one is not held back by the younger.
    let older = plan_with_claims(&a, &created(100, "a"), &read, &[claimant(200, "b", b)]);
    assert_eq!(web_acl_changes(&older.changes).len(), 1);
    assert!(older.held.is_empty());
}

#[test]
fn the_claim_holds_whatever_the_stage_has_now() {
    // The older profile's web ACL is on the stage; the younger one's allow-list does not
    // accept it and would replace it every scan, and the older one would put it back.
    let mut with_a = stage("prod");
    with_a.web_acl_arn = Some(ACL_A.to_string());
    let read = inventory(vec![with_a]);
    let b = enforce(
        &waf(ACL_B),
        &format!("waf: {{acceptedWebAclArns: [\"{ACL_B}\"]}}"),
    );
    let unheld = plan_with_claims(&b, &created(200, "b"), &read, &[]);
    assert_eq!(web_acl_changes(&unheld.changes).len(), 1, "{unheld:#?}");

    let held = plan_with_claims(
        &b,
        &created(200, "b"),
        &read,
        &[claimant(
            100,
            "a",
            enforce(
                &waf(ACL_A),
                &format!("waf: {{acceptedWebAclArns: [\"{ACL_A}\"]}}"),
            ),
        )],
    );
    assert!(web_acl_changes(&held.changes).is_empty(), "{held:#?}");
    assert_eq!(held.held[0].hold.reason, HoldReason::ConflictingProfile);
}

#[test]
fn the_same_value_and_different_levels_are_no_conflict() {
    let read = inventory(vec![stage("prod")]);
    let same = plan_with_claims(
        &enforce(&waf(ACL_A), ""),
        &created(200, "b"),
        &read,
        &[claimant(100, "a", enforce(&waf(ACL_A), ""))],
    );
    assert!(same.held.is_empty(), "{same:#?}");
    assert_eq!(web_acl_changes(&same.changes).len(), 1);

    // ERROR and INFO: levels are only raised, so the two end at INFO.
    let levels = plan_with_claims(
        &enforce("executionLogging: {loggingLevel: INFO}", ""),
        &created(200, "b"),
        &read,
        &[claimant(
            100,
            "a",
            enforce("executionLogging: {loggingLevel: ERROR}", ""),
        )],
    );
    assert!(levels.held.is_empty(), "{levels:#?}");
    assert_eq!(levels.changes.len(), 1);
}

#[test]
fn a_stage_the_older_profile_exempts_or_leaves_out_of_scope_is_no_claim() {
    let read = inventory(vec![stage("prod")]);
    let exempting = scan(&format!(
        "  controls: {{enabled: [APIGateway.4]}}\n  exemptions:\n    - control: APIGateway.4\n      resourceArnGlob: \"arn:aws:apigateway:{REGION}::/restapis/a1/stages/prod\"\n      reason: behind CloudFront\n  remediation:\n    mode: Enforce\n    controls: {{{}}}\n",
        waf(ACL_A)
    ));
    let other_apis = scan(&format!(
        "  scope: {{regions: [{REGION}], apis: {{include: [\"payments*\"]}}}}\n  remediation:\n    mode: Enforce\n    controls: {{{}}}\n",
        waf(ACL_A)
    ));
    for (what, older) in [("exempted", exempting), ("out of scope", other_apis)] {
        let plan = plan_with_claims(
            &enforce(&waf(ACL_B), ""),
            &created(200, "b"),
            &read,
            &[claimant(100, "a", older)],
        );
        assert!(plan.held.is_empty(), "{what}: {plan:#?}");
        assert_eq!(web_acl_changes(&plan.changes).len(), 1, "{what}");
    }
}

#[test]
fn only_the_conflicting_item_of_a_shared_update_stage_is_held_back() {
    let read = inventory(vec![stage("prod")]);
    let plan = plan_with_claims(
        &enforce("clientCertificate: {certificateId: cert-b}", ""),
        &created(200, "b"),
        &read,
        &[claimant(
            100,
            "a",
            enforce("clientCertificate: {certificateId: cert-a}", ""),
        )],
    );
    let update = &plan.changes[0];
    assert!(
        update
            .items
            .iter()
            .all(|i| i.control_id != crate::controls::client_certificate::ID),
        "{plan:#?}"
    );
    assert!(
        !update
            .call
            .request
            .to_string()
            .contains("clientCertificateId"),
        "the call is rebuilt without the held item: {}",
        update.call.request
    );
    assert_eq!(plan.held.len(), 1);
    assert_eq!(
        plan.held[0].change.items[0].control_id,
        crate::controls::client_certificate::ID
    );
    assert!(
        plan.held[0]
            .change
            .call
            .request
            .to_string()
            .contains("cert-b")
    );

    // Both generating: the same managed certificate, no conflict.
    let generated = plan_with_claims(
        &enforce("clientCertificate: {generate: true}", ""),
        &created(200, "b"),
        &read,
        &[claimant(
            100,
            "a",
            enforce("clientCertificate: {generate: true}", ""),
        )],
    );
    assert!(generated.held.is_empty(), "{generated:#?}");
}

#[test]
fn the_oldest_conflicting_profile_is_named_and_held_changes_free_their_place() {
    let read = inventory(vec![stage("s1"), stage("s2")]);
    let me = with_max_changes(&enforce(&waf(ACL_B), ""), 2);
    let plan = plan_with_claims(
        &me,
        &created(300, "c"),
        &read,
        &[
            claimant(200, "b", enforce(&waf(ACL_A), "")),
            claimant(100, "a", enforce(&waf(ACL_A), "")),
        ],
    );
    // Two UpdateStages and two AssociateWebACLs planned, at most two per scan: the
    // associations are held, so both updates go now and nothing waits.
    assert_eq!(plan.changes.len(), 2, "{plan:#?}");
    assert!(plan.pending.is_empty());
    assert_eq!(plan.held.len(), 2);
    assert!(plan.held.iter().all(|h| h.hold.owner == "profile team/a"));
}

/// `scan` with another `maxChangesPerScan`.
fn with_max_changes(scan: &Scan, max: u32) -> Scan {
    let mut spec = scan.spec().clone();
    spec.remediation.settings.max_changes_per_scan = max;
    Scan::new(spec).expect("valid")
}

#[test]
fn seniority_is_the_creation_time_then_namespace_and_name() {
    assert!(created(100, "z") < created(200, "a"));
    assert!(created(100, "a") < created(100, "b"));
    assert!(Seniority::new(None, "team", "a") > created(i64::from(i32::MAX), "z"));
    assert_eq!(created(1, "a").profile(), "team/a");
}

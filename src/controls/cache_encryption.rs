//! APIGateway.5 — API Gateway REST API cache data should be encrypted at rest.
//!
//! Traces to: "The control fails if any method in an API Gateway REST API stage is
//! configured to cache and the cache is not encrypted." Decisions:
//! docs/controls/APIGateway.5.md.

use crate::controls::admission::Admission;
use crate::controls::planning::{PlanInput, Resource, ResourcePlan, rest_update_stage};
use crate::controls::common::{
    Source,ControlMeta, Semantics, FieldError, RemediationSwitch, STAGE_WIDE_KEY, method_setting_name, name_list};
use crate::inventory::{Needs, RegionInventory, RestStage};
use crate::model::arn::rest_stage_arn;
use crate::model::plan::{ChangeItem, Edit, PatchValue, UnplannedReason};
use crate::model::{ControlId, Finding, ResourceType, Severity, Status};

pub const ID: ControlId = ControlId::new("APIGateway.5");

/// How `spec.remediation.controls` describes this control's remediation settings.
pub const REMEDIATION_DOC: &str = "APIGateway.5: cache encryption where caching is on. On by default.";

pub static META: ControlMeta = ControlMeta {
    id: ID,
    source: Source::SecurityHub,
    title: "API Gateway REST API cache data should be encrypted at rest",
    severity: Severity::Medium,
    category: "Protect > Data protection > Encryption of data at rest",
    resource_types: &[ResourceType::RestStage],
    related_requirements: &[
    "NIST.800-53.r5 CA-9(1)",
    "NIST.800-53.r5 CM-3(6)",
    "NIST.800-53.r5 SC-13",
    "NIST.800-53.r5 SC-28",
    "NIST.800-53.r5 SC-28(1)",
    "NIST.800-53.r5 SC-7(10)",
    "NIST.800-53.r5 SI-7(6)",
    ],
    config_rule: "api-gw-cache-encrypted",
    unsupported_regions: &[],
    // The specification gives console steps rather than a guide link for this
    // control; this is where those steps are published.
    remediation_url: "https://docs.aws.amazon.com/securityhub/latest/userguide/apigateway-controls.html#apigateway-5",
};

pub static ADMISSION: Admission = Admission::NONE;

/// APIGateway.5 remediation: cache encryption where caching is on. On by default
/// (`spec.remediation.controls.cacheEncryption`).
pub type Remediation = RemediationSwitch;

pub fn needs(_: &()) -> Needs {
    Needs {
        rest: true,
        ..Needs::default()
    }
}

pub fn validate(_: &(), _: &Remediation) -> Result<(), FieldError> {
    Ok(())
}

/// Encrypts the cache of every method setting that caches unencrypted. Only where
/// caching is already on: caching and the cache cluster are never turned on (or off)
/// to "fix" anything.
pub fn plan(input: &PlanInput<'_>, _: &(), settings: &Remediation, out: &mut ResourcePlan) {
    let Resource::RestStage(api, stage) = input.resource else {
        return;
    };
    if !settings.enabled {
        return out.unplanned(
            ID,
            UnplannedReason::Disabled,
            "cacheEncryption remediation is turned off (enabled: false)".to_string(),
        );
    }
    let operation = rest_update_stage(api, stage);
    for (key, setting) in &stage.method_settings {
        if setting.caching_enabled && !setting.cache_data_encrypted {
            out.item(
                &operation,
                ChangeItem {
                    control_id: ID,
                    setting: format!("{} cache encryption", setting_name(key)),
                    before: "false".to_string(),
                    after: "true".to_string(),
                    edit: Edit::RestReplace {
                        path: format!("/{key}/caching/dataEncrypted"),
                        value: PatchValue::Literal("true".to_string()),
                    },
                    precondition: None,
                },
            );
        }
    }
}

/// One finding per REST stage. The parameters have nothing for this control.
pub fn evaluate(
    region: &RegionInventory,
    _params: &(),
    _: Semantics,
    findings: &mut Vec<Finding>,
) {
    for api in &region.rest_apis {
        for stage in &api.stages {
            let (status, reason) = evaluate_stage(stage);
            findings.push(META.finding(
                ResourceType::RestStage,
                &region.region,
                rest_stage_arn(&region.region, &api.id, &stage.name),
                status,
                reason,
            ));
        }
    }
}

fn setting_name(key: &str) -> String {
    if key == STAGE_WIDE_KEY {
        "stage-wide (*/*)".to_string()
    } else {
        method_setting_name(key)
    }
}

fn evaluate_stage(stage: &RestStage) -> (Status, String) {
    // Every entry counts on its own: a `*/*` that caches unencrypted fails even when each
    // known method overrides it, because methods added later inherit it (and the
    // inventory does not list a stage's methods to prove otherwise).
    let caching: Vec<(&String, bool)> = stage
        .method_settings
        .iter()
        .filter(|(_, setting)| setting.caching_enabled)
        .map(|(key, setting)| (key, setting.cache_data_encrypted))
        .collect();
    let unencrypted: Vec<String> = caching
        .iter()
        .filter(|(_, encrypted)| !encrypted)
        .map(|(key, _)| setting_name(key))
        .collect();

    if !unencrypted.is_empty() {
        let mut reason = format!(
            "caching is on without encryption for {}; set cacheDataEncrypted (\"Encrypt cache data\") \
             to true where caching is on",
            name_list(&unencrypted)
        );
        if !stage.cache_cluster_enabled {
            reason.push_str(
                "; the stage cache cluster is off, so nothing is cached yet: this is a latent failure \
                 that takes effect as soon as the cache cluster is enabled",
            );
        }
        return (Status::Failed, reason);
    }
    if caching.is_empty() {
        return if stage.cache_cluster_enabled {
            (
                Status::Passed,
                "the stage cache cluster is on but no method setting enables caching, so no cache data is stored"
                    .to_string(),
            )
        } else {
            (
                Status::NotApplicable,
                "the stage cache cluster is off and no method setting enables caching".to_string(),
            )
        };
    }
    let cached: Vec<String> = caching.iter().map(|(key, _)| setting_name(key)).collect();
    (
        Status::Passed,
        format!(
            "cache data is encrypted for every method setting that caches ({})",
            name_list(&cached)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controls::ControlParameters;
    use crate::controls::test_support::*;
    use crate::inventory::MethodSetting;
    use crate::model::V2Protocol;

    fn stage(cache_cluster_enabled: bool, settings: &[(&str, MethodSetting)]) -> RestStage {
        RestStage {
            cache_cluster_enabled,
            ..rest_stage(settings)
        }
    }

    fn verdict(stage: RestStage) -> Finding {
        run_one(ID, &rest_region(stage), &ControlParameters::default())
    }

    #[test]
    fn cache_cluster_off_and_nothing_caching_is_not_applicable() {
        let finding = verdict(stage(false, &[("*/*", logging("INFO"))]));
        assert_eq!(finding.status, Status::NotApplicable);
        assert_eq!(
            finding.reason,
            "the stage cache cluster is off and no method setting enables caching"
        );
    }

    #[test]
    fn stage_without_method_settings_and_cache_off_is_not_applicable() {
        assert_eq!(verdict(stage(false, &[])).status, Status::NotApplicable);
    }

    #[test]
    fn cache_cluster_on_with_stage_wide_encrypted_caching_passes() {
        let finding = verdict(stage(true, &[("*/*", caching(true))]));
        assert_eq!(finding.status, Status::Passed);
        assert_eq!(
            finding.reason,
            "cache data is encrypted for every method setting that caches (stage-wide (*/*))"
        );
    }

    #[test]
    fn cache_cluster_on_with_stage_wide_unencrypted_caching_fails() {
        let finding = verdict(stage(true, &[("*/*", caching(false))]));
        assert_eq!(finding.status, Status::Failed);
        assert_eq!(
            finding.reason,
            "caching is on without encryption for stage-wide (*/*); set cacheDataEncrypted \
             (\"Encrypt cache data\") to true where caching is on"
        );
    }

    #[test]
    fn caching_on_unencrypted_on_one_method_fails_and_names_the_method() {
        let finding = verdict(stage(
            true,
            &[
                ("*/*", logging("INFO")),
                ("~1orders~1{id}/GET", caching(false)),
                ("~1items/GET", caching(true)),
            ],
        ));
        assert_eq!(finding.status, Status::Failed);
        assert!(
            finding
                .reason
                .starts_with("caching is on without encryption for GET /orders/{id};"),
            "{}",
            finding.reason
        );
        assert!(!finding.reason.contains("/items"), "{}", finding.reason);
    }

    #[test]
    fn stage_wide_encrypted_but_one_override_caching_unencrypted_fails() {
        let finding = verdict(stage(
            true,
            &[("*/*", caching(true)), ("~1report/GET", caching(false))],
        ));
        assert_eq!(finding.status, Status::Failed);
        assert!(finding.reason.contains("GET /report"), "{}", finding.reason);
        assert!(!finding.reason.contains("stage-wide"), "{}", finding.reason);
    }

    #[test]
    fn stage_wide_unencrypted_fails_even_when_an_override_encrypts() {
        let finding = verdict(stage(
            true,
            &[("*/*", caching(false)), ("~1report/GET", caching(true))],
        ));
        assert_eq!(finding.status, Status::Failed);
        assert!(
            finding.reason.contains("stage-wide (*/*)"),
            "{}",
            finding.reason
        );
    }

    #[test]
    fn an_override_that_turns_caching_off_does_not_need_encryption() {
        let not_caching = MethodSetting {
            caching_enabled: false,
            cache_data_encrypted: false,
            ..logging("INFO")
        };
        let finding = verdict(stage(
            true,
            &[("*/*", caching(true)), ("~1live/GET", not_caching)],
        ));
        assert_eq!(finding.status, Status::Passed);
    }

    #[test]
    fn encryption_flag_without_caching_does_not_count_as_caching() {
        let encrypted_not_caching = MethodSetting {
            caching_enabled: false,
            cache_data_encrypted: true,
            ..logging("INFO")
        };
        let finding = verdict(stage(false, &[("*/*", encrypted_not_caching)]));
        assert_eq!(finding.status, Status::NotApplicable);
    }

    #[test]
    fn cache_cluster_off_but_a_method_caches_unencrypted_is_a_latent_failure() {
        let finding = verdict(stage(false, &[("~1orders/GET", caching(false))]));
        assert_eq!(finding.status, Status::Failed);
        assert!(
            finding.reason.contains("latent failure"),
            "{}",
            finding.reason
        );
        assert!(finding.reason.contains("GET /orders"), "{}", finding.reason);
    }

    #[test]
    fn cache_cluster_off_but_a_method_caches_encrypted_passes() {
        let finding = verdict(stage(false, &[("~1orders/GET", caching(true))]));
        assert_eq!(finding.status, Status::Passed);
    }

    #[test]
    fn cache_cluster_on_and_nothing_caching_passes() {
        let finding = verdict(stage(true, &[("*/*", logging("INFO"))]));
        assert_eq!(finding.status, Status::Passed);
        assert!(
            finding.reason.contains("no method setting enables caching"),
            "{}",
            finding.reason
        );
    }

    #[test]
    fn unencrypted_caching_with_the_cache_cluster_on_is_not_called_latent() {
        let finding = verdict(stage(true, &[("~1orders/GET", caching(false))]));
        assert!(!finding.reason.contains("latent"), "{}", finding.reason);
    }

    #[test]
    fn finding_carries_control_metadata() {
        let finding = verdict(stage(true, &[("*/*", caching(true))]));
        assert_eq!(finding.control_id, ID);
        assert_eq!(finding.severity, Severity::Medium);
        assert_eq!(finding.resource_type, ResourceType::RestStage);
    }

    #[test]
    fn v2_stages_get_no_finding() {
        let region = region_with(
            Vec::new(),
            vec![v2_api("h", V2Protocol::Http, vec![v2_stage()], Vec::new())],
        );
        assert!(run(ID, &region, &ControlParameters::default()).is_empty());
    }

    /// The specification (securityhub-apigateway-controls.md), field by field, in its
    /// own words: the test is its letter in code.
    #[test]
    fn catalog_entry_matches_the_specification() {
        assert_matches_spec(
            &META,
            &SpecEntry {
                title: "API Gateway REST API cache data should be encrypted at rest",
                severity: Severity::Medium,
                category: "Protect > Data protection > Encryption of data at rest",
                resource_types: &["AWS::ApiGateway::Stage"],
                related_requirements: "NIST.800-53.r5 CA-9(1), NIST.800-53.r5 CM-3(6), NIST.800-53.r5 SC-13, \
                    NIST.800-53.r5 SC-28, NIST.800-53.r5 SC-28(1), NIST.800-53.r5 SC-7(10), NIST.800-53.r5 SI-7(6)",
                config_rule: "api-gw-cache-encrypted",
                unsupported_regions: &[],
                remediation_url: "https://docs.aws.amazon.com/securityhub/latest/userguide/apigateway-controls.html#apigateway-5",
            },
        );
    }
}

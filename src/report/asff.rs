//! Findings in the AWS Security Finding Format (ASFF), as Security Hub (CSPM) imports
//! them with BatchImportFindings: what `scan --output asff` prints, and what the
//! operator's export sends (the SDK's type is built from [`AsffFinding`], field for
//! field, so the mapping is written here once). Pure: the times and the record state
//! are handed in.
//!
//! The choices (docs/operations.md, "Security Hub export", says them for users):
//!
//! - `Id` is `apigw-compliance/<control id>/<resource ARN>`: stable per control and
//!   resource, so a re-import updates the finding instead of adding one; the prefix
//!   keeps it apart from other tools importing under the same default product.
//! - `ProductArn` is the account's default product in the resource's region;
//!   `GeneratorId` is `apigw-compliance/<control id>`.
//! - `Compliance.Status`: PASSED, FAILED, NOT_AVAILABLE for a not-applicable verdict,
//!   WARNING for ERROR (it could not be evaluated).
//! - `Severity.Label` is the control's severity for FAILED and WARNING, and
//!   INFORMATIONAL (no issue found) for PASSED and NOT_AVAILABLE, as Security Hub's own
//!   control findings do; `Severity.Original` is always the control's severity. The same
//!   severity and types go in `FindingProviderFields`, where a provider updates them.
//! - An exempted finding keeps its verdict; `ProductFields` carries
//!   `apigw-compliance/Exempted` and the description says so. (`Workflow` would be the
//!   security team's: BatchImportFindings cannot change it after the first import.)

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hasher};

use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

use crate::controls::{self, ControlMeta, Source};
use crate::model::arn::partition;
use crate::model::{Finding, ResourceType, Status};

/// The only ASFF schema version.
pub const SCHEMA_VERSION: &str = "2018-10-08";
/// BatchImportFindings takes at most this many findings per request.
pub const BATCH_LIMIT: usize = 100;
/// The prefix of every `Id`, `GeneratorId` and `ProductFields` key of ours.
pub const PRODUCER: &str = "apigw-compliance";

/// ASFF length limits (AwsSecurityFinding in the Security Hub API reference).
pub const ID_MAX: usize = 512;
pub const TITLE_MAX: usize = 256;
pub const DESCRIPTION_MAX: usize = 1024;
pub const RECOMMENDATION_TEXT_MAX: usize = 512;
pub const RELATED_REQUIREMENTS_MAX: usize = 32;
pub const PRODUCT_FIELD_KEY_MAX: usize = 128;
pub const PRODUCT_FIELD_VALUE_MAX: usize = 2048;

/// Whether Security Hub should show the finding (ACTIVE) or retire it (ARCHIVED: the
/// resource is gone, or no longer in the profile's scope or controls).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecordState {
    Active,
    Archived,
}

impl RecordState {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordState::Active => "ACTIVE",
            RecordState::Archived => "ARCHIVED",
        }
    }
}

/// One finding in ASFF: the fields we set, spelled as BatchImportFindings and the AWS
/// CLI take them (`aws securityhub batch-import-findings --findings file://...`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffFinding {
    pub schema_version: &'static str,
    pub id: String,
    pub product_arn: String,
    pub generator_id: String,
    pub aws_account_id: String,
    pub types: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub severity: AsffSeverity,
    pub title: String,
    pub description: String,
    pub remediation: AsffRemediation,
    pub product_fields: BTreeMap<String, String>,
    pub resources: Vec<AsffResource>,
    pub compliance: AsffCompliance,
    pub record_state: RecordState,
    pub finding_provider_fields: AsffProviderFields,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffSeverity {
    /// INFORMATIONAL, LOW, MEDIUM, HIGH or CRITICAL.
    pub label: &'static str,
    /// The control's own severity.
    pub original: &'static str,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffRemediation {
    pub recommendation: AsffRecommendation,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffRecommendation {
    pub text: String,
    pub url: &'static str,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffResource {
    /// An ASFF resource type (`AwsApiGatewayStage`, ...) or `Other`.
    #[serde(rename = "Type")]
    pub type_: &'static str,
    /// The resource's ARN.
    pub id: String,
    pub partition: &'static str,
    pub region: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffCompliance {
    /// PASSED, FAILED, NOT_AVAILABLE or WARNING.
    pub status: &'static str,
    pub related_requirements: Vec<&'static str>,
}

/// Where a finding provider sets (and later updates) severity and types.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffProviderFields {
    pub severity: AsffSeverity,
    pub types: Vec<String>,
}

/// Why a finding cannot be put in ASFF.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AsffError {
    #[error(
        "the AWS account of {resource_arn} is unknown, and Security Hub files every finding under an account: let the scanning identity call sts:GetCallerIdentity, or scan through spec.scope.roleArn (its ARN names the account)"
    )]
    UnknownAccount { resource_arn: String },
    #[error("{control} is not a control of this version's catalog")]
    UnknownControl { control: String },
}

/// The ASFF `Id` of a control's finding on a resource.
pub fn finding_id(finding: &Finding) -> String {
    format!(
        "{PRODUCER}/{}/{}",
        finding.control_id.as_str(),
        finding.resource_arn
    )
}

/// The account's default product in `region`, under which custom findings are imported.
pub fn product_arn(region: &str, account: &str) -> String {
    format!(
        "arn:{}:securityhub:{region}:{account}:product/{account}/default",
        partition(region)
    )
}

/// `finding` in ASFF. `created_at` is when its finding was first exported (or the scan
/// time, for a finding printed once), `updated_at` the scan's time.
pub fn to_asff(
    finding: &Finding,
    record_state: RecordState,
    created_at: Timestamp,
    updated_at: Timestamp,
) -> Result<AsffFinding, AsffError> {
    let meta = controls::control(finding.control_id)
        .map(|control| control.meta)
        .ok_or_else(|| AsffError::UnknownControl {
            control: finding.control_id.to_string(),
        })?;
    if finding.account_id.is_empty() {
        return Err(AsffError::UnknownAccount {
            resource_arn: finding.resource_arn.clone(),
        });
    }
    let severity = AsffSeverity {
        label: match finding.status {
            Status::Failed | Status::Error => finding.severity.as_str(),
            Status::Passed | Status::NotApplicable => "INFORMATIONAL",
        },
        original: finding.severity.as_str(),
    };
    let types = vec![finding_type(meta)];
    let name = if finding.resource_name.is_empty() {
        &finding.resource_arn
    } else {
        &finding.resource_name
    };
    let mut product_fields = BTreeMap::from([
        (field("ControlId"), finding.control_id.to_string()),
        (field("Verdict"), finding.status.to_string()),
        (field("ResourceType"), finding.resource_type.as_str().into()),
        (field("Category"), meta.category.to_string()),
    ]);
    if !finding.resource_name.is_empty() {
        product_fields.insert(
            field("ResourceName"),
            cut(&finding.resource_name, PRODUCT_FIELD_VALUE_MAX),
        );
    }
    if finding.exempted {
        product_fields.insert(field("Exempted"), "true".into());
    }
    Ok(AsffFinding {
        schema_version: SCHEMA_VERSION,
        id: finding_id(finding),
        product_arn: product_arn(&finding.region, &finding.account_id),
        generator_id: format!("{PRODUCER}/{}", finding.control_id.as_str()),
        aws_account_id: finding.account_id.clone(),
        types: types.clone(),
        created_at: rfc3339(created_at),
        updated_at: rfc3339(updated_at),
        severity: severity.clone(),
        title: cut(&format!("{name}: {}", meta.title), TITLE_MAX),
        description: cut(&description(finding, record_state), DESCRIPTION_MAX),
        remediation: AsffRemediation {
            recommendation: AsffRecommendation {
                text: cut(
                    &format!(
                        "{}. The linked AWS documentation shows how to configure it; apigw-compliance can also make the change (spec.remediation).",
                        meta.title
                    ),
                    RECOMMENDATION_TEXT_MAX,
                ),
                url: meta.remediation_url,
            },
        },
        product_fields,
        resources: vec![AsffResource {
            type_: resource_type(finding.resource_type),
            id: finding.resource_arn.clone(),
            partition: partition(&finding.region),
            region: finding.region.clone(),
        }],
        compliance: AsffCompliance {
            status: compliance_status(finding.status),
            related_requirements: meta
                .related_requirements
                .iter()
                .take(RELATED_REQUIREMENTS_MAX)
                .copied()
                .collect(),
        },
        record_state,
        finding_provider_fields: AsffProviderFields { severity, types },
    })
}

/// A hash of what `to_asff` would send for `finding` in `record_state`, times left
/// out: equal hashes, nothing to send again. In-process only (the hasher's keys are
/// not stable across Rust releases).
pub fn fingerprint(finding: &Finding, record_state: RecordState) -> Result<u64, AsffError> {
    let content = to_asff(
        finding,
        record_state,
        Timestamp::UNIX_EPOCH,
        Timestamp::UNIX_EPOCH,
    )?;
    let mut hasher = DefaultHasher::new();
    // Serialising plain strings and maps into memory cannot fail.
    let bytes = serde_json::to_vec(&content).unwrap_or_default();
    hasher.write(&bytes);
    Ok(hasher.finish())
}

/// The ASFF type of a control's findings: the standard it checks, as the ASFF types
/// taxonomy names it.
fn finding_type(meta: &ControlMeta) -> String {
    let standard = match meta.source {
        Source::SecurityHub => "AWS Foundational Security Best Practices",
        Source::Cis => "CIS AWS Foundations Benchmark",
    };
    format!("Software and Configuration Checks/Industry and Regulatory Standards/{standard}")
}

/// The ASFF resource type: ASFF has types for REST and v2 stages; routes, integrations
/// and custom domain names have none, so they are `Other`.
pub fn resource_type(resource_type: ResourceType) -> &'static str {
    match resource_type {
        ResourceType::RestStage => "AwsApiGatewayStage",
        ResourceType::V2Stage => "AwsApiGatewayV2Stage",
        ResourceType::V2Route | ResourceType::V2Integration | ResourceType::DomainName => "Other",
    }
}

pub fn compliance_status(status: Status) -> &'static str {
    match status {
        Status::Passed => "PASSED",
        Status::Failed => "FAILED",
        Status::NotApplicable => "NOT_AVAILABLE",
        Status::Error => "WARNING",
    }
}

fn description(finding: &Finding, record_state: RecordState) -> String {
    let mut text = match finding.status {
        Status::Error => format!("Could not be evaluated: {}", finding.reason),
        _ => finding.reason.clone(),
    };
    if text.trim().is_empty() {
        text = format!("{} on {}", finding.status, finding.resource_arn);
    }
    if finding.exempted {
        text.push_str(
            " (Exempted by its ComplianceProfile's spec.exemptions: the verdict is kept, the profile does not count it.)",
        );
    }
    if record_state == RecordState::Archived {
        text.push_str(
            " (Archived: the resource is gone, or no longer in the profile's scope or controls.)",
        );
    }
    text
}

fn field(name: &str) -> String {
    format!("{PRODUCER}/{name}")
}

/// Second precision, `Z`: one of the forms Security Hub documents for its timestamps.
fn rfc3339(at: Timestamp) -> String {
    Timestamp::from_second(at.as_second())
        .unwrap_or(at)
        .to_string()
}

/// `text` cut to at most `max` bytes (so at most `max` characters) on a character
/// boundary, ending with `…` when cut.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;
    use crate::model::arn::{domain_name_arn, rest_stage_arn, v2_integration_arn, v2_route_arn};

    const SEVERITIES: [&str; 5] = ["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"];
    const COMPLIANCE: [&str; 4] = ["PASSED", "WARNING", "FAILED", "NOT_AVAILABLE"];
    const NAMESPACES: [&str; 5] = [
        "Software and Configuration Checks",
        "TTPs",
        "Effects",
        "Unusual Behaviors",
        "Sensitive Data Identifications",
    ];

    fn finding(status: Status) -> Finding {
        Finding {
            control_id: controls::execution_logging::ID,
            resource_type: ResourceType::RestStage,
            resource_arn: rest_stage_arn("eu-west-1", "a1b2c3", "prod"),
            resource_name: "orders/prod".into(),
            account_id: "111122223333".into(),
            region: "eu-west-1".into(),
            status,
            severity: Severity::Medium,
            reason: "execution logging is OFF".into(),
            exempted: false,
        }
    }

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// Every rule of the ASFF reference for the fields we set.
    fn assert_valid(asff: &AsffFinding) {
        assert_eq!(asff.schema_version, "2018-10-08");
        assert!((1..=ID_MAX).contains(&asff.id.len()), "{}", asff.id);
        assert!((1..=ID_MAX).contains(&asff.generator_id.len()));
        assert!((12..=2048).contains(&asff.product_arn.len()));
        assert_eq!(asff.aws_account_id.len(), 12);
        assert!(asff.aws_account_id.bytes().all(|b| b.is_ascii_digit()));
        assert!(
            asff.product_arn
                .ends_with(&format!(":{0}:product/{0}/default", asff.aws_account_id))
        );
        assert!(!asff.types.is_empty() && asff.types.len() <= 50);
        for t in asff.types.iter().chain(&asff.finding_provider_fields.types) {
            let namespace = t.split('/').next().unwrap_or_default();
            assert!(NAMESPACES.contains(&namespace), "{t}");
            assert!(t.split('/').count() <= 3, "{t}");
        }
        for time in [&asff.created_at, &asff.updated_at] {
            assert!(time.parse::<Timestamp>().is_ok(), "{time}");
            assert!(time.ends_with('Z') && time.contains('T'), "{time}");
        }
        assert!(asff.created_at <= asff.updated_at);
        for severity in [&asff.severity, &asff.finding_provider_fields.severity] {
            assert!(SEVERITIES.contains(&severity.label));
            assert!((1..=64).contains(&severity.original.len()));
        }
        assert!((1..=TITLE_MAX).contains(&asff.title.chars().count()));
        assert!((1..=DESCRIPTION_MAX).contains(&asff.description.chars().count()));
        assert!(!asff.title.trim().is_empty() && !asff.description.trim().is_empty());
        let recommendation = &asff.remediation.recommendation;
        assert!((1..=RECOMMENDATION_TEXT_MAX).contains(&recommendation.text.chars().count()));
        assert!(recommendation.url.starts_with("https://"));
        assert!(asff.product_fields.len() <= 50);
        for (key, value) in &asff.product_fields {
            assert!(key.len() <= PRODUCT_FIELD_KEY_MAX && !key.starts_with("aws/"));
            assert!(value.len() <= PRODUCT_FIELD_VALUE_MAX);
        }
        assert!((1..=32).contains(&asff.resources.len()));
        for resource in &asff.resources {
            assert!((1..=256).contains(&resource.type_.len()));
            assert!(["aws", "aws-cn", "aws-us-gov"].contains(&resource.partition));
            assert!((1..=16).contains(&resource.region.len()));
            assert!(resource.id.starts_with("arn:"));
        }
        assert!(COMPLIANCE.contains(&asff.compliance.status));
        assert!(asff.compliance.related_requirements.len() <= RELATED_REQUIREMENTS_MAX);
    }

    #[test]
    fn a_failing_stage_becomes_an_asff_finding_with_every_required_field() {
        let asff = to_asff(
            &finding(Status::Failed),
            RecordState::Active,
            at(100),
            at(200),
        )
        .expect("a known control and account");
        assert_valid(&asff);
        let json = serde_json::to_value(&asff).expect("serialises");
        assert_eq!(
            json["Id"],
            "apigw-compliance/APIGateway.1/arn:aws:apigateway:eu-west-1::/restapis/a1b2c3/stages/prod"
        );
        assert_eq!(
            json["ProductArn"],
            "arn:aws:securityhub:eu-west-1:111122223333:product/111122223333/default"
        );
        assert_eq!(json["GeneratorId"], "apigw-compliance/APIGateway.1");
        assert_eq!(json["AwsAccountId"], "111122223333");
        assert_eq!(json["CreatedAt"], "1970-01-01T00:01:40Z");
        assert_eq!(json["UpdatedAt"], "1970-01-01T00:03:20Z");
        assert_eq!(
            json["Types"][0],
            "Software and Configuration Checks/Industry and Regulatory Standards/AWS Foundational Security Best Practices"
        );
        assert_eq!(
            json["Severity"],
            serde_json::json!({"Label": "MEDIUM", "Original": "MEDIUM"})
        );
        assert_eq!(
            json["Title"],
            "orders/prod: API Gateway REST and WebSocket API execution logging should be enabled"
        );
        assert_eq!(json["Description"], "execution logging is OFF");
        assert_eq!(json["Compliance"]["Status"], "FAILED");
        assert_eq!(json["RecordState"], "ACTIVE");
        assert_eq!(
            json["Resources"],
            serde_json::json!([{
                "Type": "AwsApiGatewayStage",
                "Id": "arn:aws:apigateway:eu-west-1::/restapis/a1b2c3/stages/prod",
                "Partition": "aws",
                "Region": "eu-west-1"
            }])
        );
        assert_eq!(
            json["Remediation"]["Recommendation"]["Url"],
            controls::execution_logging::META.remediation_url
        );
        assert_eq!(
            json["ProductFields"]["apigw-compliance/ResourceName"],
            "orders/prod"
        );
        assert_eq!(json["FindingProviderFields"]["Severity"], json["Severity"]);
    }

    #[test]
    fn verdicts_map_to_compliance_statuses_and_passes_are_informational() {
        let cases = [
            (Status::Passed, "PASSED", "INFORMATIONAL"),
            (Status::Failed, "FAILED", "MEDIUM"),
            (Status::NotApplicable, "NOT_AVAILABLE", "INFORMATIONAL"),
            (Status::Error, "WARNING", "MEDIUM"),
        ];
        for (status, compliance, label) in cases {
            let asff =
                to_asff(&finding(status), RecordState::Active, at(1), at(1)).expect("converts");
            assert_valid(&asff);
            assert_eq!(asff.compliance.status, compliance, "{status}");
            assert_eq!(asff.severity.label, label, "{status}");
            assert_eq!(asff.severity.original, "MEDIUM");
        }
    }

    #[test]
    fn every_control_and_resource_type_converts_within_the_limits() {
        let long_stage = "s".repeat(128);
        let long_domain = format!("{}.example.com", "d".repeat(240));
        for control in controls::CATALOG {
            for &resource_type in control.meta.resource_types {
                let arn = match resource_type {
                    ResourceType::DomainName => domain_name_arn("us-gov-west-1", &long_domain),
                    ResourceType::V2Route => v2_route_arn("us-gov-west-1", "abcdefghij", "r1s2t3u"),
                    ResourceType::V2Integration => {
                        v2_integration_arn("us-gov-west-1", "abcdefghij", "i1j2k3l")
                    }
                    ResourceType::RestStage | ResourceType::V2Stage => {
                        rest_stage_arn("us-gov-west-1", "abcdefghij", &long_stage)
                    }
                };
                let finding = Finding {
                    control_id: control.id(),
                    resource_type,
                    resource_arn: arn,
                    resource_name: "n".repeat(400),
                    region: "us-gov-west-1".into(),
                    reason: "é".repeat(2000),
                    exempted: true,
                    ..finding(Status::Failed)
                };
                for state in [RecordState::Active, RecordState::Archived] {
                    let asff = to_asff(&finding, state, at(5), at(9)).expect("converts");
                    assert_valid(&asff);
                    assert_eq!(asff.resources[0].partition, "aws-us-gov");
                    assert!(asff.product_arn.starts_with("arn:aws-us-gov:securityhub:"));
                    assert!(asff.title.ends_with('…'), "a long name is cut");
                }
            }
        }
    }

    #[test]
    fn routes_integrations_and_domains_have_no_asff_type_and_are_other() {
        assert_eq!(resource_type(ResourceType::RestStage), "AwsApiGatewayStage");
        assert_eq!(resource_type(ResourceType::V2Stage), "AwsApiGatewayV2Stage");
        assert_eq!(resource_type(ResourceType::V2Route), "Other");
        assert_eq!(resource_type(ResourceType::V2Integration), "Other");
        assert_eq!(resource_type(ResourceType::DomainName), "Other");
    }

    #[test]
    fn an_exempted_finding_keeps_its_verdict_and_says_it_is_exempted() {
        let exempted = Finding {
            exempted: true,
            ..finding(Status::Failed)
        };
        let asff = to_asff(&exempted, RecordState::Active, at(1), at(1)).expect("converts");
        assert_eq!(asff.compliance.status, "FAILED");
        assert_eq!(
            asff.product_fields
                .get("apigw-compliance/Exempted")
                .map(String::as_str),
            Some("true")
        );
        assert!(
            asff.description.contains("Exempted"),
            "{}",
            asff.description
        );
    }

    #[test]
    fn an_archived_finding_says_why_and_the_title_falls_back_to_the_arn() {
        let unnamed = Finding {
            resource_name: String::new(),
            ..finding(Status::Passed)
        };
        let asff = to_asff(&unnamed, RecordState::Archived, at(1), at(1)).expect("converts");
        assert_valid(&asff);
        assert_eq!(
            serde_json::to_value(&asff).expect("json")["RecordState"],
            "ARCHIVED"
        );
        assert!(asff.description.contains("Archived"));
        assert!(
            asff.title
                .starts_with("arn:aws:apigateway:eu-west-1::/restapis/a1b2c3")
        );
        assert!(
            !asff
                .product_fields
                .contains_key("apigw-compliance/ResourceName")
        );
    }

    #[test]
    fn a_finding_without_an_account_cannot_be_filed() {
        let anonymous = Finding {
            account_id: String::new(),
            ..finding(Status::Failed)
        };
        let refused = to_asff(&anonymous, RecordState::Active, at(1), at(1));
        assert!(matches!(refused, Err(AsffError::UnknownAccount { .. })));
        assert!(
            refused
                .err()
                .is_some_and(|e| e.to_string().contains("sts:GetCallerIdentity"))
        );
    }

    #[test]
    fn the_fingerprint_follows_the_content_not_the_times() {
        let failed = finding(Status::Failed);
        let same = fingerprint(&failed, RecordState::Active).expect("hashes");
        assert_eq!(
            same,
            fingerprint(&failed.clone(), RecordState::Active).expect("hashes")
        );
        assert_ne!(
            same,
            fingerprint(&finding(Status::Passed), RecordState::Active).expect("hashes")
        );
        assert_ne!(
            same,
            fingerprint(&failed, RecordState::Archived).expect("hashes")
        );
        let renamed = Finding {
            resource_name: "orders/production".into(),
            ..failed
        };
        assert_ne!(
            same,
            fingerprint(&renamed, RecordState::Active).expect("hashes")
        );
    }

    #[test]
    fn china_and_govcloud_regions_use_their_partition() {
        assert_eq!(
            product_arn("cn-north-1", "111122223333"),
            "arn:aws-cn:securityhub:cn-north-1:111122223333:product/111122223333/default"
        );
        assert_eq!(
            product_arn("us-east-1", "111122223333"),
            "arn:aws:securityhub:us-east-1:111122223333:product/111122223333/default"
        );
    }

    #[test]
    fn cutting_keeps_whole_characters() {
        assert_eq!(cut("short", 10), "short");
        let cut_text = cut(&"é".repeat(10), 7);
        assert!(cut_text.len() <= 7 && cut_text.ends_with('…'), "{cut_text}");
    }
}

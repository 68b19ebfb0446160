//! A profile's exemptions applied to its findings: an exempted finding keeps its verdict
//! and is marked, so it no longer makes the profile non-compliant. Pure: the caller
//! passes `now`.

use std::fmt;

use globset::{GlobBuilder, GlobMatcher};
use k8s_openapi::jiff::Timestamp;

use crate::crd::Exemption;
use crate::model::{ControlId, Finding};

/// Why an exemption could not be used. An unusable exemption covers nothing: a typo
/// must not silently exempt more, or less, than was written.
#[derive(Debug, thiserror::Error)]
pub enum ExemptionError {
    #[error("resourceArnGlob {glob:?} is not a valid glob: {source}")]
    InvalidGlob {
        glob: String,
        #[source]
        source: globset::Error,
    },
    #[error(
        "expires {value:?} is not an RFC 3339 timestamp such as 2026-06-30T00:00:00Z: {source}"
    )]
    InvalidExpiry {
        value: String,
        #[source]
        source: k8s_openapi::jiff::Error,
    },
}

/// An exemption that was not applied because its expiry has passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiredExemption {
    /// Position in the profile's exemption list.
    pub index: usize,
    pub control: ControlId,
    pub resource_arn_glob: String,
    pub expired_at: Timestamp,
}

impl fmt::Display for ExpiredExemption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exemption {} ({} on {}) expired at {} and no longer applies",
            self.index, self.control, self.resource_arn_glob, self.expired_at
        )
    }
}

/// An exemption that could not be used at all.
#[derive(Debug)]
pub struct InvalidExemption {
    /// Position in the profile's exemption list.
    pub index: usize,
    pub control: ControlId,
    pub error: ExemptionError,
}

impl fmt::Display for InvalidExemption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exemption {} ({}) is not applied: {}",
            self.index, self.control, self.error
        )
    }
}

/// What applying the exemptions did, for status and events.
#[derive(Debug, Default)]
pub struct ExemptionOutcome {
    /// How many findings are now marked exempted.
    pub exempted_findings: usize,
    pub expired: Vec<ExpiredExemption>,
    pub invalid: Vec<InvalidExemption>,
}

/// The exemptions of a profile that apply at an instant (their globs compiled, their
/// expiry checked), to tell which one covers a finding.
pub struct ActiveExemptions<'a> {
    active: Vec<(&'a Exemption, GlobMatcher)>,
}

impl<'a> ActiveExemptions<'a> {
    /// The exemptions of `exemptions` that apply at `now`; expired and unusable ones
    /// cover nothing ([`apply_exemptions`] reports them).
    pub fn new(exemptions: &'a [Exemption], now: Timestamp) -> Self {
        let active = exemptions
            .iter()
            .filter_map(|exemption| match prepare(exemption, now) {
                Ok(Prepared::Active(matcher)) => Some((exemption, matcher)),
                Ok(Prepared::Expired(_)) | Err(_) => None,
            })
            .collect();
        ActiveExemptions { active }
    }

    /// The first exemption, in the profile's order, that covers `finding`.
    pub fn covering(&self, finding: &Finding) -> Option<&'a Exemption> {
        self.active
            .iter()
            .find(|(exemption, matcher)| {
                exemption.control == finding.control_id && matcher.is_match(&finding.resource_arn)
            })
            .map(|(exemption, _)| *exemption)
    }
}

/// Marks `exempted = true` on every finding an active exemption covers, keeping its
/// verdict, and reports the exemptions that are expired (`expires <= now`) or unusable.
/// Findings already marked stay marked.
pub fn apply_exemptions(
    findings: &mut [Finding],
    exemptions: &[Exemption],
    now: Timestamp,
) -> ExemptionOutcome {
    let mut outcome = ExemptionOutcome::default();
    for (index, exemption) in exemptions.iter().enumerate() {
        match prepare(exemption, now) {
            Ok(Prepared::Active(_)) => {}
            Ok(Prepared::Expired(expired_at)) => outcome.expired.push(ExpiredExemption {
                index,
                control: exemption.control,
                resource_arn_glob: exemption.resource_arn_glob.clone(),
                expired_at,
            }),
            Err(error) => outcome.invalid.push(InvalidExemption {
                index,
                control: exemption.control,
                error,
            }),
        }
    }
    let active = ActiveExemptions::new(exemptions, now);
    for finding in findings.iter_mut() {
        let covered = active.covering(finding).is_some();
        if covered && !finding.exempted {
            finding.exempted = true;
            outcome.exempted_findings += 1;
        }
    }
    outcome
}

enum Prepared {
    Active(GlobMatcher),
    Expired(Timestamp),
}

fn prepare(exemption: &Exemption, now: Timestamp) -> Result<Prepared, ExemptionError> {
    let matcher = compile_arn_glob(&exemption.resource_arn_glob)?;
    if let Some(value) = &exemption.expires {
        let expires: Timestamp =
            value
                .trim()
                .parse()
                .map_err(|source| ExemptionError::InvalidExpiry {
                    value: value.clone(),
                    source,
                })?;
        if expires <= now {
            return Ok(Prepared::Expired(expires));
        }
    }
    Ok(Prepared::Active(matcher))
}

/// ARNs are paths after the `::`, so `*` stays within one segment: a glob written for
/// one API's stages must not reach into another resource's children. Escapes are
/// explicit so the behaviour does not depend on the platform default.
fn compile_arn_glob(glob: &str) -> Result<GlobMatcher, ExemptionError> {
    GlobBuilder::new(glob)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|glob| glob.compile_matcher())
        .map_err(|source| ExemptionError::InvalidGlob {
            glob: glob.to_string(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controls::{waf_acl, xray_tracing};
    use crate::model::{ResourceType, Severity, Status};

    const STAGE_ARN: &str = "arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages/prod";

    fn now() -> Timestamp {
        "2026-01-15T12:00:00Z".parse().unwrap()
    }

    fn finding(control_id: ControlId, resource_arn: &str) -> Finding {
        Finding {
            control_id,
            resource_type: ResourceType::RestStage,
            resource_arn: resource_arn.to_string(),
            resource_name: "orders/prod".to_string(),
            account_id: "123456789012".to_string(),
            region: "us-east-1".to_string(),
            status: Status::Failed,
            severity: Severity::Medium,
            reason: "x".to_string(),
            exempted: false,
        }
    }

    fn exemption(control: ControlId, glob: &str, expires: Option<&str>) -> Exemption {
        Exemption {
            control,
            resource_arn_glob: glob.to_string(),
            reason: "accepted by the security team".to_string(),
            expires: expires.map(str::to_string),
        }
    }

    /// The APIGateway.4 finding on `STAGE_ARN` once `exemptions` are applied at `now()`,
    /// and what applying them reported.
    fn exempt_stage_finding(exemptions: &[Exemption]) -> (Finding, ExemptionOutcome) {
        let mut findings = vec![finding(waf_acl::ID, STAGE_ARN)];
        let outcome = apply_exemptions(&mut findings, exemptions, now());
        (findings.remove(0), outcome)
    }

    /// Whether an APIGateway.4 exemption for `glob` exempts the finding on `STAGE_ARN`.
    fn glob_exempts_the_stage(glob: &str) -> bool {
        let (finding, _) = exempt_stage_finding(&[exemption(waf_acl::ID, glob, None)]);
        finding.exempted
    }

    #[test]
    fn matching_exemption_marks_the_finding_and_keeps_its_verdict() {
        let (finding, outcome) = exempt_stage_finding(&[exemption(
            waf_acl::ID,
            "arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages/*",
            None,
        )]);
        assert!(finding.exempted);
        assert_eq!(finding.status, Status::Failed);
        assert_eq!(outcome.exempted_findings, 1);
        assert!(outcome.expired.is_empty() && outcome.invalid.is_empty());
    }

    #[test]
    fn exemption_for_another_control_does_not_apply() {
        let mut findings = vec![finding(xray_tracing::ID, STAGE_ARN)];
        let outcome = apply_exemptions(
            &mut findings,
            &[exemption(waf_acl::ID, STAGE_ARN, None)],
            now(),
        );
        assert!(!findings[0].exempted);
        assert_eq!(outcome.exempted_findings, 0);
    }

    #[test]
    fn exemption_for_another_resource_does_not_apply() {
        assert!(!glob_exempts_the_stage(
            "arn:aws:apigateway:us-east-1::/restapis/other/stages/*"
        ));
    }

    #[test]
    fn a_single_star_does_not_cross_a_slash() {
        assert!(!glob_exempts_the_stage(
            "arn:aws:apigateway:us-east-1::/restapis/*"
        ));
    }

    #[test]
    fn a_star_matches_one_segment_such_as_the_api_id_or_the_region() {
        assert!(glob_exempts_the_stage(
            "arn:aws:apigateway:*::/restapis/*/stages/prod"
        ));
    }

    #[test]
    fn a_double_star_segment_matches_everything_beneath() {
        assert!(glob_exempts_the_stage(
            "arn:aws:apigateway:us-east-1::/restapis/**"
        ));
    }

    #[test]
    fn an_exact_arn_is_a_glob_too() {
        assert!(glob_exempts_the_stage(STAGE_ARN));
    }

    #[test]
    fn exemption_before_its_expiry_applies() {
        let exemptions = [exemption(
            waf_acl::ID,
            STAGE_ARN,
            Some("2026-06-30T00:00:00Z"),
        )];
        let (finding, outcome) = exempt_stage_finding(&exemptions);
        assert!(finding.exempted);
        assert!(outcome.expired.is_empty());
    }

    #[test]
    fn expired_exemption_does_not_apply_and_is_reported() {
        let exemptions = [
            exemption(xray_tracing::ID, STAGE_ARN, None),
            exemption(waf_acl::ID, STAGE_ARN, Some("2025-12-31T23:59:59Z")),
        ];
        let (finding, outcome) = exempt_stage_finding(&exemptions);
        assert!(!finding.exempted);
        assert_eq!(outcome.expired.len(), 1);
        let expired = &outcome.expired[0];
        assert_eq!(expired.index, 1);
        assert_eq!(expired.control, waf_acl::ID);
        assert_eq!(
            expired.to_string(),
            format!(
                "exemption 1 (APIGateway.4 on {STAGE_ARN}) expired at 2025-12-31T23:59:59Z and no longer applies"
            )
        );
    }

    #[test]
    fn exemption_expires_at_the_instant_given() {
        let exemptions = [exemption(
            waf_acl::ID,
            STAGE_ARN,
            Some("2026-01-15T12:00:00Z"),
        )];
        let (finding, outcome) = exempt_stage_finding(&exemptions);
        assert!(!finding.exempted);
        assert_eq!(outcome.expired.len(), 1);
    }

    #[test]
    fn expiry_with_an_offset_is_compared_as_an_instant() {
        // 13:30 at +02:00 is 11:30Z, before now (12:00Z).
        let exemptions = [exemption(
            waf_acl::ID,
            STAGE_ARN,
            Some("2026-01-15T13:30:00+02:00"),
        )];
        let (finding, outcome) = exempt_stage_finding(&exemptions);
        assert!(!finding.exempted);
        assert_eq!(outcome.expired.len(), 1);
    }

    #[test]
    fn exemption_with_an_invalid_glob_is_reported_and_applies_to_nothing() {
        let exemptions = [exemption(
            waf_acl::ID,
            "arn:aws:apigateway:us-east-1::/restapis/[a1b2c3",
            None,
        )];
        let (finding, outcome) = exempt_stage_finding(&exemptions);
        assert!(!finding.exempted);
        assert_eq!(outcome.invalid.len(), 1);
        assert_eq!(outcome.invalid[0].index, 0);
        assert!(matches!(
            outcome.invalid[0].error,
            ExemptionError::InvalidGlob { .. }
        ));
        assert!(
            outcome.invalid[0]
                .to_string()
                .starts_with("exemption 0 (APIGateway.4) is not applied: resourceArnGlob")
        );
    }

    #[test]
    fn exemption_with_an_unparseable_expiry_is_reported_and_applies_to_nothing() {
        let exemptions = [exemption(waf_acl::ID, STAGE_ARN, Some("next tuesday"))];
        let (finding, outcome) = exempt_stage_finding(&exemptions);
        assert!(!finding.exempted);
        assert!(matches!(
            outcome.invalid[0].error,
            ExemptionError::InvalidExpiry { .. }
        ));
        assert!(
            outcome.invalid[0]
                .error
                .to_string()
                .contains("\"next tuesday\" is not an RFC 3339 timestamp")
        );
    }

    #[test]
    fn a_finding_covered_by_two_exemptions_is_counted_once() {
        let (_, outcome) = exempt_stage_finding(&[
            exemption(waf_acl::ID, STAGE_ARN, None),
            exemption(
                waf_acl::ID,
                "arn:aws:apigateway:us-east-1::/restapis/**",
                None,
            ),
        ]);
        assert_eq!(outcome.exempted_findings, 1);
    }

    #[test]
    fn exemption_serializes_in_camel_case_and_omits_an_absent_expiry() {
        let json = serde_json::to_value(exemption(waf_acl::ID, STAGE_ARN, None)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "control": "APIGateway.4",
                "resourceArnGlob": STAGE_ARN,
                "reason": "accepted by the security team",
            })
        );
        let yaml = "control: APIGateway.1\nresourceArnGlob: arn:aws:apigateway:*::/apis/**\nreason: legacy\nexpires: 2026-06-30T00:00:00Z\n";
        let parsed: Exemption = serde_yaml::from_str(yaml).unwrap();
        assert_eq!(parsed.expires.as_deref(), Some("2026-06-30T00:00:00Z"));
    }

    #[test]
    fn exemption_schema_declares_the_expiry_as_a_date_time() {
        let schema = serde_json::to_value(schemars::schema_for!(Exemption)).unwrap();
        assert_eq!(schema["properties"]["expires"]["format"], "date-time");
        let required = schema["required"].as_array().unwrap();
        assert!(!required.contains(&serde_json::json!("expires")));
    }
}

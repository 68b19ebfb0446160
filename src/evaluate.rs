//! Pure evaluation: an inventory and the profile's control parameters in, findings out,
//! then the profile's exemptions applied to those findings.
//!
//! Nothing here reads AWS, Kubernetes or the clock: the caller passes `now`, so a
//! reconcile and a test see the same verdicts for the same inputs.

use std::fmt;

use globset::{GlobBuilder, GlobMatcher};
use k8s_openapi::jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::controls::{self, ControlId, ControlParameters};
use crate::finding::Finding;
use crate::inventory::{Inventory, RegionInventory};

/// Evaluates the selected controls on every region of the inventory.
///
/// Findings come sorted by region, then resource ARN, then control, so two scans of the
/// same world print and serialize identically. A control listed twice is evaluated
/// once (one finding per control and resource). What the inventory could not read
/// (`inventory.errors`) yields no finding here: the report lists it beside the findings.
pub fn evaluate(
    inventory: &Inventory,
    controls: &[ControlId],
    params: &ControlParameters,
) -> Vec<Finding> {
    evaluate_regions(&inventory.regions, controls, params)
}

/// [`evaluate`] on regions held apart rather than in one [`Inventory`] (a profile's
/// views of shared reads).
pub fn evaluate_regions<'a>(
    regions: impl IntoIterator<Item = &'a RegionInventory> + Clone,
    controls: &[ControlId],
    params: &ControlParameters,
) -> Vec<Finding> {
    let mut selected = controls.to_vec();
    selected.sort();
    selected.dedup();
    // Sized once: grown by doubling, the largest allocation of a reconcile would be up
    // to twice what it holds, and copied at every step.
    let mut findings = Vec::with_capacity(
        regions
            .clone()
            .into_iter()
            .map(|region| findings_upper_bound(region, &selected))
            .sum(),
    );
    for region in regions {
        for id in &selected {
            controls::evaluate(*id, region, params, &mut findings);
        }
    }
    // (region, ARN, control) is unique (one finding per control and resource), so the
    // unstable sort gives the stable sort's order without its scratch buffer.
    findings.sort_unstable_by(|a, b| {
        (&a.region, &a.resource_arn, a.control_id).cmp(&(&b.region, &b.resource_arn, b.control_id))
    });
    findings
}

/// How many findings `controls` can yield on `region`: one per REST stage for .1 to
/// .5, per v2 stage for .1 and .9, per route for .8 (fewer when a control skips a
/// region under AwsParity).
pub(crate) fn findings_upper_bound(region: &RegionInventory, controls: &[ControlId]) -> usize {
    use ControlId::*;
    let rest: usize = region.rest_apis.iter().map(|a| a.stages.len()).sum();
    let v2: usize = region.v2_apis.iter().map(|a| a.stages.len()).sum();
    let routes: usize = region.v2_apis.iter().map(|a| a.routes.len()).sum();
    controls
        .iter()
        .map(|id| match id {
            ApiGateway1 => rest + v2,
            ApiGateway2 | ApiGateway3 | ApiGateway4 | ApiGateway5 => rest,
            ApiGateway8 => routes,
            ApiGateway9 => v2,
        })
        .sum()
}

/// A decision to accept a control's verdict on some resources, for a reason and
/// possibly until a date. Embedded as is in the ComplianceProfile CRD.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Exemption {
    /// The control the exemption applies to, e.g. `APIGateway.4`.
    pub control: ControlId,
    /// The resource ARNs it covers, as a glob. `*` matches within one path segment
    /// (it does not cross `/`), `**` as a whole segment matches any number of segments,
    /// `?`, `[a-z]` and `{a,b}` work as usual. For example
    /// `arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages/*` covers every stage of
    /// one REST API, and `arn:aws:apigateway:*::/apis/**` everything of every v2 API.
    pub resource_arn_glob: String,
    /// Why the verdict is accepted, for whoever reads the report.
    pub reason: String,
    /// When the exemption stops applying, as an RFC 3339 timestamp
    /// (`2026-06-30T00:00:00Z`); absent means it never expires. From that instant on
    /// it covers nothing and is reported as expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub expires: Option<String>,
}

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

/// An exemption ready to match: its glob compiled and its expiry checked.
struct ActiveExemption {
    control: ControlId,
    matcher: GlobMatcher,
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
    let mut active = Vec::new();
    for (index, exemption) in exemptions.iter().enumerate() {
        match prepare(exemption, now) {
            Ok(Prepared::Active(matcher)) => active.push(ActiveExemption {
                control: exemption.control,
                matcher,
            }),
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

    for finding in findings.iter_mut() {
        let covered = active.iter().any(|exemption| {
            exemption.control == finding.control_id
                && exemption.matcher.is_match(&finding.resource_arn)
        });
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
    use crate::controls::test_support::*;
    use crate::controls::{ResourceType, Semantics, Severity};
    use crate::finding::Status;
    use crate::inventory::{Inventory, ReadError, RegionInventory, V2Protocol};

    const STAGE_ARN: &str = "arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages/prod";

    fn now() -> Timestamp {
        "2026-01-15T12:00:00Z".parse().unwrap()
    }

    fn region_named(name: &str) -> RegionInventory {
        let mut region = region_with(
            vec![
                rest_api("zzz", vec![rest_stage(&[])]),
                rest_api("a1b2c3", vec![rest_stage(&[("*/*", logging("INFO"))])]),
            ],
            vec![v2_api(
                "http1",
                V2Protocol::Http,
                vec![v2_stage()],
                vec![route("r1", "GET /", None)],
            )],
        );
        region.region = name.to_string();
        region
    }

    fn inventory() -> Inventory {
        Inventory {
            regions: vec![region_named("us-west-2"), region_named("eu-west-1")],
            errors: Vec::new(),
        }
    }

    fn finding(control_id: ControlId, resource_arn: &str) -> Finding {
        Finding {
            control_id,
            resource_type: ResourceType::RestStage,
            resource_arn: resource_arn.to_string(),
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
        let mut findings = vec![finding(ControlId::ApiGateway4, STAGE_ARN)];
        let outcome = apply_exemptions(&mut findings, exemptions, now());
        (findings.remove(0), outcome)
    }

    /// Whether an APIGateway.4 exemption for `glob` exempts the finding on `STAGE_ARN`.
    fn glob_exempts_the_stage(glob: &str) -> bool {
        let (finding, _) = exempt_stage_finding(&[exemption(ControlId::ApiGateway4, glob, None)]);
        finding.exempted
    }

    #[test]
    fn findings_are_ordered_by_region_then_resource_then_control() {
        let findings = evaluate(&inventory(), &ControlId::ALL, &ControlParameters::default());
        let keys: Vec<(String, String, ControlId)> = findings
            .iter()
            .map(|f| (f.region.clone(), f.resource_arn.clone(), f.control_id))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(findings[0].region, "eu-west-1");
        assert_eq!(
            findings.last().map(|f| f.region.as_str()),
            Some("us-west-2")
        );
    }

    #[test]
    fn evaluation_is_deterministic_whatever_the_order_of_controls() {
        let mut reversed = ControlId::ALL.to_vec();
        reversed.reverse();
        let params = ControlParameters::default();
        assert_eq!(
            evaluate(&inventory(), &ControlId::ALL, &params),
            evaluate(&inventory(), &reversed, &params)
        );
    }

    #[test]
    fn only_the_selected_controls_produce_findings() {
        let findings = evaluate(
            &inventory(),
            &[ControlId::ApiGateway3, ControlId::ApiGateway8],
            &ControlParameters::default(),
        );
        assert!(!findings.is_empty());
        assert!(findings.iter().all(|f| matches!(
            f.control_id,
            ControlId::ApiGateway3 | ControlId::ApiGateway8
        )));
        // Two regions, each with two REST stages (.3) and one route (.8).
        assert_eq!(findings.len(), 6);
    }

    #[test]
    fn a_control_listed_twice_gives_one_finding_per_resource() {
        let once = evaluate(
            &inventory(),
            &[ControlId::ApiGateway3],
            &ControlParameters::default(),
        );
        let twice = evaluate(
            &inventory(),
            &[ControlId::ApiGateway3, ControlId::ApiGateway3],
            &ControlParameters::default(),
        );
        assert_eq!(once, twice);
    }

    #[test]
    fn no_selected_controls_means_no_findings() {
        assert!(evaluate(&inventory(), &[], &ControlParameters::default()).is_empty());
    }

    #[test]
    fn unread_parts_of_the_inventory_give_no_finding() {
        let inventory = Inventory {
            regions: Vec::new(),
            errors: vec![ReadError {
                region: "us-east-1".to_string(),
                resource_arn: None,
                operation: "GetRestApis".to_string(),
                message: "AccessDenied".to_string(),
            }],
        };
        assert!(evaluate(&inventory, &ControlId::ALL, &ControlParameters::default()).is_empty());
    }

    #[test]
    fn aws_parity_drops_findings_of_controls_unsupported_in_a_region() {
        let mut inventory = inventory();
        inventory.regions[0].region = "me-central-1".to_string();
        let params = ControlParameters {
            semantics: Semantics::AwsParity,
            ..ControlParameters::default()
        };
        let findings = evaluate(&inventory, &ControlId::ALL, &params);
        let in_uae: Vec<ControlId> = findings
            .iter()
            .filter(|f| f.region == "me-central-1")
            .map(|f| f.control_id)
            .collect();
        // me-central-1 is unsupported for .1, .3, .8 and .9; .2, .4 and .5 remain.
        assert!(in_uae.iter().all(|id| matches!(
            id,
            ControlId::ApiGateway2 | ControlId::ApiGateway4 | ControlId::ApiGateway5
        )));
        assert!(!in_uae.is_empty());
    }

    #[test]
    fn finding_json_matches_the_contract_exactly() {
        let finding = Finding {
            control_id: ControlId::ApiGateway1,
            resource_type: ResourceType::RestStage,
            resource_arn: "arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages/prod".to_string(),
            region: "us-east-1".to_string(),
            status: Status::Failed,
            severity: Severity::Medium,
            reason: "method settings GET /orders have logging level OFF".to_string(),
            exempted: false,
        };
        assert_eq!(
            serde_json::to_string(&finding).unwrap(),
            r#"{"controlId":"APIGateway.1","resourceType":"AWS::ApiGateway::Stage","resourceArn":"arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages/prod","region":"us-east-1","status":"FAILED","severity":"MEDIUM","reason":"method settings GET /orders have logging level OFF"}"#
        );
    }

    #[test]
    fn exempted_finding_json_carries_exempted_true() {
        let mut finding = finding(
            ControlId::ApiGateway8,
            "arn:aws:apigateway:us-east-1::/apis/h1/routes/r1",
        );
        finding.resource_type = ResourceType::V2Route;
        finding.status = Status::NotApplicable;
        finding.exempted = true;
        let json = serde_json::to_value(&finding).unwrap();
        assert_eq!(json["exempted"], true);
        assert_eq!(json["status"], "NOT_APPLICABLE");
        assert_eq!(json["resourceType"], "AWS::ApiGatewayV2::Route");
        let back: Finding = serde_json::from_value(json).unwrap();
        assert_eq!(back, finding);
    }

    #[test]
    fn matching_exemption_marks_the_finding_and_keeps_its_verdict() {
        let (finding, outcome) = exempt_stage_finding(&[exemption(
            ControlId::ApiGateway4,
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
        let mut findings = vec![finding(ControlId::ApiGateway3, STAGE_ARN)];
        let outcome = apply_exemptions(
            &mut findings,
            &[exemption(ControlId::ApiGateway4, STAGE_ARN, None)],
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
            ControlId::ApiGateway4,
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
            exemption(ControlId::ApiGateway3, STAGE_ARN, None),
            exemption(
                ControlId::ApiGateway4,
                STAGE_ARN,
                Some("2025-12-31T23:59:59Z"),
            ),
        ];
        let (finding, outcome) = exempt_stage_finding(&exemptions);
        assert!(!finding.exempted);
        assert_eq!(outcome.expired.len(), 1);
        let expired = &outcome.expired[0];
        assert_eq!(expired.index, 1);
        assert_eq!(expired.control, ControlId::ApiGateway4);
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
            ControlId::ApiGateway4,
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
            ControlId::ApiGateway4,
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
            ControlId::ApiGateway4,
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
        let exemptions = [exemption(
            ControlId::ApiGateway4,
            STAGE_ARN,
            Some("next tuesday"),
        )];
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
            exemption(ControlId::ApiGateway4, STAGE_ARN, None),
            exemption(
                ControlId::ApiGateway4,
                "arn:aws:apigateway:us-east-1::/restapis/**",
                None,
            ),
        ]);
        assert_eq!(outcome.exempted_findings, 1);
    }

    #[test]
    fn exemption_serializes_in_camel_case_and_omits_an_absent_expiry() {
        let json =
            serde_json::to_value(exemption(ControlId::ApiGateway4, STAGE_ARN, None)).unwrap();
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

//! APIGateway.11 — API Gateway domain names should use recommended security policies.
//!
//! Traces to: "Checks whether a custom domain name uses one of those security policies
//! ... It fails otherwise", with Security Hub's fixed list of five policies. Decisions:
//! docs/controls/APIGateway.11.md.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::controls::admission::{Admission, BoundedString};
use crate::controls::common::{ControlMeta, FieldError, Semantics, Source, join_or, shown};
use crate::controls::planning::{PlanInput, Resource, ResourcePlan};
use crate::inventory::{DomainName, Needs, RegionInventory};
use crate::model::arn::domain_name_arn;
use crate::model::plan::{ChangeItem, Edit, Operation, PatchValue, UnplannedReason};
use crate::model::{ControlId, Finding, ResourceType, Severity, Status};

pub const ID: ControlId = ControlId::new("APIGateway.11");

/// Security Hub's fixed `allowedSecurityPolicies` for regional (and private) domains.
pub const REGIONAL_POLICIES: [&str; 3] = [
    "SecurityPolicy_TLS13_1_3_2025_09",
    "SecurityPolicy_TLS13_1_3_FIPS_2025_09",
    "SecurityPolicy_TLS13_1_2_PFS_PQ_2025_09",
];

/// Security Hub's fixed `allowedSecurityPolicies` for edge-optimized domains.
pub const EDGE_POLICIES: [&str; 2] = [
    "SecurityPolicy_TLS13_2025_EDGE",
    "SecurityPolicy_TLS12_PFS_2025_EDGE",
];

/// How `spec.remediation.controls` describes this control's remediation settings.
pub const REMEDIATION_DOC: &str = "APIGateway.11: the security policy to set on custom domain names, per endpoint type. Off unless set: clients that cannot speak the new policy's TLS versions or ciphers are cut off.";

pub static META: ControlMeta = ControlMeta {
    id: ID,
    source: Source::SecurityHub,
    title: "API Gateway domain names should use recommended security policies",
    severity: Severity::Medium,
    category: "Protect > Encryption of data-in-transit",
    resource_types: &[ResourceType::DomainName],
    related_requirements: &[],
    config_rule: "apigateway-domain-name-tls-check",
    unsupported_regions: &[],
    remediation_url: "https://docs.aws.amazon.com/securityhub/latest/userguide/apigateway-controls.html#apigateway-11",
};

pub static ADMISSION: Admission = Admission {
    parameter_lists: &[],
    remediation_fields: &[
        BoundedString {
            path: &["controls", "domainSecurityPolicy", "regionalPolicy"],
            max_length: 64,
        },
        BoundedString {
            path: &["controls", "domainSecurityPolicy", "edgePolicy"],
            max_length: 64,
        },
    ],
    remediation_rules: &[],
    spec_rules: &[],
};

/// APIGateway.11 remediation (`spec.remediation.controls.domainSecurityPolicy`).
pub type Remediation = Option<PolicyRemediation>;

/// The policy remediation sets, per endpoint type; a domain whose endpoint type has none
/// is left alone.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct PolicyRemediation {
    /// For regional (and private) domains: one of `SecurityPolicy_TLS13_1_3_2025_09`,
    /// `SecurityPolicy_TLS13_1_3_FIPS_2025_09`, `SecurityPolicy_TLS13_1_2_PFS_PQ_2025_09`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = REGIONAL_POLICIES))]
    pub regional_policy: Option<String>,
    /// For edge-optimized domains: `SecurityPolicy_TLS13_2025_EDGE` or
    /// `SecurityPolicy_TLS12_PFS_2025_EDGE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = EDGE_POLICIES))]
    pub edge_policy: Option<String>,
}

/// A domain's endpoint type, as far as the policies go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    Edge,
    /// REGIONAL, and PRIVATE (which takes the regional policies).
    Regional,
}

impl Endpoint {
    fn of(domain: &DomainName) -> Self {
        if domain
            .endpoint_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case("EDGE"))
        {
            Endpoint::Edge
        } else {
            Endpoint::Regional
        }
    }

    fn allowed(self) -> &'static [&'static str] {
        match self {
            Endpoint::Edge => &EDGE_POLICIES,
            Endpoint::Regional => &REGIONAL_POLICIES,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Endpoint::Edge => "edge-optimized",
            Endpoint::Regional => "regional",
        }
    }

    /// The allowed policy closest to `current`: the FIPS one for a FIPS policy, a
    /// TLS 1.3-only one for a TLS 1.3 policy, else the one that still accepts TLS 1.2
    /// (the least disruptive for clients).
    fn nearest(self, current: Option<&str>) -> &'static str {
        let current = current.unwrap_or_default().to_ascii_uppercase();
        match self {
            Endpoint::Edge if current.contains("TLS13") => EDGE_POLICIES[0],
            Endpoint::Edge => EDGE_POLICIES[1],
            Endpoint::Regional if current.contains("FIPS") => REGIONAL_POLICIES[1],
            Endpoint::Regional if current.contains("TLS13_1_3") => REGIONAL_POLICIES[0],
            Endpoint::Regional => REGIONAL_POLICIES[2],
        }
    }
}

fn is_private(domain: &DomainName) -> bool {
    domain
        .endpoint_types
        .iter()
        .any(|t| t.eq_ignore_ascii_case("PRIVATE"))
}

/// The region's custom domain names (one GetDomainNames per region).
pub fn needs(_: &()) -> Needs {
    Needs {
        domain_names: true,
        ..Needs::default()
    }
}

pub fn validate(_: &(), settings: &Remediation) -> Result<(), FieldError> {
    let Some(remediation) = settings else {
        return Ok(());
    };
    for (field, policy, endpoint) in [
        ("regionalPolicy", &remediation.regional_policy, Endpoint::Regional),
        ("edgePolicy", &remediation.edge_policy, Endpoint::Edge),
    ] {
        if let Some(policy) = policy
            && !endpoint.allowed().contains(&policy.as_str())
        {
            return Err(FieldError::new(
                format!("remediation.controls.domainSecurityPolicy.{field}"),
                format!(
                    "{policy:?} is not a policy Security Hub accepts for {} domains: use {}",
                    endpoint.name(),
                    join_or(&endpoint.allowed().iter().map(|p| p.to_string()).collect::<Vec<_>>())
                ),
            ));
        }
    }
    Ok(())
}

/// One finding per custom domain name of the region.
pub fn evaluate(
    region: &RegionInventory,
    _: &(),
    _: Semantics,
    findings: &mut Vec<Finding>,
) {
    for domain in &region.domain_names {
        let (status, reason) = evaluate_domain(domain);
        findings.push(META.finding(
            ResourceType::DomainName,
            &region.region,
            domain_name_arn(&region.region, &domain.name),
            status,
            reason,
        ));
    }
}

fn evaluate_domain(domain: &DomainName) -> (Status, String) {
    let current = domain.security_policy.as_deref();
    let accepted = REGIONAL_POLICIES
        .iter()
        .chain(EDGE_POLICIES.iter())
        .any(|p| current.is_some_and(|c| c.eq_ignore_ascii_case(p)));
    if accepted {
        return (
            Status::Passed,
            format!(
                "domain {} uses the security policy {}",
                domain.name,
                shown(current)
            ),
        );
    }
    let endpoint = Endpoint::of(domain);
    (
        Status::Failed,
        format!(
            "domain {} uses the security policy {}, which Security Hub does not accept; {} domains \
             should use {} (allowed: {})",
            domain.name,
            shown(current),
            endpoint.name(),
            endpoint.nearest(current),
            join_or(&endpoint.allowed().iter().map(|p| p.to_string()).collect::<Vec<_>>())
        ),
    )
}

/// Sets the profile's policy for the domain's endpoint type (UpdateDomainName, `replace
/// /securityPolicy`); only when the profile names one.
pub fn plan(input: &PlanInput<'_>, _: &(), settings: &Remediation, out: &mut ResourcePlan) {
    let Resource::DomainName(domain) = input.resource else {
        return;
    };
    let endpoint = Endpoint::of(domain);
    let target = settings.as_ref().and_then(|s| match endpoint {
        Endpoint::Edge => s.edge_policy.as_ref(),
        Endpoint::Regional => s.regional_policy.as_ref(),
    });
    let Some(target) = target else {
        let field = match endpoint {
            Endpoint::Edge => "edgePolicy",
            Endpoint::Regional => "regionalPolicy",
        };
        return out.unplanned(
            ID,
            UnplannedReason::Disabled,
            format!(
                "a security policy change cuts off clients that cannot speak the new policy, so it is \
                 opt-in: set domainSecurityPolicy.{field} to the policy for {} domains ({})",
                endpoint.name(),
                endpoint.nearest(domain.security_policy.as_deref())
            ),
        );
    };
    if is_private(domain) {
        return out.unplanned(
            ID,
            UnplannedReason::ManualAction,
            format!(
                "domain {} is private: its policy is changed by its domainNameId, which the owner sets \
                 with UpdateDomainName (replace /securityPolicy {target})",
                domain.name
            ),
        );
    }
    let operation = Operation::UpdateDomainName {
        domain_name: domain.name.clone(),
    };
    out.note(
        &operation,
        format!(
            "clients that cannot negotiate {target}'s TLS versions and ciphers can no longer connect"
        ),
    );
    out.item(
        &operation,
        ChangeItem {
            control_id: ID,
            setting: "security policy".to_string(),
            before: shown(domain.security_policy.as_deref()),
            after: target.clone(),
            edit: Edit::RestReplace {
                path: "/securityPolicy".to_string(),
                value: PatchValue::Literal(target.clone()),
            },
            precondition: None,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controls::ControlParameters;
    use crate::controls::test_support::*;

    fn domain(policy: Option<&str>, endpoint: &str) -> DomainName {
        domain_name("api.example.com", policy, endpoint)
    }

    fn verdict(domain: DomainName) -> Finding {
        let mut region = region_with(Vec::new(), Vec::new());
        region.domain_names = vec![domain];
        run_one(ID, &region, &ControlParameters::default())
    }

    #[test]
    fn each_allowed_policy_passes() {
        for policy in REGIONAL_POLICIES {
            assert_eq!(verdict(domain(Some(policy), "REGIONAL")).status, Status::Passed, "{policy}");
        }
        for policy in EDGE_POLICIES {
            assert_eq!(verdict(domain(Some(policy), "EDGE")).status, Status::Passed, "{policy}");
        }
    }

    #[test]
    fn older_policies_fail_and_name_the_nearest_allowed_one_for_the_endpoint_type() {
        let regional = verdict(domain(Some("TLS_1_2"), "REGIONAL"));
        assert_eq!(regional.status, Status::Failed);
        assert!(regional.reason.contains("uses the security policy TLS_1_2"), "{}", regional.reason);
        assert!(
            regional
                .reason
                .contains("regional domains should use SecurityPolicy_TLS13_1_2_PFS_PQ_2025_09"),
            "{}",
            regional.reason
        );
        let edge = verdict(domain(Some("TLS_1_0"), "EDGE"));
        assert_eq!(edge.status, Status::Failed);
        assert!(
            edge.reason
                .contains("edge-optimized domains should use SecurityPolicy_TLS12_PFS_2025_EDGE"),
            "{}",
            edge.reason
        );
        let fips = verdict(domain(Some("SecurityPolicy_TLS13_1_2_FIPS_2021_06"), "REGIONAL"));
        assert!(
            fips.reason.contains("should use SecurityPolicy_TLS13_1_3_FIPS_2025_09"),
            "{}",
            fips.reason
        );
    }

    #[test]
    fn an_absent_policy_fails() {
        let finding = verdict(domain(None, "REGIONAL"));
        assert_eq!(finding.status, Status::Failed);
        assert!(finding.reason.contains("policy none"), "{}", finding.reason);
        assert_eq!(finding.resource_type, ResourceType::DomainName);
        assert_eq!(
            finding.resource_arn,
            "arn:aws:apigateway:us-east-1::/domainnames/api.example.com"
        );
    }

    fn planned(domain: &DomainName, settings: &Remediation) -> ResourcePlan {
        let input = PlanInput {
            region: "us-east-1",
            resource_arn: "arn:aws:apigateway:us-east-1::/domainnames/api.example.com",
            resource: Resource::DomainName(domain),
            semantics: Semantics::Strict,
        };
        let mut out = ResourcePlan::default();
        plan(&input, &(), settings, &mut out);
        out
    }

    #[test]
    fn no_policy_is_changed_unless_the_profile_names_one_for_the_endpoint_type() {
        let old = domain(Some("TLS_1_2"), "EDGE");
        let mut none = planned(&old, &None);
        assert!(none.items.is_empty());
        assert_eq!(none.take_unplanned("us-east-1", "x")[0].reason, UnplannedReason::Disabled);
        let regional_only = Some(PolicyRemediation {
            regional_policy: Some(REGIONAL_POLICIES[0].to_string()),
            edge_policy: None,
        });
        let mut wrong_type = planned(&old, &regional_only);
        assert!(wrong_type.items.is_empty());
        assert!(
            wrong_type.take_unplanned("us-east-1", "x")[0]
                .message
                .contains("domainSecurityPolicy.edgePolicy")
        );
    }

    #[test]
    fn a_named_policy_is_set_with_one_update_domain_name() {
        let old = domain(Some("TLS_1_2"), "REGIONAL");
        let settings = Some(PolicyRemediation {
            regional_policy: Some(REGIONAL_POLICIES[2].to_string()),
            edge_policy: None,
        });
        let out = planned(&old, &settings);
        assert_eq!(out.items.len(), 1);
        let (operation, item) = &out.items[0];
        assert_eq!(
            *operation,
            Operation::UpdateDomainName {
                domain_name: "api.example.com".to_string()
            }
        );
        assert_eq!(item.before, "TLS_1_2");
        assert_eq!(
            item.edit,
            Edit::RestReplace {
                path: "/securityPolicy".to_string(),
                value: PatchValue::Literal(REGIONAL_POLICIES[2].to_string()),
            }
        );
    }

    #[test]
    fn a_private_domain_is_left_to_its_owner() {
        let private = domain(Some("TLS_1_2"), "PRIVATE");
        let settings = Some(PolicyRemediation {
            regional_policy: Some(REGIONAL_POLICIES[0].to_string()),
            edge_policy: None,
        });
        let mut out = planned(&private, &settings);
        assert!(out.items.is_empty());
        assert_eq!(
            out.take_unplanned("us-east-1", "x")[0].reason,
            UnplannedReason::ManualAction
        );
    }

    #[test]
    fn a_policy_outside_the_allowed_ones_for_its_endpoint_type_is_refused() {
        let swapped = Some(PolicyRemediation {
            regional_policy: Some(EDGE_POLICIES[0].to_string()),
            edge_policy: None,
        });
        let err = validate(&(), &swapped).expect_err("an edge policy for regional domains");
        assert_eq!(err.field, "remediation.controls.domainSecurityPolicy.regionalPolicy");
        assert!(validate(&(), &None).is_ok());
    }

    #[test]
    fn catalog_entry_matches_the_specification() {
        assert_matches_spec(
            &META,
            &SpecEntry {
                title: "API Gateway domain names should use recommended security policies",
                severity: Severity::Medium,
                category: "Protect > Encryption of data-in-transit",
                resource_types: &["AWS::ApiGateway::DomainName"],
                related_requirements: "",
                config_rule: "apigateway-domain-name-tls-check",
                unsupported_regions: &[],
                remediation_url: "https://docs.aws.amazon.com/securityhub/latest/userguide/apigateway-controls.html#apigateway-11",
            },
        );
    }
}

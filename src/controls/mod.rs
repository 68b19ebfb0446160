//! The control catalog: one file per Security Hub API Gateway control, each holding the
//! control's metadata, its pure evaluation and its tests.
//!
//! Shared here: the identifiers, the metadata shape, and the parameters a profile may
//! set. Every verdict traces back to a sentence of the Security Hub specification or to
//! a decision recorded in docs/controls/.

pub mod access_logging;
pub mod cache_encryption;
pub mod client_certificate;
pub mod execution_logging;
pub mod route_authorization;
pub mod waf_acl;
pub mod xray_tracing;

#[cfg(test)]
pub(crate) mod test_support;

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::finding::{Finding, Status};
use crate::inventory::RegionInventory;

/// A Security Hub API Gateway control.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum ControlId {
    #[serde(rename = "APIGateway.1")]
    ApiGateway1,
    #[serde(rename = "APIGateway.2")]
    ApiGateway2,
    #[serde(rename = "APIGateway.3")]
    ApiGateway3,
    #[serde(rename = "APIGateway.4")]
    ApiGateway4,
    #[serde(rename = "APIGateway.5")]
    ApiGateway5,
    #[serde(rename = "APIGateway.8")]
    ApiGateway8,
    #[serde(rename = "APIGateway.9")]
    ApiGateway9,
}

impl ControlId {
    /// Every control, in catalog order.
    pub const ALL: [ControlId; 7] = [
        ControlId::ApiGateway1,
        ControlId::ApiGateway2,
        ControlId::ApiGateway3,
        ControlId::ApiGateway4,
        ControlId::ApiGateway5,
        ControlId::ApiGateway8,
        ControlId::ApiGateway9,
    ];

    /// The Security Hub spelling, e.g. `APIGateway.1`.
    pub fn as_str(self) -> &'static str {
        match self {
            ControlId::ApiGateway1 => "APIGateway.1",
            ControlId::ApiGateway2 => "APIGateway.2",
            ControlId::ApiGateway3 => "APIGateway.3",
            ControlId::ApiGateway4 => "APIGateway.4",
            ControlId::ApiGateway5 => "APIGateway.5",
            ControlId::ApiGateway8 => "APIGateway.8",
            ControlId::ApiGateway9 => "APIGateway.9",
        }
    }
}

impl fmt::Display for ControlId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A control id that is not one of the seven.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown control id {0:?}: expected one of APIGateway.1, .2, .3, .4, .5, .8, .9 (see `apigw-compliance controls`)"
)]
pub struct UnknownControlId(pub String);

impl FromStr for ControlId {
    type Err = UnknownControlId;

    /// Accepts the Security Hub spelling in any case (`APIGateway.1`, `apigateway.1`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ControlId::ALL
            .into_iter()
            .find(|id| id.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownControlId(s.to_string()))
    }
}

/// Security Hub severity label.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "CRITICAL",
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "LOW",
        }
    }
}

/// The AWS resource types the controls evaluate.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum ResourceType {
    #[serde(rename = "AWS::ApiGateway::Stage")]
    RestStage,
    #[serde(rename = "AWS::ApiGatewayV2::Stage")]
    V2Stage,
    #[serde(rename = "AWS::ApiGatewayV2::Route")]
    V2Route,
}

impl ResourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::RestStage => "AWS::ApiGateway::Stage",
            ResourceType::V2Stage => "AWS::ApiGatewayV2::Stage",
            ResourceType::V2Route => "AWS::ApiGatewayV2::Route",
        }
    }
}

/// What the specification says about a control, apart from how it evaluates.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlMeta {
    pub id: ControlId,
    pub title: &'static str,
    pub severity: Severity,
    /// e.g. `Identify > Logging`.
    pub category: &'static str,
    pub resource_types: &'static [ResourceType],
    /// NIST 800-53 r5 requirements, spelled as the specification spells them.
    pub related_requirements: &'static [&'static str],
    pub config_rule: &'static str,
    /// Region codes where Security Hub does not support the control.
    pub unsupported_regions: &'static [&'static str],
    pub remediation_url: &'static str,
}

/// How literally a control is read where the specification leaves a case open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Semantics {
    /// Follow the control's own sentence (the default; sometimes stricter than AWS).
    #[default]
    Strict,
    /// Reproduce what Security Hub reports, so numbers agree with its dashboard.
    AwsParity,
}

/// An execution logging level that APIGateway.1 may accept.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LoggingLevel {
    Error,
    Info,
}

impl LoggingLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LoggingLevel::Error => "ERROR",
            LoggingLevel::Info => "INFO",
        }
    }
}

/// A route authorization type that APIGateway.8 may accept.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum AuthorizationType {
    #[serde(rename = "AWS_IAM")]
    AwsIam,
    #[serde(rename = "JWT")]
    Jwt,
    #[serde(rename = "CUSTOM")]
    Custom,
}

impl AuthorizationType {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorizationType::AwsIam => "AWS_IAM",
            AuthorizationType::Jwt => "JWT",
            AuthorizationType::Custom => "CUSTOM",
        }
    }
}

/// How APIGateway.8 treats WebSocket routes other than `$connect`, which cannot carry
/// an authorizer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum NonConnectRoutePolicy {
    /// FAILED, as Security Hub reports them.
    #[default]
    Fail,
    /// NOT_APPLICABLE, for owners who authorize at `$connect`.
    NotApplicable,
}

/// The parameters of every control, as a profile sets them. All optional: the
/// defaults are the Security Hub defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ControlParameters {
    /// `Strict` (default) follows each control's sentence; `AwsParity` reproduces
    /// Security Hub's verdicts where the two differ.
    pub semantics: Semantics,
    /// APIGateway.1.
    pub execution_logging: ExecutionLoggingParameters,
    /// APIGateway.2.
    pub client_certificate: ClientCertificateParameters,
    /// APIGateway.4.
    pub waf: WafParameters,
    /// APIGateway.8.
    pub route_authorization: RouteAuthorizationParameters,
}

/// APIGateway.1 parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ExecutionLoggingParameters {
    /// Logging levels that pass; default ERROR and INFO.
    pub accepted_levels: Vec<LoggingLevel>,
}

impl Default for ExecutionLoggingParameters {
    fn default() -> Self {
        Self {
            accepted_levels: vec![LoggingLevel::Error, LoggingLevel::Info],
        }
    }
}

/// APIGateway.2 parameters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ClientCertificateParameters {
    /// When not empty, only these client certificate ids pass.
    pub accepted_certificate_ids: Vec<String>,
    /// Evaluate only APIs with an HTTP integration (NOT_APPLICABLE otherwise), as AWS
    /// Config's rule documentation describes. Off by default: it costs one throttled
    /// GetResources call per REST API.
    pub only_with_http_integrations: bool,
}

/// APIGateway.4 parameters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct WafParameters {
    /// When not empty, only these web ACL ARNs pass.
    pub accepted_web_acl_arns: Vec<String>,
}

/// APIGateway.8 parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct RouteAuthorizationParameters {
    /// Authorization types that pass; default AWS_IAM, JWT and CUSTOM.
    pub accepted_authorization_types: Vec<AuthorizationType>,
    /// `Fail` (default, as Security Hub) or `NotApplicable`.
    pub websocket_non_connect_routes: NonConnectRoutePolicy,
}

impl Default for RouteAuthorizationParameters {
    fn default() -> Self {
        Self {
            accepted_authorization_types: vec![
                AuthorizationType::AwsIam,
                AuthorizationType::Jwt,
                AuthorizationType::Custom,
            ],
            websocket_non_connect_routes: NonConnectRoutePolicy::Fail,
        }
    }
}

impl ControlMeta {
    /// Whether Security Hub evaluates this control in `region` (a region code).
    pub fn is_supported_in(&self, region: &str) -> bool {
        !self.unsupported_regions.contains(&region)
    }

    /// This control's verdict on one resource, with the control's severity.
    pub(crate) fn finding(
        &self,
        resource_type: ResourceType,
        region: &str,
        resource_arn: String,
        status: Status,
        reason: String,
    ) -> Finding {
        Finding {
            control_id: self.id,
            resource_type,
            resource_arn,
            region: region.to_string(),
            status,
            severity: self.severity,
            reason,
            exempted: false,
        }
    }
}

/// The catalog entry of a control.
pub fn meta(id: ControlId) -> &'static ControlMeta {
    match id {
        ControlId::ApiGateway1 => &execution_logging::META,
        ControlId::ApiGateway2 => &client_certificate::META,
        ControlId::ApiGateway3 => &xray_tracing::META,
        ControlId::ApiGateway4 => &waf_acl::META,
        ControlId::ApiGateway5 => &cache_encryption::META,
        ControlId::ApiGateway8 => &route_authorization::META,
        ControlId::ApiGateway9 => &access_logging::META,
    }
}

/// Every control's catalog entry, in catalog order.
pub fn catalog() -> [&'static ControlMeta; 7] {
    ControlId::ALL.map(meta)
}

/// Evaluates one control on one region's inventory, appending one finding per
/// in-scope resource.
///
/// Security Hub does not evaluate a control in the regions where it does not support
/// it, so under `AwsParity` such a region yields no findings for that control (the
/// counts then agree with its dashboard). `Strict` evaluates every control everywhere:
/// an unsupported region does not make a stage compliant.
pub fn evaluate(
    id: ControlId,
    region: &RegionInventory,
    params: &ControlParameters,
    findings: &mut Vec<Finding>,
) {
    if params.semantics == Semantics::AwsParity && !meta(id).is_supported_in(&region.region) {
        return;
    }
    let evaluate_control = match id {
        ControlId::ApiGateway1 => execution_logging::evaluate,
        ControlId::ApiGateway2 => client_certificate::evaluate,
        ControlId::ApiGateway3 => xray_tracing::evaluate,
        ControlId::ApiGateway4 => waf_acl::evaluate,
        ControlId::ApiGateway5 => cache_encryption::evaluate,
        ControlId::ApiGateway8 => route_authorization::evaluate,
        ControlId::ApiGateway9 => access_logging::evaluate,
    };
    evaluate_control(region, params, findings);
}

/// The `methodSettings` key of a REST stage's stage-wide settings.
pub(crate) const STAGE_WIDE_KEY: &str = "*/*";

/// How many names a reason lists before it says "and N more": a stage with hundreds of
/// failing methods must still give a readable reason.
const MAX_NAMES_IN_REASON: usize = 10;

/// A `methodSettings` key as a person reads it: `~1orders~1{id}/GET` becomes
/// `GET /orders/{id}`. API Gateway escapes the resource path like a JSON pointer
/// (`~1` for `/`, `~0` for `~`), and a `*` method means every method of the path.
pub(crate) fn method_setting_name(key: &str) -> String {
    let Some((path, method)) = key.rsplit_once('/') else {
        return key.to_string();
    };
    let path = path.replace("~1", "/").replace("~0", "~");
    if method == "*" {
        format!("all methods of {path}")
    } else {
        format!("{method} {path}")
    }
}

/// Names for a reason: `a`, `a and b`, `a, b and c`, at most `MAX_NAMES_IN_REASON` then
/// `... and N more`.
pub(crate) fn name_list(names: &[String]) -> String {
    if names.len() > MAX_NAMES_IN_REASON {
        let (shown, rest) = names.split_at(MAX_NAMES_IN_REASON);
        return format!("{} and {} more", shown.join(", "), rest.len());
    }
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

/// Alternatives for a reason: `a`, `a or b`, `a, b or c`.
pub(crate) fn join_or(names: &[String]) -> String {
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

/// A string field that is set to something other than blanks: AWS may return an empty
/// string where a setting was cleared, which configures nothing.
pub(crate) fn non_empty(value: &Option<String>) -> Option<&str> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controls::test_support::*;
    use crate::inventory::{RegionInventory, V2Protocol};

    fn everywhere_failing(region: &str) -> RegionInventory {
        let mut inventory = region_with(
            vec![rest_api(
                "r1",
                vec![rest_stage(&[("~1x/GET", caching(false))])],
            )],
            vec![v2_api(
                "w1",
                V2Protocol::WebSocket,
                vec![v2_stage()],
                vec![route("c1", "$connect", None)],
            )],
        );
        inventory.region = region.to_string();
        inventory
    }

    fn findings_for(
        id: ControlId,
        region: &RegionInventory,
        params: &ControlParameters,
    ) -> Vec<Finding> {
        let mut findings = Vec::new();
        evaluate(id, region, params, &mut findings);
        findings
    }

    #[test]
    fn catalog_lists_the_seven_controls_in_order() {
        let ids: Vec<ControlId> = catalog().iter().map(|meta| meta.id).collect();
        assert_eq!(ids, ControlId::ALL);
    }

    #[test]
    fn every_catalog_entry_is_complete() {
        for meta in catalog() {
            assert!(!meta.title.is_empty(), "{}", meta.id);
            assert!(meta.category.contains(" > "), "{}", meta.id);
            assert!(!meta.resource_types.is_empty(), "{}", meta.id);
            assert!(!meta.related_requirements.is_empty(), "{}", meta.id);
            assert!(
                meta.related_requirements
                    .iter()
                    .all(|r| r.starts_with("NIST.800-53.r5 ")),
                "{}",
                meta.id
            );
            assert!(meta.config_rule.starts_with("api-gw"), "{}", meta.id);
            assert!(
                meta.remediation_url
                    .starts_with("https://docs.aws.amazon.com/"),
                "{}",
                meta.id
            );
        }
    }

    /// One control's metadata as the specification states it.
    struct SpecEntry {
        id: ControlId,
        title: &'static str,
        severity: Severity,
        category: &'static str,
        resource_types: &'static [&'static str],
        related_requirements: &'static str,
        /// As the specification gives it: a link to the rule's page or the rule's name.
        config_rule: &'static str,
        /// The region names of the specification's "not supported" note.
        unsupported_regions: &'static [&'static str],
        /// The guide the Remediation section links to; for .5 (console steps only) and
        /// .8 (one guide per protocol: HTTP and WebSocket) the control's own page.
        remediation_url: &'static str,
    }

    const NIST_LOGGING: &str = "NIST.800-53.r5 AC-4(26), NIST.800-53.r5 AU-10, NIST.800-53.r5 AU-12, \
        NIST.800-53.r5 AU-2, NIST.800-53.r5 AU-3, NIST.800-53.r5 AU-6(3), NIST.800-53.r5 AU-6(4), \
        NIST.800-53.r5 CA-7, NIST.800-53.r5 SC-7(9), NIST.800-53.r5 SI-7(8)";
    const LOGGING_GUIDE: &str = "https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html#set-up-access-logging-using-console";

    /// The specification (securityhub-apigateway-controls.md), field by field, in its
    /// own words: the test is its letter in code.
    const SPEC: [SpecEntry; 7] = [
        SpecEntry {
            id: ControlId::ApiGateway1,
            title: "API Gateway REST and WebSocket API execution logging should be enabled",
            severity: Severity::Medium,
            category: "Identify > Logging",
            resource_types: &["AWS::ApiGateway::Stage", "AWS::ApiGatewayV2::Stage"],
            related_requirements: NIST_LOGGING,
            config_rule: "https://docs.aws.amazon.com/config/latest/developerguide/api-gw-execution-logging-enabled.html",
            unsupported_regions: &["Africa (Cape Town)", "Europe (Milan)", "Middle East (UAE)"],
            remediation_url: LOGGING_GUIDE,
        },
        SpecEntry {
            id: ControlId::ApiGateway2,
            title: "API Gateway REST API stages should be configured to use SSL certificates for backend authentication",
            severity: Severity::Medium,
            category: "Protect > Data protection",
            resource_types: &["AWS::ApiGateway::Stage"],
            related_requirements: "NIST.800-53.r5 AC-17(2), NIST.800-53.r5 AC-4, NIST.800-53.r5 IA-5(1), \
                NIST.800-53.r5 SC-12(3), NIST.800-53.r5 SC-13, NIST.800-53.r5 SC-23, NIST.800-53.r5 SC-23(3), \
                NIST.800-53.r5 SC-7(4), NIST.800-53.r5 SC-8, NIST.800-53.r5 SC-8(1), NIST.800-53.r5 SC-8(2), \
                NIST.800-53.r5 SI-7(6)",
            config_rule: "https://docs.aws.amazon.com/config/latest/developerguide/api-gw-ssl-enabled.html",
            unsupported_regions: &[
                "Asia Pacific (Osaka)",
                "China (Beijing)",
                "China (Ningxia)",
                "AWS GovCloud (US-East)",
                "AWS GovCloud (US-West)",
            ],
            remediation_url: "https://docs.aws.amazon.com/apigateway/latest/developerguide/getting-started-client-side-ssl-authentication.html",
        },
        SpecEntry {
            id: ControlId::ApiGateway3,
            title: "API Gateway REST API stages should have AWS X-Ray tracing enabled",
            severity: Severity::Low,
            category: "Detect > Detection services",
            resource_types: &["AWS::ApiGateway::Stage"],
            related_requirements: "NIST.800-53.r5 CA-7",
            config_rule: "https://docs.aws.amazon.com/config/latest/developerguide/api-gw-xray-enabled.html",
            unsupported_regions: &[
                "Asia Pacific (Osaka)",
                "China (Beijing)",
                "China (Ningxia)",
                "Middle East (UAE)",
                "AWS GovCloud (US-East)",
                "AWS GovCloud (US-West)",
            ],
            remediation_url: "https://docs.aws.amazon.com/xray/latest/devguide/xray-services-apigateway.html",
        },
        SpecEntry {
            id: ControlId::ApiGateway4,
            title: "API Gateway should be associated with a WAF Web ACL",
            severity: Severity::Medium,
            category: "Protect > Protective services",
            resource_types: &["AWS::ApiGateway::Stage"],
            related_requirements: "NIST.800-53.r5 AC-4(21)",
            config_rule: "https://docs.aws.amazon.com/config/latest/developerguide/api-gw-associated-with-waf.html",
            unsupported_regions: &[
                "Asia Pacific (Osaka)",
                "China (Beijing)",
                "China (Ningxia)",
                "AWS GovCloud (US-East)",
                "AWS GovCloud (US-West)",
            ],
            remediation_url: "https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-control-access-aws-waf.html",
        },
        SpecEntry {
            id: ControlId::ApiGateway5,
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
        SpecEntry {
            id: ControlId::ApiGateway8,
            title: "API Gateway routes should specify an authorization type",
            severity: Severity::Medium,
            category: "Protect > Secure Access Management",
            resource_types: &["AWS::ApiGatewayV2::Route"],
            related_requirements: "NIST.800-53.r5 AC-3, NIST.800-53.r5 CM-2, NIST.800-53.r5 CM-2(2)",
            config_rule: "api-gwv2-authorization-type-configured",
            unsupported_regions: &[
                "Asia Pacific (Jakarta)",
                "China (Beijing)",
                "China (Ningxia)",
                "Middle East (UAE)",
                "AWS GovCloud (US-East)",
                "AWS GovCloud (US-West)",
            ],
            remediation_url: "https://docs.aws.amazon.com/securityhub/latest/userguide/apigateway-controls.html#apigateway-8",
        },
        SpecEntry {
            id: ControlId::ApiGateway9,
            title: "Access logging should be configured for API Gateway V2 Stages",
            severity: Severity::Medium,
            category: "Identify > Logging",
            resource_types: &["AWS::ApiGatewayV2::Stage"],
            related_requirements: NIST_LOGGING,
            config_rule: "api-gwv2-access-logs-enabled",
            unsupported_regions: &[
                "Asia Pacific (Jakarta)",
                "China (Beijing)",
                "China (Ningxia)",
                "Middle East (UAE)",
                "AWS GovCloud (US-East)",
                "AWS GovCloud (US-West)",
            ],
            remediation_url: LOGGING_GUIDE,
        },
    ];

    /// The region codes of the names the specification uses.
    fn region_code(name: &str) -> &'static str {
        match name {
            "Africa (Cape Town)" => "af-south-1",
            "Asia Pacific (Jakarta)" => "ap-southeast-3",
            "Asia Pacific (Osaka)" => "ap-northeast-3",
            "China (Beijing)" => "cn-north-1",
            "China (Ningxia)" => "cn-northwest-1",
            "Europe (Milan)" => "eu-south-1",
            "Middle East (UAE)" => "me-central-1",
            "AWS GovCloud (US-East)" => "us-gov-east-1",
            "AWS GovCloud (US-West)" => "us-gov-west-1",
            other => panic!("no region code for {other:?}"),
        }
    }

    /// The rule's name from its documentation link (`…/api-gw-ssl-enabled.html`), or the
    /// name itself.
    fn config_rule_name(spec: &str) -> &str {
        spec.rsplit('/')
            .next()
            .unwrap_or(spec)
            .trim_end_matches(".html")
    }

    #[test]
    fn every_catalog_entry_matches_the_specification() {
        assert_eq!(SPEC.map(|entry| entry.id), ControlId::ALL);
        for spec in &SPEC {
            let meta = meta(spec.id);
            let id = spec.id;
            assert_eq!(meta.id, id);
            assert_eq!(meta.title, spec.title, "{id} title");
            assert_eq!(meta.severity, spec.severity, "{id} severity");
            assert_eq!(meta.category, spec.category, "{id} category");
            let types: Vec<&str> = meta.resource_types.iter().map(|t| t.as_str()).collect();
            assert_eq!(types, spec.resource_types, "{id} resource types");
            let requirements: Vec<&str> = spec
                .related_requirements
                .split(',')
                .map(str::trim)
                .collect();
            assert_eq!(
                meta.related_requirements, requirements,
                "{id} related requirements"
            );
            assert_eq!(
                meta.config_rule,
                config_rule_name(spec.config_rule),
                "{id} config rule"
            );
            let regions: Vec<&str> = spec
                .unsupported_regions
                .iter()
                .map(|name| region_code(name))
                .collect();
            assert_eq!(
                meta.unsupported_regions, regions,
                "{id} unsupported regions"
            );
            assert_eq!(
                meta.remediation_url, spec.remediation_url,
                "{id} remediation URL"
            );
        }
    }

    #[test]
    fn aws_parity_emits_nothing_for_a_control_in_a_region_security_hub_does_not_support() {
        let region = everywhere_failing("af-south-1");
        assert!(findings_for(ControlId::ApiGateway1, &region, &parity()).is_empty());
    }

    #[test]
    fn aws_parity_still_evaluates_controls_that_are_supported_in_that_region() {
        let region = everywhere_failing("af-south-1");
        assert!(!findings_for(ControlId::ApiGateway5, &region, &parity()).is_empty());
        assert!(!findings_for(ControlId::ApiGateway8, &region, &parity()).is_empty());
    }

    #[test]
    fn strict_evaluates_every_control_in_unsupported_regions_too() {
        let region = everywhere_failing("af-south-1");
        let findings = findings_for(
            ControlId::ApiGateway1,
            &region,
            &ControlParameters::default(),
        );
        assert_eq!(findings.len(), 2);
        assert!(
            findings
                .iter()
                .all(|finding| finding.region == "af-south-1")
        );
    }

    #[test]
    fn every_control_emits_findings_through_the_dispatch() {
        let region = everywhere_failing("us-east-1");
        for id in ControlId::ALL {
            let findings = findings_for(id, &region, &ControlParameters::default());
            assert!(!findings.is_empty(), "{id}");
            assert!(
                findings.iter().all(|finding| finding.control_id == id),
                "{id}"
            );
            assert!(
                findings
                    .iter()
                    .all(|finding| meta(id).resource_types.contains(&finding.resource_type)),
                "{id}"
            );
        }
    }

    #[test]
    fn method_setting_keys_decode_to_method_and_path() {
        assert_eq!(
            method_setting_name("~1orders~1{id}/GET"),
            "GET /orders/{id}"
        );
        assert_eq!(method_setting_name("~1/GET"), "GET /");
        assert_eq!(method_setting_name("~1orders/*"), "all methods of /orders");
        assert_eq!(method_setting_name("~1a~0b/POST"), "POST /a~b");
        assert_eq!(method_setting_name("weird"), "weird");
    }

    #[test]
    fn long_name_lists_are_cut_with_a_count() {
        let names: Vec<String> = (1..=12).map(|n| format!("m{n}")).collect();
        assert_eq!(
            name_list(&names),
            "m1, m2, m3, m4, m5, m6, m7, m8, m9, m10 and 2 more"
        );
        assert_eq!(name_list(&names[..3]), "m1, m2 and m3");
        assert_eq!(name_list(&names[..1]), "m1");
    }

    #[test]
    fn blank_strings_are_not_a_setting() {
        assert_eq!(non_empty(&Some("  ".to_string())), None);
        assert_eq!(non_empty(&None), None);
        assert_eq!(non_empty(&Some("x".to_string())), Some("x"));
    }

    #[test]
    fn catalog_metadata_serializes_in_camel_case() {
        let json = serde_json::to_value(meta(ControlId::ApiGateway1)).unwrap();
        assert_eq!(json["id"], "APIGateway.1");
        assert_eq!(json["severity"], "MEDIUM");
        assert_eq!(json["resourceTypes"][1], "AWS::ApiGatewayV2::Stage");
        assert_eq!(json["configRule"], "api-gw-execution-logging-enabled");
        assert_eq!(json["unsupportedRegions"][0], "af-south-1");
    }
}

//! The control catalog: one file per Security Hub API Gateway control, each holding the
//! control's metadata, its pure evaluation and its tests.
//!
//! Shared here: the identifiers, the metadata shape, and the parameters a profile may
//! set. Every verdict traces back to a sentence of the Security Hub specification or to
//! a decision recorded in docs/controls/.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::finding::Finding;
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

/// The catalog entry of a control.
pub fn meta(id: ControlId) -> &'static ControlMeta {
    todo!("catalog: {id}")
}

/// Evaluates one control on one region's inventory, appending one finding per
/// in-scope resource.
pub fn evaluate(
    id: ControlId,
    region: &RegionInventory,
    params: &ControlParameters,
    findings: &mut Vec<Finding>,
) {
    let _ = (id, region, params, findings);
    todo!("dispatch to the control's file")
}

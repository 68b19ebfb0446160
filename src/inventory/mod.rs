//! The inventory: an SDK-free snapshot of the API Gateway resources of some regions.
//!
//! Everything the controls evaluate is here and nothing else, so evaluation is a pure
//! function of this model. The AWS reader (`aws`) fills it; tests build it in code.

pub mod aws;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What one scan read: one entry per region, plus everything that could not be read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub regions: Vec<RegionInventory>,
    /// Parts that could not be read at all (a region, or one API's stages or routes).
    /// Nothing listed here is ever reported as PASSED.
    pub errors: Vec<ReadError>,
}

/// The API Gateway resources of one region of one account.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RegionInventory {
    pub region: String,
    pub rest_apis: Vec<RestApi>,
    pub v2_apis: Vec<V2Api>,
}

/// A REST API (API Gateway v1) and its stages.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RestApi {
    pub id: String,
    pub name: String,
    pub tags: BTreeMap<String, String>,
    /// Whether any method of the API integrates with an HTTP backend. Read only when
    /// APIGateway.2's `onlyWithHttpIntegrations` option asks for it (GetResources is
    /// throttled to 5 calls per 2 s); `None` when not read.
    pub http_integration: Option<IntegrationLookup>,
    pub stages: Vec<RestStage>,
}

/// The outcome of looking up whether a REST API has HTTP integrations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum IntegrationLookup {
    Found(bool),
    /// The lookup failed; the message says why.
    Failed(String),
}

/// A REST API stage as GetStages returns it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RestStage {
    pub name: String,
    /// Keyed as API Gateway keys them: `*/*` for the stage-wide settings, or
    /// `{resourcePath}/{HTTP_METHOD}` with `/` in the path escaped as `~1`.
    pub method_settings: BTreeMap<String, MethodSetting>,
    pub tracing_enabled: bool,
    pub client_certificate_id: Option<String>,
    pub web_acl_arn: Option<String>,
    pub cache_cluster_enabled: bool,
    pub tags: BTreeMap<String, String>,
}

/// One entry of a REST stage's `methodSettings`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodSetting {
    /// `OFF`, `ERROR` or `INFO` as API Gateway reports it; `None` when absent.
    pub logging_level: Option<String>,
    pub caching_enabled: bool,
    pub cache_data_encrypted: bool,
}

/// The protocol of an API Gateway v2 API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum V2Protocol {
    Http,
    WebSocket,
}

/// An API Gateway v2 API (HTTP or WebSocket) with its stages and routes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct V2Api {
    pub id: String,
    pub name: String,
    pub protocol: V2Protocol,
    pub tags: BTreeMap<String, String>,
    pub stages: Vec<V2Stage>,
    pub routes: Vec<Route>,
}

/// An API Gateway v2 stage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct V2Stage {
    pub name: String,
    /// `DefaultRouteSettings.LoggingLevel` (`OFF`, `ERROR`, `INFO`); WebSocket only.
    pub default_logging_level: Option<String>,
    /// `RouteSettings{routeKey -> LoggingLevel}`; only routes that override it.
    pub route_logging_levels: BTreeMap<String, Option<String>>,
    /// `None` when the stage has no `AccessLogSettings` at all.
    pub access_log: Option<AccessLogSettings>,
    pub auto_deploy: bool,
    pub tags: BTreeMap<String, String>,
}

/// `AccessLogSettings` of a v2 stage, as read (either field may be empty).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessLogSettings {
    pub destination_arn: Option<String>,
    pub format: Option<String>,
}

/// A v2 route.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub id: String,
    /// e.g. `GET /orders`, `$connect`, `$default`.
    pub route_key: String,
    /// `NONE`, `AWS_IAM`, `CUSTOM` or `JWT`; `None` when absent (which means NONE).
    pub authorization_type: Option<String>,
}

/// Something the inventory could not read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadError {
    pub region: String,
    /// The ARN of the API whose children could not be read, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_arn: Option<String>,
    /// The AWS operation that failed, e.g. `GetStages`.
    pub operation: String,
    /// What failed and what to do about it.
    pub message: String,
}

/// The ARN partition of a region: `aws-cn` in China, `aws-us-gov` in GovCloud, else `aws`.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// ARN of a REST API stage: `arn:{partition}:apigateway:{region}::/restapis/{apiId}/stages/{stage}`.
pub fn rest_stage_arn(region: &str, api_id: &str, stage: &str) -> String {
    format!(
        "arn:{}:apigateway:{region}::/restapis/{api_id}/stages/{stage}",
        partition(region)
    )
}

/// ARN of a REST API: `arn:{partition}:apigateway:{region}::/restapis/{apiId}`.
pub fn rest_api_arn(region: &str, api_id: &str) -> String {
    format!(
        "arn:{}:apigateway:{region}::/restapis/{api_id}",
        partition(region)
    )
}

/// ARN of a v2 stage: `arn:{partition}:apigateway:{region}::/apis/{apiId}/stages/{stage}`.
pub fn v2_stage_arn(region: &str, api_id: &str, stage: &str) -> String {
    format!(
        "arn:{}:apigateway:{region}::/apis/{api_id}/stages/{stage}",
        partition(region)
    )
}

/// ARN of a v2 API: `arn:{partition}:apigateway:{region}::/apis/{apiId}`.
pub fn v2_api_arn(region: &str, api_id: &str) -> String {
    format!(
        "arn:{}:apigateway:{region}::/apis/{api_id}",
        partition(region)
    )
}

/// ARN of a v2 route: `arn:{partition}:apigateway:{region}::/apis/{apiId}/routes/{routeId}`.
pub fn v2_route_arn(region: &str, api_id: &str, route_id: &str) -> String {
    format!(
        "arn:{}:apigateway:{region}::/apis/{api_id}/routes/{route_id}",
        partition(region)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_use_the_partition_of_their_region() {
        assert_eq!(
            rest_stage_arn("us-east-1", "a1", "prod"),
            "arn:aws:apigateway:us-east-1::/restapis/a1/stages/prod"
        );
        assert_eq!(
            v2_route_arn("cn-north-1", "b2", "r1"),
            "arn:aws-cn:apigateway:cn-north-1::/apis/b2/routes/r1"
        );
        assert_eq!(
            v2_stage_arn("us-gov-west-1", "b2", "live"),
            "arn:aws-us-gov:apigateway:us-gov-west-1::/apis/b2/stages/live"
        );
    }
}

//! The SDK-free model of what one scan read: regions, APIs, stages, routes, what could
//! not be read, and what a read covers ([`Needs`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{ErrorKind, ResourceType, V2Protocol};

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
    /// The region's custom domain names (GetDomainNames; read only when a control
    /// looks at them). They serve REST, HTTP and WebSocket APIs alike.
    #[serde(default)]
    pub domain_names: Vec<DomainName>,
}

impl RegionInventory {
    /// How many resources of a type the region holds.
    pub fn count(&self, resource_type: ResourceType) -> usize {
        match resource_type {
            ResourceType::RestStage => self.rest_apis.iter().map(|a| a.stages.len()).sum(),
            ResourceType::V2Stage => self.v2_apis.iter().map(|a| a.stages.len()).sum(),
            ResourceType::V2Route => self.v2_apis.iter().map(|a| a.routes.len()).sum(),
            ResourceType::V2Integration => self.v2_apis.iter().map(|a| a.integrations.len()).sum(),
            ResourceType::DomainName => self.domain_names.len(),
        }
    }
}

/// What a read covers beyond the API lists and their stages: which API types, and the
/// per-API extras only some controls need. Controls declare what they need; a read of
/// a profile covers the union of its controls' needs (within its scope), and a shared
/// read serves every profile whose needs it covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Needs {
    /// REST APIs and their stages (GetRestApis, GetStages).
    pub rest: bool,
    /// v2 APIs and their stages (GetApis, GetStages).
    pub v2: bool,
    /// Each v2 API's routes (one GetRoutes per API).
    pub routes: bool,
    /// Whether each REST API has an HTTP integration (one throttled GetResources per API).
    pub http_integrations: bool,
    /// Each v2 API's integrations (one GetIntegrations per API, paged).
    pub integrations: bool,
    /// The region's custom domain names (one GetDomainNames per region, paged).
    pub domain_names: bool,
}

impl Needs {
    /// What both need.
    pub fn union(self, other: Needs) -> Needs {
        Needs {
            rest: self.rest || other.rest,
            v2: self.v2 || other.v2,
            routes: self.routes || other.routes,
            http_integrations: self.http_integrations || other.http_integrations,
            integrations: self.integrations || other.integrations,
            domain_names: self.domain_names || other.domain_names,
        }
    }

    /// Whether a read covering `self` serves a caller that needs `needed`.
    pub fn covers(self, needed: Needs) -> bool {
        self.union(needed) == self
    }

    /// Routes and integrations need their v2 APIs, and HTTP integrations their REST
    /// APIs: nothing is read for APIs that are not listed.
    pub fn consistent(self) -> Needs {
        Needs {
            routes: self.routes && self.v2,
            integrations: self.integrations && self.v2,
            http_integrations: self.http_integrations && self.rest,
            ..self
        }
    }
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
    /// `accessLogSettings`; `None` when the stage has none.
    #[serde(default)]
    pub access_log: Option<AccessLogSettings>,
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

/// An API Gateway v2 API (HTTP or WebSocket) with its stages and routes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct V2Api {
    pub id: String,
    pub name: String,
    pub protocol: V2Protocol,
    pub tags: BTreeMap<String, String>,
    pub stages: Vec<V2Stage>,
    pub routes: Vec<Route>,
    /// Read only when a control looks at integrations; empty otherwise.
    #[serde(default)]
    pub integrations: Vec<Integration>,
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

/// A v2 integration (GetIntegrations).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integration {
    pub id: String,
    /// `AWS_PROXY`, `HTTP_PROXY`, `MOCK`, ...
    pub integration_type: Option<String>,
    /// `INTERNET` or `VPC_LINK`; `None` when absent (which means INTERNET).
    pub connection_type: Option<String>,
    pub uri: Option<String>,
    /// `TlsConfig`; `None` when the integration has none.
    pub tls: Option<TlsConfig>,
}

/// An integration's `TlsConfig`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsConfig {
    /// `ServerNameToVerify`; `None` when absent or empty.
    pub server_name_to_verify: Option<String>,
}

/// A custom domain name (GetDomainNames).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainName {
    pub name: String,
    /// e.g. `TLS_1_2`, `SecurityPolicy_TLS13_1_3_2025_09`; `None` when absent.
    pub security_policy: Option<String>,
    /// `endpointConfiguration.types`: `EDGE`, `REGIONAL`, `PRIVATE`.
    pub endpoint_types: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

/// Something the inventory could not read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadError {
    /// The account whose read failed, when the scan covers several (an organization)
    /// or the account is known; filled in by the pipeline, never by the reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    pub region: String,
    /// The ARN of the API whose children could not be read, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_arn: Option<String>,
    /// The AWS operation that failed, e.g. `GetStages`.
    pub operation: String,
    /// What kind of failure: `accessDenied`, `notFound`, `invalid`, `credentials`,
    /// `throttled`, `unavailable` or `other`.
    pub kind: ErrorKind,
    /// What failed and what to do about it.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_combine_and_cover() {
        let rest = Needs {
            rest: true,
            ..Needs::default()
        };
        let routes = Needs {
            v2: true,
            routes: true,
            ..Needs::default()
        };
        let both = rest.union(routes);
        assert!(both.covers(rest) && both.covers(routes));
        assert!(!rest.covers(routes));
        assert!(Needs::default().covers(Needs::default()));
        let orphan = Needs {
            routes: true,
            http_integrations: true,
            ..Needs::default()
        };
        assert_eq!(orphan.consistent(), Needs::default());
    }
}

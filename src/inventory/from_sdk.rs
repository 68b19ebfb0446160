//! How AWS's answers map into the inventory's model: SDK types in, model values out.
//! Absent and empty fields read as what the controls must see (docs/controls/README.md):
//! an empty string is no value, an absent flag is false, absent tags are none.

use std::collections::BTreeMap;
use std::collections::HashMap;

use super::model::{
    AccessLogSettings, DomainName, Integration, MethodSetting, RestStage, Route, TlsConfig, V2Stage,
};

/// The fields of a REST stage the model keeps. GetStages' `types::Stage` and GetStage's
/// output carry the same ones as different types: [`rest_stage`] maps either, so one
/// mapping serves the region read and the read of one stage.
pub(super) trait SdkRestStage {
    fn stage_name(&self) -> Option<&str>;
    fn method_settings(&self)
    -> Option<&HashMap<String, aws_sdk_apigateway::types::MethodSetting>>;
    fn tracing_enabled(&self) -> bool;
    fn client_certificate_id(&self) -> Option<&str>;
    fn web_acl_arn(&self) -> Option<&str>;
    fn cache_cluster_enabled(&self) -> bool;
    fn access_log_settings(&self) -> Option<&aws_sdk_apigateway::types::AccessLogSettings>;
    fn tags(&self) -> Option<&HashMap<String, String>>;
}

/// Forwards [`SdkRestStage`] to a type's own accessors of the same names.
macro_rules! sdk_rest_stage {
    ($ty:ty) => {
        impl SdkRestStage for $ty {
            fn stage_name(&self) -> Option<&str> {
                <$ty>::stage_name(self)
            }
            fn method_settings(
                &self,
            ) -> Option<&HashMap<String, aws_sdk_apigateway::types::MethodSetting>> {
                <$ty>::method_settings(self)
            }
            fn tracing_enabled(&self) -> bool {
                <$ty>::tracing_enabled(self)
            }
            fn client_certificate_id(&self) -> Option<&str> {
                <$ty>::client_certificate_id(self)
            }
            fn web_acl_arn(&self) -> Option<&str> {
                <$ty>::web_acl_arn(self)
            }
            fn cache_cluster_enabled(&self) -> bool {
                <$ty>::cache_cluster_enabled(self)
            }
            fn access_log_settings(&self) -> Option<&aws_sdk_apigateway::types::AccessLogSettings> {
                <$ty>::access_log_settings(self)
            }
            fn tags(&self) -> Option<&HashMap<String, String>> {
                <$ty>::tags(self)
            }
        }
    };
}

sdk_rest_stage!(aws_sdk_apigateway::types::Stage);
sdk_rest_stage!(aws_sdk_apigateway::operation::get_stage::GetStageOutput);

/// The fields of a custom domain name the model keeps, as GetDomainNames'
/// `types::DomainName` and GetDomainName's output both carry them (see [`SdkRestStage`]).
pub(super) trait SdkDomainName {
    fn domain_name(&self) -> Option<&str>;
    fn security_policy(&self) -> Option<&aws_sdk_apigateway::types::SecurityPolicy>;
    fn endpoint_configuration(&self) -> Option<&aws_sdk_apigateway::types::EndpointConfiguration>;
    fn tags(&self) -> Option<&HashMap<String, String>>;
}

/// Forwards [`SdkDomainName`] to a type's own accessors of the same names.
macro_rules! sdk_domain_name {
    ($ty:ty) => {
        impl SdkDomainName for $ty {
            fn domain_name(&self) -> Option<&str> {
                <$ty>::domain_name(self)
            }
            fn security_policy(&self) -> Option<&aws_sdk_apigateway::types::SecurityPolicy> {
                <$ty>::security_policy(self)
            }
            fn endpoint_configuration(
                &self,
            ) -> Option<&aws_sdk_apigateway::types::EndpointConfiguration> {
                <$ty>::endpoint_configuration(self)
            }
            fn tags(&self) -> Option<&HashMap<String, String>> {
                <$ty>::tags(self)
            }
        }
    };
}

sdk_domain_name!(aws_sdk_apigateway::types::DomainName);
sdk_domain_name!(aws_sdk_apigateway::operation::get_domain_name::GetDomainNameOutput);

pub(super) fn rest_stage(stage: &impl SdkRestStage) -> RestStage {
    RestStage {
        name: stage.stage_name().unwrap_or_default().to_string(),
        method_settings: stage
            .method_settings()
            .into_iter()
            .flatten()
            .map(|(key, setting)| {
                (
                    key.clone(),
                    MethodSetting {
                        logging_level: setting.logging_level().map(str::to_string),
                        caching_enabled: setting.caching_enabled(),
                        cache_data_encrypted: setting.cache_data_encrypted(),
                    },
                )
            })
            .collect(),
        tracing_enabled: stage.tracing_enabled(),
        client_certificate_id: non_empty(stage.client_certificate_id()),
        web_acl_arn: non_empty(stage.web_acl_arn()),
        cache_cluster_enabled: stage.cache_cluster_enabled(),
        access_log: stage
            .access_log_settings()
            .map(|settings| AccessLogSettings {
                destination_arn: non_empty(settings.destination_arn()),
                format: non_empty(settings.format()),
            }),
        tags: sorted(stage.tags()),
    }
}

pub(super) fn integration(integration: &aws_sdk_apigatewayv2::types::Integration) -> Integration {
    Integration {
        id: integration.integration_id().unwrap_or_default().to_string(),
        integration_type: integration
            .integration_type()
            .map(|t| t.as_str().to_string()),
        connection_type: integration
            .connection_type()
            .map(|t| t.as_str().to_string()),
        uri: non_empty(integration.integration_uri()),
        tls: integration.tls_config().map(|tls| TlsConfig {
            server_name_to_verify: non_empty(tls.server_name_to_verify()),
        }),
    }
}

pub(super) fn domain_name(domain: &impl SdkDomainName) -> DomainName {
    DomainName {
        name: domain.domain_name().unwrap_or_default().to_string(),
        security_policy: domain.security_policy().map(|p| p.as_str().to_string()),
        endpoint_types: domain
            .endpoint_configuration()
            .map(|c| c.types().iter().map(|t| t.as_str().to_string()).collect())
            .unwrap_or_default(),
        tags: sorted(domain.tags()),
    }
}

pub(super) fn route(route: &aws_sdk_apigatewayv2::types::Route) -> Route {
    Route {
        id: route.route_id().unwrap_or_default().to_string(),
        route_key: route.route_key().unwrap_or_default().to_string(),
        authorization_type: route.authorization_type().map(|t| t.as_str().to_string()),
    }
}

pub(super) fn v2_stage(stage: &aws_sdk_apigatewayv2::types::Stage) -> V2Stage {
    V2Stage {
        name: stage.stage_name().unwrap_or_default().to_string(),
        default_logging_level: stage
            .default_route_settings()
            .and_then(|s| s.logging_level())
            .map(|l| l.as_str().to_string()),
        route_logging_levels: stage
            .route_settings()
            .into_iter()
            .flatten()
            .map(|(key, settings)| {
                (
                    key.clone(),
                    settings.logging_level().map(|l| l.as_str().to_string()),
                )
            })
            .collect(),
        access_log: stage
            .access_log_settings()
            .map(|settings| AccessLogSettings {
                destination_arn: non_empty(settings.destination_arn()),
                format: non_empty(settings.format()),
            }),
        auto_deploy: stage.auto_deploy().unwrap_or(false),
        tags: sorted(stage.tags()),
    }
}

fn non_empty(value: Option<&str>) -> Option<String> {
    value.filter(|v| !v.is_empty()).map(str::to_string)
}

pub(super) fn sorted(tags: Option<&HashMap<String, String>>) -> BTreeMap<String, String> {
    tags.into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// How AWS's answers map into the model: absent and empty fields read as what the
/// controls must see (docs/controls/README.md).
#[cfg(test)]
mod tests {
    use super::*;
    use crate::controls::{self, ControlParameters};
    use crate::inventory::{RegionInventory, RestApi, V2Api};
    use crate::model::{ControlId, Finding, Status, V2Protocol};
    use aws_sdk_apigateway::types as rest;
    use aws_sdk_apigatewayv2::types as v2;

    /// One control's findings, with default parameters, on one region holding these APIs.
    fn evaluate_one_region(
        rest_apis: Vec<RestApi>,
        v2_apis: Vec<V2Api>,
        control: ControlId,
    ) -> Vec<Finding> {
        let region = RegionInventory {
            region: "us-east-1".into(),
            rest_apis,
            v2_apis,
            domain_names: Vec::new(),
        };
        let mut findings = Vec::new();
        if let Some(control) = controls::control(control) {
            controls::evaluate(
                control,
                &region,
                &ControlParameters::default(),
                &mut findings,
            );
        }
        findings
    }

    #[test]
    fn a_bare_rest_stage_reads_as_nothing_configured() {
        let stage = rest_stage(&rest::Stage::builder().stage_name("prod").build());
        assert_eq!(stage.name, "prod");
        assert!(stage.method_settings.is_empty());
        assert!(!stage.tracing_enabled, "absent tracingEnabled is false");
        assert!(!stage.cache_cluster_enabled);
        assert_eq!(stage.client_certificate_id, None);
        assert_eq!(stage.web_acl_arn, None);
    }

    #[test]
    fn empty_certificate_and_web_acl_strings_read_as_absent() {
        let stage = rest_stage(
            &rest::Stage::builder()
                .stage_name("prod")
                .client_certificate_id("")
                .web_acl_arn("")
                .build(),
        );
        assert_eq!(stage.client_certificate_id, None);
        assert_eq!(stage.web_acl_arn, None);
    }

    #[test]
    fn method_settings_keep_their_keys_levels_and_cache_flags() {
        let stage = rest_stage(
            &rest::Stage::builder()
                .stage_name("prod")
                .method_settings(
                    "*/*",
                    rest::MethodSetting::builder()
                        .logging_level("ERROR")
                        .build(),
                )
                .method_settings(
                    "~1orders~1{id}/GET",
                    rest::MethodSetting::builder()
                        .caching_enabled(true)
                        .cache_data_encrypted(false)
                        .build(),
                )
                .build(),
        );
        assert_eq!(
            stage.method_settings["*/*"].logging_level.as_deref(),
            Some("ERROR")
        );
        let method = &stage.method_settings["~1orders~1{id}/GET"];
        assert_eq!(method.logging_level, None);
        assert!(method.caching_enabled && !method.cache_data_encrypted);
    }

    #[test]
    fn data_trace_does_not_make_a_stage_with_logging_off_pass() {
        // dataTraceEnabled logs full payloads, but it is not execution logging: a stage
        // with it on and loggingLevel OFF still fails APIGateway.1.
        let stage = rest_stage(
            &rest::Stage::builder()
                .stage_name("prod")
                .method_settings(
                    "*/*",
                    rest::MethodSetting::builder()
                        .logging_level("OFF")
                        .data_trace_enabled(true)
                        .build(),
                )
                .build(),
        );
        let findings = evaluate_one_region(
            vec![RestApi {
                id: "a1".into(),
                name: "orders".into(),
                tags: Default::default(),
                http_integration: None,
                stages: vec![stage],
            }],
            Vec::new(),
            crate::controls::execution_logging::ID,
        );
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].status, Status::Failed, "{:?}", findings[0]);
    }

    #[test]
    fn a_bare_v2_stage_reads_as_no_logging_and_no_access_log() {
        let stage = v2_stage(&v2::Stage::builder().stage_name("$default").build());
        assert_eq!(stage.default_logging_level, None);
        assert!(stage.route_logging_levels.is_empty());
        assert_eq!(stage.access_log, None);
        assert!(!stage.auto_deploy, "absent autoDeploy is false");
    }

    #[test]
    fn v2_route_settings_without_a_level_and_empty_access_log_fields_are_kept_as_absent() {
        let stage = v2_stage(
            &v2::Stage::builder()
                .stage_name("live")
                .default_route_settings(
                    v2::RouteSettings::builder()
                        .logging_level(v2::LoggingLevel::Info)
                        .build(),
                )
                .route_settings("$connect", v2::RouteSettings::builder().build())
                .route_settings(
                    "$default",
                    v2::RouteSettings::builder()
                        .logging_level(v2::LoggingLevel::Off)
                        .build(),
                )
                .access_log_settings(v2::AccessLogSettings::builder().destination_arn("").build())
                .auto_deploy(true)
                .build(),
        );
        assert_eq!(stage.default_logging_level.as_deref(), Some("INFO"));
        assert_eq!(stage.route_logging_levels["$connect"], None);
        assert_eq!(
            stage.route_logging_levels["$default"].as_deref(),
            Some("OFF")
        );
        // Settings present but empty: APIGateway.9 fails it as "no destination".
        assert_eq!(
            stage.access_log,
            Some(AccessLogSettings {
                destination_arn: None,
                format: None,
            })
        );
        assert!(stage.auto_deploy);
    }

    #[test]
    fn a_route_without_an_authorization_type_reads_as_none_and_fails_route_authorization() {
        let unauthorized = route(
            &v2::Route::builder()
                .route_id("r1")
                .route_key("GET /orders")
                .build(),
        );
        assert_eq!(unauthorized.authorization_type, None);
        let authorized = route(
            &v2::Route::builder()
                .route_id("r2")
                .route_key("POST /orders")
                .authorization_type(v2::AuthorizationType::Jwt)
                .build(),
        );
        assert_eq!(authorized.authorization_type.as_deref(), Some("JWT"));
        let findings = evaluate_one_region(
            Vec::new(),
            vec![V2Api {
                id: "h1".into(),
                name: "orders-http".into(),
                protocol: V2Protocol::Http,
                tags: Default::default(),
                stages: Vec::new(),
                routes: vec![unauthorized, authorized],
                integrations: Vec::new(),
            }],
            crate::controls::route_authorization::ID,
        );
        let statuses: Vec<Status> = findings.iter().map(|f| f.status).collect();
        assert_eq!(
            statuses,
            vec![Status::Failed, Status::Passed],
            "{findings:?}"
        );
    }
}

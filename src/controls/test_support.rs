//! Builders shared by the controls' unit tests: an inventory written in a few lines, so
//! each test shows only the fields its case is about.

use std::collections::BTreeMap;

use crate::controls::{ControlMeta, ControlParameters, Semantics};
use crate::inventory::{
    DomainName, Integration, MethodSetting, RegionInventory, RestApi, RestStage, Route, TlsConfig,
    V2Api, V2Stage,
};
use crate::model::{ControlId, Finding, Severity, V2Protocol};

/// A region holding the given REST and v2 APIs.
pub(crate) fn region_with(rest_apis: Vec<RestApi>, v2_apis: Vec<V2Api>) -> RegionInventory {
    RegionInventory {
        region: "us-east-1".to_string(),
        rest_apis,
        v2_apis,
        domain_names: Vec::new(),
    }
}

/// A region with one REST API `a1b2c3` holding one stage.
pub(crate) fn rest_region(stage: RestStage) -> RegionInventory {
    region_with(vec![rest_api("a1b2c3", vec![stage])], Vec::new())
}

/// A REST API with the given stages.
pub(crate) fn rest_api(id: &str, stages: Vec<RestStage>) -> RestApi {
    RestApi {
        id: id.to_string(),
        name: format!("{id}-name"),
        stages,
        ..RestApi::default()
    }
}

/// A REST stage named `prod` with the given method settings and everything else off.
pub(crate) fn rest_stage(settings: &[(&str, MethodSetting)]) -> RestStage {
    RestStage {
        name: "prod".to_string(),
        method_settings: settings
            .iter()
            .map(|(key, setting)| ((*key).to_string(), setting.clone()))
            .collect(),
        ..RestStage::default()
    }
}

/// A method setting that logs at `level` and does not cache.
pub(crate) fn logging(level: &str) -> MethodSetting {
    MethodSetting {
        logging_level: Some(level.to_string()),
        ..MethodSetting::default()
    }
}

/// A method setting that caches, encrypted or not.
pub(crate) fn caching(encrypted: bool) -> MethodSetting {
    MethodSetting {
        logging_level: Some("INFO".to_string()),
        caching_enabled: true,
        cache_data_encrypted: encrypted,
    }
}

/// A v2 API with the given stages and routes.
pub(crate) fn v2_api(
    id: &str,
    protocol: V2Protocol,
    stages: Vec<V2Stage>,
    routes: Vec<Route>,
) -> V2Api {
    V2Api {
        id: id.to_string(),
        name: format!("{id}-name"),
        protocol,
        tags: BTreeMap::new(),
        stages,
        routes,
        integrations: Vec::new(),
    }
}

/// A v2 stage named `prod` with nothing configured.
pub(crate) fn v2_stage() -> V2Stage {
    V2Stage {
        name: "prod".to_string(),
        ..V2Stage::default()
    }
}

/// A v2 route with the given key and authorization type.
pub(crate) fn route(id: &str, key: &str, authorization_type: Option<&str>) -> Route {
    Route {
        id: id.to_string(),
        route_key: key.to_string(),
        authorization_type: authorization_type.map(str::to_string),
    }
}

/// A VPC link integration to a load balancer listener; `server_name` is its TLS
/// `ServerNameToVerify` (`None`: no TlsConfig at all).
pub(crate) fn private_integration(id: &str, server_name: Option<&str>) -> Integration {
    Integration {
        id: id.to_string(),
        integration_type: Some("HTTP_PROXY".to_string()),
        connection_type: Some("VPC_LINK".to_string()),
        uri: Some(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/orders/1/2"
                .to_string(),
        ),
        tls: server_name.map(|name| TlsConfig {
            server_name_to_verify: Some(name.to_string()),
        }),
    }
}

/// A custom domain name of one endpoint type (`REGIONAL`, `EDGE`, `PRIVATE`).
pub(crate) fn domain_name(name: &str, policy: Option<&str>, endpoint_type: &str) -> DomainName {
    DomainName {
        name: name.to_string(),
        security_policy: policy.map(str::to_string),
        endpoint_types: vec![endpoint_type.to_string()],
        tags: BTreeMap::new(),
    }
}

/// Runs one control's evaluation, as the catalog hands it its parameters.
pub(crate) fn run(
    id: ControlId,
    region: &RegionInventory,
    params: &ControlParameters,
) -> Vec<Finding> {
    let control = crate::controls::control(id).expect("a control of the catalog");
    let mut findings = Vec::new();
    (control.evaluate)(region, params, &mut findings);
    findings
}

/// Runs one control's evaluation and returns its only finding.
pub(crate) fn run_one(
    id: ControlId,
    region: &RegionInventory,
    params: &ControlParameters,
) -> Finding {
    let mut findings = run(id, region, params);
    assert_eq!(
        findings.len(),
        1,
        "expected exactly one finding, got {findings:#?}"
    );
    findings.remove(0)
}

/// Default parameters with AWS parity semantics.
pub(crate) fn parity() -> ControlParameters {
    ControlParameters {
        semantics: Semantics::AwsParity,
        ..ControlParameters::default()
    }
}

/// One control's metadata as the specification states it.
pub(crate) struct SpecEntry {
    pub(crate) title: &'static str,
    pub(crate) severity: Severity,
    pub(crate) category: &'static str,
    pub(crate) resource_types: &'static [&'static str],
    pub(crate) related_requirements: &'static str,
    /// As the specification gives it: a link to the rule's page or the rule's name.
    pub(crate) config_rule: &'static str,
    /// The region names of the specification's "not supported" note.
    pub(crate) unsupported_regions: &'static [&'static str],
    /// The guide the Remediation section links to; for .5 (console steps only) and
    /// .8 (one guide per protocol: HTTP and WebSocket) the control's own page.
    pub(crate) remediation_url: &'static str,
}

pub(crate) const NIST_LOGGING: &str = "NIST.800-53.r5 AC-4(26), NIST.800-53.r5 AU-10, NIST.800-53.r5 AU-12, \
    NIST.800-53.r5 AU-2, NIST.800-53.r5 AU-3, NIST.800-53.r5 AU-6(3), NIST.800-53.r5 AU-6(4), \
    NIST.800-53.r5 CA-7, NIST.800-53.r5 SC-7(9), NIST.800-53.r5 SI-7(8)";
pub(crate) const LOGGING_GUIDE: &str = "https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html#set-up-access-logging-using-console";

/// The region codes of the names the specification uses.
fn region_code(name: &str) -> &'static str {
    match name {
        "Africa (Cape Town)" => "af-south-1",
        "Asia Pacific (Jakarta)" => "ap-southeast-3",
        "Asia Pacific (New Zealand)" => "ap-southeast-6",
        "Asia Pacific (Thailand)" => "ap-southeast-7",
        "Asia Pacific (Taipei)" => "ap-east-2",
        "Mexico (Central)" => "mx-central-1",
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

/// Asserts that a control's catalog entry is the specification's text, field by field.
pub(crate) fn assert_matches_spec(meta: &ControlMeta, spec: &SpecEntry) {
    let id = meta.id;
    assert_eq!(meta.title, spec.title, "{id} title");
    assert_eq!(meta.severity, spec.severity, "{id} severity");
    assert_eq!(meta.category, spec.category, "{id} category");
    let types: Vec<&str> = meta.resource_types.iter().map(|t| t.as_str()).collect();
    assert_eq!(types, spec.resource_types, "{id} resource types");
    let requirements: Vec<&str> = spec
        .related_requirements
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
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

//! Builders shared by the controls' unit tests: an inventory written in a few lines, so
//! each test shows only the fields its case is about.

use std::collections::BTreeMap;

use crate::controls::ControlParameters;
use crate::inventory::{MethodSetting, RegionInventory, RestApi, RestStage, Route, V2Api, V2Stage};
use crate::model::{Finding, V2Protocol};

pub(crate) type EvaluateFn = fn(&RegionInventory, &ControlParameters, &mut Vec<Finding>);

/// A region holding the given REST and v2 APIs.
pub(crate) fn region_with(rest_apis: Vec<RestApi>, v2_apis: Vec<V2Api>) -> RegionInventory {
    RegionInventory {
        region: "us-east-1".to_string(),
        rest_apis,
        v2_apis,
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

/// Runs one control's evaluation.
pub(crate) fn run(
    evaluate: EvaluateFn,
    region: &RegionInventory,
    params: &ControlParameters,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    evaluate(region, params, &mut findings);
    findings
}

/// Runs one control's evaluation and returns its only finding.
pub(crate) fn run_one(
    evaluate: EvaluateFn,
    region: &RegionInventory,
    params: &ControlParameters,
) -> Finding {
    let mut findings = run(evaluate, region, params);
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
        semantics: crate::controls::Semantics::AwsParity,
        ..ControlParameters::default()
    }
}

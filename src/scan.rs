//! One scan: read the inventory the selected controls need, evaluate it, report.
//! Shared by the `scan` command and the operator.

use aws_config::SdkConfig;

use k8s_openapi::jiff::Timestamp;

use crate::controls::{ControlId, ControlParameters};
use crate::crd::{ApiType, ComplianceProfileSpec};
use crate::evaluate::{ExemptionOutcome, apply_exemptions, evaluate, evaluate_regions};
use crate::inventory::Inventory;
use crate::inventory::aws::{ReadOptions, read_inventory};
use crate::report::ScanReport;
use crate::scope::ScopeFilter;

/// The read options the selected controls need: REST APIs only for .1 to .5, v2 APIs
/// only for .1, .8 and .9, and GetResources only for .2's `onlyWithHttpIntegrations`.
pub fn read_options_for(
    controls: &[ControlId],
    params: &ControlParameters,
    base: ReadOptions,
) -> ReadOptions {
    use ControlId::*;
    let wants = |ids: &[ControlId]| controls.iter().any(|c| ids.contains(c));
    ReadOptions {
        rest: wants(&[
            ApiGateway1,
            ApiGateway2,
            ApiGateway3,
            ApiGateway4,
            ApiGateway5,
        ]),
        v2: wants(&[ApiGateway1, ApiGateway8, ApiGateway9]),
        routes: controls.contains(&ApiGateway8),
        http_integrations: controls.contains(&ApiGateway2)
            && params.client_certificate.only_with_http_integrations,
        ..base
    }
}

/// The read options a profile needs: what its controls look at, for the API types in
/// its scope.
pub fn read_options_for_profile(spec: &ComplianceProfileSpec, base: ReadOptions) -> ReadOptions {
    let mut options = read_options_for(&spec.controls.ids(), &spec.controls.parameters, base);
    let types = spec.scope.api_types();
    options.rest &= types.contains(&ApiType::Rest);
    options.v2 &= types.contains(&ApiType::Http) || types.contains(&ApiType::Websocket);
    options.routes &= options.v2;
    options
}

/// A profile's verdicts on the in-scope part of an inventory (pure): its controls with
/// their parameters, then its exemptions as of `now`.
pub fn profile_report(
    in_scope: &Inventory,
    spec: &ComplianceProfileSpec,
    now: Timestamp,
) -> (ScanReport, ExemptionOutcome) {
    let mut report = report(in_scope, &spec.controls.ids(), &spec.controls.parameters);
    let exemptions = apply_exemptions(&mut report.findings, &spec.exemptions, now);
    (report, exemptions)
}

/// A profile's verdicts on region reads that other profiles may share (pure): each
/// region's in-scope part is borrowed when the scope takes the whole region and copied
/// otherwise (see [`ScopeFilter::region_view`]); read errors are kept unless they name
/// an API known to be out of scope. Also says whether anything in scope was read (false
/// when every region failed).
pub fn profile_report_shared<'a>(
    reads: impl IntoIterator<Item = &'a Inventory>,
    filter: &ScopeFilter,
    spec: &ComplianceProfileSpec,
    now: Timestamp,
) -> (ScanReport, ExemptionOutcome, bool) {
    let mut views = Vec::new();
    let mut errors = Vec::new();
    for read in reads {
        views.extend(read.regions.iter().filter_map(|r| filter.region_view(r)));
        errors.extend(
            read.errors
                .iter()
                .filter(|e| filter.keeps_error(e, read))
                .cloned(),
        );
    }
    let read_anything = !views.is_empty() || errors.is_empty();
    let mut findings = evaluate_regions(
        views.iter().map(|v| &**v),
        &spec.controls.ids(),
        &spec.controls.parameters,
    );
    drop(views);
    let exemptions = apply_exemptions(&mut findings, &spec.exemptions, now);
    (ScanReport { findings, errors }, exemptions, read_anything)
}

/// Evaluates an inventory into a report (pure).
pub fn report(
    inventory: &Inventory,
    controls: &[ControlId],
    params: &ControlParameters,
) -> ScanReport {
    ScanReport {
        findings: evaluate(inventory, controls, params),
        errors: inventory.errors.clone(),
    }
}

/// Reads the regions and evaluates them.
pub async fn scan(
    sdk: &SdkConfig,
    regions: &[String],
    controls: &[ControlId],
    params: &ControlParameters,
    base: ReadOptions,
) -> ScanReport {
    let options = read_options_for(controls, params, base);
    let inventory = read_inventory(sdk, regions, &options).await;
    report(&inventory, controls, params)
}

/// Whether a string looks like an AWS region code (`us-east-1`, `us-gov-west-1`,
/// `cn-north-1`, `eu-central-2`). Catches typos such as `us-east1` or `useast-1` before
/// any call; a well-formed but unknown region fails at the first call with a message
/// that says to check the region.
pub fn is_region_code(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return false;
    };
    (3..=4).contains(&parts.len())
        && first.len() == 2
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::RegionInventory;

    #[test]
    fn region_codes_are_recognised_and_typos_are_not() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "cn-northwest-1",
            "ap-southeast-3",
        ] {
            assert!(is_region_code(ok), "{ok}");
        }
        for bad in [
            "us-east1",
            "useast-1",
            "US-EAST-1",
            "us-east-",
            "us",
            "",
            "us-east-1a",
            "u-east-1",
        ] {
            assert!(!is_region_code(bad), "{bad}");
        }
    }

    #[test]
    fn only_the_api_types_the_selected_controls_need_are_read() {
        let params = ControlParameters::default();
        let v2_only = read_options_for(&[ControlId::ApiGateway8], &params, ReadOptions::default());
        assert!(!v2_only.rest && v2_only.v2 && v2_only.routes);
        let rest_only =
            read_options_for(&[ControlId::ApiGateway3], &params, ReadOptions::default());
        assert!(rest_only.rest && !rest_only.v2 && !rest_only.routes);
        let logging = read_options_for(&[ControlId::ApiGateway1], &params, ReadOptions::default());
        assert!(logging.rest && logging.v2);
        assert!(!logging.http_integrations);
        // WebSocket route logging levels are stage settings (GetStages): only
        // APIGateway.8 needs GetRoutes.
        assert!(!logging.routes);
        let access_logs =
            read_options_for(&[ControlId::ApiGateway9], &params, ReadOptions::default());
        assert!(access_logs.v2 && !access_logs.routes);
        assert!(read_options_for(&ControlId::ALL, &params, ReadOptions::default()).routes);
    }

    fn spec(yaml: &str) -> ComplianceProfileSpec {
        crate::crd::ComplianceProfile::from_manifest(yaml)
            .expect("test profile is valid")
            .spec
    }

    #[test]
    fn a_profile_reads_only_the_api_types_in_its_scope_that_its_controls_need() {
        let rest_only = spec(
            "apiVersion: apigwcompliance.io/v1alpha1\nkind: ComplianceProfile\nmetadata: {name: p}\nspec:\n  scope: {regions: [us-east-1], apiTypes: [REST]}\n",
        );
        let o = read_options_for_profile(&rest_only, ReadOptions::default());
        assert!(o.rest && !o.v2);
        let v2_controls = spec(
            "apiVersion: apigwcompliance.io/v1alpha1\nkind: ComplianceProfile\nmetadata: {name: p}\nspec:\n  scope: {regions: [us-east-1]}\n  controls: {enabled: [APIGateway.8]}\n",
        );
        let o = read_options_for_profile(&v2_controls, ReadOptions::default());
        assert!(!o.rest && o.v2);
    }

    fn shared_reads() -> Vec<Inventory> {
        use crate::inventory::{
            ReadError, RestApi, RestStage, V2Api, V2Protocol, V2Stage, rest_api_arn,
        };
        let region = |name: &str, apis: &[(&str, &str)]| Inventory {
            regions: vec![RegionInventory {
                region: name.to_string(),
                rest_apis: apis
                    .iter()
                    .map(|(id, api_name)| RestApi {
                        id: id.to_string(),
                        name: api_name.to_string(),
                        stages: ["prod", "dev"]
                            .iter()
                            .map(|s| RestStage {
                                name: s.to_string(),
                                tracing_enabled: *s == "prod",
                                ..RestStage::default()
                            })
                            .collect(),
                        ..RestApi::default()
                    })
                    .collect(),
                v2_apis: vec![V2Api {
                    id: format!("{name}-ws"),
                    name: "chat".into(),
                    protocol: V2Protocol::WebSocket,
                    tags: Default::default(),
                    stages: vec![V2Stage {
                        name: "live".into(),
                        ..V2Stage::default()
                    }],
                    routes: Vec::new(),
                }],
            }],
            errors: vec![ReadError {
                region: name.to_string(),
                resource_arn: Some(rest_api_arn(name, "gone")),
                operation: "GetStages".into(),
                message: "denied".into(),
            }],
        };
        vec![
            region("us-east-1", &[("a1", "orders"), ("a2", "billing")]),
            region("eu-west-1", &[("b1", "orders")]),
        ]
    }

    #[test]
    fn shared_reads_give_the_verdicts_of_a_private_read() {
        for scope in [
            "{regions: [us-east-1, eu-west-1]}",
            "{regions: [us-east-1], apis: {include: [orders]}}",
            "{regions: [eu-west-1, us-east-1], stages: {exclude: [dev]}, apiTypes: [REST]}",
        ] {
            let spec = spec(&format!(
                "apiVersion: apigwcompliance.io/v1alpha1\nkind: ComplianceProfile\nmetadata: {{name: p}}\nspec:\n  scope: {scope}\n  exemptions: [{{control: APIGateway.3, resourceArnGlob: 'arn:aws:apigateway:*::/restapis/a2/stages/*', reason: r}}]\n"
            ));
            let filter = ScopeFilter::new(&spec.scope).expect("scope compiles");
            let reads = shared_reads();
            let merged = Inventory {
                regions: reads.iter().flat_map(|r| r.regions.clone()).collect(),
                errors: reads.iter().flat_map(|r| r.errors.clone()).collect(),
            };
            let now = Timestamp::UNIX_EPOCH;
            let (private, private_exemptions) = profile_report(&filter.apply(&merged), &spec, now);
            let (shared, shared_exemptions, read_anything) =
                profile_report_shared(&reads, &filter, &spec, now);
            assert_eq!(shared, private, "{scope}");
            assert_eq!(
                shared_exemptions.exempted_findings,
                private_exemptions.exempted_findings
            );
            assert!(read_anything);
            assert!(!shared.findings.is_empty());
        }
    }

    #[test]
    fn the_findings_bound_is_exact_for_strict_semantics() {
        let reads = shared_reads();
        let regions: Vec<&RegionInventory> = reads.iter().flat_map(|r| &r.regions).collect();
        let params = ControlParameters::default();
        for controls in [
            ControlId::ALL.to_vec(),
            vec![ControlId::ApiGateway1],
            vec![ControlId::ApiGateway8, ControlId::ApiGateway9],
        ] {
            let bound: usize = regions
                .iter()
                .map(|r| crate::evaluate::findings_upper_bound(r, &controls))
                .sum();
            let findings = evaluate_regions(regions.iter().copied(), &controls, &params);
            assert_eq!(findings.len(), bound, "{controls:?}");
        }
    }

    #[test]
    fn a_profile_whose_regions_all_failed_read_nothing() {
        let spec = spec(
            "apiVersion: apigwcompliance.io/v1alpha1\nkind: ComplianceProfile\nmetadata: {name: p}\nspec:\n  scope: {regions: [us-east-1]}\n",
        );
        let failed = Inventory {
            regions: Vec::new(),
            errors: vec![crate::inventory::ReadError {
                region: "us-east-1".into(),
                resource_arn: None,
                operation: "GetRestApis".into(),
                message: "throttled".into(),
            }],
        };
        let filter = ScopeFilter::new(&spec.scope).expect("scope compiles");
        let (report, _, read_anything) =
            profile_report_shared([&failed], &filter, &spec, Timestamp::UNIX_EPOCH);
        assert!(!read_anything);
        assert!(report.findings.is_empty());
        assert_eq!(report.errors.len(), 1);
    }

    #[test]
    fn integrations_are_read_only_when_apigateway_2_asks_for_them() {
        let mut params = ControlParameters::default();
        params.client_certificate.only_with_http_integrations = true;
        assert!(
            read_options_for(&[ControlId::ApiGateway2], &params, ReadOptions::default())
                .http_integrations
        );
        assert!(
            !read_options_for(&[ControlId::ApiGateway3], &params, ReadOptions::default())
                .http_integrations
        );
    }
}

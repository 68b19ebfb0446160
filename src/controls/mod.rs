//! The catalog: one file per control, each holding the control's catalog entry
//! (metadata as the specification gives it), its parameters and remediation settings,
//! what it needs read, its evaluation, its remediation plan, its admission rules and
//! its tests. Every verdict traces back to a sentence of the specification or to a
//! decision recorded in docs/controls/.
//!
//! This file is the registry ([`catalog!`] lists the control files) and the generic
//! drivers around it: the parameters and remediation settings of all controls together
//! (generated from the registry, so the profile's schema follows the files), the
//! catalog of [`Control`]s, and the lookups, evaluation and validation over it. A
//! control file imports only what every control shares ([`common`], [`planning`],
//! [`admission`]), never this file: each of its functions takes its own parameters,
//! and the registry hands them over.

pub mod admission;
pub mod common;
pub mod planning;
#[cfg(test)]
pub(crate) mod test_support;

use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize};

use crate::inventory::{Needs, RegionInventory};
use crate::model::{ControlId, Finding};

use admission::Admission;
use planning::{PlanInput, ResourcePlan};

pub use common::{
    AccessLogRemediation, ControlMeta, FieldError, REQUEST_ID_VARIABLE, RemediationSwitch,
    STAGE_WIDE_KEY, Semantics, Setting, Source, check_access_log_format, join_or,
    method_setting_name, name_list, non_empty, shown,
};

/// The part of the profile's parameters (or remediation settings) a control takes: its
/// own field, or `()` when it has none.
macro_rules! own {
    ($all:ident) => {{
        let _ = $all;
        &()
    }};
    ($all:ident $field:ident) => {
        &$all.$field
    };
}

/// Lists the control files. Each line names a file (`src/controls/<file>.rs`) and,
/// when the control has them, the field its parameters (`<file>::Parameters`,
/// described by `<file>::PARAMETERS_DOC`) and its remediation settings
/// (`<file>::Remediation`, described by `<file>::REMEDIATION_DOC`) take in a profile
/// (`spec.controls.parameters.<field>`, `spec.remediation.controls.<field>`, in
/// camelCase). A file defines `META`, `ADMISSION`, and `needs`, `evaluate`, `plan` and
/// `validate` over its own parameters and settings (`&()` when it has none). Adding a
/// control is a new file and one line here.
macro_rules! catalog {
    ($(
        $module:ident {
            $(parameters: $parameters:ident,)?
            $(remediation: $remediation:ident,)?
        }
    ),* $(,)?) => {
        $( pub mod $module; )*

        /// Every control, in catalog order.
        pub static CATALOG: &[&Control] = &[ $(
            &Control {
                meta: &$module::META,
                needs: |params| $module::needs(own!(params $($parameters)?)),
                evaluate: |region, params, findings| {
                    $module::evaluate(region, own!(params $($parameters)?), params.semantics, findings)
                },
                plan: |input, params, settings, out| {
                    $module::plan(
                        input,
                        own!(params $($parameters)?),
                        own!(settings $($remediation)?),
                        out,
                    )
                },
                validate: |params, settings| {
                    $module::validate(own!(params $($parameters)?), own!(settings $($remediation)?))
                },
                admission: &$module::ADMISSION,
            }
        ),* ];

        /// The parameters of every control, as a profile sets them
        /// (`spec.controls.parameters`). All optional: the defaults are Security Hub's.
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase", default)]
        pub struct ControlParameters {
            /// `Strict` (default) follows each control's sentence; `AwsParity`
            /// reproduces Security Hub's verdicts where the two differ.
            pub semantics: Semantics,
            $( $(
                #[schemars(extend("description" = $module::PARAMETERS_DOC))]
                pub $parameters: $module::Parameters,
            )? )*
        }

        /// What remediation may change, per control (`spec.remediation.controls`).
        /// Settings that are absent (`None`) are left out when serialised, so the CRD's
        /// defaults carry no nulls.
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "camelCase", default)]
        pub struct ControlRemediations {
            $( $(
                #[serde(skip_serializing_if = "Setting::is_unset")]
                #[schemars(extend("description" = $module::REMEDIATION_DOC))]
                pub $remediation: $module::Remediation,
            )? )*
        }
    };
}

catalog! {
    execution_logging { parameters: execution_logging, remediation: execution_logging, },
    client_certificate { parameters: client_certificate, remediation: client_certificate, },
    xray_tracing { remediation: xray_tracing, },
    waf_acl { parameters: waf, remediation: waf, },
    cache_encryption { remediation: cache_encryption, },
    route_authorization { parameters: route_authorization, },
    access_logging { remediation: access_logging, },
    v2_integration_tls {},
    domain_tls_policy { remediation: domain_security_policy, },
    rest_access_logging { remediation: rest_access_logging, },
}

/// A control: its catalog entry and the functions the generic drivers call, over the
/// parameters and settings of every control (the registry hands each its own).
pub struct Control {
    pub meta: &'static ControlMeta,
    /// What it needs read (beyond the API lists), given the profile's parameters.
    pub needs: fn(&ControlParameters) -> Needs,
    /// One finding per resource of the control's types in a region.
    pub evaluate: fn(&RegionInventory, &ControlParameters, &mut Vec<Finding>),
    /// The changes that fix its failure on one resource, or why there are none.
    pub plan: fn(&PlanInput<'_>, &ControlParameters, &ControlRemediations, &mut ResourcePlan),
    /// What the API server cannot check of its parameters and remediation settings
    /// (and the Rust twins of its admission rules, for profiles read from a file).
    pub validate: fn(&ControlParameters, &ControlRemediations) -> Result<(), FieldError>,
    /// Its additions to the profile's admission schema.
    pub admission: &'static Admission,
}

impl Control {
    pub fn id(&self) -> ControlId {
        self.meta.id
    }
}

/// A control in the catalog by its id.
pub fn control(id: ControlId) -> Option<&'static Control> {
    CATALOG.iter().copied().find(|control| control.id() == id)
}

/// Every control's id, in catalog order.
pub fn all_ids() -> Vec<ControlId> {
    CATALOG.iter().map(|control| control.id()).collect()
}

/// The controls a profile checks when it selects none: every Security Hub control.
/// Checks from other sources (CIS) are selected by id.
pub fn default_ids() -> Vec<ControlId> {
    CATALOG
        .iter()
        .filter(|control| control.meta.source == Source::SecurityHub)
        .map(|control| control.id())
        .collect()
}

/// The selected controls, in catalog order, each once.
pub fn selected(ids: &[ControlId]) -> impl Iterator<Item = &'static Control> + '_ {
    CATALOG
        .iter()
        .copied()
        .filter(move |control| ids.contains(&control.id()))
}

/// What the selected controls need read together.
pub fn needs(ids: &[ControlId], params: &ControlParameters) -> Needs {
    selected(ids).fold(Needs::default(), |needs, control| {
        needs.union((control.needs)(params))
    })
}

/// How many findings the selected controls can yield on `region`: one per resource of
/// each of their resource types (fewer when a control skips a region under AwsParity).
pub fn findings_upper_bound(region: &RegionInventory, ids: &[ControlId]) -> usize {
    selected(ids)
        .flat_map(|control| control.meta.resource_types)
        .map(|resource_type| region.count(*resource_type))
        .sum()
}

/// Evaluates one control on one region's inventory, appending one finding per
/// in-scope resource.
///
/// Security Hub does not evaluate a control in the regions where it does not support
/// it, so under `AwsParity` such a region yields no findings for that control (the
/// counts then agree with its dashboard). `Strict` evaluates every control everywhere:
/// an unsupported region does not make a stage compliant.
pub fn evaluate(
    control: &Control,
    region: &RegionInventory,
    params: &ControlParameters,
    findings: &mut Vec<Finding>,
) {
    if params.semantics == Semantics::AwsParity && !control.meta.is_supported_in(&region.region) {
        return;
    }
    (control.evaluate)(region, params, findings);
}

/// Every control's checks of the profile's parameters and remediation settings, in
/// catalog order; the first problem found.
pub fn validate(
    params: &ControlParameters,
    remediation: &ControlRemediations,
) -> Result<(), FieldError> {
    CATALOG
        .iter()
        .try_for_each(|control| (control.validate)(params, remediation))
}

/// A control id that is not in the catalog.
#[derive(Debug, thiserror::Error)]
#[error("unknown control id {given:?}: expected one of {known} (see `apigw-compliance controls`)")]
pub struct UnknownControlId {
    pub given: String,
    known: String,
}

impl FromStr for ControlId {
    type Err = UnknownControlId;

    /// Accepts a catalog id in any case (`APIGateway.1`, `apigateway.1`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CATALOG
            .iter()
            .map(|control| control.id())
            .find(|id| id.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownControlId {
                given: s.to_string(),
                known: all_ids()
                    .iter()
                    .map(|id| id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

impl<'de> Deserialize<'de> for ControlId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for ControlId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ControlId".into()
    }

    /// The catalog's ids, so admission refuses any other.
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let ids: Vec<&str> = CATALOG.iter().map(|c| c.id().as_str()).collect();
        json_schema!({
            "description": "A control id of the catalog (`apigw-compliance controls`), e.g. APIGateway.1.",
            "type": "string",
            "enum": ids,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controls::test_support::*;
    use crate::inventory::V2Api;
    use crate::model::V2Protocol;

    fn everywhere_failing(region: &str) -> RegionInventory {
        let mut inventory = region_with(
            vec![rest_api(
                "r1",
                vec![rest_stage(&[("~1x/GET", caching(false))])],
            )],
            vec![
                v2_api(
                    "w1",
                    V2Protocol::WebSocket,
                    vec![v2_stage()],
                    vec![route("c1", "$connect", None)],
                ),
                V2Api {
                    integrations: vec![private_integration("i1", None)],
                    ..v2_api("h1", V2Protocol::Http, vec![v2_stage()], Vec::new())
                },
            ],
        );
        inventory.domain_names = vec![domain_name("api.example.com", Some("TLS_1_0"), "REGIONAL")];
        inventory.region = region.to_string();
        inventory
    }

    fn findings_for(
        control: &Control,
        region: &RegionInventory,
        params: &ControlParameters,
    ) -> Vec<Finding> {
        let mut findings = Vec::new();
        evaluate(control, region, params, &mut findings);
        findings
    }

    #[test]
    fn every_catalog_entry_is_complete_and_its_id_unique() {
        let mut ids = all_ids();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), CATALOG.len(), "an id is used twice");
        for control in CATALOG {
            let meta = &control.meta;
            assert!(!meta.title.is_empty(), "{}", meta.id);
            assert!(meta.category.contains(" > "), "{}", meta.id);
            assert!(!meta.resource_types.is_empty(), "{}", meta.id);
            // Security Hub controls are backed by a Config rule; the checks of other
            // standards name the requirement they implement.
            match meta.source {
                Source::SecurityHub => assert!(!meta.config_rule.is_empty(), "{}", meta.id),
                Source::Cis => assert!(!meta.related_requirements.is_empty(), "{}", meta.id),
            }
            assert!(
                meta.remediation_url
                    .starts_with("https://docs.aws.amazon.com/"),
                "{}",
                meta.id
            );
        }
    }

    #[test]
    fn ids_parse_in_any_case_and_unknown_ones_name_the_catalog() {
        for id in all_ids() {
            assert_eq!(
                id.as_str().to_lowercase().parse::<ControlId>().ok(),
                Some(id)
            );
        }
        let err = "APIGateway.7".parse::<ControlId>().expect_err("unknown");
        let message = err.to_string();
        assert!(message.contains("\"APIGateway.7\""), "{message}");
        for id in all_ids() {
            assert!(message.contains(id.as_str()), "{message}");
        }
        let json: Result<ControlId, _> = serde_json::from_str("\"Nope.1\"");
        assert!(json.is_err());
    }

    #[test]
    fn aws_parity_emits_nothing_for_a_control_in_a_region_security_hub_does_not_support() {
        let region = everywhere_failing("af-south-1");
        for control in CATALOG {
            let findings = findings_for(control, &region, &parity());
            assert_eq!(
                findings.is_empty(),
                !control.meta.is_supported_in("af-south-1"),
                "{}",
                control.id()
            );
        }
    }

    #[test]
    fn strict_evaluates_every_control_in_unsupported_regions_too() {
        let region = everywhere_failing("af-south-1");
        for control in CATALOG {
            let findings = findings_for(control, &region, &ControlParameters::default());
            assert!(!findings.is_empty(), "{}", control.id());
            assert!(
                findings
                    .iter()
                    .all(|finding| finding.region == "af-south-1"),
                "{}",
                control.id()
            );
        }
    }

    #[test]
    fn every_control_emits_findings_of_its_own_id_and_resource_types() {
        let region = everywhere_failing("us-east-1");
        for control in CATALOG {
            let findings = findings_for(control, &region, &ControlParameters::default());
            let id = control.id();
            assert!(!findings.is_empty(), "{id}");
            assert!(
                findings.iter().all(|finding| finding.control_id == id),
                "{id}"
            );
            assert!(
                findings
                    .iter()
                    .all(|finding| control.meta.resource_types.contains(&finding.resource_type)),
                "{id}"
            );
            assert!(
                findings.len() <= findings_upper_bound(&region, &[id]),
                "{id}: more findings than the bound"
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
        let json = serde_json::to_value(CATALOG[0].meta).unwrap();
        assert_eq!(json["id"], CATALOG[0].id().as_str());
        assert!(json["resourceTypes"].is_array());
        assert!(json["configRule"].is_string());
        assert!(json["unsupportedRegions"].is_array());
    }
}

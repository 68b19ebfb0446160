//! The profile's admission schema beyond what schemars derives: patterns the API server
//! checks, bounds that keep CEL rules cheap, list types that refuse duplicates, and the
//! catalog's own additions (each control declares them in its file, see
//! `controls::admission`).
//!
//! Every list that a CEL rule walks has a `maxItems` and its strings a `maxLength`: the
//! API server refuses a CRD whose rules it cannot bound in cost.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Value, json};

use crate::controls::admission::MAX_ALLOW_LIST;
use crate::controls::{CATALOG, ControlParameters};
use crate::model::ControlId;
use crate::model::arn::REGION_PATTERN;

use super::settings::{DEFAULT_INTERVAL, Exemption, Remediation};

const MAX_REGIONS: u32 = 32;
const MAX_GLOBS: u32 = 64;
const MAX_GLOB_LEN: u32 = 256;
const MAX_TAGS: u32 = 32;
pub(crate) const MAX_EXEMPTIONS: u32 = 256;

/// The interval bounds, in the CEL rule's own words; a unit test keeps them equal to
/// `MIN_INTERVAL` and `MAX_INTERVAL`.
pub(crate) const INTERVAL_FLOOR_RULE: &str =
    "duration(self) >= duration('1m') && duration(self) <= duration('24h')";

fn string_list(item: Value, max_items: u32) -> Schema {
    json_schema!({
        "type": "array",
        "items": item,
        "maxItems": max_items,
        "x-kubernetes-list-type": "set",
    })
}

pub(crate) fn regions_schema(_: &mut SchemaGenerator) -> Schema {
    let mut s = string_list(
        json!({"type": "string", "pattern": REGION_PATTERN, "maxLength": 32}),
        MAX_REGIONS,
    );
    s.insert("minItems".into(), json!(1));
    s
}

pub(crate) fn globs_schema(_: &mut SchemaGenerator) -> Schema {
    string_list(
        json!({"type": "string", "minLength": 1, "maxLength": MAX_GLOB_LEN}),
        MAX_GLOBS,
    )
}

/// At most this many organizational units per profile.
const MAX_ORGANIZATIONAL_UNITS: u32 = 100;
/// At most this many account ids in each of `accounts.include` and `accounts.exclude`.
const MAX_ACCOUNT_IDS: u32 = 1000;

pub(crate) fn organizational_units_schema(_: &mut SchemaGenerator) -> Schema {
    string_list(
        json!({"type": "string", "pattern": "^(r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$", "maxLength": 68}),
        MAX_ORGANIZATIONAL_UNITS,
    )
}

pub(crate) fn account_ids_schema(_: &mut SchemaGenerator) -> Schema {
    string_list(
        json!({"type": "string", "pattern": "^[0-9]{12}$", "maxLength": 12}),
        MAX_ACCOUNT_IDS,
    )
}

pub(crate) fn tags_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "additionalProperties": {"type": "string", "maxLength": MAX_GLOB_LEN},
        "maxProperties": MAX_TAGS,
    })
}

pub(crate) fn interval_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "default": DEFAULT_INTERVAL,
        "pattern": "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$",
        "minLength": 2,
        "maxLength": 16,
    })
}

/// `spec.controls.enabled`: a set of the catalog's ids, at least one, at most all.
pub(crate) fn enabled_schema(generator: &mut SchemaGenerator) -> Schema {
    let mut s = string_list(
        ControlId::json_schema(generator).to_value(),
        u32::try_from(CATALOG.len()).unwrap_or(u32::MAX),
    );
    s.insert("minItems".into(), json!(1));
    s.insert("nullable".into(), json!(true));
    s
}

/// The sub-schema object at `path` (property names) under `schema`, when there is one.
/// A unit test checks that every refinement found its target.
pub(crate) fn at<'a>(
    schema: &'a mut Value,
    path: &[&str],
) -> Option<&'a mut serde_json::Map<String, Value>> {
    let mut node = schema;
    for key in path {
        node = node.get_mut("properties")?.get_mut(*key)?;
    }
    node.as_object_mut()
}

/// `spec.controls.parameters`: the engine's types, plus each control's allow-lists as
/// bounded sets (with item patterns where it gives them).
pub(crate) fn parameters_schema(generator: &mut SchemaGenerator) -> Schema {
    let mut value = ControlParameters::json_schema(generator).to_value();
    for list in CATALOG.iter().flat_map(|c| c.admission.parameter_lists) {
        let Some(node) = at(&mut value, list.path) else {
            continue;
        };
        node.insert("maxItems".into(), json!(MAX_ALLOW_LIST));
        node.insert("x-kubernetes-list-type".into(), json!("set"));
        if let Some(min) = list.min_items {
            node.insert("minItems".into(), json!(min));
        }
        if let Some(Value::Object(items)) = node.get_mut("items") {
            if let Some(pattern) = list.item_pattern {
                items.insert("pattern".into(), json!(pattern));
            }
            if let Some(max) = list.item_max_length {
                items.insert("maxLength".into(), json!(max));
            }
        }
    }
    Schema::try_from(value).unwrap_or_default()
}

/// `spec.exemptions`: the engine's type, the list bounded and each entry's strings too,
/// and the resource glob an ARN glob.
pub(crate) fn exemptions_schema(generator: &mut SchemaGenerator) -> Schema {
    let mut value = Vec::<Exemption>::json_schema(generator).to_value();
    if let Value::Object(list) = &mut value {
        list.insert("maxItems".into(), json!(MAX_EXEMPTIONS));
    }
    if let Some(item) = value.get_mut("items") {
        if let Some(glob) = at(item, &["resourceArnGlob"]) {
            glob.insert("pattern".into(), json!("^arn:"));
            glob.insert("maxLength".into(), json!(512));
        }
        if let Some(reason) = at(item, &["reason"]) {
            reason.insert("maxLength".into(), json!(1024));
        }
    }
    Schema::try_from(value).unwrap_or_default()
}

/// `spec.remediation`: the engine's types, plus each control's rules on its settings
/// and length bounds on the strings the spec-level rules compare.
pub(crate) fn remediation_schema(generator: &mut SchemaGenerator) -> Schema {
    let mut value = Remediation::json_schema(generator).to_value();
    for control in CATALOG {
        for rule in control.admission.remediation_rules {
            if let Some(node) = at(&mut value, rule.path) {
                let rule = json!({
                    "rule": rule.rule,
                    "message": rule.message,
                    "reason": "FieldValueInvalid",
                });
                // A setting may carry several rules.
                match node.get_mut("x-kubernetes-validations") {
                    Some(Value::Array(rules)) => rules.push(rule),
                    _ => {
                        node.insert("x-kubernetes-validations".into(), json!([rule]));
                    }
                }
            }
        }
        for field in control.admission.remediation_fields {
            if let Some(node) = at(&mut value, field.path) {
                node.insert("maxLength".into(), json!(field.max_length));
            }
        }
    }
    Schema::try_from(value).unwrap_or_default()
}

/// The catalog's spec-level rules (a remediation setting that contradicts a parameter),
/// added to the spec's own `x-kubernetes-validations`.
pub(crate) fn add_catalog_rules(schema: &mut Schema) {
    let rules: Vec<Value> = CATALOG
        .iter()
        .flat_map(|c| c.admission.spec_rules)
        .map(|rule| {
            json!({
                "rule": rule.rule,
                "message": rule.message,
                "fieldPath": rule.field_path,
                "reason": "FieldValueInvalid",
            })
        })
        .collect();
    if rules.is_empty() {
        return;
    }
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    match object.get_mut("x-kubernetes-validations") {
        Some(Value::Array(existing)) => existing.extend(rules),
        _ => {
            object.insert("x-kubernetes-validations".into(), Value::Array(rules));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controls::CATALOG;
    use crate::model::arn::WEB_ACL_ARN_PATTERN;

    use crate::crd::ComplianceProfile;
    use kube::CustomResourceExt;

    fn crd_json() -> String {
        serde_json::to_string(&ComplianceProfile::crd()).expect("serializes")
    }

    fn contains(crd: &str, needle: &str) -> bool {
        let escaped = serde_json::to_string(needle).expect("string");
        crd.contains(&escaped[1..escaped.len() - 1]) || crd.contains(needle)
    }

    #[test]
    fn the_crd_carries_every_admission_check() {
        let crd = crd_json();
        for needle in [
            REGION_PATTERN,
            WEB_ACL_ARN_PATTERN,
            INTERVAL_FLOOR_RULE,
            "the same glob is both included and excluded",
            "the same tag is both included and excluded",
            "every exemption needs a non-empty reason",
            "spec.scope.externalId is only used with spec.scope.roleArn",
            r"\$context\.requestId",
            r#""x-kubernetes-list-map-keys":["type"]"#,
            r#""maxItems":256"#,
        ] {
            assert!(contains(&crd, needle), "CRD lacks {needle}");
        }
    }

    #[test]
    fn every_control_admission_rule_lands_in_the_crd() {
        let crd = crd_json();
        for control in CATALOG {
            let admission = &control.admission;
            for rule in admission.spec_rules {
                assert!(contains(&crd, rule.rule), "{}: {}", control.id(), rule.rule);
                assert!(contains(&crd, rule.message), "{}", control.id());
            }
            for rule in admission.remediation_rules {
                assert!(contains(&crd, rule.rule), "{}: {}", control.id(), rule.rule);
            }
            for list in admission.parameter_lists {
                if let Some(pattern) = list.item_pattern {
                    assert!(contains(&crd, pattern), "{}: {pattern}", control.id());
                }
            }
        }
    }

    #[test]
    fn every_refinement_finds_its_target() {
        // As kube generates CRD schemas: sub-schemas inline, no `$ref`.
        let mut settings = schemars::generate::SchemaSettings::openapi3();
        settings.inline_subschemas = true;
        let mut generator = settings.into_generator();
        let mut parameters = ControlParameters::json_schema(&mut generator).to_value();
        let mut remediation = Remediation::json_schema(&mut generator).to_value();
        for control in CATALOG {
            let admission = &control.admission;
            for list in admission.parameter_lists {
                assert!(
                    at(&mut parameters, list.path).is_some(),
                    "{}: no parameter at {:?}",
                    control.id(),
                    list.path
                );
            }
            for field in admission.remediation_fields {
                assert!(
                    at(&mut remediation, field.path).is_some(),
                    "{}: no remediation setting at {:?}",
                    control.id(),
                    field.path
                );
            }
            for rule in admission.remediation_rules {
                assert!(
                    at(&mut remediation, rule.path).is_some(),
                    "{}: no remediation setting at {:?}",
                    control.id(),
                    rule.path
                );
            }
        }
    }
}

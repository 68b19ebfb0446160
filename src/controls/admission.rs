//! What a control adds to the profile's admission schema: bounds and patterns on its
//! parameters and remediation settings, and CEL rules across them. Data only: the CRD
//! module applies it to the schema it generates, so a control declares its rules in
//! its own file and the API server refuses a bad profile before it is stored.

/// The most entries an allow-list parameter may hold (CEL rules walk these lists, so
/// the API server needs a bound to cost them).
pub const MAX_ALLOW_LIST: u32 = 32;

/// A control's additions to the schema. Paths are property names: under
/// `spec.controls.parameters` for `parameter_lists`, under `spec.remediation` for
/// `remediation_fields` and `remediation_rules`.
#[derive(Debug, Default)]
pub struct Admission {
    pub parameter_lists: &'static [AllowList],
    pub remediation_fields: &'static [BoundedString],
    pub remediation_rules: &'static [ObjectRule],
    /// Rules on the whole spec: a remediation setting that contradicts a parameter.
    pub spec_rules: &'static [SpecRule],
}

impl Admission {
    /// A control that adds nothing.
    pub const NONE: Admission = Admission {
        parameter_lists: &[],
        remediation_fields: &[],
        remediation_rules: &[],
        spec_rules: &[],
    };
}

/// An allow-list parameter: a set of at most [`MAX_ALLOW_LIST`] entries.
#[derive(Debug)]
pub struct AllowList {
    pub path: &'static [&'static str],
    /// Set when an empty list would make no sense (it would fail everything).
    pub min_items: Option<u32>,
    pub item_pattern: Option<&'static str>,
    pub item_max_length: Option<u32>,
}

/// A string setting with a length bound (the spec-level CEL rules compare it).
#[derive(Debug)]
pub struct BoundedString {
    pub path: &'static [&'static str],
    pub max_length: u32,
}

/// A CEL rule on an object setting (`self` is the object).
#[derive(Debug)]
pub struct ObjectRule {
    pub path: &'static [&'static str],
    pub rule: &'static str,
    pub message: &'static str,
}

/// A CEL rule on the spec (`self` is `spec`); `field_path` is where the API server
/// reports it, relative to the spec (`.remediation.controls...`).
#[derive(Debug)]
pub struct SpecRule {
    pub rule: &'static str,
    pub message: &'static str,
    pub field_path: &'static str,
}

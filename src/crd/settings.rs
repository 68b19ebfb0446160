//! The parts of a profile the rest of the crate shares without the custom resource
//! itself: remediation settings and mode, exemptions, and the bounds of the interval
//! and of the changes per scan.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::controls::ControlRemediations;
use crate::model::ControlId;

/// The shortest re-check interval a profile may ask for. Shorter would spend API
/// Gateway's shared management-call budget (10 requests/s per account and region) on
/// re-reading what rarely changes.
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);
/// The longest re-check interval: beyond a day drift goes unseen for too long.
pub const MAX_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);
/// The interval used when a profile does not set one.
pub const DEFAULT_INTERVAL: &str = "15m";

/// Changes (AWS write calls) one scan makes by default before it stops and reports the
/// rest as pending: enough to fix a team's stages in a few scans, few enough that a
/// wrong setting cannot rewrite a whole account at once.
pub const DEFAULT_MAX_CHANGES_PER_SCAN: u32 = 25;

/// The highest `maxChangesPerScan` accepted: the account's management API allows 10
/// requests per second for every caller together.
pub const MAX_CHANGES_PER_SCAN_LIMIT: u32 = 1000;

/// What the operator does about failing findings: the mode, and what remediation may
/// change per control and per scan (docs/remediation.md).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Remediation {
    /// `Observe` (default): report only. `DryRun`: report plus, in
    /// `status.remediation.plan`, the exact changes that would be made (no AWS write).
    /// `Enforce`: make the changes, each reported as an Event and in
    /// `status.remediation.recentChanges`.
    #[serde(default)]
    pub mode: RemediationMode,

    /// `maxChangesPerScan` and the per-control `controls`, beside `mode`. Used in
    /// `DryRun` and `Enforce`.
    #[serde(flatten)]
    pub settings: RemediationSettings,
}

/// How far remediation goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RemediationMode {
    #[default]
    Observe,
    DryRun,
    Enforce,
}

impl RemediationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RemediationMode::Observe => "Observe",
            RemediationMode::DryRun => "DryRun",
            RemediationMode::Enforce => "Enforce",
        }
    }
}

/// What remediation may change, per control, and how much per scan: `spec.remediation`
/// beside `mode` (see docs/remediation.md).
///
/// Defaults: the controls whose fix needs nothing but the stage itself and only turns
/// a protection on are on; those that need a target (a web ACL, a log destination) act
/// once it is named; client certificates only on explicit opt-in; route authorization
/// never automatically.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemediationSettings {
    /// At most this many changes (AWS write calls: one UpdateStage per stage, one
    /// AssociateWebACL per stage) per scan; the rest are reported as pending and made
    /// by the next scans. Default 25.
    #[serde(default = "default_max_changes_per_scan")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_changes_per_scan: u32,

    /// Per-control remediation settings.
    #[serde(default)]
    pub controls: ControlRemediations,
}

fn default_max_changes_per_scan() -> u32 {
    DEFAULT_MAX_CHANGES_PER_SCAN
}

impl Default for RemediationSettings {
    fn default() -> Self {
        Self {
            max_changes_per_scan: DEFAULT_MAX_CHANGES_PER_SCAN,
            controls: ControlRemediations::default(),
        }
    }
}

/// A decision to accept a control's verdict on some resources, for a reason and
/// possibly until a date. Embedded as is in the ComplianceProfile CRD.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Exemption {
    /// The control the exemption applies to, e.g. `APIGateway.4`.
    pub control: ControlId,
    /// The resource ARNs it covers, as a glob. `*` matches within one path segment
    /// (it does not cross `/`), `**` as a whole segment matches any number of segments,
    /// `?`, `[a-z]` and `{a,b}` work as usual. For example
    /// `arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages/*` covers every stage of
    /// one REST API, and `arn:aws:apigateway:*::/apis/**` everything of every v2 API.
    pub resource_arn_glob: String,
    /// Why the verdict is accepted, for whoever reads the report.
    pub reason: String,
    /// When the exemption stops applying, as an RFC 3339 timestamp
    /// (`2026-06-30T00:00:00Z`); absent means it never expires. From that instant on
    /// it covers nothing and is reported as expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub expires: Option<String>,
}

//! Policy reports: every finding of a profile's last scan as `openreports.io/v1alpha1`
//! `Report` objects in the profile's namespace, or as `wgpolicyk8s.io/v1alpha2`
//! `PolicyReport` objects with the same content, where Policy Reporter and
//! `kubectl get reports` show them.
//!
//! Pure: the findings and the profile's identity in, the objects' content out. The
//! operator (`controller::reports`) compares each part's content hash with the one on
//! the object in the cluster and writes only the parts that changed.
//!
//! - One result per finding: `policy` the control id, `rule` the resource type,
//!   `category` and `severity` from the catalog (lowercase), `result` (PASSED -> pass,
//!   FAILED -> fail, ERROR -> error, NOT_APPLICABLE -> skip; an exempted finding is a
//!   skip with its verdict and exemption in `properties`), `message` the readable
//!   resource name then the reason, and `properties` with the ARN, region, account and
//!   the profile's semantics.
//! - Parts: a profile's results are spread over parts by a hash of (control, resource
//!   ARN), so a changed finding changes one part, and each part's serialised object
//!   stays under a byte budget ([`PART_BUDGET_BYTES`]), far below etcd's 1.5 MiB. The
//!   number of parts stays as it was while every part fits and they are not mostly
//!   empty, so an estate that grows a little rewrites only the parts that changed.
//! - Deterministic: the same findings give byte-identical parts (results sorted by
//!   resource name, ARN and control).

mod parts;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize, Serializer};

use crate::controls::{self, Semantics};
use crate::crd::Exemption;
use crate::crd::status::ReportSummary;
use crate::model::{Finding, Status};
use crate::pipeline::exemptions::ActiveExemptions;

pub use parts::PART_BUDGET_BYTES;

/// The report's (OpenReports) and each result's `source`.
pub const SOURCE: &str = "apigw-compliance";
/// The label naming the profile a report belongs to (its name, cut to fit a label).
pub const PROFILE_LABEL: &str = "apigwcompliance.io/profile";
/// The label holding a report's part index.
pub const PART_LABEL: &str = "apigwcompliance.io/part";
/// The annotation holding a hash of a report's content (timestamps excluded): a part
/// whose hash is unchanged is not written again.
pub const CONTENT_HASH_ANNOTATION: &str = "apigwcompliance.io/content-hash";
const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// What every report name starts with: `apigw-<profile>-<part>`.
const NAME_PREFIX: &str = "apigw-";

/// Which report API the operator writes (`--report-api`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReportApi {
    /// `openreports.io/v1alpha1` `Report`: what Policy Reporter 3 reads.
    OpenReports,
    /// `wgpolicyk8s.io/v1alpha2` `PolicyReport`: the older API (Kyverno's CRDs), for
    /// older Policy Reporter installs.
    Wgpolicyk8s,
}

impl ReportApi {
    pub fn group(self) -> &'static str {
        match self {
            ReportApi::OpenReports => "openreports.io",
            ReportApi::Wgpolicyk8s => "wgpolicyk8s.io",
        }
    }

    pub fn version(self) -> &'static str {
        match self {
            ReportApi::OpenReports => "v1alpha1",
            ReportApi::Wgpolicyk8s => "v1alpha2",
        }
    }

    pub fn api_version(self) -> &'static str {
        match self {
            ReportApi::OpenReports => "openreports.io/v1alpha1",
            ReportApi::Wgpolicyk8s => "wgpolicyk8s.io/v1alpha2",
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            ReportApi::OpenReports => "Report",
            ReportApi::Wgpolicyk8s => "PolicyReport",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            ReportApi::OpenReports => "reports",
            ReportApi::Wgpolicyk8s => "policyreports",
        }
    }

    /// The CRD's name, as `kubectl get` takes the resource: `reports.openreports.io`.
    pub fn resource(self) -> String {
        format!("{}.{}", self.plural(), self.group())
    }

    /// Only the OpenReports schema has a report-level `source`; a PolicyReport names
    /// its source in each result (as both do here).
    fn report_source(self) -> Option<&'static str> {
        match self {
            ReportApi::OpenReports => Some(SOURCE),
            ReportApi::Wgpolicyk8s => None,
        }
    }
}

/// The profile the reports belong to.
#[derive(Clone, Copy, Debug)]
pub struct ProfileRef<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub uid: &'a str,
    /// `spec.controls.parameters.semantics`, recorded on every result.
    pub semantics: Semantics,
    /// `spec.exemptions`, to name the exemption that covers an exempted finding.
    pub exemptions: &'a [Exemption],
    /// The account scanned, for findings that do not carry theirs.
    pub account: Option<&'a str>,
}

/// A result's verdict in the reports' words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Error,
    Skip,
}

impl Verdict {
    /// PASSED -> pass, FAILED -> fail, ERROR -> error, NOT_APPLICABLE and exempted ->
    /// skip.
    pub fn of(finding: &Finding) -> Verdict {
        if finding.exempted {
            return Verdict::Skip;
        }
        match finding.status {
            Status::Passed => Verdict::Pass,
            Status::Failed => Verdict::Fail,
            Status::Error => Verdict::Error,
            Status::NotApplicable => Verdict::Skip,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
            Verdict::Skip => "skip",
        }
    }

    fn count(self, summary: &mut ReportSummary) {
        let count = match self {
            Verdict::Pass => &mut summary.pass,
            Verdict::Fail => &mut summary.fail,
            Verdict::Error => &mut summary.error,
            Verdict::Skip => &mut summary.skip,
        };
        *count = count.saturating_add(1);
    }
}

/// A result's time (`metav1.Timestamp`): when the result took its current form, as far
/// as the reports remember.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultTime {
    pub seconds: i64,
    pub nanos: i32,
}

impl ResultTime {
    pub fn at(time: Timestamp) -> ResultTime {
        ResultTime {
            seconds: time.as_second(),
            nanos: 0,
        }
    }
}

/// `<resource name>: <reason>`, written straight into the output (no copy per
/// finding); the reason alone when the resource has no name.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    name: &'a str,
    reason: &'a str,
}

impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() {
            f.write_str(self.reason)
        } else {
            write!(f, "{}: {}", self.name, self.reason)
        }
    }
}

impl Serialize for Message<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A result's `properties` (a string map in the schema).
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Properties<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    pub resource_name: &'a str,
    pub resource_arn: &'a str,
    pub region: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub account: &'a str,
    pub semantics: &'static str,
    /// An exempted finding's verdict (`FAILED`, ...): its `result` is `skip`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<&'static str>,
    /// The reason of the exemption that covers the finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exemption: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exemption_resource_arn_glob: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exemption_expires: Option<&'a str>,
}

/// One finding as a report result.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportResult<'a> {
    pub source: &'static str,
    pub policy: &'static str,
    pub rule: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub category: &'static str,
    pub severity: &'static str,
    pub result: Verdict,
    pub message: Message<'a>,
    /// Set only when the part is written ([`Part::stamp`]): the content hash leaves
    /// times out, so a scan that changes nothing writes nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<ResultTime>,
    pub properties: Properties<'a>,
}

/// What orders results within a part, and identifies one across scans.
fn sort_key<'a>(result: &ReportResult<'a>) -> (&'a str, &'a str, &'static str) {
    (
        result.properties.resource_name,
        result.properties.resource_arn,
        result.policy,
    )
}

impl<'a> ReportResult<'a> {
    /// `finding` as a result; `exemption` is the one that covers it, when exempted.
    pub fn of(
        finding: &'a Finding,
        profile: &ProfileRef<'a>,
        exemption: Option<&'a Exemption>,
    ) -> Self {
        let category = controls::control(finding.control_id)
            .map(|control| control.meta.category)
            .unwrap_or_default();
        let account = if finding.account_id.is_empty() {
            profile.account.unwrap_or_default()
        } else {
            finding.account_id.as_str()
        };
        ReportResult {
            source: SOURCE,
            policy: finding.control_id.as_str(),
            rule: finding.resource_type.as_str(),
            category,
            severity: severity(finding),
            result: Verdict::of(finding),
            message: Message {
                name: &finding.resource_name,
                reason: &finding.reason,
            },
            timestamp: None,
            properties: Properties {
                resource_name: &finding.resource_name,
                resource_arn: &finding.resource_arn,
                region: &finding.region,
                account,
                semantics: semantics(profile.semantics),
                verdict: finding.exempted.then(|| finding.status.as_str()),
                exemption: exemption.map(|e| e.reason.as_str()),
                exemption_resource_arn_glob: exemption.map(|e| e.resource_arn_glob.as_str()),
                exemption_expires: exemption.and_then(|e| e.expires.as_deref()),
            },
        }
    }
}

/// The reports' lowercase severity.
fn severity(finding: &Finding) -> &'static str {
    use crate::model::Severity;
    match finding.severity {
        Severity::Critical => "critical",
        Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low => "low",
    }
}

fn semantics(semantics: Semantics) -> &'static str {
    match semantics {
        Semantics::Strict => "Strict",
        Semantics::AwsParity => "AwsParity",
    }
}

/// One report object: a part of a profile's results.
#[derive(Debug)]
pub struct Part<'a> {
    pub index: usize,
    pub name: String,
    pub summary: ReportSummary,
    pub results: Vec<ReportResult<'a>>,
    /// A hash of the object's content without the result times.
    pub content_hash: String,
}

/// A profile's reports, as they should be after its last scan.
#[derive(Debug)]
pub struct ReportSet<'a> {
    pub api: ReportApi,
    pub profile_name: &'a str,
    pub namespace: &'a str,
    uid: &'a str,
    pub parts: Vec<Part<'a>>,
}

/// The whole object of a part, as it is applied.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportObject<'p> {
    api_version: &'static str,
    kind: &'static str,
    metadata: ObjectMeta,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'static str>,
    scope: ObjectReference,
    summary: ReportSummary,
    results: &'p [ReportResult<'p>],
}

/// Builds a profile's reports from its findings. `previous_parts` is how many parts
/// are in the cluster now (0 if none): that count is kept while it still fits, so
/// unchanged findings stay in their part. `budget` is the largest serialised object,
/// in bytes ([`PART_BUDGET_BYTES`] in the operator).
pub fn build<'a>(
    api: ReportApi,
    profile: &ProfileRef<'a>,
    findings: &'a [Finding],
    now: Timestamp,
    previous_parts: usize,
    budget: usize,
) -> ReportSet<'a> {
    let exemptions = findings
        .iter()
        .any(|f| f.exempted)
        .then(|| ActiveExemptions::new(profile.exemptions, now));
    let results: Vec<ReportResult<'a>> = findings
        .iter()
        .map(|finding| {
            let exemption = exemptions
                .as_ref()
                .filter(|_| finding.exempted)
                .and_then(|active| active.covering(finding));
            ReportResult::of(finding, profile, exemption)
        })
        .collect();
    let mut set = ReportSet {
        api,
        profile_name: profile.name,
        namespace: profile.namespace,
        uid: profile.uid,
        parts: Vec::new(),
    };
    let sizes: Vec<usize> = results.iter().map(parts::stamped_size).collect();
    let envelope = parts::envelope_size(&set, results.len());
    let keys: Vec<u64> = findings
        .iter()
        .map(|f| parts::key_hash(f.control_id.as_str(), &f.resource_arn))
        .collect();
    let count = parts::part_count(&keys, &sizes, envelope, budget, previous_parts);
    let mut buckets: Vec<Vec<ReportResult<'a>>> = (0..count).map(|_| Vec::new()).collect();
    for (result, key) in results.into_iter().zip(keys) {
        buckets[parts::bucket(key, count)].push(result);
    }
    set.parts = buckets
        .into_iter()
        .enumerate()
        .map(|(index, mut results)| {
            results.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
            let mut summary = ReportSummary::default();
            for result in &results {
                result.result.count(&mut summary);
            }
            Part {
                index,
                name: part_name(profile.name, index),
                summary,
                results,
                content_hash: String::new(),
            }
        })
        .collect();
    let hashes: Vec<String> = set
        .parts
        .iter()
        .map(|part| parts::content_hash(&set.object(part, false)))
        .collect();
    for (part, hash) in set.parts.iter_mut().zip(hashes) {
        part.content_hash = hash;
    }
    set
}

impl ReportSet<'_> {
    /// The object of `part`; with `annotated`, it carries its content hash.
    pub fn object<'p>(&self, part: &'p Part<'p>, annotated: bool) -> ReportObject<'p> {
        let labels = BTreeMap::from([
            (MANAGED_BY_LABEL.to_string(), SOURCE.to_string()),
            (PROFILE_LABEL.to_string(), profile_label(self.profile_name)),
            (PART_LABEL.to_string(), part.index.to_string()),
        ]);
        let annotations = annotated.then(|| {
            BTreeMap::from([(
                CONTENT_HASH_ANNOTATION.to_string(),
                part.content_hash.clone(),
            )])
        });
        let owner = OwnerReference {
            api_version: PROFILE_API_VERSION.to_string(),
            kind: PROFILE_KIND.to_string(),
            name: self.profile_name.to_string(),
            uid: self.uid.to_string(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        ReportObject {
            api_version: self.api.api_version(),
            kind: self.api.kind(),
            metadata: ObjectMeta {
                name: Some(part.name.clone()),
                namespace: Some(self.namespace.to_string()),
                labels: Some(labels),
                annotations,
                owner_references: Some(vec![owner]),
                ..ObjectMeta::default()
            },
            source: self.api.report_source(),
            scope: ObjectReference {
                api_version: Some(PROFILE_API_VERSION.to_string()),
                kind: Some(PROFILE_KIND.to_string()),
                name: Some(self.profile_name.to_string()),
                namespace: Some(self.namespace.to_string()),
                uid: Some(self.uid.to_string()),
                ..ObjectReference::default()
            },
            summary: part.summary,
            results: &part.results,
        }
    }

    /// The label selector of the profile's reports.
    pub fn selector(&self) -> String {
        selector(self.profile_name)
    }

    /// The result counts of every part together.
    pub fn summary(&self) -> ReportSummary {
        self.parts
            .iter()
            .fold(ReportSummary::default(), |all, part| all.plus(part.summary))
    }

    pub fn names(&self) -> Vec<String> {
        self.parts.iter().map(|part| part.name.clone()).collect()
    }
}

impl Part<'_> {
    /// Sets each result's time: the time `stored` (the part as it is in the cluster)
    /// gives the same result with the same message, `now` for a new or changed one.
    pub fn stamp(&mut self, now: Timestamp, stored: &[StoredResult]) {
        let earlier: HashMap<(&str, &str), &StoredResult> = stored
            .iter()
            .map(|s| ((s.policy.as_str(), s.resource_arn()), s))
            .collect();
        let now = ResultTime::at(now);
        for result in &mut self.results {
            let kept = earlier
                .get(&(result.policy, result.properties.resource_arn))
                .filter(|s| {
                    s.result == result.result.as_str() && s.message == result.message.to_string()
                })
                .and_then(|s| s.timestamp);
            result.timestamp = Some(kept.unwrap_or(now));
        }
    }
}

/// What of a stored result tells whether it is unchanged, and its time.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct StoredResult {
    #[serde(default)]
    pub policy: String,
    #[serde(default)]
    pub result: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub timestamp: Option<ResultTime>,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

impl StoredResult {
    fn resource_arn(&self) -> &str {
        self.properties
            .get("resourceArn")
            .map(String::as_str)
            .unwrap_or_default()
    }
}

/// The results of a report as stored (the rest of it is not needed).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct StoredReport {
    #[serde(default)]
    pub results: Vec<StoredResult>,
}

const PROFILE_API_VERSION: &str = "apigwcompliance.io/v1alpha1";
const PROFILE_KIND: &str = "ComplianceProfile";

/// The label selector of a profile's reports.
pub fn selector(profile: &str) -> String {
    format!("{PROFILE_LABEL}={}", profile_label(profile))
}

/// A profile's name as a label value: label values hold at most 63 characters, so a
/// longer name is cut and ends with a hash of the whole name (still unique).
fn profile_label(profile: &str) -> String {
    const LIMIT: usize = 63;
    if profile.len() <= LIMIT {
        return profile.to_string();
    }
    shortened(profile, LIMIT)
}

/// `apigw-<profile>-<index>`; names hold at most 253 characters, so a very long profile
/// name is cut and ends with a hash of the whole name. The index is the only part after
/// the last `-` and has digits only, so two profiles' names never meet.
pub fn part_name(profile: &str, index: usize) -> String {
    const LIMIT: usize = 253;
    let suffix = format!("-{index}");
    let room = LIMIT - NAME_PREFIX.len() - suffix.len();
    let profile = if profile.len() <= room {
        profile.to_string()
    } else {
        shortened(profile, room)
    };
    format!("{NAME_PREFIX}{profile}{suffix}")
}

/// `text` cut to `limit` bytes, ending with `-` and 16 hex digits of its hash; names
/// and label values are ASCII, and the cut never ends on `-` or `.`.
fn shortened(text: &str, limit: usize) -> String {
    let hash = format!("{:016x}", parts::fnv1a(text.as_bytes()));
    let keep = limit - hash.len() - 1;
    let head = text[..keep.min(text.len())].trim_end_matches(['-', '.']);
    format!("{head}-{hash}")
}

/// What writing a profile's reports came to, for its status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReportOutcome {
    /// Every part is in the cluster as built (written now or already so).
    Written {
        api: ReportApi,
        names: Vec<String>,
        selector: String,
        summary: ReportSummary,
    },
    /// The API server does not serve the chosen report resource: its CRD is missing.
    CrdMissing { api: ReportApi },
    /// A write failed; `message` says what to do.
    Failed { api: ReportApi, message: String },
}

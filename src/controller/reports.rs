//! The policy reports at the edge: after each scan that read anything, the profile's
//! reports (built by `report::policy_report`, pure) are brought in line with its
//! findings in the profile's namespace.
//!
//! Only what changed is written: the parts in the cluster are listed (metadata only),
//! a part whose content hash annotation equals the new one is left alone, a changed or
//! new part is applied (server-side apply, strict field validation: the report CRD's
//! schema checks every field), and parts beyond the new count are deleted. A second
//! scan with no change makes one list request and writes nothing.
//!
//! A missing CRD (the API server answers 404 for the resource) is said once, by a log
//! line and `apigw_compliance_report_crd_missing`, and on each profile by its `Reports`
//! condition; the operator goes on without reports and never installs a CRD itself.
//! Only the leader reconciles, so only the leader writes reports.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};

use crate::crd::ComplianceProfile;
use crate::metrics::Metrics;
use crate::model::Finding;
use crate::report::policy_report::{
    self, CONTENT_HASH_ANNOTATION, PART_BUDGET_BYTES, ProfileRef, ReportApi, ReportOutcome,
    StoredReport, StoredResult,
};

use super::args::MANAGER;

/// Why a profile's reports were not all written.
#[derive(Debug, thiserror::Error)]
enum WriteError {
    /// The API server does not serve the resource: its CRD is not installed.
    #[error("the CRD {resource} is not installed")]
    NotInstalled { resource: String },
    #[error(
        "cannot {verb} {resource} in namespace {namespace}: {source}; check that the operator may get, list, patch and delete {resource} (the chart's RBAC grants exactly that)"
    )]
    Api {
        verb: &'static str,
        resource: String,
        namespace: String,
        source: kube::Error,
    },
}

/// Writes the profiles' policy reports with the API chosen by `--report-api`.
pub(super) struct Reports {
    client: Client,
    api: Option<ReportApi>,
    metrics: Arc<Metrics>,
    /// Whether the API server served the report resource at the last attempt (none
    /// yet): the log line and the metric change only when this flips.
    installed: Mutex<Option<bool>>,
}

impl Reports {
    pub(super) fn new(client: Client, api: Option<ReportApi>, metrics: Arc<Metrics>) -> Self {
        match api {
            Some(api) => tracing::info!(
                api_version = api.api_version(),
                kind = api.kind(),
                "every profile's findings are kept in policy reports in its namespace"
            ),
            None => tracing::info!("policy reports are off (--report-api none)"),
        }
        Reports {
            client,
            api,
            metrics,
            installed: Mutex::new(None),
        }
    }

    /// Brings `profile`'s reports in line with `findings` (its last scan's, scanned
    /// at `now` with `account`). `None` when reports are off.
    pub(super) async fn write(
        &self,
        profile: &ComplianceProfile,
        account: Option<&str>,
        findings: &[Finding],
        now: &Time,
    ) -> Option<ReportOutcome> {
        let api = self.api?;
        let outcome = match self.write_parts(api, profile, account, findings, now).await {
            Ok(outcome) => {
                self.served(api, true);
                outcome
            }
            Err(WriteError::NotInstalled { .. }) => {
                self.served(api, false);
                ReportOutcome::CrdMissing { api }
            }
            Err(e) => {
                tracing::warn!(error = %e, "policy reports not written; retried at the next scan");
                self.metrics.report_parts(api.group(), "failed", 1);
                ReportOutcome::Failed {
                    api,
                    message: e.to_string(),
                }
            }
        };
        Some(outcome)
    }

    async fn write_parts(
        &self,
        api: ReportApi,
        profile: &ComplianceProfile,
        account: Option<&str>,
        findings: &[Finding],
        now: &Time,
    ) -> Result<ReportOutcome, WriteError> {
        let namespace = profile.namespace().unwrap_or_default();
        let name = profile.name_any();
        let resource = ApiResource {
            group: api.group().to_string(),
            version: api.version().to_string(),
            api_version: api.api_version().to_string(),
            kind: api.kind().to_string(),
            plural: api.plural().to_string(),
        };
        let reports: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &namespace, &resource);
        let failed = |verb: &'static str| {
            let namespace = namespace.clone();
            move |source: kube::Error| classify(api, verb, &namespace, source)
        };

        // What is there: each part's name and content hash.
        let listed = reports
            .list_metadata(&ListParams::default().labels(&policy_report::selector(&name)))
            .await
            .map_err(failed("list"))?;
        let existing: BTreeMap<String, Option<String>> = listed
            .items
            .into_iter()
            .map(|report| {
                let hash = report.annotations().get(CONTENT_HASH_ANNOTATION).cloned();
                (report.name_any(), hash)
            })
            .collect();

        let profile_ref = ProfileRef {
            name: &name,
            namespace: &namespace,
            uid: profile.metadata.uid.as_deref().unwrap_or_default(),
            semantics: profile.spec.controls.parameters.semantics,
            exemptions: &profile.spec.exemptions,
            account,
        };
        // Serialising every result to measure it is CPU work proportional to the
        // estate: off the async workers where the runtime allows.
        let mut set = cpu_bound(|| {
            policy_report::build(
                api,
                &profile_ref,
                findings,
                now.0,
                existing.len(),
                PART_BUDGET_BYTES,
            )
        });
        let outcome = ReportOutcome::Written {
            api,
            names: set.names(),
            selector: set.selector(),
            summary: set.summary(),
        };

        let params = PatchParams::apply(MANAGER).force().validation_strict();
        let mut unchanged = 0;
        let parts = std::mem::take(&mut set.parts);
        let wanted: Vec<String> = parts.iter().map(|part| part.name.clone()).collect();
        for mut part in parts {
            let stored_hash = existing.get(&part.name);
            if stored_hash.is_some_and(|hash| hash.as_deref() == Some(part.content_hash.as_str())) {
                unchanged += 1;
                continue;
            }
            // A changed part keeps the times of its unchanged results.
            let stored = match stored_hash {
                Some(_) => stored_results(&reports, &part.name)
                    .await
                    .map_err(failed("get"))?,
                None => Vec::new(),
            };
            part.stamp(now.0, &stored);
            reports
                .patch(&part.name, &params, &Patch::Apply(&set.object(&part, true)))
                .await
                .map_err(failed("patch"))?;
            self.metrics.report_parts(api.group(), "applied", 1);
        }
        self.metrics
            .report_parts(api.group(), "unchanged", unchanged);

        for stale in existing.keys().filter(|name| !wanted.contains(name)) {
            match reports.delete(stale, &DeleteParams::default()).await {
                Ok(_) => self.metrics.report_parts(api.group(), "deleted", 1),
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => return Err(failed("delete")(e)),
            }
        }
        Ok(outcome)
    }

    /// Notes whether the report resource is served; says so when that changes.
    fn served(&self, api: ReportApi, installed: bool) {
        let before = self
            .installed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .replace(installed);
        self.metrics.report_crd_installed(api.group(), installed);
        match (before, installed) {
            (Some(false), true) => tracing::info!(
                crd = %api.resource(),
                "the report CRD is installed now: policy reports are written again"
            ),
            (Some(false), false) | (_, true) => {}
            (_, false) => tracing::warn!(
                crd = %api.resource(),
                "the report CRD is not installed: no policy report is written until it is (install it, or Policy Reporter which brings it, or run with --report-api none); each profile says so in its Reports condition, and scans go on"
            ),
        }
    }
}

/// The results of the stored part `name` (none if it is gone or unreadable as a
/// report: its results then all take the new time).
async fn stored_results(
    reports: &Api<DynamicObject>,
    name: &str,
) -> Result<Vec<StoredResult>, kube::Error> {
    match reports.get_opt(name).await? {
        Some(object) => Ok(serde_json::from_value::<StoredReport>(object.data)
            .map(|report| report.results)
            .unwrap_or_default()),
        None => Ok(Vec::new()),
    }
}

/// A 404 means the resource is not served: the CRD is missing.
fn classify(
    api: ReportApi,
    verb: &'static str,
    namespace: &str,
    source: kube::Error,
) -> WriteError {
    match &source {
        kube::Error::Api(status) if status.code == 404 => WriteError::NotInstalled {
            resource: api.resource(),
        },
        _ => WriteError::Api {
            verb,
            resource: api.resource(),
            namespace: namespace.to_string(),
            source,
        },
    }
}

/// Runs CPU-bound `work` in place, telling a multi-threaded runtime to move its other
/// tasks off this thread meanwhile.
fn cpu_bound<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

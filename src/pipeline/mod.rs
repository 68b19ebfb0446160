//! The one road from a profile and its reads to findings, a remediation plan and what
//! applying it did. Both shells take it: `scan` (a profile file, or its flags turned
//! into one, read directly) and the operator (a cluster's profiles, read through the
//! shared inventory cache). What differs between them is only where the profile comes
//! from and where the results go.
//!
//! ```text
//! Scan::new(spec)        check the spec, compile its scope
//! Scan::needs()          what to read (the selected controls' needs, within the scope)
//!   ... the shell reads each region (inventory::reader, or inventory::cache) ...
//! Scan::evaluate(reads)  scope views -> controls -> findings -> exemptions   (pure)
//! Scan::plan(reads, ..)  failing findings -> exact AWS calls; those on resources
//!                        owned elsewhere held back (ownership)               (pure)
//! claims::hold_claimed   the operator: settings an older Enforce profile sets
//!                        otherwise held back                                 (pure)
//! remediate(plan, ..)    preconditions, then the calls (DryRun: shows them)  (AWS)
//! ```

pub mod accounts;
pub mod apply;
pub mod claims;
pub mod evaluate;
pub mod exemptions;
pub mod organization;
pub mod ownership;
pub mod plan;
pub mod scope;

use aws_config::SdkConfig;
use k8s_openapi::jiff::Timestamp;

use crate::controls;
use crate::crd::{ApiType, ComplianceProfileSpec, SpecError};
use crate::inventory::{Inventory, Needs, ReadError};
use crate::model::outcome::{ApplyOutcome, Mode};
use crate::model::plan::RemediationPlan;
use crate::model::{ControlId, Finding};

use apply::ApplyOptions;
use exemptions::{ExemptionOutcome, apply_exemptions};
use ownership::OwnershipTags;
use scope::ScopeFilter;

/// A profile ready to scan: its spec checked and its scope compiled.
#[derive(Debug)]
pub struct Scan {
    spec: ComplianceProfileSpec,
    filter: ScopeFilter,
    ids: Vec<ControlId>,
}

/// A profile's verdicts on its reads.
#[derive(Debug)]
pub struct Verdicts {
    /// One per selected control and in-scope resource, sorted by region, resource ARN
    /// and control; exemptions applied.
    pub findings: Vec<Finding>,
    /// What could not be read in scope: nothing listed here is reported as PASSED.
    pub errors: Vec<ReadError>,
    pub exemptions: ExemptionOutcome,
    /// Whether anything in scope was read (false when every region failed).
    pub read_anything: bool,
}

impl Scan {
    /// Checks the spec as admission would (a profile read from a file never went
    /// through an API server) and compiles its scope.
    pub fn new(spec: ComplianceProfileSpec) -> Result<Self, SpecError> {
        spec.validate()?;
        Ok(Scan {
            filter: ScopeFilter::new(&spec.scope)?,
            ids: spec.controls.ids(),
            spec,
        })
    }

    pub fn spec(&self) -> &ComplianceProfileSpec {
        &self.spec
    }

    /// What to read for this profile.
    pub fn needs(&self) -> Needs {
        needs(&self.spec)
    }

    /// The verdicts on the reads of one account (every read made by one identity):
    /// [`Scan::evaluate_accounts`] with `account` on each read.
    pub fn evaluate<'r>(
        &self,
        reads: impl IntoIterator<Item = &'r Inventory>,
        account: Option<&'r str>,
        now: Timestamp,
    ) -> Verdicts {
        self.evaluate_accounts(reads.into_iter().map(|read| (read, account)), now)
    }

    /// The verdicts on `reads` (pure), each given with the account it was read in
    /// (`None` when it could not be told), carried on its findings and errors. Each
    /// region's in-scope part is borrowed when the scope takes the whole region and
    /// copied otherwise, so reads shared by many profiles are not copied for each;
    /// read errors are kept unless they name an API known to be out of scope; the
    /// exemptions apply as of `now`. An account that could not be read at all (its
    /// role refused) comes as a read holding only its error.
    pub fn evaluate_accounts<'r>(
        &self,
        reads: impl IntoIterator<Item = (&'r Inventory, Option<&'r str>)>,
        now: Timestamp,
    ) -> Verdicts {
        let mut views = Vec::new();
        let mut errors = Vec::new();
        for (read, account) in reads {
            views.extend(
                read.regions
                    .iter()
                    .filter_map(|r| self.filter.region_view(r))
                    .map(|view| (view, account)),
            );
            errors.extend(
                read.errors
                    .iter()
                    .filter(|e| self.filter.keeps_error(e, read))
                    .map(|e| ReadError {
                        account_id: e.account_id.clone().or(account.map(str::to_string)),
                        ..e.clone()
                    }),
            );
        }
        let read_anything = !views.is_empty() || errors.is_empty();
        let regions: Vec<_> = views
            .iter()
            .map(|(view, account)| (&**view, *account))
            .collect();
        let mut findings =
            evaluate::evaluate_per_account(&regions, &self.ids, &self.spec.controls.parameters);
        drop(regions);
        drop(views);
        let exemptions = apply_exemptions(&mut findings, &self.spec.exemptions, now);
        Verdicts {
            findings,
            errors,
            exemptions,
            read_anything,
        }
    }

    /// The changes that fix the failing, non-exempted `findings` (pure), planned on
    /// the reads they were evaluated on; those on resources that opt out or that
    /// `ownership` says infrastructure as code owns are held back.
    pub fn plan<'r>(
        &self,
        reads: impl IntoIterator<Item = &'r Inventory>,
        findings: &[Finding],
        ownership: &OwnershipTags,
    ) -> RemediationPlan {
        plan::plan(
            reads,
            findings,
            &self.spec.controls.parameters,
            &self.spec.remediation.settings,
            ownership,
        )
    }
}

/// What a profile needs read: what its controls look at, for the API types in its
/// scope.
pub fn needs(spec: &ComplianceProfileSpec) -> Needs {
    let mut needs = controls::needs(&spec.controls.ids(), &spec.controls.parameters);
    let types = spec.scope.api_types();
    needs.rest &= types.contains(&ApiType::Rest);
    needs.v2 &= types.contains(&ApiType::Http) || types.contains(&ApiType::Websocket);
    needs.consistent()
}

/// Applies (Enforce) or checks and shows (DryRun) a plan with the scan's AWS
/// configuration.
/// `write_gate` is asked before each write (the operator: still leading, not shutting
/// down).
pub async fn remediate(
    mode: Mode,
    plan: &RemediationPlan,
    sdk: &SdkConfig,
    write_gate: Option<apply::WriteGate>,
) -> ApplyOutcome {
    let options = ApplyOptions {
        dry_run: mode == Mode::DryRun,
        write_gate,
        ..ApplyOptions::default()
    };
    apply::apply(plan, sdk, &options).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ComplianceProfile;

    fn spec(yaml: &str) -> ComplianceProfileSpec {
        ComplianceProfile::from_manifest(yaml)
            .expect("test profile is valid")
            .spec
    }

    const PROFILE: &str = "apiVersion: apigwcompliance.io/v1alpha1\nkind: ComplianceProfile\nmetadata: {name: p}\nspec:\n";

    #[test]
    fn a_profile_reads_only_the_api_types_in_its_scope_that_its_controls_need() {
        let rest_only = spec(&format!(
            "{PROFILE}  scope: {{regions: [us-east-1], apiTypes: [REST]}}\n"
        ));
        let read = needs(&rest_only);
        assert!(read.rest && !read.v2 && !read.routes);

        let v2_only = spec(&format!(
            "{PROFILE}  scope: {{regions: [us-east-1], apiTypes: [HTTP]}}\n"
        ));
        let read = needs(&v2_only);
        assert!(!read.rest && read.v2 && read.routes);
    }

    #[test]
    fn routes_are_read_only_when_a_selected_control_looks_at_them() {
        let all = needs(&spec(&format!(
            "{PROFILE}  scope: {{regions: [us-east-1]}}\n"
        )));
        assert!(all.rest && all.v2 && all.routes && !all.http_integrations);
        for control in controls::CATALOG {
            let only = needs(&spec(&format!(
                "{PROFILE}  scope: {{regions: [us-east-1]}}\n  controls: {{enabled: [{}]}}\n",
                control.id()
            )));
            assert_eq!(
                only,
                (control.needs)(&controls::ControlParameters::default()).consistent(),
                "{}",
                control.id()
            );
        }
    }

    #[test]
    fn http_integrations_are_looked_up_only_when_asked_for() {
        let asked = needs(&spec(&format!(
            "{PROFILE}  scope: {{regions: [us-east-1]}}\n  controls: {{parameters: {{clientCertificate: {{onlyWithHttpIntegrations: true}}}}}}\n"
        )));
        assert!(asked.http_integrations);
        let not_in_scope = needs(&spec(&format!(
            "{PROFILE}  scope: {{regions: [us-east-1], apiTypes: [HTTP]}}\n  controls: {{parameters: {{clientCertificate: {{onlyWithHttpIntegrations: true}}}}}}\n"
        )));
        assert!(!not_in_scope.http_integrations);
    }
}

//! No two writers fighting: when two Enforce profiles would write different values to
//! the same setting of one resource (two web ACLs for a stage, two access log
//! destinations or formats, two client certificates, two domain security policies),
//! the older profile keeps the setting and the younger holds its change back, naming
//! the older one, instead of the two undoing each other every scan.
//!
//! Pure: the shell (the operator, which knows every profile) finds the older Enforce
//! profiles of the same account; this module decides. A profile's claim on a resource
//! is what its remediation would set there if the resource had none of the settings
//! remediation fills with a value of the profile's (web ACL, client certificate, access
//! log settings, security policy): the profile's scope, selected controls, parameters,
//! exemptions and remediation settings all apply, evaluated on that bare copy. So a
//! claim does not depend on who wrote first: the older profile's value is its claim
//! whether the stage has it now or not.
//!
//! Not conflicts: logging levels (remediation only raises a level, so two profiles
//! asking for ERROR and INFO end at INFO without undoing each other) and switches that
//! are only ever turned on (X-Ray tracing, cache encryption), since every profile
//! writes the same value. Two profiles writing the same value do not conflict either.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::jiff::Timestamp;

use crate::inventory::{
    DomainName, Inventory, RegionInventory, RestApi, RestStage, V2Api, V2Stage,
};
use crate::model::arn::{domain_name_arn, rest_stage_arn, v2_stage_arn};
use crate::model::plan::{ChangeItem, Edit, Hold, HoldReason, RemediationPlan};

use super::Scan;
use super::ownership::OwnershipTags;

/// Which of two profiles is older: the earlier `creationTimestamp`, then namespace
/// and name (profiles created in the same second).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seniority {
    created: Timestamp,
    namespace: String,
    name: String,
}

impl Seniority {
    /// A profile without a creation time (not stored yet) is the youngest.
    pub fn new(created: Option<Timestamp>, namespace: &str, name: &str) -> Self {
        Seniority {
            created: created.unwrap_or(Timestamp::MAX),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    /// `namespace/name`.
    pub fn profile(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// Another Enforce profile writing in the same account.
#[derive(Debug)]
pub struct Claimant {
    pub seniority: Seniority,
    pub scan: Scan,
}

/// Holds back the items of `plan` (the profile `me`'s) that set a setting an older
/// claimant sets to another value on the same resource; the oldest such claimant is
/// named. `reads` are the reads the plan was made on, `account` and `now` what its
/// verdicts were evaluated with.
pub fn hold_claimed(
    plan: &mut RemediationPlan,
    reads: &[&Inventory],
    account: Option<&str>,
    now: Timestamp,
    me: &Seniority,
    claimants: &[Claimant],
) {
    let mut older: Vec<&Claimant> = claimants.iter().filter(|c| c.seniority < *me).collect();
    if older.is_empty() {
        return;
    }
    older.sort_by(|a, b| a.seniority.cmp(&b.seniority));
    let arns: BTreeSet<&str> = plan
        .changes
        .iter()
        .chain(&plan.pending)
        .map(|c| c.resource_arn.as_str())
        .collect();
    if arns.is_empty() {
        return;
    }
    let bare = bare_copy(reads, &arns);
    // (resource ARN, setting) -> (value, setting as people name it, the claimant):
    // the oldest claimant's, since older ones come first.
    let mut claims: BTreeMap<(String, String), (String, String, &Claimant)> = BTreeMap::new();
    for claimant in older {
        let verdicts = claimant.scan.evaluate([&bare], account, now);
        let intended = claimant
            .scan
            .plan([&bare], &verdicts.findings, &OwnershipTags::new([]));
        for change in intended.changes.iter().chain(&intended.pending) {
            for item in &change.items {
                if let Some((key, value)) = setting(item) {
                    claims.entry((change.resource_arn.clone(), key)).or_insert((
                        value,
                        item.setting.clone(),
                        claimant,
                    ));
                }
            }
        }
    }
    plan.hold_items(|change, item| {
        let (key, mine) = setting(item)?;
        let (theirs, name, claimant) = claims.get(&(change.resource_arn.clone(), key))?;
        if *theirs == mine {
            return None;
        }
        let profile = claimant.seniority.profile();
        Some(Hold {
            reason: HoldReason::ConflictingProfile,
            owner: format!("profile {profile}"),
            message: format!(
                "the older Enforce profile {profile} sets {name} of this resource to {theirs}; this profile's {mine} is held back so the two do not undo each other: give both the same setting, or leave the resource to one of them (scope or exemptions)"
            ),
        })
    });
}

/// The setting an item writes (as two profiles' items on one resource are compared)
/// and its value; `None` for a logging level, which is only ever raised.
fn setting(item: &ChangeItem) -> Option<(String, String)> {
    match &item.edit {
        Edit::RestReplace { path, .. } if path.ends_with("/logging/loglevel") => None,
        Edit::RestReplace { path, value } => Some((path.clone(), value.shown().to_string())),
        Edit::DefaultRouteLoggingLevel { .. } | Edit::RouteLoggingLevel { .. } => None,
        Edit::AccessLogDestination { destination_arn } => Some((
            "accessLogSettings.destinationArn".to_string(),
            destination_arn.clone(),
        )),
        Edit::AccessLogFormat { format } => {
            Some(("accessLogSettings.format".to_string(), format.clone()))
        }
        Edit::AssociateWebAcl { web_acl_arn } => {
            Some(("webAclArn".to_string(), web_acl_arn.clone()))
        }
    }
}

/// The resources of `reads` named in `arns` (stages and domain names, the only ones
/// remediation writes to), without the settings remediation fills with a profile's
/// value, so that a profile's plan on them is its claim whatever is set now.
fn bare_copy(reads: &[&Inventory], arns: &BTreeSet<&str>) -> Inventory {
    let regions = reads
        .iter()
        .flat_map(|read| &read.regions)
        .map(|region| bare_region(region, arns))
        .collect();
    Inventory {
        regions,
        errors: Vec::new(),
    }
}

fn bare_region(region: &RegionInventory, arns: &BTreeSet<&str>) -> RegionInventory {
    let name = &region.region;
    let rest_apis = region
        .rest_apis
        .iter()
        .filter_map(|api| {
            let stages: Vec<RestStage> = api
                .stages
                .iter()
                .filter(|s| arns.contains(rest_stage_arn(name, &api.id, &s.name).as_str()))
                .map(|s| RestStage {
                    web_acl_arn: None,
                    client_certificate_id: None,
                    access_log: None,
                    ..s.clone()
                })
                .collect();
            (!stages.is_empty()).then(|| RestApi {
                id: api.id.clone(),
                name: api.name.clone(),
                tags: api.tags.clone(),
                http_integration: api.http_integration.clone(),
                stages,
            })
        })
        .collect();
    let v2_apis = region
        .v2_apis
        .iter()
        .filter_map(|api| {
            let stages: Vec<V2Stage> = api
                .stages
                .iter()
                .filter(|s| arns.contains(v2_stage_arn(name, &api.id, &s.name).as_str()))
                .map(|s| V2Stage {
                    access_log: None,
                    ..s.clone()
                })
                .collect();
            (!stages.is_empty()).then(|| V2Api {
                id: api.id.clone(),
                name: api.name.clone(),
                protocol: api.protocol,
                tags: api.tags.clone(),
                stages,
                routes: Vec::new(),
                integrations: Vec::new(),
            })
        })
        .collect();
    let domain_names = region
        .domain_names
        .iter()
        .filter(|d| arns.contains(domain_name_arn(name, &d.name).as_str()))
        .map(|d| DomainName {
            security_policy: None,
            ..d.clone()
        })
        .collect();
    RegionInventory {
        region: name.clone(),
        rest_apis,
        v2_apis,
        domain_names,
    }
}

#[cfg(test)]
mod tests;

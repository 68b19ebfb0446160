//! Retrying only what failed (pure): a read whose recoverable errors (throttled,
//! unavailable...) each name one API, stage or domain is retried by re-reading those
//! parts, not the region. What succeeded stays shared; only a failed list call of the
//! region itself needs the whole region read again.

use crate::model::arn::{
    ApiGatewayResource, domain_name_arn, parse_apigateway_arn, rest_api_arn, rest_stage_arn,
    v2_api_arn, v2_stage_arn,
};

use super::model::{Inventory, ReadError};
use super::patch::Patch;
use super::target::{Target, coalesce};

/// The targeted reads that retry every recoverable error of `inventory`, or `None` when
/// one of them is not of a single API, stage or domain (a list call of the region
/// failed), so only a read of the whole region can retry it. Terminal errors (denied,
/// not found) are left alone: reading again cannot help them.
pub fn retry_targets(inventory: &Inventory) -> Option<Vec<Target>> {
    let targets = inventory
        .errors
        .iter()
        .filter(|e| !e.kind.is_terminal())
        .map(target_of)
        .collect::<Option<Vec<Target>>>()?;
    Some(coalesce(targets))
}

/// The part an error is about, as a target that re-reads it.
fn target_of(error: &ReadError) -> Option<Target> {
    let parsed = parse_apigateway_arn(error.resource_arn.as_deref()?)?;
    Some(match parsed.resource {
        ApiGatewayResource::RestApi { api_id } => Target::RestApi { api_id },
        ApiGatewayResource::RestStage { api_id, stage } => Target::RestStage { api_id, stage },
        ApiGatewayResource::V2Api { api_id } => match error.operation.as_str() {
            "GetRoutes" => Target::V2Routes { api_id },
            "GetIntegrations" => Target::V2Integrations { api_id },
            _ => Target::V2Api { api_id },
        },
        ApiGatewayResource::V2Stage { api_id, stage } => Target::V2Stage { api_id, stage },
        ApiGatewayResource::V2Route { api_id, .. } => Target::V2Routes { api_id },
        ApiGatewayResource::V2Integration { api_id, .. } => Target::V2Integrations { api_id },
        ApiGatewayResource::DomainName { name } => Target::DomainName { name },
        ApiGatewayResource::Other => return None,
    })
}

/// Whether re-reading `target` answers `error` (the error is about that part).
fn answers(target: &Target, region: &str, error: &ReadError) -> bool {
    if error.region != region {
        return false;
    }
    let arn = error.resource_arn.as_deref();
    let op = error.operation.as_str();
    match target {
        Target::RestApi { api_id } => arn == Some(&rest_api_arn(region, api_id)),
        Target::V2Api { api_id } => arn == Some(&v2_api_arn(region, api_id)),
        Target::V2Routes { api_id } => {
            arn == Some(&v2_api_arn(region, api_id)) && op == "GetRoutes"
        }
        Target::V2Integrations { api_id } => {
            arn == Some(&v2_api_arn(region, api_id)) && op == "GetIntegrations"
        }
        Target::RestStage { api_id, stage } => arn == Some(&rest_stage_arn(region, api_id, stage)),
        Target::V2Stage { api_id, stage } => arn == Some(&v2_stage_arn(region, api_id, stage)),
        Target::DomainName { name } => arn == Some(&domain_name_arn(region, name)),
        Target::Account => false,
    }
}

impl Inventory {
    /// Puts the retry of `target` in `region` into this read: what it read replaces the
    /// part and its old errors; a retry that failed again replaces them with its own
    /// error. Returns false when the read could not be put in (the API is not held), and
    /// then the old errors stand.
    pub fn retried(
        &mut self,
        region: &str,
        target: &Target,
        read: Result<Patch, ReadError>,
    ) -> bool {
        match read {
            Ok(patch) => {
                if self.apply_patch(region, patch).is_err() {
                    return false;
                }
                self.errors.retain(|e| !answers(target, region, e));
            }
            Err(mut error) => {
                let old = self.errors.iter().position(|e| answers(target, region, e));
                if error.resource_arn.is_none() {
                    error.resource_arn = old.and_then(|at| self.errors[at].resource_arn.clone());
                }
                self.errors.retain(|e| !answers(target, region, e));
                self.errors.push(error);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{RegionInventory, RestApi, RestStage, V2Api};
    use crate::model::{ErrorKind, V2Protocol};

    const REGION: &str = "us-east-1";

    fn error(arn: Option<String>, operation: &str, kind: ErrorKind) -> ReadError {
        ReadError {
            account_id: None,
            region: REGION.into(),
            resource_arn: arn,
            operation: operation.into(),
            kind,
            message: format!("{operation} failed"),
        }
    }

    fn read_with(errors: Vec<ReadError>) -> Inventory {
        Inventory {
            regions: vec![RegionInventory {
                region: REGION.into(),
                rest_apis: vec![RestApi {
                    id: "a1".into(),
                    name: "orders".into(),
                    ..RestApi::default()
                }],
                v2_apis: vec![V2Api {
                    id: "h1".into(),
                    name: "chat".into(),
                    protocol: V2Protocol::Http,
                    tags: Default::default(),
                    stages: vec![],
                    routes: vec![],
                    integrations: vec![],
                }],
                ..RegionInventory::default()
            }],
            errors,
        }
    }

    #[test]
    fn each_recoverable_error_of_one_part_is_retried_by_reading_that_part() {
        let read = read_with(vec![
            error(
                Some(rest_api_arn(REGION, "a1")),
                "GetStages",
                ErrorKind::Throttled,
            ),
            error(
                Some(v2_api_arn(REGION, "h1")),
                "GetRoutes",
                ErrorKind::Unavailable,
            ),
            error(
                Some(v2_api_arn(REGION, "h1")),
                "GetIntegrations",
                ErrorKind::Other,
            ),
            // Terminal: not retried.
            error(
                Some(v2_api_arn(REGION, "h9")),
                "GetStages",
                ErrorKind::AccessDenied,
            ),
        ]);
        assert_eq!(
            retry_targets(&read),
            Some(vec![
                Target::RestApi {
                    api_id: "a1".into()
                },
                Target::V2Routes {
                    api_id: "h1".into()
                },
                Target::V2Integrations {
                    api_id: "h1".into()
                },
            ])
        );
    }

    #[test]
    fn a_failed_list_call_of_the_region_needs_the_whole_region() {
        let read = read_with(vec![
            error(
                Some(rest_api_arn(REGION, "a1")),
                "GetStages",
                ErrorKind::Throttled,
            ),
            error(None, "GetRestApis", ErrorKind::Unavailable),
        ]);
        assert_eq!(retry_targets(&read), None);
        // A terminal list failure is not retried at all.
        let denied = read_with(vec![error(None, "GetApis", ErrorKind::AccessDenied)]);
        assert_eq!(retry_targets(&denied), Some(vec![]));
    }

    #[test]
    fn a_successful_retry_replaces_the_part_and_clears_its_error_only() {
        let mut read = read_with(vec![
            error(
                Some(rest_api_arn(REGION, "a1")),
                "GetStages",
                ErrorKind::Throttled,
            ),
            error(
                Some(v2_api_arn(REGION, "h1")),
                "GetRoutes",
                ErrorKind::Unavailable,
            ),
            error(
                Some(v2_api_arn(REGION, "h1")),
                "GetIntegrations",
                ErrorKind::Unavailable,
            ),
        ]);
        let stages = vec![RestStage {
            name: "prod".into(),
            ..RestStage::default()
        }];
        let api = RestApi {
            id: "a1".into(),
            name: "orders".into(),
            stages: stages.clone(),
            ..RestApi::default()
        };
        let target = Target::RestApi {
            api_id: "a1".into(),
        };
        let patch = Patch::RestApi {
            api_id: "a1".into(),
            api: Some(api),
        };
        assert!(read.retried(REGION, &target, Ok(patch)));
        let routes = Target::V2Routes {
            api_id: "h1".into(),
        };
        let no_routes = Patch::V2Routes {
            api_id: "h1".into(),
            routes: vec![],
        };
        assert!(read.retried(REGION, &routes, Ok(no_routes)));
        assert_eq!(read.regions[0].rest_apis[0].stages, stages);
        let left: Vec<&str> = read.errors.iter().map(|e| e.operation.as_str()).collect();
        assert_eq!(left, ["GetIntegrations"]);
    }

    #[test]
    fn a_retry_that_fails_again_replaces_the_old_error_with_its_own() {
        let arn = rest_api_arn(REGION, "a1");
        let mut read = read_with(vec![error(
            Some(arn.clone()),
            "GetStages",
            ErrorKind::Throttled,
        )]);
        let target = Target::RestApi {
            api_id: "a1".into(),
        };
        let again = error(None, "GetRestApi", ErrorKind::AccessDenied);
        assert!(read.retried(REGION, &target, Err(again)));
        assert_eq!(read.errors.len(), 1);
        assert_eq!(read.errors[0].kind, ErrorKind::AccessDenied);
        assert_eq!(read.errors[0].resource_arn.as_deref(), Some(arn.as_str()));
    }

    #[test]
    fn a_retry_of_an_api_the_read_does_not_hold_keeps_the_old_error() {
        let arn = v2_api_arn(REGION, "h7");
        let mut read = read_with(vec![error(Some(arn), "GetRoutes", ErrorKind::Throttled)]);
        let target = Target::V2Routes {
            api_id: "h7".into(),
        };
        let patch = Patch::V2Routes {
            api_id: "h7".into(),
            routes: vec![],
        };
        assert!(!read.retried(REGION, &target, Ok(patch)));
        assert_eq!(read.errors.len(), 1);
    }
}

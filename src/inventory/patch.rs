//! A fresh read of one part of a region, put into a held inventory in place of what
//! an older read said about it (pure). This is how a change event updates the shared
//! inventory without a sweep of the region.

use crate::model::arn::{rest_api_arn, v2_api_arn};

use super::model::{
    DomainName, Integration, Inventory, ReadError, RegionInventory, RestApi, RestStage, Route,
    V2Api, V2Stage,
};

/// What a targeted read found. `None` means the resource is gone (NotFound).
#[derive(Clone, Debug, PartialEq)]
pub enum Patch {
    RestApi {
        api_id: String,
        api: Option<RestApi>,
    },
    RestStage {
        api_id: String,
        name: String,
        stage: Option<RestStage>,
    },
    V2Api {
        api_id: String,
        api: Option<V2Api>,
    },
    V2Stage {
        api_id: String,
        name: String,
        stage: Option<V2Stage>,
    },
    V2Routes {
        api_id: String,
        routes: Vec<Route>,
    },
    V2Integrations {
        api_id: String,
        integrations: Vec<Integration>,
    },
    DomainName {
        name: String,
        domain: Option<DomainName>,
    },
    /// Nothing held changes (API Gateway's account settings); the profiles still
    /// re-evaluate.
    Nothing,
}

/// Why a patch could not go in: the part it belongs to is not held, so only a read of
/// the whole API (or region) can bring it in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unpatched {
    /// The region is not in the inventory (its API lists were never read).
    RegionNotHeld,
    /// A stage, routes or integrations of an API the inventory does not hold.
    ApiNotHeld(String),
}

impl Inventory {
    /// Puts `patch` into `region`'s inventory. A re-read API also clears the read errors
    /// its earlier read left (its stages or routes could not be read then).
    pub fn apply_patch(&mut self, region: &str, patch: Patch) -> Result<(), Unpatched> {
        let Some(held) = self.regions.iter_mut().find(|r| r.region == region) else {
            return Err(Unpatched::RegionNotHeld);
        };
        let cleared = match patch {
            Patch::RestApi { api_id, api } => {
                upsert(&mut held.rest_apis, &api_id, api, |a| &a.id);
                Some(rest_api_arn(region, &api_id))
            }
            Patch::V2Api { api_id, api } => {
                upsert(&mut held.v2_apis, &api_id, api, |a| &a.id);
                Some(v2_api_arn(region, &api_id))
            }
            Patch::RestStage {
                api_id,
                name,
                stage,
            } => {
                let api = rest_api(held, &api_id)?;
                upsert(&mut api.stages, &name, stage, |s| &s.name);
                None
            }
            Patch::V2Stage {
                api_id,
                name,
                stage,
            } => {
                let api = v2_api(held, &api_id)?;
                upsert(&mut api.stages, &name, stage, |s| &s.name);
                None
            }
            Patch::V2Routes { api_id, mut routes } => {
                routes.sort_by(|a, b| a.route_key.cmp(&b.route_key).then_with(|| a.id.cmp(&b.id)));
                v2_api(held, &api_id)?.routes = routes;
                None
            }
            Patch::V2Integrations {
                api_id,
                mut integrations,
            } => {
                integrations.sort_by(|a, b| a.id.cmp(&b.id));
                v2_api(held, &api_id)?.integrations = integrations;
                None
            }
            Patch::DomainName { name, domain } => {
                upsert(&mut held.domain_names, &name, domain, |d| &d.name);
                None
            }
            Patch::Nothing => None,
        };
        if let Some(arn) = cleared {
            self.errors.retain(|e: &ReadError| {
                !(e.region == region && e.resource_arn.as_deref() == Some(arn.as_str()))
            });
        }
        Ok(())
    }
}

fn rest_api<'a>(region: &'a mut RegionInventory, id: &str) -> Result<&'a mut RestApi, Unpatched> {
    region
        .rest_apis
        .iter_mut()
        .find(|a| a.id == id)
        .ok_or_else(|| Unpatched::ApiNotHeld(id.to_string()))
}

fn v2_api<'a>(region: &'a mut RegionInventory, id: &str) -> Result<&'a mut V2Api, Unpatched> {
    region
        .v2_apis
        .iter_mut()
        .find(|a| a.id == id)
        .ok_or_else(|| Unpatched::ApiNotHeld(id.to_string()))
}

/// Replaces the item named `key` (or adds it, keeping the list sorted by its key as the
/// reader leaves it), or removes it when `fresh` is `None`.
fn upsert<T>(items: &mut Vec<T>, key: &str, fresh: Option<T>, key_of: impl Fn(&T) -> &String) {
    let found = items.binary_search_by(|item| key_of(item).as_str().cmp(key));
    match (found, fresh) {
        (Ok(at), Some(fresh)) => items[at] = fresh,
        (Ok(at), None) => {
            items.remove(at);
        }
        (Err(at), Some(fresh)) => items.insert(at, fresh),
        (Err(_), None) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ErrorKind;

    fn held() -> Inventory {
        Inventory {
            regions: vec![RegionInventory {
                region: "us-east-1".into(),
                rest_apis: vec![
                    RestApi {
                        id: "a1".into(),
                        name: "orders".into(),
                        stages: vec![stage("dev", false), stage("prod", false)],
                        ..RestApi::default()
                    },
                    RestApi {
                        id: "a3".into(),
                        name: "legacy".into(),
                        ..RestApi::default()
                    },
                ],
                ..RegionInventory::default()
            }],
            errors: vec![ReadError {
                account_id: None,
                region: "us-east-1".into(),
                resource_arn: Some(rest_api_arn("us-east-1", "a3")),
                operation: "GetStages".into(),
                kind: ErrorKind::Throttled,
                message: "throttled".into(),
            }],
        }
    }

    fn stage(name: &str, tracing: bool) -> RestStage {
        RestStage {
            name: name.into(),
            tracing_enabled: tracing,
            ..RestStage::default()
        }
    }

    fn stages(inventory: &Inventory, api: usize) -> Vec<(String, bool)> {
        inventory.regions[0].rest_apis[api]
            .stages
            .iter()
            .map(|s| (s.name.clone(), s.tracing_enabled))
            .collect()
    }

    #[test]
    fn a_stage_is_replaced_added_or_removed_in_place() {
        let mut inventory = held();
        let patch = |name: &str, stage| Patch::RestStage {
            api_id: "a1".into(),
            name: name.into(),
            stage,
        };
        inventory
            .apply_patch("us-east-1", patch("prod", Some(stage("prod", true))))
            .expect("held");
        inventory
            .apply_patch("us-east-1", patch("beta", Some(stage("beta", true))))
            .expect("held");
        inventory
            .apply_patch("us-east-1", patch("dev", None))
            .expect("held");
        assert_eq!(
            stages(&inventory, 0),
            vec![("beta".to_string(), true), ("prod".to_string(), true)]
        );
    }

    #[test]
    fn a_re_read_api_replaces_the_old_one_and_its_read_errors() {
        let mut inventory = held();
        let fresh = RestApi {
            id: "a3".into(),
            name: "legacy".into(),
            stages: vec![stage("live", true)],
            ..RestApi::default()
        };
        inventory
            .apply_patch(
                "us-east-1",
                Patch::RestApi {
                    api_id: "a3".into(),
                    api: Some(fresh),
                },
            )
            .expect("held");
        assert_eq!(stages(&inventory, 1), vec![("live".to_string(), true)]);
        assert!(inventory.errors.is_empty());
        inventory
            .apply_patch(
                "us-east-1",
                Patch::RestApi {
                    api_id: "a1".into(),
                    api: None,
                },
            )
            .expect("held");
        assert_eq!(inventory.regions[0].rest_apis.len(), 1);
    }

    #[test]
    fn parts_of_what_is_not_held_are_refused() {
        let mut inventory = held();
        assert_eq!(
            inventory.apply_patch(
                "us-east-1",
                Patch::V2Routes {
                    api_id: "v9".into(),
                    routes: Vec::new()
                }
            ),
            Err(Unpatched::ApiNotHeld("v9".into()))
        );
        assert_eq!(
            inventory.apply_patch("eu-west-1", Patch::Nothing),
            Err(Unpatched::RegionNotHeld)
        );
        assert_eq!(inventory, held());
    }
}

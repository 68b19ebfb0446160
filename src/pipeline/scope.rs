//! Scope filtering: the part of an inventory a profile's `spec.scope` selects.
//!
//! Pure, so one inventory read can serve several profiles (each filters its own view).
//! The rules, also in docs/operator.md:
//! - a region is in scope when `scope.regions` lists it;
//! - an API is in scope when its type is in `scope.apiTypes` (REST, HTTP, WEBSOCKET;
//!   all when absent) and its name passes `scope.apis` (matches an `include` glob, or
//!   `include` is empty, and no `exclude` glob);
//! - a stage is in scope when its API is, its name passes `scope.stages`, and its tags
//!   (the API's tags overlaid with the stage's own) carry every `scope.tags.include`
//!   tag and none of the `scope.tags.exclude` tags (tag values are globs);
//! - a route (APIGateway.8) is in scope when its API is, the API's tags pass
//!   `scope.tags`, and, when `scope.stages` is set, at least one of the API's stages is
//!   in scope;
//! - an integration (APIGateway.10) is in scope as its API's routes are;
//! - a custom domain name (APIGateway.11) serves any API, so only its region and its own
//!   tags (against `scope.tags`) decide; `scope.apis`, `scope.apiTypes` and
//!   `scope.stages` do not apply to it;
//! - a read error is kept unless it names an API that is known to be out of scope, so
//!   nothing unread in scope is ever reported as passing.

use std::borrow::Cow;
use std::collections::BTreeMap;

use globset::GlobMatcher;

use crate::crd::validate::compile_glob;
use crate::crd::{ApiType, NameFilter, Scope, SpecError, TagFilter};
use crate::inventory::{Inventory, ReadError, RegionInventory, RestApi, V2Api};
use crate::model::V2Protocol;
use crate::model::arn::{rest_api_arn, v2_api_arn};

/// A compiled `spec.scope`.
#[derive(Debug)]
pub struct ScopeFilter {
    regions: Vec<String>,
    api_types: Vec<ApiType>,
    apis: Names,
    stages: Names,
    tags: Tags,
}

#[derive(Debug)]
struct Names {
    include: Vec<GlobMatcher>,
    exclude: Vec<GlobMatcher>,
}

impl Names {
    fn new(field: &str, filter: &NameFilter) -> Result<Self, SpecError> {
        let compile = |list: &str, globs: &[String]| {
            globs
                .iter()
                .enumerate()
                .map(|(i, g)| compile_glob(&format!("{field}.{list}[{i}]"), g))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Names {
            include: compile("include", &filter.include)?,
            exclude: compile("exclude", &filter.exclude)?,
        })
    }

    fn is_set(&self) -> bool {
        !self.include.is_empty() || !self.exclude.is_empty()
    }

    fn selects(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|g| g.is_match(name)))
            && !self.exclude.iter().any(|g| g.is_match(name))
    }
}

#[derive(Debug)]
struct Tags {
    include: Vec<(String, GlobMatcher)>,
    exclude: Vec<(String, GlobMatcher)>,
}

impl Tags {
    fn new(filter: &TagFilter) -> Result<Self, SpecError> {
        let compile = |list: &str, tags: &BTreeMap<String, String>| {
            tags.iter()
                .map(|(k, v)| {
                    compile_glob(&format!("scope.tags.{list}.{k}"), v).map(|g| (k.clone(), g))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Tags {
            include: compile("include", &filter.include)?,
            exclude: compile("exclude", &filter.exclude)?,
        })
    }

    /// `tags` carries every included tag and no excluded one.
    fn selects(&self, tags: &dyn Fn(&str) -> Option<String>) -> bool {
        let has = |(key, value): &(String, GlobMatcher)| {
            tags(key).is_some_and(|actual| value.is_match(actual))
        };
        self.include.iter().all(has) && !self.exclude.iter().any(has)
    }
}

/// A stage's tags: its own, falling back to its API's.
fn overlay<'a>(
    api: &'a BTreeMap<String, String>,
    stage: &'a BTreeMap<String, String>,
) -> impl Fn(&str) -> Option<String> + 'a {
    move |key| stage.get(key).or_else(|| api.get(key)).cloned()
}

fn plain(tags: &BTreeMap<String, String>) -> impl Fn(&str) -> Option<String> + '_ {
    move |key| tags.get(key).cloned()
}

impl ScopeFilter {
    /// Compiles the scope; fails on a glob that does not compile, naming its field.
    pub fn new(scope: &Scope) -> Result<Self, SpecError> {
        Ok(ScopeFilter {
            regions: scope.regions.clone(),
            api_types: scope.api_types(),
            apis: Names::new("scope.apis", &scope.apis)?,
            stages: Names::new("scope.stages", &scope.stages)?,
            tags: Tags::new(&scope.tags)?,
        })
    }

    /// The in-scope part of `inventory` (a copy of it; `inventory` may hold more
    /// regions and APIs, read for other profiles). Tests compare views with it.
    #[cfg(test)]
    pub fn apply(&self, inventory: &Inventory) -> Inventory {
        let regions: Vec<RegionInventory> = inventory
            .regions
            .iter()
            .filter(|r| self.regions.contains(&r.region))
            .map(|r| self.copy_region(r))
            .collect();
        let errors = inventory
            .errors
            .iter()
            .filter(|e| self.keeps_error(e, inventory))
            .cloned()
            .collect();
        Inventory { regions, errors }
    }

    /// The in-scope part of one region, `None` when the region is not in scope.
    /// Borrowed when the scope takes the whole region (the common case of profiles that
    /// differ in controls, parameters or exemptions rather than scope), so an
    /// inventory shared by many profiles is not copied for each; otherwise a copy of
    /// just the in-scope APIs, stages and routes.
    pub fn region_view<'a>(&self, region: &'a RegionInventory) -> Option<Cow<'a, RegionInventory>> {
        if !self.regions.contains(&region.region) {
            return None;
        }
        Some(if self.takes_all(region) {
            Cow::Borrowed(region)
        } else {
            Cow::Owned(self.copy_region(region))
        })
    }

    /// Whether every stage and route of the region is in scope. APIs without stages
    /// and routes do not matter: they yield no finding either way.
    fn takes_all(&self, region: &RegionInventory) -> bool {
        let rest = region.rest_apis.iter().all(|api| {
            api.stages.is_empty()
                || (self.rest_api_selected(api)
                    && api
                        .stages
                        .iter()
                        .all(|s| self.stage_selected(&api.tags, &s.name, &s.tags)))
        });
        let v2 = region.v2_apis.iter().all(|api| {
            if api.stages.is_empty() && api.routes.is_empty() && api.integrations.is_empty() {
                return true;
            }
            self.v2_api_selected(api)
                && api
                    .stages
                    .iter()
                    .all(|s| self.stage_selected(&api.tags, &s.name, &s.tags))
                && (api.routes.is_empty() && api.integrations.is_empty()
                    || self.routes_selected(api, !api.stages.is_empty()))
        });
        rest && v2
            && region
                .domain_names
                .iter()
                .all(|d| self.tags.selects(&plain(&d.tags)))
    }

    fn rest_api_selected(&self, api: &RestApi) -> bool {
        self.api_types.contains(&ApiType::Rest) && self.apis.selects(&api.name)
    }

    fn v2_api_selected(&self, api: &V2Api) -> bool {
        self.api_types.contains(&api_type(api)) && self.apis.selects(&api.name)
    }

    fn stage_selected(
        &self,
        api_tags: &BTreeMap<String, String>,
        name: &str,
        tags: &BTreeMap<String, String>,
    ) -> bool {
        self.stages.selects(name) && self.tags.selects(&overlay(api_tags, tags))
    }

    /// Routes are in scope when the API's own tags pass and, with a stage filter, at
    /// least one of its stages is in scope.
    fn routes_selected(&self, api: &V2Api, any_stage_selected: bool) -> bool {
        self.tags.selects(&plain(&api.tags)) && (!self.stages.is_set() || any_stage_selected)
    }

    fn copy_region(&self, region: &RegionInventory) -> RegionInventory {
        let rest_apis = region
            .rest_apis
            .iter()
            .filter(|api| self.rest_api_selected(api))
            .filter_map(|api| self.rest_api(api))
            .collect();
        let v2_apis = region
            .v2_apis
            .iter()
            .filter(|api| self.v2_api_selected(api))
            .filter_map(|api| self.v2_api(api))
            .collect();
        let domain_names = region
            .domain_names
            .iter()
            .filter(|d| self.tags.selects(&plain(&d.tags)))
            .cloned()
            .collect();
        RegionInventory {
            region: region.region.clone(),
            rest_apis,
            v2_apis,
            domain_names,
        }
    }

    fn rest_api(&self, api: &RestApi) -> Option<RestApi> {
        let stages: Vec<_> = api
            .stages
            .iter()
            .filter(|s| self.stage_selected(&api.tags, &s.name, &s.tags))
            .cloned()
            .collect();
        (!stages.is_empty()).then(|| RestApi {
            id: api.id.clone(),
            name: api.name.clone(),
            tags: api.tags.clone(),
            http_integration: api.http_integration.clone(),
            stages,
        })
    }

    fn v2_api(&self, api: &V2Api) -> Option<V2Api> {
        let stages: Vec<_> = api
            .stages
            .iter()
            .filter(|s| self.stage_selected(&api.tags, &s.name, &s.tags))
            .cloned()
            .collect();
        let (routes, integrations) = if self.routes_selected(api, !stages.is_empty()) {
            (api.routes.clone(), api.integrations.clone())
        } else {
            (Vec::new(), Vec::new())
        };
        (!stages.is_empty() || !routes.is_empty() || !integrations.is_empty()).then(|| V2Api {
            id: api.id.clone(),
            name: api.name.clone(),
            protocol: api.protocol,
            tags: api.tags.clone(),
            stages,
            routes,
            integrations,
        })
    }

    /// Keeps a read error unless it names an API known to be out of scope.
    pub fn keeps_error(&self, error: &ReadError, inventory: &Inventory) -> bool {
        if !self.regions.contains(&error.region) {
            return false;
        }
        let Some(arn) = &error.resource_arn else {
            return true;
        };
        let Some(region) = inventory.regions.iter().find(|r| r.region == error.region) else {
            return true;
        };
        if let Some(api) = region
            .rest_apis
            .iter()
            .find(|api| arn.starts_with(&rest_api_arn(&region.region, &api.id)))
        {
            return self.api_types.contains(&ApiType::Rest) && self.apis.selects(&api.name);
        }
        if let Some(api) = region
            .v2_apis
            .iter()
            .find(|api| arn.starts_with(&v2_api_arn(&region.region, &api.id)))
        {
            return self.api_types.contains(&api_type(api)) && self.apis.selects(&api.name);
        }
        true
    }
}

fn api_type(api: &V2Api) -> ApiType {
    match api.protocol {
        V2Protocol::Http => ApiType::Http,
        V2Protocol::WebSocket => ApiType::Websocket,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{DomainName, Integration, RestStage, Route, V2Stage};

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn rest(
        id: &str,
        name: &str,
        stages: &[(&str, &[(&str, &str)])],
        api_tags: &[(&str, &str)],
    ) -> RestApi {
        RestApi {
            id: id.into(),
            name: name.into(),
            tags: tags(api_tags),
            stages: stages
                .iter()
                .map(|(s, t)| RestStage {
                    name: s.to_string(),
                    tags: tags(t),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn v2(
        id: &str,
        name: &str,
        protocol: V2Protocol,
        stages: &[&str],
        api_tags: &[(&str, &str)],
    ) -> V2Api {
        V2Api {
            id: id.into(),
            name: name.into(),
            protocol,
            tags: tags(api_tags),
            stages: stages
                .iter()
                .map(|s| V2Stage {
                    name: s.to_string(),
                    ..Default::default()
                })
                .collect(),
            routes: vec![Route {
                id: format!("{id}-r1"),
                route_key: "GET /".into(),
                authorization_type: None,
            }],
            integrations: vec![Integration {
                id: format!("{id}-i1"),
                ..Default::default()
            }],
        }
    }

    fn domain(name: &str, domain_tags: &[(&str, &str)]) -> DomainName {
        DomainName {
            name: name.into(),
            tags: tags(domain_tags),
            ..Default::default()
        }
    }

    fn inventory() -> Inventory {
        Inventory {
            regions: vec![
                RegionInventory {
                    region: "us-east-1".into(),
                    rest_apis: vec![
                        rest(
                            "r1",
                            "orders",
                            &[("prod", &[]), ("dev", &[("env", "dev")])],
                            &[("team", "payments")],
                        ),
                        rest(
                            "r2",
                            "legacy-billing",
                            &[("prod", &[])],
                            &[("team", "billing")],
                        ),
                    ],
                    v2_apis: vec![
                        v2(
                            "h1",
                            "orders-http",
                            V2Protocol::Http,
                            &["prod", "dev"],
                            &[("team", "payments")],
                        ),
                        v2("w1", "chat", V2Protocol::WebSocket, &["dev"], &[]),
                    ],
                    domain_names: vec![
                        domain("api.example.com", &[("team", "payments")]),
                        domain("billing.example.com", &[("team", "billing")]),
                    ],
                },
                RegionInventory {
                    region: "eu-west-1".into(),
                    rest_apis: vec![rest("r3", "orders", &[("prod", &[])], &[])],
                    v2_apis: vec![],
                    domain_names: vec![],
                },
            ],
            errors: vec![
                ReadError {
                    account_id: None,
                    region: "us-east-1".into(),
                    resource_arn: Some(rest_api_arn("us-east-1", "r2")),
                    operation: "GetStages".into(),
                    kind: crate::model::ErrorKind::AccessDenied,
                    message: "throttled".into(),
                },
                ReadError {
                    account_id: None,
                    region: "us-east-1".into(),
                    resource_arn: Some(rest_api_arn("us-east-1", "unknown")),
                    operation: "GetStages".into(),
                    kind: crate::model::ErrorKind::AccessDenied,
                    message: "denied".into(),
                },
                ReadError {
                    account_id: None,
                    region: "eu-west-1".into(),
                    resource_arn: None,
                    operation: "GetRestApis".into(),
                    kind: crate::model::ErrorKind::AccessDenied,
                    message: "denied".into(),
                },
            ],
        }
    }

    fn scope(yaml: &str) -> ScopeFilter {
        let scope: Scope = serde_yaml::from_str(yaml).expect("test scope parses");
        ScopeFilter::new(&scope).expect("test scope compiles")
    }

    /// (region, api name, stage names, route count) of what remains.
    fn shape(inv: &Inventory) -> Vec<(String, String, Vec<String>, usize)> {
        let mut out = Vec::new();
        for r in &inv.regions {
            for api in &r.rest_apis {
                out.push((
                    r.region.clone(),
                    api.name.clone(),
                    api.stages.iter().map(|s| s.name.clone()).collect(),
                    0,
                ));
            }
            for api in &r.v2_apis {
                out.push((
                    r.region.clone(),
                    api.name.clone(),
                    api.stages.iter().map(|s| s.name.clone()).collect(),
                    api.routes.len(),
                ));
            }
        }
        out
    }

    fn row(
        region: &str,
        api: &str,
        stages: &[&str],
        routes: usize,
    ) -> (String, String, Vec<String>, usize) {
        (
            region.into(),
            api.into(),
            stages.iter().map(|s| s.to_string()).collect(),
            routes,
        )
    }

    #[test]
    fn only_listed_regions_are_kept_with_their_errors() {
        let out = scope("regions: [us-east-1]").apply(&inventory());
        assert_eq!(out.regions.len(), 1);
        assert!(out.errors.iter().all(|e| e.region == "us-east-1"));
        assert_eq!(out.errors.len(), 2);
    }

    #[test]
    fn api_types_select_rest_http_and_websocket_separately() {
        let out = scope("regions: [us-east-1]\napiTypes: [WEBSOCKET]").apply(&inventory());
        assert_eq!(shape(&out), vec![row("us-east-1", "chat", &["dev"], 1)]);
        let out = scope("regions: [us-east-1]\napiTypes: [HTTP]").apply(&inventory());
        assert_eq!(
            shape(&out),
            vec![row("us-east-1", "orders-http", &["prod", "dev"], 1)]
        );
    }

    #[test]
    fn api_name_globs_include_then_exclude() {
        let out = scope("regions: [us-east-1]\napis: {include: ['orders*'], exclude: ['*-http']}")
            .apply(&inventory());
        assert_eq!(
            shape(&out),
            vec![row("us-east-1", "orders", &["prod", "dev"], 0)]
        );
    }

    #[test]
    fn stage_filter_drops_routes_of_apis_without_a_selected_stage() {
        let out = scope("regions: [us-east-1]\nstages: {include: [prod]}").apply(&inventory());
        assert_eq!(
            shape(&out),
            vec![
                row("us-east-1", "orders", &["prod"], 0),
                row("us-east-1", "legacy-billing", &["prod"], 0),
                row("us-east-1", "orders-http", &["prod"], 1),
            ]
        );
    }

    #[test]
    fn integrations_follow_their_api_routes() {
        let integrations = |out: &Inventory| -> Vec<String> {
            out.regions
                .iter()
                .flat_map(|r| &r.v2_apis)
                .flat_map(|api| api.integrations.iter().map(|i| i.id.clone()))
                .collect()
        };
        let out = scope("regions: [us-east-1]").apply(&inventory());
        assert_eq!(integrations(&out), vec!["h1-i1", "w1-i1"]);
        let out = scope("regions: [us-east-1]\nstages: {include: [prod]}").apply(&inventory());
        assert_eq!(integrations(&out), vec!["h1-i1"]);
        let out = scope("regions: [us-east-1]\napiTypes: [REST]").apply(&inventory());
        assert!(integrations(&out).is_empty());
    }

    #[test]
    fn domain_names_are_selected_by_region_and_their_own_tags_only() {
        let domains = |out: &Inventory| -> Vec<String> {
            out.regions
                .iter()
                .flat_map(|r| r.domain_names.iter().map(|d| d.name.clone()))
                .collect()
        };
        let out = scope("regions: [us-east-1]").apply(&inventory());
        assert_eq!(
            domains(&out),
            vec!["api.example.com", "billing.example.com"]
        );
        let out =
            scope("regions: [us-east-1]\ntags: {include: {team: payments}}").apply(&inventory());
        assert_eq!(domains(&out), vec!["api.example.com"]);
        let out = scope("regions: [us-east-1]\napis: {include: [chat]}\napiTypes: [WEBSOCKET]\nstages: {include: [dev]}")
            .apply(&inventory());
        assert_eq!(
            domains(&out),
            vec!["api.example.com", "billing.example.com"]
        );
        let out = scope("regions: [eu-west-1]").apply(&inventory());
        assert!(domains(&out).is_empty());
    }

    #[test]
    fn stage_tags_overlay_api_tags() {
        let out =
            scope("regions: [us-east-1]\ntags: {include: {team: payments}, exclude: {env: dev}}")
                .apply(&inventory());
        assert_eq!(
            shape(&out),
            vec![
                row("us-east-1", "orders", &["prod"], 0),
                row("us-east-1", "orders-http", &["prod", "dev"], 1),
            ]
        );
    }

    #[test]
    fn tag_values_are_globs() {
        let out = scope("regions: [us-east-1]\napiTypes: [REST]\ntags: {include: {team: '*'}}")
            .apply(&inventory());
        assert_eq!(out.regions[0].rest_apis.len(), 2);
    }

    #[test]
    fn errors_of_out_of_scope_apis_are_dropped_but_unknown_ones_kept() {
        let out = scope("regions: [us-east-1]\napis: {include: [orders]}").apply(&inventory());
        let arns: Vec<_> = out.errors.iter().map(|e| e.resource_arn.clone()).collect();
        assert_eq!(arns, vec![Some(rest_api_arn("us-east-1", "unknown"))]);
    }

    #[test]
    fn a_scope_that_takes_a_whole_region_borrows_it_and_a_narrower_one_copies_its_part() {
        let inventory = inventory();
        let everything = scope("regions: [us-east-1, eu-west-1]");
        for region in &inventory.regions {
            assert!(matches!(
                everything.region_view(region),
                Some(Cow::Borrowed(_))
            ));
        }
        let narrow = scope("regions: [us-east-1]\nstages: {include: [prod]}");
        assert!(matches!(
            narrow.region_view(&inventory.regions[0]),
            Some(Cow::Owned(_))
        ));
        assert!(narrow.region_view(&inventory.regions[1]).is_none());
    }

    #[test]
    fn a_region_view_holds_what_apply_copies() {
        let inventory = inventory();
        for yaml in [
            "regions: [us-east-1, eu-west-1]",
            "regions: [us-east-1]\napiTypes: [WEBSOCKET]",
            "regions: [us-east-1]\napis: {include: ['orders*'], exclude: ['*-http']}",
            "regions: [us-east-1]\nstages: {include: [prod]}",
            "regions: [us-east-1]\ntags: {include: {team: payments}, exclude: {env: dev}}",
            "regions: [us-east-1]\ntags: {include: {env: dev}}",
            "regions: [eu-west-1]\napiTypes: [REST]",
        ] {
            let filter = scope(yaml);
            let viewed = Inventory {
                regions: inventory
                    .regions
                    .iter()
                    .filter_map(|r| filter.region_view(r))
                    .map(Cow::into_owned)
                    .collect(),
                errors: Vec::new(),
            };
            assert_eq!(viewed.regions, filter.apply(&inventory).regions, "{yaml}");
        }
    }

    #[test]
    fn a_bad_glob_names_its_field() {
        let scope: Scope =
            serde_yaml::from_str("regions: [us-east-1]\nstages: {exclude: ['[prod']}")
                .expect("parses");
        let err = ScopeFilter::new(&scope).expect_err("unclosed class");
        assert!(
            err.to_string().starts_with("spec.scope.stages.exclude[0]:"),
            "{err}"
        );
    }
}

//! The AWS reader: fills the inventory from API Gateway (REST) and API Gateway v2.
//!
//! The calls are exactly what the selected controls need ([`Needs`]): every page of
//! GetRestApis and GetApis, one GetStages per API, one GetRoutes (GetIntegrations) per v2
//! API only when a control looks at routes (integrations), GetDomainNames once per
//! region only when a control looks at custom domain names, and GetResources per REST API only when APIGateway.2's
//! `onlyWithHttpIntegrations` asks for it. Never one call per stage. Regions are read
//! concurrently; APIs within a region with bounded concurrency, because the whole
//! account shares 10 management requests per second. The request rate itself is paced
//! by the caller's SDK configuration (the HTTP layer of `crate::aws::client`);
//! throttling that still happens is retried by the SDK's adaptive retry; whatever still
//! fails is recorded in `Inventory::errors`, with its kind, never silently dropped.

use std::sync::Arc;

use aws_config::{Region, SdkConfig};
use aws_sdk_apigateway::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use futures::{StreamExt, stream};

use crate::aws::error::{Needed, classify};
use crate::model::arn::{rest_api_arn, v2_api_arn};
use crate::model::{ErrorKind, V2Protocol};

use super::from_sdk::{domain_name, integration, rest_stage, route, sorted, v2_stage};
use super::model::{
    DomainName, Integration, IntegrationLookup, Inventory, Needs, ReadError, RegionInventory,
    RestApi, RestStage, Route, V2Api, V2Stage,
};

/// Per-API calls in flight per region. API Gateway allows 10 management requests per
/// second per account and region, shared with every other caller in the account.
pub const DEFAULT_API_CONCURRENCY: usize = 4;

/// A progress report callback (the CLI prints these on stderr for long scans).
pub type ProgressFn = Arc<dyn Fn(&str) + Send + Sync>;

/// What to read and how.
#[derive(Clone)]
pub struct ReadOptions {
    /// What the selected controls need read.
    pub needs: Needs,
    /// Per-API calls in flight per region.
    pub api_concurrency: usize,
    /// A name for the SDK's retry partition (retry quota and adaptive client rate) of
    /// this read, e.g. the account. Without it every client of a service and region in
    /// the process shares one, so throttling in one account would slow and starve the
    /// retries of every other account read beside it.
    pub retry_partition: Option<String>,
    pub progress: Option<ProgressFn>,
}

impl Default for ReadOptions {
    /// Everything but the HTTP integrations.
    fn default() -> Self {
        Self {
            needs: Needs {
                rest: true,
                v2: true,
                routes: true,
                ..Needs::default()
            },
            api_concurrency: DEFAULT_API_CONCURRENCY,
            retry_partition: None,
            progress: None,
        }
    }
}

impl std::fmt::Debug for ReadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOptions")
            .field("needs", &self.needs)
            .field("api_concurrency", &self.api_concurrency)
            .field("retry_partition", &self.retry_partition)
            .finish_non_exhaustive()
    }
}

/// Reads the inventory of every region concurrently. Never fails as a whole: what
/// could not be read is listed in `Inventory::errors`.
pub async fn read_inventory(
    sdk: &SdkConfig,
    regions: &[String],
    options: &ReadOptions,
) -> Inventory {
    let per_region = futures::future::join_all(
        regions
            .iter()
            .map(|region| read_region(sdk, region.clone(), options)),
    )
    .await;
    let mut inventory = Inventory::default();
    for (region_inventory, errors) in per_region {
        inventory.errors.extend(errors);
        if let Some(region_inventory) = region_inventory {
            inventory.regions.push(region_inventory);
        }
    }
    inventory
}

/// One region: `None` when even its API lists could not be read.
async fn read_region(
    sdk: &SdkConfig,
    region: String,
    options: &ReadOptions,
) -> (Option<RegionInventory>, Vec<ReadError>) {
    let reader = RegionReader::new(sdk, &region, options);
    let (rest, v2, domains) = futures::join!(
        async {
            if options.needs.rest {
                reader.rest_apis().await
            } else {
                Ok((Vec::new(), Vec::new()))
            }
        },
        async {
            if options.needs.v2 {
                reader.v2_apis().await
            } else {
                Ok((Vec::new(), Vec::new()))
            }
        },
        async {
            if options.needs.domain_names {
                reader.domain_names().await.map(Some)
            } else {
                Ok(None)
            }
        },
    );
    let mut errors = Vec::new();
    let mut region_inventory = RegionInventory {
        region: region.clone(),
        ..RegionInventory::default()
    };
    // The region counts as read when a list it asked for answered: a list it did not
    // ask for proves nothing (a REST-only read whose GetRestApis failed read nothing,
    // and must not look like an empty region).
    let needs = options.needs;
    let mut listed_any = !(needs.rest || needs.v2 || needs.domain_names);
    match rest {
        Ok((apis, api_errors)) => {
            listed_any |= needs.rest;
            region_inventory.rest_apis = apis;
            errors.extend(api_errors);
        }
        Err(e) => errors.push(e),
    }
    match v2 {
        Ok((apis, api_errors)) => {
            listed_any |= needs.v2;
            region_inventory.v2_apis = apis;
            errors.extend(api_errors);
        }
        Err(e) => errors.push(e),
    }
    match domains {
        Ok(Some(domains)) => {
            listed_any = true;
            region_inventory.domain_names = domains;
        }
        Ok(None) => {}
        Err(e) => errors.push(e),
    }
    if let Some(progress) = &options.progress {
        progress(&format!(
            "{region}: read {} REST APIs ({} stages), {} v2 APIs ({} stages, {} routes), {} errors",
            region_inventory.rest_apis.len(),
            region_inventory
                .rest_apis
                .iter()
                .map(|a| a.stages.len())
                .sum::<usize>(),
            region_inventory.v2_apis.len(),
            region_inventory
                .v2_apis
                .iter()
                .map(|a| a.stages.len())
                .sum::<usize>(),
            region_inventory
                .v2_apis
                .iter()
                .map(|a| a.routes.len())
                .sum::<usize>(),
            errors.len(),
        ));
    }
    (listed_any.then_some(region_inventory), errors)
}

/// The clients and options of one region's read.
pub(super) struct RegionReader<'a> {
    pub(super) region: &'a str,
    pub(super) rest: aws_sdk_apigateway::Client,
    pub(super) v2: aws_sdk_apigatewayv2::Client,
    pub(super) options: &'a ReadOptions,
}

/// APIs read, plus the per-API errors; `Err` when the API list itself failed.
type ApisRead<T> = Result<(Vec<T>, Vec<ReadError>), ReadError>;

impl<'a> RegionReader<'a> {
    /// The region's clients, each in the read's retry partition when it names one.
    pub(super) fn new(sdk: &SdkConfig, region: &'a str, options: &'a ReadOptions) -> Self {
        let partition = |service: &str| {
            options
                .retry_partition
                .as_ref()
                .map(|name| format!("{service}-{name}-{region}"))
        };
        let mut rest_config =
            aws_sdk_apigateway::config::Builder::from(sdk).region(Region::new(region.to_string()));
        if let Some(name) = partition("apigateway") {
            rest_config = rest_config
                .retry_partition(aws_sdk_apigateway::config::retry::RetryPartition::new(name));
        }
        let mut v2_config = aws_sdk_apigatewayv2::config::Builder::from(sdk)
            .region(Region::new(region.to_string()));
        if let Some(name) = partition("apigatewayv2") {
            v2_config = v2_config.retry_partition(
                aws_sdk_apigatewayv2::config::retry::RetryPartition::new(name),
            );
        }
        RegionReader {
            region,
            rest: aws_sdk_apigateway::Client::from_conf(rest_config.build()),
            v2: aws_sdk_apigatewayv2::Client::from_conf(v2_config.build()),
            options,
        }
    }

    pub(super) fn error<E>(
        &self,
        operation: &str,
        resource_arn: Option<String>,
        err: &SdkError<E, HttpResponse>,
    ) -> ReadError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let error = classify(self.region, operation, Needed::Read, err);
        ReadError {
            account_id: None,
            region: self.region.to_string(),
            resource_arn,
            operation: operation.to_string(),
            kind: error.kind,
            message: error.message,
        }
    }

    fn progress(&self, message: String) {
        if let Some(progress) = &self.options.progress {
            progress(&message);
        }
    }

    async fn rest_apis(&self) -> ApisRead<RestApi> {
        let listed: Vec<aws_sdk_apigateway::types::RestApi> = self
            .rest
            .get_rest_apis()
            .limit(500)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| self.error("GetRestApis", None, &e))?;
        self.progress(format!(
            "{}: {} REST APIs listed, reading their stages",
            self.region,
            listed.len()
        ));
        let results: Vec<ApiRead<RestApi>> = stream::iter(listed)
            .map(|api| async { Ok(self.rest_api(api).await) })
            .buffer_unordered(self.options.api_concurrency.max(1))
            .collect()
            .await;
        Ok(split_outcomes(results, |api| &api.id))
    }

    /// The API with its stages. An API whose GetStages failed stays, without stages and
    /// with the failure beside it, so that its name and tags still tell a profile's
    /// scope whether the failure concerns it.
    pub(super) async fn rest_api(
        &self,
        api: aws_sdk_apigateway::types::RestApi,
    ) -> (RestApi, Vec<ReadError>) {
        let id = api.id().unwrap_or_default().to_string();
        let arn = rest_api_arn(self.region, &id);
        let identity = |stages, http_integration| RestApi {
            name: api.name().unwrap_or_default().to_string(),
            tags: sorted(api.tags()),
            id: id.clone(),
            http_integration,
            stages,
        };
        let stages = match self.rest.get_stages().rest_api_id(&id).send().await {
            Ok(stages) => stages,
            Err(e) => {
                let error = self.error("GetStages", Some(arn.clone()), &e);
                return (identity(Vec::new(), None), vec![error]);
            }
        };
        let http_integration = if self.options.needs.http_integrations {
            Some(match self.has_http_integration(&id).await {
                Ok(found) => IntegrationLookup::Found(found),
                Err(e) => IntegrationLookup::Failed(
                    classify(self.region, "GetResources", Needed::Read, &e).message,
                ),
            })
        } else {
            None
        };
        let mut stages: Vec<RestStage> = stages.item().iter().map(rest_stage).collect();
        stages.sort_by(|a, b| a.name.cmp(&b.name));
        (identity(stages, http_integration), Vec::new())
    }

    /// Whether any method of the API integrates with an HTTP backend (`HTTP` or
    /// `HTTP_PROXY`), which is what a backend client certificate authenticates to.
    async fn has_http_integration(
        &self,
        api_id: &str,
    ) -> Result<
        bool,
        SdkError<
            aws_sdk_apigateway::operation::get_resources::GetResourcesError,
            aws_sdk_apigateway::config::http::HttpResponse,
        >,
    > {
        use aws_sdk_apigateway::types::IntegrationType;
        let resources: Vec<aws_sdk_apigateway::types::Resource> = self
            .rest
            .get_resources()
            .rest_api_id(api_id)
            .embed("methods")
            .limit(500)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await?;
        Ok(resources.iter().any(|resource| {
            resource
                .resource_methods()
                .into_iter()
                .flatten()
                .any(|(_, method)| {
                    matches!(
                        method.method_integration().and_then(|i| i.r#type()),
                        Some(IntegrationType::Http | IntegrationType::HttpProxy)
                    )
                })
        }))
    }

    async fn v2_apis(&self) -> ApisRead<V2Api> {
        let listed = v2_pages(|token| async move {
            let page = self
                .v2
                .get_apis()
                .max_results("500")
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| self.error("GetApis", None, &e))?;
            Ok((page.items().to_vec(), page.next_token().map(str::to_string)))
        })
        .await?;
        self.progress(format!(
            "{}: {} v2 APIs listed, reading their stages{}",
            self.region,
            listed.len(),
            if self.options.needs.routes {
                " and routes"
            } else {
                ""
            }
        ));
        let results: Vec<ApiRead<V2Api>> = stream::iter(listed)
            .map(|api| self.v2_api(api))
            .buffer_unordered(self.options.api_concurrency.max(1))
            .collect()
            .await;
        Ok(split_outcomes(results, |api| &api.id))
    }

    /// The API with its stages, and its routes and integrations when asked for. A
    /// failed call costs only what needs it: the API stays with what was read (its
    /// other controls are judged, its name and tags still tell a scope whether the
    /// failure concerns it), the failure is returned beside it, and no finding is made
    /// of what was not read. `Err` only for an API this version cannot judge at all.
    pub(super) async fn v2_api(&self, api: aws_sdk_apigatewayv2::types::Api) -> ApiRead<V2Api> {
        use aws_sdk_apigatewayv2::types::ProtocolType;
        let id = api.api_id().unwrap_or_default().to_string();
        let arn = v2_api_arn(self.region, &id);
        let protocol = match api.protocol_type() {
            Some(ProtocolType::Websocket) => V2Protocol::WebSocket,
            Some(ProtocolType::Http) => V2Protocol::Http,
            other => {
                return Err(ReadError {
                    account_id: None,
                    region: self.region.to_string(),
                    resource_arn: Some(arn),
                    operation: "GetApis".to_string(),
                    kind: ErrorKind::Other,
                    message: format!(
                        "API {id} has protocol type {:?}, which this version does not know; \
                         upgrade apigw-compliance",
                        other.map(|p| p.as_str())
                    ),
                });
            }
        };
        let routes = async {
            if self.options.needs.routes {
                self.v2_routes(&id, &arn).await
            } else {
                Ok(Vec::new())
            }
        };
        let integrations = async {
            if self.options.needs.integrations {
                self.v2_integrations(&id, &arn).await
            } else {
                Ok(Vec::new())
            }
        };
        let (stages, routes, integrations) =
            futures::join!(self.v2_stages(&id, &arn), routes, integrations);
        let mut errors = Vec::new();
        let mut stages = stages.unwrap_or_else(|e| {
            errors.push(e);
            Vec::new()
        });
        let mut routes = routes.unwrap_or_else(|e| {
            errors.push(e);
            Vec::new()
        });
        let mut integrations = integrations.unwrap_or_else(|e| {
            errors.push(e);
            Vec::new()
        });
        stages.sort_by(|a, b| a.name.cmp(&b.name));
        routes.sort_by(|a, b| a.route_key.cmp(&b.route_key).then_with(|| a.id.cmp(&b.id)));
        integrations.sort_by(|a, b| a.id.cmp(&b.id));
        let read = V2Api {
            name: api.name().unwrap_or_default().to_string(),
            tags: sorted(api.tags()),
            id,
            protocol,
            stages,
            routes,
            integrations,
        };
        Ok((read, errors))
    }

    async fn v2_stages(&self, api_id: &str, api_arn: &str) -> Result<Vec<V2Stage>, ReadError> {
        let stages = v2_pages(|token| async move {
            let page = self
                .v2
                .get_stages()
                .api_id(api_id)
                .max_results("500")
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| self.error("GetStages", Some(api_arn.to_string()), &e))?;
            Ok((
                page.items().iter().map(v2_stage).collect(),
                page.next_token().map(str::to_string),
            ))
        })
        .await?;
        Ok(stages)
    }

    pub(super) async fn v2_integrations(
        &self,
        api_id: &str,
        api_arn: &str,
    ) -> Result<Vec<Integration>, ReadError> {
        v2_pages(|token| async move {
            let page = self
                .v2
                .get_integrations()
                .api_id(api_id)
                .max_results("500")
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| self.error("GetIntegrations", Some(api_arn.to_string()), &e))?;
            Ok((
                page.items().iter().map(integration).collect(),
                page.next_token().map(str::to_string),
            ))
        })
        .await
    }

    /// The region's custom domain names (every page of GetDomainNames).
    async fn domain_names(&self) -> Result<Vec<DomainName>, ReadError> {
        let listed: Vec<aws_sdk_apigateway::types::DomainName> = self
            .rest
            .get_domain_names()
            .limit(500)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| self.error("GetDomainNames", None, &e))?;
        let mut domains: Vec<DomainName> = listed.iter().map(domain_name).collect();
        domains.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(domains)
    }

    pub(super) async fn v2_routes(
        &self,
        api_id: &str,
        api_arn: &str,
    ) -> Result<Vec<Route>, ReadError> {
        let routes = v2_pages(|token| async move {
            let page = self
                .v2
                .get_routes()
                .api_id(api_id)
                .max_results("500")
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| self.error("GetRoutes", Some(api_arn.to_string()), &e))?;
            Ok((
                page.items().iter().map(route).collect(),
                page.next_token().map(str::to_string),
            ))
        })
        .await?;
        Ok(routes)
    }
}

/// An API as read, with what of it could not be read; `Err` when nothing of it can be
/// used.
pub(super) type ApiRead<T> = Result<(T, Vec<ReadError>), ReadError>;

/// Splits per-API outcomes into the APIs read (ordered by id, so output is stable
/// whatever order the concurrent calls finished in) and the read errors.
fn split_outcomes<T>(
    outcomes: Vec<ApiRead<T>>,
    id: impl Fn(&T) -> &String,
) -> (Vec<T>, Vec<ReadError>) {
    let mut read = Vec::new();
    let mut errors = Vec::new();
    for outcome in outcomes {
        match outcome {
            Ok((item, partial)) => {
                read.push(item);
                errors.extend(partial);
            }
            Err(e) => errors.push(e),
        }
    }
    read.sort_by(|a, b| id(a).cmp(id(b)));
    (read, errors)
}

/// Every page of an API Gateway v2 list call: `fetch` gets the NextToken of the
/// previous page (None first) and returns one page's items and its NextToken; an
/// absent or empty token ends the list.
async fn v2_pages<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, ReadError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>), ReadError>>,
{
    let mut items = Vec::new();
    let mut token = None;
    loop {
        let (page, next) = fetch(token.take()).await?;
        items.extend(page);
        match next {
            Some(next) if !next.is_empty() => token = Some(next),
            _ => return Ok(items),
        }
    }
}

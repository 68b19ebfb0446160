//! Reads of one target (see [`Target`]) instead of a region: what a change event costs.
//! A stage costs its GetStage; routes one GetRoutes (paged); a whole API what the
//! region read spends on one API (GetRestApi or GetApi, then its stages and whatever
//! else `options.needs` asks for). A resource that is gone reads as `None`.

use aws_config::SdkConfig;
use futures::StreamExt;

use crate::model::ErrorKind;
use crate::model::arn::v2_api_arn;

use super::from_sdk::v2_stage;
use super::model::{Inventory, ReadError};
use super::patch::Patch;
use super::reader::{ApiRead, ReadOptions, RegionReader};
use super::single;
use super::target::Target;

/// Reads `target` in `region` with `sdk`, as `options` says (its needs are those of the
/// held read the result goes into).
pub async fn read_target(
    sdk: &SdkConfig,
    region: &str,
    target: &Target,
    options: &ReadOptions,
) -> Result<Patch, ReadError> {
    let reader = RegionReader::new(sdk, region, options);
    reader.target(target).await
}

/// `earlier` with the parts `targets` name read again in `region` (see
/// [`super::retry`]): a retry of what failed with recoverable errors, several at once as
/// the region read reads APIs.
pub async fn retry_failed_parts(
    sdk: &SdkConfig,
    region: &str,
    earlier: &Inventory,
    targets: &[Target],
    options: &ReadOptions,
) -> Inventory {
    let reads: Vec<(Target, Result<Patch, ReadError>)> = futures::stream::iter(targets.to_vec())
        .map(|target| async move {
            let read = read_target(sdk, region, &target, options).await;
            (target, read)
        })
        .buffer_unordered(options.api_concurrency.max(1))
        .collect()
        .await;
    let mut retried = earlier.clone();
    for (target, read) in reads {
        if !retried.retried(region, &target, read) {
            tracing::debug!(?target, "a retried part does not fit the earlier read");
        }
    }
    retried
}

/// A change event's read of an API is all or nothing: a part that failed is read again
/// when the message comes back.
fn whole<T>(read: ApiRead<T>) -> Result<T, ReadError> {
    match read? {
        (api, errors) if errors.is_empty() => Ok(api),
        (_, mut errors) => Err(errors.remove(0)),
    }
}

/// `Ok(None)` for an error that says the resource does not exist.
fn absent<T>(read: Result<T, ReadError>) -> Result<Option<T>, ReadError> {
    match read {
        Ok(found) => Ok(Some(found)),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl RegionReader<'_> {
    async fn target(&self, target: &Target) -> Result<Patch, ReadError> {
        Ok(match target {
            Target::RestApi { api_id } => Patch::RestApi {
                api_id: api_id.clone(),
                api: absent(self.whole_rest_api(api_id).await)?,
            },
            Target::RestStage { api_id, stage } => Patch::RestStage {
                api_id: api_id.clone(),
                name: stage.clone(),
                stage: single::rest_stage(&self.rest, self.region, api_id, stage).await?,
            },
            Target::V2Api { api_id } => Patch::V2Api {
                api_id: api_id.clone(),
                api: absent(self.whole_v2_api(api_id).await)?,
            },
            Target::V2Stage { api_id, stage } => Patch::V2Stage {
                api_id: api_id.clone(),
                name: stage.clone(),
                stage: absent(self.one_v2_stage(api_id, stage).await)?,
            },
            Target::V2Routes { api_id } => {
                let arn = v2_api_arn(self.region, api_id);
                match absent(self.v2_routes(api_id, &arn).await)? {
                    Some(routes) => Patch::V2Routes {
                        api_id: api_id.clone(),
                        routes,
                    },
                    None => Patch::V2Api {
                        api_id: api_id.clone(),
                        api: None,
                    },
                }
            }
            Target::V2Integrations { api_id } => {
                let arn = v2_api_arn(self.region, api_id);
                match absent(self.v2_integrations(api_id, &arn).await)? {
                    Some(integrations) => Patch::V2Integrations {
                        api_id: api_id.clone(),
                        integrations,
                    },
                    None => Patch::V2Api {
                        api_id: api_id.clone(),
                        api: None,
                    },
                }
            }
            Target::DomainName { name } => Patch::DomainName {
                name: name.clone(),
                domain: single::domain_name(&self.rest, self.region, name).await?,
            },
            Target::Account => Patch::Nothing,
        })
    }

    /// GetRestApi, then the API as the region read reads it.
    async fn whole_rest_api(&self, api_id: &str) -> Result<super::RestApi, ReadError> {
        let api = self
            .rest
            .get_rest_api()
            .rest_api_id(api_id)
            .send()
            .await
            .map_err(|e| {
                self.error(
                    "GetRestApi",
                    Some(crate::model::arn::rest_api_arn(self.region, api_id)),
                    &e,
                )
            })?;
        let listed = aws_sdk_apigateway::types::RestApi::builder()
            .set_id(api.id().map(str::to_string))
            .set_name(api.name().map(str::to_string))
            .set_tags(api.tags().cloned())
            .build();
        whole(Ok(self.rest_api(listed).await))
    }

    /// GetApi, then the API as the region read reads it.
    async fn whole_v2_api(&self, api_id: &str) -> Result<super::V2Api, ReadError> {
        let api = self
            .v2
            .get_api()
            .api_id(api_id)
            .send()
            .await
            .map_err(|e| self.error("GetApi", Some(v2_api_arn(self.region, api_id)), &e))?;
        let listed = aws_sdk_apigatewayv2::types::Api::builder()
            .set_api_id(api.api_id().map(str::to_string))
            .set_name(api.name().map(str::to_string))
            .set_protocol_type(api.protocol_type().cloned())
            .set_tags(api.tags().cloned())
            .build();
        whole(self.v2_api(listed).await)
    }

    /// GetStage of a v2 stage.
    async fn one_v2_stage(&self, api_id: &str, stage: &str) -> Result<super::V2Stage, ReadError> {
        let read = self
            .v2
            .get_stage()
            .api_id(api_id)
            .stage_name(stage)
            .send()
            .await
            .map_err(|e| {
                self.error(
                    "GetStage",
                    Some(crate::model::arn::v2_stage_arn(self.region, api_id, stage)),
                    &e,
                )
            })?;
        let as_listed = aws_sdk_apigatewayv2::types::Stage::builder()
            .set_stage_name(read.stage_name().map(str::to_string))
            .set_default_route_settings(read.default_route_settings().cloned())
            .set_route_settings(read.route_settings().cloned())
            .set_access_log_settings(read.access_log_settings().cloned())
            .set_auto_deploy(read.auto_deploy())
            .set_tags(read.tags().cloned())
            .build();
        Ok(v2_stage(&as_listed))
    }
}

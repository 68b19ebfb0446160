//! Reads of one resource, mapped into the inventory's model exactly as the region read
//! maps them (`from_sdk`): for a caller that must know the state of that resource now
//! (remediation re-reads what it is about to write) rather than as the last region
//! read saw it.
//!
//! A resource that no longer exists is `Ok(None)`, not an error: for these callers it
//! is an answer.

use aws_sdk_apigateway::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::aws::error::{Needed, classify};
use crate::model::ErrorKind;
use crate::model::arn::{domain_name_arn, rest_stage_arn};

use super::from_sdk;
use super::model::{DomainName, ReadError, RestStage};

/// One REST stage (GetStage); `None` when the stage (or its API) does not exist.
pub async fn rest_stage(
    client: &aws_sdk_apigateway::Client,
    region: &str,
    api_id: &str,
    stage: &str,
) -> Result<Option<RestStage>, ReadError> {
    let read = client
        .get_stage()
        .rest_api_id(api_id)
        .stage_name(stage)
        .send()
        .await;
    match read {
        Ok(output) => Ok(Some(from_sdk::rest_stage(&output))),
        Err(e) => absent_or_error(
            region,
            "GetStage",
            rest_stage_arn(region, api_id, stage),
            &e,
        ),
    }
}

/// One custom domain name (GetDomainName); `None` when it does not exist.
pub async fn domain_name(
    client: &aws_sdk_apigateway::Client,
    region: &str,
    name: &str,
) -> Result<Option<DomainName>, ReadError> {
    let read = client.get_domain_name().domain_name(name).send().await;
    match read {
        Ok(output) => Ok(Some(from_sdk::domain_name(&output))),
        Err(e) => absent_or_error(region, "GetDomainName", domain_name_arn(region, name), &e),
    }
}

/// `Ok(None)` for NotFound, else the classified error.
fn absent_or_error<T, E>(
    region: &str,
    operation: &str,
    resource_arn: String,
    err: &SdkError<E, HttpResponse>,
) -> Result<Option<T>, ReadError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let error = classify(region, operation, Needed::Read, err);
    if error.kind == ErrorKind::NotFound {
        return Ok(None);
    }
    Err(ReadError {
        account_id: None,
        region: region.to_string(),
        resource_arn: Some(resource_arn),
        operation: operation.to_string(),
        kind: error.kind,
        message: error.message,
    })
}

//! Parsing one SQS message body: an EventBridge event of type "AWS API Call via
//! CloudTrail" into the account, region and inventory part it changed.
//!
//! Pure: no clock, no network. The body is untrusted (anyone allowed to send to the
//! queue wrote it), so every field is optional until the mapping needs it, and nothing
//! here panics on any input.

use k8s_openapi::jiff::Timestamp;
use serde_json::{Map, Value};

use crate::inventory::target::Target;
use crate::model::arn::{self, ApiGatewayResource};

/// A change to re-read: where, what, and the call that made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeEvent {
    pub account: String,
    pub region: String,
    /// CloudTrail's `eventName` (`UpdateStage`, `AssociateWebACL`...), for logs and
    /// metrics.
    pub event_name: String,
    pub target: Target,
    /// When the call was made (CloudTrail's `eventTime`, else EventBridge's `time`);
    /// `None` when neither parses.
    pub event_time: Option<Timestamp>,
}

/// What one message means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    Change(ChangeEvent),
    /// A well-formed event that changes nothing the inventory reads.
    Ignored(IgnoreReason),
}

/// Why a well-formed event changes nothing the inventory reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IgnoreReason {
    /// Not an EventBridge "AWS API Call via CloudTrail" event (an S3 or SQS test
    /// message, another detail-type).
    NotACloudTrailCall,
    /// A call to a service other than API Gateway and WAFv2.
    UnrelatedService,
    /// The call failed (`errorCode` is set), so it changed nothing.
    FailedCall,
    /// A read (`Get*`, `List*`, `Describe*` or CloudTrail's `readOnly`).
    ReadOnly,
    /// A write to something the inventory does not read (methods, usage plans, keys...).
    Unrelated,
    /// `CreateDeployment` without a stage name: a deployment no stage uses yet.
    DeploymentWithoutStage,
    /// Tags or a web ACL on a resource that is not a stage, an API or a domain name
    /// (a load balancer, an AppSync API, a usage plan...).
    UnrelatedResource,
}

impl IgnoreReason {
    /// Every reason, for metrics that start every series at zero.
    pub const ALL: [IgnoreReason; 7] = [
        IgnoreReason::NotACloudTrailCall,
        IgnoreReason::UnrelatedService,
        IgnoreReason::FailedCall,
        IgnoreReason::ReadOnly,
        IgnoreReason::Unrelated,
        IgnoreReason::DeploymentWithoutStage,
        IgnoreReason::UnrelatedResource,
    ];

    /// A stable metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            IgnoreReason::NotACloudTrailCall => "notCloudTrailCall",
            IgnoreReason::UnrelatedService => "unrelatedService",
            IgnoreReason::FailedCall => "failedCall",
            IgnoreReason::ReadOnly => "readOnly",
            IgnoreReason::Unrelated => "unrelated",
            IgnoreReason::DeploymentWithoutStage => "deploymentWithoutStage",
            IgnoreReason::UnrelatedResource => "unrelatedResource",
        }
    }
}

/// Why a message could not be turned into a change or a reason to ignore it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the message body is not JSON: {0}")]
    Json(String),
    #[error("the SNS notification's Message is not JSON: {0}")]
    SnsMessage(String),
    #[error("the message body is JSON but not an object")]
    NotAnObject,
    #[error("the event has no {0}")]
    MissingField(&'static str),
    #[error("the event names no account (neither `account` nor `detail.recipientAccountId`)")]
    MissingAccount,
    #[error("the event names no region (neither `region` nor `detail.awsRegion`)")]
    MissingRegion,
    #[error("the event's region {0:?} is not an AWS region code")]
    BadRegion(String),
    #[error("{event_name}: the event has no {missing}")]
    MissingResource {
        event_name: String,
        missing: &'static str,
    },
    #[error("{event_name}: {arn:?} is not a well-formed API Gateway ARN")]
    BadArn { event_name: String, arn: String },
}

const CLOUDTRAIL_CALL: &str = "AWS API Call via CloudTrail";
const APIGATEWAY: &str = "apigateway.amazonaws.com";
const WAFV2: &str = "wafv2.amazonaws.com";

// CloudTrail's key names are not documented per operation: REST records use the
// REST path parameters' names, v2 records the v2 ones, and both have been seen
// spelled differently, so each key is looked up under every spelling.
const REST_API_ID: &[&str] = &["restApiId", "restapiId", "rest_api_id"];
const V2_API_ID: &[&str] = &["apiId", "api_id", "ApiId"];
const CREATED_ID: &[&str] = &["id"];
const STAGE_NAME: &[&str] = &["stageName", "StageName", "stage_name"];
/// REST CreateStage and CreateDeployment may log their body nested under these.
const NESTED_INPUTS: &[&str] = &["createStageInput", "createDeploymentInput"];
const DOMAIN_NAME: &[&str] = &["domainName", "DomainName", "domain_name"];
const RESOURCE_ARN: &[&str] = &["resourceArn", "resource-arn", "ResourceArn", "resource_arn"];

/// Parses one SQS message body: an EventBridge event, bare or inside an SNS
/// notification.
pub fn parse(body: &str) -> Result<Parsed, ParseError> {
    let value: Value = serde_json::from_str(body).map_err(|e| ParseError::Json(e.to_string()))?;
    let value = unwrap_sns(value)?;
    let Some(envelope) = value.as_object() else {
        return Err(ParseError::NotAnObject);
    };
    match envelope.get("detail-type") {
        Some(kind) if kind.as_str() != Some(CLOUDTRAIL_CALL) => {
            return Ok(Parsed::Ignored(IgnoreReason::NotACloudTrailCall));
        }
        None if !envelope.contains_key("detail") => {
            return Ok(Parsed::Ignored(IgnoreReason::NotACloudTrailCall));
        }
        _ => {}
    }
    let Some(detail) = envelope.get("detail").and_then(Value::as_object) else {
        return Err(ParseError::MissingField("detail"));
    };

    let source = match text_in(detail, &["eventSource"]) {
        Some(source) => source,
        // Only EventBridge's own field left: its `source` names the same service.
        None => match text_in(envelope, &["source"]) {
            Some("aws.apigateway") => APIGATEWAY,
            Some("aws.wafv2") => WAFV2,
            Some(_) => return Ok(Parsed::Ignored(IgnoreReason::UnrelatedService)),
            None => return Err(ParseError::MissingField("detail.eventSource")),
        },
    };
    if source != APIGATEWAY && source != WAFV2 {
        return Ok(Parsed::Ignored(IgnoreReason::UnrelatedService));
    }
    if detail
        .get("errorCode")
        .is_some_and(|code| !code.is_null() && code.as_str() != Some(""))
    {
        return Ok(Parsed::Ignored(IgnoreReason::FailedCall));
    }
    let Some(event_name) = text_in(detail, &["eventName"]) else {
        return Err(ParseError::MissingField("detail.eventName"));
    };

    let call = Call {
        name: event_name,
        request: detail.get("requestParameters").and_then(Value::as_object),
        response: detail.get("responseElements").and_then(Value::as_object),
    };
    let mapped = if source == APIGATEWAY {
        apigateway_target(&call)?
    } else {
        wafv2_target(&call)?
    };
    let (target, arn_region) = match mapped {
        Mapped::Target(target) => (target, None),
        Mapped::FromArn(target, region) => (target, Some(region)),
        Mapped::Ignored(reason) => return Ok(Parsed::Ignored(reason)),
        Mapped::Unknown => {
            let read_only = ["Get", "List", "Describe"]
                .iter()
                .any(|prefix| event_name.starts_with(prefix))
                || detail.get("readOnly").and_then(Value::as_bool) == Some(true);
            return Ok(Parsed::Ignored(if read_only {
                IgnoreReason::ReadOnly
            } else {
                IgnoreReason::Unrelated
            }));
        }
    };

    let account = text_in(envelope, &["account"])
        .or_else(|| text_in(detail, &["recipientAccountId"]))
        .ok_or(ParseError::MissingAccount)?;
    // A resource ARN's region wins over the call's: tags and web ACL associations
    // belong to a regional resource, and the region is where it must be re-read.
    let region = match arn_region {
        Some(region) => region,
        None => text_in(envelope, &["region"])
            .or_else(|| text_in(detail, &["awsRegion"]))
            .ok_or(ParseError::MissingRegion)?
            .to_string(),
    };
    if !arn::is_region_code(&region) {
        return Err(ParseError::BadRegion(region));
    }
    let event_time = [
        text_in(detail, &["eventTime"]),
        text_in(envelope, &["time"]),
    ]
    .into_iter()
    .flatten()
    .find_map(|time| time.parse::<Timestamp>().ok());

    Ok(Parsed::Change(ChangeEvent {
        account: account.to_string(),
        region,
        event_name: event_name.to_string(),
        target,
        event_time,
    }))
}

/// The event inside an SNS notification (`{"Type":"Notification","Message":"..."}`),
/// else the body itself. One level only: SNS does not nest.
fn unwrap_sns(value: Value) -> Result<Value, ParseError> {
    let message = match &value {
        Value::Object(o) if o.get("Type").and_then(Value::as_str) == Some("Notification") => {
            match o.get("Message").and_then(Value::as_str) {
                Some(message) => message,
                None => return Ok(value),
            }
        }
        _ => return Ok(value),
    };
    serde_json::from_str(message).map_err(|e| ParseError::SnsMessage(e.to_string()))
}

/// What one call maps to, before the account and region are looked up.
enum Mapped {
    Target(Target),
    /// A target named by a resource ARN, with the ARN's region.
    FromArn(Target, String),
    Ignored(IgnoreReason),
    /// An event name nothing here knows.
    Unknown,
}

/// The parts of a CloudTrail record the mapping reads.
struct Call<'a> {
    name: &'a str,
    request: Option<&'a Map<String, Value>>,
    response: Option<&'a Map<String, Value>>,
}

/// Which API family an id belongs to: REST and v2 share event names.
enum Api<'a> {
    Rest(&'a str),
    V2(&'a str),
}

impl<'a> Call<'a> {
    fn request(&self, keys: &[&str]) -> Option<&'a str> {
        self.request.and_then(|r| text_in(r, keys))
    }

    fn response(&self, keys: &[&str]) -> Option<&'a str> {
        self.response.and_then(|r| text_in(r, keys))
    }

    /// The API the call names: the request's path parameter, else (creates) the
    /// response's.
    fn api(&self) -> Option<Api<'a>> {
        self.request(REST_API_ID)
            .map(Api::Rest)
            .or_else(|| self.request(V2_API_ID).map(Api::V2))
            .or_else(|| self.response(REST_API_ID).map(Api::Rest))
            .or_else(|| self.response(V2_API_ID).map(Api::V2))
    }

    fn stage(&self) -> Option<&'a str> {
        self.request(STAGE_NAME)
            .or_else(|| {
                let request = self.request?;
                NESTED_INPUTS.iter().find_map(|nested| {
                    request
                        .get(*nested)
                        .and_then(Value::as_object)
                        .and_then(|input| text_in(input, STAGE_NAME))
                })
            })
            .or_else(|| self.response(STAGE_NAME))
    }

    fn missing(&self, missing: &'static str) -> ParseError {
        ParseError::MissingResource {
            event_name: self.name.to_string(),
            missing,
        }
    }

    fn api_or_error(&self) -> Result<Api<'a>, ParseError> {
        self.api()
            .ok_or_else(|| self.missing("API id (restApiId or apiId)"))
    }

    /// An id under `keys` in the request, else under `keys` or `id` in the response
    /// (where a create returns what it made).
    fn id(&self, keys: &[&str], missing: &'static str) -> Result<&'a str, ParseError> {
        self.request(keys)
            .or_else(|| self.response(keys))
            .or_else(|| self.response(CREATED_ID))
            .ok_or_else(|| self.missing(missing))
    }

    fn stage_target(&self) -> Result<Target, ParseError> {
        let api = self.api_or_error()?;
        let stage = self
            .stage()
            .ok_or_else(|| self.missing("stage name"))?
            .to_string();
        Ok(match api {
            Api::Rest(id) => Target::RestStage {
                api_id: id.to_string(),
                stage,
            },
            Api::V2(id) => Target::V2Stage {
                api_id: id.to_string(),
                stage,
            },
        })
    }

    /// The target a resource ARN under one of the [`RESOURCE_ARN`] keys names.
    /// `other_service` is what an ARN of another service means.
    fn arn_target(&self, other_service: Option<IgnoreReason>) -> Result<Mapped, ParseError> {
        let arn = self
            .request(RESOURCE_ARN)
            .ok_or_else(|| self.missing("resource ARN (resourceArn)"))?;
        let Some(parsed) = arn::parse_apigateway_arn(arn) else {
            let is_apigateway = arn.split(':').nth(2) == Some("apigateway");
            return match other_service {
                Some(reason) if !is_apigateway => Ok(Mapped::Ignored(reason)),
                _ => Err(ParseError::BadArn {
                    event_name: self.name.to_string(),
                    arn: arn.to_string(),
                }),
            };
        };
        let target = match parsed.resource {
            ApiGatewayResource::RestApi { api_id } => Target::RestApi { api_id },
            ApiGatewayResource::RestStage { api_id, stage } => Target::RestStage { api_id, stage },
            ApiGatewayResource::V2Api { api_id } => Target::V2Api { api_id },
            ApiGatewayResource::V2Stage { api_id, stage } => Target::V2Stage { api_id, stage },
            ApiGatewayResource::DomainName { name } => Target::DomainName { name },
            // The inventory reads no tags of routes or integrations, nor anything of
            // usage plans, keys or VPC links.
            ApiGatewayResource::V2Route { .. }
            | ApiGatewayResource::V2Integration { .. }
            | ApiGatewayResource::Other => {
                return Ok(Mapped::Ignored(IgnoreReason::UnrelatedResource));
            }
        };
        Ok(Mapped::FromArn(target, parsed.region))
    }
}

fn apigateway_target(call: &Call) -> Result<Mapped, ParseError> {
    let target = match call.name {
        "CreateStage"
        | "UpdateStage"
        | "DeleteStage"
        | "DeleteAccessLogSettings"
        | "DeleteRouteSettings" => call.stage_target()?,
        "CreateDeployment" => {
            // Checked before the stage so a deployment of an unknown API is an error,
            // not silently ignored.
            call.api_or_error()?;
            if call.stage().is_none() {
                return Ok(Mapped::Ignored(IgnoreReason::DeploymentWithoutStage));
            }
            call.stage_target()?
        }
        "CreateRestApi" | "ImportRestApi" | "PutRestApi" | "DeleteRestApi" | "UpdateRestApi" => {
            Target::RestApi {
                api_id: call.id(REST_API_ID, "REST API id (restApiId)")?.to_string(),
            }
        }
        "CreateApi" | "ImportApi" | "ReimportApi" | "UpdateApi" | "DeleteApi" => Target::V2Api {
            api_id: call.id(V2_API_ID, "API id (apiId)")?.to_string(),
        },
        "CreateRoute" | "UpdateRoute" | "DeleteRoute" => match call.api_or_error()? {
            Api::V2(id) => Target::V2Routes {
                api_id: id.to_string(),
            },
            // REST has no routes: a restApiId here is not a call we know.
            Api::Rest(_) => return Err(call.missing("v2 API id (apiId)")),
        },
        // PutIntegration is REST's way to create one.
        "CreateIntegration" | "UpdateIntegration" | "DeleteIntegration" | "PutIntegration" => {
            match call.api_or_error()? {
                Api::V2(id) => Target::V2Integrations {
                    api_id: id.to_string(),
                },
                // REST integrations matter only to the API's HTTP-integration lookup,
                // which a read of the whole API redoes.
                Api::Rest(id) => Target::RestApi {
                    api_id: id.to_string(),
                },
            }
        }
        "CreateDomainName" | "UpdateDomainName" | "DeleteDomainName" => Target::DomainName {
            name: call
                .request(DOMAIN_NAME)
                .or_else(|| call.response(DOMAIN_NAME))
                .ok_or_else(|| call.missing("domain name (domainName)"))?
                .to_string(),
        },
        "TagResource" | "UntagResource" => return call.arn_target(None),
        "UpdateAccount" => Target::Account,
        _ => return Ok(Mapped::Unknown),
    };
    Ok(Mapped::Target(target))
}

fn wafv2_target(call: &Call) -> Result<Mapped, ParseError> {
    match call.name {
        // WAFv2 protects load balancers, AppSync, Cognito and more: only API Gateway
        // stages concern us.
        "AssociateWebACL" | "DisassociateWebACL" => {
            call.arn_target(Some(IgnoreReason::UnrelatedResource))
        }
        _ => Ok(Mapped::Unknown),
    }
}

/// The first non-empty string under one of `keys`.
fn text_in<'a>(object: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .find_map(|key| object.get(*key)?.as_str().filter(|s| !s.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ACCOUNT: &str = "111122223333";

    /// An EventBridge "AWS API Call via CloudTrail" event as it lands in SQS, with the
    /// fields a real one has, built up per test.
    struct Event {
        value: Value,
    }

    impl Event {
        fn new(source: &str, event_source: &str, event_name: &str) -> Event {
            Event {
                value: json!({
                    "version": "0",
                    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
                    "detail-type": "AWS API Call via CloudTrail",
                    "source": source,
                    "account": ACCOUNT,
                    "time": "2026-03-04T05:06:07Z",
                    "region": "us-east-1",
                    "resources": [],
                    "detail": {
                        "eventVersion": "1.09",
                        "userIdentity": {
                            "type": "AssumedRole",
                            "principalId": "AROAEXAMPLEID:alice",
                            "arn": "arn:aws:sts::111122223333:assumed-role/Admin/alice",
                            "accountId": ACCOUNT,
                            "sessionContext": {
                                "attributes": {
                                    "creationDate": "2026-03-04T05:00:00Z",
                                    "mfaAuthenticated": "false"
                                }
                            }
                        },
                        "eventTime": "2026-03-04T05:06:05Z",
                        "eventSource": event_source,
                        "eventName": event_name,
                        "awsRegion": "us-east-1",
                        "sourceIPAddress": "203.0.113.10",
                        "userAgent": "aws-cli/2.15.0",
                        "requestParameters": {},
                        "responseElements": null,
                        "requestID": "0d3c1f6e-1e0e-4a4f-9c69-2f2c1e3f4a5b",
                        "eventID": "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b",
                        "readOnly": false,
                        "eventType": "AwsApiCall",
                        "managementEvent": true,
                        "recipientAccountId": ACCOUNT,
                        "eventCategory": "Management"
                    }
                }),
            }
        }

        fn apigateway(event_name: &str) -> Event {
            Event::new("aws.apigateway", APIGATEWAY, event_name)
        }

        fn wafv2(event_name: &str) -> Event {
            Event::new("aws.wafv2", WAFV2, event_name)
        }

        fn request(mut self, request: Value) -> Event {
            self.value["detail"]["requestParameters"] = request;
            self
        }

        fn response(mut self, response: Value) -> Event {
            self.value["detail"]["responseElements"] = response;
            self
        }

        fn detail(mut self, key: &str, value: Value) -> Event {
            self.value["detail"][key] = value;
            self
        }

        fn envelope(mut self, key: &str, value: Value) -> Event {
            self.value[key] = value;
            self
        }

        fn without(mut self, key: &str) -> Event {
            if let Some(o) = self.value.as_object_mut() {
                o.remove(key);
            }
            self
        }

        fn without_detail(mut self, key: &str) -> Event {
            if let Some(o) = self.value["detail"].as_object_mut() {
                o.remove(key);
            }
            self
        }

        fn body(&self) -> String {
            self.value.to_string()
        }

        fn parse(&self) -> Result<Parsed, ParseError> {
            parse(&self.body())
        }

        fn target(&self) -> Target {
            match self.parse() {
                Ok(Parsed::Change(change)) => change.target,
                other => panic!("expected a change, got {other:?}"),
            }
        }

        fn change(&self) -> ChangeEvent {
            match self.parse() {
                Ok(Parsed::Change(change)) => change,
                other => panic!("expected a change, got {other:?}"),
            }
        }

        fn ignored(&self) -> IgnoreReason {
            match self.parse() {
                Ok(Parsed::Ignored(reason)) => reason,
                other => panic!("expected ignored, got {other:?}"),
            }
        }
    }

    fn rest_stage(api: &str, stage: &str) -> Target {
        Target::RestStage {
            api_id: api.into(),
            stage: stage.into(),
        }
    }

    fn v2_stage(api: &str, stage: &str) -> Target {
        Target::V2Stage {
            api_id: api.into(),
            stage: stage.into(),
        }
    }

    fn rest_api(api: &str) -> Target {
        Target::RestApi { api_id: api.into() }
    }

    fn v2_api(api: &str) -> Target {
        Target::V2Api { api_id: api.into() }
    }

    fn time(s: &str) -> Option<Timestamp> {
        Some(s.parse().expect("timestamp"))
    }

    #[test]
    fn a_rest_stage_update_is_a_change_to_that_stage() {
        let event = Event::apigateway("UpdateStage")
            .request(json!({
                "restApiId": "a1b2c3",
                "stageName": "prod",
                "patchOperations": [{"op": "replace", "path": "/tracingEnabled", "value": "true"}]
            }))
            .response(json!({"stageName": "prod", "deploymentId": "d9", "tracingEnabled": true}));
        assert_eq!(
            event.change(),
            ChangeEvent {
                account: ACCOUNT.into(),
                region: "us-east-1".into(),
                event_name: "UpdateStage".into(),
                target: rest_stage("a1b2c3", "prod"),
                event_time: time("2026-03-04T05:06:05Z"),
            }
        );
    }

    #[test]
    fn rest_stage_events_name_the_stage() {
        for name in ["CreateStage", "UpdateStage", "DeleteStage"] {
            let event =
                Event::apigateway(name).request(json!({"restApiId": "a1", "stageName": "prod"}));
            assert_eq!(event.target(), rest_stage("a1", "prod"), "{name}");
        }
    }

    #[test]
    fn every_rest_api_id_spelling_is_read() {
        for key in REST_API_ID {
            let event =
                Event::apigateway("UpdateStage").request(json!({*key: "a1", "stageName": "prod"}));
            assert_eq!(event.target(), rest_stage("a1", "prod"), "{key}");
        }
    }

    #[test]
    fn every_v2_api_id_spelling_is_read() {
        for key in V2_API_ID {
            let event =
                Event::apigateway("UpdateStage").request(json!({*key: "v1", "stageName": "live"}));
            assert_eq!(event.target(), v2_stage("v1", "live"), "{key}");
        }
    }

    #[test]
    fn every_stage_name_spelling_is_read_also_nested() {
        for key in STAGE_NAME {
            let event =
                Event::apigateway("DeleteStage").request(json!({"restApiId": "a1", *key: "prod"}));
            assert_eq!(event.target(), rest_stage("a1", "prod"), "{key}");
            for nested in NESTED_INPUTS {
                let event = Event::apigateway("CreateStage").request(
                    json!({"restApiId": "a1", *nested: {*key: "prod", "deploymentId": "d1"}}),
                );
                assert_eq!(event.target(), rest_stage("a1", "prod"), "{nested}.{key}");
            }
        }
        // A create's response names the stage too.
        let event = Event::apigateway("CreateStage")
            .request(json!({"apiId": "v1"}))
            .response(json!({"stageName": "live"}));
        assert_eq!(event.target(), v2_stage("v1", "live"));
    }

    #[test]
    fn v2_stage_events_name_the_stage() {
        for name in [
            "CreateStage",
            "UpdateStage",
            "DeleteStage",
            "DeleteAccessLogSettings",
            "DeleteRouteSettings",
        ] {
            let event = Event::apigateway(name)
                .request(json!({"apiId": "v1", "stageName": "$default", "routeKey": "GET /pets"}));
            assert_eq!(event.target(), v2_stage("v1", "$default"), "{name}");
        }
    }

    #[test]
    fn a_deployment_changes_a_stage_only_when_it_names_one() {
        let rest = Event::apigateway("CreateDeployment")
            .request(json!({
                "restApiId": "a1",
                "createDeploymentInput": {"stageName": "prod", "description": "release"},
                "template": false
            }))
            .response(json!({"id": "dep123", "createdDate": "Mar 4, 2026 5:06:05 AM"}));
        assert_eq!(rest.target(), rest_stage("a1", "prod"));

        let v2 = Event::apigateway("CreateDeployment")
            .request(json!({"apiId": "v1", "stageName": "live"}))
            .response(json!({"deploymentId": "dep9", "deploymentStatus": "DEPLOYED"}));
        assert_eq!(v2.target(), v2_stage("v1", "live"));

        for request in [
            json!({"restApiId": "a1", "createDeploymentInput": {"description": "x"}}),
            json!({"apiId": "v1"}),
        ] {
            let event = Event::apigateway("CreateDeployment")
                .request(request)
                .response(json!({"id": "dep123"}));
            assert_eq!(event.ignored(), IgnoreReason::DeploymentWithoutStage);
        }
    }

    #[test]
    fn rest_api_events_name_the_api() {
        for key in ["id", "restApiId"] {
            for name in ["CreateRestApi", "ImportRestApi"] {
                let event = Event::apigateway(name)
                    .request(
                        json!({"name": "orders", "endpointConfiguration": {"types": ["REGIONAL"]}}),
                    )
                    .response(json!({key: "a1", "name": "orders"}));
                assert_eq!(event.target(), rest_api("a1"), "{name} {key}");
            }
        }
        for name in ["PutRestApi", "DeleteRestApi", "UpdateRestApi"] {
            let event = Event::apigateway(name).request(json!({"restApiId": "a1"}));
            assert_eq!(event.target(), rest_api("a1"), "{name}");
        }
    }

    #[test]
    fn v2_api_events_name_the_api() {
        for key in ["apiId", "id"] {
            for name in ["CreateApi", "ImportApi"] {
                let event = Event::apigateway(name)
                    .request(json!({"name": "chat", "protocolType": "WEBSOCKET"}))
                    .response(json!({key: "v1", "name": "chat"}));
                assert_eq!(event.target(), v2_api("v1"), "{name} {key}");
            }
        }
        for name in ["ReimportApi", "UpdateApi", "DeleteApi"] {
            for key in V2_API_ID {
                let event = Event::apigateway(name).request(json!({*key: "v1"}));
                assert_eq!(event.target(), v2_api("v1"), "{name} {key}");
            }
        }
    }

    #[test]
    fn route_events_name_the_apis_routes() {
        for name in ["CreateRoute", "UpdateRoute", "DeleteRoute"] {
            let event = Event::apigateway(name)
                .request(
                    json!({"apiId": "v1", "routeKey": "GET /pets", "authorizationType": "NONE"}),
                )
                .response(json!({"routeId": "r1"}));
            assert_eq!(
                event.target(),
                Target::V2Routes {
                    api_id: "v1".into()
                },
                "{name}"
            );
        }
        let rest = Event::apigateway("UpdateRoute").request(json!({"restApiId": "a1"}));
        assert!(matches!(
            rest.parse(),
            Err(ParseError::MissingResource { .. })
        ));
    }

    #[test]
    fn integration_events_name_v2_integrations_or_the_rest_api() {
        for name in [
            "CreateIntegration",
            "UpdateIntegration",
            "DeleteIntegration",
        ] {
            let v2 = Event::apigateway(name).request(
                json!({"apiId": "v1", "integrationId": "i1", "integrationType": "HTTP_PROXY"}),
            );
            assert_eq!(
                v2.target(),
                Target::V2Integrations {
                    api_id: "v1".into()
                },
                "{name}"
            );
        }
        for name in ["PutIntegration", "UpdateIntegration", "DeleteIntegration"] {
            let rest = Event::apigateway(name).request(
                json!({"restApiId": "a1", "resourceId": "res1", "httpMethod": "GET", "type": "HTTP"}),
            );
            assert_eq!(rest.target(), rest_api("a1"), "{name}");
        }
    }

    #[test]
    fn domain_name_events_name_the_domain() {
        for name in ["CreateDomainName", "UpdateDomainName", "DeleteDomainName"] {
            for key in DOMAIN_NAME {
                let event = Event::apigateway(name)
                    .request(json!({*key: "api.example.com", "securityPolicy": "TLS_1_2"}));
                assert_eq!(
                    event.target(),
                    Target::DomainName {
                        name: "api.example.com".into()
                    },
                    "{name} {key}"
                );
            }
        }
    }

    #[test]
    fn tags_name_the_resource_of_their_arn_in_its_region() {
        let cases = [
            ("arn:aws:apigateway:eu-west-1::/restapis/a1", rest_api("a1")),
            (
                "arn:aws:apigateway:eu-west-1::/restapis/a1/stages/prod",
                rest_stage("a1", "prod"),
            ),
            ("arn:aws:apigateway:eu-west-1::/apis/v1", v2_api("v1")),
            (
                "arn:aws:apigateway:eu-west-1::/apis/v1/stages/live",
                v2_stage("v1", "live"),
            ),
            (
                "arn:aws:apigateway:eu-west-1::/domainnames/api.example.com",
                Target::DomainName {
                    name: "api.example.com".into(),
                },
            ),
        ];
        for name in ["TagResource", "UntagResource"] {
            for key in RESOURCE_ARN {
                for (arn, target) in &cases {
                    // The call was made in us-east-1 (the envelope's region); the
                    // resource lives in eu-west-1.
                    let event = Event::apigateway(name)
                        .request(json!({*key: arn, "tags": {"team": "payments"}}));
                    let change = event.change();
                    assert_eq!(&change.target, target, "{name} {key} {arn}");
                    assert_eq!(change.region, "eu-west-1", "{name} {key} {arn}");
                }
            }
        }
    }

    #[test]
    fn tags_on_other_apigateway_resources_are_ignored_and_bad_arns_are_errors() {
        for arn in [
            "arn:aws:apigateway:us-east-1::/usageplans/u1",
            "arn:aws:apigateway:us-east-1::/apis/v1/routes/r1",
            "arn:aws:apigateway:us-east-1::/apis/v1/integrations/i1",
        ] {
            let event = Event::apigateway("TagResource").request(json!({"resourceArn": arn}));
            assert_eq!(event.ignored(), IgnoreReason::UnrelatedResource, "{arn}");
        }
        let bad = Event::apigateway("TagResource").request(json!({"resourceArn": "a1"}));
        let err = bad.parse().expect_err("bad ARN");
        assert!(matches!(err, ParseError::BadArn { .. }));
        assert!(err.to_string().contains("TagResource"), "{err}");

        let missing = Event::apigateway("UntagResource").request(json!({"tagKeys": ["x"]}));
        let err = missing.parse().expect_err("no ARN");
        assert!(err.to_string().contains("resourceArn"), "{err}");
    }

    #[test]
    fn an_account_update_concerns_the_region() {
        let event = Event::apigateway("UpdateAccount").request(json!({
            "patchOperations": [{"op": "replace", "path": "/cloudwatchRoleArn", "value": "arn:aws:iam::111122223333:role/apigw"}]
        }));
        assert_eq!(event.target(), Target::Account);
    }

    #[test]
    fn a_web_acl_association_names_the_stage_in_the_arns_region() {
        for name in ["AssociateWebACL", "DisassociateWebACL"] {
            for key in ["resourceArn", "ResourceArn"] {
                let event = Event::wafv2(name).request(json!({
                    "webACLArn": "arn:aws:wafv2:us-west-2:111122223333:regional/webacl/api/0a1b",
                    *key: "arn:aws:apigateway:us-west-2::/restapis/a1/stages/prod"
                }));
                let change = event.change();
                assert_eq!(change.target, rest_stage("a1", "prod"), "{name} {key}");
                assert_eq!(change.region, "us-west-2", "{name} {key}");
                assert_eq!(change.event_name, name);
            }
        }
    }

    #[test]
    fn a_web_acl_on_anything_but_api_gateway_is_ignored() {
        for arn in [
            "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/web/50dc6c495c0c9188",
            "arn:aws:appsync:us-east-1:111122223333:apis/abcdefghijklmnopqrstuvwxyz",
            "arn:aws:cognito-idp:us-east-1:111122223333:userpool/us-east-1_EXAMPLE",
        ] {
            let event = Event::wafv2("AssociateWebACL").request(json!({"resourceArn": arn}));
            assert_eq!(event.ignored(), IgnoreReason::UnrelatedResource, "{arn}");
        }
        let malformed = Event::wafv2("AssociateWebACL")
            .request(json!({"resourceArn": "arn:aws:apigateway:us-east-1::restapis/a1"}));
        assert!(matches!(malformed.parse(), Err(ParseError::BadArn { .. })));
        let missing = Event::wafv2("DisassociateWebACL").request(json!({}));
        assert!(matches!(
            missing.parse(),
            Err(ParseError::MissingResource { .. })
        ));
    }

    #[test]
    fn an_sns_notification_carries_the_event() {
        let inner = Event::apigateway("DeleteStage")
            .request(json!({"restApiId": "a1", "stageName": "prod"}))
            .body();
        let body = json!({
            "Type": "Notification",
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": "arn:aws:sns:us-east-1:111122223333:apigw-changes",
            "Message": inner,
            "Timestamp": "2026-03-04T05:06:08.000Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE",
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/cert.pem",
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"
        })
        .to_string();
        assert_eq!(parse(&body), parse(&inner));
        assert!(matches!(parse(&body), Ok(Parsed::Change(_))));

        let broken = json!({"Type": "Notification", "Message": "{not json"}).to_string();
        assert!(matches!(parse(&broken), Err(ParseError::SnsMessage(_))));
    }

    #[test]
    fn a_failed_call_changed_nothing() {
        let event = Event::apigateway("UpdateStage")
            .request(json!({"restApiId": "a1", "stageName": "prod"}))
            .detail("errorCode", json!("AccessDenied"))
            .detail("errorMessage", json!("User is not authorized"));
        assert_eq!(event.ignored(), IgnoreReason::FailedCall);
        // A null errorCode is no error.
        let event = Event::apigateway("UpdateStage")
            .request(json!({"restApiId": "a1", "stageName": "prod"}))
            .detail("errorCode", Value::Null);
        assert_eq!(event.target(), rest_stage("a1", "prod"));
    }

    #[test]
    fn reads_and_writes_to_what_is_not_read_are_ignored() {
        for name in ["GetStage", "GetRestApis", "GetApis"] {
            assert_eq!(
                Event::apigateway(name)
                    .detail("readOnly", json!(true))
                    .ignored(),
                IgnoreReason::ReadOnly,
                "{name}"
            );
        }
        assert_eq!(
            Event::wafv2("ListResourcesForWebACL").ignored(),
            IgnoreReason::ReadOnly
        );
        for name in [
            "UpdateMethod",
            "PutMethod",
            "CreateUsagePlan",
            "CreateApiKey",
            "CreateBasePathMapping",
            "DeleteDeployment",
        ] {
            let event = Event::apigateway(name).request(json!({"restApiId": "a1"}));
            assert_eq!(event.ignored(), IgnoreReason::Unrelated, "{name}");
        }
        assert_eq!(
            Event::wafv2("UpdateWebACL").ignored(),
            IgnoreReason::Unrelated
        );
        let s3 = Event::new("aws.s3", "s3.amazonaws.com", "PutBucketPolicy");
        assert_eq!(s3.ignored(), IgnoreReason::UnrelatedService);
        let s3_no_event_source = Event::new("aws.s3", "s3.amazonaws.com", "PutBucketPolicy")
            .without_detail("eventSource");
        assert_eq!(s3_no_event_source.ignored(), IgnoreReason::UnrelatedService);

        let other_kind = Event::apigateway("UpdateStage")
            .request(json!({"restApiId": "a1", "stageName": "prod"}))
            .envelope("detail-type", json!("Scheduled Event"));
        assert_eq!(other_kind.ignored(), IgnoreReason::NotACloudTrailCall);
        let s3_test = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#;
        assert_eq!(
            parse(s3_test),
            Ok(Parsed::Ignored(IgnoreReason::NotACloudTrailCall))
        );
    }

    #[test]
    fn the_service_falls_back_to_eventbridges_source() {
        let event = Event::apigateway("UpdateStage")
            .request(json!({"restApiId": "a1", "stageName": "prod"}))
            .without_detail("eventSource");
        assert_eq!(event.target(), rest_stage("a1", "prod"));
        let neither = event.without("source");
        assert_eq!(
            neither.parse(),
            Err(ParseError::MissingField("detail.eventSource"))
        );
    }

    #[test]
    fn malformed_bodies_are_errors() {
        assert!(matches!(parse(""), Err(ParseError::Json(_))));
        assert!(matches!(parse("{\"detail\":"), Err(ParseError::Json(_))));
        assert!(matches!(parse("not json"), Err(ParseError::Json(_))));
        assert_eq!(parse("[1,2]"), Err(ParseError::NotAnObject));
        assert_eq!(parse("\"x\""), Err(ParseError::NotAnObject));
        let no_detail = Event::apigateway("UpdateStage").without("detail");
        assert_eq!(no_detail.parse(), Err(ParseError::MissingField("detail")));
        let no_name = Event::apigateway("UpdateStage").without_detail("eventName");
        assert_eq!(
            no_name.parse(),
            Err(ParseError::MissingField("detail.eventName"))
        );
        let deep = "[".repeat(100_000);
        assert!(matches!(parse(&deep), Err(ParseError::Json(_))));
    }

    #[test]
    fn account_and_region_fall_back_to_cloudtrails_and_are_required() {
        let base = || {
            Event::apigateway("UpdateStage")
                .request(json!({"restApiId": "a1", "stageName": "prod"}))
                .detail("recipientAccountId", json!("444455556666"))
                .detail("awsRegion", json!("eu-central-1"))
        };
        let change = base().change();
        assert_eq!(
            (change.account.as_str(), change.region.as_str()),
            (ACCOUNT, "us-east-1")
        );

        let change = base().without("account").without("region").change();
        assert_eq!(
            (change.account.as_str(), change.region.as_str()),
            ("444455556666", "eu-central-1")
        );

        let err = base()
            .without("account")
            .without_detail("recipientAccountId")
            .parse()
            .expect_err("no account");
        assert_eq!(err, ParseError::MissingAccount);
        assert!(err.to_string().contains("recipientAccountId"), "{err}");

        let err = base()
            .without("region")
            .without_detail("awsRegion")
            .parse()
            .expect_err("no region");
        assert_eq!(err, ParseError::MissingRegion);
        assert!(err.to_string().contains("awsRegion"), "{err}");

        let err = base()
            .envelope("region", json!("../../etc"))
            .parse()
            .expect_err("bad region");
        assert_eq!(err, ParseError::BadRegion("../../etc".into()));
    }

    #[test]
    fn the_event_time_is_cloudtrails_else_eventbridges_else_none() {
        let base = || {
            Event::apigateway("UpdateStage")
                .request(json!({"restApiId": "a1", "stageName": "prod"}))
        };
        assert_eq!(base().change().event_time, time("2026-03-04T05:06:05Z"));
        assert_eq!(
            base().without_detail("eventTime").change().event_time,
            time("2026-03-04T05:06:07Z")
        );
        assert_eq!(
            base()
                .detail("eventTime", json!("yesterday"))
                .change()
                .event_time,
            time("2026-03-04T05:06:07Z")
        );
        assert_eq!(
            base()
                .without_detail("eventTime")
                .envelope("time", json!(12))
                .change()
                .event_time,
            None
        );
    }

    #[test]
    fn a_relevant_event_without_its_ids_is_an_error_that_says_what_is_missing() {
        let cases = [
            (
                Event::apigateway("UpdateStage").request(json!({"stageName": "prod"})),
                "API id",
            ),
            (
                Event::apigateway("UpdateStage").request(json!({"restApiId": "a1"})),
                "stage name",
            ),
            (
                Event::apigateway("CreateDeployment").request(json!({"stageName": "prod"})),
                "API id",
            ),
            (
                Event::apigateway("CreateRestApi").request(json!({"name": "x"})),
                "restApiId",
            ),
            (Event::apigateway("DeleteApi").request(json!({})), "apiId"),
            (
                Event::apigateway("CreateRoute").request(json!({"routeKey": "GET /"})),
                "apiId",
            ),
            (
                Event::apigateway("PutIntegration").request(json!({"resourceId": "r"})),
                "API id",
            ),
            (
                Event::apigateway("DeleteDomainName").request(json!({})),
                "domainName",
            ),
            // Present but not a string is as good as missing.
            (
                Event::apigateway("DeleteStage").request(json!({"restApiId": 7, "stageName": "p"})),
                "API id",
            ),
            (
                Event::apigateway("DeleteStage")
                    .request(json!({"restApiId": "", "stageName": "p"})),
                "API id",
            ),
            (
                Event::apigateway("DeleteStage").request(Value::Null),
                "API id",
            ),
        ];
        for (event, what) in cases {
            let err = event.parse().expect_err(what);
            assert!(
                matches!(err, ParseError::MissingResource { .. }),
                "{what}: {err:?}"
            );
            let message = err.to_string();
            assert!(message.contains(what), "{message}");
        }
    }

    #[test]
    fn ignore_labels_are_stable_and_distinct() {
        let labels: Vec<&str> = IgnoreReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            labels,
            [
                "notCloudTrailCall",
                "unrelatedService",
                "failedCall",
                "readOnly",
                "unrelated",
                "deploymentWithoutStage",
                "unrelatedResource"
            ]
        );
    }

    /// xorshift64: deterministic pseudo-random numbers without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len())]
        }
    }

    /// A JSON value of random shape, with the keys the parser looks for, so the fuzzing
    /// reaches the mapping and not only serde_json's errors.
    fn random_value(rng: &mut Rng, depth: usize) -> Value {
        const KEYS: &[&str] = &[
            "detail-type",
            "detail",
            "source",
            "account",
            "region",
            "time",
            "eventSource",
            "eventName",
            "errorCode",
            "requestParameters",
            "responseElements",
            "restApiId",
            "apiId",
            "stageName",
            "createStageInput",
            "createDeploymentInput",
            "id",
            "domainName",
            "resourceArn",
            "recipientAccountId",
            "awsRegion",
            "eventTime",
            "readOnly",
            "Type",
            "Message",
        ];
        const STRINGS: &[&str] = &[
            "AWS API Call via CloudTrail",
            "apigateway.amazonaws.com",
            "wafv2.amazonaws.com",
            "aws.apigateway",
            "UpdateStage",
            "CreateDeployment",
            "TagResource",
            "AssociateWebACL",
            "CreateApi",
            "CreateIntegration",
            "UpdateAccount",
            "arn:aws:apigateway:us-east-1::/restapis/a1/stages/prod",
            "arn:aws:apigateway:::/",
            "arn:aws:apigateway:us-east-1::/apis//stages/",
            "Notification",
            "us-east-1",
            "111122223333",
            "2026-03-04T05:06:05Z",
            "",
            "é\u{0}",
        ];
        match rng.below(if depth > 4 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => Value::Bool(rng.below(2) == 0),
            2 => json!(rng.next() as i64),
            3 | 4 => Value::String(rng.pick(STRINGS).to_string()),
            5 => Value::Array(
                (0..rng.below(4))
                    .map(|_| random_value(rng, depth + 1))
                    .collect(),
            ),
            _ => {
                let mut object = Map::new();
                for _ in 0..rng.below(8) {
                    object.insert(rng.pick(KEYS).to_string(), random_value(rng, depth + 1));
                }
                Value::Object(object)
            }
        }
    }

    #[test]
    fn no_input_makes_the_parser_panic() {
        let valid: Vec<String> = vec![
            Event::apigateway("UpdateStage")
                .request(json!({"restApiId": "a1", "stageName": "prod"}))
                .body(),
            Event::apigateway("CreateDeployment")
                .request(json!({"restApiId": "a1", "createDeploymentInput": {"stageName": "p"}}))
                .body(),
            Event::apigateway("TagResource")
                .request(json!({"resourceArn": "arn:aws:apigateway:eu-west-1::/apis/v1/stages/live"}))
                .body(),
            Event::wafv2("AssociateWebACL")
                .request(json!({"resourceArn": "arn:aws:apigateway:us-west-2::/restapis/a1/stages/prod"}))
                .body(),
            json!({"Type": "Notification", "Message": Event::apigateway("CreateApi")
                .response(json!({"apiId": "v1"})).body()})
            .to_string(),
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        // Changes, ignored events and errors: each is reached, so the fuzzing is not
        // all serde_json errors.
        let mut outcomes = [0usize; 3];
        let mut run = |bytes: &[u8]| {
            let outcome = match parse(&String::from_utf8_lossy(bytes)) {
                Ok(Parsed::Change(_)) => 0,
                Ok(Parsed::Ignored(_)) => 1,
                Err(_) => 2,
            };
            outcomes[outcome] += 1;
        };
        for body in &valid {
            let bytes = body.as_bytes();
            for end in 0..=bytes.len() {
                run(&bytes[..end]);
            }
            for _ in 0..500 {
                let mut mutated = bytes.to_vec();
                for _ in 0..=rng.below(4) {
                    let at = rng.below(mutated.len());
                    mutated[at] = rng.next() as u8;
                }
                run(&mutated);
            }
        }
        const ALPHABET: &[u8] = b"{}[]\":,.-0123456789aeflnrstu\\ \n\xff\xc3";
        for _ in 0..2000 {
            let bytes: Vec<u8> = (0..rng.below(64))
                .map(|_| {
                    if rng.below(4) == 0 {
                        rng.next() as u8
                    } else {
                        *rng.pick(ALPHABET)
                    }
                })
                .collect();
            run(&bytes);
        }
        for _ in 0..3000 {
            run(random_value(&mut rng, 0).to_string().as_bytes());
        }
        // Real envelopes whose CloudTrail fields are random, to reach every mapping.
        const NAMES: &[&str] = &[
            "CreateStage",
            "CreateDeployment",
            "CreateRestApi",
            "CreateApi",
            "CreateRoute",
            "PutIntegration",
            "CreateDomainName",
            "TagResource",
            "UpdateAccount",
            "AssociateWebACL",
            "GetStage",
        ];
        for i in 0..3000 {
            let mut event = if i % 2 == 0 {
                Event::apigateway(rng.pick::<&str>(NAMES))
            } else {
                Event::wafv2(rng.pick::<&str>(NAMES))
            };
            for field in [
                "requestParameters",
                "responseElements",
                "errorCode",
                "eventTime",
            ] {
                event = event.detail(field, random_value(&mut rng, 1));
            }
            for field in ["account", "region"] {
                if rng.below(4) == 0 {
                    event = event.envelope(field, random_value(&mut rng, 3));
                }
            }
            run(event.body().as_bytes());
        }
        assert!(outcomes.iter().sum::<usize>() > 5000, "{outcomes:?}");
        assert!(outcomes.iter().all(|n| *n > 100), "{outcomes:?}");
    }
}

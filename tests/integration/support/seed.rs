//! Seeding moto with API Gateway resources for tests, through the same AWS SDK the
//! product uses. Every call here is a real request to the moto server.

use aws_config::SdkConfig;
use aws_sdk_apigateway::types::{IntegrationType, Op, PatchOperation};
use aws_sdk_apigatewayv2::types::{
    AccessLogSettings, AuthorizationType, LoggingLevel, ProtocolType, RouteSettings,
};

/// A REST API with one resource (`/orders/{id}`, GET and POST with a MOCK integration)
/// and one deployment, ready for stages. Returns (api id, deployment id).
pub async fn rest_api(sdk: &SdkConfig, name: &str) -> (String, String) {
    rest_api_with_integration(sdk, name, IntegrationType::Mock).await
}

/// Like `rest_api`, with the given integration type on every method.
pub async fn rest_api_with_integration(
    sdk: &SdkConfig,
    name: &str,
    integration: IntegrationType,
) -> (String, String) {
    let client = aws_sdk_apigateway::Client::new(sdk);
    let api = client
        .create_rest_api()
        .name(name)
        .send()
        .await
        .expect("CreateRestApi");
    let api_id = api.id().expect("api id").to_string();
    let resources = client
        .get_resources()
        .rest_api_id(&api_id)
        .send()
        .await
        .expect("GetResources");
    let root_id = resources
        .items()
        .iter()
        .find(|r| r.path() == Some("/"))
        .and_then(|r| r.id())
        .expect("root resource")
        .to_string();
    let orders = client
        .create_resource()
        .rest_api_id(&api_id)
        .parent_id(&root_id)
        .path_part("orders")
        .send()
        .await
        .expect("CreateResource /orders");
    let order = client
        .create_resource()
        .rest_api_id(&api_id)
        .parent_id(orders.id().expect("orders id"))
        .path_part("{id}")
        .send()
        .await
        .expect("CreateResource /orders/{id}");
    let resource_id = order.id().expect("order id").to_string();
    for method in ["GET", "POST"] {
        client
            .put_method()
            .rest_api_id(&api_id)
            .resource_id(&resource_id)
            .http_method(method)
            .authorization_type("NONE")
            .send()
            .await
            .expect("PutMethod");
        let mut put = client
            .put_integration()
            .rest_api_id(&api_id)
            .resource_id(&resource_id)
            .http_method(method)
            .r#type(integration.clone());
        if matches!(
            integration,
            IntegrationType::Http | IntegrationType::HttpProxy
        ) {
            put = put
                .integration_http_method(method)
                .uri("https://backend.example.com/orders/{id}");
        }
        put.send().await.expect("PutIntegration");
    }
    let deployment = client
        .create_deployment()
        .rest_api_id(&api_id)
        .send()
        .await
        .expect("CreateDeployment");
    (api_id, deployment.id().expect("deployment id").to_string())
}

/// A REST stage, then one UpdateStage with the given patch operations
/// (`(path, value)` pairs, all `replace`), e.g. `("/*/*/logging/loglevel", "INFO")`.
pub async fn rest_stage(
    sdk: &SdkConfig,
    api_id: &str,
    deployment_id: &str,
    stage: &str,
    patches: &[(&str, &str)],
) {
    let client = aws_sdk_apigateway::Client::new(sdk);
    client
        .create_stage()
        .rest_api_id(api_id)
        .deployment_id(deployment_id)
        .stage_name(stage)
        .send()
        .await
        .expect("CreateStage");
    if !patches.is_empty() {
        update_rest_stage(sdk, api_id, stage, patches).await;
    }
}

/// UpdateStage of a REST stage with `replace` operations (what someone changes in AWS).
pub async fn update_rest_stage(
    sdk: &SdkConfig,
    api_id: &str,
    stage: &str,
    patches: &[(&str, &str)],
) {
    aws_sdk_apigateway::Client::new(sdk)
        .update_stage()
        .rest_api_id(api_id)
        .stage_name(stage)
        .set_patch_operations(Some(
            patches
                .iter()
                .map(|(path, value)| replace(path, value))
                .collect(),
        ))
        .send()
        .await
        .expect("UpdateStage");
}

/// A REST `replace` patch operation (UpdateStage, UpdateAccount).
pub fn replace(path: &str, value: &str) -> PatchOperation {
    PatchOperation::builder()
        .op(Op::Replace)
        .path(path)
        .value(value)
        .build()
}

/// The stage settings a fully compliant REST stage has (APIGateway.1, .3, .5; .2 and
/// .4 need a certificate and a web ACL, set separately).
pub const COMPLIANT_REST_PATCHES: &[(&str, &str)] = &[
    ("/*/*/logging/loglevel", "INFO"),
    ("/tracingEnabled", "true"),
];

/// A REST API (see `rest_api`) with a compliant `prod` stage and a bare `dev` stage:
/// the usual small estate, where `dev` fails APIGateway.1 and .3. Returns the API id.
pub async fn rest_api_with_prod_and_dev(sdk: &SdkConfig, name: &str) -> String {
    let (api_id, deployment_id) = rest_api(sdk, name).await;
    rest_stage(sdk, &api_id, &deployment_id, "prod", COMPLIANT_REST_PATCHES).await;
    rest_stage(sdk, &api_id, &deployment_id, "dev", &[]).await;
    api_id
}

/// Names a CloudWatch Logs role in API Gateway's account settings for the region:
/// execution logging's precondition.
pub async fn set_cloudwatch_role(sdk: &SdkConfig, account_id: &str) {
    aws_sdk_apigateway::Client::new(sdk)
        .update_account()
        .patch_operations(replace(
            "/cloudwatchRoleArn",
            &format!("arn:aws:iam::{account_id}:role/apigw-cloudwatch"),
        ))
        .send()
        .await
        .expect("UpdateAccount");
}

/// A v2 API of the given protocol. Returns its id.
pub async fn v2_api(sdk: &SdkConfig, name: &str, protocol: ProtocolType) -> String {
    let client = aws_sdk_apigatewayv2::Client::new(sdk);
    let mut create = client
        .create_api()
        .name(name)
        .protocol_type(protocol.clone());
    if protocol == ProtocolType::Websocket {
        create = create.route_selection_expression("$request.body.action");
    }
    create
        .send()
        .await
        .expect("CreateApi")
        .api_id()
        .expect("api id")
        .to_string()
}

/// A v2 route with the given authorization type (None leaves it unset). Returns its id.
pub async fn v2_route(
    sdk: &SdkConfig,
    api_id: &str,
    route_key: &str,
    authorization: Option<AuthorizationType>,
) -> String {
    let client = aws_sdk_apigatewayv2::Client::new(sdk);
    client
        .create_route()
        .api_id(api_id)
        .route_key(route_key)
        .set_authorization_type(authorization)
        .send()
        .await
        .expect("CreateRoute")
        .route_id()
        .expect("route id")
        .to_string()
}

/// What a seeded v2 stage is configured with.
#[derive(Default)]
pub struct V2StageSpec<'a> {
    pub default_logging_level: Option<LoggingLevel>,
    pub route_logging_levels: &'a [(&'a str, LoggingLevel)],
    /// (destination ARN, format)
    pub access_log: Option<(&'a str, &'a str)>,
    pub description: Option<&'a str>,
}

/// A v2 stage created with the given settings.
pub async fn v2_stage(sdk: &SdkConfig, api_id: &str, stage: &str, spec: V2StageSpec<'_>) {
    let client = aws_sdk_apigatewayv2::Client::new(sdk);
    let mut create = client
        .create_stage()
        .api_id(api_id)
        .stage_name(stage)
        .set_description(spec.description.map(str::to_string));
    if let Some(level) = spec.default_logging_level {
        create =
            create.default_route_settings(RouteSettings::builder().logging_level(level).build());
    }
    for (route_key, level) in spec.route_logging_levels {
        create = create.route_settings(
            *route_key,
            RouteSettings::builder()
                .logging_level(level.clone())
                .build(),
        );
    }
    if let Some((destination, format)) = spec.access_log {
        create = create.access_log_settings(
            AccessLogSettings::builder()
                .destination_arn(destination)
                .format(format)
                .build(),
        );
    }
    create.send().await.expect("CreateStage (v2)");
}

/// A REGIONAL WAFv2 web ACL (allow by default), associated with nothing. Returns its ARN.
pub async fn web_acl(sdk: &SdkConfig, name: &str) -> String {
    use aws_sdk_wafv2::types::{AllowAction, DefaultAction, Scope, VisibilityConfig};
    aws_sdk_wafv2::Client::new(sdk)
        .create_web_acl()
        .name(name)
        .scope(Scope::Regional)
        .default_action(
            DefaultAction::builder()
                .allow(AllowAction::builder().build())
                .build(),
        )
        .visibility_config(
            VisibilityConfig::builder()
                .sampled_requests_enabled(false)
                .cloud_watch_metrics_enabled(false)
                .metric_name(name)
                .build()
                .expect("visibility config"),
        )
        .send()
        .await
        .expect("CreateWebACL")
        .summary()
        .and_then(|s| s.arn())
        .expect("web ACL ARN")
        .to_string()
}

/// A REGIONAL WAFv2 web ACL associated with a REST stage. Returns the ACL ARN.
pub async fn associate_web_acl(sdk: &SdkConfig, region: &str, api_id: &str, stage: &str) -> String {
    let arn = web_acl(sdk, &format!("acl-{api_id}-{stage}")).await;
    aws_sdk_wafv2::Client::new(sdk)
        .associate_web_acl()
        .web_acl_arn(&arn)
        .resource_arn(format!(
            "arn:aws:apigateway:{region}::/restapis/{api_id}/stages/{stage}"
        ))
        .send()
        .await
        .expect("AssociateWebACL");
    arn
}

/// A v2 integration: over a VPC link to a load balancer listener, or over the
/// internet; `server_name` is its TlsConfig (`None`: none; `Some(None)`: one without
/// ServerNameToVerify). Returns its id.
pub async fn v2_integration(
    sdk: &SdkConfig,
    api: &str,
    vpc_link: bool,
    server_name: Option<Option<&str>>,
) -> String {
    use aws_sdk_apigatewayv2::types::{ConnectionType, IntegrationType, TlsConfigInput};
    let client = aws_sdk_apigatewayv2::Client::new(sdk);
    let mut create = client
        .create_integration()
        .api_id(api)
        .integration_type(IntegrationType::HttpProxy)
        .integration_method("ANY")
        .payload_format_version("1.0");
    if vpc_link {
        create = create
            .connection_type(ConnectionType::VpcLink)
            .connection_id("vpclink1")
            .integration_uri(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/orders/1/2",
            );
    } else {
        create = create
            .connection_type(ConnectionType::Internet)
            .integration_uri("https://backend.example.com");
    }
    if let Some(name) = server_name {
        create = create.tls_config(
            TlsConfigInput::builder()
                .set_server_name_to_verify(name.map(str::to_string))
                .build(),
        );
    }
    create
        .send()
        .await
        .expect("CreateIntegration")
        .integration_id()
        .expect("integration id")
        .to_string()
}

/// A custom domain name of one endpoint type (`REGIONAL`, `EDGE`) and security policy.
pub async fn domain_name(sdk: &SdkConfig, name: &str, endpoint: &str, policy: &str) {
    use aws_sdk_apigateway::types::{EndpointConfiguration, EndpointType, SecurityPolicy};
    aws_sdk_apigateway::Client::new(sdk)
        .create_domain_name()
        .domain_name(name)
        .regional_certificate_arn("arn:aws:acm:us-east-1:123456789012:certificate/abc")
        .endpoint_configuration(
            EndpointConfiguration::builder()
                .types(EndpointType::from(endpoint))
                .build(),
        )
        .security_policy(SecurityPolicy::from(policy))
        .send()
        .await
        .expect("CreateDomainName");
}

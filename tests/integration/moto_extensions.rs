//! The moto test server (tests/moto/server.py) does what the product relies on:
//! each extension over moto 5.2.5, the native behaviour the product reads, per-test
//! account isolation, the call counter and throttling. Everything goes through the
//! Rust AWS SDK the product uses.

use std::collections::HashSet;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_sdk_apigateway::error::ProvideErrorMetadata;
use aws_sdk_apigateway::operation::get_stage::GetStageOutput as RestStage;
use aws_sdk_apigateway::operation::get_stages::GetStagesOutput as RestStages;
use aws_sdk_apigatewayv2::operation::get_stage::GetStageOutput as V2Stage;
use aws_sdk_apigatewayv2::types::{
    AccessLogSettings, AuthorizationType, LoggingLevel, ProtocolType, RouteSettings,
};
use aws_sdk_wafv2::types::Scope;

use crate::support::moto::{MotoAccount, new_account};
use crate::support::seed::{self, V2StageSpec, replace};

const REGION: &str = "us-east-1";

fn rest(acct: &MotoAccount) -> aws_sdk_apigateway::Client {
    aws_sdk_apigateway::Client::new(&acct.sdk_config(REGION))
}

fn v2(acct: &MotoAccount) -> aws_sdk_apigatewayv2::Client {
    aws_sdk_apigatewayv2::Client::new(&acct.sdk_config(REGION))
}

fn waf(acct: &MotoAccount) -> aws_sdk_wafv2::Client {
    aws_sdk_wafv2::Client::new(&acct.sdk_config(REGION))
}

/// A REST API (`seed::rest_api`) whose `stage` is made by CreateDeployment with a stage
/// name, as a first deploy makes it (not by CreateStage); returns the API id.
async fn rest_api_with_stage(acct: &MotoAccount, stage: &str) -> String {
    let (api_id, _) = seed::rest_api(&acct.sdk_config(REGION), "orders").await;
    rest(acct)
        .create_deployment()
        .rest_api_id(&api_id)
        .stage_name(stage)
        .send()
        .await
        .expect("CreateDeployment");
    api_id
}

/// v2 route settings with only a logging level.
fn logging_at(level: LoggingLevel) -> RouteSettings {
    RouteSettings::builder().logging_level(level).build()
}

fn access_log(destination_arn: &str, format: &str) -> AccessLogSettings {
    AccessLogSettings::builder()
        .destination_arn(destination_arn)
        .format(format)
        .build()
}

async fn get_rest_stage(
    client: &aws_sdk_apigateway::Client,
    api_id: &str,
    stage: &str,
) -> RestStage {
    client
        .get_stage()
        .rest_api_id(api_id)
        .stage_name(stage)
        .send()
        .await
        .expect("GetStage")
}

async fn get_rest_stages(client: &aws_sdk_apigateway::Client, api_id: &str) -> RestStages {
    client
        .get_stages()
        .rest_api_id(api_id)
        .send()
        .await
        .expect("GetStages")
}

async fn get_v2_stage(client: &aws_sdk_apigatewayv2::Client, api_id: &str, stage: &str) -> V2Stage {
    client
        .get_stage()
        .api_id(api_id)
        .stage_name(stage)
        .send()
        .await
        .expect("GetStage")
}

#[tokio::test]
async fn rest_stage_client_certificate_round_trip() {
    let acct = new_account().await;
    let client = rest(&acct);
    let api_id = rest_api_with_stage(&acct, "prod").await;

    let before = get_rest_stage(&client, &api_id, "prod").await;
    assert_eq!(before.client_certificate_id(), None);

    let cert = client
        .generate_client_certificate()
        .send()
        .await
        .expect("GenerateClientCertificate");
    let cert_id = cert.client_certificate_id().expect("certificate id");

    let updated = client
        .update_stage()
        .rest_api_id(&api_id)
        .stage_name("prod")
        .patch_operations(replace("/clientCertificateId", cert_id))
        .send()
        .await
        .expect("UpdateStage");
    assert_eq!(updated.client_certificate_id(), Some(cert_id));

    let stages = get_rest_stages(&client, &api_id).await;
    let prod = stages
        .item()
        .iter()
        .find(|s| s.stage_name() == Some("prod"))
        .expect("prod stage");
    assert_eq!(prod.client_certificate_id(), Some(cert_id));
    let got = get_rest_stage(&client, &api_id, "prod").await;
    assert_eq!(got.client_certificate_id(), Some(cert_id));

    // A certificate that does not exist in the account is refused, as AWS does, and
    // the stage keeps the one it had.
    let err = client
        .update_stage()
        .rest_api_id(&api_id)
        .stage_name("prod")
        .patch_operations(replace("/clientCertificateId", "nosuch"))
        .send()
        .await
        .expect_err("unknown certificate id must be refused");
    assert_eq!(err.code(), Some("BadRequestException"));
    let got = get_rest_stage(&client, &api_id, "prod").await;
    assert_eq!(got.client_certificate_id(), Some(cert_id));

    // Redeploying the stage keeps its settings (moto alone would blank the stage).
    client
        .create_deployment()
        .rest_api_id(&api_id)
        .stage_name("prod")
        .send()
        .await
        .expect("CreateDeployment");
    let got = get_rest_stage(&client, &api_id, "prod").await;
    assert_eq!(got.client_certificate_id(), Some(cert_id));
}

#[tokio::test]
async fn generate_get_and_list_client_certificates() {
    let acct = new_account().await;
    let client = rest(&acct);

    let made = client
        .generate_client_certificate()
        .description("backend mTLS")
        .send()
        .await
        .expect("GenerateClientCertificate");
    let id = made.client_certificate_id().expect("id").to_string();
    let pem = made.pem_encoded_certificate().expect("pem");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert!(
        pem.trim_end().ends_with("-----END CERTIFICATE-----"),
        "{pem}"
    );
    let created = made.created_date().expect("createdDate").secs();
    let expires = made.expiration_date().expect("expirationDate").secs();
    assert_eq!(
        expires - created,
        365 * 24 * 3600,
        "certificates last 365 days"
    );

    let got = client
        .get_client_certificate()
        .client_certificate_id(&id)
        .send()
        .await
        .expect("GetClientCertificate");
    assert_eq!(got.client_certificate_id(), Some(id.as_str()));
    assert_eq!(got.description(), Some("backend mTLS"));
    assert_eq!(got.pem_encoded_certificate(), Some(pem));

    let second = client
        .generate_client_certificate()
        .send()
        .await
        .expect("GenerateClientCertificate");
    let listed: HashSet<String> = client
        .get_client_certificates()
        .send()
        .await
        .expect("GetClientCertificates")
        .items()
        .iter()
        .filter_map(|c| c.client_certificate_id().map(str::to_string))
        .collect();
    let expected: HashSet<String> = [
        id.clone(),
        second
            .client_certificate_id()
            .expect("certificate id")
            .into(),
    ]
    .into_iter()
    .collect();
    assert_eq!(listed, expected);

    let err = client
        .get_client_certificate()
        .client_certificate_id("absent")
        .send()
        .await
        .expect_err("unknown certificate");
    assert!(err.into_service_error().is_not_found_exception());

    // Certificates belong to their account: another one sees none.
    let other = new_account().await;
    let theirs = rest(&other)
        .get_client_certificates()
        .send()
        .await
        .expect("GetClientCertificates");
    assert!(theirs.items().is_empty());
}

/// The REST UpdateStage patch paths the product sends are stored in methodSettings
/// under the keys and with the values AWS returns.
#[tokio::test]
async fn rest_stage_patch_operations_land_in_method_settings() {
    let acct = new_account().await;
    let client = rest(&acct);
    let api_id = rest_api_with_stage(&acct, "prod").await;

    client
        .update_stage()
        .rest_api_id(&api_id)
        .stage_name("prod")
        .patch_operations(replace("/*/*/logging/loglevel", "ERROR"))
        .patch_operations(replace("/~1orders~1{id}/GET/logging/loglevel", "INFO"))
        .patch_operations(replace("/~1orders~1{id}/GET/caching/enabled", "true"))
        .patch_operations(replace("/*/*/caching/dataEncrypted", "true"))
        .patch_operations(replace("/tracingEnabled", "true"))
        .patch_operations(replace("/cacheClusterEnabled", "true"))
        .send()
        .await
        .expect("UpdateStage");

    let stages = get_rest_stages(&client, &api_id).await;
    let stage = &stages.item()[0];
    assert!(stage.tracing_enabled());
    assert!(stage.cache_cluster_enabled());
    let settings = stage.method_settings().expect("methodSettings");
    let keys: HashSet<&str> = settings.keys().map(String::as_str).collect();
    assert_eq!(keys, HashSet::from(["*/*", "~1orders~1{id}/GET"]));

    let all = &settings["*/*"];
    assert_eq!(all.logging_level(), Some("ERROR"));
    assert!(all.cache_data_encrypted());
    assert!(!all.caching_enabled());

    // A new per-method entry starts from AWS's defaults: caching on here, but the
    // cache is NOT encrypted unless asked (moto alone said it was).
    let orders = &settings["~1orders~1{id}/GET"];
    assert_eq!(orders.logging_level(), Some("INFO"));
    assert!(orders.caching_enabled());
    assert!(!orders.cache_data_encrypted());
    assert!(!orders.data_trace_enabled());

    // The per-method fix the product applies for APIGateway.5.
    client
        .update_stage()
        .rest_api_id(&api_id)
        .stage_name("prod")
        .patch_operations(replace("/~1orders~1{id}/GET/caching/dataEncrypted", "true"))
        .send()
        .await
        .expect("UpdateStage");
    let stage = get_rest_stage(&client, &api_id, "prod").await;
    let orders = &stage.method_settings().expect("methodSettings")["~1orders~1{id}/GET"];
    assert!(orders.cache_data_encrypted());
    assert_eq!(orders.logging_level(), Some("INFO"), "other fields kept");
}

#[tokio::test]
async fn v2_stage_settings_round_trip() {
    let acct = new_account().await;
    let sdk = acct.sdk_config(REGION);
    let client = v2(&acct);
    let api_id = seed::v2_api(&sdk, "chat", ProtocolType::Websocket).await;
    let log_group = format!("arn:aws:logs:{REGION}:{}:log-group:chat", acct.account_id);

    // CreateStage stores the three settings natively.
    seed::v2_stage(
        &sdk,
        &api_id,
        "prod",
        V2StageSpec {
            default_logging_level: Some(LoggingLevel::Error),
            route_logging_levels: &[("sendmessage", LoggingLevel::Off)],
            access_log: Some((&log_group, "$context.requestId")),
            description: Some("keep me"),
        },
    )
    .await;
    let stage = get_v2_stage(&client, &api_id, "prod").await;
    assert_eq!(
        stage
            .default_route_settings()
            .expect("defaultRouteSettings")
            .logging_level(),
        Some(&LoggingLevel::Error)
    );
    assert_eq!(
        stage.route_settings().expect("routeSettings")["sendmessage"].logging_level(),
        Some(&LoggingLevel::Off)
    );
    assert_eq!(
        stage
            .access_log_settings()
            .expect("accessLogSettings")
            .format(),
        Some("$context.requestId")
    );

    // UpdateStage (absent from moto 5.2.5): each field sent replaces the stage's.
    let format = "$context.requestId $context.status";
    let updated = client
        .update_stage()
        .api_id(&api_id)
        .stage_name("prod")
        .default_route_settings(
            RouteSettings::builder()
                .logging_level(LoggingLevel::Info)
                .data_trace_enabled(false)
                .build(),
        )
        .route_settings("sendmessage", logging_at(LoggingLevel::Error))
        .route_settings("$default", logging_at(LoggingLevel::Info))
        .access_log_settings(access_log(&log_group, format))
        .send()
        .await
        .expect("UpdateStage");
    assert_eq!(
        updated
            .default_route_settings()
            .expect("defaultRouteSettings")
            .logging_level(),
        Some(&LoggingLevel::Info)
    );

    let stages = client
        .get_stages()
        .api_id(&api_id)
        .send()
        .await
        .expect("GetStages");
    assert_eq!(stages.items().len(), 1);
    let stage = &stages.items()[0];
    assert_eq!(stage.description(), Some("keep me"), "absent fields kept");
    assert_eq!(
        stage
            .default_route_settings()
            .expect("defaultRouteSettings")
            .logging_level(),
        Some(&LoggingLevel::Info)
    );
    let routes = stage.route_settings().expect("routeSettings");
    assert_eq!(routes.len(), 2);
    assert_eq!(
        routes["sendmessage"].logging_level(),
        Some(&LoggingLevel::Error)
    );
    assert_eq!(
        routes["$default"].logging_level(),
        Some(&LoggingLevel::Info)
    );
    let access = stage.access_log_settings().expect("accessLogSettings");
    assert_eq!(access.destination_arn(), Some(log_group.as_str()));
    assert_eq!(access.format(), Some(format));

    // Only the access log changes: route settings stay as they were.
    client
        .update_stage()
        .api_id(&api_id)
        .stage_name("prod")
        .access_log_settings(access_log(&log_group, "$context.requestId"))
        .send()
        .await
        .expect("UpdateStage");
    let stage = get_v2_stage(&client, &api_id, "prod").await;
    assert_eq!(
        stage
            .default_route_settings()
            .expect("defaultRouteSettings")
            .logging_level(),
        Some(&LoggingLevel::Info)
    );
    assert_eq!(stage.route_settings().expect("routeSettings").len(), 2);
    assert_eq!(
        stage
            .access_log_settings()
            .expect("accessLogSettings")
            .format(),
        Some("$context.requestId")
    );

    let missing = client
        .update_stage()
        .api_id(&api_id)
        .stage_name("nosuch")
        .description("x")
        .send()
        .await
        .expect_err("unknown stage");
    assert!(missing.into_service_error().is_not_found_exception());
}

#[tokio::test]
async fn v2_http_stage_refuses_execution_logging() {
    let acct = new_account().await;
    let sdk = acct.sdk_config(REGION);
    let client = v2(&acct);
    let api_id = seed::v2_api(&sdk, "web", ProtocolType::Http).await;
    seed::v2_stage(&sdk, &api_id, "$default", V2StageSpec::default()).await;
    let err = client
        .update_stage()
        .api_id(&api_id)
        .stage_name("$default")
        .default_route_settings(logging_at(LoggingLevel::Info))
        .send()
        .await
        .expect_err("AWS refuses execution logging on HTTP APIs");
    assert_eq!(
        aws_sdk_apigatewayv2::error::ProvideErrorMetadata::code(&err),
        Some("BadRequestException")
    );
    // Access logging is fine on HTTP APIs (APIGateway.9).
    let stage = client
        .update_stage()
        .api_id(&api_id)
        .stage_name("$default")
        .access_log_settings(access_log(
            &format!("arn:aws:logs:{REGION}:{}:log-group:web", acct.account_id),
            "$context.requestId",
        ))
        .send()
        .await
        .expect("UpdateStage");
    assert!(stage.access_log_settings().is_some());
}

#[tokio::test]
async fn v2_routes_keep_authorization_type_and_lists_page() {
    let acct = new_account().await;
    let sdk = acct.sdk_config(REGION);
    let client = v2(&acct);
    let api_id = seed::v2_api(&sdk, "web", ProtocolType::Http).await;
    seed::v2_route(
        &sdk,
        &api_id,
        "GET /orders",
        Some(AuthorizationType::AwsIam),
    )
    .await;
    for key in ["GET /health", "POST /orders"] {
        seed::v2_route(&sdk, &api_id, key, None).await;
    }
    for stage in ["a", "b", "c"] {
        seed::v2_stage(&sdk, &api_id, stage, V2StageSpec::default()).await;
    }

    // GetRoutes in pages of 2: NextToken on the first page only.
    let first = client
        .get_routes()
        .api_id(&api_id)
        .max_results("2")
        .send()
        .await
        .expect("GetRoutes");
    assert_eq!(first.items().len(), 2);
    let token = first.next_token().expect("a second page").to_string();
    let second = client
        .get_routes()
        .api_id(&api_id)
        .max_results("2")
        .next_token(token)
        .send()
        .await
        .expect("GetRoutes");
    assert_eq!(second.items().len(), 1);
    assert_eq!(second.next_token(), None);
    let routes: Vec<_> = first.items().iter().chain(second.items()).collect();
    let auth = |key: &str| {
        routes
            .iter()
            .find(|r| r.route_key() == Some(key))
            .and_then(|r| r.authorization_type().cloned())
    };
    assert_eq!(auth("GET /orders"), Some(AuthorizationType::AwsIam));
    assert_eq!(auth("GET /health"), Some(AuthorizationType::None));

    let all_stages: Vec<_> = {
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let page = client
                .get_stages()
                .api_id(&api_id)
                .max_results("2")
                .set_next_token(token)
                .send()
                .await
                .expect("GetStages");
            names.extend(
                page.items()
                    .iter()
                    .filter_map(|s| s.stage_name().map(str::to_string)),
            );
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        names
    };
    assert_eq!(all_stages, ["a", "b", "c"]);

    // Without MaxResults, one page holds everything.
    let whole = client
        .get_stages()
        .api_id(&api_id)
        .send()
        .await
        .expect("GetStages");
    assert_eq!(whole.items().len(), 3);
    assert_eq!(whole.next_token(), None);

    for name in ["two", "three"] {
        seed::v2_api(&sdk, name, ProtocolType::Http).await;
    }
    let page = client
        .get_apis()
        .max_results("2")
        .send()
        .await
        .expect("GetApis");
    assert_eq!(page.items().len(), 2);
    let rest_of = client
        .get_apis()
        .max_results("2")
        .next_token(page.next_token().expect("next page"))
        .send()
        .await
        .expect("GetApis");
    assert_eq!(rest_of.items().len(), 1);
    assert_eq!(rest_of.next_token(), None);
}

#[tokio::test]
async fn get_rest_apis_pages_with_position_and_limit() {
    let acct = new_account().await;
    let client = rest(&acct);
    for i in 0..30 {
        client
            .create_rest_api()
            .name(format!("api-{i}"))
            .send()
            .await
            .expect("CreateRestApi");
    }
    // AWS's default page is 25 items.
    let first = client.get_rest_apis().send().await.expect("GetRestApis");
    assert_eq!(first.items().len(), 25);
    let position = first.position().expect("position of page 2").to_string();
    let second = client
        .get_rest_apis()
        .position(position)
        .send()
        .await
        .expect("GetRestApis");
    assert_eq!(second.items().len(), 5);
    assert_eq!(second.position(), None);

    // The SDK paginator follows `position` with a chosen limit.
    let names: HashSet<String> = client
        .get_rest_apis()
        .limit(7)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("GetRestApis pages")
        .into_iter()
        .filter_map(|api| api.name().map(str::to_string))
        .collect();
    assert_eq!(names.len(), 30);
    let counts = acct.call_counts().await;
    assert_eq!(
        counts.get("apigateway:GetRestApis"),
        2 + 5,
        "2 + ceil(30/7)"
    );
}

#[tokio::test]
async fn account_cloudwatch_role_round_trip_per_region() {
    let acct = new_account().await;
    let client = rest(&acct);
    let before = client.get_account().send().await.expect("GetAccount");
    assert_eq!(before.cloudwatch_role_arn(), None);

    let role = format!("arn:aws:iam::{}:role/apigw-cloudwatch", acct.account_id);
    let updated = client
        .update_account()
        .patch_operations(replace("/cloudwatchRoleArn", &role))
        .send()
        .await
        .expect("UpdateAccount");
    assert_eq!(updated.cloudwatch_role_arn(), Some(role.as_str()));
    let after = client.get_account().send().await.expect("GetAccount");
    assert_eq!(after.cloudwatch_role_arn(), Some(role.as_str()));

    // Stored per account and region.
    let other_region = aws_sdk_apigateway::Client::new(&acct.sdk_config("eu-west-1"));
    let there = other_region.get_account().send().await.expect("GetAccount");
    assert_eq!(there.cloudwatch_role_arn(), None);
    let other = new_account().await;
    let theirs = rest(&other).get_account().send().await.expect("GetAccount");
    assert_eq!(theirs.cloudwatch_role_arn(), None);
}

#[tokio::test]
async fn web_acl_association_shows_on_rest_stage() {
    let acct = new_account().await;
    let sdk = acct.sdk_config(REGION);
    let client = rest(&acct);
    let wafc = waf(&acct);
    let api_id = rest_api_with_stage(&acct, "prod").await;
    let stage_arn = format!("arn:aws:apigateway:{REGION}::/restapis/{api_id}/stages/prod");

    let first_acl = seed::web_acl(&sdk, "first").await;
    assert!(
        first_acl.starts_with(&format!(
            "arn:aws:wafv2:{REGION}:{}:regional/webacl/first/",
            acct.account_id
        )),
        "{first_acl}"
    );
    wafc.associate_web_acl()
        .web_acl_arn(&first_acl)
        .resource_arn(&stage_arn)
        .send()
        .await
        .expect("AssociateWebACL");

    let stages = get_rest_stages(&client, &api_id).await;
    assert_eq!(stages.item()[0].web_acl_arn(), Some(first_acl.as_str()));
    let for_resource = wafc
        .get_web_acl_for_resource()
        .resource_arn(&stage_arn)
        .send()
        .await
        .expect("GetWebACLForResource");
    assert_eq!(
        for_resource.web_acl().map(|a| a.arn()),
        Some(first_acl.as_str())
    );
    let id = first_acl.rsplit('/').next().expect("web ACL id");
    let got = wafc
        .get_web_acl()
        .name("first")
        .scope(Scope::Regional)
        .id(id)
        .send()
        .await
        .expect("GetWebACL");
    assert_eq!(got.web_acl().map(|a| a.arn()), Some(first_acl.as_str()));

    // Associating another ACL replaces the first, everywhere.
    let second_acl = seed::web_acl(&sdk, "second").await;
    wafc.associate_web_acl()
        .web_acl_arn(&second_acl)
        .resource_arn(&stage_arn)
        .send()
        .await
        .expect("AssociateWebACL");
    let stage = get_rest_stage(&client, &api_id, "prod").await;
    assert_eq!(stage.web_acl_arn(), Some(second_acl.as_str()));
    let for_resource = wafc
        .get_web_acl_for_resource()
        .resource_arn(&stage_arn)
        .send()
        .await
        .expect("GetWebACLForResource");
    assert_eq!(
        for_resource.web_acl().map(|a| a.arn()),
        Some(second_acl.as_str())
    );
}

#[tokio::test]
async fn accounts_do_not_see_each_other() {
    let (a, b) = (new_account().await, new_account().await);
    assert_ne!(a.account_id, b.account_id);
    assert_ne!(a.access_key_id, b.access_key_id);
    assert!(a.session_token.is_some(), "STS credentials carry a token");

    let a_sdk = a.sdk_config(REGION);
    let a_rest = rest_api_with_stage(&a, "prod").await;
    let a_v2 = seed::v2_api(&a_sdk, "a-http", ProtocolType::Http).await;
    seed::web_acl(&a_sdk, "a-acl").await;

    let a_apis = rest(&a).get_rest_apis().send().await.expect("GetRestApis");
    assert_eq!(a_apis.items().len(), 1);
    assert_eq!(a_apis.items()[0].id(), Some(a_rest.as_str()));
    let a_v2s = v2(&a).get_apis().send().await.expect("GetApis");
    assert_eq!(a_v2s.items()[0].api_id(), Some(a_v2.as_str()));

    let b_apis = rest(&b).get_rest_apis().send().await.expect("GetRestApis");
    assert!(b_apis.items().is_empty(), "{:?}", b_apis.items());
    assert!(
        v2(&b)
            .get_apis()
            .send()
            .await
            .expect("GetApis")
            .items()
            .is_empty()
    );
    let b_acls = waf(&b)
        .list_web_acls()
        .scope(Scope::Regional)
        .send()
        .await
        .expect("ListWebACLs");
    assert!(b_acls.web_acls().is_empty());
    let err = rest(&b)
        .get_stages()
        .rest_api_id(&a_rest)
        .send()
        .await
        .expect_err("another account's API is not found");
    assert!(err.into_service_error().is_not_found_exception());

    // The same account in another region is another world too.
    let eu = aws_sdk_apigateway::Client::new(&a.sdk_config("eu-west-1"));
    assert!(
        eu.get_rest_apis()
            .send()
            .await
            .expect("GetRestApis")
            .items()
            .is_empty()
    );

    // env() carries the same identity for a product subprocess.
    let env: std::collections::HashMap<_, _> = a.env(REGION).into_iter().collect();
    assert_eq!(env["AWS_ACCESS_KEY_ID"], a.access_key_id);
    assert_eq!(env["AWS_SECRET_ACCESS_KEY"], a.secret_access_key);
    assert_eq!(Some(&env["AWS_SESSION_TOKEN"]), a.session_token.as_ref());
    assert_eq!(env["AWS_ENDPOINT_URL"], a.endpoint_url);
    assert_eq!(env["AWS_REGION"], REGION);
    assert_eq!(env["AWS_EC2_METADATA_DISABLED"], "true");
}

#[tokio::test]
async fn call_counter_counts_per_account_and_operation() {
    let acct = new_account().await;
    let client = rest(&acct);
    let api_id = rest_api_with_stage(&acct, "prod").await;
    acct.reset_call_counts().await;
    assert_eq!(acct.call_counts().await.total, 0);

    for _ in 0..3 {
        get_rest_stages(&client, &api_id).await;
    }
    client
        .update_stage()
        .rest_api_id(&api_id)
        .stage_name("prod")
        .patch_operations(replace("/tracingEnabled", "true"))
        .send()
        .await
        .expect("UpdateStage");
    v2(&acct).get_apis().send().await.expect("GetApis");
    waf(&acct)
        .list_web_acls()
        .scope(Scope::Regional)
        .send()
        .await
        .expect("ListWebACLs");

    let counts = acct.call_counts().await;
    assert_eq!(counts.get("apigateway:GetStages"), 3);
    assert_eq!(counts.get("apigateway:UpdateStage"), 1);
    assert_eq!(counts.get("apigatewayv2:GetApis"), 1);
    assert_eq!(counts.get("wafv2:ListWebACLs"), 1);
    assert_eq!(counts.total, 6);
    assert_eq!(counts.writes(), 1);
    assert_eq!(counts.throttled, 0);

    // Another account's traffic is not in this account's counts...
    let other = new_account().await;
    rest(&other)
        .get_rest_apis()
        .send()
        .await
        .expect("GetRestApis");
    assert_eq!(acct.call_counts().await, counts);
    assert_eq!(other.call_counts().await.get("apigateway:GetRestApis"), 1);
    // ...and the server-wide view holds both.
    let all = crate::support::moto::call_counts().await;
    assert!(all.get("apigateway:GetStages") >= 3);
    assert!(all.get("apigateway:GetRestApis") >= 1);

    acct.reset_call_counts().await;
    assert_eq!(acct.call_counts().await.total, 0);
    assert_eq!(other.call_counts().await.total, 1, "reset is per account");
}

#[tokio::test]
async fn rate_limit_answers_429_that_the_sdk_treats_as_throttling() {
    let acct = new_account().await;
    // A bucket of 2 that refills once every ~17 minutes: the third call is throttled.
    acct.set_rate_limit(0.001, 2.0).await;
    acct.reset_call_counts().await;

    let no_retry = aws_sdk_apigateway::Client::from_conf(
        aws_sdk_apigateway::config::Builder::from(&acct.sdk_config(REGION))
            .retry_config(RetryConfig::disabled())
            .build(),
    );
    for _ in 0..2 {
        no_retry.get_rest_apis().send().await.expect("within burst");
    }
    let err = no_retry
        .get_rest_apis()
        .send()
        .await
        .expect_err("throttled");
    assert_eq!(err.code(), Some("TooManyRequestsException"));
    assert_eq!(err.message(), Some("Too Many Requests"));
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(429));
    let service_err = err.into_service_error();
    assert!(
        service_err.is_too_many_requests_exception(),
        "{service_err:?}"
    );

    // With retries on, the SDK classifies the 429 as retryable throttling: one call
    // makes max_attempts requests before giving up.
    let retrying = aws_sdk_apigateway::Client::from_conf(
        aws_sdk_apigateway::config::Builder::from(&acct.sdk_config(REGION))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(1))
                    .with_max_backoff(Duration::from_millis(5)),
            )
            .build(),
    );
    let err = retrying
        .get_rest_apis()
        .send()
        .await
        .expect_err("still throttled");
    assert_eq!(err.code(), Some("TooManyRequestsException"));
    let counts = acct.call_counts().await;
    assert_eq!(counts.get("apigateway:GetRestApis"), 2 + 1 + 3);
    assert_eq!(counts.throttled, 1 + 3);

    // Throttling is per account: a fresh account is not limited, and lifting the
    // limit lets this one through again.
    let other = new_account().await;
    for _ in 0..5 {
        rest(&other)
            .get_rest_apis()
            .send()
            .await
            .expect("unthrottled");
    }
    acct.set_rate_limit(0.0, 1.0).await;
    no_retry.get_rest_apis().send().await.expect("limit lifted");
}

"""Seeds the demo's AWS emulator (moto) with API Gateway stages, integrations and custom
domain names, some compliant and some not, so the operator has something real to
report. Uses boto3 from the moto venv; AWS_ENDPOINT_URL points it at the emulator."""

import boto3

REGION = "us-east-1"
LOG_GROUP = "arn:aws:logs:us-east-1:123456789012:log-group:apigw-access"

apigw = boto3.client("apigateway", region_name=REGION)
v2 = boto3.client("apigatewayv2", region_name=REGION)
wafv2 = boto3.client("wafv2", region_name=REGION)


def rest_api(name):
    api_id = apigw.create_rest_api(name=name)["id"]
    root = next(r["id"] for r in apigw.get_resources(restApiId=api_id)["items"] if r["path"] == "/")
    orders = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="orders")["id"]
    for method in ("GET", "POST"):
        apigw.put_method(restApiId=api_id, resourceId=orders, httpMethod=method, authorizationType="NONE")
        apigw.put_integration(restApiId=api_id, resourceId=orders, httpMethod=method, type="MOCK")
    deployment = apigw.create_deployment(restApiId=api_id)["id"]
    return api_id, deployment


def rest_stage(api_id, deployment, stage, patches):
    apigw.create_stage(restApiId=api_id, deploymentId=deployment, stageName=stage)
    if patches:
        apigw.update_stage(
            restApiId=api_id,
            stageName=stage,
            patchOperations=[{"op": "replace", "path": p, "value": v} for p, v in patches],
        )


# The account's CloudWatch Logs role for API Gateway: execution-logging remediation
# checks it first (without it, logs could not be delivered).
apigw.update_account(
    patchOperations=[
        {"op": "replace", "path": "/cloudwatchRoleArn", "value": "arn:aws:iam::123456789012:role/apigw-cloudwatch"}
    ]
)

# REST "orders": prod fully hardened (logging, X-Ray, WAF, client certificate), dev not.
orders, deployment = rest_api("orders")
cert = apigw.generate_client_certificate(description="demo backend certificate")["clientCertificateId"]
rest_stage(
    orders,
    deployment,
    "prod",
    [("/*/*/logging/loglevel", "INFO"), ("/tracingEnabled", "true"), ("/clientCertificateId", cert)],
)
acl = wafv2.create_web_acl(
    Name="demo-acl",
    Scope="REGIONAL",
    DefaultAction={"Allow": {}},
    VisibilityConfig={"SampledRequestsEnabled": False, "CloudWatchMetricsEnabled": False, "MetricName": "demo"},
)["Summary"]["ARN"]
wafv2.associate_web_acl(
    WebACLArn=acl, ResourceArn=f"arn:aws:apigateway:{REGION}::/restapis/{orders}/stages/prod"
)
rest_stage(
    orders,
    deployment,
    "dev",
    [
        ("/*/*/logging/loglevel", "ERROR"),
        ("/~1orders/GET/logging/loglevel", "OFF"),
        ("/cacheClusterEnabled", "true"),
        ("/*/*/caching/enabled", "true"),
    ],
)

# WebSocket "chat": logging on, but the $default route overridden to OFF.
chat = v2.create_api(Name="chat", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action")["ApiId"]
v2.create_route(ApiId=chat, RouteKey="$connect", AuthorizationType="AWS_IAM")
v2.create_route(ApiId=chat, RouteKey="$default")
v2.create_stage(
    ApiId=chat,
    StageName="live",
    DefaultRouteSettings={"LoggingLevel": "INFO"},
    RouteSettings={"$default": {"LoggingLevel": "OFF"}},
    AccessLogSettings={"DestinationArn": LOG_GROUP, "Format": "$context.requestId"},
)

# HTTP "pets": one open route, no access logging.
pets = v2.create_api(Name="pets", ProtocolType="HTTP")["ApiId"]
v2.create_route(ApiId=pets, RouteKey="GET /pets", AuthorizationType="AWS_IAM")
v2.create_route(ApiId=pets, RouteKey="POST /pets", AuthorizationType="NONE")
v2.create_stage(ApiId=pets, StageName="$default")

# "pets" reaches its backend through a VPC link (APIGateway.10): one private integration
# verifies TLS, the other has no TlsConfig.
for tls in (True, False):
    integration = {
        "ApiId": pets,
        "IntegrationType": "HTTP_PROXY",
        "IntegrationMethod": "ANY",
        "PayloadFormatVersion": "1.0",
        "ConnectionType": "VPC_LINK",
        "ConnectionId": "demo-link",
        "IntegrationUri": "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/pets/1/2",
    }
    if tls:
        integration["TlsConfig"] = {"ServerNameToVerify": "pets.internal.example.com"}
    v2.create_integration(**integration)

# Custom domain names (APIGateway.11): one on a recommended policy, one still on TLS 1.2.
for domain, policy in (("api.example.com", "SecurityPolicy_TLS13_1_3_2025_09"), ("legacy.example.com", "TLS_1_2")):
    apigw.create_domain_name(
        domainName=domain,
        regionalCertificateArn="arn:aws:acm:us-east-1:123456789012:certificate/demo",
        endpointConfiguration={"types": ["REGIONAL"]},
        securityPolicy=policy,
    )

print(
    f"seeded REST API {orders} (prod, dev), WebSocket API {chat} (live), HTTP API {pets} ($default, "
    "two VPC link integrations), domain names api.example.com and legacy.example.com"
)

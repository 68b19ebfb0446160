//! ARNs and region codes: every one the product builds, parses or validates, in one
//! place, so the scanner, the remediation engine and admission agree on them.

/// AWS region codes: `us-east-1`, `us-gov-west-1`, `eu-central-2`, `us-isob-east-1`.
/// The admission twin of [`is_region_code`].
pub const REGION_PATTERN: &str = r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$";

/// Regional WAF web ACLs: WAFv2 (`regional/webacl/NAME/ID`) or WAF Classic regional.
/// The admission twin of [`is_regional_web_acl_arn`].
pub const WEB_ACL_ARN_PATTERN: &str = r"^arn:aws(-[a-z]+)*:(wafv2:[a-z0-9-]+:[0-9]{12}:regional/webacl/[A-Za-z0-9_-]{1,128}/[A-Za-z0-9-]{1,64}|waf-regional:[a-z0-9-]+:[0-9]{12}:webacl/[A-Za-z0-9-]{1,64})$";

/// WAFv2 regional web ACLs only: what remediation can associate with a stage.
pub const WAFV2_WEB_ACL_ARN_PATTERN: &str = r"^arn:aws(-[a-z]+)*:wafv2:[a-z0-9-]+:[0-9]{12}:regional/webacl/[A-Za-z0-9_-]{1,128}/[A-Za-z0-9-]{1,64}$";

/// Where API Gateway writes access logs: a CloudWatch Logs log group or an
/// `amazon-apigateway-…` Firehose stream. The admission twin of [`parse_log_destination`].
pub const LOG_DESTINATION_ARN_PATTERN: &str = r"^arn:aws(-[a-z]+)*:(logs:[a-z0-9-]+:[0-9]{12}:log-group:[A-Za-z0-9._/#-]+|firehose:[a-z0-9-]+:[0-9]{12}:deliverystream/amazon-apigateway-[A-Za-z0-9._-]+)$";

/// Whether a string is an AWS region code (`us-east-1`, `us-gov-west-1`, `cn-north-1`,
/// `us-isob-east-1`). Catches typos such as `us-east1` or `useast-1` before any call; a
/// well-formed but unknown region fails at the first call with a message that says to
/// check the region.
pub fn is_region_code(s: &str) -> bool {
    let mut parts = s.split('-');
    let Some(area) = parts.next() else {
        return false;
    };
    let rest: Vec<&str> = parts.collect();
    let Some((number, words)) = rest.split_last() else {
        return false;
    };
    area.len() == 2
        && area.bytes().all(|b| b.is_ascii_lowercase())
        && !words.is_empty()
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && (1..=2).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// The ARN partition of a region: `aws-cn` in China, `aws-us-gov` in GovCloud, else `aws`.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

fn is_partition(p: &str) -> bool {
    p == "aws"
        || p.strip_prefix("aws-").is_some_and(|rest| {
            rest.split('-')
                .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        })
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// ARN of a REST API: `arn:{partition}:apigateway:{region}::/restapis/{apiId}`.
pub fn rest_api_arn(region: &str, api_id: &str) -> String {
    format!(
        "arn:{}:apigateway:{region}::/restapis/{api_id}",
        partition(region)
    )
}

/// ARN of a REST API stage: `arn:{partition}:apigateway:{region}::/restapis/{apiId}/stages/{stage}`.
pub fn rest_stage_arn(region: &str, api_id: &str, stage: &str) -> String {
    format!("{}/stages/{stage}", rest_api_arn(region, api_id))
}

/// ARN of a v2 API: `arn:{partition}:apigateway:{region}::/apis/{apiId}`.
pub fn v2_api_arn(region: &str, api_id: &str) -> String {
    format!(
        "arn:{}:apigateway:{region}::/apis/{api_id}",
        partition(region)
    )
}

/// ARN of a v2 stage: `arn:{partition}:apigateway:{region}::/apis/{apiId}/stages/{stage}`.
pub fn v2_stage_arn(region: &str, api_id: &str, stage: &str) -> String {
    format!("{}/stages/{stage}", v2_api_arn(region, api_id))
}

/// ARN of a v2 route: `arn:{partition}:apigateway:{region}::/apis/{apiId}/routes/{routeId}`.
pub fn v2_route_arn(region: &str, api_id: &str, route_id: &str) -> String {
    format!("{}/routes/{route_id}", v2_api_arn(region, api_id))
}

/// ARN of a v2 integration:
/// `arn:{partition}:apigateway:{region}::/apis/{apiId}/integrations/{integrationId}`.
pub fn v2_integration_arn(region: &str, api_id: &str, integration_id: &str) -> String {
    format!(
        "{}/integrations/{integration_id}",
        v2_api_arn(region, api_id)
    )
}

/// ARN of a custom domain name: `arn:{partition}:apigateway:{region}::/domainnames/{name}`.
pub fn domain_name_arn(region: &str, name: &str) -> String {
    format!(
        "arn:{}:apigateway:{region}::/domainnames/{name}",
        partition(region)
    )
}

/// What an API Gateway ARN names, in the shapes the builders above make; anything else
/// API Gateway has (usage plans, API keys, VPC links, a REST API's resources...) is
/// [`ApiGatewayResource::Other`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiGatewayResource {
    RestApi {
        api_id: String,
    },
    RestStage {
        api_id: String,
        stage: String,
    },
    V2Api {
        api_id: String,
    },
    V2Stage {
        api_id: String,
        stage: String,
    },
    V2Route {
        api_id: String,
        route_id: String,
    },
    V2Integration {
        api_id: String,
        integration_id: String,
    },
    DomainName {
        name: String,
    },
    Other,
}

/// An API Gateway ARN taken apart: its region and what it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiGatewayArn {
    pub region: String,
    pub resource: ApiGatewayResource,
}

/// Parses `arn:{partition}:apigateway:{region}:{account}:/{path}`, the inverse of
/// [`rest_api_arn`], [`rest_stage_arn`], [`v2_api_arn`], [`v2_stage_arn`],
/// [`v2_route_arn`], [`v2_integration_arn`] and [`domain_name_arn`]. The account is
/// empty in those; a 12-digit one is accepted too, as private custom domain names carry
/// one. `None` when the string is not a well-formed API Gateway ARN (an `execute-api`
/// ARN is not one).
pub fn parse_apigateway_arn(arn: &str) -> Option<ApiGatewayArn> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("apigateway"), Some(region), Some(account), Some(path)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    if !is_partition(partition) || !is_region_code(region) {
        return None;
    }
    if !(account.is_empty() || is_account_id(account)) {
        return None;
    }
    let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    // An empty segment (`/restapis//stages/x`, a trailing `/`) is a malformed ARN, not
    // a resource with an empty id.
    if segments.iter().any(|s| s.is_empty()) {
        return None;
    }
    let s = |x: &str| x.to_string();
    let resource = match segments[..] {
        ["restapis", id] => ApiGatewayResource::RestApi { api_id: s(id) },
        ["restapis", id, "stages", stage] => ApiGatewayResource::RestStage {
            api_id: s(id),
            stage: s(stage),
        },
        ["apis", id] => ApiGatewayResource::V2Api { api_id: s(id) },
        ["apis", id, "stages", stage] => ApiGatewayResource::V2Stage {
            api_id: s(id),
            stage: s(stage),
        },
        ["apis", id, "routes", route] => ApiGatewayResource::V2Route {
            api_id: s(id),
            route_id: s(route),
        },
        ["apis", id, "integrations", integration] => ApiGatewayResource::V2Integration {
            api_id: s(id),
            integration_id: s(integration),
        },
        ["domainnames", name] => ApiGatewayResource::DomainName { name: s(name) },
        _ => ApiGatewayResource::Other,
    };
    Some(ApiGatewayArn {
        region: region.to_string(),
        resource,
    })
}

/// The account id of an IAM role ARN (`arn:aws:iam::123456789012:role/name`), or `None`
/// when the string is not one.
pub fn parse_role_arn(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let name = resource.strip_prefix("role/")?;
    let ok = is_partition(partition)
        && is_account_id(account)
        && (1..=512).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_/-".contains(c));
    ok.then_some(account)
}

/// Whether `arn` names a regional web ACL that a stage can be associated with: WAFv2
/// (`regional/webacl/NAME/ID`) or WAF Classic regional (`waf-regional:…:webacl/ID`).
pub fn is_regional_web_acl_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [arn_, partition, service, region, account, resource] = parts.as_slice() else {
        return false;
    };
    let id_ok = |s: &str| {
        (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let resource_ok = match *service {
        "wafv2" => resource
            .strip_prefix("regional/webacl/")
            .and_then(|r| r.split_once('/'))
            .is_some_and(|(name, id)| {
                (1..=128).contains(&name.len())
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                    && id_ok(id)
            }),
        "waf-regional" => resource.strip_prefix("webacl/").is_some_and(id_ok),
        _ => false,
    };
    *arn_ == "arn"
        && is_partition(partition)
        && !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && is_account_id(account)
        && resource_ok
}

/// The parts of a WAFv2 web ACL ARN that remediation needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebAclArn {
    pub region: String,
    pub name: String,
    pub id: String,
}

/// Parses `arn:{partition}:wafv2:{region}:{account}:regional/webacl/{name}/{id}`;
/// refuses CloudFront (`global`) ACLs, which cannot protect a regional stage.
pub fn parse_web_acl_arn(arn: &str) -> Result<WebAclArn, String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts[..] else {
        return Err(format!("{arn:?} is not an ARN"));
    };
    if prefix != "arn" || !partition.starts_with("aws") || service != "wafv2" {
        return Err(format!(
            "{arn:?} is not a WAFv2 web ACL ARN (arn:aws:wafv2:REGION:ACCOUNT:regional/webacl/NAME/ID)"
        ));
    }
    if region.is_empty() || !is_account_id(account) {
        return Err(format!("{arn:?} has no region or a malformed account id"));
    }
    let segments: Vec<&str> = resource.split('/').collect();
    match segments[..] {
        ["regional", "webacl", name, id] if !name.is_empty() && !id.is_empty() => Ok(WebAclArn {
            region: region.to_string(),
            name: name.to_string(),
            id: id.to_string(),
        }),
        ["global", "webacl", ..] => Err(format!(
            "{arn:?} is a CloudFront (global) web ACL; API Gateway stages need a REGIONAL web ACL"
        )),
        _ => Err(format!(
            "{arn:?} is not a web ACL ARN (expected regional/webacl/NAME/ID after the account)"
        )),
    }
}

/// Where access logs go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogDestination {
    LogGroup { region: String },
    Firehose { region: String },
}

impl LogDestination {
    pub fn region(&self) -> &str {
        match self {
            LogDestination::LogGroup { region } | LogDestination::Firehose { region } => region,
        }
    }
}

/// Accepts a CloudWatch Logs log group ARN or an `amazon-apigateway-…` Firehose stream
/// ARN, the two destinations API Gateway writes access logs to.
pub fn parse_log_destination(arn: &str) -> Result<LogDestination, String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts[..] else {
        return Err(format!(
            "{arn:?} is not an ARN; use a log group ARN such as arn:aws:logs:REGION:ACCOUNT:log-group:NAME"
        ));
    };
    let well_formed = prefix == "arn"
        && partition.starts_with("aws")
        && !region.is_empty()
        && is_account_id(account);
    match service {
        "logs" if well_formed => {
            if resource.ends_with(":*") {
                return Err(format!(
                    "{arn:?} ends with \":*\"; API Gateway wants the log group ARN without it"
                ));
            }
            match resource.strip_prefix("log-group:") {
                Some(name) if !name.is_empty() && !name.contains(':') => {
                    Ok(LogDestination::LogGroup {
                        region: region.to_string(),
                    })
                }
                _ => Err(format!(
                    "{arn:?} is not a log group ARN (arn:aws:logs:REGION:ACCOUNT:log-group:NAME)"
                )),
            }
        }
        "firehose" if well_formed => match resource.strip_prefix("deliverystream/") {
            Some(name) if name.starts_with("amazon-apigateway-") => Ok(LogDestination::Firehose {
                region: region.to_string(),
            }),
            _ => Err(format!(
                "{arn:?}: API Gateway writes access logs only to Firehose streams named amazon-apigateway-…"
            )),
        },
        _ => Err(format!(
            "{arn:?} is not a CloudWatch Logs log group ARN (arn:aws:logs:REGION:ACCOUNT:log-group:NAME) \
             or an amazon-apigateway-… Firehose stream ARN"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_use_the_partition_of_their_region() {
        assert_eq!(
            rest_stage_arn("us-east-1", "a1", "prod"),
            "arn:aws:apigateway:us-east-1::/restapis/a1/stages/prod"
        );
        assert_eq!(
            v2_route_arn("cn-north-1", "b2", "r1"),
            "arn:aws-cn:apigateway:cn-north-1::/apis/b2/routes/r1"
        );
        assert_eq!(
            v2_stage_arn("us-gov-west-1", "b2", "live"),
            "arn:aws-us-gov:apigateway:us-gov-west-1::/apis/b2/stages/live"
        );
        assert_eq!(
            rest_api_arn("eu-west-1", "a1"),
            "arn:aws:apigateway:eu-west-1::/restapis/a1"
        );
        assert_eq!(
            v2_api_arn("eu-west-1", "b2"),
            "arn:aws:apigateway:eu-west-1::/apis/b2"
        );
        assert_eq!(
            v2_integration_arn("eu-west-1", "b2", "i9"),
            "arn:aws:apigateway:eu-west-1::/apis/b2/integrations/i9"
        );
        assert_eq!(
            domain_name_arn("us-east-1", "api.example.com"),
            "arn:aws:apigateway:us-east-1::/domainnames/api.example.com"
        );
    }

    #[test]
    fn apigateway_arns_parse_back_to_what_the_builders_made() {
        let parsed = |arn: String| parse_apigateway_arn(&arn).map(|a| (a.region, a.resource));
        let id = |s: &str| s.to_string();
        assert_eq!(
            parsed(rest_api_arn("eu-west-1", "a1")),
            Some((
                id("eu-west-1"),
                ApiGatewayResource::RestApi { api_id: id("a1") }
            ))
        );
        assert_eq!(
            parsed(rest_stage_arn("us-east-1", "a1", "prod")),
            Some((
                id("us-east-1"),
                ApiGatewayResource::RestStage {
                    api_id: id("a1"),
                    stage: id("prod")
                }
            ))
        );
        assert_eq!(
            parsed(v2_api_arn("cn-north-1", "b2")),
            Some((
                id("cn-north-1"),
                ApiGatewayResource::V2Api { api_id: id("b2") }
            ))
        );
        assert_eq!(
            parsed(v2_stage_arn("us-gov-west-1", "b2", "$default")),
            Some((
                id("us-gov-west-1"),
                ApiGatewayResource::V2Stage {
                    api_id: id("b2"),
                    stage: id("$default")
                }
            ))
        );
        assert_eq!(
            parsed(v2_route_arn("eu-west-1", "b2", "r1")),
            Some((
                id("eu-west-1"),
                ApiGatewayResource::V2Route {
                    api_id: id("b2"),
                    route_id: id("r1")
                }
            ))
        );
        assert_eq!(
            parsed(v2_integration_arn("eu-west-1", "b2", "i9")),
            Some((
                id("eu-west-1"),
                ApiGatewayResource::V2Integration {
                    api_id: id("b2"),
                    integration_id: id("i9")
                }
            ))
        );
        assert_eq!(
            parsed(domain_name_arn("us-east-1", "api.example.com")),
            Some((
                id("us-east-1"),
                ApiGatewayResource::DomainName {
                    name: id("api.example.com")
                }
            ))
        );
    }

    #[test]
    fn other_apigateway_arns_are_other_and_malformed_ones_none() {
        for other in [
            "arn:aws:apigateway:us-east-1::/usageplans/u1",
            "arn:aws:apigateway:us-east-1::/restapis/a1/resources/r1/methods/GET",
            "arn:aws:apigateway:us-east-1::/vpclinks/v1",
            "arn:aws:apigateway:us-east-1::/restapis",
        ] {
            assert_eq!(
                parse_apigateway_arn(other).map(|a| a.resource),
                Some(ApiGatewayResource::Other),
                "{other}"
            );
        }
        assert_eq!(
            parse_apigateway_arn(
                "arn:aws:apigateway:us-east-1:123456789012:/domainnames/x.example.com+abc"
            )
            .map(|a| a.resource),
            Some(ApiGatewayResource::DomainName {
                name: "x.example.com+abc".into()
            })
        );
        for bad in [
            "arn:aws:execute-api:us-east-1:123456789012:a1/prod/GET/",
            "arn:aws:apigateway:us-east-1::restapis/a1",
            "arn:aws:apigateway:us-east-1::/restapis//stages/prod",
            "arn:aws:apigateway:us-east-1::/restapis/a1/",
            "arn:aws:apigateway:useast1::/restapis/a1",
            "arn:aws:apigateway:::/restapis/a1",
            "arn:aws:apigateway:us-east-1:12345:/restapis/a1",
            "arn:AWS:apigateway:us-east-1::/restapis/a1",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/x/1",
            "arn:aws:apigateway:us-east-1:",
            "not an arn",
            "",
        ] {
            assert_eq!(parse_apigateway_arn(bad), None, "{bad}");
        }
    }

    #[test]
    fn region_codes_are_recognised_and_typos_are_not() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "cn-northwest-1",
            "ap-southeast-3",
            "us-isob-east-1",
        ] {
            assert!(is_region_code(ok), "{ok}");
        }
        for bad in [
            "us-east1",
            "useast-1",
            "US-EAST-1",
            "us-east-",
            "us",
            "",
            "us-east-1a",
            "u-east-1",
            "us-east-100",
        ] {
            assert!(!is_region_code(bad), "{bad}");
        }
    }

    #[test]
    fn role_arns_give_their_account() {
        assert_eq!(
            parse_role_arn("arn:aws:iam::123456789012:role/path/name"),
            Some("123456789012")
        );
        assert_eq!(
            parse_role_arn("arn:aws-us-gov:iam::123456789012:role/x"),
            Some("123456789012")
        );
        for bad in [
            "arn:aws:iam::12345678901:role/x",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:sts::123456789012:role/x",
            "arn:aws:iam:us-east-1:123456789012:role/x",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/bad name",
            "not an arn",
        ] {
            assert_eq!(parse_role_arn(bad), None, "{bad}");
        }
    }

    #[test]
    fn regional_web_acls_of_wafv2_and_waf_classic_are_recognised() {
        assert!(is_regional_web_acl_arn(
            "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/api/0a1b-2c3d"
        ));
        assert!(is_regional_web_acl_arn(
            "arn:aws:waf-regional:us-east-1:123456789012:webacl/0a1b-2c3d"
        ));
        assert!(!is_regional_web_acl_arn(
            "arn:aws:wafv2:us-east-1:123456789012:global/webacl/cf/0a1b"
        ));
        assert!(!is_regional_web_acl_arn("arn:aws:s3:::bucket"));
    }

    #[test]
    fn web_acl_arns_for_remediation_must_be_regional_wafv2() {
        assert_eq!(
            parse_web_acl_arn("arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/api/0a1b"),
            Ok(WebAclArn {
                region: "eu-west-1".into(),
                name: "api".into(),
                id: "0a1b".into()
            })
        );
        let global =
            parse_web_acl_arn("arn:aws:wafv2:us-east-1:123456789012:global/webacl/cf/0a1b");
        assert!(global.expect_err("global").contains("REGIONAL"));
        assert!(
            parse_web_acl_arn("arn:aws:waf-regional:us-east-1:123456789012:webacl/0a1b").is_err()
        );
        assert!(parse_web_acl_arn("not an arn").is_err());
    }

    #[test]
    fn log_destinations_are_log_groups_or_api_gateway_firehose_streams() {
        assert_eq!(
            parse_log_destination("arn:aws:logs:us-east-1:123456789012:log-group:/apigw/access"),
            Ok(LogDestination::LogGroup {
                region: "us-east-1".into()
            })
        );
        assert_eq!(
            parse_log_destination(
                "arn:aws:firehose:eu-west-1:123456789012:deliverystream/amazon-apigateway-logs"
            ),
            Ok(LogDestination::Firehose {
                region: "eu-west-1".into()
            })
        );
        let star = parse_log_destination("arn:aws:logs:us-east-1:123456789012:log-group:x:*");
        assert!(star.expect_err(":*").contains("without it"));
        assert!(
            parse_log_destination("arn:aws:firehose:us-east-1:123456789012:deliverystream/mine")
                .is_err()
        );
        assert!(parse_log_destination("arn:aws:s3:::bucket").is_err());
        assert!(parse_log_destination("arn:aws:logs:us-east-1:123456789012:log-stream:x").is_err());
    }
}

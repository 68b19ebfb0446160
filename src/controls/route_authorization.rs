//! APIGateway.8 — API Gateway routes should specify an authorization type.
//!
//! Traces to: "The control fails if the API Gateway route does not specify an
//! authorization type." Decisions: docs/controls/APIGateway.8.md.

use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::controls::admission::{Admission, AllowList};
use crate::controls::planning::{PlanInput, Resource, ResourcePlan};
use crate::controls::common::{
    Source,ControlMeta, Semantics, FieldError, join_or, name_list};
use crate::inventory::{Needs, RegionInventory, Route, V2Api};
use crate::model::arn::v2_route_arn;
use crate::model::plan::UnplannedReason;
use crate::model::{ControlId, Finding, ResourceType, Severity, Status, V2Protocol};

pub const ID: ControlId = ControlId::new("APIGateway.8");

/// How `spec.controls.parameters` describes this control's parameters.
pub const PARAMETERS_DOC: &str = "APIGateway.8.";

pub static META: ControlMeta = ControlMeta {
    id: ID,
    source: Source::SecurityHub,
    title: "API Gateway routes should specify an authorization type",
    severity: Severity::Medium,
    category: "Protect > Secure Access Management",
    resource_types: &[ResourceType::V2Route],
    related_requirements: &[
    "NIST.800-53.r5 AC-3",
    "NIST.800-53.r5 CM-2",
    "NIST.800-53.r5 CM-2(2)",
    ],
    config_rule: "api-gwv2-authorization-type-configured",
    unsupported_regions: &[
        "ap-southeast-3",
        "cn-north-1",
        "cn-northwest-1",
        "me-central-1",
        "us-gov-east-1",
        "us-gov-west-1",
    ],
    // The specification gives one guide for HTTP APIs and one for WebSocket APIs;
    // the control's own page links both.
    remediation_url: "https://docs.aws.amazon.com/securityhub/latest/userguide/apigateway-controls.html#apigateway-8",
};

pub static ADMISSION: Admission = Admission {
    parameter_lists: &[AllowList {
        path: &["routeAuthorization", "acceptedAuthorizationTypes"],
        min_items: Some(1),
        item_pattern: None,
        item_max_length: None,
    }],
    remediation_fields: &[],
    remediation_rules: &[],
    spec_rules: &[],
};

/// A route authorization type that APIGateway.8 may accept.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum AuthorizationType {
    #[serde(rename = "AWS_IAM")]
    AwsIam,
    #[serde(rename = "JWT")]
    Jwt,
    #[serde(rename = "CUSTOM")]
    Custom,
}

impl AuthorizationType {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorizationType::AwsIam => "AWS_IAM",
            AuthorizationType::Jwt => "JWT",
            AuthorizationType::Custom => "CUSTOM",
        }
    }
}

impl FromStr for AuthorizationType {
    type Err = String;

    /// Any case: `AWS_IAM`, `jwt`, `Custom`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            AuthorizationType::AwsIam,
            AuthorizationType::Jwt,
            AuthorizationType::Custom,
        ]
        .into_iter()
        .find(|kind| kind.as_str().eq_ignore_ascii_case(s.trim()))
        .ok_or_else(|| format!("{s:?} is not an authorization type: use AWS_IAM, JWT or CUSTOM"))
    }
}

/// How APIGateway.8 treats WebSocket routes other than `$connect`, which cannot carry
/// an authorizer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum NonConnectRoutePolicy {
    /// FAILED, as Security Hub reports them.
    #[default]
    Fail,
    /// NOT_APPLICABLE, for owners who authorize at `$connect`.
    NotApplicable,
}

/// APIGateway.8 parameters (`spec.controls.parameters.routeAuthorization`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Parameters {
    /// Authorization types that pass; default AWS_IAM, JWT and CUSTOM.
    pub accepted_authorization_types: Vec<AuthorizationType>,
    /// `Fail` (default, as Security Hub) or `NotApplicable`.
    pub websocket_non_connect_routes: NonConnectRoutePolicy,
}

impl Default for Parameters {
    fn default() -> Self {
        Self {
            accepted_authorization_types: vec![
                AuthorizationType::AwsIam,
                AuthorizationType::Jwt,
                AuthorizationType::Custom,
            ],
            websocket_non_connect_routes: NonConnectRoutePolicy::Fail,
        }
    }
}

/// v2 APIs with their routes.
pub fn needs(_: &Parameters) -> Needs {
    Needs {
        v2: true,
        routes: true,
        ..Needs::default()
    }
}

pub fn validate(params: &Parameters, _: &()) -> Result<(), FieldError> {
    if params.accepted_authorization_types.is_empty() {
        return Err(FieldError::new(
            "controls.parameters.routeAuthorization.acceptedAuthorizationTypes",
            "an empty list would fail every route: list AWS_IAM, JWT and/or CUSTOM, or leave it out",
        ));
    }
    Ok(())
}

/// Never changed automatically: clients that send no credentials would break. The
/// plan says what the owner must do.
pub fn plan(input: &PlanInput<'_>, _: &Parameters, _: &(), out: &mut ResourcePlan) {
    let Resource::Route(api, route) = input.resource else {
        return;
    };
    let websocket = api.protocol == V2Protocol::WebSocket;
    let current = route.authorization_type.as_deref().unwrap_or("NONE");
    let message = if websocket && route.route_key != CONNECT_ROUTE {
        // Nothing to change or deploy on this route: it cannot carry an authorizer.
        format!(
            "route {} has authorization {current}; only $connect can carry an authorizer on a WebSocket \
             API, so there is nothing to change on this route: the owner authorizes clients at $connect, \
             then sets routeAuthorization.websocketNonConnectRoutes to NotApplicable or exempts the route",
            route.route_key,
        )
    } else {
        let deploy = if !api.stages.is_empty() && api.stages.iter().all(|s| s.auto_deploy) {
            "the stages auto-deploy, so the change is live at once".to_string()
        } else {
            "then create a deployment for stages that do not auto-deploy".to_string()
        };
        // WebSocket APIs have no JWT authorizers.
        let types = if websocket {
            "AWS_IAM or a Lambda authorizer"
        } else {
            "AWS_IAM, JWT, or a Lambda authorizer"
        };
        format!(
            "route {} has authorization {current}; remediation never adds authorization (clients that send \
             no credentials would break): the owner attaches an authorizer ({types}), tells the clients, \
             {deploy}",
            route.route_key,
        )
    };
    out.unplanned(ID, UnplannedReason::ManualAction, message);
}

/// The only WebSocket route that can carry an authorizer.
const CONNECT_ROUTE: &str = "$connect";

/// One finding per route of every HTTP and WebSocket API.
pub fn evaluate(
    region: &RegionInventory,
    params: &Parameters,
    _: Semantics,
    findings: &mut Vec<Finding>,
) {
    let accepted = accepted_types(&params.accepted_authorization_types);
    for api in &region.v2_apis {
        for route in &api.routes {
            let (status, reason) = evaluate_route(api, route, &accepted, params);
            findings.push(META.finding(
                ResourceType::V2Route,
                &region.region,
                v2_route_arn(&region.region, &api.id, &route.id),
                status,
                reason,
            ));
        }
    }
}

/// An empty list in the profile means the control's default (any of AWS_IAM, JWT,
/// CUSTOM) rather than "nothing passes".
fn accepted_types(configured: &[AuthorizationType]) -> Vec<AuthorizationType> {
    let mut types = if configured.is_empty() {
        Parameters::default().accepted_authorization_types
    } else {
        configured.to_vec()
    };
    types.sort();
    types.dedup();
    types
}

fn evaluate_route(
    api: &V2Api,
    route: &Route,
    accepted: &[AuthorizationType],
    params: &Parameters,
) -> (Status, String) {
    let websocket = api.protocol == V2Protocol::WebSocket;
    let non_connect = websocket && route.route_key != CONNECT_ROUTE;
    if non_connect
        && params.websocket_non_connect_routes
            == NonConnectRoutePolicy::NotApplicable
    {
        return (
            Status::NotApplicable,
            format!(
                "WebSocket route {} cannot carry an authorizer (authorization happens at $connect) and \
                 routeAuthorization.websocketNonConnectRoutes is NotApplicable",
                route.route_key
            ),
        );
    }

    // AWS omits AuthorizationType when it is NONE.
    let current = route
        .authorization_type
        .as_deref()
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .unwrap_or("NONE");
    if accepted
        .iter()
        .any(|ok| ok.as_str().eq_ignore_ascii_case(current))
    {
        return (
            Status::Passed,
            format!(
                "route {} uses authorization type {current}",
                route.route_key
            ),
        );
    }

    let problem = if current.eq_ignore_ascii_case("NONE") {
        format!("route {} has no authorization (type NONE)", route.route_key)
    } else {
        format!(
            "route {} uses authorization type {current}, which is not accepted ({})",
            route.route_key,
            join_types(accepted)
        )
    };
    let action = if non_connect {
        // Such a route cannot be given a type, so say how the finding can be resolved.
        "only $connect can carry an authorizer on a WebSocket API, so Security Hub fails \
         every other route: authorize clients at $connect, then set \
         routeAuthorization.websocketNonConnectRoutes to NotApplicable or exempt the route"
            .to_string()
    } else {
        fix_for(websocket, accepted)
    };
    let mut reason = format!("{problem}; {action}");
    // The fix for a WebSocket route other than $connect is not a change to that route
    // (it is authorizing at $connect, whose own finding carries the note, or the
    // profile option), so no deployment makes anything live here.
    if !non_connect && let Some(note) = deployment_note(api) {
        reason.push_str("; ");
        reason.push_str(&note);
    }
    (Status::Failed, reason)
}

/// What to attach, limited to what the API's protocol supports: WebSocket APIs have no
/// JWT authorizers.
fn fix_for(websocket: bool, accepted: &[AuthorizationType]) -> String {
    let possible: Vec<AuthorizationType> = accepted
        .iter()
        .copied()
        .filter(|kind| !(websocket && *kind == AuthorizationType::Jwt))
        .collect();
    if possible.is_empty() {
        return "WebSocket APIs do not support JWT authorizers, the only accepted type: accept AWS_IAM or \
                CUSTOM in routeAuthorization.acceptedAuthorizationTypes"
            .to_string();
    }
    let described: Vec<String> = possible
        .iter()
        .map(|kind| describe_type(*kind).to_string())
        .collect();
    format!(
        "attach an authorizer to it: set its authorization type to {}",
        join_or(&described)
    )
}

fn describe_type(kind: AuthorizationType) -> &'static str {
    match kind {
        AuthorizationType::AwsIam => "AWS_IAM (IAM permissions)",
        AuthorizationType::Jwt => "JWT (a JWT authorizer)",
        AuthorizationType::Custom => "CUSTOM (a Lambda authorizer)",
    }
}

fn join_types(types: &[AuthorizationType]) -> String {
    let names: Vec<String> = types.iter().map(|kind| kind.as_str().to_string()).collect();
    join_or(&names)
}

/// A route change reaches a stage only through a deployment, unless the stage
/// auto-deploys; say so when some stage of the API does not.
fn deployment_note(api: &V2Api) -> Option<String> {
    let manual: Vec<String> = api
        .stages
        .iter()
        .filter(|stage| !stage.auto_deploy)
        .map(|stage| stage.name.clone())
        .collect();
    match manual.len() {
        0 => None,
        1 => Some(format!(
            "stage {} does not auto-deploy, so the change is live there only after a new deployment",
            manual[0]
        )),
        _ => Some(format!(
            "stages {} do not auto-deploy, so the change is live there only after a new deployment",
            name_list(&manual)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controls::ControlParameters;
    use crate::controls::test_support::*;
    use crate::inventory::V2Stage;

    fn auto_deploying() -> V2Stage {
        V2Stage {
            auto_deploy: true,
            ..v2_stage()
        }
    }

    fn http_region(routes: Vec<Route>) -> RegionInventory {
        region_with(
            Vec::new(),
            vec![v2_api(
                "h1",
                V2Protocol::Http,
                vec![auto_deploying()],
                routes,
            )],
        )
    }

    fn websocket_region(routes: Vec<Route>) -> RegionInventory {
        region_with(
            Vec::new(),
            vec![v2_api(
                "w1",
                V2Protocol::WebSocket,
                vec![auto_deploying()],
                routes,
            )],
        )
    }

    fn accepting(types: &[AuthorizationType]) -> ControlParameters {
        ControlParameters {
            route_authorization: Parameters {
                accepted_authorization_types: types.to_vec(),
                ..Parameters::default()
            },
            ..ControlParameters::default()
        }
    }

    fn non_connect_not_applicable() -> ControlParameters {
        ControlParameters {
            route_authorization: Parameters {
                websocket_non_connect_routes: NonConnectRoutePolicy::NotApplicable,
                ..Parameters::default()
            },
            ..ControlParameters::default()
        }
    }

    fn http_route(authorization_type: Option<&str>) -> Finding {
        run_one(
            ID,
            &http_region(vec![route("r1", "GET /orders", authorization_type)]),
            &ControlParameters::default(),
        )
    }

    #[test]
    fn http_route_with_type_none_fails_and_says_what_to_attach() {
        let finding = http_route(Some("NONE"));
        assert_eq!(finding.status, Status::Failed);
        assert_eq!(
            finding.reason,
            "route GET /orders has no authorization (type NONE); attach an authorizer to it: set its \
             authorization type to AWS_IAM (IAM permissions), JWT (a JWT authorizer) or CUSTOM (a Lambda authorizer)"
        );
    }

    #[test]
    fn http_route_without_an_authorization_type_fails_like_none() {
        let finding = http_route(None);
        assert_eq!(finding.status, Status::Failed);
        assert!(finding.reason.contains("type NONE"), "{}", finding.reason);
    }

    #[test]
    fn http_routes_with_aws_iam_jwt_or_custom_pass() {
        for kind in ["AWS_IAM", "JWT", "CUSTOM"] {
            let finding = http_route(Some(kind));
            assert_eq!(finding.status, Status::Passed, "{kind}");
            assert_eq!(
                finding.reason,
                format!("route GET /orders uses authorization type {kind}")
            );
        }
    }

    #[test]
    fn an_unknown_authorization_type_fails() {
        let finding = http_route(Some("MAGIC"));
        assert_eq!(finding.status, Status::Failed);
        assert!(
            finding
                .reason
                .contains("uses authorization type MAGIC, which is not accepted"),
            "{}",
            finding.reason
        );
    }

    #[test]
    fn accepted_types_parameter_fails_a_route_with_another_type() {
        let region = http_region(vec![route("r1", "GET /orders", Some("CUSTOM"))]);
        let finding = run_one(ID, &region, &accepting(&[AuthorizationType::Jwt]));
        assert_eq!(finding.status, Status::Failed);
        assert!(
            finding.reason.starts_with(
                "route GET /orders uses authorization type CUSTOM, which is not accepted (JWT)"
            ),
            "{}",
            finding.reason
        );
    }

    #[test]
    fn accepted_types_parameter_passes_a_route_with_that_type() {
        let region = http_region(vec![route("r1", "GET /orders", Some("JWT"))]);
        assert_eq!(
            run_one(ID, &region, &accepting(&[AuthorizationType::Jwt])).status,
            Status::Passed
        );
    }

    #[test]
    fn an_empty_accepted_types_list_means_the_default_three() {
        let region = http_region(vec![route("r1", "GET /orders", Some("AWS_IAM"))]);
        assert_eq!(
            run_one(ID, &region, &accepting(&[])).status,
            Status::Passed
        );
    }

    #[test]
    fn authorization_types_compare_case_insensitively() {
        assert_eq!(http_route(Some("aws_iam")).status, Status::Passed);
    }

    #[test]
    fn websocket_connect_route_with_none_fails_without_suggesting_jwt() {
        let region = websocket_region(vec![route("c1", "$connect", Some("NONE"))]);
        let finding = run_one(ID, &region, &ControlParameters::default());
        assert_eq!(finding.status, Status::Failed);
        assert!(
            finding
                .reason
                .contains("AWS_IAM (IAM permissions) or CUSTOM (a Lambda authorizer)"),
            "{}",
            finding.reason
        );
        assert!(!finding.reason.contains("JWT"), "{}", finding.reason);
    }

    #[test]
    fn websocket_connect_route_with_custom_passes() {
        let region = websocket_region(vec![route("c1", "$connect", Some("CUSTOM"))]);
        assert_eq!(
            run_one(ID, &region, &ControlParameters::default()).status,
            Status::Passed
        );
    }

    #[test]
    fn websocket_connect_route_when_only_jwt_is_accepted_explains_the_conflict() {
        let region = websocket_region(vec![route("c1", "$connect", None)]);
        let finding = run_one(ID, &region, &accepting(&[AuthorizationType::Jwt]));
        assert_eq!(finding.status, Status::Failed);
        assert!(
            finding
                .reason
                .contains("WebSocket APIs do not support JWT authorizers"),
            "{}",
            finding.reason
        );
    }

    #[test]
    fn websocket_non_connect_route_fails_by_default_as_security_hub_does() {
        let region = websocket_region(vec![route("d1", "$default", None)]);
        let finding = run_one(ID, &region, &ControlParameters::default());
        assert_eq!(finding.status, Status::Failed);
        assert!(
            finding
                .reason
                .starts_with("route $default has no authorization (type NONE); only $connect"),
            "{}",
            finding.reason
        );
        assert!(
            finding
                .reason
                .contains("websocketNonConnectRoutes to NotApplicable"),
            "{}",
            finding.reason
        );
    }

    #[test]
    fn websocket_non_connect_route_is_not_applicable_when_the_profile_says_so() {
        let region = websocket_region(vec![
            route("c1", "$connect", Some("AWS_IAM")),
            route("d1", "$default", None),
            route("s1", "sendMessage", None),
        ]);
        let findings = run(ID, &region, &non_connect_not_applicable());
        let statuses: Vec<Status> = findings.iter().map(|finding| finding.status).collect();
        assert_eq!(
            statuses,
            [Status::Passed, Status::NotApplicable, Status::NotApplicable]
        );
    }

    #[test]
    fn websocket_connect_route_is_still_checked_when_non_connect_routes_are_not_applicable() {
        let region = websocket_region(vec![route("c1", "$connect", None)]);
        assert_eq!(
            run_one(ID, &region, &non_connect_not_applicable()).status,
            Status::Failed
        );
    }

    #[test]
    fn non_connect_policy_does_not_touch_http_routes() {
        let region = http_region(vec![route("r1", "$default", None)]);
        assert_eq!(
            run_one(ID, &region, &non_connect_not_applicable()).status,
            Status::Failed
        );
    }

    #[test]
    fn failing_route_notes_stages_that_do_not_auto_deploy() {
        let mut manual = v2_stage();
        manual.name = "live".to_string();
        let region = region_with(
            Vec::new(),
            vec![v2_api(
                "h1",
                V2Protocol::Http,
                vec![auto_deploying(), manual],
                vec![route("r1", "GET /x", None)],
            )],
        );
        let finding = run_one(ID, &region, &ControlParameters::default());
        assert!(
            finding.reason.ends_with("; stage live does not auto-deploy, so the change is live there only after a new deployment"),
            "{}",
            finding.reason
        );
    }

    #[test]
    fn websocket_non_connect_route_has_no_deployment_note() {
        // Its fix is authorizing at $connect (or the NotApplicable option), not a route
        // change; $connect's own finding carries the note.
        let mut manual = v2_stage();
        manual.name = "live".to_string();
        let region = region_with(
            Vec::new(),
            vec![v2_api(
                "w1",
                V2Protocol::WebSocket,
                vec![manual],
                vec![
                    route("c1", "$connect", None),
                    route("d1", "$default", None),
                    route("s1", "sendMessage", Some("NONE")),
                ],
            )],
        );
        let findings = run(ID, &region, &ControlParameters::default());
        assert_eq!(findings.len(), 3);
        let connect = &findings[0];
        assert!(
            connect.reason.ends_with(
                "; stage live does not auto-deploy, so the change is live there only after a new deployment"
            ),
            "{}",
            connect.reason
        );
        for finding in &findings[1..] {
            assert_eq!(finding.status, Status::Failed);
            assert!(
                finding
                    .reason
                    .ends_with("set routeAuthorization.websocketNonConnectRoutes to NotApplicable or exempt the route"),
                "{}",
                finding.reason
            );
            assert!(!finding.reason.contains("deploy"), "{}", finding.reason);
        }
    }

    #[test]
    fn failing_route_on_auto_deploying_stages_has_no_deployment_note() {
        let finding = http_route(None);
        assert!(!finding.reason.contains("deploy"), "{}", finding.reason);
    }

    #[test]
    fn route_finding_carries_the_route_arn_and_type() {
        let finding = http_route(Some("JWT"));
        assert_eq!(finding.control_id, ID);
        assert_eq!(finding.resource_type, ResourceType::V2Route);
        assert_eq!(
            finding.resource_arn,
            "arn:aws:apigateway:us-east-1::/apis/h1/routes/r1"
        );
        assert_eq!(finding.severity, Severity::Medium);
    }

    #[test]
    fn rest_apis_get_no_finding() {
        let region = rest_region(rest_stage(&[]));
        assert!(run(ID, &region, &ControlParameters::default()).is_empty());
    }

    /// The specification (securityhub-apigateway-controls.md), field by field, in its
    /// own words: the test is its letter in code.
    #[test]
    fn catalog_entry_matches_the_specification() {
        assert_matches_spec(
            &META,
            &SpecEntry {
                title: "API Gateway routes should specify an authorization type",
                severity: Severity::Medium,
                category: "Protect > Secure Access Management",
                resource_types: &["AWS::ApiGatewayV2::Route"],
                related_requirements: "NIST.800-53.r5 AC-3, NIST.800-53.r5 CM-2, NIST.800-53.r5 CM-2(2)",
                config_rule: "api-gwv2-authorization-type-configured",
                unsupported_regions: &[
                    "Asia Pacific (Jakarta)",
                    "China (Beijing)",
                    "China (Ningxia)",
                    "Middle East (UAE)",
                    "AWS GovCloud (US-East)",
                    "AWS GovCloud (US-West)",
                ],
                remediation_url: "https://docs.aws.amazon.com/securityhub/latest/userguide/apigateway-controls.html#apigateway-8",
            },
        );
    }
}

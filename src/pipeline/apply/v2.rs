//! API Gateway v2: UpdateStage as a read-modify-write of the stage's settings objects.
//! AWS does not document how partial settings objects merge, so the stage is read
//! (GetStage) and the whole objects it changes go back with only the planned fields
//! changed. The merge is pure ([`merge`]): it also settles the items that need no
//! write any more (the stage changed since the scan), never lowering a level,
//! redirecting logs or rewriting a format.

use std::collections::HashMap;

use aws_sdk_apigatewayv2::types::{AccessLogSettings, RouteSettings};
use serde_json::{Value, json};

use crate::aws::error::{Needed, classify};
use crate::model::outcome::ItemStatus;
use crate::model::plan::{Call, Change, Edit};
use crate::model::{LoggingLevel, V2Protocol};

use super::edge::{Edge, Pending, Settled};

/// A v2 stage's settings objects, as read.
#[derive(Clone, Debug, Default)]
pub(super) struct StageSettings {
    pub(super) default: Option<RouteSettings>,
    pub(super) routes: HashMap<String, RouteSettings>,
    pub(super) access: Option<AccessLogSettings>,
}

/// The objects an UpdateStage sends: those the merge changed, whole.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct StageUpdate {
    pub(super) default: Option<RouteSettings>,
    pub(super) routes: Option<HashMap<String, RouteSettings>>,
    pub(super) access: Option<AccessLogSettings>,
}

impl StageUpdate {
    fn is_empty(&self) -> bool {
        self.default.is_none() && self.routes.is_none() && self.access.is_none()
    }

    /// The request body as the SDK serialises it (camelCase, absent fields left out).
    fn request(&self) -> Value {
        let mut body = serde_json::Map::new();
        if let Some(default) = &self.default {
            body.insert(
                "defaultRouteSettings".to_string(),
                route_settings_json(default),
            );
        }
        if let Some(routes) = &self.routes {
            let map: serde_json::Map<String, Value> = routes
                .iter()
                .map(|(key, settings)| (key.clone(), route_settings_json(settings)))
                .collect();
            body.insert("routeSettings".to_string(), Value::Object(map));
        }
        if let Some(access) = &self.access {
            let mut object = serde_json::Map::new();
            if let Some(destination) = access.destination_arn() {
                object.insert("destinationArn".to_string(), json!(destination));
            }
            if let Some(format) = access.format() {
                object.insert("format".to_string(), json!(format));
            }
            body.insert("accessLogSettings".to_string(), Value::Object(object));
        }
        Value::Object(body)
    }
}

/// Applies the open items' edits to `stage` (pure). An item whose setting already
/// holds what it would set (or more) is settled as already compliant; an edit that
/// would reach an HTTP stage's logging level is blocked.
pub(super) fn merge(
    stage: StageSettings,
    protocol: V2Protocol,
    pending: &mut [Pending<'_>],
) -> StageUpdate {
    let StageSettings {
        mut default,
        mut routes,
        mut access,
    } = stage;
    let (mut send_default, mut send_routes, mut send_access) = (false, false, false);
    for p in pending.iter_mut().filter(|p| p.result.is_none()) {
        let settled = match &p.edit {
            Edit::DefaultRouteLoggingLevel { .. } | Edit::RouteLoggingLevel { .. }
                if protocol == V2Protocol::Http =>
            {
                Some(Settled::new(
                    ItemStatus::BlockedPrecondition,
                    Some(
                        "HTTP APIs do not support execution logging; no LoggingLevel is sent to HTTP stages"
                            .to_string(),
                    ),
                ))
            }
            Edit::DefaultRouteLoggingLevel { level } => {
                let current = default
                    .as_ref()
                    .and_then(|d| d.logging_level())
                    .map(|l| l.as_str().to_string());
                if LoggingLevel::rank_of(current.as_deref()) >= level.rank() {
                    Some(Settled::new(
                        ItemStatus::AlreadyCompliant,
                        Some(format!("now {}", current.unwrap_or_default())),
                    ))
                } else {
                    default = Some(with_level(default.as_ref(), *level));
                    send_default = true;
                    None
                }
            }
            Edit::RouteLoggingLevel { route_key, level } => match routes.get(route_key) {
                None => Some(Settled::new(
                    ItemStatus::AlreadyCompliant,
                    Some(
                        "the route override no longer exists; the route logs at the default level"
                            .to_string(),
                    ),
                )),
                Some(current)
                    if LoggingLevel::rank_of(current.logging_level().map(|l| l.as_str()))
                        >= level.rank() =>
                {
                    Some(Settled::new(
                        ItemStatus::AlreadyCompliant,
                        current
                            .logging_level()
                            .map(|l| format!("now {}", l.as_str())),
                    ))
                }
                Some(current) => {
                    let updated = with_level(Some(current), *level);
                    routes.insert(route_key.clone(), updated);
                    send_routes = true;
                    None
                }
            },
            Edit::AccessLogDestination { destination_arn } => {
                let current = access
                    .as_ref()
                    .and_then(|a| a.destination_arn())
                    .filter(|d| !d.trim().is_empty());
                if let Some(current) = current {
                    Some(Settled::new(
                        ItemStatus::AlreadyCompliant,
                        Some(format!("now {current}; never redirected")),
                    ))
                } else {
                    access = Some(
                        AccessLogSettings::builder()
                            .destination_arn(destination_arn)
                            .set_format(access.as_ref().and_then(|a| a.format()).map(str::to_string))
                            .build(),
                    );
                    send_access = true;
                    None
                }
            }
            Edit::AccessLogFormat { format } => {
                let current = access
                    .as_ref()
                    .and_then(|a| a.format())
                    .filter(|f| !f.trim().is_empty());
                if current.is_some() {
                    Some(Settled::new(
                        ItemStatus::AlreadyCompliant,
                        Some("a format is set; never rewritten".to_string()),
                    ))
                } else {
                    access = Some(
                        AccessLogSettings::builder()
                            .set_destination_arn(
                                access
                                    .as_ref()
                                    .and_then(|a| a.destination_arn())
                                    .map(str::to_string),
                            )
                            .format(format)
                            .build(),
                    );
                    send_access = true;
                    None
                }
            }
            Edit::RestReplace { .. } | Edit::AssociateWebAcl { .. } => Some(Settled::new(
                ItemStatus::Failed,
                Some("not an apigatewayv2 UpdateStage edit; not sent".to_string()),
            )),
        };
        if settled.is_some() {
            p.result = settled;
        }
    }
    StageUpdate {
        default: default.filter(|_| send_default),
        routes: send_routes.then_some(routes),
        access: access.filter(|_| send_access),
    }
}

impl Edge<'_> {
    pub(super) async fn v2_update_stage(
        &mut self,
        change: &Change,
        api_id: &str,
        stage_name: &str,
        protocol: V2Protocol,
        pending: &mut [Pending<'_>],
    ) -> Call {
        let mut call = Call {
            operation: "apigatewayv2:UpdateStage".to_string(),
            http: format!("PATCH /v2/apis/{api_id}/stages/{stage_name}"),
            request: json!({}),
        };
        if pending.iter().all(|p| p.result.is_some()) {
            return call;
        }
        let client = self.clients(&change.region).v2.clone();
        let stage = match client
            .get_stage()
            .api_id(api_id)
            .stage_name(stage_name)
            .send()
            .await
        {
            Ok(stage) => StageSettings {
                default: stage.default_route_settings().cloned(),
                routes: stage.route_settings().cloned().unwrap_or_default(),
                access: stage.access_log_settings().cloned(),
            },
            Err(e) => {
                let error = classify(
                    &change.region,
                    "GetStage",
                    Needed::Write("apigateway:GET on the stage ARN"),
                    &e,
                );
                Pending::settle(pending, &Settled::failed(error));
                return call;
            }
        };
        let update = merge(stage, protocol, pending);
        call.request = update.request();
        if update.is_empty() {
            return call;
        }
        if self.holds_back(pending) {
            return call;
        }
        let sent = client
            .update_stage()
            .api_id(api_id)
            .stage_name(stage_name)
            .set_default_route_settings(update.default)
            .set_route_settings(update.routes)
            .set_access_log_settings(update.access)
            .send()
            .await;
        let settled = Settled::of_call(
            sent,
            &change.region,
            "UpdateStage",
            Needed::Write("apigateway:PATCH on the stage ARN"),
        );
        Pending::settle(pending, &settled);
        call
    }
}

/// `settings` with its LoggingLevel set and every other field kept.
fn with_level(settings: Option<&RouteSettings>, level: LoggingLevel) -> RouteSettings {
    RouteSettings::builder()
        .set_data_trace_enabled(settings.and_then(|s| s.data_trace_enabled()))
        .set_detailed_metrics_enabled(settings.and_then(|s| s.detailed_metrics_enabled()))
        .set_throttling_burst_limit(settings.and_then(|s| s.throttling_burst_limit()))
        .set_throttling_rate_limit(settings.and_then(|s| s.throttling_rate_limit()))
        .logging_level(aws_sdk_apigatewayv2::types::LoggingLevel::from(
            level.as_str(),
        ))
        .build()
}

/// A RouteSettings as the SDK serialises it (camelCase, absent fields left out).
fn route_settings_json(settings: &RouteSettings) -> Value {
    let mut object = serde_json::Map::new();
    if let Some(v) = settings.data_trace_enabled() {
        object.insert("dataTraceEnabled".to_string(), json!(v));
    }
    if let Some(v) = settings.detailed_metrics_enabled() {
        object.insert("detailedMetricsEnabled".to_string(), json!(v));
    }
    if let Some(v) = settings.logging_level() {
        object.insert("loggingLevel".to_string(), json!(v.as_str()));
    }
    if let Some(v) = settings.throttling_burst_limit() {
        object.insert("throttlingBurstLimit".to_string(), json!(v));
    }
    if let Some(v) = settings.throttling_rate_limit() {
        object.insert("throttlingRateLimit".to_string(), json!(v));
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ControlId;
    use crate::model::plan::ChangeItem;

    #[test]
    fn route_settings_keep_every_field_but_the_level() {
        let before = RouteSettings::builder()
            .data_trace_enabled(false)
            .throttling_burst_limit(100)
            .throttling_rate_limit(50.0)
            .logging_level(aws_sdk_apigatewayv2::types::LoggingLevel::Off)
            .build();
        let after = with_level(Some(&before), LoggingLevel::Error);
        assert_eq!(
            route_settings_json(&after),
            json!({"dataTraceEnabled": false, "loggingLevel": "ERROR", "throttlingBurstLimit": 100, "throttlingRateLimit": 50.0})
        );
        assert_eq!(
            route_settings_json(&with_level(None, LoggingLevel::Info)),
            json!({"loggingLevel": "INFO"})
        );
    }

    fn item(edit: Edit) -> ChangeItem {
        ChangeItem {
            control_id: ControlId::new("Example.1"),
            setting: "a setting".to_string(),
            before: "none".to_string(),
            after: "x".to_string(),
            edit,
            precondition: None,
        }
    }

    fn merged(
        stage: StageSettings,
        protocol: V2Protocol,
        edits: Vec<Edit>,
    ) -> (StageUpdate, Vec<Option<ItemStatus>>) {
        let items: Vec<ChangeItem> = edits.into_iter().map(item).collect();
        let mut pending: Vec<Pending> = items.iter().map(Pending::new).collect();
        let update = merge(stage, protocol, &mut pending);
        let statuses = pending
            .iter()
            .map(|p| p.result.as_ref().map(|s| s.status))
            .collect();
        (update, statuses)
    }

    fn level(level: aws_sdk_apigatewayv2::types::LoggingLevel) -> RouteSettings {
        RouteSettings::builder().logging_level(level).build()
    }

    #[test]
    fn a_level_raised_since_the_scan_is_not_lowered_and_nothing_is_sent() {
        let stage = StageSettings {
            default: Some(level(aws_sdk_apigatewayv2::types::LoggingLevel::Info)),
            ..StageSettings::default()
        };
        let (update, statuses) = merged(
            stage,
            V2Protocol::WebSocket,
            vec![Edit::DefaultRouteLoggingLevel {
                level: LoggingLevel::Error,
            }],
        );
        assert!(update.is_empty());
        assert_eq!(statuses, [Some(ItemStatus::AlreadyCompliant)]);
    }

    #[test]
    fn levels_are_raised_and_only_changed_objects_are_sent_whole() {
        let mut routes = HashMap::new();
        routes.insert(
            "$connect".to_string(),
            RouteSettings::builder()
                .logging_level(aws_sdk_apigatewayv2::types::LoggingLevel::Off)
                .throttling_burst_limit(7)
                .build(),
        );
        let stage = StageSettings {
            default: None,
            routes,
            access: None,
        };
        let (update, statuses) = merged(
            stage,
            V2Protocol::WebSocket,
            vec![
                Edit::DefaultRouteLoggingLevel {
                    level: LoggingLevel::Error,
                },
                Edit::RouteLoggingLevel {
                    route_key: "$connect".to_string(),
                    level: LoggingLevel::Error,
                },
                Edit::RouteLoggingLevel {
                    route_key: "gone".to_string(),
                    level: LoggingLevel::Error,
                },
            ],
        );
        assert_eq!(
            statuses,
            [None, None, Some(ItemStatus::AlreadyCompliant)],
            "open items are settled by the call"
        );
        assert_eq!(
            update.request(),
            json!({
                "defaultRouteSettings": {"loggingLevel": "ERROR"},
                "routeSettings": {"$connect": {"loggingLevel": "ERROR", "throttlingBurstLimit": 7}}
            })
        );
    }

    #[test]
    fn access_logs_are_never_redirected_and_a_format_never_rewritten() {
        let stage = StageSettings {
            access: Some(
                AccessLogSettings::builder()
                    .destination_arn("arn:aws:logs:us-east-1:111122223333:log-group:kept")
                    .build(),
            ),
            ..StageSettings::default()
        };
        let (update, statuses) = merged(
            stage,
            V2Protocol::Http,
            vec![
                Edit::AccessLogDestination {
                    destination_arn: "arn:aws:logs:us-east-1:111122223333:log-group:new"
                        .to_string(),
                },
                Edit::AccessLogFormat {
                    format: "$context.requestId".to_string(),
                },
            ],
        );
        assert_eq!(statuses, [Some(ItemStatus::AlreadyCompliant), None]);
        assert_eq!(
            update.request(),
            json!({"accessLogSettings": {
                "destinationArn": "arn:aws:logs:us-east-1:111122223333:log-group:kept",
                "format": "$context.requestId"}})
        );
    }

    #[test]
    fn http_stages_are_never_sent_a_logging_level() {
        let (update, statuses) = merged(
            StageSettings::default(),
            V2Protocol::Http,
            vec![Edit::DefaultRouteLoggingLevel {
                level: LoggingLevel::Error,
            }],
        );
        assert!(update.is_empty());
        assert_eq!(statuses, [Some(ItemStatus::BlockedPrecondition)]);
    }
}

//! The recheck before a REST write: the plan was made from a region read that can be
//! an interval old, so each REST write is preceded by a read of the one resource it
//! changes, and the open items are re-planned against that fresh state (pure, like
//! v2's merge). An item is not sent when the fresh state already passes
//! (`AlreadyCompliant`), or when sending it would now lower, redirect or replace
//! something set since the plan's read (`ChangedSincePlan`; the next scan re-plans).

use crate::controls::common::shown;
use crate::inventory::{DomainName, RestStage};
use crate::model::ErrorKind;
use crate::model::LoggingLevel;
use crate::model::outcome::ItemStatus;
use crate::model::plan::{Edit, PatchValue};

use super::edge::{Pending, Settled};

/// The stage-wide key of a REST stage's method settings.
const STAGE_WIDE: &str = "*/*";

/// Settles the open items of an UpdateStage or AssociateWebACL on a REST stage that
/// must not be sent, given the stage as read just now (`None`: it no longer exists).
/// The items left open are still to be sent, as they are.
pub(super) fn rest_stage(fresh: Option<&RestStage>, pending: &mut [Pending<'_>]) {
    for p in pending.iter_mut().filter(|p| p.result.is_none()) {
        p.result = match fresh {
            None => Some(gone("the stage")),
            Some(stage) => stage_item(stage, p),
        };
    }
}

/// Settles the open items of an UpdateDomainName that must not be sent, given the
/// domain name as read just now (`None`: it no longer exists).
pub(super) fn domain_name(fresh: Option<&DomainName>, pending: &mut [Pending<'_>]) {
    for p in pending.iter_mut().filter(|p| p.result.is_none()) {
        p.result = match fresh {
            None => Some(gone("the domain name")),
            Some(domain) => match &p.edit {
                Edit::RestReplace { path, value } if path == "/securityPolicy" => scalar(
                    "security policy",
                    domain.security_policy.as_deref(),
                    value,
                    &p.item.before,
                ),
                _ => Some(unknown(&p.edit)),
            },
        };
    }
}

/// How one open item of a REST stage stands against the fresh stage: `None` to send it.
fn stage_item(stage: &RestStage, p: &Pending<'_>) -> Option<Settled> {
    let (path, value) = match &p.edit {
        Edit::AssociateWebAcl { web_acl_arn } => {
            return web_acl(stage.web_acl_arn.as_deref(), web_acl_arn, &p.item.before);
        }
        Edit::RestReplace { path, value } => (path.as_str(), value),
        _ => return Some(unknown(&p.edit)),
    };
    if let Some(key) = method_key(path, "/logging/loglevel") {
        return logging_level(stage, key, value);
    }
    if let Some(key) = method_key(path, "/caching/dataEncrypted") {
        return cache_encryption(stage, key);
    }
    let access = stage.access_log.as_ref();
    match path {
        "/tracingEnabled" => stage.tracing_enabled.then(|| compliant("now true".into())),
        // Never redirected, never rewritten: whatever is set now stays.
        "/accessLogSettings/destinationArn" => access
            .and_then(|a| a.destination_arn.as_deref())
            .map(|d| compliant(format!("now {d}; never redirected"))),
        "/accessLogSettings/format" => access
            .and_then(|a| a.format.as_deref())
            .map(|_| compliant("a format is set; never rewritten".into())),
        "/clientCertificateId" => scalar(
            "client certificate",
            stage.client_certificate_id.as_deref(),
            value,
            &p.item.before,
        ),
        _ => Some(unknown(&p.edit)),
    }
}

/// The method settings key of a per-method path: `/*/*/logging/loglevel` -> `*/*`,
/// `/~1orders/GET/logging/loglevel` -> `~1orders/GET`.
fn method_key<'a>(path: &'a str, suffix: &str) -> Option<&'a str> {
    path.strip_prefix('/')?
        .strip_suffix(suffix)
        .filter(|key| !key.is_empty())
}

/// A logging level is only raised (as v2's merge): one that logs as much as the target
/// or more is left alone, and a method override that no longer exists is not recreated.
fn logging_level(stage: &RestStage, key: &str, value: &PatchValue) -> Option<Settled> {
    let target = LoggingLevel::rank_of(Some(value.shown()));
    let setting = stage.method_settings.get(key);
    if setting.is_none() && key != STAGE_WIDE {
        return Some(compliant(
            "the override no longer exists; the method logs at the stage's level".into(),
        ));
    }
    let current = setting.and_then(|s| s.logging_level.as_deref());
    (LoggingLevel::rank_of(current) >= target).then(|| compliant(format!("now {}", shown(current))))
}

/// Encryption is only planned where caching is on: a cache now encrypted, turned off
/// or gone needs nothing (and a patch would create the method setting).
fn cache_encryption(stage: &RestStage, key: &str) -> Option<Settled> {
    match stage.method_settings.get(key) {
        None => Some(compliant(
            "the method setting no longer exists; nothing caches there".into(),
        )),
        Some(s) if s.cache_data_encrypted => Some(compliant("now encrypted".into())),
        Some(s) if !s.caching_enabled => {
            Some(compliant("caching is off now; nothing to encrypt".into()))
        }
        Some(_) => None,
    }
}

/// A value that is replaced: already the target, or changed since the plan's read (the
/// plan's replacement was chosen for what it read, not for what is there now).
fn scalar(what: &str, fresh: Option<&str>, value: &PatchValue, before: &str) -> Option<Settled> {
    let now = shown(fresh);
    if fresh.is_some_and(|f| f == value.shown()) {
        Some(compliant(format!("now {now}")))
    } else if now != before {
        Some(changed(format!(
            "{what} is now {now} (the plan read {before})"
        )))
    } else {
        None
    }
}

/// The web ACL: an association made since the plan's read is never replaced; the one
/// the plan read is (the allow-list demanded it).
fn web_acl(fresh: Option<&str>, target: &str, before: &str) -> Option<Settled> {
    let now = shown(fresh);
    match fresh {
        Some(f) if f == target => Some(compliant(format!("now {now}"))),
        _ if now == before => None,
        Some(f) => Some(changed(format!(
            "web ACL {f} was associated after the plan's read (which found {before}); remediation never replaces it"
        ))),
        None => Some(changed(format!(
            "no web ACL is associated now (the plan read {before})"
        ))),
    }
}

fn compliant(message: String) -> Settled {
    Settled::new(ItemStatus::AlreadyCompliant, Some(message))
}

fn changed(what: String) -> Settled {
    Settled::new(
        ItemStatus::ChangedSincePlan,
        Some(format!(
            "{what}: changed since the plan's read, so not written; the next scan re-plans"
        )),
    )
}

fn gone(what: &str) -> Settled {
    Settled {
        status: ItemStatus::Failed,
        message: Some(format!(
            "{what} no longer exists (re-read before the write found nothing; deleted since the plan's read?): nothing was sent"
        )),
        kind: Some(ErrorKind::NotFound),
    }
}

/// An edit the recheck does not know how to read back: not sent, since it cannot be
/// checked against what is there now.
fn unknown(edit: &Edit) -> Settled {
    let what = match edit {
        Edit::RestReplace { path, .. } => format!("patch path {path}"),
        other => format!("{other:?}"),
    };
    Settled::new(
        ItemStatus::Failed,
        Some(format!(
            "{what} cannot be re-checked against the resource as read now; not sent"
        )),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::inventory::{AccessLogSettings, MethodSetting};
    use crate::model::ControlId;
    use crate::model::plan::ChangeItem;

    fn replace(path: &str, value: &str, before: &str) -> ChangeItem {
        ChangeItem {
            control_id: ControlId::new("Example.1"),
            setting: "a setting".to_string(),
            before: before.to_string(),
            after: value.to_string(),
            edit: Edit::RestReplace {
                path: path.to_string(),
                value: PatchValue::Literal(value.to_string()),
            },
            precondition: None,
        }
    }

    fn associate(acl: &str, before: &str) -> ChangeItem {
        ChangeItem {
            control_id: ControlId::new("Example.4"),
            setting: "web ACL".to_string(),
            before: before.to_string(),
            after: acl.to_string(),
            edit: Edit::AssociateWebAcl {
                web_acl_arn: acl.to_string(),
            },
            precondition: None,
        }
    }

    fn stage() -> RestStage {
        RestStage {
            name: "prod".to_string(),
            method_settings: BTreeMap::new(),
            tracing_enabled: false,
            client_certificate_id: None,
            web_acl_arn: None,
            cache_cluster_enabled: false,
            access_log: None,
            tags: BTreeMap::new(),
        }
    }

    fn level(level: Option<&str>) -> MethodSetting {
        MethodSetting {
            logging_level: level.map(str::to_string),
            ..MethodSetting::default()
        }
    }

    fn with_methods(settings: &[(&str, MethodSetting)]) -> RestStage {
        RestStage {
            method_settings: settings
                .iter()
                .map(|(k, s)| (k.to_string(), s.clone()))
                .collect(),
            ..stage()
        }
    }

    /// Each item's status after the recheck (`None`: still to send) and message.
    fn checked(
        fresh: Option<&RestStage>,
        items: &[ChangeItem],
    ) -> Vec<(Option<ItemStatus>, String)> {
        let mut pending: Vec<Pending> = items.iter().map(Pending::new).collect();
        rest_stage(fresh, &mut pending);
        pending
            .iter()
            .map(|p| {
                let r = p.result.as_ref();
                (
                    r.map(|s| s.status),
                    r.and_then(|s| s.message.clone()).unwrap_or_default(),
                )
            })
            .collect()
    }

    fn one(fresh: &RestStage, item: ChangeItem) -> (Option<ItemStatus>, String) {
        checked(Some(fresh), &[item]).remove(0)
    }

    const SEND: Option<ItemStatus> = None;
    const COMPLIANT: Option<ItemStatus> = Some(ItemStatus::AlreadyCompliant);
    const CHANGED: Option<ItemStatus> = Some(ItemStatus::ChangedSincePlan);

    #[test]
    fn method_setting_keys_are_the_path_without_its_ends() {
        assert_eq!(
            method_key("/*/*/logging/loglevel", "/logging/loglevel"),
            Some("*/*")
        );
        assert_eq!(
            method_key(
                "/~1orders~1{id}/GET/caching/dataEncrypted",
                "/caching/dataEncrypted"
            ),
            Some("~1orders~1{id}/GET")
        );
        assert_eq!(method_key("/tracingEnabled", "/logging/loglevel"), None);
    }

    #[test]
    fn a_stage_wide_level_raised_since_the_plan_is_not_lowered() {
        let item = || replace("/*/*/logging/loglevel", "ERROR", "OFF");
        let info = with_methods(&[("*/*", level(Some("INFO")))]);
        assert_eq!(one(&info, item()), (COMPLIANT, "now INFO".to_string()));
        let error = with_methods(&[("*/*", level(Some("ERROR")))]);
        assert_eq!(one(&error, item()).0, COMPLIANT);
        let off = with_methods(&[("*/*", level(Some("OFF")))]);
        assert_eq!(one(&off, item()).0, SEND);
        assert_eq!(
            one(&stage(), item()).0,
            SEND,
            "a missing stage-wide entry is still set"
        );
        let info_target = replace("/*/*/logging/loglevel", "INFO", "ERROR");
        let error = with_methods(&[("*/*", level(Some("ERROR")))]);
        assert_eq!(one(&error, info_target).0, SEND, "raised to the target");
    }

    #[test]
    fn a_method_override_is_raised_only_while_it_exists_below_the_target() {
        let item = || replace("/~1orders/GET/logging/loglevel", "ERROR", "OFF");
        let gone = with_methods(&[("*/*", level(Some("OFF")))]);
        let (status, message) = one(&gone, item());
        assert_eq!(status, COMPLIANT);
        assert!(message.contains("no longer exists"), "{message}");
        let raised = with_methods(&[("~1orders/GET", level(Some("INFO")))]);
        assert_eq!(one(&raised, item()), (COMPLIANT, "now INFO".to_string()));
        let off = with_methods(&[("~1orders/GET", level(Some("OFF")))]);
        assert_eq!(one(&off, item()).0, SEND);
        let absent = with_methods(&[("~1orders/GET", level(None))]);
        assert_eq!(one(&absent, item()).0, SEND);
    }

    #[test]
    fn cache_encryption_is_sent_only_to_a_cache_still_unencrypted() {
        let item = || replace("/~1orders/GET/caching/dataEncrypted", "true", "false");
        let caching = |encrypted| MethodSetting {
            caching_enabled: true,
            cache_data_encrypted: encrypted,
            ..MethodSetting::default()
        };
        let unencrypted = with_methods(&[("~1orders/GET", caching(false))]);
        assert_eq!(one(&unencrypted, item()).0, SEND);
        let encrypted = with_methods(&[("~1orders/GET", caching(true))]);
        assert_eq!(
            one(&encrypted, item()),
            (COMPLIANT, "now encrypted".to_string())
        );
        let off = with_methods(&[("~1orders/GET", MethodSetting::default())]);
        assert_eq!(one(&off, item()).0, COMPLIANT);
        assert_eq!(one(&stage(), item()).0, COMPLIANT, "the setting is gone");
    }

    #[test]
    fn tracing_is_sent_only_while_off() {
        let item = || replace("/tracingEnabled", "true", "false");
        assert_eq!(one(&stage(), item()).0, SEND);
        let on = RestStage {
            tracing_enabled: true,
            ..stage()
        };
        assert_eq!(one(&on, item()).0, COMPLIANT);
    }

    #[test]
    fn access_logs_set_since_the_plan_are_never_redirected_or_rewritten() {
        let destination = || {
            replace(
                "/accessLogSettings/destinationArn",
                "arn:aws:logs:us-east-1:111122223333:log-group:new",
                "none",
            )
        };
        let format = || replace("/accessLogSettings/format", "$context.requestId", "none");
        let empty = RestStage {
            access_log: Some(AccessLogSettings::default()),
            ..stage()
        };
        assert_eq!(
            checked(Some(&empty), &[destination(), format()])
                .into_iter()
                .map(|(s, _)| s)
                .collect::<Vec<_>>(),
            [SEND, SEND]
        );
        let set = RestStage {
            access_log: Some(AccessLogSettings {
                destination_arn: Some("arn:aws:logs:us-east-1:111122223333:log-group:kept".into()),
                format: Some("$context.status".into()),
            }),
            ..stage()
        };
        let results = checked(Some(&set), &[destination(), format()]);
        assert_eq!(results[0].0, COMPLIANT);
        assert!(
            results[0].1.contains("log-group:kept; never redirected"),
            "{}",
            results[0].1
        );
        assert_eq!(results[1].0, COMPLIANT);
    }

    #[test]
    fn a_client_certificate_is_attached_only_over_what_the_plan_read() {
        let item = |before: &str| replace("/clientCertificateId", "cc-new", before);
        assert_eq!(one(&stage(), item("none")).0, SEND);
        let with = |id: &str| RestStage {
            client_certificate_id: Some(id.to_string()),
            ..stage()
        };
        assert_eq!(one(&with("cc-new"), item("none")).0, COMPLIANT);
        assert_eq!(
            one(&with("cc-old"), item("cc-old")).0,
            SEND,
            "the replacement the plan chose"
        );
        let (status, message) = one(&with("cc-other"), item("none"));
        assert_eq!(status, CHANGED);
        assert!(
            message.starts_with("client certificate is now cc-other (the plan read none)")
                && message.contains("the next scan re-plans"),
            "{message}"
        );
        assert_eq!(
            one(&stage(), item("cc-old")).0,
            CHANGED,
            "detached since the plan"
        );
    }

    #[test]
    fn a_web_acl_associated_since_the_plan_is_never_replaced() {
        let target = "arn:aws:wafv2:us-east-1:111122223333:regional/webacl/api/1";
        let other = "arn:aws:wafv2:us-east-1:111122223333:regional/webacl/other/2";
        let with = |acl: Option<&str>| RestStage {
            web_acl_arn: acl.map(str::to_string),
            ..stage()
        };
        assert_eq!(one(&with(None), associate(target, "none")).0, SEND);
        assert_eq!(
            one(&with(Some(target)), associate(target, "none")).0,
            COMPLIANT
        );
        let (status, message) = one(&with(Some(other)), associate(target, "none"));
        assert_eq!(status, CHANGED);
        assert!(
            message.starts_with(&format!(
                "web ACL {other} was associated after the plan's read"
            )),
            "{message}"
        );
        assert_eq!(
            one(&with(Some(other)), associate(target, other)).0,
            SEND,
            "the allow-list's replacement, as planned"
        );
        assert_eq!(one(&with(None), associate(target, other)).0, CHANGED);
    }

    #[test]
    fn a_stage_gone_fails_every_open_item_and_nothing_is_sent() {
        let results = checked(
            None,
            &[
                replace("/tracingEnabled", "true", "false"),
                associate(
                    "arn:aws:wafv2:us-east-1:111122223333:regional/webacl/a/1",
                    "none",
                ),
            ],
        );
        for (status, message) in results {
            assert_eq!(status, Some(ItemStatus::Failed));
            assert!(message.contains("no longer exists"), "{message}");
        }
    }

    #[test]
    fn an_unknown_path_is_not_sent() {
        let (status, message) = one(&stage(), replace("/cacheClusterEnabled", "true", "false"));
        assert_eq!(status, Some(ItemStatus::Failed));
        assert!(message.contains("/cacheClusterEnabled"), "{message}");
    }

    #[test]
    fn items_already_settled_are_left_as_they_are() {
        let item = replace("/tracingEnabled", "true", "false");
        let mut pending = vec![Pending {
            item: &item,
            edit: item.edit.clone(),
            result: Some(Settled::new(ItemStatus::BlockedPrecondition, None)),
        }];
        rest_stage(None, &mut pending);
        assert_eq!(
            pending[0].result.as_ref().map(|s| s.status),
            Some(ItemStatus::BlockedPrecondition)
        );
    }

    #[test]
    fn a_domain_security_policy_is_replaced_only_over_what_the_plan_read() {
        let item = replace("/securityPolicy", "TLS_1_2", "TLS_1_0");
        let domain = |policy: &str| DomainName {
            name: "api.example.com".to_string(),
            security_policy: Some(policy.to_string()),
            endpoint_types: vec!["REGIONAL".to_string()],
            tags: BTreeMap::new(),
        };
        let run = |fresh: Option<&DomainName>| {
            let mut pending = vec![Pending::new(&item)];
            domain_name(fresh, &mut pending);
            pending[0].result.clone().map(|s| (s.status, s.message))
        };
        assert_eq!(run(Some(&domain("TLS_1_0"))), None);
        assert_eq!(
            run(Some(&domain("TLS_1_2"))).map(|r| r.0),
            Some(ItemStatus::AlreadyCompliant)
        );
        let changed = run(Some(&domain("SecurityPolicy_TLS13_1_3_2025_09")));
        assert_eq!(
            changed.as_ref().map(|r| r.0),
            Some(ItemStatus::ChangedSincePlan)
        );
        assert_eq!(run(None).map(|r| r.0), Some(ItemStatus::Failed));
    }
}

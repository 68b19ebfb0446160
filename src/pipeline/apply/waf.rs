//! WAFv2: that the profile's web ACL exists (GetWebACL) and its association with a
//! stage (AssociateWebACL, retried while a new web ACL is still propagating).

use crate::aws::error::{Needed, classify};
use crate::model::arn::parse_web_acl_arn;
use crate::model::outcome::ItemStatus;
use crate::model::plan::{Call, Change, call_for};

use super::edge::{Edge, Pending, Settled};

impl Edge<'_> {
    /// Whether the web ACL exists, with REGIONAL scope, in its region.
    pub(super) async fn web_acl_exists(&mut self, web_acl_arn: &str) -> (bool, String) {
        let acl = match parse_web_acl_arn(web_acl_arn) {
            Ok(acl) => acl,
            Err(message) => return (false, message),
        };
        let client = self.clients(&acl.region).waf.clone();
        let found = client
            .get_web_acl()
            .name(&acl.name)
            .id(&acl.id)
            .scope(aws_sdk_wafv2::types::Scope::Regional)
            .send()
            .await;
        match found {
            Ok(_) => (true, format!("found in {} with REGIONAL scope", acl.region)),
            Err(e) => (
                false,
                classify(
                    &acl.region,
                    "GetWebACL",
                    Needed::Write("wafv2:GetWebACL on the web ACL"),
                    &e,
                )
                .message,
            ),
        }
    }

    pub(super) async fn associate_web_acl(
        &mut self,
        change: &Change,
        web_acl_arn: &str,
        pending: &mut [Pending<'_>],
    ) -> Call {
        let call = call_for(&change.operation, &change.resource_arn, &change.items);
        if pending.iter().all(|p| p.result.is_some()) {
            return call;
        }
        if self.options.dry_run {
            Pending::settle(pending, &Settled::new(ItemStatus::WouldApply, None));
            return call;
        }
        let client = self.clients(&change.region).waf.clone();
        let mut delays = self.options.waf_retry_delays.iter();
        loop {
            let sent = client
                .associate_web_acl()
                .web_acl_arn(web_acl_arn)
                .resource_arn(&change.resource_arn)
                .send()
                .await;
            match sent {
                Ok(_) => {
                    Pending::settle(pending, &Settled::new(ItemStatus::Applied, None));
                    break;
                }
                Err(e) => {
                    let propagating = e
                        .as_service_error()
                        .is_some_and(|s| s.is_waf_unavailable_entity_exception());
                    match delays.next() {
                        Some(delay) if propagating => tokio::time::sleep(*delay).await,
                        _ => {
                            let error = classify(
                                &change.region,
                                "AssociateWebACL",
                                Needed::Write(
                                    "wafv2:AssociateWebACL on the web ACL and apigateway:SetWebACL on the stage ARN",
                                ),
                                &e,
                            );
                            Pending::settle(pending, &Settled::failed(error));
                            break;
                        }
                    }
                }
            }
        }
        call
    }
}

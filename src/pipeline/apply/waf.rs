//! WAFv2: that the profile's web ACL exists (GetWebACL) and its association with a
//! stage (AssociateWebACL, retried while a new web ACL is still propagating), after a
//! read of the stage (GetStage): a web ACL associated since the plan's read is never
//! replaced.

use crate::aws::error::{Needed, classify};
use crate::inventory::{ReadError, RestStage, single};
use crate::model::ErrorKind;
use crate::model::arn::parse_web_acl_arn;
use crate::model::outcome::ItemStatus;
use crate::model::plan::{Call, Change, call_for};

use super::edge::{Edge, Pending, Settled};
use super::recheck;

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
        match self.stage_read(change).await {
            Ok(fresh) => recheck::rest_stage(fresh.as_ref(), pending),
            Err(error) => Pending::settle(pending, &Settled::unread(error)),
        }
        if pending.iter().all(|p| p.result.is_some()) {
            return call;
        }
        if self.holds_back(pending) {
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
                        Some(delay) if propagating => {
                            tokio::time::sleep(*delay).await;
                            // A retry is a new write: the gate is asked again.
                            if let Err(why) = self.write_gate() {
                                Pending::settle(pending, &Settled::not_sent(why));
                                break;
                            }
                        }
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

impl Edge<'_> {
    /// The stage the web ACL is to be associated with, as read now: the read made just
    /// before this stage's UpdateStage when there was one, else a GetStage of its own.
    async fn stage_read(&mut self, change: &Change) -> Result<Option<RestStage>, ReadError> {
        if let Some(fresh) = self.stage_reads.remove(&change.resource_arn) {
            return Ok(fresh);
        }
        let Some((api_id, stage)) = rest_stage_of(&change.resource_arn) else {
            return Err(ReadError {
                account_id: None,
                region: change.region.clone(),
                resource_arn: Some(change.resource_arn.clone()),
                operation: "GetStage".to_string(),
                kind: ErrorKind::Invalid,
                message: format!(
                    "{} is not a REST stage ARN, so the stage cannot be read",
                    change.resource_arn
                ),
            });
        };
        let client = self.clients(&change.region).rest.clone();
        single::rest_stage(&client, &change.region, api_id, stage).await
    }
}

/// The REST API id and stage name of a stage ARN
/// (`arn:aws:apigateway:REGION::/restapis/{id}/stages/{stage}`).
fn rest_stage_of(arn: &str) -> Option<(&str, &str)> {
    let (_, path) = arn.split_once("::/restapis/")?;
    let (api_id, stage) = path.split_once("/stages/")?;
    (!api_id.is_empty() && !stage.is_empty() && !stage.contains('/')).then_some((api_id, stage))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_arn_names_its_api_and_stage() {
        assert_eq!(
            rest_stage_of("arn:aws:apigateway:us-east-1::/restapis/a1b2/stages/prod"),
            Some(("a1b2", "prod"))
        );
        assert_eq!(
            rest_stage_of("arn:aws:apigateway:us-east-1::/restapis/a1b2"),
            None
        );
        assert_eq!(
            rest_stage_of("arn:aws:apigateway:us-east-1::/apis/a1b2/stages/prod"),
            None
        );
    }
}

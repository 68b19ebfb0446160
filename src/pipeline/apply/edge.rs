//! What one apply holds while it goes: the per-region clients, and each item on its way
//! with the status it ends with. The per-service files add their calls to [`Edge`].

use std::collections::HashMap;

use aws_config::{Region, SdkConfig};
use aws_sdk_apigateway::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::aws::error::{AwsError, Needed, classify};
use crate::inventory::{ReadError, RestStage};
use crate::model::ErrorKind;
use crate::model::outcome::ItemStatus;
use crate::model::plan::{ChangeItem, Edit};

use super::options::ApplyOptions;

pub(super) struct Clients {
    pub(super) rest: aws_sdk_apigateway::Client,
    pub(super) v2: aws_sdk_apigatewayv2::Client,
    pub(super) waf: aws_sdk_wafv2::Client,
}

pub(super) struct Edge<'a> {
    pub(super) sdk: &'a SdkConfig,
    pub(super) clients: HashMap<String, Clients>,
    pub(super) options: &'a ApplyOptions,
    /// REST stages read just before their UpdateStage, by stage ARN, taken by the
    /// AssociateWebACL that follows on the same stage (the plan puts it right after):
    /// UpdateStage never changes the web ACL, so one GetStage serves both.
    pub(super) stage_reads: HashMap<String, Option<RestStage>>,
}

/// How an item ended.
#[derive(Clone, Debug)]
pub(super) struct Settled {
    pub(super) status: ItemStatus,
    pub(super) message: Option<String>,
    pub(super) kind: Option<ErrorKind>,
}

impl Settled {
    pub(super) fn new(status: ItemStatus, message: Option<String>) -> Self {
        Settled {
            status,
            message,
            kind: None,
        }
    }

    /// Not sent because writes stopped (`why`); the next scan (of the next leader)
    /// makes it.
    pub(super) fn not_sent(why: String) -> Self {
        Settled {
            status: ItemStatus::Failed,
            message: Some(format!("not sent: {why}; the next scan makes it")),
            kind: Some(ErrorKind::Unavailable),
        }
    }

    pub(super) fn failed(error: AwsError) -> Self {
        Settled {
            status: ItemStatus::Failed,
            message: Some(error.message),
            kind: Some(error.kind),
        }
    }

    /// The items of a write whose read before it failed: nothing was sent.
    pub(super) fn unread(error: ReadError) -> Self {
        Settled {
            status: ItemStatus::Failed,
            message: Some(format!("{}; nothing was sent", error.message)),
            kind: Some(error.kind),
        }
    }

    /// How the items of one sent call ended: applied, or failed with the classified
    /// error (`needed` names the permission the call needs).
    pub(super) fn of_call<T, E>(
        sent: Result<T, SdkError<E, HttpResponse>>,
        region: &str,
        operation: &str,
        needed: Needed<'_>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match sent {
            Ok(_) => Settled::new(ItemStatus::Applied, None),
            Err(e) => Settled::failed(classify(region, operation, needed, &e)),
        }
    }
}

/// An item on its way: the edit to send (a generated certificate id filled in) and the
/// status it ends with.
pub(super) struct Pending<'a> {
    pub(super) item: &'a ChangeItem,
    pub(super) edit: Edit,
    pub(super) result: Option<Settled>,
}

impl<'a> Pending<'a> {
    /// `item` still to send, with its planned edit.
    pub(super) fn new(item: &'a ChangeItem) -> Self {
        Pending {
            item,
            edit: item.edit.clone(),
            result: None,
        }
    }

    /// The items still to send, with their edits as they will be sent.
    pub(super) fn open(pending: &[Pending<'_>]) -> Vec<ChangeItem> {
        pending
            .iter()
            .filter(|p| p.result.is_none())
            .map(|p| ChangeItem {
                edit: p.edit.clone(),
                ..p.item.clone()
            })
            .collect()
    }

    /// Marks every still-open item with `settled`.
    pub(super) fn settle(pending: &mut [Pending<'_>], settled: &Settled) {
        for p in pending.iter_mut().filter(|p| p.result.is_none()) {
            p.result = Some(settled.clone());
        }
    }
}

impl Edge<'_> {
    /// Whether the open items must not be sent, settling them: DryRun shows them as
    /// would-apply; a closed write gate (shutdown, a lost lease) leaves them unsent.
    /// Asked just before each write, so a write either goes whole or never starts.
    pub(super) fn holds_back(&self, pending: &mut [Pending<'_>]) -> bool {
        if self.options.dry_run {
            Pending::settle(pending, &Settled::new(ItemStatus::WouldApply, None));
            return true;
        }
        match self.write_gate() {
            Ok(()) => false,
            Err(why) => {
                Pending::settle(pending, &Settled::not_sent(why));
                true
            }
        }
    }

    /// The write gate's answer now.
    pub(super) fn write_gate(&self) -> Result<(), String> {
        self.options
            .write_gate
            .as_ref()
            .map_or(Ok(()), |gate| (gate.0)())
    }

    pub(super) fn clients(&mut self, region: &str) -> &Clients {
        let sdk = self.sdk;
        self.clients.entry(region.to_string()).or_insert_with(|| {
            let region = Region::new(region.to_string());
            Clients {
                rest: aws_sdk_apigateway::Client::from_conf(
                    aws_sdk_apigateway::config::Builder::from(sdk)
                        .region(region.clone())
                        .build(),
                ),
                v2: aws_sdk_apigatewayv2::Client::from_conf(
                    aws_sdk_apigatewayv2::config::Builder::from(sdk)
                        .region(region.clone())
                        .build(),
                ),
                waf: aws_sdk_wafv2::Client::from_conf(
                    aws_sdk_wafv2::config::Builder::from(sdk)
                        .region(region)
                        .build(),
                ),
            }
        })
    }
}

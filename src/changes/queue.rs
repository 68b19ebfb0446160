//! The SQS edge: receive (long polling, batches of ten), delete in batches, make a
//! message visible again sooner, and check a queue at start. Errors are classified
//! like every AWS error (`crate::aws::error`).

use std::time::Duration;

use aws_config::{Region, SdkConfig};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
};
use k8s_openapi::jiff::Timestamp;

use crate::aws::error::{AwsError, Needed, classify};

/// SQS returns at most ten messages per receive.
pub const MAX_BATCH: i32 = 10;
/// The longest long poll SQS allows.
pub const LONG_POLL: Duration = Duration::from_secs(20);

/// One received message.
#[derive(Clone, Debug)]
pub struct Message {
    pub receipt_handle: String,
    pub body: String,
    /// When SQS accepted it (`SentTimestamp`): where the event-to-status latency starts.
    pub sent_at: Option<Timestamp>,
    /// How many times it was received (`ApproximateReceiveCount`), this one included.
    pub receive_count: u32,
}

/// What a queue check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueInfo {
    /// Whether a redrive policy sends poison messages to a dead-letter queue.
    pub has_dead_letter_queue: bool,
    /// The queue's own visibility timeout in seconds, when it said.
    pub visibility_timeout_seconds: Option<u64>,
}

/// One change-events queue.
#[derive(Clone, Debug)]
pub struct Queue {
    pub url: String,
    client: aws_sdk_sqs::Client,
    region: String,
}

impl Queue {
    /// A client for `url` in the queue's own region (named by the URL's host,
    /// `sqs.REGION.amazonaws.com`), else `sdk`'s region (a local endpoint).
    pub fn new(sdk: &SdkConfig, url: &str) -> Self {
        let region = region_of_url(url)
            .map(str::to_string)
            .or_else(|| sdk.region().map(|r| r.to_string()))
            .unwrap_or_else(|| "us-east-1".to_string());
        let config = aws_sdk_sqs::config::Builder::from(sdk)
            .region(Region::new(region.clone()))
            .build();
        Queue {
            url: url.to_string(),
            client: aws_sdk_sqs::Client::from_conf(config),
            region,
        }
    }

    /// GetQueueAttributes: the queue exists, may be read, and has (or lacks) a
    /// dead-letter queue.
    pub async fn check(&self) -> Result<QueueInfo, AwsError> {
        let attributes = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .attribute_names(QueueAttributeName::VisibilityTimeout)
            .send()
            .await
            .map_err(|e| self.error("GetQueueAttributes", "sqs:GetQueueAttributes", &e))?;
        let attributes = attributes.attributes();
        Ok(QueueInfo {
            has_dead_letter_queue: attributes
                .and_then(|a| a.get(&QueueAttributeName::RedrivePolicy))
                .is_some_and(|policy| !policy.trim().is_empty()),
            visibility_timeout_seconds: attributes
                .and_then(|a| a.get(&QueueAttributeName::VisibilityTimeout))
                .and_then(|v| v.parse().ok()),
        })
    }

    /// ReceiveMessage: up to ten messages, waiting up to `wait` (whole seconds, at most
    /// 20) for the first, hidden from other receivers for `visibility`.
    pub async fn receive(
        &self,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<Message>, AwsError> {
        let received = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(MAX_BATCH)
            .wait_time_seconds(seconds(wait.min(LONG_POLL)))
            .visibility_timeout(seconds(visibility))
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| self.error("ReceiveMessage", "sqs:ReceiveMessage", &e))?;
        Ok(received
            .messages()
            .iter()
            .filter_map(|m| {
                let attribute = |name| m.attributes().and_then(|a| a.get(&name));
                Some(Message {
                    receipt_handle: m.receipt_handle()?.to_string(),
                    body: m.body().unwrap_or_default().to_string(),
                    sent_at: attribute(MessageSystemAttributeName::SentTimestamp)
                        .and_then(|ms| ms.parse::<i64>().ok())
                        .and_then(|ms| Timestamp::from_millisecond(ms).ok()),
                    receive_count: attribute(MessageSystemAttributeName::ApproximateReceiveCount)
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(1),
                })
            })
            .collect())
    }

    /// DeleteMessageBatch, ten at a time. Returns how many were deleted; a handle SQS
    /// refused is redelivered after its visibility timeout, which is safe (the work is
    /// idempotent).
    pub async fn delete(&self, handles: &[&str]) -> Result<usize, AwsError> {
        let mut deleted = 0;
        for chunk in handles.chunks(MAX_BATCH as usize) {
            let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, handle)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(*handle)
                        .build()
                        .ok()
                })
                .collect();
            let result = self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| self.error("DeleteMessageBatch", "sqs:DeleteMessage", &e))?;
            deleted += result.successful().len();
            for failed in result.failed() {
                tracing::warn!(queue = %self.url, code = failed.code(), message = failed.message().unwrap_or_default(), "SQS did not delete a message; it will be received again");
            }
        }
        Ok(deleted)
    }

    /// ChangeMessageVisibility: the message comes back after `after` (a re-read that
    /// failed is retried then, not at the end of the long visibility timeout).
    pub async fn retry_after(&self, handle: &str, after: Duration) -> Result<(), AwsError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(handle)
            .visibility_timeout(seconds(after))
            .send()
            .await
            .map_err(|e| {
                self.error("ChangeMessageVisibility", "sqs:ChangeMessageVisibility", &e)
            })?;
        Ok(())
    }

    fn error<E>(
        &self,
        operation: &str,
        action: &str,
        err: &aws_sdk_sqs::error::SdkError<
            E,
            aws_smithy_runtime_api::client::orchestrator::HttpResponse,
        >,
    ) -> AwsError
    where
        E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        let needed = format!(
            "{action} on the queue {} (docs/iam/change-events.json)",
            self.url
        );
        let mut error = classify(&self.region, operation, Needed::Write(&needed), err);
        error.message = format!("queue {}: {}", self.url, error.message);
        error
    }
}

fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

/// The region of a queue URL such as `https://sqs.eu-west-1.amazonaws.com/1234/q` (or
/// the legacy `https://eu-west-1.queue.amazonaws.com/1234/q`).
pub fn region_of_url(url: &str) -> Option<&str> {
    let host = url.split("://").nth(1)?.split('/').next()?;
    let host = host.split(':').next()?;
    let labels: Vec<&str> = host.split('.').collect();
    let region = match labels.as_slice() {
        ["sqs", region, ..] => region,
        [region, "queue", ..] => region,
        _ => return None,
    };
    crate::model::arn::is_region_code(region).then_some(*region)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_comes_from_the_queue_url() {
        assert_eq!(
            region_of_url("https://sqs.eu-west-1.amazonaws.com/111122223333/changes"),
            Some("eu-west-1")
        );
        assert_eq!(
            region_of_url("https://us-gov-west-1.queue.amazonaws.com/111122223333/changes"),
            Some("us-gov-west-1")
        );
        assert_eq!(
            region_of_url("https://sqs.cn-north-1.amazonaws.com.cn/111122223333/changes"),
            Some("cn-north-1")
        );
        assert_eq!(
            region_of_url("http://127.0.0.1:4566/111122223333/changes"),
            None
        );
        assert_eq!(region_of_url("not a url"), None);
    }
}

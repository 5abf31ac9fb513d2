//! Lambda's SQS event source mapping, which moto does not run: poll a queue, hand up to
//! ten messages to a function as an [`SqsEvent`], delete those it did not report in
//! `batchItemFailures`.
//!
//! As in AWS: a message the function reports as failed (or every message of the batch,
//! when the function errors, or answers with an unknown or empty item identifier) is
//! not deleted, so it becomes visible again after the visibility timeout and, once its
//! receive count exceeds the queue's `RedrivePolicy.maxReceiveCount`, moto moves it to
//! the dead-letter queue (moto implements the redrive on receive). Without
//! `ReportBatchItemFailures` the answer is ignored and a successful invocation deletes the
//! whole batch.
//!
//! Not emulated: batching windows, concurrent pollers, the FIFO rule that a failure also
//! fails the later messages of its message group, and the ESM's own retry back-off.

mod sam;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use serde_json::{Value, json};
use tracing::Instrument as _;

use super::invoke::Invoke;
use super::{ActorHandle, StopSignal};
use crate::aws::{AwsAccount, MotoClient};
use crate::error::{Error, Result};

pub use sam::{TemplateQueue, TemplateSqs, TemplateSqsSource, sqs_from_sam_template};

/// Lambda's maximum batch size for standard queues without a batching window.
pub const MAX_BATCH_SIZE: usize = 10;

/// One event source mapping: which queue feeds which function, and how.
#[derive(Debug, Clone)]
pub struct SqsEventSourceConfig {
    /// The function invoked with each batch.
    pub function: String,
    /// The queue's URL as moto gives it (`http://127.0.0.1:<port>/<account>/<name>`).
    pub queue_url: String,
    /// Messages per batch, 1..=10.
    pub batch_size: usize,
    /// ReceiveMessage's long-poll wait (AWS uses 20 s; short here so that stop is quick).
    pub wait_time: Duration,
    /// ReceiveMessage's VisibilityTimeout; `None` keeps the queue's own.
    pub visibility_timeout: Option<Duration>,
    /// `FunctionResponseTypes: [ReportBatchItemFailures]`.
    pub report_batch_item_failures: bool,
    /// Pause after an error talking to moto before polling again.
    pub error_backoff: Duration,
}

impl SqsEventSourceConfig {
    /// `queue_url` feeds `function`, ten at a time, reporting batch item failures.
    pub fn new(function: impl Into<String>, queue_url: impl Into<String>) -> Self {
        Self {
            function: function.into(),
            queue_url: queue_url.into(),
            batch_size: MAX_BATCH_SIZE,
            wait_time: Duration::from_secs(1),
            visibility_timeout: None,
            report_batch_item_failures: true,
            error_backoff: Duration::from_millis(500),
        }
    }
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Messages received (and handed to the function).
    pub received: usize,
    /// Messages deleted after the invocation.
    pub deleted: usize,
    /// Messages left on the queue as failures (they reappear after the visibility timeout).
    pub failed: usize,
    /// Whether the invocation as a whole failed (function error or no answer).
    pub invocation_failed: bool,
}

/// Counters across the life of a poller.
#[derive(Debug, Default)]
pub struct SqsPollerStats {
    pub invocations: AtomicU64,
    pub received: AtomicU64,
    pub deleted: AtomicU64,
    pub failed: AtomicU64,
    pub errors: AtomicU64,
}

/// An event source mapping bound to a queue in an account on a moto server.
#[derive(Debug, Clone)]
pub struct SqsEventSource {
    client: MotoClient,
    account: AwsAccount,
    config: SqsEventSourceConfig,
    invoker: Arc<dyn Invoke>,
    queue_arn: String,
    stats: Arc<SqsPollerStats>,
}

impl SqsEventSource {
    /// Binds `config` to its queue (its ARN is read with GetQueueAttributes).
    pub async fn new(
        client: MotoClient,
        account: AwsAccount,
        config: SqsEventSourceConfig,
        invoker: Arc<dyn Invoke>,
    ) -> Result<Self> {
        if !(1..=MAX_BATCH_SIZE).contains(&config.batch_size) {
            return Err(Error::LambdaWiring(format!(
                "SQS event source for {}: batch size {} is outside 1..={MAX_BATCH_SIZE}",
                config.function, config.batch_size
            )));
        }
        let attributes = client
            .sqs(
                &account,
                "GetQueueAttributes",
                &json!({ "QueueUrl": config.queue_url, "AttributeNames": ["QueueArn"] }),
            )
            .await?;
        let queue_arn = attributes["Attributes"]["QueueArn"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::MotoRequest {
                request: format!("GetQueueAttributes {}", config.queue_url),
                status: None,
                message: format!("no QueueArn in {attributes}"),
            })?;
        Ok(Self {
            client,
            account,
            config,
            invoker,
            queue_arn,
            stats: Arc::default(),
        })
    }

    /// The queue's ARN (the events' `eventSourceARN`).
    pub fn queue_arn(&self) -> &str {
        &self.queue_arn
    }

    /// The counters (shared with the actor once spawned).
    pub fn stats(&self) -> Arc<SqsPollerStats> {
        Arc::clone(&self.stats)
    }

    /// One ReceiveMessage, invocation and deletion: what the actor does in a loop.
    pub async fn poll_once(&self) -> Result<BatchOutcome> {
        let messages = self.receive().await?;
        if messages.is_empty() {
            return Ok(BatchOutcome::default());
        }
        let received = messages.len();
        self.stats
            .received
            .fetch_add(received as u64, Ordering::Relaxed);
        let event = self.event(&messages)?;
        let payload = serde_json::to_value(&event)?;
        self.stats.invocations.fetch_add(1, Ordering::Relaxed);
        let span = tracing::debug_span!("sqs_batch", function = %self.config.function, received);
        let answer = self
            .invoker
            .invoke(&self.config.function, payload)
            .instrument(span)
            .await
            .inspect_err(|e| tracing::info!(error = %e, "invocation failed; batch kept"));
        let failed_ids = match &answer {
            Err(_) => None,
            Ok(answer) => self.failed_ids(answer, &messages),
        };
        let to_delete: Vec<&ReceivedMessage> = match &failed_ids {
            None => Vec::new(),
            Some(failed) => messages
                .iter()
                .filter(|m| !failed.contains(m.message_id.as_str()))
                .collect(),
        };
        let deleted = self.delete(&to_delete).await?;
        let failed = received - to_delete.len();
        self.stats
            .deleted
            .fetch_add(deleted as u64, Ordering::Relaxed);
        self.stats
            .failed
            .fetch_add(failed as u64, Ordering::Relaxed);
        Ok(BatchOutcome {
            received,
            deleted,
            failed,
            invocation_failed: answer.is_err(),
        })
    }

    /// Runs [`Self::poll_once`] in a loop until stopped.
    pub fn spawn(self) -> ActorHandle {
        ActorHandle::spawn("sqs-event-source", move |mut stop: StopSignal| async move {
            tracing::info!(queue = %self.queue_arn, function = %self.config.function, "SQS event source started");
            while !stop.is_stopped() {
                match self.poll_once().await {
                    Ok(outcome) if outcome.received == 0 && self.config.wait_time.is_zero() => {
                        if !stop.sleep(Duration::from_millis(100)).await {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        self.stats.errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(error = %e, queue = %self.queue_arn, "SQS poll failed");
                        if !stop.sleep(self.config.error_backoff).await {
                            break;
                        }
                    }
                }
            }
        })
    }

    async fn receive(&self) -> Result<Vec<ReceivedMessage>> {
        let mut request = json!({
            "QueueUrl": self.config.queue_url,
            "MaxNumberOfMessages": self.config.batch_size,
            "WaitTimeSeconds": self.config.wait_time.as_secs().min(20),
            "AttributeNames": ["All"],
            "MessageSystemAttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
        });
        if let Some(visibility) = self.config.visibility_timeout {
            request["VisibilityTimeout"] = json!(visibility.as_secs());
        }
        let answer = self
            .client
            .sqs(&self.account, "ReceiveMessage", &request)
            .await?;
        let Some(messages) = answer.get("Messages").and_then(Value::as_array) else {
            return Ok(Vec::new());
        };
        Ok(messages.iter().filter_map(ReceivedMessage::parse).collect())
    }

    /// The event Lambda hands the function for `messages`.
    fn event(&self, messages: &[ReceivedMessage]) -> Result<SqsEvent> {
        let mut event = SqsEvent::default();
        for m in messages {
            let mut record = SqsMessage::default();
            record.message_id = Some(m.message_id.clone());
            record.receipt_handle = Some(m.receipt_handle.clone());
            record.body = Some(m.body.clone());
            record.md5_of_body = m.md5_of_body.clone();
            record.md5_of_message_attributes = m.md5_of_message_attributes.clone();
            record.attributes = m.attributes.clone();
            record.message_attributes = m
                .message_attributes
                .iter()
                .map(|(name, value)| Ok((name.clone(), lambda_attribute(value)?)))
                .collect::<Result<_>>()?;
            record.event_source_arn = Some(self.queue_arn.clone());
            record.event_source = Some("aws:sqs".to_owned());
            record.aws_region = Some(self.account.region().to_owned());
            event.records.push(record);
        }
        Ok(event)
    }

    /// The message ids to keep, from the function's answer; `None` when the whole batch
    /// failed. `Some(empty)` deletes everything.
    fn failed_ids<'m>(
        &self,
        answer: &Value,
        messages: &'m [ReceivedMessage],
    ) -> Option<HashSet<&'m str>> {
        if !self.config.report_batch_item_failures || answer.is_null() {
            return Some(HashSet::new());
        }
        let Ok(response) = serde_json::from_value::<SqsBatchResponse>(answer.clone()) else {
            // Lambda: an answer it cannot read as a batch response is a success.
            return Some(HashSet::new());
        };
        let mut failed = HashSet::new();
        for item in &response.batch_item_failures {
            match messages
                .iter()
                .find(|m| m.message_id == item.item_identifier)
            {
                Some(m) => {
                    failed.insert(m.message_id.as_str());
                }
                None => {
                    // Lambda: an empty or unknown itemIdentifier fails the whole batch.
                    tracing::info!(item = %item.item_identifier, "unknown batch item failure; whole batch kept");
                    return None;
                }
            }
        }
        Some(failed)
    }

    async fn delete(&self, messages: &[&ReceivedMessage]) -> Result<usize> {
        if messages.is_empty() {
            return Ok(0);
        }
        let entries: Vec<Value> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| json!({ "Id": i.to_string(), "ReceiptHandle": m.receipt_handle }))
            .collect();
        let answer = self
            .client
            .sqs(
                &self.account,
                "DeleteMessageBatch",
                &json!({ "QueueUrl": self.config.queue_url, "Entries": entries }),
            )
            .await?;
        let failed = answer
            .get("Failed")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if failed > 0 {
            tracing::warn!(failed = %answer["Failed"], "DeleteMessageBatch failed for some messages");
        }
        Ok(messages.len() - failed)
    }
}

/// A message as SQS's JSON protocol returns it.
#[derive(Debug, Clone)]
struct ReceivedMessage {
    message_id: String,
    receipt_handle: String,
    body: String,
    md5_of_body: Option<String>,
    md5_of_message_attributes: Option<String>,
    attributes: HashMap<String, String>,
    message_attributes: HashMap<String, Value>,
}

impl ReceivedMessage {
    fn parse(m: &Value) -> Option<Self> {
        let text = |key: &str| m.get(key).and_then(Value::as_str).map(str::to_owned);
        let attributes = m
            .get("Attributes")
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let message_attributes = m
            .get("MessageAttributes")
            .and_then(Value::as_object)
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        Some(Self {
            message_id: text("MessageId")?,
            receipt_handle: text("ReceiptHandle")?,
            body: text("Body").unwrap_or_default(),
            md5_of_body: text("MD5OfBody"),
            md5_of_message_attributes: text("MD5OfMessageAttributes"),
            attributes,
            message_attributes,
        })
    }
}

/// An SQS API message attribute (`StringValue`, `BinaryValue`, ...) in the Lambda event's
/// camelCase form.
fn lambda_attribute(api: &Value) -> Result<SqsMessageAttribute> {
    let list = |key: &str| api.get(key).cloned().unwrap_or_else(|| json!([]));
    let mut lambda = json!({
        "stringListValues": list("StringListValues"),
        "binaryListValues": list("BinaryListValues"),
        "dataType": api.get("DataType").cloned().unwrap_or(Value::Null),
    });
    if let Some(s) = api.get("StringValue") {
        lambda["stringValue"] = s.clone();
    }
    if let Some(b) = api.get("BinaryValue") {
        lambda["binaryValue"] = b.clone();
    }
    Ok(serde_json::from_value(lambda)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_attributes_become_lambda_attributes() {
        let attr = lambda_attribute(&json!({"DataType": "String", "StringValue": "v"}))
            .expect("string attribute");
        assert_eq!(attr.string_value.as_deref(), Some("v"));
        assert_eq!(attr.data_type.as_deref(), Some("String"));
        let attr = lambda_attribute(&json!({"DataType": "Binary", "BinaryValue": "MTEwMA=="}))
            .expect("binary attribute");
        assert_eq!(
            attr.binary_value.as_ref().map(|b| b.to_vec()),
            Some(b"1100".to_vec())
        );
    }
}

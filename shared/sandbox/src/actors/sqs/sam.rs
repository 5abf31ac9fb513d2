//! The SQS event sources of a SAM template's functions, and creating their queues in moto.

use std::collections::HashMap;

use serde_json::{Value, json};
use serde_yaml_ng::Value as Yaml;

use super::MAX_BATCH_SIZE;
use crate::actors::schedule::{literal, sam_function_name};
use crate::aws::{AwsAccount, MotoClient};
use crate::error::{Error, Result};

/// An `SQS` event of a function in a SAM template: the mapping and the queue it polls.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateSqsSource {
    /// The function's logical id.
    pub logical_id: String,
    /// The name to invoke it by (see [`crate::actors::schedule::TemplateSchedule::function`]).
    pub function: String,
    /// The event's key under `Events`.
    pub event: String,
    /// The queue's logical id (`Queue: !GetAtt <id>.Arn`).
    pub queue: String,
    pub batch_size: usize,
    /// `FunctionResponseTypes: [ReportBatchItemFailures]`.
    pub report_batch_item_failures: bool,
    /// `Enabled: false` turns it off.
    pub enabled: bool,
}

/// An `AWS::SQS::Queue` of a SAM template, as the sandbox creates it in moto.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateQueue {
    pub logical_id: String,
    /// A literal `QueueName`, else the logical id.
    pub name: String,
    /// Literal attributes (`VisibilityTimeout`, `MessageRetentionPeriod`, `DelaySeconds`,
    /// `ReceiveMessageWaitTimeSeconds`, `FifoQueue`, ...) as SQS attribute strings.
    pub attributes: Vec<(String, String)>,
    /// `RedrivePolicy`: the dead-letter queue's logical id and `maxReceiveCount`.
    pub dead_letter: Option<(String, u32)>,
}

/// The SQS event sources and queues a SAM template declares.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TemplateSqs {
    pub sources: Vec<TemplateSqsSource>,
    pub queues: Vec<TemplateQueue>,
}

/// The logical id in `!GetAtt X.Arn`, `!GetAtt [X, Arn]` or `{Fn::GetAtt: [X, Arn]}`.
fn get_att_arn(value: &Yaml) -> Option<String> {
    let target = match value {
        Yaml::Tagged(tagged) if tagged.tag == "GetAtt" => tagged.value.clone(),
        Yaml::Mapping(m) => m.get("Fn::GetAtt")?.clone(),
        _ => return None,
    };
    match &target {
        Yaml::String(s) => s.strip_suffix(".Arn").map(str::to_owned),
        Yaml::Sequence(parts) if parts.len() == 2 && parts[1].as_str() == Some("Arn") => {
            parts[0].as_str().map(str::to_owned)
        }
        _ => None,
    }
}

fn yaml_scalar(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Reads the `SQS` events of a SAM template's functions and the queues they (and their
/// dead-letter queues) name.
pub fn sqs_from_sam_template(template: &str) -> Result<TemplateSqs> {
    let doc: Yaml = serde_yaml_ng::from_str(template)?;
    let mut out = TemplateSqs::default();
    let Some(resources) = doc.get("Resources").and_then(Yaml::as_mapping) else {
        return Ok(out);
    };
    let bad = |what: String| Error::LambdaWiring(format!("SAM template: {what}"));
    for (id, resource) in resources {
        let Some(logical_id) = id.as_str() else {
            continue;
        };
        match resource.get("Type").and_then(literal) {
            Some("AWS::SQS::Queue") => {
                let props = resource.get("Properties").and_then(Yaml::as_mapping);
                let mut queue = TemplateQueue {
                    logical_id: logical_id.to_owned(),
                    name: logical_id.to_owned(),
                    attributes: Vec::new(),
                    dead_letter: None,
                };
                for (key, value) in props.into_iter().flatten() {
                    let Some(key) = key.as_str() else { continue };
                    match key {
                        "QueueName" => {
                            if let Some(name) = literal(value) {
                                queue.name = name.to_owned();
                            }
                        }
                        "RedrivePolicy" => {
                            let dlq = value.get("deadLetterTargetArn").and_then(get_att_arn);
                            let count = value
                                .get("maxReceiveCount")
                                .and_then(yaml_scalar)
                                .and_then(|c| c.parse().ok());
                            match (dlq, count) {
                                (Some(dlq), Some(count)) => queue.dead_letter = Some((dlq, count)),
                                _ => {
                                    return Err(bad(format!(
                                        "{logical_id}.RedrivePolicy needs deadLetterTargetArn: \
                                         !GetAtt <queue>.Arn and a maxReceiveCount"
                                    )));
                                }
                            }
                        }
                        "Tags" => {}
                        _ => {
                            if let Some(v) = yaml_scalar(value) {
                                queue.attributes.push((key.to_owned(), v));
                            }
                        }
                    }
                }
                out.queues.push(queue);
            }
            Some("AWS::Serverless::Function") => {
                let function = sam_function_name(logical_id, resource);
                let events = resource
                    .get("Properties")
                    .and_then(|p| p.get("Events"))
                    .and_then(Yaml::as_mapping);
                for (name, event) in events.into_iter().flatten() {
                    let Some(event_name) = name.as_str() else {
                        continue;
                    };
                    if event.get("Type").and_then(literal) != Some("SQS") {
                        continue;
                    }
                    let props = event.get("Properties");
                    let get = |key: &str| props.and_then(|p| p.get(key));
                    let queue = get("Queue").and_then(get_att_arn).ok_or_else(|| {
                        bad(format!(
                            "{logical_id}.Events.{event_name}.Queue must be !GetAtt <queue>.Arn"
                        ))
                    })?;
                    let batch_size = get("BatchSize")
                        .and_then(yaml_scalar)
                        .and_then(|b| b.parse().ok())
                        .unwrap_or(MAX_BATCH_SIZE);
                    let report_batch_item_failures = get("FunctionResponseTypes")
                        .and_then(Yaml::as_sequence)
                        .is_some_and(|types| {
                            types
                                .iter()
                                .any(|t| t.as_str() == Some("ReportBatchItemFailures"))
                        });
                    out.sources.push(TemplateSqsSource {
                        logical_id: logical_id.to_owned(),
                        function: function.clone(),
                        event: event_name.to_owned(),
                        queue,
                        batch_size: batch_size.clamp(1, MAX_BATCH_SIZE),
                        report_batch_item_failures,
                        enabled: get("Enabled").and_then(Yaml::as_bool) != Some(false),
                    });
                }
            }
            _ => {}
        }
    }
    for source in &out.sources {
        if !out.queues.iter().any(|q| q.logical_id == source.queue) {
            return Err(bad(format!(
                "{}.Events.{} names queue {}, which is not an AWS::SQS::Queue of the template",
                source.logical_id, source.event, source.queue
            )));
        }
    }
    Ok(out)
}

impl TemplateSqs {
    /// Creates the template's queues in moto (dead-letter queues first, so that redrive
    /// policies name real ARNs) and returns each one's URL by logical id. CreateQueue is
    /// idempotent for identical attributes.
    pub async fn create_queues(
        &self,
        client: &MotoClient,
        account: &AwsAccount,
    ) -> Result<HashMap<String, String>> {
        let mut urls: HashMap<String, String> = HashMap::new();
        let mut arns: HashMap<String, String> = HashMap::new();
        let mut pending: Vec<&TemplateQueue> = self.queues.iter().collect();
        while !pending.is_empty() {
            let before = pending.len();
            let mut waiting = Vec::new();
            for queue in pending {
                let dlq_arn = match &queue.dead_letter {
                    Some((dlq, count)) => match arns.get(dlq) {
                        Some(arn) => Some((arn.clone(), *count)),
                        None => {
                            waiting.push(queue);
                            continue;
                        }
                    },
                    None => None,
                };
                let mut attributes = serde_json::Map::new();
                for (k, v) in &queue.attributes {
                    attributes.insert(k.clone(), Value::String(v.clone()));
                }
                if let Some((arn, count)) = dlq_arn {
                    let policy =
                        json!({ "deadLetterTargetArn": arn, "maxReceiveCount": count.to_string() });
                    attributes.insert("RedrivePolicy".into(), Value::String(policy.to_string()));
                }
                let created = client
                    .sqs(
                        account,
                        "CreateQueue",
                        &json!({ "QueueName": queue.name, "Attributes": attributes }),
                    )
                    .await?;
                let url = created["QueueUrl"].as_str().unwrap_or_default().to_owned();
                let answer = client
                    .sqs(
                        account,
                        "GetQueueAttributes",
                        &json!({ "QueueUrl": url, "AttributeNames": ["QueueArn"] }),
                    )
                    .await?;
                let arn = answer["Attributes"]["QueueArn"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                tracing::debug!(queue = %queue.logical_id, %url, "created template queue");
                urls.insert(queue.logical_id.clone(), url);
                arns.insert(queue.logical_id.clone(), arn);
            }
            if waiting.len() == before {
                let names: Vec<&str> = waiting.iter().map(|q| q.logical_id.as_str()).collect();
                return Err(Error::LambdaWiring(format!(
                    "SAM template: the dead-letter queues of {names:?} are missing or circular"
                )));
            }
            pending = waiting;
        }
        Ok(urls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sqs_sources_and_queues_from_a_sam_template() {
        let template = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  InterruptionDLQ:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: 1209600
  InterruptionQueue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${AWS::StackName}-interruption"
      VisibilityTimeout: 60
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt InterruptionDLQ.Arn
        maxReceiveCount: 3
  InterruptionFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties: { Binary: interruption }
    Properties:
      Events:
        Messages:
          Type: SQS
          Properties:
            Queue: !GetAtt InterruptionQueue.Arn
            BatchSize: 10
            FunctionResponseTypes: [ReportBatchItemFailures]
"#;
        let sqs = sqs_from_sam_template(template).expect("template");
        assert_eq!(
            sqs.sources,
            [TemplateSqsSource {
                logical_id: "InterruptionFunction".into(),
                function: "interruption".into(),
                event: "Messages".into(),
                queue: "InterruptionQueue".into(),
                batch_size: 10,
                report_batch_item_failures: true,
                enabled: true,
            }]
        );
        let queue = sqs
            .queues
            .iter()
            .find(|q| q.logical_id == "InterruptionQueue")
            .expect("queue");
        assert_eq!(queue.name, "InterruptionQueue");
        assert_eq!(
            queue.attributes,
            [("VisibilityTimeout".to_owned(), "60".to_owned())]
        );
        assert_eq!(queue.dead_letter, Some(("InterruptionDLQ".to_owned(), 3)));
        let broken = template.replace("InterruptionQueue.Arn", "Missing.Arn");
        assert!(sqs_from_sam_template(&broken).is_err());
    }
}

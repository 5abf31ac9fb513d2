//! The `Schedule`/`ScheduleV2` events of a SAM template's functions.

use std::path::Path;

use serde_json::Value;
use serde_yaml_ng::Value as Yaml;

use super::{ScheduleExpression, ScheduledTarget};
use crate::error::{Error, Result};

/// A `Schedule`/`ScheduleV2` event of a function in a SAM template.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateSchedule {
    /// The function's logical id in the template.
    pub logical_id: String,
    /// The name to invoke it by: `Metadata.BuildProperties.Binary` (what `cargo lambda
    /// watch` serves it as), else a literal `FunctionName`, else the logical id.
    pub function: String,
    /// The event's key under `Events`.
    pub event: String,
    /// The expression as written.
    pub expression: String,
    pub schedule: ScheduleExpression,
    /// `Enabled: false` or `State: DISABLED` turn it off.
    pub enabled: bool,
    /// The event's constant `Input` (a JSON string in the template).
    pub input: Option<Value>,
}

impl TemplateSchedule {
    /// As a target of the schedule actor (rule named `<logical id>-<event>`).
    pub fn target(&self) -> ScheduledTarget {
        ScheduledTarget {
            function: self.function.clone(),
            rule_name: format!("{}-{}", self.logical_id, self.event),
            expression: self.schedule.clone(),
            input: self.input.clone(),
        }
    }
}

/// The schedules declared in a SAM template (YAML, with or without CloudFormation's
/// short-form tags).
pub fn schedules_from_sam_template(template: &str) -> Result<Vec<TemplateSchedule>> {
    let doc: Yaml = serde_yaml_ng::from_str(template)?;
    let mut out = Vec::new();
    let Some(resources) = doc.get("Resources").and_then(Yaml::as_mapping) else {
        return Ok(out);
    };
    for (id, resource) in resources {
        let Some(logical_id) = id.as_str() else {
            continue;
        };
        if resource.get("Type").and_then(literal) != Some("AWS::Serverless::Function") {
            continue;
        }
        let props = resource.get("Properties");
        let function = sam_function_name(logical_id, resource);
        let Some(events) = props
            .and_then(|p| p.get("Events"))
            .and_then(Yaml::as_mapping)
        else {
            continue;
        };
        for (name, event) in events {
            let Some(event_name) = name.as_str() else {
                continue;
            };
            let kind = event.get("Type").and_then(literal);
            let key = match kind {
                Some("Schedule") => "Schedule",
                Some("ScheduleV2") => "ScheduleExpression",
                _ => continue,
            };
            let ep = event.get("Properties");
            let raw = ep.and_then(|p| p.get(key));
            let Some(expression) = raw.and_then(literal) else {
                return Err(Error::LambdaWiring(format!(
                    "{logical_id}.Events.{event_name}: `{key}` must be a literal expression, got {raw:?}"
                )));
            };
            let schedule = expression.parse().map_err(|e| match e {
                Error::LambdaWiring(why) => {
                    Error::LambdaWiring(format!("{logical_id}.Events.{event_name}: {why}"))
                }
                other => other,
            })?;
            let enabled = ep.and_then(|p| p.get("Enabled")).and_then(Yaml::as_bool) != Some(false)
                && ep.and_then(|p| p.get("State")).and_then(literal) != Some("DISABLED");
            let input = match ep.and_then(|p| p.get("Input")).and_then(literal) {
                Some(text) => Some(serde_json::from_str(text).map_err(|e| {
                    Error::LambdaWiring(format!(
                        "{logical_id}.Events.{event_name}.Input is not JSON: {e}"
                    ))
                })?),
                None => None,
            };
            out.push(TemplateSchedule {
                logical_id: logical_id.to_owned(),
                function: function.clone(),
                event: event_name.to_owned(),
                expression: expression.to_owned(),
                schedule,
                enabled,
                input,
            });
        }
    }
    Ok(out)
}

/// The name a SAM function is invoked by: `Metadata.BuildProperties.Binary` (what
/// `cargo lambda watch` serves it as), else a literal `FunctionName`, else its logical id.
pub(crate) fn sam_function_name(logical_id: &str, resource: &Yaml) -> String {
    resource
        .get("Metadata")
        .and_then(|m| m.get("BuildProperties"))
        .and_then(|b| b.get("Binary"))
        .and_then(literal)
        .or_else(|| {
            resource
                .get("Properties")
                .and_then(|p| p.get("FunctionName"))
                .and_then(literal)
        })
        .unwrap_or(logical_id)
        .to_owned()
}

/// A plain string, not an intrinsic function (`!Sub "..."` is a tagged value).
pub(crate) fn literal(value: &Yaml) -> Option<&str> {
    match value {
        Yaml::String(s) => Some(s),
        _ => None,
    }
}

/// [`schedules_from_sam_template`] of a file (e.g. `infra/template.yaml`).
pub fn schedules_from_sam_file(path: impl AsRef<Path>) -> Result<Vec<TemplateSchedule>> {
    let text = std::fs::read_to_string(path.as_ref())?;
    schedules_from_sam_template(&text)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TEMPLATE: &str = r#"
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  InterruptionQueue:
    Type: AWS::SQS::Queue
  ProvisionerFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties:
        Binary: provisioner
    Properties:
      CodeUri: ../
      Handler: bootstrap
      Events:
        Tick:
          Type: Schedule
          Properties:
            Schedule: rate(1 minute)
        Reconcile:
          Type: EventBridgeRule
          Properties:
            Pattern: { source: [nodeless], detail-type: [Reconcile Requested] }
  BootstrapFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "${AWS::StackName}-bootstrap"
      Role: !GetAtt BootstrapRole.Arn
      Events:
        Repair:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: cron(0/15 * * * ? *)
            Input: '{"action": "repair"}'
        Paused:
          Type: Schedule
          Properties:
            Schedule: rate(2 hours)
            Enabled: false
"#;

    #[test]
    fn reads_schedules_from_a_sam_template() {
        let found = schedules_from_sam_template(TEMPLATE).expect("template");
        let summary: Vec<(&str, &str, &str, bool)> = found
            .iter()
            .map(|s| {
                (
                    s.function.as_str(),
                    s.event.as_str(),
                    s.expression.as_str(),
                    s.enabled,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("provisioner", "Tick", "rate(1 minute)", true),
                ("BootstrapFunction", "Repair", "cron(0/15 * * * ? *)", true),
                ("BootstrapFunction", "Paused", "rate(2 hours)", false),
            ]
        );
        assert_eq!(found[1].input, Some(json!({"action": "repair"})));
        assert_eq!(found[0].target().rule_name, "ProvisionerFunction-Tick");
        let bad = TEMPLATE.replace("rate(1 minute)", "rate(1 minutes)");
        let error = schedules_from_sam_template(&bad).expect_err("bad rate");
        assert!(
            error
                .to_string()
                .contains("ProvisionerFunction.Events.Tick"),
            "{error}"
        );
    }
}

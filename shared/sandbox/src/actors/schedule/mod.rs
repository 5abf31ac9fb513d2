//! EventBridge scheduled rules, which moto accepts but never fires: invoke functions on
//! `rate(...)` and `cron(...)` schedules with the "Scheduled Event" AWS sends, and read
//! those schedules from a SAM template's `Schedule`/`ScheduleV2` events.
//!
//! Expressions follow EventBridge's syntax: `rate(1 minute)`, `rate(5 minutes)`,
//! `rate(1 hour)`, `rate(2 days)` (singular for 1, plural otherwise, as AWS insists) and
//! six-field `cron(minutes hours day-of-month month day-of-week year)` with `*`, `?`,
//! values, ranges, lists, `/` steps and month/day names (not `L`, `W` or `#`), in UTC.
//! The sandbox also takes `rate(N second(s))` so that tests need not wait a minute.
//!
//! Invocations are asynchronous, as EventBridge's are: a slow function does not delay
//! the next tick, and its error is logged and counted, not retried.

mod expression;
mod sam;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::task::JoinSet;

use super::invoke::Invoke;
use super::{ActorHandle, StopSignal};
use crate::error::Result;
use crate::kube::time::civil_from_days;

pub use expression::{Cron, ScheduleExpression};
pub use sam::{TemplateSchedule, schedules_from_sam_file, schedules_from_sam_template};
pub(crate) use sam::{literal, sam_function_name};

/// `2026-11-30T10:00:00Z` for Unix seconds.
pub fn format_time(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A version-4-shaped UUID from the standard library's random hasher seeds.
fn event_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let word = || {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.finish()
    };
    let (a, b) = (word(), word());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// The rule ARN EventBridge puts in `resources`.
pub fn rule_arn(region: &str, account_id: &str, rule_name: &str) -> String {
    format!("arn:aws:events:{region}:{account_id}:rule/{rule_name}")
}

/// The event a scheduled rule sends its targets, as AWS sends it.
pub fn scheduled_event(region: &str, account_id: &str, rule_name: &str, time: i64) -> Value {
    json!({
        "version": "0",
        "id": event_id(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": format_time(time),
        "region": region,
        "resources": [rule_arn(region, account_id, rule_name)],
        "detail": {},
    })
}

/// One scheduled rule with one function target.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledTarget {
    /// The function invoked (for `cargo lambda watch`, the binary's name).
    pub function: String,
    /// The rule's name (in `resources` as its ARN).
    pub rule_name: String,
    pub expression: ScheduleExpression,
    /// A constant input sent instead of the Scheduled Event (the target's `Input`).
    pub input: Option<Value>,
}

impl ScheduledTarget {
    /// `function` on `expression` (e.g. `"rate(1 minute)"`), rule `<function>-schedule`.
    pub fn new(function: impl Into<String>, expression: &str) -> Result<Self> {
        let function = function.into();
        Ok(Self {
            rule_name: format!("{function}-schedule"),
            function,
            expression: expression.parse()?,
            input: None,
        })
    }
}

/// The schedule actor's settings.
#[derive(Debug, Clone)]
pub struct ScheduleConfig {
    pub account_id: String,
    pub region: String,
    pub targets: Vec<ScheduledTarget>,
    /// Also fire every target once as soon as the actor starts (handy for a demo; AWS
    /// fires a rate rule first one period after it is created).
    pub fire_at_start: bool,
}

impl ScheduleConfig {
    /// No targets yet, in `account_id`/`region`.
    pub fn new(account_id: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            account_id: account_id.into(),
            region: region.into(),
            targets: Vec::new(),
            fire_at_start: false,
        }
    }

    /// With one more target.
    pub fn target(mut self, target: ScheduledTarget) -> Self {
        self.targets.push(target);
        self
    }
}

/// Counters of the schedule actor.
#[derive(Debug, Default)]
pub struct ScheduleStats {
    pub invocations: AtomicU64,
    pub errors: AtomicU64,
}

/// Starts the schedule actor: one task that invokes each target on its schedule.
pub fn start_schedules(
    config: ScheduleConfig,
    invoker: Arc<dyn Invoke>,
) -> (ActorHandle, Arc<ScheduleStats>) {
    let stats = Arc::new(ScheduleStats::default());
    let counters = Arc::clone(&stats);
    let handle = ActorHandle::spawn("schedules", move |stop| {
        run_schedules(config, invoker, counters, stop)
    });
    (handle, stats)
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

async fn run_schedules(
    config: ScheduleConfig,
    invoker: Arc<dyn Invoke>,
    stats: Arc<ScheduleStats>,
    mut stop: StopSignal,
) {
    let start = now_millis() / 1000;
    let mut next: Vec<Option<i64>> = config
        .targets
        .iter()
        .map(|t| {
            if config.fire_at_start {
                Some(start)
            } else {
                t.expression.next_after(start, start)
            }
        })
        .collect();
    for (target, at) in config.targets.iter().zip(&next) {
        tracing::info!(function = %target.function, rule = %target.rule_name, next = ?at.map(format_time), "schedule armed");
    }
    let mut running = JoinSet::new();
    loop {
        while running.try_join_next().is_some() {}
        let Some(due) = next.iter().flatten().min().copied() else {
            tracing::debug!("no schedule fires again");
            stop.stopped().await;
            break;
        };
        let wait = Duration::from_millis((due * 1000 - now_millis()).max(0) as u64);
        if !stop.sleep(wait).await {
            break;
        }
        for (i, target) in config.targets.iter().enumerate() {
            if next[i] != Some(due) {
                continue;
            }
            next[i] = target.expression.next_after(start, due);
            let payload = target.input.clone().unwrap_or_else(|| {
                scheduled_event(&config.region, &config.account_id, &target.rule_name, due)
            });
            let invoker = Arc::clone(&invoker);
            let stats = Arc::clone(&stats);
            let function = target.function.clone();
            stats.invocations.fetch_add(1, Ordering::Relaxed);
            running.spawn(async move {
                if let Err(e) = invoker.invoke(&function, payload).await {
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(function = %function, error = %e, "scheduled invocation failed");
                }
            });
        }
    }
    running.abort_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduled_events_have_the_shape_aws_sends() {
        let event = scheduled_event("eu-west-1", "123456789012", "tick", 1_444_323_186);
        assert_eq!(event["version"], "0");
        assert_eq!(event["detail-type"], "Scheduled Event");
        assert_eq!(event["source"], "aws.events");
        assert_eq!(event["account"], "123456789012");
        assert_eq!(event["time"], "2015-10-08T16:53:06Z");
        assert_eq!(event["region"], "eu-west-1");
        assert_eq!(
            event["resources"],
            json!(["arn:aws:events:eu-west-1:123456789012:rule/tick"])
        );
        assert_eq!(event["detail"], json!({}));
        let id = event["id"].as_str().expect("id");
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(
            id,
            scheduled_event("eu-west-1", "1", "tick", 0)["id"]
                .as_str()
                .expect("id")
        );
        // It is what aws_lambda_events reads an EventBridge event as.
        let typed: aws_lambda_events::eventbridge::EventBridgeEvent =
            serde_json::from_value(event).expect("EventBridgeEvent");
        assert_eq!(typed.detail_type, "Scheduled Event");
        assert_eq!(typed.source, "aws.events");
    }
}

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

use crate::kube::time::civil_from_days;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use serde_yaml_ng::Value as Yaml;
use tokio::task::JoinSet;

use super::invoke::Invoke;
use super::{ActorHandle, StopSignal};
use crate::error::{Error, Result};

/// A parsed schedule expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleExpression {
    /// `rate(...)`: every period, the first one period after the schedule starts.
    Rate(Duration),
    /// `cron(...)`: at the matching minutes, UTC.
    Cron(Cron),
}

impl ScheduleExpression {
    /// The first fire time strictly after `after` (Unix seconds), given that the schedule
    /// started at `start` (rates count from there).
    pub fn next_after(&self, start: i64, after: i64) -> Option<i64> {
        match self {
            Self::Rate(period) => {
                let p = i64::try_from(period.as_secs()).ok()?.max(1);
                let elapsed = (after - start).max(0);
                Some(start + (elapsed / p + 1) * p)
            }
            Self::Cron(cron) => cron.next_after(after),
        }
    }
}

impl FromStr for ScheduleExpression {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        let bad = |why: &str| Error::LambdaWiring(format!("`{s}`: {why}"));
        if let Some(inner) = s.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
            let mut words = inner.split_whitespace();
            let (Some(value), Some(unit), None) = (words.next(), words.next(), words.next()) else {
                return Err(bad("expected rate(<value> <unit>)"));
            };
            let value: u64 = value
                .parse()
                .map_err(|_| bad("the value must be a positive whole number"))?;
            if value == 0 {
                return Err(bad("the value must be positive"));
            }
            let (singular, seconds) = match unit {
                "second" | "seconds" => ("second", 1),
                "minute" | "minutes" => ("minute", 60),
                "hour" | "hours" => ("hour", 3600),
                "day" | "days" => ("day", 86_400),
                _ => return Err(bad("the unit must be minute(s), hour(s) or day(s)")),
            };
            // EventBridge rejects `rate(1 minutes)` and `rate(5 minute)`.
            let expected = if value == 1 {
                singular.to_owned()
            } else {
                format!("{singular}s")
            };
            if unit != expected {
                return Err(bad(&format!("with {value}, the unit is `{expected}`")));
            }
            return Ok(Self::Rate(Duration::from_secs(value * seconds)));
        }
        if let Some(inner) = s.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
            return Cron::parse(inner).map(Self::Cron).map_err(|why| bad(&why));
        }
        Err(bad("expected rate(...) or cron(...)"))
    }
}

/// A six-field EventBridge cron expression (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    /// `None` for `?`.
    days_of_month: Option<Vec<bool>>,
    months: Vec<bool>,
    /// 1 = Sunday .. 7 = Saturday; `None` for `?`.
    days_of_week: Option<Vec<bool>>,
    /// `None` for `*`.
    year_list: Option<Vec<i64>>,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Cron {
    fn parse(inner: &str) -> std::result::Result<Self, String> {
        let fields: Vec<&str> = inner.split_whitespace().collect();
        let [min, hour, dom, month, dow, year] = fields[..] else {
            return Err(format!(
                "cron needs 6 fields (minutes hours day-of-month month day-of-week year), got {}",
                fields.len()
            ));
        };
        if (dom == "?") == (dow == "?") {
            return Err("exactly one of day-of-month and day-of-week must be `?`".to_owned());
        }
        let optional = |field: &str, lo, hi, names: &[&str], base| {
            if field == "?" {
                Ok(None)
            } else {
                field_set(field, lo, hi, names, base).map(Some)
            }
        };
        let year_list = if year == "*" {
            None
        } else {
            let mut years = Vec::new();
            for part in year.split(',') {
                let (range, step) = split_step(part)?;
                let (a, b) = match range.split_once('-') {
                    Some((a, b)) => (parse_num(a, &[], 0)?, parse_num(b, &[], 0)?),
                    None if step.is_some() => (parse_num(range, &[], 0)?, 2199),
                    None => {
                        let y = parse_num(range, &[], 0)?;
                        (y, y)
                    }
                };
                if !(1970..=2199).contains(&a) || !(1970..=2199).contains(&b) || a > b {
                    return Err(format!("year `{part}` is outside 1970-2199"));
                }
                let step = step.unwrap_or(1);
                years.extend((a..=b).step_by(step as usize));
            }
            Some(years)
        };
        Ok(Self {
            minutes: field_set(min, 0, 59, &[], 0)?,
            hours: field_set(hour, 0, 23, &[], 0)?,
            days_of_month: optional(dom, 1, 31, &[], 0)?,
            months: field_set(month, 1, 12, &MONTHS, 1)?,
            days_of_week: optional(dow, 1, 7, &DAYS, 1)?,
            year_list,
        })
    }

    /// The first matching minute strictly after `after` (Unix seconds), within 5 years.
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let start = (after.div_euclid(60) + 1) * 60;
        let first_day = start.div_euclid(86_400);
        for day in first_day..first_day + 5 * 366 {
            let (y, m, d) = civil_from_days(day);
            if let Some(years) = &self.year_list {
                if !years.contains(&y) {
                    continue;
                }
            }
            if !self.months[m as usize] {
                continue;
            }
            // AWS: 1 = Sunday; 1970-01-01 was a Thursday.
            let dow = (day + 4).rem_euclid(7) + 1;
            let day_ok = match (&self.days_of_month, &self.days_of_week) {
                (Some(doms), _) => doms[d as usize],
                (None, Some(dows)) => dows[dow as usize],
                (None, None) => true,
            };
            if !day_ok {
                continue;
            }
            for hour in 0..24 {
                if !self.hours[hour] {
                    continue;
                }
                for minute in 0..60 {
                    if !self.minutes[minute] {
                        continue;
                    }
                    let t = day * 86_400 + hour as i64 * 3600 + minute as i64 * 60;
                    if t >= start {
                        return Some(t);
                    }
                }
            }
        }
        None
    }
}

fn split_step(part: &str) -> std::result::Result<(&str, Option<i64>), String> {
    match part.split_once('/') {
        Some((range, step)) => {
            let step: i64 = step.parse().map_err(|_| format!("bad step in `{part}`"))?;
            if step <= 0 {
                return Err(format!("bad step in `{part}`"));
            }
            Ok((range, Some(step)))
        }
        None => Ok((part, None)),
    }
}

fn parse_num(s: &str, names: &[&str], base: i64) -> std::result::Result<i64, String> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
        return Ok(i as i64 + base);
    }
    s.parse().map_err(|_| {
        if s.contains(['L', 'W', '#']) {
            format!("`{s}`: L, W and # are not supported by the sandbox")
        } else {
            format!("`{s}` is not a number")
        }
    })
}

/// The values `field` selects in `lo..=hi`, as a lookup table indexed by value.
fn field_set(
    field: &str,
    lo: i64,
    hi: i64,
    names: &[&str],
    base: i64,
) -> std::result::Result<Vec<bool>, String> {
    let mut set = vec![false; hi as usize + 1];
    for part in field.split(',') {
        let (range, step) = split_step(part)?;
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (parse_num(a, names, base)?, parse_num(b, names, base)?)
        } else {
            let a = parse_num(range, names, base)?;
            (a, if step.is_some() { hi } else { a })
        };
        if a < lo || b > hi || a > b {
            return Err(format!("`{part}` is outside {lo}-{hi}"));
        }
        let mut v = a;
        while v <= b {
            set[v as usize] = true;
            v += step.unwrap_or(1);
        }
    }
    Ok(set)
}

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
    use super::*;

    fn at(s: &str) -> i64 {
        // Inverse of format_time for the tests: search the day, then add the clock.
        let (date, clock) = s.trim_end_matches('Z').split_once('T').expect("T");
        let mut p = date.split('-').map(|x| x.parse::<i64>().expect("num"));
        let (y, m, d) = (
            p.next().expect("y"),
            p.next().expect("m"),
            p.next().expect("d"),
        );
        let day = (0..100_000)
            .find(|&z| civil_from_days(z) == (y, m, d))
            .expect("day");
        let mut c = clock.split(':').map(|x| x.parse::<i64>().expect("num"));
        day * 86_400
            + c.next().expect("h") * 3600
            + c.next().expect("m") * 60
            + c.next().expect("s")
    }

    #[test]
    fn rates_parse_as_eventbridge_accepts_them() {
        let rate = |s: &str| s.parse::<ScheduleExpression>();
        assert_eq!(
            rate("rate(1 minute)").expect("1 minute"),
            ScheduleExpression::Rate(Duration::from_secs(60))
        );
        assert_eq!(
            rate("rate(5 minutes)").expect("5 minutes"),
            ScheduleExpression::Rate(Duration::from_secs(300))
        );
        assert_eq!(
            rate("rate(2 seconds)").expect("2 seconds"),
            ScheduleExpression::Rate(Duration::from_secs(2))
        );
        assert_eq!(
            rate("rate(1 day)").expect("1 day"),
            ScheduleExpression::Rate(Duration::from_secs(86_400))
        );
        for bad in [
            "rate(1 minutes)",
            "rate(5 minute)",
            "rate(0 minutes)",
            "rate(minute)",
            "every minute",
        ] {
            assert!(rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rate_fires_one_period_after_start_then_every_period() {
        let r: ScheduleExpression = "rate(1 minute)".parse().expect("rate");
        assert_eq!(r.next_after(1000, 1000), Some(1060));
        assert_eq!(r.next_after(1000, 1059), Some(1060));
        assert_eq!(r.next_after(1000, 1060), Some(1120));
    }

    #[test]
    fn cron_subset_finds_the_next_minute() {
        let cron = |s: &str| match s.parse::<ScheduleExpression>().expect(s) {
            ScheduleExpression::Cron(c) => c,
            other => panic!("{other:?}"),
        };
        let every_5 = cron("cron(0/5 * * * ? *)");
        assert_eq!(
            every_5
                .next_after(at("2026-11-30T10:02:30Z"))
                .map(format_time),
            Some("2026-11-30T10:05:00Z".to_owned())
        );
        // 2026-11-30 is a Monday; MON-FRI at 08:15.
        let weekdays = cron("cron(15 8 ? * MON-FRI *)");
        assert_eq!(
            weekdays
                .next_after(at("2026-11-28T12:00:00Z"))
                .map(format_time),
            Some("2026-11-30T08:15:00Z".to_owned())
        );
        let first_of_month = cron("cron(0 12 1 * ? *)");
        assert_eq!(
            first_of_month
                .next_after(at("2026-11-30T12:00:00Z"))
                .map(format_time),
            Some("2026-12-01T12:00:00Z".to_owned())
        );
        let in_2027 = cron("cron(30 6 1,15 JAN ? 2027)");
        assert_eq!(
            in_2027
                .next_after(at("2026-11-30T00:00:00Z"))
                .map(format_time),
            Some("2027-01-01T06:30:00Z".to_owned())
        );
        for bad in [
            "cron(* * * * * *)",
            "cron(0 12 * * ?)",
            "cron(0 12 L * ? *)",
            "cron(61 * * * ? *)",
        ] {
            assert!(bad.parse::<ScheduleExpression>().is_err(), "{bad}");
        }
    }

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

//! EventBridge schedule expressions: `rate(...)` and the six-field `cron(...)` subset.

use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::kube::time::civil_from_days;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::schedule::format_time;

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
}

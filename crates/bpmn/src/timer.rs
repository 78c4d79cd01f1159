//! Timer values: ISO 8601 durations (`PT20S`), dates (`2026-01-01T08:00:00Z`) and repeating
//! cycles (`R3/PT5S`, `R/2026-01-01T00:00:00Z/P1D`), and the Quartz-style cron expressions Camunda
//! accepts in `timeCycle` too (`0 0/5 * * * ?`).
//!
//! Cron expressions have six or seven fields: seconds, minutes, hours, day of month, month, day
//! of week (1 = Sunday to 7 = Saturday, or `SUN`-`SAT`) and optionally the year, each `*`, `?`, a
//! value, a list, a range or a step (`0/5`). They are evaluated in UTC. Quartz's `L`, `W` and `#`
//! are not supported (a deployment reports them). Parsing and next fire times come from the
//! `cron` crate.

use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

/// An invalid timer value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid {kind} '{text}'")]
pub struct TimerError {
    /// `ISO 8601 duration`, `ISO 8601 date`, `ISO 8601 cycle` or `cron expression`.
    pub kind: &'static str,
    /// The offending text.
    pub text: String,
}

/// A repeating interval: `R[n]/[start/]duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cycle {
    /// How many times the timer fires; `None` repeats without end.
    pub repetitions: Option<u32>,
    /// When the first interval starts; `None` means when the timer is created.
    pub start: Option<OffsetDateTime>,
    /// Time between two firings.
    pub interval: Duration,
}

impl Cycle {
    /// The first due time of the cycle for a timer created at `now`.
    pub fn first_due(&self, now: OffsetDateTime) -> OffsetDateTime {
        match self.start {
            Some(start) if start > now => start,
            Some(start) => start + self.interval,
            None => now + self.interval,
        }
    }
}

fn error(kind: &'static str, text: &str) -> TimerError {
    TimerError {
        kind,
        text: text.to_owned(),
    }
}

/// Parses an ISO 8601 duration such as `PT20S`, `P1DT12H`, `P2W` or `PT0.5S`.
///
/// Years count as 365 days and months as 30 days.
pub fn parse_duration(text: &str) -> Result<Duration, TimerError> {
    let bad = || error("ISO 8601 duration", text);
    let trimmed = text.trim();
    let (negative, body) = match trimmed.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    let body = body.strip_prefix(['P', 'p']).ok_or_else(bad)?;
    if body.is_empty() {
        return Err(bad());
    }
    let mut seconds = 0f64;
    let mut in_time = false;
    let mut number = String::new();
    let mut any = false;
    for c in body.chars() {
        match c {
            '0'..='9' | '.' | ',' => number.push(if c == ',' { '.' } else { c }),
            'T' | 't' if number.is_empty() && !in_time => in_time = true,
            unit => {
                let n: f64 = number.parse().map_err(|_| bad())?;
                number.clear();
                any = true;
                let factor = match (in_time, unit.to_ascii_uppercase()) {
                    (false, 'Y') => 365.0 * 86_400.0,
                    (false, 'M') => 30.0 * 86_400.0,
                    (false, 'W') => 7.0 * 86_400.0,
                    (false, 'D') => 86_400.0,
                    (true, 'H') => 3_600.0,
                    (true, 'M') => 60.0,
                    (true, 'S') => 1.0,
                    _ => return Err(bad()),
                };
                seconds += n * factor;
            }
        }
    }
    if !number.is_empty() || !any || !seconds.is_finite() {
        return Err(bad());
    }
    let d = Duration::seconds_f64(seconds);
    Ok(if negative { -d } else { d })
}

/// Parses an ISO 8601 date-time; without an offset it is taken as UTC.
pub fn parse_date(text: &str) -> Result<OffsetDateTime, TimerError> {
    let text = text.trim();
    if let Ok(dt) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(dt);
    }
    let local = time::macros::format_description!(
        version = 2,
        "[year]-[month]-[day]T[hour]:[minute][optional [:[second][optional [.[subsecond]]]]]"
    );
    PrimitiveDateTime::parse(text, local)
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|_| error("ISO 8601 date", text))
}

/// Parses an ISO 8601 repeating interval `R[n]/[start/]duration` (or `R[n]/duration/end`'s first two
/// forms; an end date is not supported).
pub fn parse_cycle(text: &str) -> Result<Cycle, TimerError> {
    let bad = || error("ISO 8601 cycle", text);
    let mut parts = text.trim().split('/');
    let reps = parts.next().ok_or_else(bad)?;
    let reps = reps.strip_prefix(['R', 'r']).ok_or_else(bad)?;
    let repetitions = if reps.is_empty() || reps == "-1" {
        None
    } else {
        Some(reps.parse::<u32>().map_err(|_| bad())?)
    };
    let rest: Vec<&str> = parts.collect();
    let (start, interval) = match rest.as_slice() {
        [duration] => (None, parse_duration(duration)?),
        [start, duration] => (Some(parse_date(start)?), parse_duration(duration)?),
        _ => return Err(bad()),
    };
    if interval <= Duration::ZERO {
        return Err(bad());
    }
    Ok(Cycle {
        repetitions,
        start,
        interval,
    })
}

/// A `timeCycle` value.
#[derive(Debug, Clone)]
pub enum TimeCycle {
    /// An ISO 8601 repeating interval.
    Iso(Cycle),
    /// A Quartz-style cron expression.
    Cron(Box<CronSchedule>),
}

/// Parses a `timeCycle`: an ISO 8601 repeating interval (`R...`) or a cron expression.
pub fn parse_time_cycle(text: &str) -> Result<TimeCycle, TimerError> {
    let text = text.trim();
    if text.starts_with(['R', 'r']) {
        parse_cycle(text).map(TimeCycle::Iso)
    } else {
        parse_cron(text).map(|c| TimeCycle::Cron(Box::new(c)))
    }
}

impl TimeCycle {
    /// The first due time of a timer created at `now`, and how the cycle goes on after it.
    /// `None` when a cron expression selects no time after `now`.
    pub fn first(&self, now: OffsetDateTime) -> Option<(OffsetDateTime, Repeat)> {
        match self {
            TimeCycle::Iso(c) => Some((
                c.first_due(now),
                Repeat::Every {
                    remaining: c.repetitions.map(|r| r.saturating_sub(1)),
                    interval: c.interval,
                },
            )),
            TimeCycle::Cron(c) => Some((c.next_after(now)?, Repeat::Cron(c.text.clone()))),
        }
    }
}

/// How a cycle goes on after a firing; kept with a waiting timer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Repeat {
    /// Every `interval`, `remaining` more times (`None`: without end).
    Every {
        /// Firings still to come.
        remaining: Option<u32>,
        /// Time between two firings.
        interval: Duration,
    },
    /// At the times a cron expression selects.
    Cron(String),
}

impl Repeat {
    /// The due time after a firing due at `due`, and how the cycle goes on from it; `None` once
    /// the cycle has ended.
    pub fn next(&self, due: OffsetDateTime) -> Option<(OffsetDateTime, Repeat)> {
        match self {
            Repeat::Every {
                remaining: Some(0), ..
            } => None,
            Repeat::Every {
                remaining,
                interval,
            } => Some((
                due + *interval,
                Repeat::Every {
                    remaining: remaining.map(|r| r - 1),
                    interval: *interval,
                },
            )),
            Repeat::Cron(text) => {
                let next = parse_cron(text).ok()?.next_after(due)?;
                Some((next, self.clone()))
            }
        }
    }
}

impl Repeat {
    /// The first due time after `now` of a cycle that fired at `due`, and how it goes on from
    /// there: firings missed meanwhile (while no engine ran) are skipped, so that a timer that fell
    /// due fires once.
    pub fn next_after(
        &self,
        due: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Option<(OffsetDateTime, Repeat)> {
        let (mut due, mut repeat) = self.next(due)?;
        while due <= now {
            (due, repeat) = repeat.next(due)?;
        }
        Some((due, repeat))
    }
}

/// A parsed cron expression.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    text: String,
    schedule: cron::Schedule,
}

/// Parses a Quartz-style cron expression of six or seven fields.
pub fn parse_cron(text: &str) -> Result<CronSchedule, TimerError> {
    let text = text.trim();
    let bad = || error("cron expression", text);
    if !(6..=7).contains(&text.split_whitespace().count()) {
        return Err(bad());
    }
    let schedule = text.parse::<cron::Schedule>().map_err(|_| bad())?;
    Ok(CronSchedule {
        text: text.to_owned(),
        schedule,
    })
}

impl CronSchedule {
    /// The first time the expression selects after `t` (whole seconds, UTC).
    pub fn next_after(&self, t: OffsetDateTime) -> Option<OffsetDateTime> {
        let after = chrono::DateTime::from_timestamp(t.unix_timestamp(), t.nanosecond())?;
        let next = self.schedule.after(&after).next()?;
        OffsetDateTime::from_unix_timestamp(next.timestamp()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() -> Result<(), TimerError> {
        assert_eq!(parse_duration("PT20S")?, Duration::seconds(20));
        assert_eq!(parse_duration("PT24H")?, Duration::hours(24));
        assert_eq!(parse_duration("P1DT1M")?, Duration::seconds(86_460));
        assert_eq!(parse_duration("P2W")?, Duration::days(14));
        assert_eq!(parse_duration("PT0.5S")?, Duration::milliseconds(500));
        for bad in ["", "P", "PT", "20S", "PT5X", "P5H", "PT5"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn dates() -> Result<(), TimerError> {
        let d = parse_date("2026-01-02T03:04:05Z")?;
        assert_eq!((d.year(), d.day(), d.hour()), (2026, 2, 3));
        let local = parse_date("2026-01-02T03:04")?;
        assert_eq!(local.offset(), time::UtcOffset::UTC);
        assert!(parse_date("tomorrow").is_err());
        Ok(())
    }

    #[test]
    fn cycles() -> Result<(), TimerError> {
        let c = parse_cycle("R3/PT5S")?;
        assert_eq!(c.repetitions, Some(3));
        assert_eq!(c.interval, Duration::seconds(5));
        let endless = parse_cycle("R/2026-01-01T00:00:00Z/P1D")?;
        assert_eq!(endless.repetitions, None);
        let before = parse_date("2025-12-31T00:00:00Z")?;
        assert_eq!(
            endless.first_due(before),
            parse_date("2026-01-01T00:00:00Z")?
        );
        assert!(parse_cycle("0 0 * * *").is_err());
        Ok(())
    }

    fn next_fires(expression: &str, from: &str, count: usize) -> Result<Vec<String>, TimerError> {
        let cron = parse_cron(expression)?;
        let mut t = parse_date(from)?;
        let mut out = Vec::new();
        for _ in 0..count {
            t = cron
                .next_after(t)
                .ok_or_else(|| error("cron expression", expression))?;
            out.push(t.format(&Rfc3339).unwrap_or_default());
        }
        Ok(out)
    }

    #[test]
    fn cron_expressions_select_their_next_times() -> Result<(), TimerError> {
        let from = "2026-11-30T08:03:07Z"; // a Monday
        assert_eq!(
            next_fires("0 0/5 * * * ?", from, 2)?,
            ["2026-11-30T08:05:00Z", "2026-11-30T08:10:00Z"]
        );
        assert_eq!(
            next_fires("0 30 9,17 * * ?", from, 3)?,
            [
                "2026-11-30T09:30:00Z",
                "2026-11-30T17:30:00Z",
                "2026-12-01T09:30:00Z"
            ]
        );
        // day of week as in Quartz: 1 is Sunday, 2 Monday, 6 Friday
        assert_eq!(
            next_fires("0 0 12 ? * 2-6", "2026-12-04T13:00:00Z", 1)?,
            ["2026-12-07T12:00:00Z"]
        );
        assert_eq!(
            next_fires("0 0 12 ? * SUN", from, 1)?,
            next_fires("0 0 12 ? * 1", from, 1)?
        );
        // the optional year field; a cron in the past never fires
        assert_eq!(
            next_fires("0 0 0 1 1 ? 2027", from, 1)?,
            ["2027-01-01T00:00:00Z"]
        );
        let past = parse_cron("0 0 0 1 1 ? 2020")?;
        assert_eq!(past.next_after(parse_date(from)?), None);
        Ok(())
    }

    #[test]
    fn time_cycles_are_iso_or_cron_and_repeat() -> Result<(), TimerError> {
        let now = parse_date("2026-11-30T08:03:07Z")?;
        let iso = parse_time_cycle("R2/PT1H")?.first(now);
        let Some((due, repeat)) = iso else {
            return Err(error("cycle", "R2/PT1H"));
        };
        assert_eq!(due, now + Duration::hours(1));
        let second = repeat.next(due);
        assert_eq!(
            second.as_ref().map(|(d, _)| *d),
            Some(now + Duration::hours(2))
        );
        assert_eq!(second.and_then(|(d, r)| r.next(d)), None);

        let cron = parse_time_cycle("0 0/5 * * * ?")?.first(now);
        let Some((due, repeat)) = cron else {
            return Err(error("cycle", "cron"));
        };
        assert_eq!(due, parse_date("2026-11-30T08:05:00Z")?);
        assert_eq!(
            repeat.next(due).map(|(d, _)| d),
            Some(parse_date("2026-11-30T08:10:00Z")?)
        );
        for bad in [
            "0 0 * * *",
            "0 0/5 * * * ? 2026 x",
            "0 0 12 L * ?",
            "R/nonsense",
        ] {
            assert!(parse_time_cycle(bad).is_err(), "{bad}");
        }
        Ok(())
    }
}

//! ISO 8601 timer values: durations (`PT20S`), dates (`2026-01-01T08:00:00Z`) and repeating cycles
//! (`R3/PT5S`, `R/2026-01-01T00:00:00Z/P1D`).

use thiserror::Error;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

/// An invalid timer value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid ISO 8601 {kind} '{text}'")]
pub struct TimerError {
    /// `duration`, `date` or `cycle`.
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
    let bad = || error("duration", text);
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
        .map_err(|_| error("date", text))
}

/// Parses an ISO 8601 repeating interval `R[n]/[start/]duration` (or `R[n]/duration/end`'s first two
/// forms; an end date is not supported).
pub fn parse_cycle(text: &str) -> Result<Cycle, TimerError> {
    let bad = || error("cycle", text);
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
}

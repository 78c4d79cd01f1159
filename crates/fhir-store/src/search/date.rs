//! FHIR dates as ranges of time: `2024` is the whole year, `2024-05-01T10:00:00Z` one second.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// A half-open range `[lo, hi)` in microseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    /// Inclusive start.
    pub lo: i64,
    /// Exclusive end.
    pub hi: i64,
}

impl DateRange {
    /// Everything, for open period ends.
    pub const ALL: DateRange = DateRange {
        lo: i64::MIN,
        hi: i64::MAX,
    };
}

fn micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

fn digits(s: &str, n: usize) -> Option<u32> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Parses a FHIR `date`, `dateTime` or `instant` (or a search value of that form) into the range
/// of time it denotes. Values without a time zone are taken as UTC.
pub fn parse_range(value: &str) -> Option<DateRange> {
    let (date_part, time_part) = match value.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (value, None),
    };
    let mut parts = date_part.split('-');
    let year = digits(parts.next()?, 4)? as i32;
    let month = parts
        .next()
        .map(|m| digits(m, 2))
        .map_or(Ok(None), |m| m.map(Some).ok_or(()));
    let month = month.ok()?;
    let day = parts
        .next()
        .map(|d| digits(d, 2))
        .map_or(Ok(None), |d| d.map(Some).ok_or(()));
    let day = day.ok()?;
    if parts.next().is_some() {
        return None;
    }
    let start_month = Month::try_from(month.unwrap_or(1) as u8).ok()?;
    let start_date = Date::from_calendar_date(year, start_month, day.unwrap_or(1) as u8).ok()?;
    let Some(time_part) = time_part else {
        let start = PrimitiveDateTime::new(start_date, Time::MIDNIGHT).assume_utc();
        let end = match (month, day) {
            (None, _) => Date::from_calendar_date(year + 1, Month::January, 1).ok()?,
            (Some(_), None) => {
                let (y, m) = if start_month == Month::December {
                    (year + 1, Month::January)
                } else {
                    (year, start_month.next())
                };
                Date::from_calendar_date(y, m, 1).ok()?
            }
            (Some(_), Some(_)) => start_date.next_day()?,
        };
        let end = PrimitiveDateTime::new(end, Time::MIDNIGHT).assume_utc();
        return Some(DateRange {
            lo: micros(start),
            hi: micros(end),
        });
    };
    day?;
    // Split off the zone: `Z`, `+hh:mm` or `-hh:mm`.
    let (clock, offset) = if let Some(c) = time_part.strip_suffix('Z') {
        (c, UtcOffset::UTC)
    } else if let Some(pos) = time_part.rfind(['+', '-']) {
        let (c, z) = time_part.split_at(pos);
        let sign: i8 = if z.starts_with('-') { -1 } else { 1 };
        let (h, m) = z[1..].split_once(':')?;
        let offset =
            UtcOffset::from_hms(sign * digits(h, 2)? as i8, sign * digits(m, 2)? as i8, 0).ok()?;
        (c, offset)
    } else {
        (time_part, UtcOffset::UTC)
    };
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, f))
            if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (hms, Some(f))
        }
        Some(_) => return None,
        None => (clock, None),
    };
    let mut fields = hms.split(':');
    let hour = digits(fields.next()?, 2)? as u8;
    let minute = digits(fields.next()?, 2)? as u8;
    let second = fields.next().map(|s| digits(s, 2));
    if fields.next().is_some() {
        return None;
    }
    let (second, step_micros) = match (second, fraction) {
        (None, None) => (0, 60_000_000),
        (None, Some(_)) => return None,
        (Some(s), None) => (s? as u8, 1_000_000),
        (Some(s), Some(f)) => {
            let step = 10i64.pow(6u32.saturating_sub(f.len() as u32));
            (s? as u8, step)
        }
    };
    let nanos = fraction.map_or(Some(0), |f| {
        let padded = format!("{f:0<9}");
        padded.parse::<u32>().ok()
    })?;
    let time = Time::from_hms_nano(hour, minute, second, nanos).ok()?;
    let start = PrimitiveDateTime::new(start_date, time).assume_offset(offset);
    let lo = micros(start);
    Some(DateRange {
        lo,
        hi: lo.saturating_add(step_micros),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(s: &str) -> DateRange {
        parse_range(s).unwrap_or_else(|| panic!("{s} should parse"))
    }

    #[test]
    fn precision_decides_the_range() {
        let year = range("2024");
        assert_eq!(year.lo, range("2024-01-01").lo);
        assert_eq!(year.hi, range("2025-01-01").lo);
        assert_eq!(range("2024-12").hi, range("2025-01-01").lo);
        assert_eq!(range("2024-02").hi, range("2024-03-01").lo);
        assert_eq!(
            range("2024-05-01").hi - range("2024-05-01").lo,
            86_400_000_000
        );
        let second = range("2024-05-01T10:00:00Z");
        assert_eq!(second.hi - second.lo, 1_000_000);
        let milli = range("2024-05-01T10:00:00.123Z");
        assert_eq!(milli.hi - milli.lo, 1_000);
        assert_eq!(milli.lo - second.lo, 123_000);
    }

    #[test]
    fn offsets_are_applied() {
        assert_eq!(
            range("2024-05-01T12:00:00+02:00"),
            range("2024-05-01T10:00:00Z")
        );
        assert_eq!(
            range("2024-05-01T08:00:00-02:00"),
            range("2024-05-01T10:00:00Z")
        );
    }

    #[test]
    fn nonsense_is_rejected() {
        for bad in [
            "",
            "24",
            "2024-13",
            "2024-02-30",
            "2024-01-01T25:00:00Z",
            "2024-01-01T",
            "x",
            "2024-01-01T10:00:00.Z",
            "2024-01-01-01",
        ] {
            assert!(parse_range(bad).is_none(), "{bad}");
        }
    }
}

//! When timers fire.

use time::OffsetDateTime;

use crate::expr::Context;
use crate::model::TimerDefinition;
use crate::timer;

/// When a timer first fires and, for cycles, how it repeats.
pub(crate) type TimerSchedule = (OffsetDateTime, Option<timer::Repeat>);

/// Evaluates a timer definition at `now`.
pub(crate) fn schedule(
    def: &TimerDefinition,
    ctx: &dyn Context,
    now: OffsetDateTime,
) -> Result<TimerSchedule, String> {
    let expr = match def {
        TimerDefinition::Duration(e) | TimerDefinition::Date(e) | TimerDefinition::Cycle(e) => e,
    };
    let text = expr
        .evaluate(ctx)
        .map_err(|e| format!("timer '{}': {e}", expr.source()))?
        .to_string();
    let bad = |e: timer::TimerError| e.to_string();
    Ok(match def {
        TimerDefinition::Duration(_) => (now + timer::parse_duration(&text).map_err(bad)?, None),
        TimerDefinition::Date(_) => (timer::parse_date(&text).map_err(bad)?, None),
        TimerDefinition::Cycle(_) => {
            let (due, repeat) = timer::parse_time_cycle(&text)
                .map_err(bad)?
                .first(now)
                .ok_or_else(|| format!("timer cycle '{text}' has no time after {now}"))?;
            (due, Some(repeat))
        }
    })
}

//! Promotion windows: a cron schedule opens a window for a duration, in a time zone. Pure.
//!
//! ## Schedules
//!
//! People write 5-field crontab (`min hour day-of-month month day-of-week`); 6 and 7 fields
//! (seconds first, optional year last) are accepted too, as are `@hourly`, `@daily`, `@weekly`,
//! `@monthly` and `@yearly`. In every form the day of week uses crontab numbering: `0` or `7`
//! is Sunday, `1` Monday … `6` Saturday; names (`Mon-Thu`), lists, ranges (`1-4`, also
//! wrapping: `Fri-Mon`) and steps (`1-5/2`) work. The `cron` crate numbers days from Sunday =
//! 1, so the day-of-week field is rewritten to names before it is handed over. When both
//! day-of-month and day-of-week are restricted, both must match (the `cron` crate's rule; Vixie
//! cron would accept either).
//!
//! ## Local time and daylight saving
//!
//! A schedule runs on the wall clock of its time zone, and the duration is elapsed time. The
//! occurrences are computed on the local wall clock and then placed on the time line:
//! - a local time that happens twice (clocks go back) opens the window once, at the first;
//! - a local time that does not exist (clocks go forward) opens the window when the clocks jump
//!   (`30 2 * * *` in Europe/Berlin opens at 03:00 CEST on the day summer time starts), as cron
//!   daemons run jobs of the skipped hour right after the change.
//!
//! A window is open at `now` if `now ∈ [opening, opening + duration)` for some opening.

use std::time::Duration;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use cron::Schedule;

use super::spec::WindowSpec;
use super::{GateError, GateResult, Outcome, duration};

/// Local times further from `now` than this cannot be the current or next opening, whatever
/// the time zone's offset changes (the largest in tzdb is Samoa's 24h in 2011).
const SLACK: TimeDelta = TimeDelta::hours(25);

/// Bound on schedule steps per question, so that a every-second schedule cannot spin.
const MAX_STEPS: usize = 200_000;

/// A parsed promotion window.
#[derive(Debug, Clone)]
pub struct Window {
    schedule_text: String,
    schedule: Schedule,
    duration: Duration,
    time_zone: Tz,
}

impl Window {
    /// Parses and checks a window from the policy: schedule, duration (> 0) and time zone.
    pub fn parse(spec: &WindowSpec) -> Result<Window, GateError> {
        let schedule_text = spec.schedule.trim().to_string();
        let expression = cron_expression(&schedule_text)
            .map_err(|message| GateError::Schedule { schedule: schedule_text.clone(), message })?;
        let schedule: Schedule = expression.parse().map_err(|e: cron::error::Error| GateError::Schedule {
            schedule: schedule_text.clone(),
            message: cron_message(&e.to_string()),
        })?;
        let duration = duration::parse(&spec.duration)
            .and_then(|d| if d.is_zero() { Err("a window must stay open for more than 0s".into()) } else { Ok(d) })
            .map_err(|message| GateError::WindowDuration {
                schedule: schedule_text.clone(),
                duration: spec.duration.clone(),
                message,
            })?;
        let time_zone = match spec.time_zone.as_deref().map(str::trim) {
            None | Some("") => Tz::UTC,
            Some(name) => name
                .parse()
                .map_err(|_| GateError::TimeZone { schedule: schedule_text.clone(), time_zone: name.to_string() })?,
        };
        Ok(Window { schedule_text, schedule, duration, time_zone })
    }

    /// The opening of the window that contains `now`, if it is open.
    pub fn open_since(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let upper = self.local(now) + SLACK;
        let duration = TimeDelta::from_std(self.duration).unwrap_or(TimeDelta::MAX);
        for local in self.schedule.after(&Utc.from_utc_datetime(&upper)).rev().take(MAX_STEPS) {
            let opening = self.place(local.naive_utc())?;
            if opening <= now {
                let closes = opening.checked_add_signed(duration).unwrap_or(DateTime::<Utc>::MAX_UTC);
                return (now < closes).then_some(opening);
            }
        }
        None
    }

    /// The first opening strictly after `now`, if the schedule has one.
    pub fn next_opening(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let lower = self.local(now) - SLACK;
        for local in self.schedule.after(&Utc.from_utc_datetime(&lower)).take(MAX_STEPS) {
            let opening = self.place(local.naive_utc())?;
            if opening > now {
                return Some(opening);
            }
        }
        None
    }

    /// When the window opened at `opening` closes.
    pub fn closes(&self, opening: DateTime<Utc>) -> DateTime<Utc> {
        let duration = TimeDelta::from_std(self.duration).unwrap_or(TimeDelta::MAX);
        opening.checked_add_signed(duration).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// `t` on the window's wall clock, for evidence: `Mon 2026-12-07 09:00 Europe/Berlin`.
    pub fn format_local(&self, t: DateTime<Utc>) -> String {
        format!("{} {}", t.with_timezone(&self.time_zone).format("%a %Y-%m-%d %H:%M"), self.time_zone.name())
    }

    /// The schedule as written, e.g. `0 9 * * 1-4`.
    pub fn schedule(&self) -> &str {
        &self.schedule_text
    }

    /// How long the window stays open.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// The time zone of the schedule.
    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    fn local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        t.with_timezone(&self.time_zone).naive_local()
    }

    /// Places a wall-clock time of the window's zone on the time line (see the module doc).
    fn place(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self.time_zone.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
            LocalResult::None => {
                // Inside a gap: the first wall-clock minute that exists is the moment of the jump.
                let mut probe = local.with_second(0)?.with_nanosecond(0)?;
                for _ in 0..(48 * 60) {
                    probe += TimeDelta::minutes(1);
                    if let Some(t) = self.time_zone.from_local_datetime(&probe).earliest() {
                        return Some(t.with_timezone(&Utc));
                    }
                }
                None
            }
        }
    }
}

/// The promotion-window gate for `target_env`: passed inside any window (or with none),
/// waiting until the next opening outside them, failed on a configuration error or when no
/// window ever opens again.
pub fn window_gate(specs: &[WindowSpec], target_env: &str, now: DateTime<Utc>) -> GateResult {
    let result =
        |outcome, evidence: String, retry_at| GateResult { gate: "window".into(), outcome, evidence, retry_at };
    if specs.is_empty() {
        return result(Outcome::Passed, format!("{target_env} has no promotion windows: always open"), None);
    }
    let mut windows = Vec::with_capacity(specs.len());
    for spec in specs {
        match Window::parse(spec) {
            Ok(w) => windows.push(w),
            Err(e) => return result(Outcome::Failed, e.to_string(), None),
        }
    }
    for w in &windows {
        if let Some(opening) = w.open_since(now) {
            let evidence = format!(
                "inside a promotion window of {target_env}: opened {}, closes {} ({} for {})",
                w.format_local(opening),
                w.format_local(w.closes(opening)),
                w.schedule(),
                duration::format(w.duration()),
            );
            return result(Outcome::Passed, evidence, None);
        }
    }
    let next = windows.iter().filter_map(|w| w.next_opening(now).map(|t| (t, w))).min_by_key(|(t, _)| *t);
    match next {
        Some((t, w)) => result(
            Outcome::Waiting,
            format!("outside the promotion windows of {target_env}; next opens {}", w.format_local(t)),
            Some(t),
        ),
        None => result(
            Outcome::Failed,
            format!("outside the promotion windows of {target_env}, and none of them opens again"),
            None,
        ),
    }
}

/// Turns a schedule as people write it into the `cron` crate's 6/7-field form, with the
/// day-of-week field in crontab numbering rewritten to names (see the module doc).
pub fn cron_expression(schedule: &str) -> Result<String, String> {
    let schedule = schedule.trim();
    if schedule.starts_with('@') {
        return match schedule {
            "@yearly" | "@annually" => Ok("@yearly".into()),
            "@monthly" | "@weekly" | "@daily" | "@hourly" => Ok(schedule.into()),
            "@midnight" => Ok("@daily".into()),
            _ => Err(format!("unknown shorthand {schedule:?} (use @hourly, @daily, @weekly, @monthly or @yearly)")),
        };
    }
    let mut fields: Vec<String> = schedule.split_whitespace().map(str::to_string).collect();
    let day_of_week = match fields.len() {
        5 => {
            fields.insert(0, "0".into());
            5
        }
        6 | 7 => 5,
        n => {
            return Err(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), or 6-7 with seconds first; found {n}"
            ));
        }
    };
    fields[day_of_week] = day_of_week_names(&fields[day_of_week])?;
    Ok(fields.join(" "))
}

/// The `cron` crate's error without the echo of the rewritten expression it starts with
/// (people did not write that expression), first letter lowercase.
fn cron_message(text: &str) -> String {
    let last = text.lines().map(str::trim).rfind(|l| !l.is_empty() && *l != "^").unwrap_or("invalid expression");
    let mut chars = last.chars();
    chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

const DAY_NAMES: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// Rewrites a crontab day-of-week field (`1-4`, `Mon-Thu`, `0,6`, `*/2`, `Fri-Mon`) to a list of
/// day names the `cron` crate reads the same way.
fn day_of_week_names(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok(field.to_string());
    }
    let mut days = [false; 7];
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: usize = step
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("invalid step {step:?} in day of week {field:?}"))?;
                (range, step)
            }
            None => (item, 1),
        };
        let (first, last) = match range {
            "*" | "?" => (0, 6),
            _ => match range.split_once('-') {
                Some((a, b)) => (day_number(a, field)? % 7, day_number(b, field)?),
                // `3/2` means from 3 to the end of the week in steps of 2.
                None if step > 1 => (day_number(range, field)? % 7, 6),
                None => {
                    let d = day_number(range, field)? % 7;
                    (d, d)
                }
            },
        };
        // `last` may be 7 (Sunday at the end: `5-7`, `0-7`); a range that goes backwards wraps
        // around the weekend (`Fri-Mon`).
        let span = if last >= first { last - first } else { last + 7 - first };
        for offset in (0..=span).step_by(step) {
            days[(first + offset) % 7] = true;
        }
    }
    let names: Vec<&str> = (0..7).filter(|d| days[*d]).map(|d| DAY_NAMES[d]).collect();
    Ok(names.join(","))
}

/// A day of week in crontab numbering (0-7, Sunday = 0 = 7) or by name (Sunday = 0).
fn day_number(text: &str, field: &str) -> Result<usize, String> {
    if let Ok(n) = text.parse::<usize>() {
        return if n <= 7 {
            Ok(n)
        } else {
            Err(format!("day of week {n} out of range in {field:?} (use 0-7; Sunday is 0 or 7)"))
        };
    }
    let lower = text.to_ascii_lowercase();
    let full = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];
    full.iter().position(|name| lower.len() >= 3 && name.starts_with(&lower)).ok_or_else(|| {
        let within = if text == field { String::new() } else { format!(" in {field:?}") };
        format!("invalid day of week {text:?}{within} (use 0-7 or Sun-Sat)")
    })
}

#[cfg(test)]
#[path = "window_tests.rs"]
mod tests;

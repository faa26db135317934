use chrono::{Datelike, Weekday};

use super::*;

fn spec(schedule: &str, duration: &str, tz: Option<&str>) -> WindowSpec {
    WindowSpec { schedule: schedule.into(), duration: duration.into(), time_zone: tz.map(str::to_string) }
}

fn window(schedule: &str, duration: &str, tz: Option<&str>) -> Window {
    Window::parse(&spec(schedule, duration, tz)).unwrap_or_else(|e| panic!("{schedule}: {e}"))
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

/// A wall-clock time in `tz` (the earlier one when it is ambiguous).
fn local(tz: &str, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    let tz: Tz = tz.parse().unwrap();
    tz.with_ymd_and_hms(y, mo, d, h, mi, 0).earliest().unwrap().with_timezone(&Utc)
}

#[test]
fn crontab_fields_become_cron_crate_fields() {
    assert_eq!(cron_expression("0 9 * * *").unwrap(), "0 0 9 * * *");
    assert_eq!(cron_expression("  0 9 * * 1-4 ").unwrap(), "0 0 9 * * Mon,Tue,Wed,Thu");
    assert_eq!(cron_expression("0 9 * * Mon-Thu").unwrap(), "0 0 9 * * Mon,Tue,Wed,Thu");
    assert_eq!(cron_expression("30 0 9 * * 1-4").unwrap(), "30 0 9 * * Mon,Tue,Wed,Thu");
    assert_eq!(cron_expression("0 0 9 * * ? 2027").unwrap(), "0 0 9 * * ? 2027");
    assert_eq!(cron_expression("@daily").unwrap(), "@daily");
    assert_eq!(cron_expression("@midnight").unwrap(), "@daily");
    assert!(cron_expression("@sometimes").unwrap_err().contains("unknown shorthand"));
    assert!(cron_expression("0 9 * *").unwrap_err().contains("found 4"));
    assert!(cron_expression("").unwrap_err().contains("found 0"));
}

#[test]
fn day_of_week_uses_crontab_numbering() {
    let dow = |f: &str| day_of_week_names(f).unwrap();
    assert_eq!(dow("0"), "Sun");
    assert_eq!(dow("7"), "Sun");
    assert_eq!(dow("1"), "Mon");
    assert_eq!(dow("6"), "Sat");
    assert_eq!(dow("1-5"), "Mon,Tue,Wed,Thu,Fri");
    assert_eq!(dow("5-7"), "Sun,Fri,Sat");
    assert_eq!(dow("0-7"), "Sun,Mon,Tue,Wed,Thu,Fri,Sat");
    assert_eq!(dow("Fri-Mon"), "Sun,Mon,Fri,Sat");
    assert_eq!(dow("sat,SUN"), "Sun,Sat");
    assert_eq!(dow("monday-wednesday"), "Mon,Tue,Wed");
    assert_eq!(dow("*/2"), "Sun,Tue,Thu,Sat");
    assert_eq!(dow("1-5/2"), "Mon,Wed,Fri");
    assert_eq!(dow("2/2"), "Tue,Thu,Sat");
    assert_eq!(dow("1,3-4"), "Mon,Wed,Thu");
    assert_eq!(dow("*"), "*");
    assert_eq!(dow("?"), "?");
    for bad in ["8", "Mo", "Funday", "1-", "", "1,,2", "*/0", "1/x", "L", "5#3"] {
        assert!(day_of_week_names(bad).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn config_errors_name_the_schedule() {
    let e = Window::parse(&spec("0 25 * * *", "1h", None)).unwrap_err();
    assert!(matches!(e, GateError::Schedule { .. }), "{e:?}");
    assert!(e.to_string().starts_with("promotion window \"0 25 * * *\": invalid cron schedule: "), "{e}");

    let e = Window::parse(&spec("0 9 * * Funday", "1h", None)).unwrap_err();
    assert!(e.to_string().contains("invalid day of week \"Funday\""), "{e}");

    let e = Window::parse(&spec("0 9 * * *", "1h", Some("Europe/Berlni"))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "promotion window \"0 9 * * *\": unknown time zone \"Europe/Berlni\" (use an IANA name such as Europe/Berlin)"
    );

    let e = Window::parse(&spec("0 9 * * *", "0s", None)).unwrap_err();
    assert!(e.to_string().contains("invalid duration \"0s\": a window must stay open for more than 0s"), "{e}");
    let e = Window::parse(&spec("0 9 * * *", "7 hours", None)).unwrap_err();
    assert!(matches!(e, GateError::WindowDuration { .. }), "{e:?}");

    assert_eq!(window("0 9 * * *", "1h", Some("")).time_zone(), Tz::UTC);
    assert_eq!(window("0 9 * * *", "1h", None).time_zone(), Tz::UTC);
}

#[test]
fn open_is_half_open_interval() {
    let w = window("0 9 * * *", "8h", None);
    assert_eq!(w.open_since(utc(2026, 12, 1, 8, 59)), None);
    assert_eq!(w.open_since(utc(2026, 12, 1, 9, 0)), Some(utc(2026, 12, 1, 9, 0)));
    assert_eq!(w.open_since(utc(2026, 12, 1, 16, 59)), Some(utc(2026, 12, 1, 9, 0)));
    assert_eq!(w.open_since(utc(2026, 12, 1, 17, 0)), None);
    assert_eq!(w.next_opening(utc(2026, 12, 1, 9, 0)), Some(utc(2026, 12, 2, 9, 0)));
    assert_eq!(w.next_opening(utc(2026, 12, 1, 8, 0)), Some(utc(2026, 12, 1, 9, 0)));
}

#[test]
fn windows_spanning_midnight() {
    // Friday 22:00 for 4h: open until Saturday 02:00.
    let w = window("0 22 * * Fri", "4h", Some("Europe/Berlin"));
    let fri = |h, m| local("Europe/Berlin", 2026, 12, 4, h, m);
    let sat = |h, m| local("Europe/Berlin", 2026, 12, 5, h, m);
    assert_eq!(w.open_since(fri(21, 59)), None);
    assert_eq!(w.open_since(fri(22, 0)), Some(fri(22, 0)));
    assert_eq!(w.open_since(sat(0, 30)), Some(fri(22, 0)));
    assert_eq!(w.open_since(sat(1, 59)), Some(fri(22, 0)));
    assert_eq!(w.open_since(sat(2, 0)), None);
    assert_eq!(w.next_opening(sat(2, 0)), Some(local("Europe/Berlin", 2026, 12, 11, 22, 0)));
    // A window longer than its period is open all the time.
    let w = window("0 * * * *", "2h", None);
    assert_eq!(w.open_since(utc(2026, 12, 1, 10, 30)), Some(utc(2026, 12, 1, 10, 0)));
}

#[test]
fn day_of_week_ranges_numeric_and_named_agree() {
    let numeric = window("0 9 * * 1-4", "8h", Some("Europe/Berlin"));
    let named = window("0 9 * * Mon-Thu", "8h", Some("Europe/Berlin"));
    // 2026-11-30 is a Monday; check every hour of two weeks.
    let mut t = local("Europe/Berlin", 2026, 11, 30, 0, 0);
    for _ in 0..(14 * 24) {
        let l = t.with_timezone(&chrono_tz::Europe::Berlin);
        let expect_open = matches!(l.weekday(), Weekday::Mon | Weekday::Tue | Weekday::Wed | Weekday::Thu)
            && (9..17).contains(&l.hour());
        assert_eq!(numeric.open_since(t).is_some(), expect_open, "1-4 at {l}");
        assert_eq!(named.open_since(t).is_some(), expect_open, "Mon-Thu at {l}");
        t += TimeDelta::hours(1);
    }
    // Friday: next opening is Monday 09:00 local.
    let fri = local("Europe/Berlin", 2026, 12, 4, 10, 0);
    let next = numeric.next_opening(fri).unwrap();
    assert_eq!(next, local("Europe/Berlin", 2026, 12, 7, 9, 0));
    assert_eq!(numeric.format_local(next), "Mon 2026-12-07 09:00 Europe/Berlin");
}

#[test]
fn dst_spring_forward_europe_berlin() {
    // 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:30 does not exist that day.
    let w = window("30 2 * * *", "1h", Some("Europe/Berlin"));
    assert_eq!(w.next_opening(utc(2026, 3, 28, 12, 0)), Some(utc(2026, 3, 29, 1, 0)), "opens at the jump, 03:00 CEST");
    assert_eq!(w.open_since(utc(2026, 3, 29, 1, 30)), Some(utc(2026, 3, 29, 1, 0)));
    assert_eq!(w.open_since(utc(2026, 3, 29, 2, 0)), None, "an hour of real time later it is closed");
    // The day before (CET) and the day after (CEST) open at 02:30 local.
    assert_eq!(w.open_since(utc(2026, 3, 28, 1, 30)), Some(utc(2026, 3, 28, 1, 30)));
    assert_eq!(w.next_opening(utc(2026, 3, 29, 1, 0)), Some(utc(2026, 3, 30, 0, 30)));

    // A 09:00 window moves one hour earlier in UTC, and lasts 8 real hours.
    let w = window("0 9 * * *", "8h", Some("Europe/Berlin"));
    assert_eq!(w.open_since(utc(2026, 3, 28, 8, 0)), Some(utc(2026, 3, 28, 8, 0)));
    assert_eq!(w.open_since(utc(2026, 3, 29, 7, 0)), Some(utc(2026, 3, 29, 7, 0)));
    assert_eq!(w.open_since(utc(2026, 3, 29, 6, 59)), None);
    assert_eq!(w.open_since(utc(2026, 3, 29, 15, 0)), None);

    // A window open across the jump: 01:00 CET for 3h closes at 05:00 CEST (3 real hours).
    let w = window("0 1 * * *", "3h", Some("Europe/Berlin"));
    let opened = local("Europe/Berlin", 2026, 3, 29, 1, 0);
    assert_eq!(w.open_since(local("Europe/Berlin", 2026, 3, 29, 4, 59)), Some(opened));
    assert_eq!(w.open_since(local("Europe/Berlin", 2026, 3, 29, 5, 0)), None);
    assert_eq!(w.format_local(w.closes(opened)), "Sun 2026-03-29 05:00 Europe/Berlin");
}

#[test]
fn dst_fall_back_europe_berlin() {
    // 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens twice (00:30 and 01:30 UTC).
    let w = window("30 2 * * *", "1h", Some("Europe/Berlin"));
    assert_eq!(w.next_opening(utc(2026, 10, 24, 12, 0)), Some(utc(2026, 10, 25, 0, 30)), "the first 02:30");
    assert_eq!(w.open_since(utc(2026, 10, 25, 1, 0)), Some(utc(2026, 10, 25, 0, 30)));
    assert_eq!(w.open_since(utc(2026, 10, 25, 1, 30)), None, "the second 02:30 does not reopen it");
    assert_eq!(w.open_since(utc(2026, 10, 25, 1, 45)), None);
    assert_eq!(w.next_opening(utc(2026, 10, 25, 1, 45)), Some(utc(2026, 10, 26, 1, 30)));

    // Saturday 22:00 CEST for 8h spans the change: 8 real hours, closing at 05:00 CET.
    let w = window("0 22 * * Sat", "8h", Some("Europe/Berlin"));
    let opened = local("Europe/Berlin", 2026, 10, 24, 22, 0);
    assert_eq!(opened, utc(2026, 10, 24, 20, 0));
    assert_eq!(w.open_since(local("Europe/Berlin", 2026, 10, 25, 4, 59)), Some(opened));
    assert_eq!(w.open_since(local("Europe/Berlin", 2026, 10, 25, 5, 0)), None);
    assert_eq!(w.format_local(w.closes(opened)), "Sun 2026-10-25 05:00 Europe/Berlin");

    // Daily 09:00 moves one hour later in UTC after the change.
    let w = window("0 9 * * *", "1h", Some("Europe/Berlin"));
    assert_eq!(w.next_opening(utc(2026, 10, 24, 12, 0)), Some(utc(2026, 10, 25, 8, 0)));
}

#[test]
fn other_time_zones_and_sparse_schedules() {
    let w = window("0 9 * * Mon-Fri", "8h", Some("America/New_York"));
    assert_eq!(w.open_since(utc(2026, 12, 1, 14, 0)), Some(utc(2026, 12, 1, 14, 0)));
    // Once a year, 29 February: years apart, still found.
    let w = window("0 0 29 2 *", "1d", None);
    assert_eq!(w.next_opening(utc(2026, 12, 1, 0, 0)), Some(utc(2028, 2, 29, 0, 0)));
    assert_eq!(w.open_since(utc(2028, 2, 29, 23, 59)), Some(utc(2028, 2, 29, 0, 0)));
    // A year that has passed never opens again.
    let w = window("0 0 9 * * * 2020", "1h", None);
    assert_eq!(w.next_opening(utc(2026, 12, 1, 0, 0)), None);
    assert_eq!(w.open_since(utc(2026, 12, 1, 0, 0)), None);
}

#[test]
fn gate_results() {
    let now = local("Europe/Berlin", 2026, 12, 4, 10, 0); // Friday
    let r = window_gate(&[], "prod", now);
    assert_eq!((r.outcome, r.evidence.as_str()), (Outcome::Passed, "prod has no promotion windows: always open"));

    let weekdays = spec("0 9 * * 1-4", "7h", Some("Europe/Berlin"));
    let r = window_gate(std::slice::from_ref(&weekdays), "prod", now);
    assert_eq!(r.gate, "window");
    assert_eq!(r.outcome, Outcome::Waiting);
    assert_eq!(r.evidence, "outside the promotion windows of prod; next opens Mon 2026-12-07 09:00 Europe/Berlin");
    assert_eq!(r.retry_at, Some(local("Europe/Berlin", 2026, 12, 7, 9, 0)));

    // The earliest next opening of several windows wins; any open window passes.
    let saturday = spec("0 8 * * Sat", "2h", None);
    let r = window_gate(&[weekdays.clone(), saturday], "prod", now);
    assert_eq!(r.retry_at, Some(utc(2026, 12, 5, 8, 0)));
    assert_eq!(r.evidence, "outside the promotion windows of prod; next opens Sat 2026-12-05 08:00 UTC");
    let friday = spec("0 9 * * Fri", "2h", Some("Europe/Berlin"));
    let r = window_gate(&[weekdays.clone(), friday], "prod", now);
    assert_eq!(r.outcome, Outcome::Passed);
    assert_eq!(
        r.evidence,
        "inside a promotion window of prod: opened Fri 2026-12-04 09:00 Europe/Berlin, closes Fri 2026-12-04 11:00 Europe/Berlin (0 9 * * Fri for 2h)"
    );

    // A configuration error fails the gate and names the schedule; so does a window that never
    // opens again.
    let r = window_gate(&[weekdays, spec("bad", "1h", None)], "prod", now);
    assert_eq!(r.outcome, Outcome::Failed);
    assert!(r.evidence.starts_with("promotion window \"bad\": invalid cron schedule"), "{}", r.evidence);
    let r = window_gate(&[spec("0 0 9 * * * 2020", "1h", None)], "prod", now);
    assert_eq!((r.outcome, r.retry_at), (Outcome::Failed, None));
    assert_eq!(r.evidence, "outside the promotion windows of prod, and none of them opens again");
}

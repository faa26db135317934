//! Durations as written in the promotion policy (`1m`, `90s`, `1h30m`, `2d`) and as shown in
//! evidence. Pure.
//!
//! The syntax is Prometheus' duration syntax (what people writing PromQL gates already know):
//! one or more `<integer><unit>` parts, largest unit first, with the units `ms`, `s`, `m`, `h`,
//! `d` (24h) and `w` (7d). A bare integer means seconds, as in `tidegate sync --wave-timeout`.

use std::time::Duration;

/// Parses `90s`, `5m`, `1h30m`, `2d`, `500ms` or a bare number of seconds.
///
/// The error is a lowercase phrase without the value; callers name the field and the value.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration (use e.g. 90s, 5m, 1h30m)".into());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let secs: u64 = text.parse().map_err(|_| "number too large".to_string())?;
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    let mut last_rank = usize::MAX;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err("expected a number before each unit (use e.g. 90s, 5m, 1h30m)".into());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| "number too large".to_string())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let (rank, millis_per_unit): (usize, u64) = match unit {
            "w" => (0, 7 * 86_400_000),
            "d" => (1, 86_400_000),
            "h" => (2, 3_600_000),
            "m" => (3, 60_000),
            "s" => (4, 1_000),
            "ms" => (5, 1),
            _ => return Err(format!("unknown unit {unit:?} (use ms, s, m, h, d or w)")),
        };
        if last_rank != usize::MAX && rank <= last_rank {
            return Err("units must go from largest to smallest, each once (e.g. 1h30m)".into());
        }
        last_rank = rank;
        let millis = n.checked_mul(millis_per_unit).ok_or("duration too large")?;
        total = total.checked_add(Duration::from_millis(millis)).ok_or("duration too large")?;
    }
    Ok(total)
}

/// Formats a duration the way people write it: `1m`, `1h30m`, `2d`, `1m30s`, `250ms`, `0s`.
pub fn format(d: Duration) -> String {
    let mut millis = d.as_millis();
    if millis == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400_000u128), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        let n = millis / size;
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
            millis %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_units() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("7h"), Ok(Duration::from_secs(7 * 3600)));
        assert_eq!(parse("2d"), Ok(Duration::from_secs(2 * 86_400)));
        assert_eq!(parse("1w"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse(" 30 "), Ok(Duration::from_secs(30)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn parses_compound_durations() {
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1d2h3m4s5ms"), Ok(Duration::from_millis(93_784_005)));
    }

    #[test]
    fn rejects_bad_durations() {
        for bad in ["", "m", "5x", "1m1h", "1m1m", "-5m", "1.5h", "5 m", "99999999999999999999s"] {
            assert!(parse(bad).is_err(), "{bad:?} should not parse");
        }
        assert!(parse("5x").unwrap_err().contains("unknown unit \"x\""));
        assert!(parse("18446744073709551615w").unwrap_err().contains("too large"));
    }

    #[test]
    fn formats_like_people_write() {
        assert_eq!(format(Duration::ZERO), "0s");
        assert_eq!(format(Duration::from_secs(60)), "1m");
        assert_eq!(format(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format(Duration::from_secs(90)), "1m30s");
        assert_eq!(format(Duration::from_secs(2 * 86_400)), "2d");
        assert_eq!(format(Duration::from_millis(250)), "250ms");
        for text in ["1m", "1h30m", "2d", "15s", "1d1h1m1s"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
    }
}

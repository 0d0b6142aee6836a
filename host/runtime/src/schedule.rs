//! When a `cron` trigger fires: an interval or a cron schedule, in UTC.
//!
//! - `interval: 10s` (nuclio's form; also `500ms`, `2m`, `1h`), or `@every 10s`;
//! - `schedule:` five fields, `minute hour day-of-month month day-of-week`, or six with a
//!   leading `second` field (robfig/cron's form, which nuclio uses). Each field is `*`, a
//!   number, a range `a-b`, a step `*/n` or `a-b/n`, or a list of those `1,15,30`; months and
//!   week days may be written by name (`jan`, `mon`; Sunday is 0 or 7). When both the day of
//!   the month and the day of the week are restricted, a day matching either fires (as in
//!   Vixie cron).
//! - `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`), `@hourly`.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use bindery_runtime::Schedule;
//! let s = Schedule::parse("*/15 9-17 * * mon-fri").unwrap();
//! // 2026-12-01 (a Tuesday) 09:07:00 UTC -> 09:15:00
//! let t = UNIX_EPOCH + Duration::from_secs(1_796_116_020);
//! assert_eq!(s.next_after(t), UNIX_EPOCH + Duration::from_secs(1_796_116_500));
//! ```

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// When a trigger fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Every so often, the first time one interval after the start.
    Every(Duration),
    /// At the times a cron expression names.
    Cron(Cron),
}

/// A parsed cron expression: one bit per allowed value of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    seconds: u64,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    days_restricted: bool,
    weekdays_restricted: bool,
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const SECOND: Field = Field {
    name: "second",
    min: 0,
    max: 59,
    names: &[],
};
const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY: Field = Field {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const WEEKDAY: Field = Field {
    name: "day of week",
    min: 0,
    max: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

impl Field {
    fn value(&self, s: &str) -> Result<u32, String> {
        let lower = s.to_ascii_lowercase();
        if let Some(i) = self.names.iter().position(|n| *n == lower) {
            // Month names count from 1, week day names from 0 (Sunday).
            return Ok(i as u32 + if self.min == 1 { 1 } else { 0 });
        }
        let v: u32 = s
            .parse()
            .map_err(|_| format!("'{s}' is not a {} ({}-{})", self.name, self.min, self.max))?;
        if v < self.min || v > self.max {
            return Err(format!(
                "{} {v} is out of range ({}-{})",
                self.name, self.min, self.max
            ));
        }
        Ok(v)
    }

    /// The bit set of one field's text, and whether it restricts anything (not `*`).
    fn parse(&self, text: &str) -> Result<(u64, bool), String> {
        let mut bits = 0u64;
        for part in text.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => {
                    let step: u32 = s.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        format!("step '{s}' of the {} field is not a positive number", self.name)
                    })?;
                    (r, step)
                }
                None => (part, 1),
            };
            let (lo, hi) = if range == "*" {
                (self.min, self.max)
            } else if let Some((a, b)) = range.split_once('-') {
                let (a, b) = (self.value(a)?, self.value(b)?);
                if a > b {
                    return Err(format!(
                        "range '{range}' of the {} field runs backwards",
                        self.name
                    ));
                }
                (a, b)
            } else {
                let v = self.value(range)?;
                (v, if step > 1 { self.max } else { v })
            };
            let mut v = lo;
            while v <= hi {
                bits |= 1 << v;
                v += step;
            }
        }
        Ok((bits, text != "*"))
    }
}

impl Schedule {
    /// Parses an interval (`@every 10s`) or a cron expression; the error says which field is
    /// wrong and why.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let t = text.trim();
        if let Some(every) = t.strip_prefix("@every") {
            return parse_duration(every.trim()).map(Schedule::Every);
        }
        let expanded = match t {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            _ if t.starts_with('@') => {
                return Err(format!(
                    "unknown schedule '{t}'; use @yearly, @monthly, @weekly, @daily, @hourly, @every DURATION or cron fields"
                ))
            }
            _ => t,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let (seconds, rest) = match fields.len() {
            5 => (1u64, &fields[..]),
            6 => (SECOND.parse(fields[0])?.0, &fields[1..]),
            n => {
                return Err(format!(
                    "a cron schedule has 5 fields (minute hour day-of-month month day-of-week) or 6 (with seconds first), not {n}: '{t}'"
                ))
            }
        };
        let (days, days_restricted) = DAY.parse(rest[2])?;
        let (mut weekdays, weekdays_restricted) = WEEKDAY.parse(rest[4])?;
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1; // 7 is Sunday too
        }
        Ok(Schedule::Cron(Cron {
            seconds,
            minutes: MINUTE.parse(rest[0])?.0,
            hours: HOUR.parse(rest[1])?.0,
            days,
            months: MONTH.parse(rest[3])?.0,
            weekdays,
            days_restricted,
            weekdays_restricted,
        }))
    }

    /// The first time strictly after `t` at which the schedule fires (for an interval: `t`
    /// plus the interval).
    pub fn next_after(&self, t: SystemTime) -> SystemTime {
        match self {
            // At most 100 years (parse_duration): no overflow for any time before ~2.9e11 CE.
            Schedule::Every(d) => t.checked_add(*d).unwrap_or(t),
            Schedule::Cron(c) => c.next_after(t),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Every(d) => write!(f, "every {d:?}"),
            Schedule::Cron(_) => write!(f, "cron schedule"),
        }
    }
}

impl Cron {
    fn day_matches(&self, day: u32, weekday: u32) -> bool {
        let d = self.days & (1 << day) != 0;
        let w = self.weekdays & (1 << weekday) != 0;
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => d || w,
            _ => d && w,
        }
    }

    fn next_after(&self, t: SystemTime) -> SystemTime {
        let secs = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) + 1;
        let (mut day, mut tod) = ((secs / 86_400) as i64, (secs % 86_400) as u32);
        // Five years covers every satisfiable expression (29 February falls within four).
        for _ in 0..(366 * 5) {
            let (_, month, dom) = civil_from_days(day);
            let weekday = (day + 4).rem_euclid(7) as u32; // 1970-01-01 was a Thursday
            if self.months & (1 << month) != 0 && self.day_matches(dom, weekday) {
                if let Some(s) = self.first_time_of_day(tod) {
                    return UNIX_EPOCH + Duration::from_secs(day as u64 * 86_400 + s as u64);
                }
            }
            day += 1;
            tod = 0;
        }
        // Unsatisfiable (such as 30 February): never fires.
        UNIX_EPOCH + Duration::from_secs(u64::MAX / 4)
    }

    /// The first second of the day at or after `from` (seconds since midnight) that fits.
    fn first_time_of_day(&self, from: u32) -> Option<u32> {
        let (h0, m0, s0) = (from / 3600, from / 60 % 60, from % 60);
        for h in h0..24 {
            if self.hours & (1 << h) == 0 {
                continue;
            }
            let m_start = if h == h0 { m0 } else { 0 };
            for m in m_start..60 {
                if self.minutes & (1 << m) == 0 {
                    continue;
                }
                let s_start = if h == h0 && m == m0 { s0 } else { 0 };
                if let Some(s) = (s_start..60).find(|s| self.seconds & (1 << s) != 0) {
                    return Some(h * 3600 + m * 60 + s);
                }
            }
        }
        None
    }
}

/// A duration such as `500ms`, `30s`, `2m`, `1h` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || format!("'{s}' is not a duration such as 500ms, 30s, 2m or 1h");
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    let d = Duration::try_from_secs_f64(secs).map_err(|_| bad())?;
    if d > MAX_DURATION {
        return Err(format!(
            "'{s}' is longer than the longest duration bindery takes (100 years)"
        ));
    }
    Ok(d)
}

/// The longest duration a spec may give (an interval, a timeout, a backoff): 100 years, so
/// that adding it to any time of this era cannot overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 366 * 24 * 3600);

/// `t` as RFC 3339 in UTC with microseconds (`2026-12-01T09:07:00.000000Z`): what a
/// `timestamp` column takes.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let tod = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        tod / 3600,
        tod / 60 % 60,
        tod % 60,
        d.subsec_micros()
    )
}

/// (year, month 1-12, day 1-31) of a day counted from 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    fn next(expr: &str, s: u64) -> u64 {
        Schedule::parse(expr)
            .unwrap()
            .next_after(at(s))
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[test]
    fn intervals_too_long_to_add_are_refused() {
        // Found by the `cron` fuzz target: adding this interval to a time overflowed.
        let e = Schedule::parse("@every 003834428028755087074").unwrap_err();
        assert!(e.contains("100 years"), "{e}");
        assert!(parse_duration("36500d").is_err());
        let s = Schedule::parse("@every 3153600000s").unwrap_or_else(|e| panic!("{e}"));
        assert!(s.next_after(at(0)) > at(0));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(
            rfc3339(at(1_796_116_020) + Duration::from_micros(5)),
            "2026-12-01T09:07:00.000005Z"
        );
    }

    #[test]
    fn fields_and_steps() {
        // 2026-01-01 00:00:00 UTC, a Thursday.
        let t = 1_767_225_600;
        assert_eq!(next("* * * * *", t), t + 60);
        assert_eq!(next("*/5 * * * *", t + 61), t + 300);
        assert_eq!(next("30 2 * * *", t), t + 2 * 3600 + 30 * 60);
        assert_eq!(next("0 0 * * mon", t), t + 4 * 86_400);
        assert_eq!(next("0 0 * * 7", t), t + 3 * 86_400);
        assert_eq!(next("0 0 1 feb *", t), t + 31 * 86_400);
        assert_eq!(next("*/10 * * * * *", t), t + 10);
        assert_eq!(next("@hourly", t + 1), t + 3600);
        assert_eq!(next("@every 90s", t), t + 90);
        // Either day field matches when both are restricted: the 5th, or a Friday (the 2nd).
        assert_eq!(next("0 0 5 * fri", t), t + 86_400);
        // 29 February: the next is in 2028.
        assert_eq!(next("0 0 29 2 *", t), 1_835_395_200);
    }

    #[test]
    fn errors_name_the_field() {
        let e = |s| Schedule::parse(s).unwrap_err();
        assert!(
            e("61 * * * *").contains("minute 61 is out of range (0-59)"),
            "{}",
            e("61 * * * *")
        );
        assert!(e("* * * foo *").contains("'foo' is not a month"));
        assert!(e("* * *").contains("5 fields"));
        assert!(e("*/0 * * * *").contains("step '0'"));
        assert!(e("5-1 * * * *").contains("runs backwards"));
        assert!(e("@often").contains("unknown schedule"));
        assert!(e("@every soon").contains("not a duration"));
    }
}

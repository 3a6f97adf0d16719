//! Schedules as people write them: standard 5-field crontab
//! (`0 10 * * 1-5` = weekdays at 10:00, 0 or 7 = Sunday), or `@hourly`,
//! `@daily`, `@weekly`, `@monthly`, in a time zone.
//!
//! Why a translation: the `cron` crate wants a seconds field first and
//! numbers the days of the week 1 = Sunday … 7 = Saturday, so crontab's
//! `1-5` would silently mean Sunday–Thursday. Days of the week are
//! translated to names, which both agree on.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// A validated schedule.
#[derive(Clone)]
pub struct Schedule {
    text: String,
    cron: cron::Schedule,
    tz: Tz,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schedule({} {})", self.text, self.tz)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.tz == Tz::UTC {
            f.write_str(&self.text)
        } else {
            write!(f, "{} ({})", self.text, self.tz)
        }
    }
}

const DAYS: [&str; 8] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];

/// One crontab day-of-week item (`1`, `MON`, `1-5`, `*/2`) in names.
fn day_item(item: &str) -> Result<String, String> {
    let name = |t: &str| -> Result<String, String> {
        if let Ok(n) = t.parse::<usize>() {
            return DAYS.get(n).map(|d| d.to_string()).ok_or_else(|| {
                format!("day of week {n} is out of range (0–7, 0 and 7 are Sunday)")
            });
        }
        let upper = t.to_uppercase();
        let short = upper.get(..3).unwrap_or(&upper).to_string();
        if DAYS.contains(&short.as_str()) {
            Ok(short)
        } else {
            Err(format!(
                "'{t}' is not a day of the week (0–7 or MON, TUE …)"
            ))
        }
    };
    if item == "*" || item == "?" {
        return Ok("*".to_string());
    }
    let (range, step) = match item.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (item, None),
    };
    let range = match range.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (name(a)?, name(b)?);
            // crontab's 5-7 or 6-0 wraps through Sunday; names don't wrap.
            if b == "SUN" && a != "SUN" {
                format!("{a}-SAT,SUN")
            } else {
                format!("{a}-{b}")
            }
        }
        None if range == "*" => "*".to_string(),
        None => name(range)?,
    };
    Ok(match step {
        Some(s) => format!("{range}/{s}"),
        None => range,
    })
}

/// Translates crontab (5 fields) to the `cron` crate's form (6 fields).
fn translate(text: &str) -> Result<String, String> {
    let text = text.trim();
    let expanded = match text {
        "@hourly" => "0 * * * *",
        "@daily" | "@midnight" => "0 0 * * *",
        "@weekly" => "0 0 * * 0",
        "@monthly" => "0 0 1 * *",
        "@yearly" | "@annually" => "0 0 1 1 *",
        other if other.starts_with('@') => {
            return Err(format!(
                "'{other}' is not a known shortcut (@hourly, @daily, @weekly, @monthly)"
            ));
        }
        other => other,
    };
    let fields: Vec<&str> = expanded.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "has {} fields; write standard crontab with 5: minute hour day-of-month month day-of-week, e.g. '0 10 * * 1-5'",
            fields.len()
        ));
    }
    let days: Result<Vec<String>, String> = fields[4].split(',').map(day_item).collect();
    Ok(format!(
        "0 {} {} {} {} {}",
        fields[0],
        fields[1],
        fields[2],
        fields[3],
        days?.join(",")
    ))
}

impl Schedule {
    /// Parses crontab text in a time zone (an IANA name such as
    /// `Europe/Berlin`; `UTC` when empty).
    pub fn parse(text: &str, tz: &str) -> Result<Schedule, String> {
        let tz: Tz = if tz.trim().is_empty() {
            Tz::UTC
        } else {
            Tz::from_str(tz.trim()).map_err(|_| {
                format!("'{tz}' is not a time zone; use an IANA name such as Europe/Berlin")
            })?
        };
        let translated =
            translate(text).map_err(|why| format!("the schedule '{}' {why}", text.trim()))?;
        let cron = cron::Schedule::from_str(&translated)
            .map_err(|e| format!("the schedule '{}' is not valid crontab: {e}", text.trim()))?;
        Ok(Schedule {
            text: text.trim().to_string(),
            cron,
            tz,
        })
    }

    /// The first time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .after(&after.with_timezone(&self.tz))
            .next()
            .map(|t| t.with_timezone(&Utc))
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Timelike, Weekday};

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn weekdays_at_ten_means_monday_to_friday() {
        let s = Schedule::parse("0 10 * * 1-5", "UTC").unwrap();
        // 2026-11-27 is a Friday; the next after Friday 10:00 is Monday.
        let friday = s.next_after(at(2026, 11, 27, 9, 0)).unwrap();
        assert_eq!((friday.weekday(), friday.hour()), (Weekday::Fri, 10));
        let next = s.next_after(friday).unwrap();
        assert_eq!(
            (next.weekday(), next.hour(), next.day()),
            (Weekday::Mon, 10, 30)
        );
    }

    #[test]
    fn sunday_is_zero_and_seven() {
        for text in ["0 9 * * 0", "0 9 * * 7", "0 9 * * sun", "@weekly"] {
            let s = Schedule::parse(text, "").unwrap();
            assert_eq!(
                s.next_after(at(2026, 11, 26, 0, 0)).unwrap().weekday(),
                Weekday::Sun,
                "{text}"
            );
        }
        let s = Schedule::parse("0 9 * * 5-7", "").unwrap();
        let days: Vec<Weekday> =
            std::iter::successors(s.next_after(at(2026, 11, 26, 0, 0)), |t| s.next_after(*t))
                .take(3)
                .map(|t| t.weekday())
                .collect();
        assert_eq!(days, [Weekday::Fri, Weekday::Sat, Weekday::Sun]);
    }

    #[test]
    fn time_zones_and_dst() {
        let s = Schedule::parse("0 10 * * *", "Europe/Berlin").unwrap();
        // Winter: 10:00 CET = 09:00 UTC; summer: 10:00 CEST = 08:00 UTC.
        assert_eq!(s.next_after(at(2026, 1, 15, 0, 0)).unwrap().hour(), 9);
        assert_eq!(s.next_after(at(2026, 7, 15, 0, 0)).unwrap().hour(), 8);
        // Across the change on 2026-03-29.
        let before = s.next_after(at(2026, 3, 28, 12, 0)).unwrap();
        assert_eq!((before.day(), before.hour()), (29, 8));
    }

    #[test]
    fn mistakes_say_what_is_wrong() {
        assert!(
            Schedule::parse("0 10 * *", "")
                .unwrap_err()
                .contains("has 4 fields")
        );
        assert!(
            Schedule::parse("0 10 * * 9", "")
                .unwrap_err()
                .contains("out of range")
        );
        assert!(
            Schedule::parse("0 25 * * *", "")
                .unwrap_err()
                .contains("not valid crontab")
        );
        assert!(
            Schedule::parse("0 10 * * *", "Mars/Olympus")
                .unwrap_err()
                .contains("not a time zone")
        );
        assert!(
            Schedule::parse("@sometimes", "")
                .unwrap_err()
                .contains("not a known shortcut")
        );
        assert_eq!(
            Schedule::parse("@hourly", "")
                .unwrap()
                .next_after(at(2026, 1, 1, 0, 30))
                .unwrap(),
            at(2026, 1, 1, 1, 0)
        );
    }
}

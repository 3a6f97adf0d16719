//! usher's own rotations, for teams without a paging product: an ordered
//! list of people, a length in days, a hand-off time in a time zone, and
//! overrides (someone covers a range of time).
//!
//! Hand-offs happen at the same local time (09:00 in Berlin stays 09:00
//! across a DST change), so shift boundaries are computed in the rotation's
//! time zone and converted to UTC, never by adding fixed hours.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// A rotation.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotation {
    /// Catalog person refs, in order.
    pub people: Vec<String>,
    pub length_days: u32,
    pub handoff: NaiveTime,
    pub tz: Tz,
    /// The local date of a hand-off to the first person.
    pub start: NaiveDate,
    pub overrides: Vec<Override>,
}

/// Someone covering a range of time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    pub person: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// A stretch of time one person is on call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shift {
    pub person: String,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Someone covering (an override), not the regular rota.
    pub covering: bool,
}

/// A local date and time in `tz`, as UTC; a time skipped by a DST change
/// moves forward an hour, an ambiguous one takes the first.
fn local_to_utc(tz: Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let naive = date.and_time(time);
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        chrono::LocalResult::None => tz
            .from_local_datetime(&(naive + Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&naive)),
    }
}

impl Rotation {
    /// When regular shift `k` starts (k may be negative: before `start`).
    fn shift_start(&self, k: i64) -> DateTime<Utc> {
        let date = self.start + Duration::days(k * self.length_days as i64);
        local_to_utc(self.tz, date, self.handoff)
    }

    /// The regular shift number in progress at `t`.
    fn shift_at(&self, t: DateTime<Utc>) -> i64 {
        let start = self.shift_start(0);
        let length = Duration::days(self.length_days as i64);
        let mut k = (t - start)
            .num_seconds()
            .div_euclid(length.num_seconds().max(1));
        // DST makes a local day 23 or 25 hours: settle on the exact shift.
        while self.shift_start(k) > t {
            k -= 1;
        }
        while self.shift_start(k + 1) <= t {
            k += 1;
        }
        k
    }

    fn person(&self, k: i64) -> String {
        self.people[k.rem_euclid(self.people.len() as i64) as usize].clone()
    }

    /// Who is on call at `t`: an override covering `t` (the latest added
    /// wins), else the regular rota.
    pub fn at(&self, t: DateTime<Utc>) -> Option<Shift> {
        if self.people.is_empty() {
            return None;
        }
        if let Some(o) = self
            .overrides
            .iter()
            .rev()
            .find(|o| o.from <= t && t < o.to)
        {
            return Some(Shift {
                person: o.person.clone(),
                from: o.from,
                until: o.to,
                covering: true,
            });
        }
        let k = self.shift_at(t);
        let mut until = self.shift_start(k + 1);
        // An override starting before the hand-off ends this stretch early.
        if let Some(next) = self
            .overrides
            .iter()
            .filter(|o| o.from > t && o.from < until)
            .map(|o| o.from)
            .min()
        {
            until = next;
        }
        Some(Shift {
            person: self.person(k),
            from: self.shift_start(k).max(
                self.overrides
                    .iter()
                    .filter(|o| o.to <= t && o.to > self.shift_start(k))
                    .map(|o| o.to)
                    .max()
                    .unwrap_or_else(|| self.shift_start(k)),
            ),
            until,
            covering: false,
        })
    }

    /// Who takes over when the current stretch ends.
    pub fn next(&self, t: DateTime<Utc>) -> Option<Shift> {
        let current = self.at(t)?;
        self.at(current.until)
    }
}

/// How often the rota changes hands.
pub fn parse_length(text: &str) -> Result<u32, String> {
    let t = text.trim().to_lowercase();
    let days = match t.as_str() {
        "daily" | "day" | "1 day" => 1,
        "weekly" | "week" | "1 week" => 7,
        "fortnightly" | "biweekly" | "2 weeks" => 14,
        other => {
            let (number, unit) = other
                .split_once(' ')
                .map(|(n, u)| (n, u.trim()))
                .unwrap_or_else(|| {
                    other.split_at(
                        other
                            .find(|c: char| !c.is_ascii_digit())
                            .unwrap_or(other.len()),
                    )
                });
            let n: u32 = number
                .trim()
                .parse()
                .map_err(|_| format!("'{text}' is not a rotation length; use daily, weekly or a number of days (e.g. 3 days)"))?;
            match unit.trim() {
                "" | "d" | "day" | "days" => n,
                "w" | "week" | "weeks" => n.saturating_mul(7),
                _ => {
                    return Err(format!(
                        "'{text}' is not a rotation length; use daily, weekly or a number of days"
                    ));
                }
            }
        }
    };
    if !(1..=366).contains(&days) {
        return Err(format!("a rotation of {days} days is out of range (1–366)"));
    }
    Ok(days)
}

/// "09:00", or "mon 09:00" (the weekday a weekly rota changes hands).
pub fn parse_handoff(text: &str) -> Result<(Option<Weekday>, NaiveTime), String> {
    let t = text.trim();
    let (day, time) = match t.split_once(' ') {
        Some((d, time)) => (Some(d), time.trim()),
        None => (None, t),
    };
    let time = NaiveTime::parse_from_str(time, "%H:%M").map_err(|_| {
        format!("'{t}' is not a hand-off time; write HH:MM, optionally after a weekday (mon 09:00)")
    })?;
    let day = match day {
        None => None,
        Some(d) => Some(
            d.parse::<Weekday>()
                .map_err(|_| format!("'{d}' is not a weekday (mon, tue, …)"))?,
        ),
    };
    Ok((day, time))
}

/// The local date of the most recent `day` on or before `today`.
pub fn last_weekday(today: NaiveDate, day: Weekday) -> NaiveDate {
    let back = (today.weekday().num_days_from_monday() + 7 - day.num_days_from_monday()) % 7;
    today - Duration::days(back as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn weekly_berlin() -> Rotation {
        Rotation {
            people: vec!["a".into(), "b".into(), "c".into()],
            length_days: 7,
            handoff: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            tz: chrono_tz::Europe::Berlin,
            // Monday 2026-03-16.
            start: NaiveDate::from_ymd_opt(2026, 3, 16).unwrap(),
            overrides: Vec::new(),
        }
    }

    #[test]
    fn hands_off_weekly_at_local_time_across_dst() {
        let r = weekly_berlin();
        // Monday 16 March 09:00 CET = 08:00 UTC: a takes over.
        assert_eq!(r.at(utc(2026, 3, 16, 7, 59)).unwrap().person, "c");
        let first = r.at(utc(2026, 3, 16, 8, 0)).unwrap();
        assert_eq!(first.person, "a");
        // Summer time starts on 29 March: the next hand-off, Monday 30
        // March 09:00 CEST, is 07:00 UTC — still 09:00 in Berlin.
        let b = r.at(utc(2026, 3, 23, 8, 0)).unwrap();
        assert_eq!((b.person.as_str(), b.until), ("b", utc(2026, 3, 30, 7, 0)));
        assert_eq!(r.at(utc(2026, 3, 30, 6, 59)).unwrap().person, "b");
        assert_eq!(r.at(utc(2026, 3, 30, 7, 0)).unwrap().person, "c");
        // Back to winter time on 25 October 2026.
        let before = r.at(utc(2026, 10, 26, 7, 59)).unwrap();
        assert_eq!(before.until, utc(2026, 10, 26, 8, 0));
        // Long before the start, the rota still turns (backwards).
        assert!(r.at(utc(2025, 1, 1, 0, 0)).is_some());
    }

    #[test]
    fn overrides_cover_and_split_shifts() {
        let mut r = weekly_berlin();
        r.overrides.push(Override {
            person: "z".into(),
            from: utc(2026, 3, 18, 12, 0),
            to: utc(2026, 3, 19, 12, 0),
        });
        let before = r.at(utc(2026, 3, 18, 11, 0)).unwrap();
        assert_eq!(
            (before.person.as_str(), before.until),
            ("a", utc(2026, 3, 18, 12, 0))
        );
        let during = r.at(utc(2026, 3, 18, 13, 0)).unwrap();
        assert!(during.covering);
        assert_eq!(
            (during.person.as_str(), during.until),
            ("z", utc(2026, 3, 19, 12, 0))
        );
        assert_eq!(r.next(utc(2026, 3, 18, 13, 0)).unwrap().person, "a");
        let after = r.at(utc(2026, 3, 19, 13, 0)).unwrap();
        assert_eq!(
            (after.person.as_str(), after.from),
            ("a", utc(2026, 3, 19, 12, 0))
        );
    }

    #[test]
    fn lengths_and_handoffs() {
        assert_eq!(parse_length("weekly"), Ok(7));
        assert_eq!(parse_length("3 days"), Ok(3));
        assert_eq!(parse_length("2w"), Ok(14));
        assert!(parse_length("sometimes").is_err());
        assert!(parse_length("0 days").is_err());
        assert_eq!(parse_handoff("mon 09:00").unwrap().0, Some(Weekday::Mon));
        assert!(parse_handoff("25:00").is_err());
        assert_eq!(
            last_weekday(NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(), Weekday::Mon),
            NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
        );
    }
}

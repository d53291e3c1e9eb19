//! When a limit applies: `mon-fri 08:00-18:00`, `daily 22:00-06:00`, `sat,sun 00:00-24:00`.
//! Days and times are UTC; an end at or before the start runs past midnight (the hours after
//! midnight belong to the day the window started).

use std::fmt;

use time::OffsetDateTime;

use crate::PolicyError;

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Days of the week and a time of day range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Bit 0 Monday … bit 6 Sunday.
    days: u8,
    /// Minutes after midnight, `[start, end)`.
    start: u16,
    end: u16,
}

impl Window {
    /// Reads `DAYS HH:MM-HH:MM`.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let bad = |reason: &str| PolicyError::Window {
            input: text.to_string(),
            reason: reason.to_string(),
        };
        let t = text.trim().to_ascii_lowercase();
        let (days, times) = t
            .rsplit_once(' ')
            .ok_or_else(|| bad("give days and hours, e.g. \"mon-fri 08:00-18:00\""))?;
        let days = parse_days(days.trim())
            .ok_or_else(|| bad("days are mon … sun, ranges (mon-fri), lists (sat,sun) or daily"))?;
        let (start, end) = times
            .split_once('-')
            .ok_or_else(|| bad("hours are HH:MM-HH:MM"))?;
        let start =
            parse_time(start).ok_or_else(|| bad("hours are HH:MM-HH:MM, 00:00 to 24:00"))?;
        let end = parse_time(end).ok_or_else(|| bad("hours are HH:MM-HH:MM, 00:00 to 24:00"))?;
        if start == end || start == 24 * 60 {
            return Err(bad(
                "the window is empty; leave it out to limit at all times",
            ));
        }
        Ok(Window { days, start, end })
    }

    /// Whether `at` is inside the window.
    pub fn contains(&self, at: OffsetDateTime) -> bool {
        let at = at.to_offset(time::UtcOffset::UTC);
        let minute = u16::from(at.hour()) * 60 + u16::from(at.minute());
        let day = at.weekday().number_days_from_monday();
        let on = |d: u8| self.days & (1 << d) != 0;
        if self.start < self.end {
            on(day) && (self.start..self.end).contains(&minute)
        } else {
            // Past midnight: the evening of a window day, or the early hours after one.
            (on(day) && minute >= self.start) || (on((day + 6) % 7) && minute < self.end)
        }
    }
}

fn parse_days(text: &str) -> Option<u8> {
    if text == "daily" || text == "every-day" {
        return Some(0x7f);
    }
    let index = |d: &str| DAYS.iter().position(|n| *n == d.trim());
    let mut days = 0u8;
    for part in text.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (index(a)?, index(b)?);
                let mut d = a;
                loop {
                    days |= 1 << d;
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => days |= 1 << index(part)?,
        }
    }
    Some(days)
}

fn parse_time(text: &str) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    let minutes = h * 60 + m;
    (m < 60 && minutes <= 24 * 60).then_some(minutes)
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.days == 0x7f {
            f.write_str("daily")?;
        } else {
            let names: Vec<&str> = (0..7)
                .filter(|d| self.days & (1 << d) != 0)
                .map(|d| DAYS[d])
                .collect();
            f.write_str(&names.join(","))?;
        }
        write!(
            f,
            " {:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

impl serde::Serialize for Window {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Window {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Window::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn office_hours_hold_on_weekdays_only() {
        let w = Window::parse("mon-fri 08:00-18:00").unwrap();
        assert!(w.contains(datetime!(2026-12-07 08:00 UTC)), "Monday 08:00");
        assert!(w.contains(datetime!(2026-12-11 17:59 UTC)), "Friday 17:59");
        assert!(!w.contains(datetime!(2026-12-11 18:00 UTC)), "Friday 18:00");
        assert!(!w.contains(datetime!(2026-12-06 12:00 UTC)), "Sunday");
        assert!(!w.contains(datetime!(2026-12-07 07:59 UTC)));
        assert_eq!(w.to_string(), "mon,tue,wed,thu,fri 08:00-18:00");
        assert_eq!(Window::parse(&w.to_string()).unwrap(), w);
    }

    #[test]
    fn a_night_window_runs_past_midnight_from_its_days() {
        let w = Window::parse("fri 22:00-06:00").unwrap();
        assert!(w.contains(datetime!(2026-12-11 23:00 UTC)), "Friday night");
        assert!(
            w.contains(datetime!(2026-12-12 05:59 UTC)),
            "Saturday's early hours"
        );
        assert!(
            !w.contains(datetime!(2026-12-12 23:00 UTC)),
            "Saturday night"
        );
        assert!(
            !w.contains(datetime!(2026-12-11 05:00 UTC)),
            "Friday's early hours"
        );
        let d = Window::parse("daily 00:00-24:00").unwrap();
        assert!(d.contains(datetime!(2026-12-12 23:59 UTC)));
        assert!(
            Window::parse("sat-mon 10:00-11:00")
                .unwrap()
                .contains(datetime!(2026-12-06 10:30 UTC))
        );
    }

    #[test]
    fn malformed_windows_are_refused() {
        for bad in [
            "",
            "mon-fri",
            "08:00-18:00",
            "moday 08:00-18:00",
            "mon 8:00-18:00",
            "mon 08:00-08:00",
            "mon 08:00-25:00",
            "mon 08:61-09:00",
        ] {
            assert!(Window::parse(bad).is_err(), "{bad}");
        }
    }
}

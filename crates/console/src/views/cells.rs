//! Table cells that never break a token: a thumbprint, a machine's fingerprint, an event name or
//! a time is one unbroken line, shortened with an ellipsis where it is long, its full value on
//! hover (`title`) and, for the values an operator pastes elsewhere, a Copy button.

use maud::{Markup, html};

/// A long identifier (thumbprint, SHA-256, token id): its start on one line, the whole on
/// hover, and a button that copies the whole.
pub fn token(value: &str) -> Markup {
    html! {
        span.token {
            code.trunc title=(value) { (value) }
            button.copy type="button" data-copy-value=(value) aria-label=(format!("Copy {value}")) { "Copy" }
        }
    }
}

/// A short name that must not wrap (an event, a key type, a state).
pub fn word(value: &str) -> Markup {
    html! { code.nowrap { (value) } }
}

/// A time as `YYYY-MM-DD HH:MM` on one line, the exact RFC 3339 value on hover.
pub fn when(rfc3339: &str) -> Markup {
    html! { time.nowrap datetime=(rfc3339) title=(rfc3339) { (short_time(rfc3339)) } }
}

/// `2026-12-06T01:15:53.123Z` as `2026-12-06 01:15`; anything else as it came.
pub fn short_time(rfc3339: &str) -> String {
    let b = rfc3339.as_bytes();
    if b.len() >= 16 && b[4] == b'-' && b[10] == b'T' && b[13] == b':' {
        format!("{} {}", &rfc3339[..10], &rfc3339[11..16])
    } else {
        rfc3339.to_string()
    }
}

/// A time as "5 min ago" on one line (the exact time on hover), relative to `now`.
pub fn ago(rfc3339: &str, now: time::OffsetDateTime) -> Markup {
    let parsed =
        time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339);
    let text = match parsed {
        Ok(t) => {
            let s = (now - t).whole_seconds().max(0);
            match s {
                0..=59 => "just now".to_string(),
                60..=3599 => format!("{} min ago", s / 60),
                3600..=86_399 => format!("{} h ago", s / 3600),
                _ => format!("{} days ago", s / 86_400),
            }
        }
        Err(_) => rfc3339.to_string(),
    };
    html! { time.nowrap datetime=(rfc3339) title=(rfc3339) { (text) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_short_and_keep_the_exact_value() {
        assert_eq!(short_time("2026-12-06T01:15:53.123Z"), "2026-12-06 01:15");
        assert_eq!(short_time("never"), "never");
        let m = when("2026-12-06T01:15:53Z").into_string();
        assert!(m.contains("title=\"2026-12-06T01:15:53Z\""), "{m}");
        assert!(m.contains(">2026-12-06 01:15<"), "{m}");
    }

    #[test]
    fn tokens_are_escaped_copyable_and_whole_on_hover() {
        let m = token("AB<CD").into_string();
        assert!(m.contains("title=\"AB&lt;CD\""), "{m}");
        assert!(m.contains("data-copy-value=\"AB&lt;CD\""), "{m}");
        assert!(!m.contains("AB<CD"), "{m}");
    }

    #[test]
    fn ages_are_relative() {
        let now = time::OffsetDateTime::parse(
            "2026-12-06T02:00:00Z",
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert!(
            ago("2026-12-06T01:55:00Z", now)
                .into_string()
                .contains("5 min ago")
        );
        assert!(
            ago("2026-12-04T01:55:00Z", now)
                .into_string()
                .contains("2 days ago")
        );
    }
}

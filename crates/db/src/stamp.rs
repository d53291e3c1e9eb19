//! Times as the databases store them: RFC 3339 text in UTC to the second, which sorts as it
//! reads. Records carry [`OffsetDateTime`]; only this module knows the text form.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::DbError;

/// Now, to the second.
pub(crate) fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(0).unwrap_or(t)
}

/// The stored form of a time: pki's one RFC 3339 formatter (UTC, to the second).
pub(crate) fn to_text(t: OffsetDateTime) -> String {
    cloudgate_pki::format_rfc3339(t)
}

/// A stored time read back.
pub(crate) fn from_text(path: &str, column: &str, text: &str) -> Result<OffsetDateTime, DbError> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|e| DbError::Corrupt {
        path: path.to_string(),
        reason: format!("column {column} holds {text:?}, which is not an RFC 3339 time: {e}"),
    })
}

/// An optional stored time read back.
pub(crate) fn from_optional_text(
    path: &str,
    column: &str,
    text: Option<String>,
) -> Result<Option<OffsetDateTime>, DbError> {
    text.map(|t| from_text(path, column, &t)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_round_trips_through_its_text_and_sorts_as_text() {
        let a = time::macros::datetime!(2026-01-02 03:04:05 UTC);
        let b = time::macros::datetime!(2026-11-30 23:00:00 +01:00);
        assert_eq!(to_text(a), "2026-01-02T03:04:05Z");
        assert_eq!(to_text(b), "2026-11-30T22:00:00Z");
        assert_eq!(from_text("db", "c", &to_text(b)).unwrap(), b);
        assert!(to_text(a) < to_text(b));
    }

    #[test]
    fn a_damaged_time_is_a_corrupt_database_not_a_panic() {
        let e = from_text("sp.db", "created_at", "yesterday").unwrap_err();
        assert!(matches!(e, DbError::Corrupt { .. }), "{e}");
        assert!(e.to_string().contains("created_at"), "{e}");
    }
}

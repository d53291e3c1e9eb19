//! The two text forms of a point in time: RFC 3339 for machines, the reference product's
//! `M/D/YYYY h:mm AM` for the Summary lines. Both are in UTC.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Formats a time as RFC 3339 in UTC, whole seconds (`2027-10-20T12:52:00Z`).
pub fn format_rfc3339(t: OffsetDateTime) -> String {
    let t = t
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// Formats a time the way the reference product's Summary shows an expiration date, saying
/// that it is UTC (the reference product shows local time without saying so):
/// `10/20/2027 12:52 PM UTC`.
pub fn format_summary_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let (hour12, meridiem) = match t.hour() {
        0 => (12, "AM"),
        h @ 1..=11 => (h, "AM"),
        12 => (12, "PM"),
        h => (h - 12, "PM"),
    };
    format!(
        "{}/{}/{} {}:{:02} {} UTC",
        u8::from(t.month()),
        t.day(),
        t.year(),
        hour12,
        t.minute(),
        meridiem
    )
}

/// The six lines of the reference product's Summary, exactly in its form: what an SP sends to
/// tenants for out-of-band verification. The command line, the wizard and the console show it.
pub fn summary_lines(friendly_name: &str, info: &crate::CertificateInfo) -> String {
    format!(
        "Name: {}\nIssued to: {}\nIssued by: {}\nExpiration date: {}\nThumbprint: {}\nSerial number: {}\n",
        crate::text::one_line(friendly_name),
        crate::text::one_line(&info.subject_display),
        crate::text::one_line(&info.issuer_display),
        format_summary_date(info.not_after),
        info.fingerprints.thumbprint(),
        crate::text::one_line(&info.serial),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn summary_date_matches_reference_form() {
        assert_eq!(
            format_summary_date(datetime!(2027-10-20 12:52 UTC)),
            "10/20/2027 12:52 PM UTC"
        );
        assert_eq!(
            format_summary_date(datetime!(2027-01-05 00:07 UTC)),
            "1/5/2027 12:07 AM UTC"
        );
        assert_eq!(
            format_summary_date(datetime!(2027-01-05 23:59 UTC)),
            "1/5/2027 11:59 PM UTC"
        );
        assert_eq!(
            format_summary_date(datetime!(2027-01-05 11:00 +02:00)),
            "1/5/2027 9:00 AM UTC"
        );
    }

    #[test]
    fn rfc3339_is_utc_whole_seconds() {
        assert_eq!(
            format_rfc3339(datetime!(2027-10-20 12:52:01.5 +01:00)),
            "2027-10-20T11:52:01Z"
        );
    }
}

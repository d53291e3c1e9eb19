//! The two pictures of the console, drawn on the server as SVG (no script, no inline style:
//! presentation attributes only, which the Content-Security-Policy allows): the certificates on
//! a time line with today and their expiry, and the tunnels the gateways had open over the last
//! hour, sampled from their heartbeats.

use std::collections::VecDeque;
use std::sync::Mutex;

use cloudgate_proto::admin::Certificate;
use maud::{Markup, html};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// How often the console samples the gateways' open tunnels.
pub const SAMPLE_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
/// Samples kept: an hour.
const SAMPLES: usize = 360;

/// One sample of the fleet: when, tunnels open, bytes relayed so far (summed over the gateways).
pub type Sample = (OffsetDateTime, i64, i64);

/// Open tunnels and relayed bytes over time, as the gateways reported them.
#[derive(Default)]
pub struct TunnelHistory {
    samples: Mutex<VecDeque<Sample>>,
}

impl TunnelHistory {
    /// Records a sample.
    pub fn record(&self, at: OffsetDateTime, open: i64, relayed: i64) {
        let mut s = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if s.len() == SAMPLES {
            s.pop_front();
        }
        s.push_back((at, open, relayed));
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect()
    }
}

const WIDTH: f64 = 720.0;
const ROW: f64 = 26.0;
const LABEL: f64 = 220.0;

/// The certificates from their start to their expiry, the one in use highlighted, with a line
/// for today.
pub fn expiry_timeline(certs: &[Certificate], now: OffsetDateTime) -> Markup {
    let spans: Vec<(&Certificate, OffsetDateTime, OffsetDateTime)> = certs
        .iter()
        .filter_map(|c| {
            let from = OffsetDateTime::parse(&c.not_before, &Rfc3339).ok()?;
            let to = OffsetDateTime::parse(&c.not_after, &Rfc3339).ok()?;
            Some((c, from, to))
        })
        .collect();
    let Some(start) = spans.iter().map(|s| s.1).min() else {
        return html! {};
    };
    let start = start.min(now);
    let end = spans.iter().map(|s| s.2).max().unwrap_or(now).max(now);
    let total = (end - start).as_seconds_f64().max(1.0);
    let x =
        |t: OffsetDateTime| LABEL + (t - start).as_seconds_f64() / total * (WIDTH - LABEL - 10.0);
    let height = ROW * spans.len() as f64 + 30.0;
    let today = x(now);
    html! {
        figure {
            svg.timeline role="img" aria-labelledby="timeline-title" viewBox=(format!("0 0 {WIDTH} {height}")) width="100%" {
                title id="timeline-title" { "Certificates on a time line, from their start to their expiry; the line is today" }
                @for (i, (c, from, to)) in spans.iter().enumerate() {
                    @let y = ROW * i as f64 + 6.0;
                    text x="0" y=(y + 14.0) font-size="12" fill="#1b1f24" {
                        (shorten(&c.friendly_name)) @if c.applied { " (in use)" }
                    }
                    rect x=(format!("{:.1}", x(*from))) y=(y) width=(format!("{:.1}", (x(*to) - x(*from)).max(2.0))) height="16" rx="3"
                        fill=(if c.applied { "#0a58ca" } else if c.days_left < 0 { "#cf222e" } else { "#8c959f" }) {
                        title { (c.friendly_name) ": until " (c.not_after) " (" (c.days_left) " days)" }
                    }
                }
                line x1=(format!("{today:.1}")) x2=(format!("{today:.1}")) y1="0" y2=(format!("{:.1}", height - 14.0)) stroke="#cf222e" stroke-width="2" {}
                text x=(format!("{today:.1}")) y=(format!("{:.1}", height - 2.0)) font-size="12" text-anchor="middle" fill="#cf222e" { "today" }
            }
            figcaption { "From " (date(start)) " to " (date(end)) "." }
        }
    }
}

/// The open tunnels of the last hour, and the bytes relayed per second, as lines.
pub fn fleet_charts(samples: &[Sample]) -> Markup {
    if samples.len() < 2 {
        return html! { p.hint { "Open tunnels and relayed bytes over time: sampled every 10 seconds from the gateways' heartbeats; the lines appear after the first samples." } };
    }
    let open: Vec<(OffsetDateTime, f64)> = samples.iter().map(|s| (s.0, s.1 as f64)).collect();
    // Bytes per second between two samples; a gateway that restarted counts from zero again.
    let rate: Vec<(OffsetDateTime, f64)> = samples
        .windows(2)
        .map(|w| {
            let dt = (w[1].0 - w[0].0).as_seconds_f64().max(1.0);
            (w[1].0, (w[1].2 - w[0].2).max(0) as f64 / dt)
        })
        .collect();
    html! {
        (sparkline("tunnels", "Open tunnels", &open, &count))
        (sparkline("bytes", "Relayed per second", &rate, &rate_unit))
    }
}

/// A tenant's traffic per hour (both ways), from its hourly usage rows, oldest first.
pub fn traffic_chart(rows: &[cloudgate_proto::admin::UsageRow]) -> Markup {
    let points: Vec<(OffsetDateTime, f64)> = rows
        .iter()
        .filter_map(|r| {
            let at = OffsetDateTime::parse(&r.from, &Rfc3339).ok()?;
            Some((at, (r.bytes_up + r.bytes_down) as f64))
        })
        .collect();
    if points.len() < 2 {
        return html! { p.hint { "Traffic per hour: drawn once the tenant has used tunnels in two different hours of the last day." } };
    }
    sparkline("traffic", "Traffic per hour, both ways", &points, &|v| {
        format!("{}/h", crate::views::human_bytes(v as i64))
    })
}

/// A count as a whole number.
fn count(v: f64) -> String {
    format!("{v:.0}")
}

/// Bytes per second in the unit that reads best (decimal, as network rates are given).
pub(crate) fn rate_unit(v: f64) -> String {
    match v {
        v if v >= 1e9 => format!("{:.1} GB/s", v / 1e9),
        v if v >= 1e6 => format!("{:.1} MB/s", v / 1e6),
        v if v >= 1e3 => format!("{:.1} kB/s", v / 1e3),
        v => format!("{v:.0} B/s"),
    }
}

/// Ticks for a time axis from `first` to `last`: at whole multiples of a step chosen so that
/// there are at most six.
fn time_ticks(first: OffsetDateTime, last: OffsetDateTime) -> Vec<OffsetDateTime> {
    let span = (last - first).whole_seconds().max(1);
    let step = [60, 300, 600, 900, 1800, 3600, 7200, 21_600]
        .into_iter()
        .find(|step| span / step <= 6)
        .unwrap_or(86_400);
    let start = first.unix_timestamp().div_euclid(step) * step + step;
    (0..)
        .map(|i| start + i * step)
        .take_while(|t| *t <= last.unix_timestamp())
        .filter_map(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .collect()
}

/// One line of `points` over a time axis with ticks, its peak and its last value labelled in
/// `unit`'s words.
fn sparkline(
    id: &str,
    what: &str,
    points: &[(OffsetDateTime, f64)],
    unit: &dyn Fn(f64) -> String,
) -> Markup {
    let (w, h) = (WIDTH, 140.0);
    let (left, bottom) = (80.0, h - 30.0);
    let Some((first, last)) = points.first().zip(points.last()) else {
        return html! {};
    };
    let span = (last.0 - first.0).as_seconds_f64().max(1.0);
    let peak = points.iter().map(|p| p.1).fold(0.0, f64::max).max(1.0);
    let x = |t: OffsetDateTime| left + (t - first.0).as_seconds_f64() / span * (w - left - 10.0);
    let line: Vec<String> = points
        .iter()
        .map(|(t, v)| {
            let y = bottom - v / peak * (bottom - 20.0);
            format!("{:.1},{y:.1}", x(*t))
        })
        .collect();
    let title_id = format!("{id}-title");
    html! {
        figure {
            svg.sparkline role="img" aria-labelledby=(title_id) viewBox=(format!("0 0 {w} {h}")) width="100%" {
                title id=(title_id) { (what) ": now " (unit(last.1)) ", at most " (unit(peak)) }
                line x1=(left) x2=(w - 10.0) y1=(bottom) y2=(bottom) stroke="#d0d7de" {}
                line x1=(left) x2=(w - 10.0) y1="20" y2="20" stroke="#eaeef2" stroke-dasharray="4 4" {}
                text x="0" y="24" font-size="12" fill="#57606a" { (unit(peak)) }
                text x="0" y=(bottom) font-size="12" fill="#57606a" { (unit(0.0)) }
                @for t in time_ticks(first.0, last.0) {
                    @let tx = format!("{:.1}", x(t));
                    line.tick x1=(tx) x2=(tx) y1=(bottom) y2=(bottom + 5.0) stroke="#8c959f" {}
                    text.tick x=(tx) y=(h - 8.0) font-size="12" text-anchor="middle" fill="#57606a" {
                        (format!("{:02}:{:02}", t.hour(), t.minute()))
                    }
                }
                polyline points=(line.join(" ")) fill="none" stroke="#0a58ca" stroke-width="2" {}
            }
            figcaption { (what) ", " (date_time(first.0)) " to now (times in UTC): " (unit(last.1)) " now, at most " (unit(peak)) "." }
        }
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 22 {
        format!("{}…", s.chars().take(21).collect::<String>())
    } else {
        s.to_string()
    }
}

fn date(t: OffsetDateTime) -> String {
    format!("{}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

fn date_time(t: OffsetDateTime) -> String {
    format!("{} {:02}:{:02} UTC", date(t), t.hour(), t.minute())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_the_last_hour() {
        let h = TunnelHistory::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        for i in 0..(SAMPLES as i64 + 5) {
            h.record(t0 + time::Duration::seconds(i * 10), i, i * 1000);
        }
        let s = h.samples();
        assert_eq!(s.len(), SAMPLES);
        assert_eq!(s[0].1, 5, "the oldest went first");
        let svg = fleet_charts(&s).into_string();
        assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
        assert!(svg.contains("now 100 B/s"), "1000 bytes every 10 s: {svg}");
        assert!(
            svg.matches("<text class=\"tick\"").count() >= 3,
            "time ticks: {svg}"
        );
        assert_eq!(rate_unit(22_314_088.0), "22.3 MB/s");
        assert_eq!(rate_unit(950.0), "950 B/s");
    }

    #[test]
    fn names_in_the_timeline_are_text() {
        let c = Certificate {
            thumbprint: "T".into(),
            sha256: "S".into(),
            spki_sha256: String::new(),
            friendly_name: "<script>alert(1)</script>".into(),
            subject: String::new(),
            issuer: String::new(),
            serial: String::new(),
            not_before: "2026-01-01T00:00:00Z".into(),
            not_after: "2027-01-01T00:00:00Z".into(),
            days_left: 30,
            key_type: String::new(),
            sans: vec![],
            applied: true,
            source: "generated".into(),
            created_by: String::new(),
            created_at: String::new(),
            chain_length: 0,
            cert_path: String::new(),
            key_path: String::new(),
        };
        let now = OffsetDateTime::parse("2026-12-01T00:00:00Z", &Rfc3339).unwrap();
        let svg = expiry_timeline(&[c], now).into_string();
        assert!(
            svg.contains("&lt;script&gt;") && !svg.contains("<script>"),
            "{svg}"
        );
        assert!(svg.contains("today"));
    }
}

#[cfg(test)]
mod tick_tests {
    use super::*;

    #[test]
    fn an_hour_gets_ticks_every_ten_minutes_at_whole_times() {
        let first = OffsetDateTime::from_unix_timestamp(1_700_000_123).unwrap();
        let ticks = time_ticks(first, first + time::Duration::hours(1));
        assert!((4..=6).contains(&ticks.len()), "{ticks:?}");
        assert!(
            ticks
                .iter()
                .all(|t| t.minute() % 10 == 0 && t.second() == 0)
        );
        let short = time_ticks(first, first + time::Duration::minutes(3));
        assert!(short.iter().all(|t| t.second() == 0) && !short.is_empty());
    }
}

#[cfg(test)]
mod traffic_tests {
    use super::*;
    use cloudgate_proto::admin::UsageRow;

    fn hour(from: &str, bytes: i64) -> UsageRow {
        UsageRow {
            tenant: "acme".into(),
            from: from.into(),
            until: String::new(),
            bytes_up: bytes,
            ..Default::default()
        }
    }

    #[test]
    fn a_tenants_traffic_is_drawn_per_hour_in_human_units() {
        let one = traffic_chart(&[hour("2026-12-06T01:00:00Z", 5)]).into_string();
        assert!(!one.contains("<svg"), "one hour is no line: {one}");
        let two = traffic_chart(&[
            hour("2026-12-06T01:00:00Z", 1_500_000),
            hour("2026-12-06T02:00:00Z", 22_314_088),
        ])
        .into_string();
        assert!(two.contains("<polyline"), "{two}");
        assert!(two.contains("22.3 MB/h"), "{two}");
    }
}

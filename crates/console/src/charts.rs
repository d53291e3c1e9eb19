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
        (sparkline("tunnels", "Open tunnels", &open, ""))
        (sparkline("bytes", "Relayed bytes per second", &rate, " B/s"))
    }
}

/// One line of `points`, with its peak and its last value.
fn sparkline(id: &str, what: &str, points: &[(OffsetDateTime, f64)], unit: &str) -> Markup {
    let (w, h) = (WIDTH, 120.0);
    let Some((first, last)) = points.first().zip(points.last()) else {
        return html! {};
    };
    let span = (last.0 - first.0).as_seconds_f64().max(1.0);
    let peak = points.iter().map(|p| p.1).fold(0.0, f64::max).max(1.0);
    let line: Vec<String> = points
        .iter()
        .map(|(t, v)| {
            let x = 60.0 + (*t - first.0).as_seconds_f64() / span * (w - 70.0);
            let y = h - 20.0 - v / peak * (h - 40.0);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let title_id = format!("{id}-title");
    html! {
        figure {
            svg.sparkline role="img" aria-labelledby=(title_id) viewBox=(format!("0 0 {w} {h}")) width="100%" {
                title id=(title_id) { (what) ": now " (format!("{:.0}", last.1)) (unit) ", at most " (format!("{peak:.0}")) (unit) }
                line x1="60" x2=(w - 10.0) y1=(h - 20.0) y2=(h - 20.0) stroke="#d0d7de" {}
                text x="0" y="24" font-size="12" fill="#57606a" { (format!("{peak:.0}")) }
                text x="0" y=(h - 20.0) font-size="12" fill="#57606a" { "0" }
                polyline points=(line.join(" ")) fill="none" stroke="#0a58ca" stroke-width="2" {}
            }
            figcaption { (what) ", " (date_time(first.0)) " to now: " (format!("{:.0}", last.1)) (unit) " now." }
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

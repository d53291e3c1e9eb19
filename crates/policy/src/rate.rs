//! Transfer rates as an operator types them: `20MB/s`, `100Mbit/s`, `1.5GiB/s`, `500kB/s`.
//! Bytes per second inside; decimal units (k, M, G = 10³, 10⁶, 10⁹) and binary ones (Ki, Mi,
//! Gi = 2¹⁰, 2²⁰, 2³⁰); `B` for bytes, `bit` or `b` for bits.

use std::fmt;

use crate::PolicyError;

/// The slowest limit accepted: below this a backup stream would not finish a TLS record in a
/// second, and a typo (`20kB/s` for `20MB/s`) is likelier than the wish.
pub const MIN_RATE: u64 = 16 * 1024;

/// A transfer rate, in bytes per second.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Rate(pub u64);

impl Rate {
    /// Reads `NUMBER UNIT/s` (space optional, `/s` or `ps`).
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let bad = |reason: &str| PolicyError::Rate {
            input: text.to_string(),
            reason: reason.to_string(),
        };
        let t = text.trim();
        let t = t
            .strip_suffix("/s")
            .or_else(|| t.strip_suffix("ps"))
            .ok_or_else(|| bad("give a unit per second, e.g. 20MB/s or 100Mbit/s"))?
            .trim_end();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| bad("give a unit, e.g. 20MB/s or 100Mbit/s"))?;
        let (number, unit) = t.split_at(split);
        let number: f64 = number
            .parse()
            .map_err(|_| bad("the number is not a decimal number"))?;
        let unit = unit.trim();
        let (scale, unit): (f64, &str) = match unit.as_bytes().first() {
            Some(b'k' | b'K') => (1e3, &unit[1..]),
            Some(b'M') => (1e6, &unit[1..]),
            Some(b'G') => (1e9, &unit[1..]),
            _ => (1.0, unit),
        };
        let (scale, unit) = match unit.strip_prefix('i') {
            Some(rest) if scale > 1.0 => (2f64.powi(scale.log10() as i32 / 3 * 10), rest),
            _ => (scale, unit),
        };
        let per_byte = match unit {
            "B" => 1.0,
            "bit" | "b" => 1.0 / 8.0,
            _ => {
                return Err(bad(
                    "the unit is B (bytes) or bit, with k, M, G, Ki, Mi or Gi before it",
                ));
            }
        };
        let bytes = number * scale * per_byte;
        if !bytes.is_finite() || bytes > 1e12 {
            return Err(bad("more than a terabyte per second is no limit"));
        }
        let bytes = bytes.round() as u64;
        if bytes < MIN_RATE {
            return Err(bad("the least limit is 16KiB/s"));
        }
        Ok(Rate(bytes))
    }

    /// Bytes per second.
    pub fn bytes_per_sec(self) -> u64 {
        self.0
    }
}

/// In decimal units, as parsed back: `20 MB/s`, `12.5 MB/s`, `512 kB/s`.
impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0 as f64;
        let (value, unit) = if b >= 1e9 {
            (b / 1e9, "GB/s")
        } else if b >= 1e6 {
            (b / 1e6, "MB/s")
        } else {
            (b / 1e3, "kB/s")
        };
        let text = format!("{value:.2}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        write!(f, "{text}{unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_as_operators_write_them() {
        assert_eq!(Rate::parse("20MB/s").unwrap(), Rate(20_000_000));
        assert_eq!(Rate::parse("20 MB/s").unwrap(), Rate(20_000_000));
        assert_eq!(Rate::parse("100Mbit/s").unwrap(), Rate(12_500_000));
        assert_eq!(Rate::parse("100Mbps").unwrap(), Rate(12_500_000));
        assert_eq!(Rate::parse("1.5GiB/s").unwrap(), Rate(1_610_612_736));
        assert_eq!(Rate::parse("512KiB/s").unwrap(), Rate(524_288));
        assert_eq!(Rate::parse("500kB/s").unwrap(), Rate(500_000));
    }

    #[test]
    fn wrong_rates_say_what_is_wrong() {
        for bad in [
            "20MB",
            "20",
            "MB/s",
            "20XB/s",
            "1.2.3MB/s",
            "1kB/s",
            "5000TB/s",
            "",
        ] {
            let e = Rate::parse(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn a_rate_prints_as_it_parses_back() {
        for r in [
            Rate(20_000_000),
            Rate(12_500_000),
            Rate(500_000),
            Rate(2_000_000_000),
        ] {
            assert_eq!(Rate::parse(&r.to_string()).unwrap(), r, "{r}");
        }
        assert_eq!(Rate(20_000_000).to_string(), "20MB/s");
    }
}

//! Parsers for the values of command-line options that several commands share: durations
//! (`--timeout`, `--idle-timeout`, `--retry-budget`) and sizes (`--max-event-size`). One place,
//! so that every command reads `90s` or `1MiB` the same way and says the same when it cannot.

use std::time::Duration;

/// The smallest `--max-event-size`: real events are a few hundred bytes, and a limit below a
/// kilobyte would skip ordinary ones.
const MIN_EVENT_SIZE: usize = 1024;

/// Binary size units, largest first (`KB` and `MB` are read as their binary kin too: for a
/// buffer limit the difference does not matter, and refusing them would only annoy).
const SIZE_UNITS: [(&str, usize); 7] = [
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("MB", 1 << 20),
    ("KB", 1 << 10),
    ("M", 1 << 20),
    ("K", 1 << 10),
];

/// Parses sizes such as `1MiB`, `256KiB`, `512K` or `1048576` (bytes). Hand-written: a dozen
/// lines against a crate whose formatting and extra units a single flag does not need.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let unit = unit.trim();
    let scale = match unit {
        "" | "B" => 1,
        unit => SIZE_UNITS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(unit))
            .map(|(_, scale)| *scale)
            .ok_or_else(|| {
                format!(
                    "unknown size unit {unit:?} (expected e.g. 1MiB, 256KiB or a number of bytes)"
                )
            })?,
    };
    let bytes = number
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| {
            format!("{text:?} is not a size (expected e.g. 1MiB, 256KiB or a number of bytes)")
        })?;
    if bytes < MIN_EVENT_SIZE {
        return Err(format!("{text:?} is too small: at least 1KiB"));
    }
    Ok(bytes)
}

/// A size in the unit it is most naturally written in (`1MiB`, `256KiB`, `1500 bytes`).
pub(crate) fn format_size(bytes: usize) -> String {
    for (unit, scale) in [("GiB", 1usize << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= scale && bytes % scale == 0 {
            return format!("{}{unit}", bytes / scale);
        }
    }
    format!("{bytes} bytes")
}

/// Parses human durations such as `90s`, `10m` or `1h30m` (a bare number means seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let parsed = if text.chars().all(|c| c.is_ascii_digit()) && !text.is_empty() {
        text.parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|e| e.to_string())
    } else {
        humantime::parse_duration(text).map_err(|e| e.to_string())
    };
    match parsed {
        Ok(d) if d.is_zero() => Err("the duration must be greater than zero".to_owned()),
        Ok(d) => Ok(d),
        Err(e) => Err(format!("{e} (expected e.g. 90s, 10m or 1h30m)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("0s").is_err());
        assert!(
            parse_duration("soon")
                .unwrap_err()
                .contains("expected e.g. 90s")
        );
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("256KiB"), Ok(256 << 10));
        assert_eq!(parse_size("4 mb"), Ok(4 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("2048"), Ok(2048));
        assert_eq!(parse_size("2048B"), Ok(2048));
        assert!(parse_size("100").unwrap_err().contains("at least 1KiB"));
        assert!(
            parse_size("1TiB")
                .unwrap_err()
                .contains("unknown size unit")
        );
        assert!(parse_size("MiB").unwrap_err().contains("is not a size"));
        assert!(parse_size("99999999999999999999").is_err());
        assert_eq!(format_size(1 << 20), "1MiB");
        assert_eq!(format_size(1536), "1536 bytes");
        assert_eq!(format_size(3 << 10), "3KiB");
    }
}

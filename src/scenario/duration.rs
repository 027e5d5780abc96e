//! Duration strings such as `"90s"`, `"1.5s"` or `"250us"`, measured in microseconds.

/// Units accepted in duration strings, with their length in microseconds.
const UNITS: &[(&str, u64)] = &[
    ("us", 1),
    ("µs", 1),
    ("ms", 1_000),
    ("s", 1_000_000),
    ("m", 60_000_000),
    ("min", 60_000_000),
    ("h", 3_600_000_000),
    ("d", 86_400_000_000),
];

/// The hint shown with every malformed duration.
pub(crate) const DURATION_HINT: &str =
    "write a number followed by a unit (us, ms, s, m, h or d), e.g. \"90s\", \"1.5s\" or \"20ms\"";

/// Parses a duration string into microseconds.
///
/// Accepts a non-negative decimal number directly followed by one of the units `us`, `ms`,
/// `s`, `m` (or `min`), `h` and `d`: `"90s"`, `"5m"`, `"20ms"`, `"1h"`, `"250us"`, `"0s"`,
/// `"1.5s"`. Bare numbers are rejected because their unit would be a guess.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    parse_duration_detail(s).map_err(|(message, hint)| match hint {
        Some(hint) => format!("{message} ({hint})"),
        None => message,
    })
}

/// Like [`parse_duration`], but returns the message and an optional specific hint separately.
pub(crate) fn parse_duration_detail(s: &str) -> Result<u64, (String, Option<String>)> {
    let t = s.trim();
    if t.is_empty() {
        return Err(("empty duration".to_string(), None));
    }
    let number_len = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(number_len);
    if number.is_empty() {
        return Err((
            format!("duration \"{s}\" does not start with a non-negative number"),
            None,
        ));
    }
    if unit.is_empty() {
        return Err((
            format!("duration \"{s}\" has no unit"),
            Some(format!("add a unit, e.g. \"{t}s\" or \"{t}ms\"")),
        ));
    }
    let Some(&(_, per_unit)) = UNITS.iter().find(|(name, _)| *name == unit) else {
        return Err((
            format!("unknown unit \"{unit}\" in duration \"{s}\""),
            Some("use one of the units us, ms, s, m, h, d".to_string()),
        ));
    };

    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if frac_part.contains('.') || (int_part.is_empty() && frac_part.is_empty()) {
        return Err((format!("malformed number in duration \"{s}\""), None));
    }
    let too_large = || (format!("duration \"{s}\" is too large"), None);
    let per_unit = u128::from(per_unit);

    let int_value: u128 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().map_err(|_| too_large())?
    };
    let mut total = int_value.checked_mul(per_unit).ok_or_else(too_large)?;

    let frac_digits = frac_part.trim_end_matches('0');
    if !frac_digits.is_empty() {
        let not_whole = || {
            (
                format!("duration \"{s}\" is not a whole number of microseconds"),
                Some("the resolution is 1us".to_string()),
            )
        };
        if frac_digits.len() > 25 {
            return Err(not_whole());
        }
        let frac: u128 = frac_digits.parse().map_err(|_| not_whole())?;
        let scale = 10u128.pow(frac_digits.len() as u32);
        let scaled = frac * per_unit;
        if !scaled.is_multiple_of(scale) {
            return Err(not_whole());
        }
        total = total.checked_add(scaled / scale).ok_or_else(too_large)?;
    }
    u64::try_from(total).map_err(|_| too_large())
}

/// Formats microseconds in the largest unit that represents them exactly, e.g. `"90s"`.
pub fn format_duration(us: u64) -> String {
    if us == 0 {
        return "0s".to_string();
    }
    for (unit, per_unit) in [
        ("h", 3_600_000_000u64),
        ("m", 60_000_000),
        ("s", 1_000_000),
        ("ms", 1_000),
    ] {
        if us.is_multiple_of(per_unit) {
            return format!("{}{unit}", us / per_unit);
        }
    }
    format!("{us}us")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_format() {
        for us in [
            0,
            1,
            999,
            1_000,
            1_500_000,
            60_000_000,
            90_000_000,
            7_200_000_000,
        ] {
            assert_eq!(parse_duration(&format_duration(us)), Ok(us));
        }
    }
}

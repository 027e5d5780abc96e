//! Number formatting shared by every renderer.

use crate::model::MetricRow;

/// Metrics of `METRICS` that are ratios (`value = numerator / denominator`).
const RATIOS: &[&str] = &[
    "identity_disclosure",
    "cross_room_recall",
    "cross_room_precision",
    "anonymity_unique_fraction",
    "social_graph_precision",
    "social_graph_recall",
    "connection_graph_precision",
    "connection_graph_recall",
    "message_attribution",
];

/// Metrics of `METRICS` that are not ratios (counts, order statistics, means, F1).
const NOT_RATIOS: &[&str] = &[
    "anonymity_set_min",
    "anonymity_set_p10",
    "anonymity_set_median",
    "anonymity_entropy_mean",
    "degree_of_anonymity_mean",
    "social_graph_f1",
    "connection_graph_f1",
    "last_resort_rooms",
    "last_resort_links",
];

/// A number with at most `decimals` decimals, trailing zeros trimmed: `1`, `0.5`, `0.333333`.
/// `-0` is written `0`; non-finite values as `NaN`, `inf`, `-inf`.
pub fn fmt_decimals(v: f64, decimals: usize) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(trimmed);
    }
    if s == "-0" {
        s = "0".to_owned();
    }
    s
}

/// The number format of every report: at most 6 decimals, trailing zeros trimmed (`1`, `0.5`,
/// `0.333333`).
pub fn fmt_num(v: f64) -> String {
    fmt_decimals(v, 6)
}

/// A signed difference: `+0.25`, `-1`, `±0`.
pub(crate) fn fmt_delta(d: f64) -> String {
    let s = fmt_num(d);
    if s == "0" {
        "±0".to_owned()
    } else if s.starts_with('-') || d.is_nan() {
        s
    } else {
        format!("+{s}")
    }
}

/// Whether a row is a ratio, to be shown with its `numerator/denominator`.
pub(crate) fn is_ratio(row: &MetricRow) -> bool {
    if RATIOS.contains(&row.metric.as_str()) {
        return true;
    }
    if NOT_RATIOS.contains(&row.metric.as_str()) {
        return false;
    }
    // A metric this report does not know: a ratio when its numbers say so.
    row.denominator > 0.0
        && row.numerator != row.value
        && (row.numerator / row.denominator - row.value).abs() < 1e-9
}

/// A row's value with what it was taken over: `0.5` and `3/6` for ratios, `2` and `n=0` for other
/// metrics only when there were no samples.
pub(crate) fn value_parts(row: &MetricRow) -> (String, Option<String>) {
    let value = fmt_num(row.value);
    if is_ratio(row) {
        let frac = format!("{}/{}", fmt_num(row.numerator), fmt_num(row.denominator));
        (value, Some(frac))
    } else if row.denominator == 0.0 {
        (value, Some("n=0".to_owned()))
    } else {
        (value, None)
    }
}

/// Whether the row was taken over nothing (its value is 0 by convention, not measured).
pub(crate) fn is_empty(row: &MetricRow) -> bool {
    row.denominator == 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(fmt_num(1.0), "1");
        assert_eq!(fmt_num(0.5), "0.5");
        assert_eq!(fmt_num(1.0 / 3.0), "0.333333");
        assert_eq!(fmt_num(2.0 / 3.0), "0.666667");
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(-0.0), "0");
        assert_eq!(fmt_num(-1e-9), "0");
        assert_eq!(fmt_num(120.0), "120");
        assert_eq!(fmt_num(-2.25), "-2.25");
        assert_eq!(fmt_num(f64::NAN), "NaN");
        assert_eq!(fmt_num(f64::NEG_INFINITY), "-inf");
        assert_eq!(fmt_decimals(0.126, 2), "0.13");
        assert_eq!(fmt_delta(-0.75), "-0.75");
        assert_eq!(fmt_delta(0.25), "+0.25");
        assert_eq!(fmt_delta(1e-9), "±0");
    }
}

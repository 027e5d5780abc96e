//! Number formatting shared by every renderer.

use crate::model::{metric_kind, MetricKind, MetricRow};

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

/// The kind of a row's metric; for a metric the analysis does not know, a ratio when its
/// numbers say so, else a mean.
pub(crate) fn kind(row: &MetricRow) -> MetricKind {
    if let Some(k) = metric_kind(&row.metric) {
        return k;
    }
    match (row.value, row.numerator) {
        (Some(v), Some(n)) if row.denominator > 0.0 && (n / row.denominator - v).abs() < 1e-9 => {
            MetricKind::Ratio
        }
        (None, Some(_)) => MetricKind::Ratio,
        _ => MetricKind::Mean,
    }
}

/// A row's value with what it was taken over: `0.5` and `3/6` for ratios, `2` and `of 5` for
/// counts, a mean or order statistic alone; `n/a` with `0/0` or `n=0` when taken over nothing.
pub(crate) fn value_parts(row: &MetricRow) -> (String, Option<String>) {
    let k = kind(row);
    let frac = || {
        format!(
            "{}/{}",
            row.numerator.map_or_else(|| "0".to_owned(), fmt_num),
            fmt_num(row.denominator)
        )
    };
    match row.value {
        None if k == MetricKind::Ratio => (NA.to_owned(), Some(frac())),
        None => (NA.to_owned(), Some("n=0".to_owned())),
        Some(v) => match k {
            MetricKind::Ratio => (fmt_num(v), Some(frac())),
            MetricKind::Count => (fmt_num(v), Some(format!("of {}", fmt_num(row.denominator)))),
            MetricKind::Mean | MetricKind::OrderStatistic => (fmt_num(v), None),
        },
    }
}

/// How the reports write a value taken over nothing.
pub(crate) const NA: &str = "n/a";

/// Whether the row was taken over nothing (n/a: not measured, which must not read as 0).
pub(crate) fn is_empty(row: &MetricRow) -> bool {
    row.is_empty()
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

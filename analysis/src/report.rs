//! Renderers of an [`Analysis`]: `metrics.csv`, `report.md` and a self-contained `report.html`
//! with SVG charts.
//!
//! Every renderer is a pure function of the [`Analysis`]: the same input gives the same bytes
//! (no timestamps, no random ids, one float format). The Markdown and the HTML report are drawn
//! from one document ([`content::build`]), so they say the same; the HTML adds the charts.

mod charts;
mod content;
mod doc;
mod html;
mod markdown;
mod num;

use crate::model::Analysis;

pub use num::fmt_num;

/// `metrics.csv`: header [`METRICS_CSV_HEADER`], one row per
/// [`MetricRow`](crate::model::MetricRow) in `a.metrics` order, numbers as [`fmt_num`] writes
/// them; an n/a value and an order statistic's numerator are empty cells. The leading columns
/// (scenario, seed, run) name the run, so that the files of several runs concatenate.
pub fn metrics_csv(a: &Analysis) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(METRICS_CSV_HEADER)
        .expect("writing CSV to memory cannot fail");
    let opt = |v: Option<f64>| v.map(fmt_num).unwrap_or_default();
    let (seed, run) = (a.seed.to_string(), a.run.to_string());
    for m in &a.metrics {
        let (v, n, d) = (opt(m.value), opt(m.numerator), fmt_num(m.denominator));
        w.write_record([
            a.scenario.as_str(),
            &seed,
            &run,
            &m.mode,
            &m.observer,
            m.scope.as_str(),
            &m.metric,
            &v,
            &n,
            &d,
        ])
        .expect("writing CSV to memory cannot fail");
    }
    w.into_inner().expect("flushing CSV to memory cannot fail")
}

/// The columns of `metrics.csv`.
pub const METRICS_CSV_HEADER: [&str; 10] = [
    "scenario",
    "seed",
    "run",
    "mode",
    "observer",
    "scope",
    "metric",
    "value",
    "numerator",
    "denominator",
];

/// `report.md`: headline, per-observer tables, mechanism effects and leak attribution.
pub fn report_md(a: &Analysis) -> String {
    markdown::render(&content::build(a))
}

/// `report.html`: the content of `report.md` plus SVG charts, in one file without scripts or
/// network resources.
pub fn report_html(a: &Analysis) -> String {
    html::render(a, &content::build(a))
}

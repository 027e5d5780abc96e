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

/// `metrics.csv`: header `mode,observer,scope,metric,value,numerator,denominator`, one row per
/// [`MetricRow`](crate::model::MetricRow) in `a.metrics` order, numbers as [`fmt_num`] writes them.
pub fn metrics_csv(a: &Analysis) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let write = |w: &mut csv::Writer<Vec<u8>>, rec: &[&str]| {
        w.write_record(rec)
            .expect("writing CSV to memory cannot fail")
    };
    write(
        &mut w,
        &[
            "mode",
            "observer",
            "scope",
            "metric",
            "value",
            "numerator",
            "denominator",
        ],
    );
    for m in &a.metrics {
        let (v, n, d) = (
            fmt_num(m.value),
            fmt_num(m.numerator),
            fmt_num(m.denominator),
        );
        write(
            &mut w,
            &[
                &m.mode,
                &m.observer,
                m.scope.as_str(),
                &m.metric,
                &v,
                &n,
                &d,
            ],
        );
    }
    w.into_inner().expect("flushing CSV to memory cannot fail")
}

/// `report.md`: headline, per-observer tables, mechanism effects and leak attribution.
pub fn report_md(a: &Analysis) -> String {
    markdown::render(&content::build(a))
}

/// `report.html`: the content of `report.md` plus SVG charts, in one file without scripts or
/// network resources.
pub fn report_html(a: &Analysis) -> String {
    html::render(a, &content::build(a))
}

//! Renderers of an [`Analysis`]: `metrics.csv`, `report.md` and a self-contained `report.html`
//! with SVG charts.
//!
//! Every renderer is a pure function of the [`Analysis`]: the same input gives the same bytes
//! (no timestamps, no random ids, one float format). The Markdown and the HTML report are drawn
//! from one document ([`content::build`]), so they say the same; the HTML adds the charts. The
//! sweep report ([`crate::sweep`]) is written in the same document model ([`doc`]), rendered by
//! the same [`markdown`] and [`html`] renderers and charted in the same style ([`charts`]).

pub(crate) mod charts;
mod content;
pub(crate) mod doc;
pub(crate) mod html;
pub(crate) mod markdown;
pub(crate) mod num;

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
            &m.adversary,
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

/// `curves.csv`: the adversaries' precision–recall curves over their thresholds, one row per
/// (mode, observer, adversary, threshold, metric), foreign scope; `operating` is 1 on the
/// run's own threshold. An n/a value is an empty cell.
pub fn curves_csv(a: &Analysis) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CURVES_CSV_HEADER)
        .expect("writing CSV to memory cannot fail");
    let (seed, run) = (a.seed.to_string(), a.run.to_string());
    for p in &a.curves {
        for (metric, (n, d)) in [
            ("cross_room_recall", p.cross_room_recall),
            ("cross_room_precision", p.cross_room_precision),
            ("identification", p.identification),
            (
                "connection_room_identification",
                p.connection_room_identification,
            ),
        ] {
            let value = if d == 0.0 {
                String::new()
            } else {
                fmt_num(n / d)
            };
            w.write_record([
                a.scenario.as_str(),
                &seed,
                &run,
                &p.mode,
                &p.observer,
                &p.adversary,
                &p.parameter,
                &p.threshold.to_string(),
                if p.operating { "1" } else { "0" },
                metric,
                &value,
                &fmt_num(n),
                &fmt_num(d),
            ])
            .expect("writing CSV to memory cannot fail");
        }
    }
    w.into_inner().expect("flushing CSV to memory cannot fail")
}

/// The columns of `curves.csv`.
pub const CURVES_CSV_HEADER: [&str; 13] = [
    "scenario",
    "seed",
    "run",
    "mode",
    "observer",
    "adversary",
    "parameter",
    "threshold",
    "operating",
    "metric",
    "value",
    "numerator",
    "denominator",
];

/// The columns of `metrics.csv`.
pub const METRICS_CSV_HEADER: [&str; 11] = [
    "scenario",
    "seed",
    "run",
    "mode",
    "observer",
    "adversary",
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

/// The headline as plain text for a terminal: foreign disclosure, identification and recall
/// per observer, for `mimi` and `mimimi` (every mode when the run has neither), each value
/// with its fraction, and the adversary these numbers hold against.
pub fn headline_text(a: &Analysis) -> String {
    use std::fmt::Write as _;
    let strongest = content::Index::new(a);
    let identifier = content::Index::of(a, Some(crate::adversary::IDENTIFIER));
    let baseline: Vec<&str> = a
        .modes
        .iter()
        .map(|(m, _)| m.as_str())
        .filter(|m| matches!(*m, "mimi" | "mimimi"))
        .collect();
    let modes: Vec<&str> = if baseline.is_empty() {
        a.modes.iter().map(|(m, _)| m.as_str()).collect()
    } else {
        baseline
    };
    let cell = |ix: &content::Index, mode: &str, obs: &str, metric: &str| match ix.get(
        mode,
        obs,
        crate::model::Scope::Foreign,
        metric,
    ) {
        None => "–".to_owned(),
        Some(r) => match num::value_parts(r) {
            (v, Some(e)) => format!("{v} ({e})"),
            (v, None) => v,
        },
    };
    let strongest_name = a.strongest().unwrap_or("every");
    let mut rows = vec![vec![
        "mode".to_owned(),
        "observer".to_owned(),
        "disclosure".to_owned(),
        "identification".to_owned(),
        "recall".to_owned(),
        "recall, identifiers only".to_owned(),
    ]];
    for mode in &modes {
        for obs in &a.observers {
            let mut row = vec![(*mode).to_owned(), obs.clone()];
            row.extend(
                content::HEADLINE
                    .iter()
                    .map(|(metric, _)| cell(&strongest, mode, obs, metric)),
            );
            row.push(cell(&identifier, mode, obs, "cross_room_recall"));
            rows.push(row);
        }
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!(
        "headline, foreign users (users of other providers), adversary {strongest_name}:\n"
    );
    for row in &rows {
        let mut line = String::from(" ");
        for (c, v) in row.iter().enumerate() {
            let _ = write!(line, " {v:<w$}", w = widths[c]);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let more = a.modes.len() - modes.len();
    if more > 0 {
        let _ = writeln!(
            out,
            "  ({more} more mode{} in the report)",
            if more == 1 { "" } else { "s" }
        );
    }
    // Indented, so that no line of it reads as a `fingerprint MODE HEX` line.
    for line in textwrap(content::ADVERSARY, 90).lines() {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// Greedy word wrap for the terminal.
fn textwrap(s: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in s.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out
}

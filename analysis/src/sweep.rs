//! Sweeps: a scenario run over a grid of parameter values × seeds.
//!
//! The runner turns each run's analysis into tidy [`SweepRow`]s (one metric of one run). This
//! module writes and reads them as `sweep.csv` ([`sweep_csv`], [`parse_sweep_csv`]), aggregates
//! them over seeds into `aggregate.csv` ([`aggregate_csv`]: n, mean, sample standard deviation
//! and 95 % t-interval per cell) and renders the sweep report ([`report`]: Markdown, and one
//! self-contained HTML page with SVG charts of the headline metrics against each parameter),
//! written in the run report's document model and rendered, and charted, in its style.
//!
//! Every function is pure: the same rows give the same bytes. A value taken over nothing (n/a,
//! `None`) is never read as 0: it is left out of every statistic and counted apart.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::Range;

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::prelude::*;

use crate::adversary::COMBINED;
use crate::report::charts::{color, style_mesh, with_legend, Legend, Swatch, CHAR_PX};
use crate::report::doc::{code, text, Block, Cell, Chart, Figure, Inline, Row, Table};
use crate::report::num::{fmt_decimals, NA};
use crate::report::{fmt_num, html, markdown};

/// One row of sweep.csv: one metric of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepRow {
    /// The scenario's name.
    pub scenario: String,
    /// Values of the swept parameters, in the order of the sweep's parameter names, as text (e.g. "8", "direct", "0.3").
    pub params: Vec<String>,
    /// The run's seed.
    pub seed: u64,
    /// The run's number.
    pub run: u64,
    /// The messaging mode measured (e.g. `mimi`, `mimimi`).
    pub mode: String,
    /// The adversary whose links are scored (e.g. `combined`).
    pub adversary: String,
    /// The observer: a provider, a coalition of providers, or `all`.
    pub observer: String,
    /// "provider", "coalition" or "all".
    pub observer_kind: String,
    /// Whose users the metric is about: "own", "foreign" or "all".
    pub scope: String,
    /// The metric's name (e.g. `identity_disclosure`).
    pub metric: String,
    /// The metric's value; None = n/a (taken over nothing): NOT zero, excluded from statistics.
    pub value: Option<f64>,
    /// The numerator of a ratio; None where the metric has none.
    pub numerator: Option<f64>,
    /// What the value was taken over (the denominator of a ratio, the count of a mean).
    pub denominator: f64,
}

/// n, mean, sample standard deviation and two-sided 95 % t-interval of the mean.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// Number of values.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (divisor n − 1); None for n = 1.
    pub sd: Option<f64>,
    /// Lower bound of the 95 % t-interval of the mean; None for n = 1.
    pub ci_low: Option<f64>,
    /// Upper bound of the 95 % t-interval of the mean; None for n = 1.
    pub ci_high: Option<f64>,
}

/// None for an empty slice; sd and the interval are None for n = 1. sd uses n-1. CI = mean ± t(0.975, n-1) · sd/√n.
pub fn stats(values: &[f64]) -> Option<Stats> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Some(Stats {
            n,
            mean,
            sd: None,
            ci_low: None,
            ci_high: None,
        });
    }
    let ss: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    let sd = (ss / (n - 1) as f64).sqrt();
    let half = t_975(n - 1) * sd / (n as f64).sqrt();
    Some(Stats {
        n,
        mean,
        sd: Some(sd),
        ci_low: Some(mean - half),
        ci_high: Some(mean + half),
    })
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom (df >= 1), accurate to 1e-6 at least.
///
/// Exact for df = 1 and 2 (closed forms); up to 1000 degrees of freedom the root of the exact
/// finite series of the t distribution (Abramowitz & Stegun 26.7.3–4), found by bisection to
/// about 1e-13; above, the Cornish–Fisher expansion around the normal quantile, whose error
/// there is far below 1e-12. `df = 0` gives NaN.
pub fn t_975(df: usize) -> f64 {
    match df {
        0 => f64::NAN,
        // tan(π (p − 1/2)).
        1 => (std::f64::consts::PI * 0.475).tan(),
        // (2p − 1) / √(2 p (1 − p)).
        2 => 0.95 / (2.0 * 0.975 * 0.025f64).sqrt(),
        df if df <= T_SERIES_MAX_DF => {
            let (mut lo, mut hi) = (0.0f64, 5.0f64);
            for _ in 0..200 {
                if hi - lo <= 1e-14 {
                    break;
                }
                let mid = 0.5 * (lo + hi);
                if t_central(mid, df) < 0.95 {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            0.5 * (lo + hi)
        }
        df => t_975_expansion(df as f64),
    }
}

/// Up to this many degrees of freedom [`t_975`] inverts the exact series.
const T_SERIES_MAX_DF: usize = 1000;

/// The 0.975 quantile of the standard normal distribution.
const Z_975: f64 = 1.959_963_984_540_054;

/// P(|T| ≤ t) for Student's t with `df` ≥ 1 degrees of freedom and t ≥ 0: the finite series of
/// Abramowitz & Stegun 26.7.3 (odd df) and 26.7.4 (even df), with θ = atan(t / √df).
fn t_central(t: f64, df: usize) -> f64 {
    let nu = df as f64;
    let r = (nu + t * t).sqrt();
    let (sin, cos) = (t / r, nu.sqrt() / r);
    let cos2 = cos * cos;
    if df.is_multiple_of(2) {
        // sin θ · (1 + cos²θ/2 + 1·3/(2·4) cos⁴θ + … up to cos^(df−2)θ)
        let (mut term, mut sum) = (1.0, 1.0);
        for k in 1..df / 2 {
            term *= cos2 * (2 * k - 1) as f64 / (2 * k) as f64;
            sum += term;
        }
        sin * sum
    } else {
        // 2/π · (θ + sin θ · (cos θ + 2/3 cos³θ + … up to cos^(df−2)θ)); 2θ/π for df = 1.
        let theta = t.atan2(nu.sqrt());
        let mut inner = 0.0;
        if df > 1 {
            let (mut term, mut sum) = (cos, cos);
            for k in 1..(df - 1) / 2 {
                term *= cos2 * (2 * k) as f64 / (2 * k + 1) as f64;
                sum += term;
            }
            inner = sin * sum;
        }
        std::f64::consts::FRAC_2_PI * (theta + inner)
    }
}

/// The Cornish–Fisher expansion of t(0.975, ν) in powers of 1/ν (Abramowitz & Stegun 26.7.5).
fn t_975_expansion(nu: f64) -> f64 {
    let z = Z_975;
    let z2 = z * z;
    let g1 = z * (z2 + 1.0) / 4.0;
    let g2 = z * ((5.0 * z2 + 16.0) * z2 + 3.0) / 96.0;
    let g3 = z * (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) / 384.0;
    let g4 = z * ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) / 92160.0;
    z + (g1 + (g2 + (g3 + g4 / nu) / nu) / nu) / nu
}

/// The columns of `sweep.csv` after the parameters.
const SWEEP_TAIL: [&str; 11] = [
    "seed",
    "run",
    "mode",
    "adversary",
    "observer",
    "observer_kind",
    "scope",
    "metric",
    "value",
    "numerator",
    "denominator",
];

/// The columns of `aggregate.csv` after the parameters.
const AGGREGATE_TAIL: [&str; 12] = [
    "mode",
    "adversary",
    "observer",
    "observer_kind",
    "scope",
    "metric",
    "runs",
    "n",
    "mean",
    "sd",
    "ci95_low",
    "ci95_high",
];

/// A row's value of parameter `i`; an empty string where the row has fewer values.
fn param(row: &SweepRow, i: usize) -> &str {
    row.params.get(i).map_or("", String::as_str)
}

/// A row's parameter values, exactly one per name (missing ones empty, extra ones dropped).
fn params_of<'r>(row: &'r SweepRow, names: &[String]) -> Vec<&'r str> {
    (0..names.len()).map(|i| param(row, i)).collect()
}

fn opt_num(v: Option<f64>) -> String {
    v.map(fmt_num).unwrap_or_default()
}

/// sweep.csv bytes. Header: scenario, <param names...>, seed, run, mode, adversary, observer, observer_kind, scope, metric, value, numerator, denominator. Rows in the order given. Numbers written with crate::report::fmt_num (as metrics.csv does); None = empty cell.
///
/// Each row gets exactly one cell per parameter name: a row with fewer values gets empty cells,
/// values beyond the names are not written.
pub fn sweep_csv(param_names: &[String], rows: &[SweepRow]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<&str> = vec!["scenario"];
    header.extend(param_names.iter().map(String::as_str));
    header.extend(SWEEP_TAIL);
    w.write_record(&header)
        .expect("writing CSV to memory cannot fail");
    for r in rows {
        let (seed, run) = (r.seed.to_string(), r.run.to_string());
        let (value, numerator, denominator) = (
            opt_num(r.value),
            opt_num(r.numerator),
            fmt_num(r.denominator),
        );
        let mut record: Vec<&str> = vec![&r.scenario];
        record.extend(params_of(r, param_names));
        record.extend([
            seed.as_str(),
            &run,
            &r.mode,
            &r.adversary,
            &r.observer,
            &r.observer_kind,
            &r.scope,
            &r.metric,
            &value,
            &numerator,
            &denominator,
        ]);
        w.write_record(&record)
            .expect("writing CSV to memory cannot fail");
    }
    w.into_inner().expect("flushing CSV to memory cannot fail")
}

/// Parses sweep.csv back (for merging shards): returns (param names, rows); errors name the line.
///
/// The parameter names are the header's columns between `scenario` and `seed`. Numbers are read
/// as [`sweep_csv`] writes them (so a value written with 6 decimals reads back rounded); an
/// empty `value` or `numerator` cell is None.
pub fn parse_sweep_csv(bytes: &[u8]) -> Result<(Vec<String>, Vec<SweepRow>), String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes);
    let at = |e: &csv::Error| {
        e.position().map_or_else(
            || "sweep.csv".to_owned(),
            |p| format!("sweep.csv line {}", p.line()),
        )
    };
    let mut records = reader.records();
    let header = match records.next() {
        None => return Err("sweep.csv line 1: no header (the file is empty)".to_owned()),
        Some(Err(e)) => return Err(format!("{}: {e}", at(&e))),
        Some(Ok(h)) => h,
    };
    let header_line = header.position().map_or(1, |p| p.line());
    let cols: Vec<&str> = header.iter().collect();
    let expected = || {
        format!(
            "expected the header `scenario,<parameters...>,{}`",
            SWEEP_TAIL.join(",")
        )
    };
    if cols.len() < 1 + SWEEP_TAIL.len()
        || cols[0] != "scenario"
        || cols[cols.len() - SWEEP_TAIL.len()..] != SWEEP_TAIL
    {
        return Err(format!("sweep.csv line {header_line}: {}", expected()));
    }
    let names: Vec<String> = cols[1..cols.len() - SWEEP_TAIL.len()]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let k = names.len();
    let mut rows = Vec::new();
    for record in records {
        let record = record.map_err(|e| format!("{}: {e}", at(&e)))?;
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: usize| record.get(i).unwrap_or("");
        let bad = |col: &str, v: &str, what: &str| {
            format!("sweep.csv line {line}: column `{col}`: `{v}` is not {what}")
        };
        let uint = |i: usize, col: &str| -> Result<u64, String> {
            field(i)
                .parse::<u64>()
                .map_err(|_| bad(col, field(i), "an unsigned integer"))
        };
        let num = |i: usize, col: &str| -> Result<f64, String> {
            field(i)
                .parse::<f64>()
                .map_err(|_| bad(col, field(i), "a number"))
        };
        let opt = |i: usize, col: &str| -> Result<Option<f64>, String> {
            if field(i).is_empty() {
                Ok(None)
            } else {
                num(i, col).map(Some)
            }
        };
        let b = 1 + k;
        rows.push(SweepRow {
            scenario: field(0).to_owned(),
            params: (1..b).map(|i| field(i).to_owned()).collect(),
            seed: uint(b, "seed")?,
            run: uint(b + 1, "run")?,
            mode: field(b + 2).to_owned(),
            adversary: field(b + 3).to_owned(),
            observer: field(b + 4).to_owned(),
            observer_kind: field(b + 5).to_owned(),
            scope: field(b + 6).to_owned(),
            metric: field(b + 7).to_owned(),
            value: opt(b + 8, "value")?,
            numerator: opt(b + 9, "numerator")?,
            denominator: num(b + 10, "denominator")?,
        });
    }
    Ok((names, rows))
}

/// aggregate.csv bytes: one row per cell = (scenario, params, mode, adversary, observer, observer_kind, scope, metric), in order of first appearance in `rows`. Header: scenario, <param names...>, mode, adversary, observer, observer_kind, scope, metric, runs, n, mean, sd, ci95_low, ci95_high. `runs` = rows in the cell, `n` = rows with a value; mean/sd/ci empty when not defined. Numbers via fmt_num.
pub fn aggregate_csv(param_names: &[String], rows: &[SweepRow]) -> Vec<u8> {
    type Key<'r> = (&'r str, Vec<&'r str>, [&'r str; 6]);
    let mut index: HashMap<Key, usize> = HashMap::new();
    // Per cell: its key, its number of rows and its values.
    let mut cells: Vec<(Key, usize, Vec<f64>)> = Vec::new();
    for r in rows {
        let key: Key = (
            &r.scenario,
            params_of(r, param_names),
            [
                &r.mode,
                &r.adversary,
                &r.observer,
                &r.observer_kind,
                &r.scope,
                &r.metric,
            ],
        );
        let i = *index.entry(key.clone()).or_insert_with(|| {
            cells.push((key, 0, Vec::new()));
            cells.len() - 1
        });
        cells[i].1 += 1;
        cells[i].2.extend(r.value);
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<&str> = vec!["scenario"];
    header.extend(param_names.iter().map(String::as_str));
    header.extend(AGGREGATE_TAIL);
    w.write_record(&header)
        .expect("writing CSV to memory cannot fail");
    for ((scenario, params, rest), runs, values) in &cells {
        let s = stats(values);
        let runs = runs.to_string();
        let n = values.len().to_string();
        let mean = opt_num(s.as_ref().map(|s| s.mean));
        let sd = opt_num(s.as_ref().and_then(|s| s.sd));
        let low = opt_num(s.as_ref().and_then(|s| s.ci_low));
        let high = opt_num(s.as_ref().and_then(|s| s.ci_high));
        let mut record: Vec<&str> = vec![scenario];
        record.extend(params.iter().copied());
        record.extend(rest.iter().copied());
        record.extend([
            runs.as_str(),
            n.as_str(),
            mean.as_str(),
            sd.as_str(),
            low.as_str(),
            high.as_str(),
        ]);
        w.write_record(&record)
            .expect("writing CSV to memory cannot fail");
    }
    w.into_inner().expect("flushing CSV to memory cannot fail")
}

// ---------------------------------------------------------------------------------------------
// The report.

/// The headline metrics of the report, with how the report names them.
const HEADLINE: [(&str, &str); 4] = [
    ("identity_disclosure", "Identity disclosure"),
    ("identification", "Identification"),
    ("cross_room_recall", "Cross-room recall"),
    ("social_graph_recall", "Social-graph recall"),
];

/// The scope the report reads: users of other providers.
const FOREIGN: &str = "foreign";
/// The observer kind the report takes the worst of.
const PROVIDER: &str = "provider";

/// One (parameter values, mode) of a headline metric: the worst provider's value of each run.
struct Group<'r> {
    params: Vec<&'r str>,
    mode: &'r str,
    /// Runs with at least one provider row of the metric.
    runs: usize,
    /// The runs' worst-provider values (runs where every provider's value is n/a left out).
    values: Vec<f64>,
    stats: Option<Stats>,
}

impl Group<'_> {
    fn na(&self) -> usize {
        self.runs - self.values.len()
    }
}

/// Per run (scenario, params, seed, run, mode) the maximum value over the provider rows of
/// `metric` in foreign scope (of `adversary`, or of every adversary when None); then per
/// (params, mode) the runs' values, both in order of first appearance.
fn worst_provider<'r>(
    names: &[String],
    rows: &'r [SweepRow],
    metric: &str,
    adversary: Option<&str>,
) -> Vec<Group<'r>> {
    type RunKey<'r> = (&'r str, Vec<&'r str>, u64, u64, &'r str);
    let mut run_index: HashMap<RunKey, usize> = HashMap::new();
    let mut runs: Vec<(RunKey, Option<f64>)> = Vec::new();
    for r in rows {
        if r.metric != metric
            || r.scope != FOREIGN
            || r.observer_kind != PROVIDER
            || adversary.is_some_and(|a| r.adversary != a)
        {
            continue;
        }
        let key: RunKey = (&r.scenario, params_of(r, names), r.seed, r.run, &r.mode);
        let i = *run_index.entry(key.clone()).or_insert_with(|| {
            runs.push((key, None));
            runs.len() - 1
        });
        if let Some(v) = r.value {
            let worst = &mut runs[i].1;
            *worst = Some(worst.map_or(v, |w: f64| w.max(v)));
        }
    }
    let mut group_index: HashMap<(Vec<&str>, &str), usize> = HashMap::new();
    let mut groups: Vec<Group> = Vec::new();
    for ((_, params, _, _, mode), worst) in runs {
        let i = *group_index
            .entry((params.clone(), mode))
            .or_insert_with(|| {
                groups.push(Group {
                    params,
                    mode,
                    runs: 0,
                    values: Vec::new(),
                    stats: None,
                });
                groups.len() - 1
            });
        groups[i].runs += 1;
        groups[i].values.extend(worst);
    }
    for g in &mut groups {
        g.stats = stats(&g.values);
    }
    groups
}

/// Distinct values in order of first appearance.
fn distinct<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// The sweep report as Markdown and as one self-contained HTML page (inline SVG, no external files or scripts), deterministic bytes.
///
/// For each headline metric (`identity_disclosure`, `identification`, `cross_room_recall`,
/// `social_graph_recall`) that has provider rows in foreign scope, and each swept parameter:
/// a chart (HTML only) of the mean over runs against the parameter's values, one line per mode
/// (and combination of the other parameters) with its 95 % interval as a band, and a table of
/// the same numbers. Each run's number is the worst single provider's value of adversary
/// `combined` (of every adversary when no row has `combined`); runs where it is n/a are left out
/// of the statistics and counted.
pub fn report(param_names: &[String], rows: &[SweepRow], title: &str) -> (String, String) {
    let blocks = build(param_names, rows, title);
    (markdown::render(&blocks), html::render_drawn(&blocks))
}

fn build(names: &[String], rows: &[SweepRow], title: &str) -> Vec<Block> {
    let mut blocks = vec![Block::Heading(1, vec![text(title)])];
    let adversary = rows
        .iter()
        .any(|r| r.adversary == COMBINED)
        .then_some(COMBINED);
    blocks.push(Block::Para(intro(names, rows, adversary)));
    blocks.push(Block::MarkdownOnly(vec![Block::Para(vec![
        text("The charts are in "),
        code("sweep.html"),
        text("; the tables below give their numbers."),
    ])]));

    let mut any = false;
    for (metric, label) in HEADLINE {
        let groups = worst_provider(names, rows, metric, adversary);
        if groups.is_empty() {
            continue;
        }
        any = true;
        blocks.push(Block::Heading(
            2,
            vec![text(format!("{label} (")), code(metric), text(")")],
        ));
        if names.is_empty() {
            blocks.push(table(names, None, &groups));
            continue;
        }
        for (i, name) in names.iter().enumerate() {
            blocks.push(Block::Heading(
                3,
                vec![text(format!("{label} by ")), code(name.as_str())],
            ));
            let caption = format!(
                "{label} ({metric}, worst provider, foreign) against {name}: mean over runs, \
                 band = 95 % interval (clipped to the axis)"
            );
            let svg = chart(names, i, rows, &groups, &format!("{label}, worst provider"));
            blocks.push(Block::Figures {
                wide: true,
                figures: vec![Figure {
                    chart: Chart::Svg(svg),
                    caption: vec![text(caption)],
                }],
            });
            blocks.push(table(names, Some(i), &groups));
        }
    }
    if !any {
        blocks.push(Block::Para(vec![text(
            "No headline metric (identity_disclosure, identification, cross_room_recall, \
             social_graph_recall) has provider rows in foreign scope in this sweep.",
        )]));
    }
    blocks
}

/// What was swept, how often, against which adversary, and what each number is.
fn intro(names: &[String], rows: &[SweepRow], adversary: Option<&str>) -> Vec<Inline> {
    let mut p = Vec::new();
    let scenarios = distinct(rows.iter().map(|r| r.scenario.as_str()));
    match scenarios.as_slice() {
        [] => {
            p.push(text("This sweep has no rows."));
            return p;
        }
        [one] => {
            p.push(text("Scenario "));
            p.push(code(*one));
            p.push(text("."));
        }
        many => {
            p.push(text("Scenarios "));
            push_names(&mut p, many);
            p.push(text("."));
        }
    }
    if names.is_empty() {
        p.push(text(" No parameter was swept."));
    } else {
        p.push(text(" Swept: "));
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                p.push(text("; "));
            }
            p.push(code(name.as_str()));
            let values = distinct(rows.iter().map(|r| param(r, i)));
            p.push(text(format!(" ∈ {{{}}}", values.join(", "))));
        }
        p.push(text("."));
    }
    let seeds = distinct(rows.iter().map(|r| r.seed)).len();
    let combos = distinct(rows.iter().map(|r| params_of(r, names))).len();
    let runs = distinct(
        rows.iter()
            .map(|r| (r.scenario.as_str(), params_of(r, names), r.seed, r.run)),
    )
    .len();
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    p.push(text(format!(
        " {}, {} ({} in all), each measured in mode{} ",
        plural(combos, "parameter combination", "parameter combinations"),
        plural(seeds, "seed", "seeds"),
        plural(runs, "run", "runs"),
        if distinct(rows.iter().map(|r| &r.mode)).len() == 1 {
            ""
        } else {
            "s"
        },
    )));
    push_names(&mut p, &distinct(rows.iter().map(|r| r.mode.as_str())));
    p.push(text(". Adversary: "));
    match adversary {
        Some(a) => {
            p.push(code(a));
            p.push(text(" (every adversary's links pooled)."));
        }
        None => {
            p.push(text("no row has "));
            p.push(code(COMBINED));
            p.push(text(", so the worst over every adversary in the sweep ("));
            push_names(&mut p, &distinct(rows.iter().map(|r| r.adversary.as_str())));
            p.push(text(")."));
        }
    }
    p.push(text(
        " Each number is the worst single provider's value in foreign scope (about users of \
         other providers): per run and mode, the maximum over the providers; n, mean and the \
         two-sided 95 % t-interval of the mean are over runs. A run where every provider's \
         value is n/a (taken over nothing) is not read as 0: it is left out of n, mean and \
         interval, and counted in the column n/a.",
    ));
    p
}

/// Names as code, separated by commas.
fn push_names(p: &mut Vec<Inline>, names: &[&str]) {
    for (k, name) in names.iter().enumerate() {
        if k > 0 {
            p.push(text(", "));
        }
        p.push(code(*name));
    }
}

/// The numbers of one chart: a row per (value of parameter `by`, series), or per mode when no
/// parameter was swept (`by` None).
fn table(names: &[String], by: Option<usize>, groups: &[Group]) -> Block {
    // (text, numeric?) of each column.
    let mut header: Vec<(String, bool)> = Vec::new();
    let others: Vec<usize> = (0..names.len()).filter(|&j| Some(j) != by).collect();
    if let Some(i) = by {
        header.push((names[i].clone(), false));
    }
    header.extend(others.iter().map(|&j| (names[j].clone(), false)));
    header.extend([
        ("mode".to_owned(), false),
        ("n".to_owned(), true),
        (NA.to_owned(), true),
        ("mean".to_owned(), true),
        ("95 % CI".to_owned(), true),
    ]);
    let cell = |s: String, num: bool| {
        if num {
            Cell::num(vec![text(s)])
        } else {
            Cell::text(vec![text(s)])
        }
    };
    let mut order: Vec<&Group> = groups.iter().collect();
    if let Some(i) = by {
        // In the chart's x order; within a parameter value, groups keep their order of first
        // appearance (the sort is stable).
        let values = distinct(groups.iter().map(|g| g.params[i]));
        let (_, xs) = x_axis(&values);
        let x_of = |g: &Group| xs[values.iter().position(|v| *v == g.params[i]).unwrap_or(0)];
        order.sort_by(|a, b| x_of(a).total_cmp(&x_of(b)));
    }
    let rows = order
        .into_iter()
        .map(|g| {
            let mut row: Vec<String> = Vec::new();
            if let Some(i) = by {
                row.push(g.params[i].to_owned());
            }
            row.extend(others.iter().map(|&j| g.params[j].to_owned()));
            row.push(g.mode.to_owned());
            row.push(g.values.len().to_string());
            row.push(g.na().to_string());
            match &g.stats {
                None => row.extend([NA.to_owned(), "–".to_owned()]),
                Some(s) => {
                    row.push(fmt_num(s.mean));
                    row.push(match (s.ci_low, s.ci_high) {
                        (Some(lo), Some(hi)) => format!("[{}, {}]", fmt_num(lo), fmt_num(hi)),
                        _ => "–".to_owned(),
                    });
                }
            }
            Row {
                cells: row
                    .into_iter()
                    .zip(&header)
                    .map(|(c, (_, num))| cell(c, *num))
                    .collect(),
                group_start: false,
            }
        })
        .collect();
    Block::Table(Table {
        header: header.into_iter().map(|(h, num)| cell(h, num)).collect(),
        rows,
        ..Table::default()
    })
}

// ---------------------------------------------------------------------------------------------
// Charts, in the frame, legend, mesh style and colours of `report::charts`.

/// Width of a chart.
const WIDTH: u32 = 1040;
/// Width of the y axis' labels.
const Y_AREA: u32 = 64;
/// Opacity of an interval band.
const BAND_ALPHA: f64 = 0.18;

/// The x axis of a parameter: linear over `lo..hi`, labelled at `ticks` (position, text).
/// Categorical values sit at `i + 0.5` of `0..n`.
struct XAxis {
    lo: f64,
    hi: f64,
    ticks: Vec<(f64, String)>,
}

impl Ranged for XAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = f64::from(limit.1 - limit.0);
        limit.0 + ((value - self.lo) / (self.hi - self.lo) * span).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, _hint: H) -> Vec<f64> {
        self.ticks.iter().map(|t| t.0).collect()
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

impl ValueFormatter<f64> for XAxis {
    fn format_ext(&self, value: &f64) -> String {
        self.ticks
            .iter()
            .find(|t| t.0 == *value)
            .map(|t| t.1.clone())
            .unwrap_or_default()
    }
}

/// The x axis of parameter `i` and the position of each of its values: numeric when every
/// value parses as a finite number, else categorical in order of first appearance.
fn x_axis(values: &[&str]) -> (XAxis, Vec<f64>) {
    let numbers: Option<Vec<f64>> = values
        .iter()
        .map(|v| v.trim().parse::<f64>().ok().filter(|x| x.is_finite()))
        .collect();
    match numbers {
        Some(xs) if !xs.is_empty() => {
            let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
            let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let pad = if max > min {
                (max - min) * 0.05
            } else {
                (min.abs() * 0.1).max(0.5)
            };
            let (lo, hi) = (min - pad, max + pad);
            // Labels at the swept values, leaving out those that would overlap the previous.
            let mut sorted: Vec<(f64, &str)> =
                xs.iter().copied().zip(values.iter().copied()).collect();
            sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
            let plot_px = f64::from(WIDTH - Y_AREA) - 24.0;
            let px = |x: f64| (x - lo) / (hi - lo) * plot_px;
            let mut ticks: Vec<(f64, String)> = Vec::new();
            for (x, label) in sorted {
                let half = |s: &str| CHAR_PX * s.chars().count() as f64 / 2.0;
                if let Some((last, last_label)) = ticks.last() {
                    if px(x) - px(*last) < half(last_label) + half(label) + 12.0 {
                        continue;
                    }
                }
                ticks.push((x, label.to_owned()));
            }
            (XAxis { lo, hi, ticks }, xs)
        }
        _ => {
            let xs: Vec<f64> = (0..values.len()).map(|i| i as f64 + 0.5).collect();
            let ticks = xs
                .iter()
                .zip(values)
                .map(|(x, v)| (*x, (*v).to_owned()))
                .collect();
            let axis = XAxis {
                lo: 0.0,
                hi: values.len().max(1) as f64,
                ticks,
            };
            (axis, xs)
        }
    }
}

/// One line of a chart: a mode, or a mode and values of the other parameters.
struct Series {
    label: String,
    /// In x order.
    points: Vec<Point>,
}

/// One (parameter value, series) of a chart.
struct Point {
    x: f64,
    /// None where every run was n/a.
    mean: Option<f64>,
    /// The 95 % interval; None for fewer than 2 values.
    ci: Option<(f64, f64)>,
}

/// The chart of parameter `i`: x = its values, y = mean over runs, one line per series.
fn chart(
    names: &[String],
    i: usize,
    rows: &[SweepRow],
    groups: &[Group],
    y_desc: &str,
) -> Option<String> {
    // Every value the sweep has of the parameter, so all charts of it share one axis.
    let values = distinct(rows.iter().map(|r| param(r, i)));
    let (axis, xs) = x_axis(&values);
    let others: Vec<usize> = (0..names.len()).filter(|&j| j != i).collect();
    let series_key = |g: &Group| -> (String, Vec<String>) {
        (
            g.mode.to_owned(),
            others.iter().map(|&j| g.params[j].to_owned()).collect(),
        )
    };
    let keys = distinct(groups.iter().map(series_key));
    let series: Vec<Series> = keys
        .iter()
        .map(|key| {
            let mut label = key.0.clone();
            for (&j, v) in others.iter().zip(&key.1) {
                let _ = write!(label, ", {}={v}", names[j]);
            }
            let mut points: Vec<Point> = groups
                .iter()
                .filter(|g| series_key(g) == *key)
                .filter_map(|g| {
                    let k = values.iter().position(|v| *v == g.params[i])?;
                    let mean = g.stats.as_ref().map(|s| s.mean);
                    let ci = g.stats.as_ref().and_then(|s| Some((s.ci_low?, s.ci_high?)));
                    Some(Point { x: xs[k], mean, ci })
                })
                .collect();
            points.sort_by(|a, b| a.x.total_cmp(&b.x));
            Series { label, points }
        })
        .collect();
    let highest = series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|p| p.mean))
        .filter(|v| v.is_finite())
        .fold(1.0f64, f64::max);
    draw(axis, &names[i], y_desc, highest, &series)
}

fn draw(axis: XAxis, x_desc: &str, y_desc: &str, y_max: f64, series: &[Series]) -> Option<String> {
    let clamp = |v: f64| {
        if v.is_nan() {
            0.0
        } else {
            v.clamp(0.0, y_max)
        }
    };
    let legend = Legend {
        entries: series
            .iter()
            .enumerate()
            .map(|(j, s)| (s.label.clone(), color(j), Swatch::LinePoint(3)))
            .collect(),
        left: Y_AREA as i32 + 8,
    };
    let categorical = axis.lo == 0.0 && axis.ticks.iter().all(|t| t.0.fract() == 0.5);
    with_legend(WIDTH, 360, &legend, |plot| {
        let mut chart = ChartBuilder::on(plot)
            .margin_top(20)
            .margin_right(24)
            .margin_left(8)
            .x_label_area_size(50)
            .y_label_area_size(Y_AREA)
            .build_cartesian_2d(axis, 0f64..y_max)
            .ok()?;
        let mut mesh = chart.configure_mesh();
        if categorical {
            mesh.disable_x_mesh();
        }
        style_mesh(&mut mesh)
            .max_light_lines(0)
            .y_labels(6)
            .y_label_formatter(&|v| fmt_decimals(*v, 2))
            .x_desc(x_desc)
            .y_desc(y_desc)
            .draw()
            .ok()?;
        for (j, s) in series.iter().enumerate() {
            let c = color(j);
            // Bands over consecutive points with an interval; a lone interval as a bar.
            for run in runs_of(&s.points, |p| p.mean.is_some() && p.ci.is_some()) {
                if let [Point {
                    x,
                    ci: Some((lo, hi)),
                    ..
                }] = run
                {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            vec![(*x, clamp(*lo)), (*x, clamp(*hi))],
                            c.mix(BAND_ALPHA * 1.5).stroke_width(10),
                        )))
                        .ok()?;
                    continue;
                }
                let mut outline: Vec<(f64, f64)> = run
                    .iter()
                    .filter_map(|p| Some((p.x, clamp(p.ci?.0))))
                    .collect();
                outline.extend(run.iter().rev().filter_map(|p| Some((p.x, clamp(p.ci?.1)))));
                chart
                    .draw_series(std::iter::once(Polygon::new(
                        outline,
                        c.mix(BAND_ALPHA).filled(),
                    )))
                    .ok()?;
            }
            // The line, broken where a value is n/a in every run.
            for run in runs_of(&s.points, |p| p.mean.is_some()) {
                let line: Vec<(f64, f64)> = run
                    .iter()
                    .filter_map(|p| Some((p.x, clamp(p.mean?))))
                    .collect();
                chart
                    .draw_series(LineSeries::new(line.clone(), c.stroke_width(3)))
                    .ok()?;
                chart
                    .draw_series(line.into_iter().map(|p| Circle::new(p, 5, c.filled())))
                    .ok()?;
            }
        }
        Some(())
    })
}

/// The maximal runs of consecutive items for which `keep` holds.
fn runs_of<T>(items: &[T], keep: impl Fn(&T) -> bool) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut start = None;
    for (k, item) in items.iter().enumerate() {
        match (keep(item), start) {
            (true, None) => start = Some(k),
            (false, Some(s)) => {
                out.push(&items[s..k]);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(&items[s..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    fn assert_stats(s: &Stats, n: usize, mean: f64, sd: f64, low: f64, high: f64) {
        assert_eq!(s.n, n);
        assert!(close(s.mean, mean), "mean {} != {mean}", s.mean);
        assert!(close(s.sd.unwrap(), sd), "sd {:?} != {sd}", s.sd);
        assert!(close(s.ci_low.unwrap(), low), "low {:?} != {low}", s.ci_low);
        assert!(
            close(s.ci_high.unwrap(), high),
            "high {:?} != {high}",
            s.ci_high
        );
    }

    #[test]
    fn stats_by_hand() {
        // [1, 3]: mean 2; squared deviations 1 + 1 = 2, / (n-1 = 1) → sd √2 = 1.414214;
        // sd/√2 = 1; t(1) = 12.706205 → 2 ± 12.706205.
        let s = stats(&[1.0, 3.0]).unwrap();
        assert_stats(&s, 2, 2.0, std::f64::consts::SQRT_2, -10.706205, 14.706205);

        // [1..5]: mean 3; squared deviations 4+1+0+1+4 = 10, / 4 = 2.5 → sd 1.581139;
        // sd/√5 = √0.5 = 0.707107; t(4) = 2.776445 → half 1.963243 → [1.036757, 4.963243].
        let s = stats(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert_stats(&s, 5, 3.0, 1.581139, 1.036757, 4.963243);

        // [1..10]: mean 5.5; squared deviations 2·(0.25+2.25+6.25+12.25+20.25) = 82.5,
        // / 9 = 9.166667 → sd 3.027650; sd/√10 = √(82.5/90) = 0.957427;
        // t(9) = 2.262157 → half 2.165851 → [3.334149, 7.665851].
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        let s = stats(&ten).unwrap();
        assert_stats(&s, 10, 5.5, 3.027650, 3.334149, 7.665851);

        assert_eq!(
            stats(&[0.25]),
            Some(Stats {
                n: 1,
                mean: 0.25,
                sd: None,
                ci_low: None,
                ci_high: None
            })
        );
        assert_eq!(stats(&[]), None);
    }

    #[test]
    fn t_quantiles() {
        for (df, table) in [
            (1, 12.706205),
            (2, 4.302653),
            (3, 3.182446),
            (4, 2.776445),
            (5, 2.570582),
            (9, 2.262157),
            (10, 2.228139),
            (30, 2.042272),
            (100, 1.983972),
            (1000, 1.962339),
            (10000, 1.960201),
        ] {
            let t = t_975(df);
            assert!((t - table).abs() < 1e-6, "t_975({df}) = {t}, table {table}");
        }
        // Where the exact series hands over to the expansion, they agree far below 1e-6.
        for df in [200.0, 500.0, 1000.0] {
            let series = t_975(df as usize);
            assert!((series - t_975_expansion(df)).abs() < 1e-10, "df {df}");
        }
        assert!(t_975(0).is_nan());
        assert!((t_975(usize::MAX) - Z_975).abs() < 1e-12);
    }

    fn row(params: &[&str], seed: u64, observer: &str, kind: &str, value: Option<f64>) -> SweepRow {
        SweepRow {
            scenario: "s".to_owned(),
            params: params.iter().map(|p| (*p).to_owned()).collect(),
            seed,
            run: 0,
            mode: "mimimi".to_owned(),
            adversary: COMBINED.to_owned(),
            observer: observer.to_owned(),
            observer_kind: kind.to_owned(),
            scope: FOREIGN.to_owned(),
            metric: "identification".to_owned(),
            value,
            numerator: value.map(|v| v * 4.0),
            denominator: 4.0,
        }
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn csv_round_trip() {
        let names = names(&["users", "channel"]);
        let mut rows = vec![
            row(&["8", "direct"], 1, "p1", "provider", Some(0.5)),
            row(&["8", "direct"], 1, "p2", "provider", None),
            row(
                &["16", "re,lay \"x\""],
                2,
                "p1+p2",
                "coalition",
                Some(0.123456),
            ),
            row(&["0.3", ""], u64::MAX, "all", "all", Some(12345.0)),
        ];
        rows[1].numerator = None;
        rows[1].denominator = 0.0;
        rows[2].numerator = Some(-2.5);
        rows[3].run = 7;
        rows[3].scope = "own".to_owned();
        rows[3].metric = "mean_set_size".to_owned();
        let bytes = sweep_csv(&names, &rows);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with(
            "scenario,users,channel,seed,run,mode,adversary,observer,observer_kind,scope,\
             metric,value,numerator,denominator\n"
        ));
        assert!(text
            .contains("\ns,8,direct,1,0,mimimi,combined,p2,provider,foreign,identification,,,0\n"));
        assert_eq!(parse_sweep_csv(&bytes), Ok((names, rows)));

        // No parameters at all.
        let bare = vec![row(&[], 3, "p1", "provider", Some(1.0))];
        assert_eq!(
            parse_sweep_csv(&sweep_csv(&[], &bare)),
            Ok((Vec::new(), bare))
        );
    }

    #[test]
    fn parse_errors_name_the_line() {
        assert!(parse_sweep_csv(b"").unwrap_err().contains("line 1"));
        let e = parse_sweep_csv(b"scenario,seed,run\n").unwrap_err();
        assert!(e.contains("line 1"), "{e}");
        let head = "scenario,n,seed,run,mode,adversary,observer,observer_kind,scope,metric,value,\
                    numerator,denominator\n";
        let good = "s,8,1,0,mimi,combined,p1,provider,foreign,identification,0.5,1,2\n";
        let bad_seed = "s,8,x,0,mimi,combined,p1,provider,foreign,identification,0.5,1,2\n";
        let e = parse_sweep_csv(format!("{head}{good}{bad_seed}").as_bytes()).unwrap_err();
        assert!(e.contains("line 3") && e.contains("seed"), "{e}");
        let bad_value = "s,8,1,0,mimi,combined,p1,provider,foreign,identification,high,1,2\n";
        let e = parse_sweep_csv(format!("{head}{bad_value}").as_bytes()).unwrap_err();
        assert!(e.contains("line 2") && e.contains("value"), "{e}");
        let short = "s,8,1,0,mimi\n";
        let e = parse_sweep_csv(format!("{head}{good}{good}{short}").as_bytes()).unwrap_err();
        assert!(e.contains("line 4"), "{e}");
    }

    #[test]
    fn aggregate_by_hand() {
        let names = names(&["users", "channel"]);
        let rows = vec![
            row(&["8", "direct"], 1, "p1", "provider", Some(0.5)),
            row(&["16", "direct"], 1, "p1", "provider", Some(1.0)),
            row(&["8", "direct"], 2, "p1", "provider", Some(0.25)),
            row(&["8", "direct"], 3, "p1", "provider", None),
        ];
        // Cell 1: runs 3, values 0.5 and 0.25 (the n/a left out): mean 0.375; deviations
        // ±0.125 → sd √(2·0.015625 / 1) = 0.176777; sd/√2 = 0.125; t(1)·0.125 = 1.588276
        // → [-1.213276, 1.963276]. Cell 2: one value, no sd nor interval.
        let expected = "\
scenario,users,channel,mode,adversary,observer,observer_kind,scope,metric,runs,n,mean,sd,ci95_low,ci95_high
s,8,direct,mimimi,combined,p1,provider,foreign,identification,3,2,0.375,0.176777,-1.213276,1.963276
s,16,direct,mimimi,combined,p1,provider,foreign,identification,1,1,1,,,
";
        assert_eq!(
            String::from_utf8(aggregate_csv(&names, &rows)).unwrap(),
            expected
        );
        // Only n/a: runs counted, nothing else.
        let na = vec![row(&["8", "direct"], 1, "p1", "provider", None)];
        assert_eq!(
            String::from_utf8(aggregate_csv(&names, &na)).unwrap(),
            "scenario,users,channel,mode,adversary,observer,observer_kind,scope,metric,runs,n,\
             mean,sd,ci95_low,ci95_high\n\
             s,8,direct,mimimi,combined,p1,provider,foreign,identification,1,0,,,,\n"
        );
    }

    #[test]
    fn worst_provider_per_run() {
        let names = names(&["users"]);
        let mut rows = vec![
            // Seed 1: providers 0.2 and 0.6; the coalition's 0.9 and `all` do not count.
            row(&["8"], 1, "p1", "provider", Some(0.2)),
            row(&["8"], 1, "p2", "provider", Some(0.6)),
            row(&["8"], 1, "p1+p2", "coalition", Some(0.9)),
            row(&["8"], 1, "all", "all", Some(1.0)),
            // Seed 2: one provider n/a, the other 0.4.
            row(&["8"], 2, "p1", "provider", None),
            row(&["8"], 2, "p2", "provider", Some(0.4)),
            // Seed 3: every provider n/a.
            row(&["8"], 3, "p1", "provider", None),
            row(&["8"], 3, "p2", "provider", None),
        ];
        // Another adversary's higher value does not count while `combined` exists.
        let mut other = row(&["8"], 1, "p1", "provider", Some(0.95));
        other.adversary = "timing".to_owned();
        rows.push(other);
        // Own scope does not count.
        let mut own = row(&["8"], 2, "p1", "provider", Some(0.99));
        own.scope = "own".to_owned();
        rows.push(own);

        let groups = worst_provider(&names, &rows, "identification", Some(COMBINED));
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].params, vec!["8"]);
        assert_eq!(groups[0].runs, 3);
        assert_eq!(groups[0].values, vec![0.6, 0.4]);
        assert_eq!(groups[0].na(), 1);
        assert!(close(groups[0].stats.as_ref().unwrap().mean, 0.5));

        // Without a `combined` adversary, the worst over every adversary.
        let groups = worst_provider(&names, &rows, "identification", None);
        assert_eq!(groups[0].values, vec![0.95, 0.4]);
    }

    #[test]
    fn numeric_and_categorical_axes() {
        let (axis, xs) = x_axis(&["16", "8", "32"]);
        assert_eq!(xs, vec![16.0, 8.0, 32.0]);
        assert!(axis.lo < 8.0 && axis.hi > 32.0);
        let labels: Vec<&str> = axis.ticks.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, vec!["8", "16", "32"]);
        let (axis, xs) = x_axis(&["relay", "direct"]);
        assert_eq!(xs, vec![0.5, 1.5]);
        assert_eq!((axis.lo, axis.hi), (0.0, 2.0));
        assert_eq!(axis.format_ext(&1.5), "direct");
    }

    /// A sweep of users × channel, two modes, two seeds, two providers and a coalition, with
    /// `identity_disclosure` and `identification` in foreign scope and `cross_room_recall` in
    /// own scope only (so it has no chart).
    fn sample() -> (Vec<String>, Vec<SweepRow>) {
        let names = names(&["users", "channel"]);
        let mut rows = Vec::new();
        for users in ["8", "16", "32"] {
            for channel in ["direct", "relay"] {
                for seed in [1, 2] {
                    for mode in ["mimi", "mimimi"] {
                        for (metric, scope) in [
                            ("identity_disclosure", "foreign"),
                            ("identification", "foreign"),
                            ("cross_room_recall", "own"),
                        ] {
                            for (k, (observer, kind)) in [
                                ("p1", "provider"),
                                ("p2", "provider"),
                                ("p1+p2", "coalition"),
                            ]
                            .into_iter()
                            .enumerate()
                            {
                                let base = if mode == "mimi" { 0.8 } else { 0.2 };
                                let v = base + 0.01 * (seed * 3 + k as u64) as f64
                                    - 0.002 * users.parse::<f64>().unwrap();
                                let mut r = row(&[users, channel], seed, observer, kind, Some(v));
                                r.mode = mode.to_owned();
                                r.metric = metric.to_owned();
                                r.scope = scope.to_owned();
                                // One run where every provider is n/a.
                                if users == "32" && seed == 2 && mode == "mimimi" {
                                    r.value = None;
                                }
                                rows.push(r);
                            }
                        }
                    }
                }
            }
        }
        (names, rows)
    }

    #[test]
    fn report_is_deterministic_with_one_chart_per_metric_and_parameter() {
        let (names, rows) = sample();
        let (md, html) = report(&names, &rows, "Sweep of s");
        let (md2, html2) = report(&names, &rows, "Sweep of s");
        assert_eq!(md, md2);
        assert_eq!(html, html2);
        // identity_disclosure and identification, by users and by channel.
        assert_eq!(html.matches("<svg").count(), 4);
        assert!(!md.contains("<svg"));
        assert!(md.contains("sweep.html"));
        assert!(md.starts_with("# Sweep of s\n\n"));
        assert!(md.contains("## Identity disclosure (`identity_disclosure`)"));
        assert!(md.contains("### Identification by `channel`"));
        assert!(!md.contains("cross_room_recall`)"));
        // No external resources or scripts.
        assert!(!html.contains("<script"));
        assert!(!html.contains("http://") && !html.contains("https://"));
        // The n/a run (users 32, mimimi, seed 2) is left out and counted: n 1, n/a 1.
        assert!(md.contains("| 32 | direct | mimimi | 1 | 1 |"), "{md}");
        // users 8, mimi, direct: worst providers (k = 1) 0.8 + 0.04 − 0.016 = 0.824 (seed 1)
        // and 0.8 + 0.07 − 0.016 = 0.854 (seed 2): mean 0.839, sd 0.021213,
        // half = 12.706205 · 0.015 = 0.190593 → [0.648407, 1.029593].
        assert!(
            md.contains("| 8 | direct | mimi | 2 | 0 | 0.839 | \\[0.648407, 1.029593\\] |"),
            "{md}"
        );
        // With one parameter and no `combined` adversary.
        let one = names[..1].to_vec();
        let rows: Vec<SweepRow> = rows
            .into_iter()
            .map(|mut r| {
                r.params.truncate(1);
                r.adversary = "timing".to_owned();
                r
            })
            .collect();
        let (md, html) = report(&one, &rows, "t");
        assert_eq!(html.matches("<svg").count(), 2);
        assert!(md.contains("no row has `combined`"));
        // Without parameters: tables, no charts.
        let (md, html) = report(&[], &rows, "t");
        assert_eq!(html.matches("<svg").count(), 0);
        assert!(md.contains("| mode | n | n/a | mean | 95 % CI |"), "{md}");
        // Nothing at all.
        let (md, html) = report(&[], &[], "empty");
        assert_eq!(html.matches("<svg").count(), 0);
        assert!(md.contains("This sweep has no rows."), "{md}");
    }
}

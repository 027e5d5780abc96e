//! `mimimi-sim diff A B`: what changed between two runs or two sweeps.
//!
//! Two run directories are compared by `summary.json`'s provenance (tool version, scenario
//! and its SHA-256, seed, run, overrides, population, parameters) and by `metrics.csv`, one
//! metric per (mode, observer, adversary, scope, metric); two sweep directories by
//! `sweep.json` and `aggregate.csv`, one mean per cell. Metrics are matched by those keys, not
//! by line, so two runs of different seeds or versions compare metric by metric.

use std::collections::BTreeMap;
use std::path::Path;

/// The differences, as lines to print, and whether there are any in the metrics.
pub struct Diff {
    /// Provenance that differs, as `KEY: A -> B`.
    pub provenance: Vec<String>,
    /// Metrics that differ, as `KEY: A -> B`, or only on one side.
    pub metrics: Vec<String>,
    /// How many metrics were compared.
    pub compared: usize,
}

/// What kind of directory: a run or a sweep.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Run,
    Sweep,
}

impl Kind {
    fn of(dir: &Path) -> Result<Kind, String> {
        if dir.join("sweep.json").is_file() && dir.join("aggregate.csv").is_file() {
            Ok(Kind::Sweep)
        } else if dir.join("summary.json").is_file() && dir.join("metrics.csv").is_file() {
            Ok(Kind::Run)
        } else {
            Err(format!(
                "{}: error: neither a run directory (summary.json, metrics.csv) nor a finished \
                 sweep directory (sweep.json, aggregate.csv)",
                dir.display()
            ))
        }
    }

    fn files(self) -> (&'static str, &'static str) {
        match self {
            Kind::Run => ("summary.json", "metrics.csv"),
            Kind::Sweep => ("sweep.json", "aggregate.csv"),
        }
    }

    /// Columns that are values (compared), not keys; the first is the one shown.
    fn value_columns(self) -> &'static [&'static str] {
        match self {
            Kind::Run => &["value", "numerator", "denominator"],
            Kind::Sweep => &["mean", "runs", "n", "sd", "ci95_low", "ci95_high"],
        }
    }

    /// Columns that name the run rather than the metric: not part of the key.
    fn ignored(self) -> &'static [&'static str] {
        match self {
            Kind::Run => &["scenario", "seed", "run"],
            Kind::Sweep => &["scenario"],
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: error: cannot read: {e}", path.display()))
}

/// Top-level provenance keys of a manifest or summary, as compact JSON.
fn provenance(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let value: serde_json::Value = serde_json::from_slice(&read(path)?)
        .map_err(|e| format!("{}: error: not JSON: {e}", path.display()))?;
    let keys = [
        "tool_version",
        "scenario",
        "scenario_file",
        "scenario_sha256",
        "seed",
        "run",
        "seeds",
        "runs",
        "overrides",
        "population",
        "parameters",
    ];
    Ok(keys
        .iter()
        .filter_map(|k| value.get(k).map(|v| (k.to_string(), v.to_string())))
        .collect())
}

/// Rows keyed by their key columns: `key text -> (shown value, all values)`.
type Table = BTreeMap<String, (String, Vec<String>)>;

fn table(path: &Path, kind: Kind) -> Result<Table, String> {
    let bytes = read(path)?;
    let mut r = csv::Reader::from_reader(bytes.as_slice());
    let header: Vec<String> = r
        .headers()
        .map_err(|e| format!("{}: error: {e}", path.display()))?
        .iter()
        .map(str::to_string)
        .collect();
    let values = kind.value_columns();
    let shown = header.iter().position(|h| h == values[0]).ok_or_else(|| {
        format!(
            "{}: error: no `{}` column: not a file this version writes",
            path.display(),
            values[0]
        )
    })?;
    let mut out = Table::new();
    for (line, record) in r.records().enumerate() {
        let record = record.map_err(|e| format!("{}:{}: error: {e}", path.display(), line + 2))?;
        let mut key = vec![];
        let mut vals = vec![];
        for (h, v) in header.iter().zip(record.iter()) {
            if values.contains(&h.as_str()) {
                vals.push(v.to_string());
            } else if !kind.ignored().contains(&h.as_str()) {
                key.push(format!("{h}={v}"));
            }
        }
        let shown = record.get(shown).unwrap_or("").to_string();
        out.insert(key.join(" "), (shown, vals));
    }
    Ok(out)
}

fn or_na(v: &str) -> &str {
    if v.is_empty() {
        "n/a"
    } else {
        v
    }
}

/// Compares two run directories or two sweep directories.
pub fn diff(a: &Path, b: &Path) -> Result<Diff, String> {
    let (ka, kb) = (Kind::of(a)?, Kind::of(b)?);
    if ka != kb {
        return Err(format!(
            "error: {} is a {} directory and {} a {} directory: compare two runs or two sweeps",
            a.display(),
            if ka == Kind::Run { "run" } else { "sweep" },
            b.display(),
            if kb == Kind::Run { "run" } else { "sweep" },
        ));
    }
    let (manifest, metrics) = ka.files();
    let (pa, pb) = (
        provenance(&a.join(manifest))?,
        provenance(&b.join(manifest))?,
    );
    let mut prov = vec![];
    for key in pa.keys().chain(pb.keys().filter(|k| !pa.contains_key(*k))) {
        let (x, y) = (pa.get(key), pb.get(key));
        if x != y {
            prov.push(format!(
                "{key}: {} -> {}",
                x.map_or("(none)", String::as_str),
                y.map_or("(none)", String::as_str)
            ));
        }
    }
    let (ta, tb) = (table(&a.join(metrics), ka)?, table(&b.join(metrics), kb)?);
    let mut lines = vec![];
    for (key, (shown, all)) in &ta {
        match tb.get(key) {
            None => lines.push(format!("only in A: {key}: {}", or_na(shown))),
            Some((shown_b, all_b)) if all != all_b => {
                lines.push(format!("{key}: {} -> {}", or_na(shown), or_na(shown_b)))
            }
            Some(_) => {}
        }
    }
    for (key, (shown, _)) in &tb {
        if !ta.contains_key(key) {
            lines.push(format!("only in B: {key}: {}", or_na(shown)));
        }
    }
    Ok(Diff {
        provenance: prov,
        metrics: lines,
        compared: ta.len().max(tb.len()),
    })
}

//! Writing a run's results: per mode `observations.csv`, `truth.csv`, `memberships.csv` and
//! `connections.csv`, and `summary.json` for the run. Everything is written into a temporary
//! directory beside the target and renamed into place, so a failed run leaves nothing half
//! written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::observe;
use crate::scenario::{Coalition, Mode, Scenario};
use crate::world::{RunOutput, RunStats};

/// Why results could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The output directory exists and `--force` was not given.
    #[error("{0} already exists and does not hold an earlier output of this scenario; pass --force to replace it, or --out DIR to write elsewhere")]
    Exists(PathBuf),
    /// The analysis could not read what the run wrote, or a report could not be made.
    #[error("analysis: {0}")]
    Analysis(String),
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One mode's results, ready to write.
pub struct ModeResult {
    /// The mode's name (`mimi`, ...).
    pub mode: String,
    /// The mechanisms switched on in it.
    pub mechanisms: Vec<&'static str>,
    /// What the simulation produced.
    pub output: RunOutput,
    /// `observations.csv` bytes.
    pub observations_csv: Vec<u8>,
    /// SHA-256 over `observations_csv`, hex.
    pub fingerprint: String,
}

impl ModeResult {
    /// Serializes the observation log and computes its fingerprint.
    pub fn new(mode: &Mode, output: RunOutput) -> Self {
        let observations_csv = observe::observations_csv(&output.observations);
        let fingerprint = observe::fingerprint(&observations_csv);
        Self {
            mode: mode.name.clone(),
            mechanisms: mode.mechanisms.enabled(),
            output,
            observations_csv,
            fingerprint,
        }
    }
}

#[derive(Serialize)]
struct ModeSummary<'a> {
    mechanisms: &'a [&'static str],
    fingerprint: &'a str,
    events: u64,
    simulated_us: u64,
    observations: usize,
    stats: &'a RunStats,
}

#[derive(Serialize)]
struct Summary<'a> {
    scenario: &'a str,
    seed: u64,
    run: u64,
    providers: Vec<&'a str>,
    coalitions: &'a [Coalition],
    mode_order: Vec<&'a str>,
    modes: BTreeMap<&'a str, ModeSummary<'a>>,
}

/// `summary.json` text.
pub fn summary_json(scenario: &Scenario, seed: u64, run: u64, modes: &[ModeResult]) -> String {
    let summary = Summary {
        scenario: &scenario.name,
        seed,
        run,
        providers: scenario
            .providers
            .iter()
            .map(|p| p.domain.as_str())
            .collect(),
        coalitions: &scenario.coalitions,
        mode_order: modes.iter().map(|m| m.mode.as_str()).collect(),
        modes: modes
            .iter()
            .map(|m| {
                (
                    m.mode.as_str(),
                    ModeSummary {
                        mechanisms: &m.mechanisms,
                        fingerprint: &m.fingerprint,
                        events: m.output.stats.events,
                        simulated_us: m.output.stats.simulated_us,
                        observations: m.output.observations.len(),
                        stats: &m.output.stats,
                    },
                )
            })
            .collect(),
    };
    let mut s = serde_json::to_string_pretty(&summary).expect("summary serializes");
    s.push('\n');
    s
}

fn csv_bytes<const N: usize>(
    header: [&str; N],
    rows: impl Iterator<Item = [String; N]>,
) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).expect("writing to memory");
    for r in rows {
        w.write_record(&r).expect("writing to memory");
    }
    w.into_inner().expect("writing to memory")
}

/// Every file a run writes before the analysis: `summary.json` and each mode's logs.
pub fn run_files(
    scenario: &Scenario,
    seed: u64,
    run: u64,
    modes: &[ModeResult],
) -> Vec<(String, Vec<u8>)> {
    let mut files = vec![(
        "summary.json".to_string(),
        summary_json(scenario, seed, run, modes).into_bytes(),
    )];
    for m in modes {
        files.extend(mode_files(m));
    }
    files
}

/// The files of one mode, as (relative path, bytes).
pub fn mode_files(m: &ModeResult) -> Vec<(String, Vec<u8>)> {
    let o = &m.output;
    let truth = csv_bytes(
        ["kind", "value", "user", "client"],
        o.truth.iter().map(|t| {
            [
                t.kind.as_str().to_string(),
                t.value.clone(),
                t.user.clone(),
                t.client.clone(),
            ]
        }),
    );
    let memberships = csv_bytes(
        [
            "room",
            "purpose",
            "user",
            "client",
            "from_us",
            "to_us",
            "last_resort",
        ],
        o.memberships.iter().map(|r| {
            [
                r.room.clone(),
                r.purpose.to_string(),
                r.user.clone(),
                r.client.clone(),
                r.from_us.to_string(),
                r.to_us.map(|t| t.to_string()).unwrap_or_default(),
                u8::from(r.last_resort).to_string(),
            ]
        }),
    );
    let messages = csv_bytes(
        ["message", "room", "user", "client", "time_us"],
        o.messages.iter().map(|m| {
            [
                m.message.clone(),
                m.room.clone(),
                m.user.clone(),
                m.client.clone(),
                m.time_us.to_string(),
            ]
        }),
    );
    let connections = csv_bytes(
        ["requester", "target"],
        o.connections.iter().map(|(a, b)| [a.clone(), b.clone()]),
    );
    vec![
        (
            format!("{}/observations.csv", m.mode),
            m.observations_csv.clone(),
        ),
        (format!("{}/truth.csv", m.mode), truth),
        (format!("{}/memberships.csv", m.mode), memberships),
        (format!("{}/connections.csv", m.mode), connections),
        (format!("{}/messages.csv", m.mode), messages),
    ]
}

/// Whether `dir` holds an earlier output of the scenario `name` (its `summary.json` says so).
fn is_earlier_output(dir: &Path, name: &str) -> bool {
    std::fs::read(dir.join("summary.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v["scenario"] == name)
}

/// Writes `files` (relative paths) into `dir`, then lets `finish` add to the directory before
/// it takes its place (the analysis reads the files written and adds its reports). A non-empty
/// `dir` is replaced when it holds an earlier output of the same scenario, or when `force` is
/// set; otherwise it is left alone.
pub fn write_dir(
    dir: &Path,
    files: &[(String, Vec<u8>)],
    scenario: &str,
    force: bool,
    finish: impl FnOnce(&Path) -> Result<(), OutputError>,
) -> Result<(), OutputError> {
    let non_empty = dir
        .read_dir()
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if non_empty && !force && !is_earlier_output(dir, scenario) {
        return Err(OutputError::Exists(dir.to_path_buf()));
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;
    let tmp = tempfile::Builder::new()
        .prefix(".mimimi-sim-")
        .tempdir_in(&parent)
        .map_err(io(&parent))?;
    for (rel, bytes) in files {
        let path = tmp.path().join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(io(p))?;
        }
        std::fs::write(&path, bytes).map_err(io(&path))?;
    }
    finish(tmp.path())?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    let tmp = tmp.keep();
    std::fs::rename(&tmp, dir).map_err(io(dir))?;
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so
/// that the file is either the old one or the new one, never half written.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    use std::io::Write as _;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&parent).map_err(io(&parent))?;
    tmp.write_all(bytes).map_err(io(path))?;
    tmp.persist(path).map_err(|e| OutputError::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

/// Recomputes the metrics of the run in `dir` from its files alone and writes `metrics.csv`,
/// `report.md`, `report.html`, and the metrics into `summary.json`.
pub fn write_reports(dir: &Path) -> Result<mimimi_analysis::model::Analysis, OutputError> {
    let run =
        mimimi_analysis::input::load(dir).map_err(|e| OutputError::Analysis(e.to_string()))?;
    let analysis = mimimi_analysis::metrics::analyze(&run);
    write_atomic(
        &dir.join("metrics.csv"),
        &mimimi_analysis::report::metrics_csv(&analysis),
    )?;
    write_atomic(
        &dir.join("report.md"),
        mimimi_analysis::report::report_md(&analysis).as_bytes(),
    )?;
    write_atomic(
        &dir.join("report.html"),
        mimimi_analysis::report::report_html(&analysis).as_bytes(),
    )?;
    let summary_path = dir.join("summary.json");
    let text = std::fs::read(&summary_path).map_err(io(&summary_path))?;
    let mut summary: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| OutputError::Analysis(format!("summary.json: {e}")))?;
    summary["metrics"] = metrics_json(&analysis);
    let mut out = serde_json::to_string_pretty(&summary).expect("JSON values serialize");
    out.push('\n');
    write_atomic(&summary_path, out.as_bytes())?;
    Ok(analysis)
}

/// The metrics as nested JSON: mode -> observer -> scope -> metric -> value.
fn metrics_json(a: &mimimi_analysis::model::Analysis) -> serde_json::Value {
    let mut root = serde_json::Map::new();
    for m in &a.metrics {
        let mode = root
            .entry(m.mode.clone())
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        let observer = mode
            .as_object_mut()
            .expect("objects only")
            .entry(m.observer.clone())
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        let scope = observer
            .as_object_mut()
            .expect("objects only")
            .entry(m.scope.as_str())
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        scope
            .as_object_mut()
            .expect("objects only")
            .insert(m.metric.clone(), serde_json::json!(m.value));
    }
    serde_json::Value::Object(root)
}

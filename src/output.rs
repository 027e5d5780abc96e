//! Writing a run's results: per mode `observations.csv`, `truth.csv`, `memberships.csv`,
//! `connections.csv` and `messages.csv`, and `summary.json`, `metrics.csv` and the reports for
//! the run. Everything is written into a directory staged beside the target before the
//! simulation starts, and put in place in one step when complete: a failed or interrupted run
//! leaves the earlier output as it was. Only directories that a run wrote are ever replaced.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cleanup;
use crate::observe;
use crate::scenario::{Coalition, Mode, Scenario};
use crate::world::{RunOutput, RunStats};

/// Why results could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The output directory holds another scenario's output and `--force` was not given.
    #[error("{} holds the output of scenario {}; pass --force to replace it, or --out DIR to write elsewhere", .0.display(), .1)]
    OtherScenario(PathBuf, String),
    /// The output directory holds something no run wrote: it is never replaced.
    #[error("{} holds files that no run of this tool wrote (for example {}), so it is never replaced, not even with --force; choose another --out, or empty it yourself", .0.display(), .1)]
    NotAnOutput(PathBuf, String),
    /// The output path may not be replaced.
    #[error("{} cannot be the output: {}; choose another --out", .0.display(), .1)]
    Refused(PathBuf, String),
    /// The analysis could not read what the run wrote, or a report could not be made.
    #[error("analysis: {0}")]
    Analysis(String),
    /// A file system operation failed (the OS error is part of the message, printed once).
    #[error("{}: {error}", .path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |error| OutputError::Io {
        path: path.to_path_buf(),
        error,
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
    /// `observations.csv` bytes, for a log kept in memory; `None` when the run wrote its log
    /// itself ([`crate::world::RunOptions::log_to`]).
    pub observations_csv: Option<Vec<u8>>,
    /// SHA-256 over the log's CSV form, hex.
    pub fingerprint: String,
}

impl ModeResult {
    /// Takes a mode's output, serializing its observation log if it was kept in memory.
    pub fn new(mode: &Mode, output: RunOutput) -> Self {
        let observations_csv = output
            .log_file
            .is_none()
            .then(|| observe::observations_csv(&output.observations));
        debug_assert!(observations_csv
            .as_ref()
            .is_none_or(|csv| observe::fingerprint(csv) == output.fingerprint));
        Self {
            mode: mode.name.clone(),
            mechanisms: mode.mechanisms.enabled(),
            fingerprint: output.fingerprint.clone(),
            output,
            observations_csv,
        }
    }
}

/// The results of every mode of `scenario`, from [`crate::world::run_modes`]'s outputs (in mode
/// order).
pub fn mode_results(scenario: &Scenario, outputs: Vec<RunOutput>) -> Vec<ModeResult> {
    scenario
        .modes
        .iter()
        .zip(outputs)
        .map(|(mode, output)| ModeResult::new(mode, output))
        .collect()
}

#[derive(Serialize)]
struct ModeSummary<'a> {
    mechanisms: &'a [&'static str],
    fingerprint: &'a str,
    events: u64,
    simulated_us: u64,
    observations: u64,
    stats: &'a RunStats,
}

#[derive(Serialize)]
struct Summary<'a> {
    scenario: &'a str,
    tool_version: &'static str,
    scenario_sha256: &'a str,
    seed: u64,
    run: u64,
    parameters: Parameters<'a>,
    adversary: &'a mimimi_analysis::adversary::AdversaryOptions,
    providers: Vec<&'a str>,
    coalitions: &'a [Coalition],
    mode_order: Vec<&'a str>,
    modes: BTreeMap<&'a str, ModeSummary<'a>>,
}

/// A generated scenario's population, for provenance.
#[derive(Serialize)]
struct PopulationSummary<'a> {
    parameters: &'a crate::scenario::Population,
    generated: &'a crate::scenario::Generated,
}

/// The scenario's effective run parameters (defaults filled in), for provenance.
#[derive(Serialize)]
struct Parameters<'a> {
    /// The `--set` overrides, as given, when there are any.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    overrides: &'a [String],
    /// The `[population]` parameters and what they generated, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    population: Option<PopulationSummary<'a>>,
    latency_us: u64,
    key_packages: u32,
    key_package_sets: u32,
    last_resort_reupload_us: u64,
    channel: &'static str,
    /// The `relay` key, or how the relay is picked without it.
    relay: &'a str,
    providers: usize,
    users: usize,
    clients: u64,
    actions: usize,
    simulated_until_us: u64,
    /// `jitter` and `jitter_max`, when a mode has the `jitter` countermeasure.
    #[serde(skip_serializing_if = "Option::is_none")]
    jitter: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jitter_max_us: Option<u64>,
    /// `padding_buckets`, when a mode has the `padding` countermeasure.
    #[serde(skip_serializing_if = "Option::is_none")]
    padding_buckets: Option<PaddingBuckets>,
    /// `leaves_per_user`, when a mode has the `placeholder_leaves` countermeasure.
    #[serde(skip_serializing_if = "Option::is_none")]
    leaves_per_user: Option<u32>,
}

/// The sizes the `padding` countermeasure pads to.
#[derive(Serialize)]
#[serde(untagged)]
enum PaddingBuckets {
    /// The scenario's `padding_buckets`.
    Listed(Vec<u64>),
    /// Without the key: a description of the default.
    Default(&'static str),
}

/// `summary.json` text.
pub fn summary_json(scenario: &Scenario, seed: u64, run: u64, modes: &[ModeResult]) -> String {
    let any_mode = |on: fn(&crate::scenario::Mechanisms) -> bool| {
        scenario.modes.iter().any(|m| on(&m.mechanisms))
    };
    let summary = Summary {
        scenario: &scenario.name,
        tool_version: env!("CARGO_PKG_VERSION"),
        scenario_sha256: &scenario.sha256,
        seed,
        run,
        adversary: &scenario.adversary,
        parameters: Parameters {
            overrides: &scenario.overrides,
            population: scenario.population.as_ref().map(|(parameters, generated)| {
                PopulationSummary {
                    parameters,
                    generated,
                }
            }),
            latency_us: scenario.latency_us,
            key_packages: scenario.key_packages_per_client,
            key_package_sets: scenario.key_package_sets,
            last_resort_reupload_us: scenario.last_resort_reupload_us,
            channel: scenario.channel.key(),
            relay: scenario
                .relay
                .as_deref()
                .unwrap_or("the first provider other than the client's"),
            providers: scenario.providers.len(),
            users: scenario.users.len(),
            clients: scenario.users.iter().map(|u| u64::from(u.clients)).sum(),
            actions: scenario.actions.len(),
            simulated_until_us: scenario.end_us(),
            jitter: any_mode(|m| m.jitter).then(|| scenario.jitter.key()),
            jitter_max_us: any_mode(|m| m.jitter).then_some(scenario.jitter_max_us),
            padding_buckets: any_mode(|m| m.padding).then(|| {
                if scenario.padding_buckets.is_empty() {
                    PaddingBuckets::Default("the powers of two from 256")
                } else {
                    PaddingBuckets::Listed(scenario.padding_buckets.clone())
                }
            }),
            leaves_per_user: any_mode(|m| m.placeholder_leaves).then_some(scenario.leaves_per_user),
        },
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
                        observations: m.output.observation_count,
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
            "key_package_set",
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
                r.key_package_set.clone(),
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
    let observations = m
        .observations_csv
        .clone()
        .map(|csv| (format!("{}/observations.csv", m.mode), csv));
    observations
        .into_iter()
        .chain([
            (format!("{}/truth.csv", m.mode), truth),
            (format!("{}/memberships.csv", m.mode), memberships),
            (format!("{}/connections.csv", m.mode), connections),
            (format!("{}/messages.csv", m.mode), messages),
        ])
        .collect()
}

/// The files a run writes at the top of its directory.
pub const RUN_FILES: [&str; 5] = [
    "summary.json",
    "metrics.csv",
    "curves.csv",
    "report.md",
    "report.html",
];
/// The files a run writes in each mode's directory (the observation log in one of two formats).
pub const MODE_FILES: [&str; 6] = [
    "observations.csv",
    "observations.parquet",
    "truth.csv",
    "memberships.csv",
    "connections.csv",
    "messages.csv",
];

/// Prefix of the temporary files and directories this tool makes beside its outputs.
const TEMP_PREFIX: &str = ".mimimi-sim-";

/// What an existing directory holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Existing {
    /// Nothing (or it does not exist).
    Empty,
    /// A run's output: only files a run writes, with the scenario named in its summary.
    Output { scenario: String },
    /// Something else; the entry named is one no run writes.
    Other { example: String },
}

/// Classifies `dir`: empty, an earlier run's output (recognised by its own files only), or
/// something else.
pub fn existing(dir: &Path) -> Result<Existing, OutputError> {
    let Ok(entries) = dir.read_dir() else {
        return Ok(Existing::Empty);
    };
    let mut names = vec![];
    for e in entries {
        let e = e.map_err(io(dir))?;
        names.push(e.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    if names.is_empty() {
        return Ok(Existing::Empty);
    }
    let other = |name: &str| Existing::Other {
        example: name.to_string(),
    };
    let summary = std::fs::read(dir.join("summary.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let Some(summary) = summary else {
        return Ok(other(&names[0]));
    };
    let (Some(scenario), Some(modes)) = (
        summary["scenario"].as_str(),
        summary["mode_order"].as_array(),
    ) else {
        return Ok(other("summary.json"));
    };
    let modes: Vec<&str> = modes.iter().filter_map(|m| m.as_str()).collect();
    for name in &names {
        let path = dir.join(name);
        if RUN_FILES.contains(&name.as_str()) && path.is_file() {
            continue;
        }
        if !(modes.contains(&name.as_str()) && path.is_dir()) {
            return Ok(other(name));
        }
        for f in path.read_dir().map_err(io(&path))? {
            let f = f.map_err(io(&path))?;
            let fname = f.file_name().to_string_lossy().into_owned();
            if !(MODE_FILES.contains(&fname.as_str()) && f.path().is_file()) {
                return Ok(other(&format!("{name}/{fname}")));
            }
        }
    }
    Ok(Existing::Output {
        scenario: scenario.to_string(),
    })
}

/// An output directory being prepared: checked and staged before the simulation starts (so
/// that a run whose results could not be written fails before it does the work), filled, then
/// put in place of any earlier output in one step.
pub struct Prepared {
    target: PathBuf,
    staging: PathBuf,
}

/// A unique temporary name in `parent`: `.mimimi-sim-<pid>-<n>.new` for a staged output,
/// `.mimimi-sim-<pid>-<n>.tmp` for a file, `.mimimi-sim-<pid>-<n>-<name>.old` for an earlier
/// output `<name>` moved aside.
fn temp_beside(parent: &Path, what: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let sep = if what.ends_with(".old") { '-' } else { '.' };
    parent.join(format!(
        "{TEMP_PREFIX}{}-{n}{sep}{what}",
        std::process::id()
    ))
}

/// The process id in a temporary name of this tool, if it is one.
fn temp_pid(name: &str) -> Option<u32> {
    name.strip_prefix(TEMP_PREFIX)?
        .split('-')
        .next()?
        .parse()
        .ok()
}

/// Whether a process with this id is running (on systems without /proc, assume it is).
fn alive(pid: u32) -> bool {
    pid == std::process::id()
        || !Path::new("/proc/self").exists()
        || Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes what killed runs left in `parent`: staged outputs and temporary files of processes
/// that no longer run. An earlier output that a killed run had moved aside
/// (`.mimimi-sim-<pid>-<n>-<name>.old`) goes back to `<name>` when that place is empty.
fn clean_leftovers(parent: &Path) -> Result<(), OutputError> {
    let Ok(entries) = parent.read_dir() else {
        return Ok(());
    };
    let mut stale = vec![];
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if temp_pid(&name).is_some_and(|pid| !alive(pid)) {
            stale.push((name, e.path()));
        }
    }
    stale.sort();
    for (name, path) in stale {
        let home = name
            .strip_suffix(".old")
            .and_then(|n| n.strip_prefix(TEMP_PREFIX)?.splitn(3, '-').nth(2))
            .map(|original| parent.join(original));
        match home {
            Some(home) if !home.exists() => {
                std::fs::rename(&path, &home).map_err(io(&home))?;
            }
            _ => cleanup::remove(&path),
        }
    }
    Ok(())
}

/// Why `target` may not be replaced, if it may not: it is the current directory or one of its
/// parents, or holds the scenario file.
fn protected(target: &Path, scenario_file: &Path) -> Option<String> {
    let t = target.canonicalize().ok()?;
    let cwd = std::env::current_dir().ok()?.canonicalize().ok()?;
    if cwd.starts_with(&t) {
        return Some(if cwd == t {
            "it is the current directory".to_string()
        } else {
            "it contains the current directory".to_string()
        });
    }
    let file = scenario_file.canonicalize().ok()?;
    file.starts_with(&t)
        .then(|| "it contains the scenario file".to_string())
}

impl Prepared {
    /// Checks that `target` may receive the output of scenario `name` read from
    /// `scenario_file`, and stages a directory beside it:
    /// - an empty or missing directory is fine;
    /// - an earlier output of the same scenario is replaced;
    /// - an earlier output of another scenario is replaced with `force`;
    /// - anything else (a file of the user's, the current directory or a parent of it, the
    ///   scenario's own directory) is never replaced, `force` or not.
    pub fn new(
        target: &Path,
        name: &str,
        scenario_file: &Path,
        force: bool,
    ) -> Result<Prepared, OutputError> {
        if target.exists() && !target.is_dir() {
            return Err(OutputError::Refused(
                target.to_path_buf(),
                "it is a file, not a directory".into(),
            ));
        }
        if let Some(why) = protected(target, scenario_file) {
            return Err(OutputError::Refused(target.to_path_buf(), why));
        }
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let absolute = std::path::absolute(target).map_err(io(target))?;
        if absolute.file_name().and_then(|n| n.to_str()).is_none() {
            return Err(OutputError::Refused(
                target.to_path_buf(),
                "its name is not UTF-8 text".into(),
            ));
        }
        clean_leftovers(&parent)?;
        match existing(target)? {
            Existing::Empty => {}
            Existing::Output { scenario } if scenario == name || force => {}
            Existing::Output { scenario } => {
                return Err(OutputError::OtherScenario(target.to_path_buf(), scenario));
            }
            Existing::Other { example } => {
                return Err(OutputError::NotAnOutput(target.to_path_buf(), example));
            }
        }
        std::fs::create_dir_all(&parent).map_err(io(&parent))?;
        let staging = temp_beside(&parent, "new");
        cleanup::register(&staging);
        std::fs::create_dir(&staging).map_err(io(&staging))?;
        Ok(Prepared {
            target: absolute,
            staging,
        })
    }

    /// The staged directory, to write into.
    pub fn dir(&self) -> &Path {
        &self.staging
    }

    /// Writes `files` (relative paths) into the staged directory.
    pub fn write(&self, files: &[(String, Vec<u8>)]) -> Result<(), OutputError> {
        write_files(&self.staging, files)
    }

    /// Puts the staged directory in place of the target. Under the interrupt lock: the earlier
    /// output is moved aside, the new one moved in, then the earlier one removed.
    pub fn commit(self) -> Result<(), OutputError> {
        let (target, staging) = (self.target.clone(), self.staging.clone());
        cleanup::uninterrupted(|registry| {
            let parent = target.parent().unwrap_or(Path::new("."));
            let mut aside = None;
            if target.exists() {
                // The name keeps where it came from, for a later run to put it back if this
                // one is killed between the two renames.
                let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let path = temp_beside(parent, &format!("{name}.old"));
                std::fs::rename(&target, &path).map_err(io(&target))?;
                registry.register(&path);
                aside = Some(path);
            }
            std::fs::rename(&staging, &target).map_err(io(&target))?;
            registry.unregister(&staging);
            if let Some(aside) = aside {
                cleanup::remove(&aside);
                registry.unregister(&aside);
            }
            Ok(())
        })
    }
}

impl Drop for Prepared {
    /// A staged directory that was not committed (an error on the way) is removed.
    fn drop(&mut self) {
        cleanup::discard(&self.staging);
    }
}

/// A scratch directory in the system's temporary directory, removed when dropped or when the
/// process is interrupted.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    pub fn new() -> Result<ScratchDir, OutputError> {
        let path = temp_beside(&std::env::temp_dir(), "new");
        cleanup::register(&path);
        std::fs::create_dir(&path).map_err(io(&path))?;
        Ok(ScratchDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        cleanup::discard(&self.0);
    }
}

/// Writes `files` (relative paths) under `dir`, creating subdirectories; files and
/// directories get the permissions the umask allows.
pub fn write_files(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<(), OutputError> {
    for (rel, bytes) in files {
        let path = dir.join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(io(p))?;
        }
        std::fs::write(&path, bytes).map_err(io(&path))?;
    }
    Ok(())
}

/// A file about to be written in place of `path`: a temporary file beside it, created at once
/// (so that an unwritable place is found before any work) and renamed over `path` when the
/// content is ready.
pub struct PreparedFile {
    path: PathBuf,
    temp: PathBuf,
}

impl PreparedFile {
    /// Creates the temporary file beside `path` (with the permissions the umask allows).
    pub fn new(path: &Path) -> Result<PreparedFile, OutputError> {
        if path.is_dir() {
            return Err(OutputError::Refused(
                path.to_path_buf(),
                "it is a directory".into(),
            ));
        }
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let temp = temp_beside(&parent, "tmp");
        cleanup::register(&temp);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(io(path))?;
        Ok(PreparedFile {
            path: path.to_path_buf(),
            temp,
        })
    }

    /// Writes `bytes` and renames the file into place.
    pub fn commit(self, bytes: &[u8]) -> Result<(), OutputError> {
        std::fs::write(&self.temp, bytes).map_err(io(&self.path))?;
        std::fs::rename(&self.temp, &self.path).map_err(io(&self.path))?;
        Ok(())
    }
}

impl Drop for PreparedFile {
    fn drop(&mut self) {
        cleanup::discard(&self.temp);
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so
/// that the file is either the old one or the new one, never half written.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    PreparedFile::new(path)?.commit(bytes)
}

/// Recomputes the metrics of the run in `dir` from its files alone and writes `metrics.csv`,
/// `report.md`, `report.html`, and the metrics into `summary.json`.
pub fn write_reports(dir: &Path) -> Result<mimimi_analysis::model::Analysis, OutputError> {
    let analysis = mimimi_analysis::metrics::analyze_dir(dir)
        .map_err(|e| OutputError::Analysis(e.to_string()))?;
    write_atomic(
        &dir.join("metrics.csv"),
        &mimimi_analysis::report::metrics_csv(&analysis),
    )?;
    write_atomic(
        &dir.join("curves.csv"),
        &mimimi_analysis::report::curves_csv(&analysis),
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

/// The metrics as nested JSON: mode -> adversary -> observer -> scope -> metric -> value, `null` for a
/// metric taken over nothing (n/a).
fn metrics_json(a: &mimimi_analysis::model::Analysis) -> serde_json::Value {
    fn child<'v>(parent: &'v mut serde_json::Value, key: &str) -> &'v mut serde_json::Value {
        parent
            .as_object_mut()
            .expect("objects only")
            .entry(key.to_string())
            .or_insert_with(|| serde_json::Value::Object(Default::default()))
    }
    let mut root = serde_json::Value::Object(Default::default());
    for m in &a.metrics {
        let scope = child(
            child(child(child(&mut root, &m.mode), &m.adversary), &m.observer),
            m.scope.as_str(),
        );
        scope
            .as_object_mut()
            .expect("objects only")
            .insert(m.metric.clone(), serde_json::json!(m.value));
    }
    root
}

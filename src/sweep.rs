//! `mimimi-sim sweep`: a scenario over a grid of parameter values and seeds, in parallel, with
//! resumable per-run results, deterministic shards and a merge.
//!
//! A sweep's output directory holds `sweep.json` (what was swept: tool version, scenario file
//! and SHA-256, parameters and their values, seeds, and the shard when there is one),
//! `runs/` (one CSV per run, the rows of `sweep.csv` for it, written as each run ends),
//! and, once every run of the grid is there, `sweep.csv`, `aggregate.csv`, `sweep.md` and
//! `sweep.html`. A sweep started again with the same arguments reuses the runs already
//! written; a shard (`--shard K/N`) runs every N-th run of the grid from the K-th and writes
//! `sweep.json` and `runs/` only; [`merge`] combines shards into exactly the files the sweep
//! run whole writes.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use mimimi_analysis::model::Analysis;
use mimimi_analysis::sweep::{self as agg, SweepRow};
use serde::{Deserialize, Serialize};

use crate::output::{self, OutputError};
use crate::scenario::{self, Override, ScenarioError};
use crate::world::{self, RunError};

/// Why a sweep stopped.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// Bad arguments or scenario (exit 2); the message is complete and positioned.
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("error: {0}")]
    Output(#[from] OutputError),
    /// A run failed (exit 1).
    #[error("error: run {what} failed: {error}")]
    Run { what: String, error: Box<RunError> },
}

/// One swept parameter: a key and its values, in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parameter {
    pub key: String,
    /// The values as given on the command line.
    pub values: Vec<String>,
}

/// `--shard K/N`: the runs whose index modulo N is K-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: usize,
    pub n: usize,
}

impl Shard {
    /// Parses `K/N` with 1 <= K <= N.
    pub fn parse(s: &str) -> Result<Shard, SweepError> {
        let bad = |column: usize, message: &str| {
            SweepError::Input(format!(
                "--shard {s}:1:{column}: error: {message}\n  hint: write K/N with 1 <= K <= N, \
                 e.g. --shard 2/3 for the second of three shards"
            ))
        };
        let Some((k, n)) = s.split_once('/') else {
            return Err(bad(1, "expected K/N"));
        };
        let k: usize = k
            .trim()
            .parse()
            .map_err(|_| bad(1, "K is not a whole number"))?;
        let n: usize = n
            .trim()
            .parse()
            .map_err(|_| bad(s.find('/').unwrap_or(0) + 2, "N is not a whole number"))?;
        if n == 0 {
            return Err(bad(s.find('/').unwrap_or(0) + 2, "N must be at least 1"));
        }
        if k == 0 || k > n {
            return Err(bad(1, &format!("shard {k} of {n} does not exist")));
        }
        Ok(Shard { k, n })
    }

    fn holds(&self, index: usize) -> bool {
        index % self.n == self.k - 1
    }
}

/// What a sweep is: recorded as `sweep.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub tool_version: String,
    pub scenario: String,
    pub scenario_file: String,
    pub scenario_sha256: String,
    pub parameters: Vec<Parameter>,
    pub seeds: Vec<u64>,
    pub runs: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
}

/// A sweep ready to run: the grid, checked.
pub struct Plan {
    pub manifest: Manifest,
    file: PathBuf,
    /// Each cell of the grid: an index into every parameter's values.
    cells: Vec<Vec<usize>>,
    /// Every parameter's values as overrides (`KEY=VALUE` read back from the manifest).
    overrides: Vec<Vec<Override>>,
    shard: Option<Shard>,
}

/// One run of the grid.
struct RunSpec {
    index: usize,
    cell: usize,
    seed: u64,
}

impl Plan {
    /// Checks the arguments and loads the scenario with every value of every parameter (and
    /// the first seed), so that a bad value is reported before anything runs.
    pub fn new(
        file: &Path,
        set: &[String],
        seeds: Option<Vec<u64>>,
        shard: Option<Shard>,
    ) -> Result<Plan, SweepError> {
        let mut parameters: Vec<Parameter> = vec![];
        for arg in set {
            let overrides = scenario::parse_values(arg)?;
            let key = overrides[0].key.clone();
            if key == "seed" {
                return Err(SweepError::Input(format!(
                    "--set {arg}:1:1: error: a sweep takes its seeds from --seeds\n  hint: \
                     write --seeds FIRST..LAST, or --seeds N for one"
                )));
            }
            if parameters.iter().any(|p| p.key == key) {
                return Err(SweepError::Input(format!(
                    "--set {arg}:1:1: error: `{key}` is swept twice\n  hint: give all its \
                     values in one --set, separated by commas"
                )));
            }
            parameters.push(Parameter {
                key,
                values: overrides
                    .iter()
                    .map(|o| o.arg.split_once('=').map_or("", |(_, v)| v).to_string())
                    .collect(),
            });
        }
        let base = scenario::load(file)?;
        let seeds = seeds.unwrap_or_else(|| vec![base.seed]);
        let manifest = Manifest {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            scenario: base.name.clone(),
            scenario_file: file.display().to_string(),
            scenario_sha256: base.sha256.clone(),
            runs: grid_cells(&parameters).len() * seeds.len(),
            parameters,
            seeds,
            shard: shard.map(|s| format!("{}/{}", s.k, s.n)),
        };
        let plan = Plan::from_manifest(manifest, shard)?;
        // Every value on its own, with the others' first values: a bad one is named.
        for (i, values) in plan.overrides.iter().enumerate() {
            for o in values {
                let mut with: Vec<Override> = plan
                    .overrides
                    .iter()
                    .enumerate()
                    .map(|(j, q)| if i == j { o.clone() } else { q[0].clone() })
                    .collect();
                with.push(Override::new("seed", &plan.manifest.seeds[0].to_string()));
                scenario::load_with(file, &with)?;
            }
        }
        Ok(plan)
    }

    /// The plan a manifest describes; the scenario is not read (merging reads none).
    fn from_manifest(manifest: Manifest, shard: Option<Shard>) -> Result<Plan, SweepError> {
        let overrides = manifest
            .parameters
            .iter()
            .map(|p| {
                p.values
                    .iter()
                    .map(|v| Override::parse(&format!("{}={v}", p.key)))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Plan {
            file: PathBuf::from(&manifest.scenario_file),
            cells: grid_cells(&manifest.parameters),
            overrides,
            manifest,
            shard,
        })
    }

    /// The parameter names, the columns of `sweep.csv`.
    pub fn param_names(&self) -> Vec<String> {
        self.manifest
            .parameters
            .iter()
            .map(|p| p.key.clone())
            .collect()
    }

    /// Every run of the grid in order: cells in the order of the parameters (the first
    /// slowest), seeds within a cell.
    fn grid(&self) -> Vec<RunSpec> {
        let mut out = vec![];
        for cell in 0..self.cells.len() {
            for &seed in &self.manifest.seeds {
                out.push(RunSpec {
                    index: out.len(),
                    cell,
                    seed,
                });
            }
        }
        out
    }

    /// The runs of this shard.
    pub fn runs_here(&self) -> usize {
        self.grid()
            .iter()
            .filter(|r| self.shard.is_none_or(|s| s.holds(r.index)))
            .count()
    }

    fn run_file(&self, dir: &Path, r: &RunSpec) -> PathBuf {
        let width = self.manifest.runs.to_string().len();
        dir.join("runs")
            .join(format!("{:0width$}-seed-{}.csv", r.index + 1, r.seed))
    }

    fn overrides(&self, r: &RunSpec) -> Vec<Override> {
        let mut o: Vec<Override> = self
            .overrides
            .iter()
            .zip(&self.cells[r.cell])
            .map(|(values, &v)| values[v].clone())
            .collect();
        o.push(Override::new("seed", &r.seed.to_string()));
        o
    }

    fn values(&self, r: &RunSpec) -> Vec<String> {
        self.manifest
            .parameters
            .iter()
            .zip(&self.cells[r.cell])
            .map(|(p, &v)| p.values[v].clone())
            .collect()
    }

    fn describe(&self, r: &RunSpec) -> String {
        let mut parts: Vec<String> = self
            .manifest
            .parameters
            .iter()
            .zip(&self.cells[r.cell])
            .map(|(p, &v)| format!("{}={}", p.key, p.values[v]))
            .collect();
        parts.push(format!("seed {}", r.seed));
        parts.join(", ")
    }
}

/// Every combination of the parameters' value indices, the first parameter slowest.
fn grid_cells(parameters: &[Parameter]) -> Vec<Vec<usize>> {
    let mut cells: Vec<Vec<usize>> = vec![vec![]];
    for p in parameters {
        cells = cells
            .into_iter()
            .flat_map(|c| {
                (0..p.values.len()).map(move |v| {
                    let mut c = c.clone();
                    c.push(v);
                    c
                })
            })
            .collect();
    }
    cells
}

/// The rows of `sweep.csv` for one run's analysis.
pub fn rows(a: &Analysis, params: &[String]) -> Vec<SweepRow> {
    a.metrics
        .iter()
        .map(|m| SweepRow {
            scenario: a.scenario.clone(),
            params: params.to_vec(),
            seed: a.seed,
            run: a.run,
            mode: m.mode.clone(),
            adversary: m.adversary.clone(),
            observer: m.observer.clone(),
            observer_kind: if m.observer == "all" {
                "all"
            } else if a.coalitions.contains(&m.observer) {
                "coalition"
            } else {
                "provider"
            }
            .to_string(),
            scope: m.scope.as_str().to_string(),
            metric: m.metric.clone(),
            value: m.value,
            numerator: m.numerator,
            denominator: m.denominator,
        })
        .collect()
}

/// Reads `sweep.json` of a directory, if there is one.
fn read_manifest(dir: &Path) -> Result<Option<Manifest>, SweepError> {
    let path = dir.join("sweep.json");
    match std::fs::read(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(SweepError::Input(format!(
            "{}: error: cannot read: {e}",
            path.display()
        ))),
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            SweepError::Input(format!(
                "{}: error: not a sweep manifest: {e}",
                path.display()
            ))
        }),
    }
}

fn manifest_json(m: &Manifest) -> Vec<u8> {
    let mut s = serde_json::to_string_pretty(m).expect("manifest serializes");
    s.push('\n');
    s.into_bytes()
}

/// The same sweep, shard aside.
fn same_sweep(a: &Manifest, b: &Manifest) -> bool {
    let unsharded = |m: &Manifest| Manifest {
        shard: None,
        ..m.clone()
    };
    unsharded(a) == unsharded(b)
}

/// Prepares `dir` for the plan: a new directory, or one holding the same sweep (whose runs
/// are reused). Anything else is refused.
fn prepare(dir: &Path, plan: &Plan) -> Result<(), SweepError> {
    match read_manifest(dir)? {
        Some(m) if same_sweep(&m, &plan.manifest) => {}
        Some(_) => {
            return Err(SweepError::Input(format!(
                "{}: error: holds another sweep (its sweep.json differs: scenario, parameters, \
                 seeds or tool version)\n  hint: choose another --out, or remove the directory",
                dir.display()
            )))
        }
        None => {
            if dir.exists()
                && std::fs::read_dir(dir)
                    .map(|mut d| d.next().is_some())
                    .unwrap_or(true)
            {
                return Err(SweepError::Input(format!(
                    "{}: error: exists and is not a sweep directory\n  hint: choose another \
                     --out, or remove the directory",
                    dir.display()
                )));
            }
        }
    }
    let io = |p: &Path, e: std::io::Error| {
        SweepError::Input(format!("{}: error: cannot create: {e}", p.display()))
    };
    std::fs::create_dir_all(dir.join("runs")).map_err(|e| io(dir, e))?;
    output::write_atomic(&dir.join("sweep.json"), &manifest_json(&plan.manifest))?;
    Ok(())
}

/// Runs the plan's runs that `dir` does not hold yet, `jobs` at a time; `progress(done,
/// total)` after each. Returns how many were run and how many reused.
pub fn run(
    plan: &Plan,
    dir: &Path,
    jobs: usize,
    progress: impl Fn(usize, usize) + Sync,
) -> Result<(usize, usize), SweepError> {
    prepare(dir, plan)?;
    let names = plan.param_names();
    let todo: Vec<RunSpec> = plan
        .grid()
        .into_iter()
        .filter(|r| plan.shard.is_none_or(|s| s.holds(r.index)))
        .collect();
    let total = todo.len();
    let (pending, reused): (Vec<&RunSpec>, Vec<&RunSpec>) = todo
        .iter()
        .partition(|r| read_run(&plan.run_file(dir, r)).is_none());
    let done = AtomicUsize::new(reused.len());
    progress(reused.len(), total);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let error: Mutex<Option<SweepError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1).min(pending.len().max(1)) {
            scope.spawn(|| loop {
                if failed.load(Ordering::SeqCst) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(r) = pending.get(i) else { return };
                let result = one(plan, dir, r, &names);
                if let Err(e) = result {
                    failed.store(true, Ordering::SeqCst);
                    error.lock().expect("no panic holds it").get_or_insert(e);
                    return;
                }
                progress(done.fetch_add(1, Ordering::SeqCst) + 1, total);
            });
        }
    });
    if let Some(e) = error.into_inner().expect("no panic holds it") {
        return Err(e);
    }
    Ok((pending.len(), reused.len()))
}

/// One run: load, simulate, analyse, write its rows.
fn one(plan: &Plan, dir: &Path, r: &RunSpec, names: &[String]) -> Result<(), SweepError> {
    let s = scenario::load_with(&plan.file, &plan.overrides(r))?;
    // One mode at a time: the sweep runs as many runs at once as it has jobs.
    let analysis =
        crate::check::analyse_with(&s, s.seed, 1, world::Decrypt::Needed).map_err(|e| match e {
            crate::check::CheckError::Run(error) => SweepError::Run {
                what: plan.describe(r),
                error,
            },
            crate::check::CheckError::Output(o) => SweepError::Output(o),
            other => SweepError::Input(format!("error: {other}")),
        })?;
    let rows = rows(&analysis, &plan.values(r));
    output::write_atomic(&plan.run_file(dir, r), &agg::sweep_csv(names, &rows))?;
    Ok(())
}

/// A run's rows, if its file is there and whole.
fn read_run(path: &Path) -> Option<Vec<SweepRow>> {
    let bytes = std::fs::read(path).ok()?;
    agg::parse_sweep_csv(&bytes).ok().map(|(_, rows)| rows)
}

/// Writes `sweep.csv`, `aggregate.csv`, `sweep.md` and `sweep.html` from the runs in `dir`,
/// which must hold every run of the grid.
pub fn finish(plan: &Plan, dir: &Path) -> Result<(), SweepError> {
    let names = plan.param_names();
    let mut rows = vec![];
    for r in plan.grid() {
        let path = plan.run_file(dir, &r);
        let Some(run_rows) = read_run(&path) else {
            return Err(SweepError::Input(format!(
                "{}: error: run {} ({}) is missing",
                dir.display(),
                r.index + 1,
                plan.describe(&r)
            )));
        };
        rows.extend(run_rows);
    }
    let (md, html) = agg::report(
        &names,
        &rows,
        &format!("Sweep of {}", plan.manifest.scenario),
    );
    output::write_atomic(&dir.join("sweep.csv"), &agg::sweep_csv(&names, &rows))?;
    output::write_atomic(
        &dir.join("aggregate.csv"),
        &agg::aggregate_csv(&names, &rows),
    )?;
    output::write_atomic(&dir.join("sweep.md"), md.as_bytes())?;
    output::write_atomic(&dir.join("sweep.html"), html.as_bytes())?;
    Ok(())
}

/// Combines the shard directories `dirs` of one sweep into `out`: the runs, `sweep.json`
/// without the shard, and the files [`finish`] writes, byte for byte those of the sweep run
/// whole.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<(), SweepError> {
    let mut manifest: Option<(Manifest, &Path)> = None;
    for d in dirs {
        let Some(m) = read_manifest(d)? else {
            return Err(SweepError::Input(format!(
                "{}: error: not a sweep directory (no sweep.json)",
                d.display()
            )));
        };
        match &manifest {
            None => manifest = Some((m, d)),
            Some((first, first_dir)) if !same_sweep(first, &m) => {
                return Err(SweepError::Input(format!(
                    "{}: error: holds another sweep than {} (their sweep.json differ beyond \
                     the shard)",
                    d.display(),
                    first_dir.display()
                )))
            }
            Some(_) => {}
        }
    }
    let Some((mut m, _)) = manifest else {
        return Err(SweepError::Input("error: no directory to merge".into()));
    };
    m.shard = None;
    let plan = Plan::from_manifest(m, None)?;
    prepare(out, &plan)?;
    for r in plan.grid() {
        let target = plan.run_file(out, &r);
        if read_run(&target).is_some() {
            continue;
        }
        let found = dirs
            .iter()
            .map(|d| plan.run_file(d, &r))
            .find(|p| read_run(p).is_some());
        let Some(found) = found else {
            return Err(SweepError::Input(format!(
                "error: run {} ({}) is in none of the directories merged\n  hint: run the shard \
                 that holds it (or the sweep again with the same arguments: it resumes)",
                r.index + 1,
                plan.describe(&r)
            )));
        };
        let bytes = std::fs::read(&found).map_err(|e| {
            SweepError::Input(format!("{}: error: cannot read: {e}", found.display()))
        })?;
        output::write_atomic(&target, &bytes)?;
    }
    finish(&plan, out)
}

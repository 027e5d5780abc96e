//! The `mimimi-sim` command line.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use mimimi_sim::check::{self, CheckError};
use mimimi_sim::observe::Format;
use mimimi_sim::output::{self, OutputError};
use mimimi_sim::scenario::{self, ScenarioError};
use mimimi_sim::sweep;
use mimimi_sim::world::{self, RunError};

/// `print!` to standard output. When the reader has gone (`mimimi-sim validate F | head -1`),
/// the process ends with status 141, as one killed by SIGPIPE would, instead of panicking;
/// any other write error ends it with status 2 and a message.
macro_rules! out {
    ($($arg:tt)*) => {
        emit(format_args!($($arg)*))
    };
}

/// `println!` to standard output, as [`out!`].
macro_rules! outln {
    ($($arg:tt)*) => {
        emit(format_args!("{}\n", format_args!($($arg)*)))
    };
}

fn emit(args: std::fmt::Arguments) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(2);
    }
}

const EXIT_CODES: &str = "Exit status: 0 success; 1 a run failed or a privacy bound does not \
                          hold; 2 invalid input or usage (a bad scenario, an unreadable file, an \
                          output that cannot be written); 141 standard output closed by its \
                          reader.";

/// Measures how much metadata a MIMI deployment leaks to its providers and hubs.
#[derive(Parser)]
#[command(version, about, long_about = None, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate a scenario and write observations, ground truth, metrics and reports.
    #[command(after_help = EXIT_CODES)]
    Run {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Seed for every random choice (default: the scenario's `seed`); with a
        /// [population] table, also the seed of the generated world.
        #[arg(long)]
        seed: Option<u64>,
        /// Override a scenario key or population parameter: KEY=VALUE (e.g. key_package_sets=8,
        /// population.users=200, adversary.directory=true); repeatable, the last of a key wins.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Run number: another independent run with the same seed (and the same world).
        #[arg(long, default_value_t = 0)]
        run: u64,
        /// Output directory (default: reports/<scenario name>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Modes simulated at once, each on a thread (default: the number of cores). The
        /// outputs are the same for any number.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
        jobs: Option<u32>,
        /// Which application messages recipient clients decrypt: `all` (default), or `needed`
        /// (only what a client acts on: commits, Welcomes, connection-room messages). Both give
        /// the same observations, metrics and fingerprints; only the decryption counters in
        /// summary.json (and the MLS operations the report's costs show) differ.
        #[arg(long, value_enum, default_value_t = DecryptArg::All)]
        decrypt: DecryptArg,
        /// File format of each mode's observation log, written as the run goes: `csv`
        /// (observations.csv, the default) or `parquet` (observations.parquet, typed and
        /// compressed, for logs of hundreds of MB; read by pandas, polars and `report`). The
        /// other files are CSV either way, and the fingerprint is the same.
        #[arg(long, value_enum, default_value_t = FormatArg::Csv)]
        format: FormatArg,
        /// Also replace an earlier output of another scenario. An earlier output of the same
        /// scenario is always replaced; a directory holding anything a run did not write is
        /// never replaced.
        #[arg(long)]
        force: bool,
    },
    /// Check a scenario file without running it, and estimate the work a run will do.
    #[command(after_help = EXIT_CODES)]
    Validate {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Override a scenario key or population parameter: KEY=VALUE (e.g. key_package_sets=8,
        /// population.users=200, adversary.directory=true); repeatable, the last of a key wins.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Write a scenario with its [population] generated and its --set overrides applied, as a
    /// scenario file that replays the same run.
    #[command(after_help = EXIT_CODES)]
    Generate {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Seed of the generated world (default: the scenario's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Override a scenario key or population parameter: KEY=VALUE (e.g. key_package_sets=8,
        /// population.users=200, adversary.directory=true); repeatable, the last of a key wins.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run scenarios and hold their metrics to their [[expect]] bounds.
    #[command(after_help = EXIT_CODES)]
    Check {
        /// Scenario files, or directories whose *.toml files are checked (files without
        /// [[expect]] tables are skipped and listed).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Seeds to run each scenario with: one (7) or an inclusive range (1..5); default:
        /// each scenario's own seed.
        #[arg(long)]
        seeds: Option<String>,
        /// Override, in every scenario, a scenario key or population parameter: KEY=VALUE (e.g. key_package_sets=8,
        /// population.users=200, adversary.directory=true); repeatable, the last of a key wins.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Also write the results as JUnit XML to this file.
        #[arg(long)]
        junit: Option<PathBuf>,
    },
    /// Run a scenario over a grid of parameter values and seeds, in parallel; write every
    /// run's metrics (sweep.csv), their mean and 95 % confidence interval per cell
    /// (aggregate.csv) and a report with a chart per headline metric and parameter
    /// (sweep.html, sweep.md). Started again with the same arguments, it reuses the runs
    /// already written.
    #[command(after_help = EXIT_CODES)]
    Sweep {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// A parameter and its values: KEY=V1,V2,... (commas inside brackets or quotes do not
        /// split); repeatable, the grid is every combination.
        #[arg(long = "set", value_name = "KEY=V1,V2,...")]
        set: Vec<String>,
        /// Seeds: one (7) or an inclusive range (1..10); default the scenario's seed.
        #[arg(long)]
        seeds: Option<String>,
        /// Runs at once, each on a thread (default: the number of cores); the outputs are the
        /// same for any number.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
        jobs: Option<u32>,
        /// Output directory (default: reports/<scenario name>-sweep/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Run only the K-th of N deterministic slices of the grid (K/N, 1 <= K <= N), for a
        /// batch scheduler's array job; combine the shards with `merge`.
        #[arg(long, value_name = "K/N")]
        shard: Option<String>,
    },
    /// Combine the shard directories of one sweep into the files the sweep run whole writes.
    #[command(after_help = EXIT_CODES)]
    Merge {
        /// Shard directories written by `sweep --shard K/N`.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the provenance and metrics that differ between two run directories or two sweep
    /// directories. Exit status 0 when no metric differs, 1 when one does.
    #[command(after_help = EXIT_CODES)]
    Diff {
        /// A run or sweep directory.
        a: PathBuf,
        /// Another of the same kind.
        b: PathBuf,
    },
    /// Recompute metrics.csv, report.md, report.html and the metrics in summary.json from the
    /// observation logs and ground truth of a run directory alone.
    #[command(after_help = EXIT_CODES)]
    Report {
        /// A directory written by `run`.
        dir: PathBuf,
    },
}

/// `--decrypt`: [`world::Decrypt`] on the command line.
#[derive(Clone, Copy, clap::ValueEnum)]
enum DecryptArg {
    All,
    Needed,
}

/// `--format`: [`Format`] on the command line.
#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Csv,
    Parquet,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Csv => Format::Csv,
            FormatArg::Parquet => Format::Parquet,
        }
    }
}

impl From<DecryptArg> for world::Decrypt {
    fn from(d: DecryptArg) -> Self {
        match d {
            DecryptArg::All => world::Decrypt::All,
            DecryptArg::Needed => world::Decrypt::Needed,
        }
    }
}

/// Why a command stopped, with its exit status: 1 when a run or a bound failed, 2 when the
/// input or the usage is at fault. The message is complete (`FILE:LINE:COL: error: ...` or
/// `error: ...`).
enum Failure {
    Failed(String),
    Input(String),
}

impl From<ScenarioError> for Failure {
    fn from(e: ScenarioError) -> Self {
        Failure::Input(e.to_string())
    }
}

impl From<OutputError> for Failure {
    fn from(e: OutputError) -> Self {
        Failure::Input(format!("error: {e}"))
    }
}

impl From<Box<RunError>> for Failure {
    fn from(e: Box<RunError>) -> Self {
        match &e.error {
            // An output that cannot be written is the environment's fault, not the run's.
            world::SimError::Log(log) => Failure::Input(format!("error: {log}")),
            _ => Failure::Failed(e.to_string()),
        }
    }
}

impl From<CheckError> for Failure {
    fn from(e: CheckError) -> Self {
        match e {
            CheckError::Run(r) => r.into(),
            CheckError::Scenario(s) => s.into(),
            CheckError::Output(o) => o.into(),
            path @ CheckError::Path(..) => Failure::Input(path.to_string()),
            other => Failure::Input(format!("error: {other}")),
        }
    }
}

fn main() -> ExitCode {
    mimimi_sim::cleanup::install_signal_handler();
    let result = match Cli::parse().command {
        Command::Check {
            paths,
            seeds,
            set,
            junit,
        } => check(&paths, seeds.as_deref(), &set, junit.as_deref()),
        Command::Validate { scenario, set } => validate(&scenario, &set),
        Command::Generate {
            scenario,
            seed,
            set,
            out,
        } => generate(&scenario, seed, &set, out.as_deref()),
        Command::Report { dir } => report(&dir),
        Command::Sweep {
            scenario,
            set,
            seeds,
            jobs,
            out,
            shard,
        } => sweep(
            &scenario,
            &set,
            seeds.as_deref(),
            jobs.map_or_else(world::default_jobs, |j| j as usize),
            out,
            shard.as_deref(),
        ),
        Command::Merge { dirs, out } => merge(&dirs, &out),
        Command::Diff { a, b } => diff(&a, &b),
        Command::Run {
            scenario,
            seed,
            set,
            run: r,
            out,
            jobs,
            decrypt,
            format,
            force,
        } => {
            let options = world::RunOptions {
                jobs: jobs.map_or_else(world::default_jobs, |j| j as usize),
                decrypt: decrypt.into(),
                log_to: None,
            };
            run(&scenario, seed, &set, r, out, options, format.into(), force)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Failed(m)) => {
            if !m.is_empty() {
                eprintln!("{m}");
            }
            ExitCode::from(1)
        }
        Err(Failure::Input(m)) => {
            eprintln!("{m}");
            ExitCode::from(2)
        }
    }
}

/// `check`: prints the table of every bound, then the failures; exit 1 when one fails.
fn check(
    paths: &[PathBuf],
    seeds: Option<&str>,
    set: &[String],
    junit: Option<&Path>,
) -> Result<(), Failure> {
    let seeds = seeds.map(check::parse_seeds).transpose()?;
    let overrides = overrides(set, None)?;
    // Where the JUnit file goes is checked before anything runs.
    let junit = junit.map(output::PreparedFile::new).transpose()?;
    let plan = check::plan(paths, &overrides)?;
    for (file, why) in &plan.skipped {
        eprintln!("{}: skipped: {why}", file.display());
    }
    let outcomes = check::check(&plan.scenarios, seeds.as_deref(), &overrides)?;
    // Written before anything is printed, so that a closed standard output loses no file.
    let written = junit.map(|j| check::write_junit(j, &outcomes)).transpose();
    out!("{}", check::table(&outcomes));
    let failed: Vec<_> = outcomes.iter().filter(|o| !o.passed).collect();
    outln!(
        "{} of {} bounds hold",
        outcomes.len() - failed.len(),
        outcomes.len()
    );
    for f in &failed {
        eprintln!(
            "FAIL {} for {} (seed {}): measured {}{}",
            f.expectation,
            f.observer,
            f.seed,
            f.value
                .map_or_else(|| "nothing".into(), mimimi_analysis::report::fmt_num),
            f.why
                .as_deref()
                .map(|w| format!(" — {w}"))
                .unwrap_or_default()
        );
    }
    if !failed.is_empty() {
        if let Err(e) = written {
            eprintln!("error: {e}");
        }
        return Err(Failure::Failed(format!(
            "error: {} of {} bounds do not hold",
            failed.len(),
            outcomes.len()
        )));
    }
    written?;
    Ok(())
}

/// The `--set` arguments, and `--seed` as the override `seed=N`.
fn overrides(set: &[String], seed: Option<u64>) -> Result<Vec<scenario::Override>, Failure> {
    let mut out = set
        .iter()
        .map(|a| scenario::Override::parse(a))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(seed) = seed {
        out.push(scenario::Override::new("seed", &seed.to_string()));
    }
    Ok(out)
}

fn generate(
    scenario: &Path,
    seed: Option<u64>,
    set: &[String],
    out: Option<&Path>,
) -> Result<(), Failure> {
    let text = scenario::load_expanded(scenario, &overrides(set, seed)?)?;
    match out {
        None => out!("{text}"),
        Some(path) => {
            output::write_atomic(path, text.as_bytes())?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// A duration for people: exact when it is a whole number of a unit (`90s`, `2h`), else in
/// hours, minutes and seconds (`1h 57m 1.48s` for 7021480ms).
fn readable_duration(us: u64) -> String {
    let exact = scenario::format_duration(us);
    if us < 60_000_000 || !(exact.ends_with("ms") || exact.ends_with("us")) {
        return exact;
    }
    let (h, rest) = (us / 3_600_000_000, us % 3_600_000_000);
    let (m, rest) = (rest / 60_000_000, rest % 60_000_000);
    let seconds = mimimi_analysis::report::fmt_num(rest as f64 / 1e6);
    let mut parts = vec![];
    if h > 0 {
        parts.push(format!("{h}h"));
    }
    if m > 0 || h > 0 {
        parts.push(format!("{m}m"));
    }
    parts.push(format!("{seconds}s"));
    parts.join(" ")
}

fn validate(scenario: &Path, set: &[String]) -> Result<(), Failure> {
    let s = scenario::load_with(scenario, &overrides(set, None)?)?;
    outln!(
        "{}: ok ({} providers, {} users, {} actions, {} of simulated time)",
        scenario.display(),
        s.providers.len(),
        s.users.len(),
        s.actions.len(),
        readable_duration(s.end_us()),
    );
    outln!("estimated work (a model of the flows, typically within a factor of 2):");
    for (mode, e) in scenario::estimate(&s) {
        outln!(
            "  {mode:<16} about {:>12} events, {:>12} MLS operations",
            e.events,
            e.mls_operations
        );
    }
    Ok(())
}

impl From<sweep::SweepError> for Failure {
    fn from(e: sweep::SweepError) -> Self {
        match e {
            sweep::SweepError::Run { .. } => Failure::Failed(e.to_string()),
            other => Failure::Input(other.to_string()),
        }
    }
}

fn sweep(
    scenario: &Path,
    set: &[String],
    seeds: Option<&str>,
    jobs: usize,
    out: Option<PathBuf>,
    shard: Option<&str>,
) -> Result<(), Failure> {
    let seeds = seeds.map(check::parse_seeds).transpose()?;
    let shard = shard.map(sweep::Shard::parse).transpose()?;
    let plan = sweep::Plan::new(scenario, set, seeds, shard)?;
    let out = out.unwrap_or_else(|| {
        PathBuf::from("reports").join(format!("{}-sweep", plan.manifest.scenario))
    });
    let bar = ProgressBar::new(plan.runs_here() as u64);
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:40}] {pos}/{len} runs {elapsed}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix("sweep");
    let (ran, reused) = sweep::run(&plan, &out, jobs, |done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    outln!(
        "{} runs: {ran} run now, {reused} reused from {}",
        ran + reused,
        out.display()
    );
    if shard.is_some() {
        outln!(
            "shard {} written; combine the shards with `mimimi-sim merge DIR... --out DIR`",
            plan.manifest.shard.as_deref().unwrap_or("")
        );
        return Ok(());
    }
    sweep::finish(&plan, &out)?;
    outln!("wrote {}", out.join("sweep.csv").display());
    outln!("report: {}", out.join("sweep.html").display());
    Ok(())
}

fn merge(dirs: &[PathBuf], out: &Path) -> Result<(), Failure> {
    sweep::merge(dirs, out)?;
    outln!("wrote {}", out.join("sweep.csv").display());
    outln!("report: {}", out.join("sweep.html").display());
    Ok(())
}

fn diff(a: &Path, b: &Path) -> Result<(), Failure> {
    let d = mimimi_sim::diff::diff(a, b).map_err(Failure::Input)?;
    for line in &d.provenance {
        outln!("provenance {line}");
    }
    for line in &d.metrics {
        outln!("{line}");
    }
    outln!("{} of {} metrics differ", d.metrics.len(), d.compared);
    if d.metrics.is_empty() {
        Ok(())
    } else {
        Err(Failure::Failed(String::new()))
    }
}

fn report(dir: &Path) -> Result<(), Failure> {
    // Only a run's own directory is rewritten.
    let not_a_run = |what: String| {
        Failure::Input(format!(
            "{}: error: not a run directory: {what}; a run directory holds summary.json, \
             metrics.csv, the reports and one directory per mode, as `run` writes them",
            dir.display()
        ))
    };
    match output::existing(dir)? {
        output::Existing::Output { .. } => {}
        output::Existing::Empty => return Err(not_a_run("it is empty or missing".into())),
        output::Existing::Other { example } => {
            return Err(not_a_run(format!("it holds {example}")))
        }
    }
    output::write_reports(dir)?;
    outln!("wrote {}", dir.join("report.html").display());
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn run(
    scenario: &Path,
    seed: Option<u64>,
    set: &[String],
    run: u64,
    out: Option<PathBuf>,
    mut options: world::RunOptions,
    format: Format,
    force: bool,
) -> Result<(), Failure> {
    let s = scenario::load_with(scenario, &overrides(set, seed)?)?;
    let seed = s.seed;
    let out = out.unwrap_or_else(|| PathBuf::from("reports").join(&s.name));
    // Where the results go is checked, and staged, before the simulation.
    let prepared = output::Prepared::new(&out, &s.name, scenario, force)?;
    let bars = MultiProgress::new();
    if !std::io::stderr().is_terminal() {
        bars.set_draw_target(ProgressDrawTarget::hidden());
    }
    let progress: Vec<ProgressBar> = s
        .modes
        .iter()
        .map(|mode| bars.add(progress_bar(&mode.name, s.end_us())))
        .collect();
    // Each mode's observation log goes straight to the staged directory as the run goes.
    options.log_to = Some((prepared.dir().to_path_buf(), format));
    let outputs = world::run_modes(&s, seed, run, &options, |i, now| {
        progress[i].set_position(now)
    })?;
    for bar in &progress {
        bar.finish_and_clear();
    }
    let results = output::mode_results(&s, outputs);
    prepared.write(&output::run_files(&s, seed, run, &results))?;
    // The analysis reads the files back; the simulation's outputs are not needed for it.
    let fingerprints: Vec<(String, String)> = results
        .into_iter()
        .map(|r| (r.mode, r.fingerprint))
        .collect();
    let analysis = output::write_reports(prepared.dir())?;
    prepared.commit()?;
    out!("{}", mimimi_analysis::report::headline_text(&analysis));
    outln!("wrote {}", out.display());
    outln!("report: {}", out.join("report.html").display());
    for (mode, fingerprint) in &fingerprints {
        outln!("fingerprint {mode} {fingerprint}");
    }
    Ok(())
}

/// A progress bar over virtual time (drawn by the caller's `MultiProgress` only when stderr is
/// a terminal).
fn progress_bar(mode: &str, end_us: u64) -> ProgressBar {
    let bar = ProgressBar::new(end_us.max(1));
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>8} [{bar:40}] {percent:>3}% of simulated time {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(mode.to_string());
    bar
}

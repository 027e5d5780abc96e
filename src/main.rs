//! The `mimimi-sim` command line.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use mimimi_sim::output::{self, ModeResult};
use mimimi_sim::scenario;
use mimimi_sim::world::World;

/// Measures how much metadata a MIMI deployment leaks to its providers and hubs.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate a scenario and write observations, ground truth and a summary.
    Run {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Seed for every random choice (default: the scenario's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Run number: another independent run with the same seed.
        #[arg(long, default_value_t = 0)]
        run: u64,
        /// Output directory (default: reports/<scenario name>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace the output directory even if it holds something other than an earlier
        /// output of this scenario (which is always replaced).
        #[arg(long)]
        force: bool,
    },
    /// Check a scenario file without running it.
    Validate {
        /// The scenario file (TOML).
        scenario: PathBuf,
    },
    /// Run scenarios and hold their metrics to their [[expect]] bounds: exit 0 if all hold,
    /// 1 if any fails, 2 on invalid input.
    Check {
        /// Scenario files, or directories whose *.toml files are checked.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Seeds to run each scenario with: one (7) or an inclusive range (1..5); default:
        /// each scenario's own seed.
        #[arg(long)]
        seeds: Option<String>,
        /// Also write the results as JUnit XML to this file.
        #[arg(long)]
        junit: Option<PathBuf>,
    },
    /// Recompute metrics.csv, report.md, report.html and the metrics in summary.json from the
    /// observation logs and ground truth of a run directory alone.
    Report {
        /// A directory written by `run`.
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let command = Cli::parse().command;
    let result = match command {
        Command::Check {
            paths,
            seeds,
            junit,
        } => return check(&paths, seeds.as_deref(), junit.as_deref()),
        Command::Validate { scenario } => validate(&scenario),
        Command::Report { dir } => report(&dir),
        Command::Run {
            scenario,
            seed,
            run: r,
            out,
            force,
        } => run(&scenario, seed, r, out, force),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Scenario errors already read `FILE:LINE:COLUMN: error: ...`.
            match e.downcast_ref::<scenario::ScenarioError>() {
                Some(se) => eprintln!("{se}"),
                None => eprintln!("error: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

/// `check`: exit 0 when every bound holds, 1 when one fails, 2 when the input is invalid.
fn check(paths: &[PathBuf], seeds: Option<&str>, junit: Option<&std::path::Path>) -> ExitCode {
    let run = || -> Result<Vec<mimimi_sim::check::Outcome>, mimimi_sim::check::CheckError> {
        let seeds = seeds.map(mimimi_sim::check::parse_seeds).transpose()?;
        let outcomes = mimimi_sim::check::check(paths, seeds.as_deref())?;
        if let Some(path) = junit {
            mimimi_sim::check::write_junit(path, &outcomes)?;
        }
        Ok(outcomes)
    };
    match run() {
        Err(e) => {
            match &e {
                mimimi_sim::check::CheckError::Scenario(se) => eprintln!("{se}"),
                other => eprintln!("error: {other}"),
            }
            ExitCode::from(2)
        }
        Ok(outcomes) => {
            print!("{}", mimimi_sim::check::table(&outcomes));
            let failed: Vec<_> = outcomes.iter().filter(|o| !o.passed).collect();
            println!(
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
            if failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn validate(scenario: &std::path::Path) -> anyhow::Result<()> {
    let s = scenario::load(scenario)?;
    println!(
        "{}: ok ({} providers, {} users, {} actions)",
        scenario.display(),
        s.providers.len(),
        s.users.len(),
        s.actions.len()
    );
    Ok(())
}

fn report(dir: &std::path::Path) -> anyhow::Result<()> {
    output::write_reports(dir)?;
    println!("wrote {}", dir.join("report.html").display());
    Ok(())
}

fn run(
    scenario: &std::path::Path,
    seed: Option<u64>,
    run: u64,
    out: Option<PathBuf>,
    force: bool,
) -> anyhow::Result<()> {
    let s = scenario::load(scenario)?;
    let seed = seed.unwrap_or(s.seed);
    let out = out.unwrap_or_else(|| PathBuf::from("reports").join(&s.name));
    let mut results = vec![];
    for mode in &s.modes {
        let world = World::new(&s, mode, seed, run);
        let bar = progress_bar(&mode.name, world.last_action_us());
        let output = world.run(|now| bar.set_position(now)).map_err(|e| {
            anyhow::anyhow!(
                "{}: mode {}, seed {seed}, run {run}: {e}",
                s.file,
                mode.name
            )
        })?;
        bar.finish_and_clear();
        results.push(ModeResult::new(mode, output));
    }
    let files = output::run_files(&s, seed, run, &results);
    output::write_dir(&out, &files, &s.name, force, |dir| {
        output::write_reports(dir).map(|_| ())
    })?;
    println!("wrote {}", out.display());
    for r in &results {
        println!("fingerprint {} {}", r.mode, r.fingerprint);
    }
    Ok(())
}

/// A progress bar over virtual time, drawn only when stderr is a terminal.
fn progress_bar(mode: &str, end_us: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
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

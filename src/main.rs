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
    /// Recompute metrics.csv, report.md, report.html and the metrics in summary.json from the
    /// observation logs and ground truth of a run directory alone.
    Report {
        /// A directory written by `run`.
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli.command) {
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

fn execute(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Validate { scenario } => {
            let s = scenario::load(&scenario)?;
            println!(
                "{}: ok ({} providers, {} users, {} actions)",
                scenario.display(),
                s.providers.len(),
                s.users.len(),
                s.actions.len()
            );
            Ok(())
        }
        Command::Report { dir } => {
            output::write_reports(&dir)?;
            println!("wrote {}", dir.join("report.html").display());
            Ok(())
        }
        Command::Run {
            scenario,
            seed,
            run,
            out,
            force,
        } => {
            let s = scenario::load(&scenario)?;
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
            let mut files = vec![(
                "summary.json".to_string(),
                output::summary_json(&s, seed, run, &results).into_bytes(),
            )];
            for r in &results {
                files.extend(output::mode_files(r));
            }
            output::write_dir(&out, &files, &s.name, force, |dir| {
                output::write_reports(dir).map(|_| ())
            })?;
            println!("wrote {}", out.display());
            for r in &results {
                println!("fingerprint {} {}", r.mode, r.fingerprint);
            }
            Ok(())
        }
    }
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

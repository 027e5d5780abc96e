//! The scale goals as criterion benchmarks, on worlds small enough for criterion's ten samples
//! (`cargo bench --bench goals`):
//!
//! - `bench-small`: every mode of `scenarios/bench/bench-small.toml` simulated as `run` does
//!   (modes in parallel, the log streamed to disk), with `--decrypt all` and `--decrypt needed`,
//!   the log in CSV and in Parquet;
//! - `bench-small`, `analysis and reports`: the analysis and reports of that run directory;
//! - `bench-room-64`: one room filled one member at a time (the big-room goal, at 64).
//!
//! `bench-medium` and `bench-room-256` take minutes a run, too long for ten samples: the floor
//! benchmark (`cargo bench --bench floor -- FILE`) times them once, beside their crypto floor.
//! A world other than the two above: `MIMIMI_BENCH_WORLD=FILE cargo bench --bench goals`.

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion};
use mimimi_sim::observe::Format;
use mimimi_sim::output;
use mimimi_sim::scenario::{self, Scenario};
use mimimi_sim::world::{self, Decrypt, RunOptions};

/// Runs every mode of `s` into `dir` as `mimimi-sim run` does, without the analysis.
fn run(s: &Scenario, dir: &Path, decrypt: Decrypt, format: Format) {
    let options = RunOptions {
        jobs: world::default_jobs(),
        decrypt,
        log_to: Some((dir.to_path_buf(), format)),
    };
    let outputs = world::run_modes(s, s.seed, 0, &options, |_, _| {}).expect("the world runs");
    let results = output::mode_results(s, outputs);
    output::write_files(dir, &output::run_files(s, s.seed, 0, &results)).expect("written");
}

fn world_files() -> Vec<PathBuf> {
    match std::env::var_os("MIMIMI_BENCH_WORLD") {
        Some(file) => vec![PathBuf::from(file)],
        None => ["bench-small.toml", "bench-room-64.toml"]
            .iter()
            .map(|f| {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("scenarios/bench")
                    .join(f)
            })
            .collect(),
    }
}

fn goals(c: &mut Criterion) {
    for path in world_files() {
        let s = scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let mut group = c.benchmark_group(s.name.clone());
        group.sample_size(10);
        for (decrypt, d) in [(Decrypt::All, "all"), (Decrypt::Needed, "needed")] {
            for (format, f) in [(Format::Csv, "csv"), (Format::Parquet, "parquet")] {
                let dir = tmp.path().join(format!("{d}-{f}"));
                group.bench_function(format!("run --decrypt {d} --format {f}"), |b| {
                    b.iter(|| run(&s, &dir, decrypt, format))
                });
            }
        }
        let dir = tmp.path().join("all-csv");
        group.bench_function("analysis and reports", |b| {
            b.iter(|| output::write_reports(&dir).expect("analysed"))
        });
        group.finish();
    }
}

criterion_group!(benches, goals);
criterion_main!(benches);

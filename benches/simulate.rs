//! How long the simulator and the analysis take on every shipped scenario:
//! `cargo bench --bench simulate` (one group per scenario: all its modes simulated, then the
//! analysis of the written run directory). The analysis should stay under the simulation.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use mimimi_sim::output::{self, ModeResult};
use mimimi_sim::scenario::{self, Scenario};
use mimimi_sim::world::World;

fn simulate(s: &Scenario) -> Vec<ModeResult> {
    s.modes
        .iter()
        .map(|m| ModeResult::new(m, World::new(s, m, s.seed, 0).run(|_| {}).expect("runs")))
        .collect()
}

fn scenarios(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("scenarios/")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    for path in paths {
        let s = scenario::load(&path).expect("shipped scenarios are valid");
        let mut group = c.benchmark_group(s.name.clone());
        group.sample_size(10);
        group.bench_function("simulate every mode", |b| b.iter(|| simulate(&s)));
        // The analysis of a written run directory (reading the logs, every adversary, the
        // threshold curves, metrics and reports).
        let results = simulate(&s);
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let run = tmp.path().join("run");
        output::write_files(&run, &output::run_files(&s, s.seed, 0, &results)).expect("written");
        group.bench_function("analyse and report", |b| {
            b.iter(|| output::write_reports(&run).expect("analysed"))
        });
        group.finish();
    }
}

criterion_group!(benches, scenarios);
criterion_main!(benches);

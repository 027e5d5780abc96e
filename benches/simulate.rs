//! How long the simulator and the analysis take on the quickstart scenario:
//! `cargo bench --bench simulate`.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use mimimi_sim::output::{self, ModeResult};
use mimimi_sim::scenario;
use mimimi_sim::world::World;

fn quickstart(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quickstart.toml");
    let s = scenario::load(&path).expect("quickstart is valid");
    let mut group = c.benchmark_group("quickstart");
    group.sample_size(10);
    for mode in &s.modes {
        group.bench_function(format!("simulate {}", mode.name), |b| {
            b.iter(|| World::new(&s, mode, s.seed, 0).run(|_| {}).expect("runs"))
        });
    }
    // The analysis of a written run directory (reading the logs, linking, metrics, reports).
    let results: Vec<ModeResult> = s
        .modes
        .iter()
        .map(|m| ModeResult::new(m, World::new(&s, m, s.seed, 0).run(|_| {}).expect("runs")))
        .collect();
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = tmp.path().join("run");
    let files = output::run_files(&s, s.seed, 0, &results);
    output::write_files(&dir, &files).expect("written");
    group.bench_function("analyse and report", |b| {
        b.iter(|| output::write_reports(&dir).expect("analysed"))
    });
    group.finish();
}

criterion_group!(benches, quickstart);
criterion_main!(benches);

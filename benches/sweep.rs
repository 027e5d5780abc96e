//! A sweep's overhead per run, against the same runs one `run` at a time:
//!
//! ```sh
//! cargo bench --bench sweep                      # quickstart x key_package_sets=1,2,4,8 x seeds 1..10
//! cargo bench --bench sweep -- FILE KEY=V1,V2 FIRST..LAST
//! ```
//!
//! Times the grid's runs one after another the way `run` does each (every mode of a run at once,
//! on as many threads as there are cores, with the analysis), and again with one thread a run
//! (`run --jobs 1`), then the same grid as one sweep
//! on every core (runs at once, each run's modes one after another, then the aggregate and the
//! report), and prints both wall times with the sweep's against the single runs' divided by the
//! cores. The rule it measures: a sweep costs no more than about its single runs' time divided
//! by the cores.

use std::path::PathBuf;
use std::time::Instant;

use mimimi_sim::scenario::{self, Override};
use mimimi_sim::world::{default_jobs, Decrypt};
use mimimi_sim::{check, sweep};

fn main() {
    // `cargo bench` passes `--bench`; the rest are ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let file = args
        .first()
        .map_or_else(|| root.join("scenarios/quickstart.toml"), PathBuf::from);
    let set = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "key_package_sets=1,2,4,8".into());
    let seeds = check::parse_seeds(args.get(2).map_or("1..10", String::as_str))
        .expect("seeds as FIRST..LAST");
    let values = scenario::parse_values(&set).expect("KEY=V1,V2");
    let cores = default_jobs();
    let runs = values.len() * seeds.len();
    println!(
        "{}: {set} x seeds {}..{} = {runs} runs, {cores} cores",
        file.display(),
        seeds[0],
        seeds[seeds.len() - 1]
    );

    // The single runs as `run` does them (modes at once on every core), and with `--jobs 1`.
    let singles = |jobs: usize| {
        let start = Instant::now();
        for v in &values {
            for &seed in &seeds {
                let with_seed = [v.clone(), Override::new("seed", &seed.to_string())];
                let s = scenario::load_with(&file, &with_seed).expect("the scenario loads");
                check::analyse_with(&s, seed, jobs, Decrypt::All).expect("the run succeeds");
            }
        }
        start.elapsed().as_secs_f64()
    };
    let single = singles(cores);
    let single_one = singles(1);

    let tmp = tempfile::tempdir().expect("a temporary directory");
    let out = tmp.path().join("sweep");
    let start = Instant::now();
    let plan = sweep::Plan::new(&file, std::slice::from_ref(&set), Some(seeds), None)
        .expect("the sweep is valid");
    sweep::run(&plan, &out, cores, |_, _| {}).expect("the sweep runs");
    let ran = start.elapsed().as_secs_f64();
    sweep::finish(&plan, &out).expect("the sweep's results are written");
    let total = start.elapsed().as_secs_f64();

    for (what, t) in [("modes at once", single), ("--jobs 1", single_one)] {
        println!(
            "{runs} single runs ({what}), one after another: {t:.2} s wall ({:.3} s a run); \
             divided by {cores} cores: {:.2} s",
            t / runs as f64,
            t / cores as f64
        );
    }
    println!(
        "sweep on {cores} cores: {total:.2} s wall (runs {ran:.2} s, aggregate and report {:.2} \
         s): {:.2}x the single runs' time divided by the cores ({:.2}x with --jobs 1 runs)",
        total - ran,
        total / (single / cores as f64),
        total / (single_one / cores as f64)
    );
}

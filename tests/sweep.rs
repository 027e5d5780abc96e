//! Sweeps: the grid in shards merges into exactly the files of the whole sweep, an interrupted
//! sweep resumes, populations differ by seed, `generate` replays, and bad input is positioned.

mod common;

use common::files;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_mimimi-sim");

/// A small generated world: two modes, a dozen users.
const WORLD: &str = r#"name = "tiny-world"
seed = 1
modes = ["mimi", "mimimi"]

[population]
users = 12
providers = 3
duration = "20m"
"#;

fn sim(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("the binary runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn world(dir: &Path) -> String {
    let file = dir.join("tiny-world.toml");
    std::fs::write(&file, WORLD).unwrap();
    file.display().to_string()
}

#[test]
fn three_shards_merge_into_the_whole_sweep_and_a_sweep_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let file = world(tmp.path());
    let d = |n: &str| tmp.path().join(n).display().to_string();
    let grid = [
        "--set",
        "key_package_sets=1,4",
        "--seeds",
        "1..2",
        "--jobs",
        "2",
    ];
    let whole = d("whole");
    let mut args = vec!["sweep", &file];
    args.extend(grid);
    args.extend(["--out", &whole]);
    let printed = ok(&sim(&args));
    assert!(printed.contains("4 runs: 4 run now, 0 reused"), "{printed}");

    // Three shards, then the merge: the same files, byte for byte.
    let shards: Vec<String> = (1..=3).map(|k| d(&format!("shard{k}"))).collect();
    for (k, dir) in shards.iter().enumerate() {
        let shard = format!("{}/3", k + 1);
        let mut args = vec!["sweep", &file];
        args.extend(grid);
        args.extend(["--shard", &shard, "--out", dir]);
        ok(&sim(&args));
        assert!(!Path::new(dir).join("sweep.csv").exists());
    }
    let merged = d("merged");
    let mut args = vec!["merge"];
    args.extend(shards.iter().map(String::as_str));
    args.extend(["--out", &merged]);
    ok(&sim(&args));
    let (a, b) = (files(Path::new(&whole)), files(Path::new(&merged)));
    assert_eq!(
        a.iter().map(|f| &f.0).collect::<Vec<_>>(),
        b.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(
            x == y,
            "{name} differs between the whole sweep and the merged shards"
        );
    }
    let sweep_csv =
        String::from_utf8(a.iter().find(|f| f.0 == "sweep.csv").unwrap().1.clone()).unwrap();
    assert!(sweep_csv.starts_with(
        "scenario,key_package_sets,seed,run,mode,adversary,observer,observer_kind,scope,metric,\
         value,numerator,denominator\n"
    ));
    // Two seeds give two workloads: the metrics of the two seeds differ.
    let seed_rows = |seed: &str| -> Vec<String> {
        sweep_csv
            .lines()
            .filter(|l| l.starts_with(&format!("tiny-world,1,{seed},")))
            .map(|l| l.splitn(4, ',').nth(3).unwrap().to_string())
            .collect()
    };
    assert!(!seed_rows("1").is_empty());
    assert_ne!(seed_rows("1"), seed_rows("2"));

    // A missing merge input is named.
    let out = sim(&["merge", &shards[0], &shards[1], "--out", &d("partial")]);
    assert!(refused(&out).contains("is in none of the directories merged"));

    // Resume: remove one run and the results; the sweep runs only that one again.
    let runs = Path::new(&whole).join("runs");
    let first = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::remove_file(&first).unwrap();
    std::fs::remove_file(Path::new(&whole).join("sweep.csv")).unwrap();
    let mut args = vec!["sweep", &file];
    args.extend(grid);
    args.extend(["--out", &whole]);
    let printed = ok(&sim(&args));
    assert!(printed.contains("4 runs: 1 run now, 3 reused"), "{printed}");
    assert!(
        files(Path::new(&whole)) == a,
        "a resumed sweep writes the same files"
    );

    // Another grid in the same directory is refused.
    let out = sim(&[
        "sweep",
        &file,
        "--set",
        "key_package_sets=2",
        "--out",
        &whole,
    ]);
    assert!(refused(&out).contains("holds another sweep"));

    // diff: a sweep against itself differs in nothing; two seeds' runs differ.
    let out = sim(&["diff", &whole, &merged]);
    assert!(ok(&out).contains("0 of "), "{out:?}");
}

#[test]
fn bad_sweep_input_is_positioned() {
    let tmp = tempfile::tempdir().unwrap();
    let file = world(tmp.path());
    let out = tmp.path().join("o").display().to_string();
    let cases: [(&[&str], &str); 7] = [
        (
            &["--set", "seed=1,2"],
            "--set seed=1,2:1:1: error: a sweep takes its seeds from --seeds",
        ),
        (
            &["--set", "key_package_set=1,2"],
            "--set key_package_set=1,2:1:1: error: unknown key `key_package_set`",
        ),
        (
            &["--set", "population.users=2,many"],
            "--set population.users=many:1:18: error: population.users must be a whole number, got string",
        ),
        (
            &["--set", "key_package_sets="],
            "--set key_package_sets=:1:18: error: no value for `key_package_sets`",
        ),
        (
            &["--set", "key_package_sets=1,,2"],
            "--set key_package_sets=1,,2:1:20: error: empty value in the list of `key_package_sets`",
        ),
        (
            &["--set", "population.userz=3"],
            "--set population.userz=3:1:1: error: unknown key `userz`",
        ),
        (
            &["--shard", "4/3"],
            "--shard 4/3:1:1: error: shard 4 of 3 does not exist",
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["sweep", &file, "--out", &out];
        all.extend(args);
        let stderr = refused(&sim(&all));
        assert_eq!(stderr.lines().next().unwrap(), expected, "{args:?}");
    }
    assert!(!Path::new(&out).exists(), "nothing written for bad input");
}

#[test]
fn generate_writes_a_scenario_that_replays_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let file = world(tmp.path());
    let expanded = tmp.path().join("expanded.toml");
    let e = expanded.display().to_string();
    ok(&sim(&["generate", &file, "--seed", "3", "--out", &e]));
    let text = std::fs::read_to_string(&expanded).unwrap();
    assert!(text.contains("# [population]") && text.contains("[[action]]"));
    let other = ok(&sim(&["generate", &file, "--seed", "4"]));
    assert_ne!(text, other, "two seeds, two worlds");
    let fp = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| l.starts_with("fingerprint "))
            .map(str::to_string)
            .collect()
    };
    let a = ok(&sim(&[
        "run",
        &file,
        "--seed",
        "3",
        "--out",
        &tmp.path().join("a").display().to_string(),
    ]));
    let b = ok(&sim(&[
        "run",
        &e,
        "--out",
        &tmp.path().join("b").display().to_string(),
    ]));
    assert_eq!(fp(&a), fp(&b));
    assert_eq!(
        std::fs::read(tmp.path().join("a/metrics.csv")).unwrap(),
        std::fs::read(tmp.path().join("b/metrics.csv")).unwrap()
    );
}

#[test]
fn diff_names_what_changed_between_two_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let file = world(tmp.path());
    let dir = |n: &str| tmp.path().join(n).display().to_string();
    ok(&sim(&["run", &file, "--out", &dir("s1")]));
    ok(&sim(&["run", &file, "--seed", "2", "--out", &dir("s2")]));
    ok(&sim(&["run", &file, "--out", &dir("again")]));
    // The same run twice: nothing differs, exit 0.
    let same = ok(&sim(&["diff", &dir("s1"), &dir("again")]));
    assert!(
        same.ends_with(" metrics differ\n") && same.starts_with("0 of "),
        "{same}"
    );
    // Two seeds: the provenance and metrics differ, exit 1.
    let out = sim(&["diff", &dir("s1"), &dir("s2")]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("provenance seed: 1 -> 2"), "{text}");
    assert!(text.contains("provenance parameters: "), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("mode=mimi observer=") && l.contains(" -> ")),
        "{text}"
    );
    // A run and a file that is neither: refused.
    let refused_out = sim(&["diff", &dir("s1"), &file]);
    assert!(refused(&refused_out).contains("neither a run directory"));
}

#[test]
fn set_overrides_every_command_with_positioned_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let file = world(tmp.path());
    // validate: the override takes effect.
    let text = ok(&sim(&["validate", &file, "--set", "population.users=7"]));
    assert!(text.contains(", 7 users,"), "{text}");
    // A bad value on any command is an error in the argument, exit 2.
    for cmd in ["validate", "run", "check", "generate"] {
        let stderr = refused(&sim(&[cmd, &file, "--set", "channel=pigeon"]));
        assert_eq!(
            stderr.lines().next().unwrap(),
            "--set channel=pigeon:1:9: error: invalid channel \"pigeon\"",
            "{cmd}"
        );
    }
    // A type error and an unknown population key, positioned in the argument.
    let stderr = refused(&sim(&["validate", &file, "--set", "key_packages=many"]));
    assert!(
        stderr.starts_with("--set key_packages=many:1:14: error: invalid type: string"),
        "{stderr}"
    );
    // run records the overrides in summary.json.
    let out = tmp.path().join("o").display().to_string();
    ok(&sim(&[
        "run",
        &file,
        "--set",
        "key_package_sets=2",
        "--out",
        &out,
    ]));
    let summary = std::fs::read_to_string(tmp.path().join("o/summary.json")).unwrap();
    assert!(
        summary.contains("\"overrides\": [\n      \"key_package_sets=2\"\n    ]"),
        "{summary}"
    );
    assert!(summary.contains("\"key_package_sets\": 2"), "{summary}");
    assert!(summary.contains("\"population\": {"), "{summary}");
}

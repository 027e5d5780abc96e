//! Helpers shared by the integration tests (each test file uses some of them).
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use mimimi_analysis::input;
use mimimi_analysis::model::RunData;
use mimimi_sim::scenario::{parse_str, Pos};

/// Runs the scenario file `scenario` with the binary into `out`, requires success, and loads
/// what the run wrote.
pub fn run_and_load(scenario: &Path, out: &Path) -> RunData {
    let o = Command::new(env!("CARGO_BIN_EXE_mimimi-sim"))
        .arg("run")
        .arg(scenario)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    input::load(out).unwrap()
}

/// Runs the shipped `scenarios/NAME.toml` into `out/` of a fresh temporary directory and loads
/// what it wrote.
pub fn run_shipped(name: &str) -> (tempfile::TempDir, RunData) {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.toml"));
    let data = run_and_load(&scenario, &tmp.path().join("out"));
    (tmp, data)
}

/// Requires `src` to be refused at `t.toml:LINE:COLUMN` with `needle` in the first line of the
/// message and a hint.
#[track_caller]
pub fn assert_refused_at(src: &str, line: usize, column: usize, needle: &str) {
    let e = match parse_str(src, "t.toml") {
        Ok(_) => panic!("expected an error for:\n{src}"),
        Err(e) => e,
    };
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("t.toml:{line}:{column}: error: ")),
        "{text}"
    );
    assert!(text.lines().next().unwrap().contains(needle), "{text}");
    assert!(text.contains("\n  hint: "), "{text}");
    assert_eq!(e.pos(), Some(Pos { line, column }));
}

/// Every file under `dir` with its bytes, sorted by path relative to `dir`.
pub fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

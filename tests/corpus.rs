//! The fuzz corpus (`tests/corpus/`): minimized inputs of every class of defect found by
//! mutating the shipped scenarios. Each file says on its first line what it must do:
//! `# expect: runs` (validates, and every mode runs to the end) or `# expect: invalid` (a
//! positioned error). A mutation fuzzer then edits the shipped scenarios at random: whatever
//! it makes, `validate` must not panic, and every error must carry a position inside the file.

use std::path::{Path, PathBuf};
use std::process::Command;

use mimimi_sim::output::ModeResult;
use mimimi_sim::scenario::{self, parse_str, ScenarioError};
use mimimi_sim::world::World;
use proptest::prelude::*;

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

/// The `# expect:` marker of a corpus file.
fn marker(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let first = text
        .trim_start_matches('\u{feff}')
        .lines()
        .next()?
        .to_string();
    first.strip_prefix("# expect: ").map(str::to_string)
}

/// The error must name a position inside the text (line 1 to the number of lines + 1).
#[track_caller]
fn positioned(e: &ScenarioError, text: &[u8], what: &str) {
    let pos = e
        .pos()
        .unwrap_or_else(|| panic!("{what}: an error without a position: {e}"));
    let lines = text.iter().filter(|&&b| b == b'\n').count() + 1;
    assert!(
        pos.line >= 1 && pos.line <= lines && pos.column >= 1,
        "{what}: position {pos} outside the file ({lines} lines): {e}"
    );
}

#[test]
fn every_corpus_file_does_what_it_says() {
    let files = corpus();
    assert!(files.len() >= 20, "{} files", files.len());
    for path in files {
        let what = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        let result = scenario::load(&path);
        match (marker(&path).as_deref(), result) {
            (Some("runs"), Ok(s)) => {
                // Every mode runs to the end, and again to the same fingerprint.
                for mode in &s.modes {
                    let fingerprint = || match World::new(&s, mode, s.seed, 0).run(|_| {}) {
                        Ok(out) => ModeResult::new(mode, out).fingerprint,
                        Err(e) => panic!("{what}: {e}"),
                    };
                    assert_eq!(fingerprint(), fingerprint(), "{what} {}", mode.name);
                }
            }
            (Some("runs"), Err(e)) => panic!("{what} should be valid: {e}"),
            (Some("invalid"), Ok(_)) => panic!("{what} should be invalid"),
            (Some("invalid"), Err(e)) => positioned(&e, &bytes, &what),
            (m, _) => panic!("{what}: no `# expect:` marker ({m:?})"),
        }
        // The command line says the same, without a panic.
        let out = Command::new(env!("CARGO_BIN_EXE_mimimi-sim"))
            .arg("validate")
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
        let code = if marker(&path).as_deref() == Some("runs") {
            0
        } else {
            2
        };
        assert_eq!(out.status.code(), Some(code), "{what}: {stderr}");
    }
}

/// The shipped scenarios and the corpus, as texts to mutate.
fn seeds() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = corpus().iter().map(|p| std::fs::read(p).unwrap()).collect();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            out.push(std::fs::read(p).unwrap());
        }
    }
    out
}

/// Text a mutation may insert: values at and beyond the limits, odd types and names.
const SNIPPETS: &[&str] = &[
    "\"100000h\"",
    "\"1us\"",
    "4294967295",
    "-1",
    "nan",
    "inf",
    "\"..\"",
    "\"a/b\"",
    "\"\\n\"",
    "[[action]]\nat = \"0s\"\n",
    "[[user]]\nname = \"x\"\nprovider = \"alpha.example\"\n",
    "leave = { room = \"r\", user = \"alice\" }",
    "accept = false",
    "{ }",
    "[",
    "\u{feff}",
    "\"\u{1F600}\"",
    "18446744073709551615",
    "1e308",
    "= =",
];

#[derive(Clone, Debug)]
enum Mutation {
    DeleteBytes(usize, usize),
    InsertSnippet(usize, usize),
    FlipByte(usize, u8),
    DuplicateLine(usize),
    SwapLines(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let i = || 0..100_000usize;
    prop_oneof![
        (i(), 1..40usize).prop_map(|(a, n)| Mutation::DeleteBytes(a, n)),
        (i(), 0..SNIPPETS.len()).prop_map(|(a, s)| Mutation::InsertSnippet(a, s)),
        (i(), any::<u8>()).prop_map(|(a, b)| Mutation::FlipByte(a, b)),
        i().prop_map(Mutation::DuplicateLine),
        (i(), i()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
    ]
}

fn apply(text: &mut Vec<u8>, m: &Mutation) {
    let n = text.len().max(1);
    match *m {
        Mutation::DeleteBytes(a, len) => {
            let a = a % n;
            let b = (a + len).min(text.len());
            text.drain(a.min(text.len())..b);
        }
        Mutation::InsertSnippet(a, s) => {
            let a = a % (text.len() + 1);
            text.splice(a..a, SNIPPETS[s].bytes());
        }
        Mutation::FlipByte(a, b) => {
            if !text.is_empty() {
                let a = a % text.len();
                text[a] = b;
            }
        }
        Mutation::DuplicateLine(a) | Mutation::SwapLines(a, _) => {
            let mut lines: Vec<Vec<u8>> = text.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
            let k = a % lines.len();
            match *m {
                Mutation::SwapLines(_, b) => {
                    let j = b % lines.len();
                    lines.swap(k, j);
                }
                _ => {
                    let line = lines[k].clone();
                    lines.insert(k, line);
                }
            }
            *text = lines.join(&b'\n');
        }
    }
}

/// 400 cases from a fixed seed in CI; PROPTEST_CASES and PROPTEST_RNG_SEED search further.
fn config() -> ProptestConfig {
    let env = ProptestConfig::default();
    let set = |var: &str| std::env::var_os(var).is_some();
    ProptestConfig {
        cases: if set("PROPTEST_CASES") {
            env.cases
        } else {
            400
        },
        rng_seed: if set("PROPTEST_RNG_SEED") {
            env.rng_seed
        } else {
            proptest::test_runner::RngSeed::Fixed(0x6675_7a7a)
        },
        failure_persistence: None,
        ..env
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn mutated_scenarios_never_panic_and_errors_have_positions(
        which in 0..1000usize,
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let seeds = seeds();
        let mut text = seeds[which % seeds.len()].clone();
        for m in &mutations {
            apply(&mut text, m);
        }
        // As `load` does: bytes first, then text.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mutant.toml");
        std::fs::write(&path, &text).unwrap();
        if let Err(e) = scenario::load(&path) {
            positioned(&e, &text, "mutant");
        }
        if let Ok(src) = std::str::from_utf8(&text) {
            if let Err(e) = parse_str(src, "mutant.toml") {
                positioned(&e, &text, "mutant");
            }
        }
    }
}

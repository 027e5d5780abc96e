//! One convention for every command: exit 0 on success, 1 when a run or a privacy bound fails,
//! 2 for invalid input or usage; one message for one problem, whatever the command.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_mimimi-sim");

fn sim(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const GOOD: &str = r#"name = "tiny"
modes = ["mimi"]
[[provider]]
domain = "a.example"
[[user]]
name = "alice"
provider = "a.example"
[[user]]
name = "bob"
provider = "a.example"
[[action]]
at = "1s"
create_room = { room = "r", by = "alice", members = ["bob"] }
"#;

const BOUND: &str = r#"[[expect]]
mode = "mimi"
observer = "a.example"
metric = "identity_disclosure"
"#;

/// A directory with: good.toml (no bounds), holds.toml (a bound that holds), fails.toml (a
/// bound that fails), bad.toml (invalid at 6:8).
fn files() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let w = |name: &str, text: String| std::fs::write(tmp.path().join(name), text).unwrap();
    w("good.toml", GOOD.to_string());
    w("holds.toml", format!("{GOOD}{BOUND}min = 1.0\n"));
    w("fails.toml", format!("{GOOD}{BOUND}max = 0.0\n"));
    w(
        "bad.toml",
        GOOD.replace("name = \"alice\"", "name = \"al ice\""),
    );
    tmp
}

#[test]
fn the_exit_code_table() {
    let tmp = files();
    let d = tmp.path();
    let cases: &[(&[&str], i32)] = &[
        (&["validate", "good.toml"], 0),
        (&["validate", "bad.toml"], 2),
        (&["validate", "missing.toml"], 2),
        (&["run", "good.toml", "--out", "o1"], 0),
        (&["run", "bad.toml", "--out", "o2"], 2),
        (&["run", "missing.toml", "--out", "o3"], 2),
        (&["check", "holds.toml"], 0),
        (&["check", "fails.toml"], 1),
        (&["check", "holds.toml", "fails.toml"], 1),
        (&["check", "bad.toml"], 2),
        (&["check", "missing.toml"], 2),
        (&["check", "good.toml"], 2),
        (&["check", "holds.toml", "--seeds", "x..y"], 2),
        (&["report", "o1"], 0),
        (&["report", "."], 2),
        (&["run", "good.toml", "--no-such-flag"], 2),
        (&["no-such-command"], 2),
        (&[], 2),
    ];
    for (args, code) in cases {
        let o = sim(d, args);
        assert_eq!(o.status.code(), Some(*code), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{args:?}");
    }
}

#[test]
fn help_states_the_exit_codes() {
    for args in [&["--help"][..], &["run", "--help"], &["check", "--help"]] {
        let o = sim(Path::new("."), args);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains("Exit status: 0 success; 1 a run failed or a privacy bound does not hold; 2 invalid input or usage"),
            "{args:?}: {text}"
        );
    }
}

#[test]
fn a_missing_file_reads_the_same_in_every_command_with_the_os_error_once() {
    let tmp = files();
    let want = "missing.toml: error: cannot read the file: No such file or directory (os error 2)";
    for cmd in ["validate", "run", "check"] {
        let o = sim(tmp.path(), &[cmd, "missing.toml"]);
        let e = stderr(&o);
        assert_eq!(e.trim_end(), want, "{cmd}");
    }
}

#[test]
fn check_does_not_pass_on_nothing() {
    let tmp = files();
    let o = sim(tmp.path(), &["check", "good.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("good.toml: error: the scenario has no [[expect]] tables"),
        "{}",
        stderr(&o)
    );
    // A directory: files without bounds are skipped and listed, the others checked.
    std::fs::remove_file(tmp.path().join("bad.toml")).unwrap();
    std::fs::remove_file(tmp.path().join("fails.toml")).unwrap();
    let o = sim(tmp.path(), &["check", "."]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("good.toml: skipped: no [[expect]] tables"),
        "{}",
        stderr(&o)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("1 of 1 bounds hold"));
    // A directory with nothing to check.
    std::fs::remove_file(tmp.path().join("holds.toml")).unwrap();
    let o = sim(tmp.path(), &["check", "."]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nothing to check"), "{}", stderr(&o));
}

#[test]
fn invalid_utf8_is_located_by_line_column_and_byte_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bytes = GOOD.as_bytes().to_vec();
    let at = GOOD.find("alice").unwrap();
    bytes[at + 2] = 0xff;
    std::fs::write(tmp.path().join("u.toml"), &bytes).unwrap();
    let o = sim(tmp.path(), &["validate", "u.toml"]);
    assert_eq!(o.status.code(), Some(2));
    let want = format!(
        "u.toml:6:11: error: the file is not valid UTF-8: byte 0xff at byte offset {}",
        at + 2
    );
    assert!(stderr(&o).starts_with(&want), "{}", stderr(&o));
}

#[test]
fn a_byte_order_mark_shifts_no_column() {
    let tmp = tempfile::tempdir().unwrap();
    let text = format!("\u{feff}nme = \"x\"\n{GOOD}");
    std::fs::write(tmp.path().join("bom.toml"), text).unwrap();
    let o = sim(tmp.path(), &["validate", "bom.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with("bom.toml:1:1: error: unknown key `nme`"),
        "{}",
        stderr(&o)
    );
    let text = format!("\u{feff}{GOOD}");
    std::fs::write(tmp.path().join("bom.toml"), text).unwrap();
    assert_eq!(
        sim(tmp.path(), &["validate", "bom.toml"]).status.code(),
        Some(0)
    );
}

#[test]
fn an_enormous_value_is_not_echoed_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let key = "k".repeat(500_000);
    std::fs::write(tmp.path().join("big.toml"), format!("{key} = 1\n{GOOD}")).unwrap();
    let o = sim(tmp.path(), &["validate", "big.toml"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.starts_with("big.toml:1:1: error: unknown key"),
        "{}",
        &e[..200]
    );
    assert!(e.len() < 2_000, "{} bytes of error", e.len());
    assert!(
        e.contains("(500002 bytes)") || e.contains("(500000 bytes)"),
        "{e}"
    );
}

/// Standard output that cannot be written: a full device is an error (status 2, one message), a
/// reader that has gone ends the process as SIGPIPE would (status 141); neither panics.
#[test]
fn a_closed_or_full_standard_output_is_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("good.toml"), GOOD).unwrap();
    if let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") {
        let o = Command::new(BIN)
            .args(["validate", "good.toml"])
            .current_dir(tmp.path())
            .stdout(full)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains("error: cannot write to standard output"));
        assert!(!stderr(&o).contains("panicked"));
    }
    let mut child = Command::new(BIN)
        .args(["validate", "good.toml"])
        .current_dir(tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end at once; the child writes after reading and checking the file,
    // so its write almost always finds the pipe closed (if not, it succeeds: status 0).
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert!(
        matches!(o.status.code(), Some(0) | Some(141)),
        "{:?}: {}",
        o.status,
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}

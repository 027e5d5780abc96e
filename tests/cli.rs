//! The command line: determinism across processes, output files, and bad input.

mod common;

use common::files;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_mimimi-sim");

fn quickstart() -> String {
    format!("{}/scenarios/quickstart.toml", env!("CARGO_MANIFEST_DIR"))
}

fn sim(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("the binary runs")
}

/// The fingerprint lines (`fingerprint MODE HEX`) a run printed, as "MODE HEX".
fn fingerprint(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("fingerprint "))
        .collect();
    let modes: Vec<&str> = lines.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(modes, ["mimi", "mimimi"], "{stdout}");
    for l in &lines {
        assert_eq!(l.split(' ').nth(1).unwrap().len(), 64, "{l}");
    }
    lines.join("\n")
}

#[test]
fn same_seed_gives_identical_files_in_two_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    let qs = quickstart();
    let ra = sim(&["run", &qs, "--out", a.to_str().unwrap()], &[]);
    let rb = sim(
        &["run", &qs, "--jobs", "1", "--out", b.to_str().unwrap()],
        &[("RAYON_NUM_THREADS", "1")],
    );
    assert!(
        ra.status.success(),
        "{}",
        String::from_utf8_lossy(&ra.stderr)
    );
    assert!(
        rb.status.success(),
        "{}",
        String::from_utf8_lossy(&rb.stderr)
    );
    assert_eq!(fingerprint(&ra), fingerprint(&rb));
    let (fa, fb) = (files(&a), files(&b));
    let names: Vec<&str> = fa.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "summary.json",
        "mimi/observations.csv",
        "mimi/truth.csv",
        "mimi/memberships.csv",
        "mimi/connections.csv",
        "mimimi/observations.csv",
        "mimimi/truth.csv",
        "mimimi/memberships.csv",
        "mimimi/connections.csv",
    ] {
        assert!(names.contains(&want), "missing {want} in {names:?}");
    }
    assert_eq!(fa, fb, "output files differ between two runs with one seed");

    let rc = sim(
        &["run", &qs, "--out", c.to_str().unwrap(), "--seed", "8"],
        &[],
    );
    assert!(rc.status.success());
    assert_ne!(
        fingerprint(&ra),
        fingerprint(&rc),
        "another seed, same fingerprint"
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(c.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["seed"], 8);
    for line in fingerprint(&rc).lines() {
        let (mode, hex) = line.split_once(' ').unwrap();
        assert_eq!(summary["modes"][mode]["fingerprint"], hex);
    }
    // Provenance: the tool's version, the scenario file's SHA-256 (of its bytes, as
    // sha256sum prints it) and the effective parameters, defaults filled in.
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(&qs).unwrap();
    assert_eq!(
        summary["scenario_sha256"],
        hex::encode(Sha256::digest(&bytes))
    );
    assert_eq!(summary["tool_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(summary["parameters"]["latency_us"], 20_000);
    assert_eq!(summary["parameters"]["channel"], "relay");
    assert_eq!(summary["parameters"]["users"], 10);
    let report = std::fs::read_to_string(c.join("report.md")).unwrap();
    assert!(report.contains(&hex::encode(Sha256::digest(&bytes))));
    // The run prints the headline (foreign scope, both modes, every observer) and the
    // report's path, not only fingerprints.
    let stdout = String::from_utf8_lossy(&rc.stdout);
    assert!(stdout.contains("headline, foreign users"), "{stdout}");
    for obs in [
        "alpha.example",
        "beta.example",
        "gamma.example",
        "alpha+beta",
    ] {
        for mode in ["mimi", "mimimi"] {
            assert!(
                stdout
                    .lines()
                    .any(|l| l.split_whitespace().take(2).eq([mode, obs])),
                "no headline row {mode} {obs}: {stdout}"
            );
        }
    }
    assert!(stdout.contains("strongest adversary the tool builds, combined"));
    assert!(stdout.contains(&format!("report: {}", c.join("report.html").display())));
}

#[test]
fn a_directory_of_the_users_is_never_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let keep = tmp.path().join("keep.txt");
    std::fs::write(&keep, "mine").unwrap();
    let qs = quickstart();
    for force in [false, true] {
        let mut args = vec!["run", &qs, "--out", tmp.path().to_str().unwrap()];
        if force {
            args.push("--force");
        }
        let out = sim(&args, &[]);
        assert_eq!(out.status.code(), Some(2), "force {force}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("keep.txt"), "{stderr}");
        assert!(stderr.contains("never replaced"), "{stderr}");
        assert_eq!(std::fs::read_to_string(&keep).unwrap(), "mine");
    }
    // Nothing but the user's file is there: no staged output left behind.
    let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(names.len(), 1);
}

const GOOD_HEAD: &str = r#"[[provider]]
domain = "a.example"
[[user]]
name = "alice"
provider = "a.example"
[[user]]
name = "bob"
provider = "a.example"
"#;

/// Each bad scenario, with the line:column its error must name.
const BAD: &[(&str, &str, &str)] = &[
    (
        "unknown key",
        "[[action]]\nat = \"1s\"\ncreate_room = { room = \"r\", by = \"alice\", colour = \"red\" }\n",
        ":11:",
    ),
    (
        "unknown user",
        "[[action]]\nat = \"1s\"\ncreate_room = { room = \"r\", by = \"zoe\" }\n",
        ":11:",
    ),
    (
        "unknown room",
        "[[action]]\nat = \"1s\"\nsend = { room = \"nowhere\", from = \"alice\" }\n",
        ":11:",
    ),
    (
        "add by a non-member",
        "[[action]]\nat = \"1s\"\ncreate_room = { room = \"r\", by = \"alice\" }\n[[action]]\nat = \"2s\"\nadd = { room = \"r\", by = \"bob\", users = [\"bob\"] }\n",
        ":14:",
    ),
    (
        "join before the room exists",
        "[[action]]\nat = \"1s\"\njoin = { room = \"r\", user = \"bob\" }\n[[action]]\nat = \"2s\"\ncreate_room = { room = \"r\", by = \"alice\" }\n",
        ":11:",
    ),
    (
        "two users with one name",
        "[[user]]\nname = \"alice\"\nprovider = \"a.example\"\n",
        ":10:",
    ),
];

#[test]
fn bad_scenarios_name_the_line_and_fail() {
    let tmp = tempfile::tempdir().unwrap();
    for (what, tail, position) in BAD {
        let path = tmp.path().join("bad.toml");
        std::fs::write(&path, format!("{GOOD_HEAD}{tail}")).unwrap();
        for cmd in ["validate", "run"] {
            let out_dir = tmp.path().join("out");
            let out = sim(
                &[
                    cmd,
                    path.to_str().unwrap(),
                    "--out",
                    out_dir.to_str().unwrap(),
                ][..if cmd == "run" { 4 } else { 2 }],
                &[],
            );
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{what} ({cmd}): {stderr}");
            let expected = format!("bad.toml{position}");
            assert!(
                stderr.contains(&expected),
                "{what} ({cmd}): want {expected} in {stderr}"
            );
            assert!(!stderr.contains("panicked"), "{what}: {stderr}");
            assert!(!out_dir.exists(), "{what}: {cmd} wrote output");
        }
    }
}

#[test]
fn validate_accepts_quickstart() {
    let out = sim(&["validate", &quickstart()], &[]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (3 providers, 10 users"));
}

#[test]
fn missing_file_is_a_clear_error() {
    let out = sim(&["run", "no/such/file.toml"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no/such/file.toml"), "{stderr}");
}

#[test]
fn the_readme_example_scenario_runs() {
    let readme =
        std::fs::read_to_string(format!("{}/README.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let start = readme
        .find("```toml\nname = \"lunch-demo\"")
        .expect("README example")
        + 8;
    let len = readme[start..].find("```").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("example.toml");
    std::fs::write(&path, &readme[start..start + len]).unwrap();
    let out_dir = tmp.path().join("out");
    let out = sim(
        &[
            "run",
            path.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("fingerprint no-relay "));
}

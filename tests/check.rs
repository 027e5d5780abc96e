//! `mimimi-sim check`: exit statuses, the failing expectation named, and JUnit output.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_mimimi-sim");

fn check(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("check")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

#[test]
fn the_scenario_library_passes() {
    let out = check(&["scenarios/"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("PASS"));
    assert!(!stdout.contains("FAIL"));
    assert!(stdout.lines().last().unwrap().ends_with("bounds hold"));
}

#[test]
fn the_deliberate_regression_fails_and_is_named() {
    let out = check(&["scenarios/regressions/shared-signature-key.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "FAIL scenarios/regressions/shared-signature-key.toml:48 shared-key every-provider \
             foreign cross_room_recall <= 0 (n/a passes) adversary identifier for beta.example \
             (seed 3): measured 1"
        ),
        "{stderr}"
    );
}

#[test]
fn an_invalid_expectation_is_exit_status_2_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.toml");
    std::fs::write(
        &path,
        "[[provider]]\ndomain = \"a.example\"\n[[user]]\nname = \"alice\"\nprovider = \"a.example\"\n\
         [[expect]]\nmode = \"mimimi\"\nobserver = \"every-provider\"\nmetric = \"identity_leakage\"\nmax = 0.0\n",
    )
    .unwrap();
    let out = check(&[path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.toml:9:10: error: unknown metric identity_leakage"),
        "{stderr}"
    );
    for (what, line) in [
        ("mode = \"mimimi\"", "mode = \"nope\""),
        ("observer = \"every-provider\"", "observer = \"z.example\""),
    ] {
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("identity_leakage", "identity_disclosure")
            .replace(what, line);
        std::fs::write(&path, text).unwrap();
        let out = check(&[path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{line}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("bad.toml:"),
            "{line}"
        );
    }
    let out = check(&["no/such/dir"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn junit_has_one_test_case_per_expectation_and_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let junit = tmp.path().join("check.xml");
    let out = check(&[
        "scenarios/last-resort.toml",
        "scenarios/regressions/shared-signature-key.toml",
        "--seeds",
        "1..2",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("JUnit is XML");
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    // last-resort: 2 expectations, the regression: 1, each for seeds 1 and 2.
    assert_eq!(cases.len(), 6);
    let failed = cases
        .iter()
        .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
        .count();
    assert!(failed >= 1);
    assert_eq!(doc.root_element().attribute("tests"), Some("6"));
}

/// A bound on a metric taken over nothing (here the foreign users of `all`, which has none)
/// fails as "nothing measured", whichever the bound; `when_empty = "pass"` lets it pass.
#[test]
fn a_bound_on_nothing_measured_fails_unless_the_expectation_says_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = |bound: &str| {
        format!(
            "modes = [\"mimi\"]\n[[provider]]\ndomain = \"a.example\"\n[[user]]\nname = \"alice\"\n\
             provider = \"a.example\"\n[[user]]\nname = \"bob\"\nprovider = \"a.example\"\n\
             [[action]]\nat = \"1s\"\ncreate_room = {{ room = \"r\", by = \"alice\", members = [\"bob\"] }}\n\
             [[expect]]\nmode = \"mimi\"\nobserver = \"all\"\nscope = \"foreign\"\n\
             metric = \"identity_disclosure\"\n{bound}"
        )
    };
    let path = tmp.path().join("empty.toml");
    for bound in ["max = 0.0\n", "min = 0.5\n"] {
        std::fs::write(&path, scenario(bound)).unwrap();
        let out = check(&[path.to_str().unwrap()]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{bound}{stdout}");
        assert!(
            stdout.contains("all       n/a (nothing measured)  FAIL"),
            "{stdout}"
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("for all (seed 1): measured nothing"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::write(&path, scenario("max = 0.0\nwhen_empty = \"pass\"\n")).unwrap();
    let out = check(&[path.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(
            "identity_disclosure <= 0 (n/a passes)  all       n/a (nothing measured)  PASS"
        ),
        "{stdout}"
    );
}

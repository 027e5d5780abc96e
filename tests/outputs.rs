//! Outputs never lose data: what `run` may replace, atomic replacement under interrupts,
//! leftovers of killed runs, file modes, and failures found before the work is done.

mod common;

use common::files;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_mimimi-sim");

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.toml"))
}

fn sim_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Names in `dir` that this tool uses for temporary files.
fn hidden(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".mimimi-sim-"))
        .collect()
}

/// A temporary directory with a copy of the last-resort scenario (a short run).
fn workspace() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("last-resort.toml");
    std::fs::copy(scenario("last-resort"), &file).unwrap();
    (tmp, file)
}

#[test]
fn the_current_directory_and_its_parents_are_never_the_output() {
    let (tmp, file) = workspace();
    let sub = tmp.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("notes.txt"), "mine").unwrap();
    let before = files(tmp.path());
    for (cwd, out) in [
        (tmp.path(), "."),
        (sub.as_path(), ".."),
        (sub.as_path(), "."),
        (tmp.path(), tmp.path().to_str().unwrap()),
    ] {
        for force in [false, true] {
            let mut args = vec!["run", file.to_str().unwrap(), "--out", out];
            if force {
                args.push("--force");
            }
            let o = sim_in(cwd, &args);
            assert_eq!(o.status.code(), Some(2), "--out {out}: {}", stderr(&o));
            assert!(
                stderr(&o).contains("cannot be the output"),
                "{}",
                stderr(&o)
            );
        }
    }
    assert_eq!(files(tmp.path()), before, "nothing was deleted or added");
    assert!(hidden(tmp.path()).is_empty());
}

#[test]
fn the_directory_of_the_scenario_file_is_never_the_output() {
    let (tmp, file) = workspace();
    let elsewhere = tempfile::tempdir().unwrap();
    let o = sim_in(
        elsewhere.path(),
        &[
            "run",
            file.to_str().unwrap(),
            "--out",
            tmp.path().to_str().unwrap(),
            "--force",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("contains the scenario file"),
        "{}",
        stderr(&o)
    );
    assert!(file.exists());
}

#[test]
fn a_hostile_scenario_name_is_refused_before_anything_is_written() {
    let (tmp, file) = workspace();
    let text = std::fs::read_to_string(&file).unwrap();
    let sub = tmp.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(tmp.path().join("keep.txt"), "mine").unwrap();
    for name in ["..", ".", "../x", "a/b", "a\\nb", ".hidden", "/etc"] {
        let hostile = sub.join("hostile.toml");
        std::fs::write(
            &hostile,
            text.replace("name = \"last-resort\"", &format!("name = \"{name}\"")),
        )
        .unwrap();
        for force in [false, true] {
            let mut args = vec!["run", hostile.to_str().unwrap()];
            if force {
                args.push("--force");
            }
            let o = sim_in(&sub, &args);
            assert_eq!(o.status.code(), Some(2), "{name:?}: {}", stderr(&o));
            assert!(
                stderr(&o).contains("hostile.toml:6:8: error: invalid scenario name"),
                "{name:?}: {}",
                stderr(&o)
            );
        }
    }
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("keep.txt")).unwrap(),
        "mine"
    );
    assert!(!sub.join("reports").exists());
}

#[test]
fn force_replaces_another_scenarios_output_and_only_with_force() {
    let (tmp, file) = workspace();
    let out = tmp.path().join("out");
    let o = sim_in(tmp.path(), &["run", file.to_str().unwrap(), "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The same scenario again: replaced without --force.
    let o = sim_in(tmp.path(), &["run", file.to_str().unwrap(), "--out", "out"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let other = scenario("pseudonymous-room");
    let o = sim_in(
        tmp.path(),
        &["run", other.to_str().unwrap(), "--out", "out"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("holds the output of scenario last-resort"),
        "{}",
        stderr(&o)
    );
    let o = sim_in(
        tmp.path(),
        &["run", other.to_str().unwrap(), "--out", "out", "--force"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = std::fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(summary.contains("\"scenario\": \"pseudonymous-room\""));
    // A file added to an output makes it the user's: never replaced again.
    std::fs::write(out.join("my-notes.md"), "mine").unwrap();
    let o = sim_in(
        tmp.path(),
        &["run", other.to_str().unwrap(), "--out", "out", "--force"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("my-notes.md"), "{}", stderr(&o));
    assert!(hidden(tmp.path()).is_empty());
}

/// SIGTERM at many moments of a run that replaces an earlier output: afterwards the output is
/// the old one or the new one, complete, and no temporary file or directory is left.
#[test]
fn an_interrupted_replacement_leaves_the_old_or_the_new_output_and_nothing_hidden() {
    let tmp = tempfile::tempdir().unwrap();
    let quick = tmp.path().join("quickstart.toml");
    std::fs::copy(scenario("quickstart"), &quick).unwrap();
    let run = |seed: &str, out: &str| {
        sim_in(
            tmp.path(),
            &["run", quick.to_str().unwrap(), "--seed", seed, "--out", out],
        )
    };
    // The old output (seed 1) and what the new one (seed 2) must be; the time a run takes.
    assert!(run("1", "old").status.success());
    let started = std::time::Instant::now();
    assert!(run("2", "reference").status.success());
    let takes = started.elapsed();
    let old = files(&tmp.path().join("old"));
    let new = files(&tmp.path().join("reference"));
    let out = tmp.path().join("out");
    let mut outcomes = (0, 0);
    for k in 0..=11u32 {
        // The old output in place (a copy: still recognised as a run's output).
        let _ = std::fs::remove_dir_all(&out);
        for (rel, bytes) in &old {
            let p = out.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
        let mut child = Command::new(BIN)
            .args([
                "run",
                quick.to_str().unwrap(),
                "--seed",
                "2",
                "--out",
                "out",
            ])
            .current_dir(tmp.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = takes * k / 6;
        std::thread::sleep(delay);
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let status = child.wait().unwrap();
        let now = files(&out);
        if now == old {
            outcomes.0 += 1;
        } else {
            assert_eq!(now, new, "after SIGTERM at {delay:?} ({status})");
            outcomes.1 += 1;
        }
        assert!(
            hidden(tmp.path()).is_empty(),
            "after SIGTERM at {delay:?}: {:?}",
            hidden(tmp.path())
        );
    }
    // The first interrupt (at once) kept the old output; the late ones usually come after the
    // run has finished (how many depends on the machine's load).
    assert!(outcomes.0 > 0, "{outcomes:?}");
    eprintln!(
        "kept the old output {} times, found the new one {} times",
        outcomes.0, outcomes.1
    );
}

#[test]
fn what_a_killed_run_left_is_cleaned_up_or_put_back_by_the_next() {
    let (tmp, file) = workspace();
    let run = |out: &str| sim_in(tmp.path(), &["run", file.to_str().unwrap(), "--out", out]);
    assert!(run("out").status.success());
    let old = files(&tmp.path().join("out"));
    // A run killed (SIGKILL) between moving the old output aside and moving the new one in: the
    // old output is aside, the new one staged. No process has these ids (above any pid_max).
    std::fs::rename(
        tmp.path().join("out"),
        tmp.path().join(".mimimi-sim-99999999-0-out.old"),
    )
    .unwrap();
    std::fs::create_dir(tmp.path().join(".mimimi-sim-99999999-1.new")).unwrap();
    std::fs::write(tmp.path().join(".mimimi-sim-99999999-1.new/half"), "x").unwrap();
    std::fs::write(tmp.path().join(".mimimi-sim-99999999-2.tmp"), "x").unwrap();
    // The next run, to another place, puts the old output back and removes the rest.
    assert!(run("elsewhere").status.success());
    assert_eq!(files(&tmp.path().join("out")), old);
    assert!(hidden(tmp.path()).is_empty(), "{:?}", hidden(tmp.path()));
    // A leftover of a process that still runs (this one) is not touched.
    let mine = tmp
        .path()
        .join(format!(".mimimi-sim-{}-0.new", std::process::id()));
    std::fs::create_dir(&mine).unwrap();
    assert!(run("out").status.success());
    assert!(mine.exists());
}

#[test]
fn outputs_respect_the_umask() {
    let (tmp, file) = workspace();
    let junit = tmp.path().join("check.xml");
    let script = format!(
        "umask 022 && {BIN} run {f} --out out && {BIN} report out && {BIN} check {f} --junit {j}",
        f = file.display(),
        j = junit.display()
    );
    let o = Command::new("sh")
        .args(["-c", &script])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let out = tmp.path().join("out");
    assert_eq!(mode(&out), 0o755);
    let mut checked = 0;
    let mut stack = vec![out];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                assert_eq!(mode(&p), 0o755, "{}", p.display());
                stack.push(p);
            } else {
                assert_eq!(mode(&p), 0o644, "{}", p.display());
                checked += 1;
            }
        }
    }
    assert!(checked >= 14, "{checked} files");
    assert_eq!(mode(&junit), 0o644);
}

#[test]
fn unwritable_outputs_fail_before_the_run() {
    let (tmp, file) = workspace();
    // A regular file where the output's parent directory should be.
    std::fs::write(tmp.path().join("blocker"), "x").unwrap();
    let o = sim_in(
        tmp.path(),
        &["run", file.to_str().unwrap(), "--out", "blocker/out"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("blocker"), "{}", stderr(&o));
    assert!(o.stdout.is_empty(), "nothing ran");
    let o = sim_in(
        tmp.path(),
        &[
            "check",
            file.to_str().unwrap(),
            "--junit",
            "blocker/check.xml",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("blocker/check.xml"), "{}", stderr(&o));
    assert!(
        o.stdout.is_empty(),
        "no bound was evaluated: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(hidden(tmp.path()).is_empty());
}

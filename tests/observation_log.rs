//! The observation log written as the run goes: in CSV the same bytes as the log kept in
//! memory, in Parquet the same table (read back by the analysis) and the same metrics, both
//! deterministic, with the fingerprint of the CSV form either way.

mod common;

use std::path::Path;
use std::process::Command;

use mimimi_analysis::input::{parse_observations, parse_observations_parquet};
use mimimi_sim::observe::{self, Format, Item, Kind, Log, Observation, Peer};
use mimimi_sim::output::ModeResult;
use mimimi_sim::scenario::load;
use mimimi_sim::world::{run_modes, Decrypt, RunOptions};

fn quickstart() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quickstart.toml")
}

fn observation(time_us: u64, room: Option<&str>, items: &[(u32, &str)]) -> Observation {
    Observation {
        time_us,
        observer: "hub.example".into(),
        flow: "app_message",
        peer: Peer::Domain("a.example".into()),
        room: room.map(str::to_string),
        size: 100 + time_us as usize,
        items: items
            .iter()
            .map(|&(subject, value)| Item {
                subject,
                kind: Kind::UserPseudonym,
                value: value.into(),
            })
            .collect(),
    }
}

/// An observation opened before later ones keeps its place, and the log is handed on in order.
#[test]
fn an_open_observation_keeps_its_place() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Log::create(tmp.path(), Format::Csv).unwrap();
    let mut memory = Log::memory();
    for log in [&mut log, &mut memory] {
        log.push(observation(1, None, &[]));
        let at = log.open(observation(2, Some("r"), &[]));
        log.push(observation(3, Some("r"), &[(0, "x")]));
        assert_eq!(log.len(), 3);
        log.complete(at, observation(2, Some("r"), &[(0, "p")]).items);
        log.push(observation(4, None, &[(0, "y"), (0, "z")]));
    }
    let (file, memory) = (log.finish().unwrap(), memory.finish().unwrap());
    let expected = vec![
        observation(1, None, &[]),
        observation(2, Some("r"), &[(0, "p")]),
        observation(3, Some("r"), &[(0, "x")]),
        observation(4, None, &[(0, "y"), (0, "z")]),
    ];
    assert_eq!(memory.observations, expected);
    assert!(file.observations.is_empty());
    assert_eq!((file.count, memory.count), (4, 4));
    let csv = observe::observations_csv(&expected);
    assert_eq!(
        std::fs::read(tmp.path().join("observations.csv")).unwrap(),
        csv
    );
    assert_eq!(file.fingerprint, observe::fingerprint(&csv));
    assert_eq!(memory.fingerprint, file.fingerprint);
    assert_eq!(file.path.unwrap(), tmp.path().join("observations.csv"));
}

/// Parquet holds the same table as CSV: the analysis reads the same observations from both,
/// including nulls (no room, no items) and observations spanning row groups.
#[test]
fn parquet_holds_the_table_of_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Log::create(tmp.path(), Format::Parquet).unwrap();
    let mut all = vec![];
    // More rows than a row group holds.
    let n = observe::parquet::ROW_GROUP_ROWS as u64 / 2 + 7;
    for t in 0..n {
        let o = match t % 3 {
            0 => observation(t, None, &[]),
            1 => observation(t, Some("room-1"), &[(0, "a"), (1, "b")]),
            _ => observation(t, Some("room-2"), &[(0, "c"), (0, "d"), (2, "e")]),
        };
        log.push(o.clone());
        all.push(o);
    }
    let finished = log.finish().unwrap();
    let csv = observe::observations_csv(&all);
    assert_eq!(finished.fingerprint, observe::fingerprint(&csv));
    let path = tmp.path().join("observations.parquet");
    let from_parquet =
        parse_observations_parquet("observations.parquet", std::fs::File::open(&path).unwrap())
            .unwrap();
    let from_csv = parse_observations("observations.csv", csv.as_slice()).unwrap();
    assert_eq!(from_parquet.len() as u64, n);
    assert_eq!(from_parquet, from_csv);
}

/// A run writing Parquet: the same fingerprints and the same metrics and reports as CSV, and
/// the same bytes twice; `report` reads the Parquet directory.
#[test]
fn a_parquet_run_gives_the_metrics_of_a_csv_run_and_the_same_bytes_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |out: &str, format: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_mimimi-sim"))
            .arg("run")
            .arg(quickstart())
            .args(["--format", format, "--out"])
            .arg(tmp.path().join(out))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let csv_out = run("csv", "csv");
    let parquet_out = run("p1", "parquet");
    run("p2", "parquet");
    let fingerprints = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| l.starts_with("fingerprint "))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(fingerprints(&csv_out).len(), 2);
    assert_eq!(fingerprints(&csv_out), fingerprints(&parquet_out));
    let (p1, p2) = (
        common::files(&tmp.path().join("p1")),
        common::files(&tmp.path().join("p2")),
    );
    assert_eq!(p1, p2, "Parquet runs are deterministic");
    let names: Vec<&str> = p1.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"mimimi/observations.parquet"), "{names:?}");
    assert!(
        !names.iter().any(|n| n.ends_with("observations.csv")),
        "{names:?}"
    );
    // Every other file is the same as the CSV run's.
    let csv: Vec<_> = common::files(&tmp.path().join("csv"))
        .into_iter()
        .filter(|(n, _)| !n.ends_with("observations.csv"))
        .collect();
    let other: Vec<_> = p1
        .iter()
        .filter(|(n, _)| !n.ends_with("observations.parquet"))
        .cloned()
        .collect();
    assert_eq!(csv, other);
    // `report` reads the Parquet logs and writes the same metrics again.
    let o = Command::new(env!("CARGO_BIN_EXE_mimimi-sim"))
        .arg("report")
        .arg(tmp.path().join("p1"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(p1, common::files(&tmp.path().join("p1")));
}

/// A run directory with both logs of a mode, or a damaged Parquet file, is refused with the
/// file named.
#[test]
fn a_damaged_or_doubled_log_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_mimimi-sim"))
        .arg("run")
        .arg(quickstart())
        .args(["--format", "parquet", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report = || {
        let o = Command::new(env!("CARGO_BIN_EXE_mimimi-sim"))
            .arg("report")
            .arg(&dir)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2));
        String::from_utf8(o.stderr).unwrap()
    };
    std::fs::write(dir.join("mimi/observations.csv"), "seq\n").unwrap();
    let e = report();
    assert!(
        e.contains("mimi/observations.parquet") && e.contains("observations.csv is there too"),
        "{e}"
    );
    std::fs::remove_file(dir.join("mimi/observations.csv")).unwrap();
    let parquet = dir.join("mimimi/observations.parquet");
    let bytes = std::fs::read(&parquet).unwrap();
    std::fs::write(&parquet, &bytes[..bytes.len() / 2]).unwrap();
    let e = report();
    assert!(e.contains("mimimi/observations.parquet"), "{e}");
}

/// Logs written by `run_modes` into a directory are what the logs kept in memory serialize to.
#[test]
fn written_logs_are_the_logs_kept_in_memory() {
    let s = load(&quickstart()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let options = |log_to| RunOptions {
        jobs: 2,
        decrypt: Decrypt::All,
        log_to,
    };
    let kept = run_modes(&s, s.seed, 0, &options(None), |_, _| {}).unwrap();
    let written = run_modes(
        &s,
        s.seed,
        0,
        &options(Some((tmp.path().to_path_buf(), Format::Csv))),
        |_, _| {},
    )
    .unwrap();
    for ((mode, k), w) in s.modes.iter().zip(kept).zip(written) {
        assert!(w.observations.is_empty());
        assert_eq!(w.observation_count, k.observations.len() as u64);
        let file = tmp.path().join(&mode.name).join("observations.csv");
        assert_eq!(w.log_file.as_deref(), Some(file.as_path()));
        let r = ModeResult::new(mode, k);
        assert_eq!(std::fs::read(&file).unwrap(), r.observations_csv.unwrap());
        assert_eq!(w.fingerprint, r.fingerprint);
        assert!(ModeResult::new(mode, w).observations_csv.is_none());
    }
}

//! The analysis on the shipped scenarios, from the files a run writes.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use mimimi_analysis::model::{Analysis, MetricRow, RunData, Scope};
use mimimi_analysis::{input, metrics};

/// Runs a shipped scenario with the binary into a fresh directory and loads what it wrote.
fn run(name: &str) -> (tempfile::TempDir, RunData) {
    common::run_shipped(name)
}

fn row<'a>(
    a: &'a Analysis,
    mode: &str,
    observer: &str,
    scope: Scope,
    metric: &str,
) -> &'a MetricRow {
    a.metrics
        .iter()
        .find(|m| {
            m.mode == mode && m.observer == observer && m.scope == scope && m.metric == metric
        })
        .unwrap_or_else(|| panic!("no {metric} for {mode}/{observer}/{scope:?}"))
}

/// (value, numerator, denominator) of a metric that was measured (not n/a).
fn value(a: &Analysis, mode: &str, observer: &str, scope: Scope, metric: &str) -> (f64, f64, f64) {
    let m = row(a, mode, observer, scope, metric);
    let v = m
        .value
        .unwrap_or_else(|| panic!("{metric} for {mode}/{observer}/{scope:?} is n/a"));
    (v, m.numerator.unwrap_or(v), m.denominator)
}

/// Room -> hub domain: each `room_create` is observed by the creator's provider and then by
/// the hub, so the last observer of a room's creation is its hub.
fn hubs(data: &RunData) -> BTreeMap<String, String> {
    data.modes[0]
        .observations
        .iter()
        .filter(|o| o.flow == "room_create")
        .filter_map(|o| o.room.clone().map(|r| (r, o.observer.clone())))
        .collect()
}

#[test]
fn under_mimi_every_hub_names_every_member_of_its_rooms() {
    let (_tmp, data) = run("quickstart");
    let hubs = hubs(&data);
    for room in ["lunch", "project", "games"] {
        let hub = &hubs[room];
        // The hub's observations of this room only, with the memberships of this room.
        let mut only = data.clone();
        for m in &mut only.modes {
            m.observations
                .retain(|o| &o.observer == hub && o.room.as_deref() == Some(room));
            m.memberships.retain(|x| x.room == room);
        }
        let a = metrics::analyze(&only);
        let (v, n, d) = value(&a, "mimi", hub, Scope::All, "identity_disclosure");
        assert_eq!((v, n), (1.0, d), "{hub} in {room}");
        assert!(d >= 4.0);
        let (v, _, _) = value(&a, "mimimi", hub, Scope::Foreign, "identity_disclosure");
        assert_eq!(v, 0.0, "{hub} in {room} under mimimi");
    }
}

#[test]
fn under_mimimi_no_observer_names_or_links_foreign_users() {
    let (_tmp, data) = run("quickstart");
    let a = metrics::analyze(&data);
    assert_eq!(
        a.observers,
        [
            "alpha.example",
            "beta.example",
            "gamma.example",
            "alpha+beta",
            "all"
        ]
    );
    let mut own_links = 0.0;
    for observer in &a.observers {
        for metric in ["identity_disclosure", "cross_room_recall"] {
            if observer == "all" {
                // Every user is its own: nothing foreign to measure, n/a rather than 0.
                let m = row(&a, "mimimi", observer, Scope::Foreign, metric);
                assert_eq!((m.value, m.denominator), (None, 0.0), "{metric}");
                continue;
            }
            let (v, _, d) = value(&a, "mimimi", observer, Scope::Foreign, metric);
            assert_eq!(v, 0.0, "{observer} {metric}");
            assert!(d > 0.0, "{observer} saw foreign memberships for {metric}");
        }
        let (v, _, _) = value(&a, "mimimi", observer, Scope::Own, "cross_room_recall");
        own_links += v;
    }
    // The limit the draft admits: a provider links its own users across their rooms.
    assert!(own_links > 0.0);
    // And the same observers do name foreign users under MIMI.
    let (v, _, _) = value(
        &a,
        "mimi",
        "gamma.example",
        Scope::Foreign,
        "identity_disclosure",
    );
    assert!(v > 0.5, "{v}");
}

#[test]
fn last_resort_reuse_gives_the_hub_the_links_counted_by_hand() {
    let (_tmp, data) = run("last-resort");
    // The simulator names the KeyPackage set every client entered with.
    let mimimi = data.modes.iter().find(|m| m.mode == "mimimi").unwrap();
    assert!(
        mimimi
            .memberships
            .iter()
            .any(|m| m.last_resort && m.key_package_set.is_some()),
        "memberships.csv names no last-resort KeyPackage set (column key_package_set)"
    );
    let a = metrics::analyze(&data);
    // By hand: bob (two clients) entered room one with his only regular set, rooms two and
    // three with his last-resort set; alice and carol, single-client creators, spent no set.
    // One pair of bob's memberships (two, three) entered with that one set, and alpha.example,
    // hub of both, sees one user pseudonym in both. bob is foreign to alpha.example. His
    // pairs: (one, two), (one, three), (two, three); only the last shares a set.
    let (v, n, d) = value(
        &a,
        "mimimi",
        "alpha.example",
        Scope::Foreign,
        "last_resort_pairs",
    );
    assert_eq!((v, n, d), (1.0, 1.0, 3.0));
    for scope in [Scope::Foreign, Scope::All] {
        let (v, n, d) = value(&a, "mimimi", "alpha.example", scope, "last_resort_links");
        assert_eq!((v, n, d), (1.0, 1.0, 1.0), "{scope:?}");
    }
    let (v, _, _) = value(
        &a,
        "mimimi",
        "alpha.example",
        Scope::All,
        "last_resort_rooms",
    );
    assert_eq!(v, 2.0);
    let (v, n, d) = value(
        &a,
        "mimimi",
        "alpha.example",
        Scope::Foreign,
        "cross_room_recall",
    );
    // Only the pair that shares the set is linked.
    assert_eq!((v, n, d), (1.0 / 3.0, 1.0, 3.0));
    // No last-resort set was needed under MIMI's KeyPackages.
    for metric in ["last_resort_rooms", "last_resort_pairs"] {
        let (v, _, _) = value(&a, "mimi", "alpha.example", Scope::All, metric);
        assert_eq!(v, 0.0, "{metric}");
    }
}

#[test]
fn report_recomputes_what_run_wrote() {
    let (tmp, _) = run("last-resort");
    let dir = tmp.path().join("out");
    let before = std::fs::read(dir.join("metrics.csv")).unwrap();
    let html = std::fs::read(dir.join("report.html")).unwrap();
    std::fs::remove_file(dir.join("metrics.csv")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mimimi-sim"))
        .args(["report"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(dir.join("metrics.csv")).unwrap(), before);
    assert_eq!(std::fs::read(dir.join("report.html")).unwrap(), html);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert!(
        summary["metrics"]["mimimi"]["combined"]["alpha.example"]["all"]["last_resort_links"]
            .is_number()
    );
    // `all` has no foreign users: its foreign ratios are n/a, null in JSON and an empty value
    // in metrics.csv, never 0.
    let foreign = &summary["metrics"]["mimimi"]["combined"]["all"]["foreign"];
    assert!(foreign["identity_disclosure"].is_null(), "{foreign}");
    assert!(
        summary["metrics"]["mimimi"]["combined"]["alpha.example"]["foreign"]["identity_disclosure"]
            .is_number()
    );
    let csv = String::from_utf8(before).unwrap();
    assert!(
        csv.lines()
            .any(|l| l == "last-resort,11,0,mimimi,all,combined,foreign,identity_disclosure,,0,0"),
        "{csv}"
    );
    // The top of the reports names what produced them: each mode's fingerprint as summary.json
    // records it, and the tool version, scenario hash and parameters when it records them.
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for mode in ["mimi", "mimimi"] {
        let fingerprint = summary["modes"][mode]["fingerprint"].as_str().unwrap();
        assert!(
            md.contains(&format!("| fingerprint of `{mode}` | `{fingerprint}` |")),
            "{md}"
        );
    }
    let mut with_provenance = summary.clone();
    with_provenance["tool_version"] = "9.9.9-test".into();
    with_provenance["scenario_sha256"] = "ab".repeat(32).into();
    with_provenance["parameters"] = serde_json::json!({"seed": 11, "channel": "relay"});
    std::fs::write(
        dir.join("summary.json"),
        serde_json::to_string_pretty(&with_provenance).unwrap(),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mimimi-sim"))
        .args(["report"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(md.contains("| tool version | `9.9.9-test` |"), "{md}");
    assert!(md.contains(&format!(
        "| scenario file SHA-256 | `{}` |",
        "ab".repeat(32)
    )));
    assert!(
        md.contains("| `channel` | `relay` |\n| `seed` | `11` |"),
        "{md}"
    );
    assert!(html.contains("<td><code>9.9.9-test</code></td>"));
    // What report rewrites of summary.json is the metrics; the rest stays as it was.
    let after: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(after["tool_version"], "9.9.9-test");
    assert_eq!(after["metrics"], summary["metrics"]);

    // A directory that is not a run is a clear error, not a panic.
    let out = Command::new(env!("CARGO_BIN_EXE_mimimi-sim"))
        .args(["report"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "invalid input");
    assert!(String::from_utf8_lossy(&out.stderr).contains("summary.json"));
}

/// `report DIR` reads only what a run wrote, and refuses a run directory whose contents
/// contradict themselves, naming the file (and the line) at fault.
#[test]
fn report_refuses_what_a_run_could_not_have_written() {
    let (tmp, _) = run("last-resort");
    let dir = tmp.path().join("out");
    let summary_text = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    let report = |dir: &std::path::Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_mimimi-sim"))
            .arg("report")
            .arg(dir)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_str(&summary_text).unwrap();
        f(&mut v);
        std::fs::write(dir.join("summary.json"), v.to_string()).unwrap();
    };
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "mode `../../x` is not a plain directory name",
            Box::new(|v| v["mode_order"][0] = "../../x".into()),
        ),
        (
            "mode `mimi` is listed twice in mode_order",
            Box::new(|v| v["mode_order"] = serde_json::json!(["mimi", "mimi", "mimimi"])),
        ),
        (
            "coalition `pair` names `nowhere.example`, which is not a listed provider",
            Box::new(
                |v| v["coalitions"] = serde_json::json!([{"name": "pair", "members": ["alpha.example", "nowhere.example"]}]),
            ),
        ),
        (
            "provider `alpha.example` is listed twice",
            Box::new(|v| v["providers"] = serde_json::json!(["alpha.example", "alpha.example"])),
        ),
    ];
    for (want, f) in &cases {
        edit(f.as_ref());
        // The analysis refuses it, naming the file ...
        let e = input::load(&dir).unwrap_err().to_string();
        assert!(e.starts_with("summary.json: "), "{e}");
        assert!(e.contains(want), "want {want}, got {e}");
        // ... and so does the command, before reading anything the summary names.
        let (code, stderr) = report(&dir);
        assert_eq!(code, Some(2), "{want}: {stderr}");
    }
    std::fs::write(dir.join("summary.json"), &summary_text).unwrap();
    // A membership that ends before it starts.
    let path = dir.join("mimi/memberships.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut fields: Vec<String> = lines[2].split(',').map(str::to_string).collect();
    fields[5] = "1".into();
    lines[2] = fields.join(",");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let (code, stderr) = report(&dir);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "mimi/memberships.csv line 3: the membership ends (to_us 1) before it starts"
        ),
        "{stderr}"
    );
    std::fs::write(&path, &text).unwrap();
    // Something a run did not write makes it not a run directory: never rewritten.
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let (code, stderr) = report(&dir);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("not a run directory: it holds notes.txt"),
        "{stderr}"
    );
    std::fs::remove_file(dir.join("notes.txt")).unwrap();
    let (code, stderr) = report(&dir);
    assert_eq!(code, Some(0), "{stderr}");
}

/// scenarios/activity.toml: alice writes in two rooms of one hub in the same five sessions.
/// By hand: windows of 250 ms, the minimum of three shared windows is met in her third
/// session, after 3 + 3 = 6 messages; the hub links her two pseudonyms (1 of 1 foreign pair)
/// through timing alone, while identifiers link nothing. Under mimi the hub names her anyway.
#[test]
fn activity_in_the_same_sessions_links_a_users_rooms() {
    let (_tmp, data) = run("activity");
    let a = metrics::analyze(&data);
    let hub: Vec<_> = a
        .activity
        .iter()
        .filter(|r| r.mode == "mimimi" && r.observer == "hub.example")
        .collect();
    assert_eq!(hub.len(), 1, "{:?}", a.activity);
    assert_eq!(
        (
            hub[0].room_a.as_str(),
            hub[0].room_b.as_str(),
            hub[0].messages_to_link,
            hub[0].windows_to_link,
            hub[0].correct
        ),
        ("family", "work", 6, 3, true)
    );
    let recall = |adversary: &str| {
        let m = a
            .metrics
            .iter()
            .find(|m| {
                m.mode == "mimimi"
                    && m.adversary == adversary
                    && m.observer == "hub.example"
                    && m.scope == Scope::Foreign
                    && m.metric == "cross_room_recall"
            })
            .unwrap();
        (m.value, m.numerator, m.denominator)
    };
    assert_eq!(recall("identifier"), (Some(0.0), Some(0.0), 1.0));
    assert_eq!(recall("fingerprint"), (Some(0.0), Some(0.0), 1.0));
    assert_eq!(recall("timing"), (Some(1.0), Some(1.0), 1.0));
    assert_eq!(recall("combined"), (Some(1.0), Some(1.0), 1.0));
}

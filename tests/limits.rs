//! Work a scenario may ask for is bounded, with positioned errors; `validate` estimates the
//! work of a run, and the estimate is close to what runs do.

use mimimi_sim::output::ModeResult;
use mimimi_sim::scenario::{self, estimate, parse_str, Pos};
use mimimi_sim::world::World;

const HEAD: &str = r#"modes = ["mimi", "mimimi"]
[[provider]]
domain = "a.example"
[[user]]
name = "alice"
provider = "a.example"
[[user]]
name = "bob"
provider = "a.example"
[[action]]
at = "0s"
connect = { from = "alice", to = "bob" }
[[action]]
at = "1s"
create_room = { room = "r", by = "alice", members = ["bob"] }
"#;

/// Lines in `HEAD`.
const H: usize = 15;

#[track_caller]
fn refused(src: &str, line: usize, column: usize, needle: &str) {
    match parse_str(src, "t.toml") {
        Ok(_) => panic!("accepted:\n{src}"),
        Err(e) => {
            assert_eq!(e.pos(), Some(Pos { line, column }), "{e}");
            assert!(e.to_string().contains(needle), "{e}");
            assert!(e.hint().is_some(), "{e}");
        }
    }
}

fn send(extra: &str) -> String {
    format!("{HEAD}[[action]]\nat = \"2s\"\nsend = {{ room = \"r\", from = \"bob\"{extra} }}\n")
}

#[test]
fn simulated_time_counts_and_periods_are_bounded() {
    refused(
        &format!("{HEAD}[[action]]\nat = \"100000h\"\nsend = {{ room = \"r\", from = \"bob\" }}\n"),
        H + 2,
        6,
        "after the longest simulated time, 720h",
    );
    refused(
        &send(", count = 4294967295"),
        H + 3,
        44,
        "send count 4294967295 is too large",
    );
    refused(&send(", count = 1000001"), H + 3, 44, "too large");
    refused(
        &send(", bytes = 0"),
        H + 3,
        44,
        "`bytes` must be 1 to 65536, got 0",
    );
    refused(&send(", bytes = 65537"), H + 3, 44, "got 65537");
    assert!(parse_str(&send(", bytes = 65536"), "t.toml").is_ok());
    refused(
        &send(", count = 10, every = \"1us\""),
        H + 3,
        56,
        "`every` must be at least 1ms",
    );
    // The last message would fall after 30 days.
    refused(
        &send(", count = 1000000, every = \"1h\""),
        H + 3,
        44,
        "would be sent after the longest simulated time",
    );
    refused(
        &format!("{HEAD}[[action]]\nat = \"2s\"\npublish_key_packages = {{ user = \"bob\", count = 4294967295 }}\n"),
        H + 3,
        48,
        "publish_key_packages count 4294967295 is too large",
    );
    refused(
        &format!("last_resort_reupload = \"1us\"\n{HEAD}"),
        1,
        24,
        "shorter than the shortest accepted, 1s",
    );
    refused(
        &format!("latency = \"2h\"\n{HEAD}"),
        1,
        11,
        "longer than the longest accepted, 1m",
    );
    // At the limits, and never re-uploading, all is accepted.
    parse_str(
        &format!(
            "last_resort_reupload = \"0s\"\nlatency = \"1m\"\n{}",
            send(", count = 1000000, every = \"1ms\"")
        ),
        "t.toml",
    )
    .unwrap();
}

#[test]
fn a_long_scenario_knows_its_end() {
    let s = parse_str(&send(", count = 3, every = \"1m\""), "t.toml").unwrap();
    assert_eq!(s.end_us(), 2_000_000 + 2 * 60_000_000);
}

/// The estimate `validate` prints is within a factor of 2 of what the runs do.
#[test]
fn the_estimate_is_close_to_the_work_done() {
    for name in ["quickstart", "churn", "connections", "last-resort"] {
        let path = format!("{}/scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
        let s = scenario::load(std::path::Path::new(&path)).unwrap();
        for ((mode_name, e), mode) in estimate(&s).into_iter().zip(&s.modes) {
            assert_eq!(mode_name, mode.name);
            let out = World::new(&s, mode, s.seed, 0).run(|_| {}).unwrap();
            let r = ModeResult::new(mode, out);
            let stats = &r.output.stats;
            for (what, est, real) in [
                ("events", e.events, stats.events),
                ("MLS operations", e.mls_operations, stats.mls_operations),
            ] {
                let ratio = est as f64 / real as f64;
                assert!(
                    (0.5..=2.0).contains(&ratio),
                    "{name} {mode_name}: {what} estimated {est}, done {real}"
                );
            }
        }
    }
}

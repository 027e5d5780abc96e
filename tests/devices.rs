//! Devices added and removed during a run: a new device enters every room its user is in (by
//! external commit, or with the user's KeyPackages when the user is added later), a removed
//! device deletes its KeyPackages and leaves each of its rooms, placeholders are numbered after
//! every device, and bad device actions get positioned errors.

use mimimi_sim::output::ModeResult;
use mimimi_sim::scenario::{parse_str, Mode};
use mimimi_sim::world::{MembershipRow, RunOutput, World};

/// alice has two devices and bob one; alice gets device 3 at 3s and bob device 2; r2 is made
/// after that (the new devices come in with their users' KeyPackages); alice's device 1 goes at
/// 10s, bob's device 2 at 12s. Lines: the actions start at line 25.
const SCENARIO: &str = r#"name = "devices"
seed = 3
latency = "20ms"
modes = ["mimi", "mimimi", "hidden"]

[[ablation]]
name = "hidden"
base = "mimimi"
placeholder_leaves = true

[[provider]]
domain = "a.example"

[[provider]]
domain = "b.example"

[[user]]
name = "alice"
provider = "a.example"
clients = 2

[[user]]
name = "bob"
provider = "b.example"

[[user]]
name = "carol"
provider = "b.example"

[[action]]
at = "0s"
connect = { from = "alice", to = "bob" }
[[action]]
at = "0s"
connect = { from = "alice", to = "carol" }
[[action]]
at = "0s"
connect = { from = "bob", to = "carol" }
[[action]]
at = "2s"
create_room = { room = "r1", by = "alice", members = ["bob"] }
[[action]]
at = "3s"
add_device = { user = "alice" }
[[action]]
at = "3s"
add_device = { user = "bob" }
[[action]]
at = "4s"
create_room = { room = "r2", by = "bob", members = ["alice", "carol"], hub = "a.example" }
[[action]]
at = "5s"
send = { room = "r1", from = "alice", count = 4, every = "1s" }
[[action]]
at = "10s"
remove_device = { user = "alice", device = 1 }
[[action]]
at = "11s"
send = { room = "r2", from = "alice", count = 3 }
[[action]]
at = "12s"
remove_device = { user = "bob", device = 2 }
[[action]]
at = "13s"
send = { room = "r2", from = "bob", count = 2 }
"#;

fn run(mode: &str) -> RunOutput {
    let s = parse_str(SCENARIO, "devices.toml").unwrap();
    let mode: &Mode = s.modes.iter().find(|m| m.name == mode).unwrap();
    World::new(&s, mode, s.seed, 0).run(|_| {}).unwrap()
}

/// The scenario rooms' membership intervals of `client` in `room`, in seconds.
fn spans(out: &RunOutput, room: &str, client: &str) -> Vec<(f64, Option<f64>)> {
    out.memberships
        .iter()
        .filter(|m: &&MembershipRow| m.room == room && m.client == client)
        .map(|m| (m.from_us as f64 / 1e6, m.to_us.map(|t| t as f64 / 1e6)))
        .collect()
}

#[test]
fn devices_come_and_go_in_every_room_of_their_user() {
    for mode in ["mimi", "mimimi", "hidden"] {
        let out = run(mode);
        let one = |room, client| {
            let s = spans(&out, room, client);
            assert_eq!(s.len(), 1, "{mode}: {client} in {room}: {s:?}");
            s[0]
        };
        // alice's device 3 joins r1 by external commit right after it is added, and comes
        // into r2 with alice's KeyPackages; it stays.
        let (from, to) = one("r1", "alice/3");
        assert!(
            (3.0..3.5).contains(&from) && to.is_none(),
            "{mode}: {from} {to:?}"
        );
        let (from, to) = one("r2", "alice/3");
        assert!((4.0..4.5).contains(&from) && to.is_none(), "{mode}");
        // alice's device 1 leaves both rooms at 10s (proposal, then a member's commit).
        for room in ["r1", "r2"] {
            let (_, to) = one(room, "alice/1");
            assert!(
                to.is_some_and(|t| (10.0..10.5).contains(&t)),
                "{mode}: {to:?}"
            );
            let (_, to) = one(room, "alice/2");
            assert_eq!(to, None, "{mode}");
        }
        // bob's device 2: in r1 from 3s, in r2 from its creation, gone from both at 12s.
        for room in ["r1", "r2"] {
            let (from, to) = one(room, "bob/2");
            assert!(from < 4.5, "{mode}");
            assert!(to.is_some_and(|t| (12.0..12.5).contains(&t)), "{mode}");
        }
        // Each removed device deleted its KeyPackages at its provider, right after its action.
        let deletes: Vec<(u64, &str)> = out
            .observations
            .iter()
            .filter(|o| o.flow == "kp_delete")
            .map(|o| (o.time_us / 1_000_000, o.observer.as_str()))
            .collect();
        assert!(deletes.contains(&(10, "a.example")), "{mode}: {deletes:?}");
        assert!(deletes.contains(&(12, "b.example")), "{mode}: {deletes:?}");
        // Every send went out from a client that was in its room: none skipped.
        assert_eq!(out.stats.sends_skipped, 0, "{mode}");
        assert_eq!(out.stats.messages_sent, 9, "{mode}");
        assert_eq!(out.stats.authentication_failures, 0, "{mode}");
        // Messages of alice after 10s come from its devices 2 and 3 only.
        let late: Vec<&str> = out
            .messages
            .iter()
            .filter(|m| m.user == "alice" && m.time_us >= 10_000_000)
            .map(|m| m.client.as_str())
            .collect();
        assert!(
            !late.is_empty() && late.iter().all(|c| *c != "alice/1"),
            "{late:?}"
        );
    }
}

#[test]
fn placeholders_are_numbered_after_every_device() {
    // Under `hidden`, users are padded to the most declared clients (2): bob's placeholder is
    // bob/3, after the device bob adds (bob/2), and carol's is carol/2.
    let out = run("hidden");
    let clients: Vec<&str> = out
        .memberships
        .iter()
        .filter(|m| m.room == "r2")
        .map(|m| m.client.as_str())
        .collect();
    for c in ["bob/1", "bob/2", "bob/3", "carol/1", "carol/2"] {
        assert!(clients.contains(&c), "{c} not in {clients:?}");
    }
    let (_, to) = spans(&out, "r2", "bob/3")[0];
    assert_eq!(to, None, "the placeholder stays when bob's device 2 goes");
}

#[test]
fn device_changes_repeat_byte_for_byte() {
    let s = parse_str(SCENARIO, "devices.toml").unwrap();
    for mode in &s.modes {
        let once = || {
            let out = World::new(&s, mode, s.seed, 0).run(|_| {}).unwrap();
            (
                out.memberships.clone(),
                ModeResult::new(mode, out).fingerprint,
            )
        };
        assert_eq!(once(), once(), "mode {}", mode.name);
    }
}

#[track_caller]
fn assert_err(replace: (&str, &str), line: usize, column: usize, needle: &str) {
    assert!(SCENARIO.contains(replace.0), "{}", replace.0);
    let src = SCENARIO.replacen(replace.0, replace.1, 1);
    let e = parse_str(&src, "t.toml").expect_err("a bad device action");
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("t.toml:{line}:{column}: error: ")),
        "{text}"
    );
    assert!(text.contains(needle), "{text}");
}

#[test]
fn bad_device_actions_are_reported_where_they_are_written() {
    // Line 56 is alice's remove_device, line 62 bob's; column 44 is the `device` value.
    assert_err(
        (
            "user = \"alice\", device = 1",
            "user = \"alice\", device = 4",
        ),
        56,
        44,
        "alice has no device 4 at 10s: it is not added yet",
    );
    assert_err(
        (
            "user = \"alice\", device = 1",
            "user = \"alice\", device = 0",
        ),
        56,
        44,
        "`device` must be a device number from 1, got 0",
    );
    assert_err(
        (
            "remove_device = { user = \"bob\", device = 2 }",
            "remove_device = { user = \"bob\", device = 2 }\n[[action]]\nat = \"12s\"\nremove_device = { user = \"bob\", device = 2 }",
        ),
        65,
        42,
        "bob has no device 2 at 12s: it was removed earlier",
    );
    assert_err(
        (
            "remove_device = { user = \"bob\", device = 2 }",
            "remove_device = { user = \"carol\", device = 1 }",
        ),
        62,
        44,
        "device 1 is carol's last device at 12s: a user keeps at least one",
    );
    assert_err(
        (
            "add_device = { user = \"bob\" }",
            "add_device = { user = \"bobby\" }",
        ),
        47,
        23,
        "bobby",
    );
}

/// A device removed while an add of its user is under way: the KeyPackage claimed (or the set
/// fetched) before the device deleted its KeyPackages still brings it in, and it leaves again.
#[test]
fn a_device_removed_during_an_add_leaves_again() {
    for offset_ms in [0, 80] {
        let src = format!(
            r#"latency = "20ms"
modes = ["mimi", "mimimi"]
[[provider]]
domain = "a.example"
[[provider]]
domain = "b.example"
[[user]]
name = "alice"
provider = "a.example"
clients = 2
[[user]]
name = "bob"
provider = "b.example"
[[action]]
at = "0s"
connect = {{ from = "bob", to = "alice" }}
[[action]]
at = "5s"
create_room = {{ room = "r", by = "bob", members = ["alice"] }}
[[action]]
at = "{}ms"
remove_device = {{ user = "alice", device = 2 }}
[[action]]
at = "8s"
send = {{ room = "r", from = "alice", count = 2 }}
"#,
            5_000 + offset_ms
        );
        let s = parse_str(&src, "race.toml").unwrap();
        let mut came_in = 0;
        for mode in &s.modes {
            let out = World::new(&s, mode, 1, 0).run(|_| {}).unwrap();
            let (m, o) = (&mode.name, offset_ms);
            let alice1 = spans(&out, "r", "alice/1");
            assert!(alice1.len() == 1 && alice1[0].1.is_none(), "{m} {o}");
            for (from, to) in spans(&out, "r", "alice/2") {
                came_in += 1;
                assert!(to.is_some_and(|t| t > from && t < 6.0), "{m} {o}: {to:?}");
            }
            assert_eq!(out.stats.messages_sent, 2, "{m} {o}");
            assert_eq!(out.stats.sends_skipped, 0, "{m} {o}");
        }
        // The race is real: with these timings the device came in at least once.
        assert!(came_in > 0, "offset {offset_ms}");
    }
}

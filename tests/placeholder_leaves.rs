//! The countermeasure `placeholder_leaves`: every user with fewer clients than
//! `leaves_per_user` gets placeholder clients up to that number, which are added, join and are
//! removed with the user but never send. What providers observe (every user pseudonym shows
//! the same number of client pseudonyms), what membership and messages show, what it does to
//! the fingerprint adversary on scenarios/many-devices.toml, what it costs, and its key.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use mimimi_analysis::metrics;
use mimimi_analysis::model::{Analysis, RunData, Scope};
use mimimi_sim::observe::{Kind, Observation};
use mimimi_sim::output::{summary_json, ModeResult};
use mimimi_sim::scenario::{estimate, parse_str, Mechanisms, Mode, Scenario};
use mimimi_sim::world::{RunOutput, World};

/// Two providers; alice (alpha, 1 client), bob (beta, 2), carol (alpha, 3), dave (beta, 1).
/// `lunch` (hub alpha) and `work` (hub beta) are created at 5s; messages at 10s; dave joins
/// `lunch` by external commit at 20s and writes at 25s; bob leaves `lunch` at 30s; carol
/// removes alice from `work` at 35s; carol writes in `lunch` and bob in `work` at 40s.
const PADDED: &str = r#"name = "padded"
seed = 5
latency = "20ms"
modes = ["mimimi", "hidden"]
EXTRA

[[ablation]]
name = "hidden"
base = "mimimi"
placeholder_leaves = true

[[provider]]
domain = "alpha.example"

[[provider]]
domain = "beta.example"

[[user]]
name = "alice"
provider = "alpha.example"

[[user]]
name = "bob"
provider = "beta.example"
clients = 2

[[user]]
name = "carol"
provider = "alpha.example"
clients = 3

[[user]]
name = "dave"
provider = "beta.example"

[[action]]
at = "0s"
connect = { from = "alice", to = "bob" }

[[action]]
at = "0s"
connect = { from = "alice", to = "carol" }

[[action]]
at = "0s"
connect = { from = "alice", to = "dave" }

[[action]]
at = "1s"
connect = { from = "carol", to = "bob" }

[[action]]
at = "5s"
create_room = { room = "lunch", by = "alice", members = ["bob", "carol"] }

[[action]]
at = "5s"
create_room = { room = "work", by = "carol", hub = "beta.example", members = ["alice", "bob"] }

[[action]]
at = "10s"
send = { room = "lunch", from = "alice", count = 3, every = "1s" }

[[action]]
at = "10s"
send = { room = "work", from = "bob", count = 4, every = "1s" }

[[action]]
at = "20s"
join = { room = "lunch", user = "dave" }

[[action]]
at = "25s"
send = { room = "lunch", from = "dave", count = 2, every = "1s" }

[[action]]
at = "30s"
leave = { room = "lunch", user = "bob" }

[[action]]
at = "35s"
remove = { room = "work", by = "carol", user = "alice" }

[[action]]
at = "40s"
send = { room = "lunch", from = "carol", count = 3, every = "1s" }

[[action]]
at = "40s"
send = { room = "work", from = "bob", count = 2, every = "1s" }
"#;

/// The real clients of each user of [`PADDED`].
const REAL: [(&str, usize); 4] = [("alice", 1), ("bob", 2), ("carol", 3), ("dave", 1)];
/// `leaves_per_user` in [`padded`].
const K: usize = 3;

fn scenario(extra: &str) -> Scenario {
    parse_str(&PADDED.replace("EXTRA", extra), "padded.toml").unwrap()
}

fn padded() -> Scenario {
    scenario("leaves_per_user = 3")
}

fn mode<'s>(s: &'s Scenario, name: &str) -> &'s Mode {
    s.modes.iter().find(|m| m.name == name).unwrap()
}

fn run(s: &Scenario, name: &str) -> ModeResult {
    let m = mode(s, name);
    let out = World::new(s, m, s.seed, 0)
        .run(|_| {})
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    ModeResult::new(m, out)
}

/// Owner (user name) of each identifier value of `kind`, from the ground truth.
fn owners(out: &RunOutput, kind: Kind) -> BTreeMap<String, String> {
    out.truth
        .iter()
        .filter(|t| t.kind == kind)
        .map(|t| (t.value.clone(), t.user.clone()))
        .collect()
}

/// Per (observer, room, user pseudonym): the client pseudonyms observed beside the user
/// pseudonym (same subject of one observation), over the whole run.
fn devices_seen(obs: &[Observation]) -> BTreeMap<(String, String, String), BTreeSet<String>> {
    let mut out: BTreeMap<_, BTreeSet<String>> = BTreeMap::new();
    for o in obs {
        let Some(room) = &o.room else { continue };
        let mut subjects: BTreeMap<u32, Vec<_>> = BTreeMap::new();
        for i in &o.items {
            subjects.entry(i.subject).or_default().push(i);
        }
        for items in subjects.values() {
            for u in items.iter().filter(|i| i.kind == Kind::UserPseudonym) {
                out.entry((o.observer.clone(), room.clone(), u.value.clone()))
                    .or_default()
                    .extend(
                        items
                            .iter()
                            .filter(|i| i.kind == Kind::ClientPseudonym)
                            .map(|i| i.value.clone()),
                    );
            }
        }
    }
    out.retain(|_, d| !d.is_empty());
    out
}

/// Per (observer, room): the device count each user shows there, by user name.
fn device_counts(out: &RunOutput) -> BTreeMap<(String, String), BTreeMap<String, usize>> {
    let user_of = owners(out, Kind::UserPseudonym);
    let client_of = owners(out, Kind::ClientPseudonym);
    let mut counts: BTreeMap<(String, String), BTreeMap<String, usize>> = BTreeMap::new();
    for ((observer, room, pseudonym), devices) in devices_seen(&out.observations) {
        let user = user_of[&pseudonym].clone();
        // Every client pseudonym beside a user pseudonym is one of that user's.
        for d in &devices {
            assert_eq!(client_of[d], user, "{d} beside {pseudonym} in {room}");
        }
        let previous = counts
            .entry((observer, room.clone()))
            .or_default()
            .insert(user.clone(), devices.len());
        assert_eq!(previous, None, "{user} shows two pseudonyms in {room}");
    }
    counts
}

#[test]
fn every_user_pseudonym_shows_leaves_per_user_devices() {
    let s = padded();
    assert_eq!(s.leaves_per_user, 3);
    let plain = run(&s, "mimimi");
    let hidden = run(&s, "hidden");

    for (r, expect_real) in [(&plain, true), (&hidden, false)] {
        let counts = device_counts(&r.output);
        // Both hubs (alpha for lunch, beta for work) see every member of their rooms, and
        // each user's count there: the real one without the countermeasure, K with it.
        let at = |observer: &str, room: &str| {
            counts
                .get(&(observer.to_string(), room.to_string()))
                .unwrap_or_else(|| panic!("{observer} sees nothing of {room}"))
        };
        let lunch = at("alpha.example", "lunch");
        let work = at("beta.example", "work");
        assert_eq!(
            lunch.keys().map(String::as_str).collect::<Vec<_>>(),
            ["alice", "bob", "carol", "dave"]
        );
        assert_eq!(
            work.keys().map(String::as_str).collect::<Vec<_>>(),
            ["alice", "bob", "carol"]
        );
        let mut rooms = 0;
        for ((observer, room), users) in &counts {
            for (user, &n) in users {
                let real = REAL.iter().find(|(u, _)| u == user).unwrap().1;
                let want = if expect_real { real } else { K };
                assert_eq!(n, want, "{}: {user} in {room} at {observer}", r.mode);
            }
            rooms += 1;
        }
        // lunch, work and the four connection rooms, at their hubs and followers.
        assert!(rooms >= 6, "{counts:?}");
    }
    // The fingerprint the adversary reads, on the run's own observations: every class of
    // (domain, count) holds users of one domain with K devices.
    let counts = device_counts(&hidden.output);
    let distinct: BTreeSet<usize> = counts.values().flat_map(|u| u.values().copied()).collect();
    assert_eq!(distinct, BTreeSet::from([K]));
    let distinct: BTreeSet<usize> = device_counts(&plain.output)
        .values()
        .flat_map(|u| u.values().copied())
        .collect();
    assert_eq!(distinct, BTreeSet::from([1, 2, 3]));
}

#[test]
fn placeholders_are_members_with_the_user_and_never_send() {
    let s = padded();
    let plain = run(&s, "mimimi");
    let hidden = run(&s, "hidden");
    let out = &hidden.output;

    // The ground truth lists the placeholders as the user's clients, numbered after the real
    // ones.
    let clients: BTreeSet<(String, String)> = out
        .truth
        .iter()
        .filter(|t| t.kind == Kind::ClientId)
        .map(|t| (t.user.clone(), t.client.clone()))
        .collect();
    let want: BTreeSet<(String, String)> = REAL
        .iter()
        .flat_map(|(u, _)| (1..=K).map(move |n| (u.to_string(), format!("{u}/{n}"))))
        .collect();
    assert_eq!(clients, want);
    assert_eq!(
        plain
            .output
            .truth
            .iter()
            .filter(|t| t.kind == Kind::ClientId)
            .count(),
        1 + 2 + 3 + 1
    );

    // Memberships: in every room each member has K clients, which enter and leave together
    // (a leave and a removal take all K leaves in one commit).
    let spans = |room: &str, user: &str| -> Vec<(String, Option<u64>)> {
        out.memberships
            .iter()
            .filter(|m| m.room == room && m.user == user)
            .map(|m| (m.client.clone(), m.to_us))
            .collect()
    };
    for (room, user) in [
        ("lunch", "alice"),
        ("lunch", "carol"),
        ("lunch", "dave"),
        ("work", "bob"),
        ("work", "carol"),
    ] {
        let s = spans(room, user);
        assert_eq!(s.len(), K, "{user} in {room}: {s:?}");
        assert!(s.iter().all(|(_, to)| to.is_none()), "{user} in {room}");
    }
    for (room, user, at) in [("lunch", "bob", 30_000_000), ("work", "alice", 35_000_000)] {
        let s = spans(room, user);
        let ends: BTreeSet<Option<u64>> = s.iter().map(|(_, to)| *to).collect();
        assert_eq!(s.len(), K, "{user} in {room}: {s:?}");
        assert_eq!(
            ends.len(),
            1,
            "{user}'s leaves leave {room} together: {s:?}"
        );
        let end = ends.into_iter().next().unwrap().expect("removed");
        assert!((at..at + 1_000_000).contains(&end), "{end}");
    }

    // After bob left lunch, the fanouts of lunch's messages reach no queue of bob's: at beta
    // (bob's and dave's provider) each message goes to dave's K queues only; before, to
    // bob's K as well.
    let queue_owner = owners(out, Kind::QueueId);
    let fanout_queues = |from: u64, to: u64| -> Vec<Vec<String>> {
        out.observations
            .iter()
            .filter(|o| {
                o.observer == "beta.example"
                    && o.flow == "fanout_message"
                    && o.room.as_deref() == Some("lunch")
                    && (from..to).contains(&o.time_us)
            })
            .map(|o| {
                o.items
                    .iter()
                    .filter(|i| i.kind == Kind::QueueId)
                    .map(|i| queue_owner[&i.value].clone())
                    .collect()
            })
            .collect()
    };
    let before = fanout_queues(10_000_000, 20_000_000);
    assert_eq!(before.len(), 3, "alice's three messages");
    for users in &before {
        assert_eq!(users, &vec!["bob".to_string(); K]);
    }
    let after = fanout_queues(40_000_000, 50_000_000);
    assert_eq!(after.len(), 3, "carol's three messages");
    for users in &after {
        assert_eq!(users, &vec!["dave".to_string(); K]);
    }

    // Messages are sent by real clients only, taking turns as without the countermeasure.
    let senders = |r: &ModeResult| -> Vec<(String, String)> {
        r.output
            .messages
            .iter()
            // Connection rooms are numbered in the order they are created, which moves.
            .filter(|m| !m.room.starts_with("connection-"))
            .map(|m| (m.room.clone(), m.client.clone()))
            .collect()
    };
    assert_eq!(senders(&hidden), senders(&plain));
    for m in &out.messages {
        let real = REAL.iter().find(|(u, _)| *u == m.user).unwrap().1;
        let n: usize = m.client.rsplit_once('/').unwrap().1.parse().unwrap();
        assert!(n <= real, "{} sent by placeholder {}", m.room, m.client);
    }
    let lunch_carol: Vec<&str> = out
        .messages
        .iter()
        .filter(|m| m.room == "lunch" && m.user == "carol")
        .map(|m| m.client.as_str())
        .collect();
    assert_eq!(lunch_carol, ["carol/1", "carol/2", "carol/3"]);
    let work_bob: Vec<&str> = out
        .messages
        .iter()
        .filter(|m| m.room == "work" && m.user == "bob")
        .map(|m| m.client.as_str())
        .collect();
    assert_eq!(
        work_bob,
        ["bob/1", "bob/2", "bob/1", "bob/2", "bob/1", "bob/2"]
    );
    assert_eq!(hidden.output.stats.messages_sent, 3 + 4 + 2 + 3 + 2);
    assert_eq!(hidden.output.stats.sends_skipped, 0);
}

#[test]
fn placeholders_cost_what_clients_cost_and_are_counted() {
    let s = padded();
    let plain = run(&s, "mimimi");
    let hidden = run(&s, "hidden");
    let (p, h) = (&plain.output.stats, &hidden.output.stats);
    // alice 2, bob 1, carol 0, dave 2.
    assert_eq!(h.placeholder_clients, Some(5));
    assert_eq!(p.placeholder_clients, None);
    // 5 more commits: a user with one client creates a room alone, or joins one, with its
    // single leaf; with placeholders it then adds its other leaves as a user with several
    // devices does (alice's three connection rooms; dave's joins of `lunch` and of his
    // connection room). `lunch` is created with its members in one commit either way. The
    // same messages sent; placeholders receive and decrypt (every message reaches 3 leaves
    // per member instead of 1 to 3).
    assert_eq!(h.commits, p.commits + 5, "{} vs {}", h.commits, p.commits);
    assert_eq!(h.messages_sent, p.messages_sent);
    assert!(h.messages_delivered > p.messages_delivered);
    assert!(h.mls_operations > p.mls_operations);
    assert!(h.events > p.events);
    let bytes = |r: &ModeResult| r.output.observations.iter().map(|o| o.size).sum::<usize>();
    assert!(bytes(&hidden) > bytes(&plain));

    // The estimate counts placeholders like clients, within a factor of 2 of the runs.
    let estimates = estimate(&s);
    for ((name, e), r) in estimates.iter().zip([&plain, &hidden]) {
        assert_eq!(name, &r.mode);
        for (est, real) in [
            (e.mls_operations, r.output.stats.mls_operations),
            (e.events, r.output.stats.events),
        ] {
            let ratio = est as f64 / real as f64;
            assert!((0.5..=2.0).contains(&ratio), "{name}: {est} vs {real}");
        }
    }
    assert!(estimates[1].1.mls_operations > estimates[0].1.mls_operations);

    // The summary records `leaves_per_user` and the counter only where they apply.
    let json: serde_json::Value =
        serde_json::from_str(&summary_json(&s, s.seed, 0, &[plain, hidden])).unwrap();
    assert_eq!(json["parameters"]["leaves_per_user"], 3);
    assert_eq!(json["parameters"]["clients"], 7, "real clients");
    assert_eq!(json["modes"]["hidden"]["stats"]["placeholder_clients"], 5);
    assert!(json["modes"]["mimimi"]["stats"]
        .as_object()
        .unwrap()
        .get("placeholder_clients")
        .is_none());
    assert_eq!(
        json["modes"]["hidden"]["mechanisms"]
            .as_array()
            .unwrap()
            .last(),
        Some(&serde_json::Value::from("placeholder_leaves"))
    );

    // Same seed, same run.
    let again = run(&s, "hidden");
    let first = run(&s, "hidden");
    assert_eq!(again.fingerprint, first.fingerprint);
    assert_eq!(again.output.stats, first.output.stats);
}

#[test]
fn leaves_per_user_defaults_to_the_most_clients_and_lower_values_pad_less() {
    // Without the key: the largest `clients`, 3.
    let s = scenario("");
    assert_eq!(s.leaves_per_user, 3);
    // K = 2: carol keeps her 3, bob has 2 already, alice and dave get one placeholder each.
    let s = scenario("leaves_per_user = 2");
    let r = run(&s, "hidden");
    assert_eq!(r.output.stats.placeholder_clients, Some(2));
    let counts = device_counts(&r.output);
    let lunch = &counts[&("alpha.example".to_string(), "lunch".to_string())];
    let got: Vec<(&str, usize)> = lunch.iter().map(|(u, &n)| (u.as_str(), n)).collect();
    assert_eq!(got, [("alice", 2), ("bob", 2), ("carol", 3), ("dave", 2)]);
    // Without the countermeasure in any mode the key changes nothing: the built-in modes
    // give the same runs with and without it.
    let a = scenario("leaves_per_user = 1");
    let b = scenario("leaves_per_user = 16");
    assert_eq!(run(&a, "mimimi").fingerprint, run(&b, "mimimi").fingerprint);
}

#[test]
fn placeholder_leaves_is_a_countermeasure_off_in_the_builtin_modes() {
    assert_eq!(
        Mechanisms::COUNTERMEASURES,
        ["jitter", "padding", "placeholder_leaves"]
    );
    for m in [Mechanisms::MIMI, Mechanisms::MIMIMI] {
        assert!(!m.placeholder_leaves && !m.any_countermeasure());
        assert_eq!(m.get("placeholder_leaves"), Some(false));
    }
    let mut m = Mechanisms::MIMIMI;
    assert!(m.set("placeholder_leaves", true));
    assert!(m.any_countermeasure());
    let s = padded();
    assert_eq!(mode(&s, "hidden").mechanisms, m);
    assert_eq!(mode(&s, "mimimi").mechanisms, Mechanisms::MIMIMI);
}

#[track_caller]
fn assert_err(extra: &str, line: usize, column: usize, needle: &str) {
    common::assert_refused_at(&PADDED.replace("EXTRA", extra), line, column, needle);
}

#[test]
fn bad_leaves_per_user_is_reported_at_its_position() {
    // EXTRA is line 5 of PADDED.
    assert_err(
        "leaves_per_user = 0",
        5,
        19,
        "leaves_per_user must be between 1 and 16, got 0",
    );
    assert_err(
        "leaves_per_user = 17",
        5,
        19,
        "leaves_per_user must be between 1 and 16, got 17",
    );
    assert_err(
        "leaves_per_user = -2",
        5,
        19,
        "leaves_per_user must be between 1 and 16, got -2",
    );
    assert_err("leaves_per_user = \"3\"", 5, 19, "invalid type");
    // The switch is a boolean, like the others.
    let src = PADDED
        .replace("EXTRA", "")
        .replace("placeholder_leaves = true", "placeholder_leaves = 1");
    let e = parse_str(&src, "t.toml").unwrap_err();
    assert_eq!(e.pos().map(|p| p.line), Some(10), "{e}");
}

/// Runs scenarios/many-devices.toml (with `extra` appended) with the binary and analyses it.
fn many_devices(extra: &str) -> (tempfile::TempDir, RunData) {
    let tmp = tempfile::tempdir().unwrap();
    let src = std::fs::read_to_string(format!(
        "{}/scenarios/many-devices.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let path = tmp.path().join("many-devices.toml");
    std::fs::write(&path, format!("{src}\n{extra}")).unwrap();
    let data = common::run_and_load(&path, &tmp.path().join("out"));
    (tmp, data)
}

/// (numerator, denominator) of a foreign metric, or the value for order statistics.
fn foreign(a: &Analysis, mode: &str, adversary: &str, observer: &str, metric: &str) -> (f64, f64) {
    let m = a
        .metrics
        .iter()
        .find(|m| {
            m.mode == mode
                && m.adversary == adversary
                && m.observer == observer
                && m.scope == Scope::Foreign
                && m.metric == metric
        })
        .unwrap_or_else(|| panic!("no {metric} for {mode}/{adversary}/{observer}"));
    (m.numerator.or(m.value).expect("measured"), m.denominator)
}

const PROVIDERS: [&str; 3] = ["alpha.example", "beta.example", "gamma.example"];

/// many-devices: under mimimi alpha.example links frank's two rooms by his nine devices (1 of
/// 6 pairs); with every user padded to 10 leaves nothing is linked.
#[test]
fn placeholders_close_the_device_count_fingerprint_on_many_devices() {
    let (_tmp, data) = many_devices("");
    let a = metrics::analyze(&data);
    for adversary in ["fingerprint", "combined"] {
        assert_eq!(
            foreign(
                &a,
                "mimimi",
                adversary,
                "alpha.example",
                "cross_room_recall"
            ),
            (1.0, 6.0)
        );
        for p in PROVIDERS {
            let (n, d) = foreign(&a, "hidden-devices", adversary, p, "cross_room_recall");
            assert_eq!(n, 0.0, "{adversary} at {p}");
            assert!(d >= 6.0);
        }
    }
    // The cost: 15 placeholders (alice has 10; bob 5, carol 2, dave 4, erin 3, frank 1).
    let stats = |m: &str| &data.modes.iter().find(|x| x.mode == m).unwrap().stats;
    assert_eq!(stats("hidden-devices")["placeholder_clients"], 15.0);
    assert!(!stats("mimimi").contains_key("placeholder_clients"));
    assert!(stats("hidden-devices")["mls_operations"] > stats("mimimi")["mls_operations"]);
    assert_eq!(
        stats("hidden-devices")["commits"],
        stats("mimimi")["commits"]
    );

    // The estimate counts the placeholders: within a factor of 2 of the run.
    let s = mimimi_sim::scenario::load(std::path::Path::new(&format!(
        "{}/scenarios/many-devices.toml",
        env!("CARGO_MANIFEST_DIR")
    )))
    .unwrap();
    for (name, e) in estimate(&s) {
        let real = stats(&name)["mls_operations"];
        let ratio = e.mls_operations as f64 / real;
        assert!((0.5..=2.0).contains(&ratio), "{name}: {e:?} vs {real}");
    }
}

/// With a directory of device counts the adversary identifies the user with more devices of
/// each provider under mimimi (4 foreign members at each); with placeholders every user of a
/// domain has 10 devices in the directory and in every room, and nobody is singled out.
#[test]
fn placeholders_close_what_a_directory_adds() {
    let (_tmp, data) = many_devices("[adversary]\ndirectory = true\n");
    let a = metrics::analyze(&data);
    for (p, members) in PROVIDERS.into_iter().zip([9.0, 10.0, 9.0]) {
        assert_eq!(
            foreign(&a, "mimimi", "combined", p, "identification"),
            (4.0, members),
            "{p}"
        );
        assert_eq!(
            foreign(&a, "mimimi", "combined", p, "anonymity_set_min").0,
            1.0
        );
        assert_eq!(
            foreign(&a, "hidden-devices", "combined", p, "identification"),
            (0.0, members),
            "{p}"
        );
        assert_eq!(
            foreign(&a, "hidden-devices", "combined", p, "anonymity_set_min").0,
            2.0
        );
        assert_eq!(
            foreign(&a, "hidden-devices", "combined", p, "cross_room_recall").0,
            0.0
        );
    }
}

//! The countermeasures beyond the draft, `padding` and `jitter`: what they do to the sizes and
//! times providers observe and what the run records of their cost, on a scenario small enough
//! to work out by hand; that they are off in the built-in modes (the quickstart's fingerprints
//! are those of before they existed); and that their scenario keys are checked like the others.

mod common;

use mimimi_sim::observe::{Observation, Peer};
use mimimi_sim::output::{summary_json, ModeResult};
use mimimi_sim::scenario::{parse_str, Mechanisms, Mode, Scenario};
use mimimi_sim::world::{RunOutput, World};

/// Two providers, alice at alpha and bob at beta, one client each; one KeyPackage set each
/// (plus the last-resort set); the perfect anonymous channel, so that every message a provider
/// receives is one observation. They connect at 0s; alice creates `lunch` (hub alpha) with
/// bob at 2s; at 5s both send one message, at the same instant.
const TINY: &str = r#"name = "tiny"
seed = 3
latency = "20ms"
channel = "direct"
key_package_sets = 1
EXTRA

[[ablation]]
name = "plain"
base = "mimimi"

[[ablation]]
name = "padded"
base = "mimimi"
padding = true

[[ablation]]
name = "jittered"
base = "mimimi"
jitter = true

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

[[action]]
at = "0s"
connect = { from = "alice", to = "bob" }

[[action]]
at = "2s"
create_room = { room = "lunch", by = "alice", members = ["bob"] }

[[action]]
at = "5s"
send = { room = "lunch", from = "alice" }

[[action]]
at = "5s"
send = { room = "lunch", from = "bob" }
"#;

/// The latency per hop of [`TINY`], in microseconds.
const LATENCY: u64 = 20_000;
/// When both send, in microseconds.
const SEND_AT: u64 = 5_000_000;
/// The default `jitter_max`, in microseconds.
const JITTER_MAX: u64 = 200_000;
/// The bytes a padding envelope adds besides the padding: a discriminant and two 4-byte lengths.
const ENVELOPE: usize = 9;

fn tiny(extra: &str) -> Scenario {
    parse_str(&TINY.replace("EXTRA", extra), "tiny.toml").unwrap()
}

fn mode<'s>(s: &'s Scenario, name: &str) -> &'s Mode {
    s.modes.iter().find(|m| m.name == name).unwrap()
}

/// Runs one mode: its output and fingerprint.
fn run(s: &Scenario, name: &str, run: u64) -> (RunOutput, String) {
    let m = mode(s, name);
    let out = World::new(s, m, s.seed, run)
        .run(|_| {})
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let fingerprint = ModeResult::new(m, out.clone()).fingerprint;
    (out, fingerprint)
}

/// The smallest power of two from 256 that holds `size` bytes.
fn power_of_two_bucket(size: usize) -> usize {
    size.max(256).next_power_of_two()
}

fn find<'o>(obs: &'o [Observation], observer: &str, flow: &str) -> Vec<&'o Observation> {
    obs.iter()
        .filter(|o| o.observer == observer && o.flow == flow)
        .collect()
}

#[test]
fn padding_pads_every_message_to_a_bucket_and_counts_its_bytes() {
    let s = tiny("");
    let (plain, plain_fp) = run(&s, "plain", 0);
    let (padded, padded_fp) = run(&s, "padded", 0);

    // Padding changes sizes only: the same observations at the same times, in the same order.
    assert_eq!(plain.observations.len(), padded.observations.len());
    let mut padding_sum = 0u64;
    for (p, q) in plain.observations.iter().zip(&padded.observations) {
        assert_eq!(
            (p.time_us, &p.observer, p.flow, &p.peer, &p.items),
            (q.time_us, &q.observer, q.flow, &q.peer, &q.items)
        );
        // Every observed size is a bucket: the message and its envelope, rounded up.
        assert_eq!(q.size, power_of_two_bucket(p.size + ENVELOPE), "{}", p.flow);
        assert!(q.size.is_power_of_two() && q.size >= 256);
        padding_sum += (q.size - p.size) as u64;
    }
    assert_ne!(plain_fp, padded_fp, "sizes are in the fingerprint");

    // Worked out by hand. A queue registration is a discriminant, a 1-byte length and a
    // 16-byte queue ID: 18 bytes, padded to 256 (238 padding bytes).
    for o in find(&plain.observations, "alpha.example", "queue_registration") {
        assert_eq!(o.size, 1 + 1 + 16);
    }
    for o in find(&padded.observations, "alpha.example", "queue_registration") {
        assert_eq!(o.size, 256);
    }
    // The hub's acknowledgement of `lunch` is a discriminant, a 1-byte length and the room
    // URI `mimi://alpha.example/r/lunch` (28 bytes): 30 bytes, padded to 256.
    let lunch = Some("lunch".to_string());
    let ack = |obs: &[Observation]| {
        obs.iter()
            .find(|o| o.flow == "room_ack" && o.room == lunch)
            .unwrap()
            .size
    };
    assert_eq!(ack(&plain.observations), 1 + 1 + 28);
    assert_eq!(ack(&padded.observations), 256);
    // An application message of 256 bytes does not fit 256 with its 9-byte envelope: 512.
    let home_messages = |obs: &[Observation]| -> Vec<usize> {
        obs.iter()
            .filter(|o| o.flow == "app_message" && matches!(o.peer, Peer::Account(_)))
            .map(|o| o.size)
            .collect()
    };
    assert!(home_messages(&plain.observations).contains(&256));
    assert_eq!(home_messages(&padded.observations), vec![512, 512]);
    // alice's regular and last-resort KeyPackage sets (one KeyPackage each; the last-resort
    // one carries the last_resort extension) differ in size without padding and not with it.
    let uploads = |obs: &[Observation]| -> Vec<usize> {
        find(obs, "alpha.example", "kp_set_upload")
            .iter()
            .map(|o| o.size)
            .collect()
    };
    let (p, q) = (uploads(&plain.observations), uploads(&padded.observations));
    assert_eq!(p.len(), 2);
    assert_ne!(p[0], p[1], "regular and last-resort uploads differ: {p:?}");
    assert!(p
        .iter()
        .all(|&n| n + ENVELOPE > 512 && n + ENVELOPE <= 1024));
    assert_eq!(q, vec![1024, 1024]);

    // The cost: with the perfect anonymous channel every message a provider receives is one
    // observation, so the padding bytes are the sum of (bucket - unpadded size), and the
    // bytes sent grow by exactly that.
    let (ps, qs) = (&plain.stats, &padded.stats);
    assert_eq!(qs.padding_bytes, Some(padding_sum));
    assert_eq!(ps.padding_bytes, None, "no padding, no padding counter");
    assert_eq!(qs.provider_messages, Some(padded.observations.len() as u64));
    assert_eq!(ps.provider_messages, qs.provider_messages);
    let sizes = |o: &RunOutput| o.observations.iter().map(|o| o.size as u64).sum::<u64>();
    assert_eq!(ps.bytes_sent, Some(sizes(&plain)));
    assert_eq!(qs.bytes_sent, Some(sizes(&padded)));
    assert_eq!(qs.bytes_sent.unwrap() - ps.bytes_sent.unwrap(), padding_sum);
    assert_eq!(qs.jitter_messages, None);

    // Same scenario, same seed: the same run.
    let (again, again_fp) = run(&s, "padded", 0);
    assert_eq!(again_fp, padded_fp);
    assert_eq!(again.stats, padded.stats);
}

#[test]
fn padding_buckets_from_the_scenario() {
    let s = tiny("padding_buckets = [300, 1000, 4000]");
    assert_eq!(s.padding_buckets, vec![300, 1000, 4000]);
    assert_eq!(s.padding_bucket(1), Some(300));
    assert_eq!(s.padding_bucket(300), Some(300));
    assert_eq!(s.padding_bucket(301), Some(1000));
    // Beyond the largest bucket: the next multiple of it.
    assert_eq!(s.padding_bucket(4001), Some(8000));
    assert_eq!(s.padding_bucket(12_000), Some(12_000));
    let d = tiny("");
    assert!(d.padding_buckets.is_empty());
    assert_eq!(d.padding_bucket(1), Some(256));
    assert_eq!(d.padding_bucket(257), Some(512));

    let (plain, _) = run(&s, "plain", 0);
    let (padded, _) = run(&s, "padded", 0);
    let mut padding_sum = 0u64;
    for (p, q) in plain.observations.iter().zip(&padded.observations) {
        let want = s.padding_bucket((p.size + ENVELOPE) as u64).unwrap() as usize;
        assert_eq!(q.size, want, "{}", p.flow);
        padding_sum += (q.size - p.size) as u64;
    }
    // 256 + 9 fits 300; a KeyPackage set upload (about 700 bytes) 1000.
    let sizes: Vec<usize> = find(&padded.observations, "alpha.example", "app_message")
        .iter()
        .map(|o| o.size)
        .collect();
    assert!(sizes.contains(&300), "{sizes:?}");
    for o in find(&padded.observations, "alpha.example", "kp_set_upload") {
        assert_eq!(o.size, 1000);
    }
    assert_eq!(padded.stats.padding_bytes, Some(padding_sum));
}

/// The extra delays of the two application messages sent at 5s: when each reached its
/// sender's provider, minus 5s and one hop.
fn send_delays(out: &RunOutput) -> Vec<u64> {
    out.observations
        .iter()
        .filter(|o| o.flow == "app_message" && matches!(o.peer, Peer::Account(_)))
        .map(|o| o.time_us - SEND_AT - LATENCY)
        .collect()
}

/// When each application message reached the hub (alpha, from a provider).
fn hub_arrivals(out: &RunOutput) -> Vec<u64> {
    let mut t: Vec<u64> = out
        .observations
        .iter()
        .filter(|o| o.flow == "app_message" && matches!(o.peer, Peer::Domain(_)))
        .map(|o| o.time_us)
        .collect();
    t.sort_unstable();
    t
}

/// The sends the jitter delays, counted in a run without it: with the perfect anonymous
/// channel, each is observed once where it first arrives, anonymous or on the session.
fn jittered_sends(out: &RunOutput) -> usize {
    out.observations
        .iter()
        .filter(|o| match o.peer {
            Peer::Anonymous => true,
            Peer::Account(_) => matches!(
                o.flow,
                "room_create" | "handshake" | "groupinfo_request" | "app_message"
            ),
            Peer::Domain(_) => false,
        })
        .count()
}

#[test]
fn jitter_separates_simultaneous_actions_within_its_bound() {
    let s = tiny("");
    let (plain, plain_fp) = run(&s, "plain", 0);
    let (jittered, jittered_fp) = run(&s, "jittered", 0);

    // Without jitter both messages reach their providers one hop after 5s, and the hub one
    // hop later, at the same instant.
    assert_eq!(send_delays(&plain), vec![0, 0]);
    assert_eq!(
        hub_arrivals(&plain),
        vec![SEND_AT + 2 * LATENCY, SEND_AT + 2 * LATENCY]
    );
    // With it they arrive apart, each late by at most jitter_max.
    let delays = send_delays(&jittered);
    assert_eq!(delays.len(), 2);
    assert_ne!(delays[0], delays[1]);
    assert!(delays.iter().all(|&d| d <= JITTER_MAX), "{delays:?}");
    let hub = hub_arrivals(&jittered);
    assert_ne!(hub[0], hub[1]);
    assert!(hub
        .iter()
        .all(|t| (SEND_AT + 2 * LATENCY..=SEND_AT + 2 * LATENCY + JITTER_MAX).contains(t)));
    assert_ne!(plain_fp, jittered_fp, "times are in the fingerprint");

    // By hand: 2 KeyPackage-set lists and 4 set uploads at registration, the connection room
    // created, the establishment-key fetch, the sealed connection request, bob's GroupInfo
    // fetch and external commit, alice's KeyPackage fetch, `lunch` created and its commit,
    // bob's set list and upload after his KeyPackage was used, and the two messages: 18.
    assert_eq!(jittered_sends(&plain), 18);
    let st = &jittered.stats;
    assert_eq!(st.jitter_messages, Some(18));
    let max = st.jitter_delay_us_max.unwrap();
    let total = st.jitter_delay_us_total.unwrap();
    assert!(max <= JITTER_MAX && max >= delays[0].max(delays[1]));
    assert!(total >= delays[0] + delays[1] && total <= 18 * max);
    assert_eq!(plain.stats.jitter_messages, None);
    assert_eq!(plain.stats.jitter_delay_us_max, None);
    // Nothing else changes: the same messages reach the same members.
    assert_eq!(st.messages_delivered, plain.stats.messages_delivered);
    assert_eq!(st.commits, plain.stats.commits);

    // The delays come from the run's seeded streams: the same in another run of the process
    // (on another thread), others with another run number.
    let (again, again_fp) = std::thread::scope(|scope| {
        scope
            .spawn(|| run(&s, "jittered", 0))
            .join()
            .expect("the run")
    });
    assert_eq!(again_fp, jittered_fp);
    assert_eq!(again.stats, jittered.stats);
    let (other, _) = run(&s, "jittered", 1);
    assert_ne!(send_delays(&other), delays);
}

#[test]
fn exponential_jitter_stays_within_its_bound() {
    let s = tiny("jitter = \"exponential\"\njitter_max = \"100ms\"");
    let (a, a_fp) = run(&s, "jittered", 0);
    let (b, b_fp) = run(&s, "jittered", 0);
    assert_eq!(a_fp, b_fp);
    assert_eq!(a.stats, b.stats);
    let delays = send_delays(&a);
    assert_ne!(delays[0], delays[1]);
    assert!(delays.iter().all(|&d| d <= 100_000), "{delays:?}");
    assert!(a.stats.jitter_delay_us_max.unwrap() <= 100_000);
    assert_eq!(a.stats.jitter_messages, Some(18));
    let (u, u_fp) = run(&tiny("jitter_max = \"100ms\""), "jittered", 0);
    assert_ne!(u_fp, a_fp, "the distribution matters");
    assert_eq!(u.stats.jitter_messages, Some(18));
}

#[test]
fn countermeasures_are_off_in_the_builtin_modes() {
    for m in [Mechanisms::MIMI, Mechanisms::MIMIMI] {
        assert!(!m.jitter && !m.padding && !m.any_countermeasure());
    }
    assert_eq!(Mechanisms::MIMIMI.enabled(), Mechanisms::NAMES.to_vec());
    for c in Mechanisms::COUNTERMEASURES {
        assert!(!Mechanisms::NAMES.contains(&c));
        assert_eq!(Mechanisms::MIMIMI.get(c), Some(false));
    }
    let s = tiny("");
    let mut expected = Mechanisms::NAMES.to_vec();
    expected.push("padding");
    assert_eq!(mode(&s, "padded").mechanisms.enabled(), expected);
    assert_eq!(mode(&s, "plain").mechanisms, Mechanisms::MIMIMI);

    // The summary records the countermeasures' parameters and costs only where they apply.
    let results: Vec<ModeResult> = ["plain", "padded", "jittered"]
        .iter()
        .map(|n| ModeResult::new(mode(&s, n), run(&s, n, 0).0))
        .collect();
    let json: serde_json::Value =
        serde_json::from_str(&summary_json(&s, s.seed, 0, &results)).unwrap();
    let p = &json["parameters"];
    assert_eq!(p["jitter"], "uniform");
    assert_eq!(p["jitter_max_us"], 200_000);
    assert_eq!(p["padding_buckets"], "the powers of two from 256");
    let stats = |m: &str| json["modes"][m]["stats"].as_object().unwrap().clone();
    assert!(stats("plain").contains_key("bytes_sent"));
    assert!(!stats("plain").contains_key("padding_bytes"));
    assert!(stats("padded").contains_key("padding_bytes"));
    assert!(!stats("padded").contains_key("jitter_delay_us_max"));
    assert!(stats("jittered").contains_key("jitter_delay_us_total"));
    assert_eq!(
        json["modes"]["padded"]["mechanisms"]
            .as_array()
            .unwrap()
            .last(),
        Some(&serde_json::Value::from("padding"))
    );
}

/// The quickstart's built-in modes give the fingerprints they gave before the
/// countermeasures existed, and their summary has none of the countermeasures' fields.
#[test]
fn quickstart_default_modes_are_unchanged() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quickstart.toml");
    let s = mimimi_sim::scenario::load(&path).unwrap();
    let expected = [
        (
            "mimi",
            "381de258cb8b2c18e8ceb86e836640a31d69f782d78a3ee5f3a0a4b844fb084e",
        ),
        (
            "mimimi",
            "22f9fe7de89a50fe76ad542cad3b6f55e5f5a002b3f704f6c0a210c92bd979a0",
        ),
    ];
    let mut results = vec![];
    for (m, (name, fingerprint)) in s.modes.iter().zip(expected) {
        assert_eq!(m.name, name);
        let out = World::new(&s, m, s.seed, 0).run(|_| {}).unwrap();
        let r = ModeResult::new(m, out);
        assert_eq!(r.fingerprint, fingerprint, "{name}");
        results.push(r);
    }
    let json = summary_json(&s, s.seed, 0, &results);
    for key in ["padding", "jitter", "bytes_sent", "provider_messages"] {
        assert!(!json.contains(key), "{key} in the quickstart's summary");
    }
}

#[track_caller]
fn assert_err(extra: &str, line: usize, column: usize, needle: &str) {
    common::assert_refused_at(&TINY.replace("EXTRA", extra), line, column, needle);
}

#[test]
fn bad_countermeasure_keys_are_reported_at_their_position() {
    // EXTRA is line 6 of TINY.
    assert_err(
        "jitter = \"gaussian\"",
        6,
        10,
        "invalid jitter distribution \"gaussian\"",
    );
    assert_err(
        "jitter_max = \"2m\"",
        6,
        14,
        "jitter_max 2m is longer than the longest accepted, 1m",
    );
    assert_err(
        "jitter_max = \"0s\"",
        6,
        14,
        "jitter_max must be longer than 0s",
    );
    assert_err(
        "jitter_max = \"soon\"",
        6,
        14,
        "invalid duration for `jitter_max`",
    );
    assert_err(
        "padding_buckets = [512, 256]",
        6,
        25,
        "padding buckets must be strictly increasing: 256 follows 512",
    );
    assert_err(
        "padding_buckets = [256, 10]",
        6,
        25,
        "a padding bucket must be between 64 and 16777216 bytes, got 10",
    );
    assert_err(
        "padding_buckets = []",
        6,
        19,
        "padding_buckets needs 1 to 64 sizes, got 0",
    );
    // Countermeasure switches are booleans, as the mechanisms are.
    let src = TINY.replace("EXTRA", "").replace(
        "base = \"mimimi\"\npadding = true",
        "base = \"mimimi\"\npadding = \"yes\"",
    );
    let e = parse_str(&src, "t.toml").unwrap_err();
    assert_eq!(e.pos().map(|p| p.line), Some(15), "{e}");
}

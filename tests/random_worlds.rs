//! Property: every scenario `validate` accepts runs to the end under `mimi`, `mimimi` and
//! `mimimi` with `placeholder_leaves`, with the consistency check after every commit, and gives
//! the same fingerprint twice.
//!
//! Worlds are generated at random: 2 to 4 providers, users with 1 to 4 clients, and a timeline
//! of connects, rooms hosted at any provider, adds, joins, removes, leaves, sends, and devices
//! added and removed, many of them at the same instant. A generated list of intents is turned into actions by a model of
//! the scenario rules (who is connected, who is in which room), so that every scenario is valid
//! and shrinking (dropping intents) keeps it valid.

use std::collections::{BTreeMap, BTreeSet};

use mimimi_sim::output::ModeResult;
use mimimi_sim::scenario::parse_str;
use mimimi_sim::world::World;
use proptest::prelude::*;

/// What a generated step tries to do; indices are taken modulo what exists at that point.
#[derive(Clone, Debug)]
enum Intent {
    Connect(usize, usize, bool),
    Create {
        by: usize,
        hub: usize,
        members: Vec<usize>,
        identity_links: bool,
    },
    Add(usize, usize, Vec<usize>),
    Join(usize, usize),
    Remove(usize, usize, usize),
    Leave(usize, usize),
    Send(usize, usize, u32),
    AddDevice(usize),
    RemoveDevice(usize, usize),
}

fn intent() -> impl Strategy<Value = Intent> {
    let i = || 0..64usize;
    prop_oneof![
        3 => (i(), i(), prop::bool::weighted(0.85)).prop_map(|(a, b, ok)| Intent::Connect(a, b, ok)),
        2 => (i(), i(), prop::collection::vec(i(), 0..4), prop::bool::weighted(0.8)).prop_map(
            |(by, hub, members, identity_links)| Intent::Create { by, hub, members, identity_links }
        ),
        2 => (i(), i(), prop::collection::vec(i(), 1..3)).prop_map(|(r, b, u)| Intent::Add(r, b, u)),
        2 => (i(), i()).prop_map(|(r, u)| Intent::Join(r, u)),
        1 => (i(), i(), i()).prop_map(|(r, b, u)| Intent::Remove(r, b, u)),
        1 => (i(), i()).prop_map(|(r, u)| Intent::Leave(r, u)),
        2 => (i(), i(), 1..4u32).prop_map(|(r, f, c)| Intent::Send(r, f, c)),
        1 => i().prop_map(Intent::AddDevice),
        1 => (i(), i()).prop_map(|(u, d)| Intent::RemoveDevice(u, d)),
    ]
}

/// A generated world: providers, clients per user (with the user's provider), and the steps
/// with the time that passes before each (0 puts actions at the same instant).
#[derive(Clone, Debug)]
struct Plan {
    providers: usize,
    users: Vec<(usize, u32)>,
    steps: Vec<(u32, Intent)>,
}

fn plan() -> impl Strategy<Value = Plan> {
    (2..=4usize)
        .prop_flat_map(|providers| {
            (
                Just(providers),
                prop::collection::vec((0..providers, 1..=4u32), 3..=6),
                prop::collection::vec((prop_oneof![Just(0u32), 0..4000u32], intent()), 4..14),
            )
        })
        .prop_map(|(providers, users, steps)| Plan {
            providers,
            users,
            steps,
        })
}

struct Room {
    name: String,
    members: BTreeSet<usize>,
    identity_links: bool,
}

/// The scenario text of a plan: the intents that the rules allow, as actions.
fn scenario(plan: &Plan) -> String {
    let user = |u: usize| format!("u{u}");
    // `hidden` pads every user with placeholder clients to the most clients of any user:
    // placeholders are added, join and are removed with their user through every flow.
    let mut out = String::from(
        "modes = [\"mimi\", \"mimimi\", \"hidden\"]\nlatency = \"20ms\"\n\
         [[ablation]]\nname = \"hidden\"\nbase = \"mimimi\"\nplaceholder_leaves = true\n",
    );
    for p in 0..plan.providers {
        out += &format!("[[provider]]\ndomain = \"p{p}.example\"\n");
    }
    for (u, (p, clients)) in plan.users.iter().enumerate() {
        out += &format!(
            "[[user]]\nname = \"{}\"\nprovider = \"p{p}.example\"\nclients = {clients}\n",
            user(u)
        );
    }
    let n = plan.users.len();
    let mut connected: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut requested: BTreeMap<(usize, usize), bool> = BTreeMap::new();
    let mut rooms: Vec<Room> = vec![];
    // Each user's devices: the numbers in use, and how many it has had.
    let mut devices: Vec<(Vec<u32>, u32)> = plan
        .users
        .iter()
        .map(|&(_, clients)| ((1..=clients).collect(), clients))
        .collect();
    let mut at_ms = 0u64;
    let list = |users: &[usize]| {
        users
            .iter()
            .map(|&u| format!("\"{}\"", user(u)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (delay, intent) in &plan.steps {
        at_ms += u64::from(*delay);
        let pair = |a: usize, b: usize| (a.min(b), a.max(b));
        let action = match intent {
            Intent::Connect(a, b, accept) => {
                let (a, b) = (a % n, b % n);
                if a == b || connected.contains(&pair(a, b)) {
                    continue;
                }
                requested.insert(pair(a, b), *accept);
                if *accept {
                    connected.insert(pair(a, b));
                }
                format!(
                    "connect = {{ from = \"{}\", to = \"{}\", accept = {accept} }}",
                    user(a),
                    user(b)
                )
            }
            Intent::Create {
                by,
                hub,
                members,
                identity_links,
            } => {
                let by = by % n;
                let members: Vec<usize> = members
                    .iter()
                    .map(|m| m % n)
                    .filter(|&m| m != by && connected.contains(&pair(by, m)))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let name = format!("r{}", rooms.len());
                let mut all: BTreeSet<usize> = members.iter().copied().collect();
                all.insert(by);
                rooms.push(Room {
                    name: name.clone(),
                    members: all,
                    identity_links: *identity_links,
                });
                format!(
                    "create_room = {{ room = \"{name}\", by = \"{}\", hub = \"p{}.example\", \
                     members = [{}], identity_links = {identity_links} }}",
                    user(by),
                    hub % plan.providers,
                    list(&members)
                )
            }
            Intent::Add(r, by, users) => {
                let k = rooms.len().max(1);
                let Some(room) = rooms.get_mut(*r % k) else {
                    continue;
                };
                let Some(&by) = room.members.iter().nth(by % room.members.len().max(1)) else {
                    continue;
                };
                let users: Vec<usize> = users
                    .iter()
                    .map(|u| u % n)
                    .filter(|u| !room.members.contains(u) && connected.contains(&pair(by, *u)))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                if users.is_empty() {
                    continue;
                }
                room.members.extend(&users);
                format!(
                    "add = {{ room = \"{}\", by = \"{}\", users = [{}] }}",
                    room.name,
                    user(by),
                    list(&users)
                )
            }
            Intent::Join(r, u) => {
                let k = rooms.len().max(1);
                let Some(room) = rooms.get_mut(*r % k) else {
                    continue;
                };
                let u = u % n;
                let helper = room
                    .members
                    .iter()
                    .any(|&m| connected.contains(&pair(m, u)));
                if room.members.is_empty()
                    || room.members.contains(&u)
                    || (room.identity_links && !helper)
                {
                    continue;
                }
                room.members.insert(u);
                format!(
                    "join = {{ room = \"{}\", user = \"{}\" }}",
                    room.name,
                    user(u)
                )
            }
            Intent::Remove(r, by, u) => {
                let k = rooms.len().max(1);
                let Some(room) = rooms.get_mut(*r % k) else {
                    continue;
                };
                let members: Vec<usize> = room.members.iter().copied().collect();
                if members.len() < 2 {
                    continue;
                }
                let by = members[by % members.len()];
                let u = members[u % members.len()];
                if by == u {
                    continue;
                }
                room.members.remove(&u);
                format!(
                    "remove = {{ room = \"{}\", by = \"{}\", user = \"{}\" }}",
                    room.name,
                    user(by),
                    user(u)
                )
            }
            Intent::Leave(r, u) => {
                let k = rooms.len().max(1);
                let Some(room) = rooms.get_mut(*r % k) else {
                    continue;
                };
                let Some(&u) = room.members.iter().nth(u % room.members.len().max(1)) else {
                    continue;
                };
                room.members.remove(&u);
                format!(
                    "leave = {{ room = \"{}\", user = \"{}\" }}",
                    room.name,
                    user(u)
                )
            }
            Intent::Send(r, f, count) => {
                let Some(room) = rooms.get(*r % rooms.len().max(1)) else {
                    continue;
                };
                let Some(&f) = room.members.iter().nth(f % room.members.len().max(1)) else {
                    continue;
                };
                format!(
                    "send = {{ room = \"{}\", from = \"{}\", count = {count}, every = \"700ms\" }}",
                    room.name,
                    user(f)
                )
            }
            Intent::AddDevice(u) => {
                let u = u % n;
                let (live, ever) = &mut devices[u];
                if live.len() >= 16 {
                    continue;
                }
                *ever += 1;
                live.push(*ever);
                format!("add_device = {{ user = \"{}\" }}", user(u))
            }
            Intent::RemoveDevice(u, d) => {
                let u = u % n;
                let (live, _) = &mut devices[u];
                if live.len() < 2 {
                    continue;
                }
                let device = live.remove(d % live.len());
                format!(
                    "remove_device = {{ user = \"{}\", device = {device} }}",
                    user(u)
                )
            }
        };
        out += &format!("[[action]]\nat = \"{at_ms}ms\"\n{action}\n");
    }
    out
}

/// The fingerprint of each mode, running the scenario once.
fn fingerprints(src: &str) -> Result<Vec<String>, String> {
    let s = parse_str(src, "generated.toml").map_err(|e| format!("validate: {e}"))?;
    s.modes
        .iter()
        .map(|mode| {
            let out = World::new(&s, mode, 5, 0)
                .run(|_| {})
                .map_err(|e| e.to_string())?;
            Ok(ModeResult::new(mode, out).fingerprint)
        })
        .collect()
}

/// 24 cases from a fixed seed, so that CI runs the same worlds every time; set PROPTEST_CASES
/// and PROPTEST_RNG_SEED to search further.
fn config() -> ProptestConfig {
    let env = ProptestConfig::default();
    let set = |var: &str| std::env::var_os(var).is_some();
    ProptestConfig {
        cases: if set("PROPTEST_CASES") { env.cases } else { 24 },
        rng_seed: if set("PROPTEST_RNG_SEED") {
            env.rng_seed
        } else {
            proptest::test_runner::RngSeed::Fixed(0x6d69_6d69)
        },
        max_shrink_iters: 200,
        failure_persistence: None,
        ..env
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_valid_scenario_runs_and_repeats(plan in plan()) {
        let src = scenario(&plan);
        let first = fingerprints(&src);
        prop_assert!(first.is_ok(), "{}\n--- scenario ---\n{src}", first.unwrap_err());
        let second = fingerprints(&src);
        prop_assert_eq!(first.unwrap(), second.unwrap(), "two runs differ:\n{}", src);
    }
}

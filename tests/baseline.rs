//! The plain MIMI baseline on the quickstart scenario: what hubs learn, and that every commit
//! is followed by a consistency check of the room.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use mimimi_sim::observe::Kind;
use mimimi_sim::scenario::{self, ActionKind, Scenario};
use mimimi_sim::world::{RunOutput, World};

fn quickstart() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quickstart.toml");
    scenario::load(&path).expect("quickstart is valid")
}

fn run(s: &Scenario) -> RunOutput {
    let mimi = s.modes.iter().find(|m| m.name == "mimi").unwrap();
    World::new(s, mimi, s.seed, 0)
        .run(|_| {})
        .expect("quickstart runs")
}

/// Room name -> hub domain, as the scenario places them.
fn hubs(s: &Scenario) -> BTreeMap<String, String> {
    s.actions
        .iter()
        .filter_map(|a| match &a.kind {
            ActionKind::CreateRoom { room, by, hub, .. } => {
                let domain = hub
                    .clone()
                    .unwrap_or_else(|| s.user(by).unwrap().provider.clone());
                Some((room.clone(), domain))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn mimi_hub_names_every_member_of_its_rooms() {
    let s = quickstart();
    let out = run(&s);
    let owner: BTreeMap<&str, &str> = out
        .truth
        .iter()
        .filter(|t| t.kind == Kind::UserId)
        .map(|t| (t.value.as_str(), t.user.as_str()))
        .collect();
    let hubs = hubs(&s);
    assert_eq!(hubs.len(), 3);
    for (room, hub) in &hubs {
        let members: BTreeSet<&str> = out
            .memberships
            .iter()
            .filter(|m| &m.room == room)
            .map(|m| m.user.as_str())
            .collect();
        let named: BTreeSet<&str> = out
            .observations
            .iter()
            .filter(|o| &o.observer == hub && o.room.as_deref() == Some(room))
            .flat_map(|o| &o.items)
            .filter(|i| i.kind == Kind::UserId)
            .filter_map(|i| owner.get(i.value.as_str()).copied())
            .collect();
        assert!(members.len() >= 4, "{room} has members {members:?}");
        let missing: Vec<_> = members.difference(&named).collect();
        assert!(
            missing.is_empty(),
            "hub {hub} never saw the user id of {missing:?} in {room}"
        );
    }
}

#[test]
fn every_commit_is_followed_by_a_consistency_check() {
    let s = quickstart();
    let out = run(&s);
    let created = s
        .actions
        .iter()
        .filter(|a| matches!(a.kind, ActionKind::CreateRoom { .. }))
        .count() as u64;
    assert!(out.stats.commits >= 8, "{:?}", out.stats);
    assert_eq!(out.stats.consistency_checks, out.stats.commits + created);
}

#[test]
fn quickstart_exercises_every_flow() {
    let s = quickstart();
    let out = run(&s);
    let flows: BTreeSet<&str> = out.observations.iter().map(|o| o.flow).collect();
    for f in [
        "kp_upload",
        "kp_claim",
        "kp_claim_response",
        "connect_request",
        "connect_response",
        "room_create",
        "handshake",
        "groupinfo_request",
        "groupinfo_response",
        "app_message",
        "fanout_handshake",
        "fanout_message",
        "fanout_welcome",
    ] {
        assert!(flows.contains(f), "no {f} observed");
    }
    assert_eq!(out.stats.connections, 14);
    assert_eq!(out.stats.sends_skipped, 0);
    assert!(out.stats.messages_delivered > out.stats.messages_sent);
    // bob left lunch and erin was removed from project: both intervals are closed.
    for (room, user) in [("lunch", "bob"), ("project", "erin")] {
        assert!(out
            .memberships
            .iter()
            .any(|m| m.room == room && m.user == user && m.to_us.is_some()));
    }
}

#[test]
fn a_provider_sees_accounts_only_of_its_own_users() {
    let s = quickstart();
    let out = run(&s);
    for o in &out.observations {
        for i in o.items.iter().filter(|i| i.kind == Kind::Account) {
            let provider = &s.user(&i.value).unwrap().provider;
            assert_eq!(provider, &o.observer, "{o:?}");
        }
    }
}

/// MIMI -06 section 5.5: a fanout carries the hub's timestamp and the MLS message, not the
/// sender. alice@a.example sends 3 messages in a room hosted at h.example with bob@b.example:
/// the hub reads the sender URI of every submission (3 of 3), alice's own provider ties them to
/// her account (3 of 3, own scope), and bob's provider, a follower, attributes none (0 of 3).
#[test]
fn a_follower_cannot_attribute_a_mimi_message() {
    let src = r#"
modes = ["mimi"]
[[provider]]
domain = "a.example"
[[provider]]
domain = "b.example"
[[provider]]
domain = "h.example"
[[user]]
name = "alice"
provider = "a.example"
[[user]]
name = "bob"
provider = "b.example"
[[action]]
at = "1s"
create_room = { room = "r", by = "alice", hub = "h.example", members = ["bob"] }
[[action]]
at = "5s"
send = { room = "r", from = "alice", count = 3 }
"#;
    let s = scenario::parse_str(src, "attribution.toml").unwrap();
    let analysis = mimimi_sim::check::analyse(&s, 1).unwrap();
    let value = |observer: &str, scope: &str| {
        let m = analysis
            .metrics
            .iter()
            .find(|m| {
                m.observer == observer
                    && m.scope.as_str() == scope
                    && m.metric == "message_attribution"
            })
            .unwrap();
        (m.numerator, m.denominator)
    };
    assert_eq!(value("h.example", "foreign"), (Some(3.0), 3.0));
    assert_eq!(value("a.example", "own"), (Some(3.0), 3.0));
    assert_eq!(value("b.example", "foreign"), (Some(0.0), 3.0));
    // Nothing in an application fanout names a user or a client (handshakes do show the
    // leaves of the commit they carry, which are PublicMessages).
    let out = run(&s);
    let fanouts: Vec<_> = out
        .observations
        .iter()
        .filter(|o| o.flow == "fanout_message")
        .collect();
    assert_eq!(
        fanouts.len(),
        6,
        "3 messages to bob's and alice's providers"
    );
    for o in fanouts {
        for i in &o.items {
            assert!(
                !matches!(i.kind, Kind::UserId | Kind::ClientId | Kind::Account),
                "{o:?}"
            );
        }
    }
}

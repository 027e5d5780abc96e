//! MIMIMI on the shipped scenarios: what hubs, followers and providers can and cannot see.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use mimimi_sim::observe::{Kind, Observation, Peer};
use mimimi_sim::scenario::{self, Scenario};
use mimimi_sim::world::{RunOutput, World};

fn load(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{name}.toml"));
    scenario::load(&path).expect("shipped scenarios are valid")
}

fn run(s: &Scenario, mode: &str) -> RunOutput {
    let m = s
        .modes
        .iter()
        .find(|m| m.name == mode)
        .expect("mode is listed");
    World::new(s, m, s.seed, 0)
        .run(|_| {})
        .expect("the scenario runs")
}

/// Owner (user name) of each identifier value of a kind.
fn owners(out: &RunOutput, kind: Kind) -> BTreeMap<String, (String, String)> {
    out.truth
        .iter()
        .filter(|t| t.kind == kind)
        .map(|t| (t.value.clone(), (t.user.clone(), t.client.clone())))
        .collect()
}

fn provider_of<'a>(s: &'a Scenario, user: &str) -> &'a str {
    &s.user(user).unwrap().provider
}

fn is_room_observation(o: &Observation) -> bool {
    o.room.is_some() && !matches!(o.peer, Peer::Account(_))
}

#[test]
fn no_hub_or_follower_names_a_member_under_mimimi() {
    let s = load("quickstart");
    let out = run(&s, "mimimi");
    let mut room_observations = 0;
    for o in out.observations.iter().filter(|o| is_room_observation(o)) {
        room_observations += 1;
        for i in &o.items {
            assert!(
                !matches!(i.kind, Kind::UserId | Kind::ClientId | Kind::Account),
                "{} saw {:?} {} in {:?} ({})",
                o.observer,
                i.kind,
                i.value,
                o.room,
                o.flow
            );
        }
    }
    assert!(room_observations > 100, "{room_observations}");
    // Submissions on a client's own session show its account only to its own provider.
    for o in out.observations.iter().filter(|o| o.room.is_some()) {
        if let Peer::Account(a) = &o.peer {
            assert_eq!(provider_of(&s, a), o.observer);
        }
    }
    // The same observations under MIMI do name members: the test is not vacuous.
    let mimi = run(&s, "mimi");
    assert!(mimi
        .observations
        .iter()
        .filter(|o| is_room_observation(o))
        .any(|o| o.items.iter().any(|i| i.kind == Kind::UserId)));
}

#[test]
fn every_member_authenticates_the_others() {
    let s = load("quickstart");
    let out = run(&s, "mimimi");
    assert_eq!(out.stats.authentication_failures, 0);
    // Each client authenticates each client it shares a room with at the same time.
    let mut pairs = BTreeSet::new();
    for a in &out.memberships {
        for b in &out.memberships {
            let overlap =
                a.from_us < b.to_us.unwrap_or(u64::MAX) && b.from_us < a.to_us.unwrap_or(u64::MAX);
            if a.room == b.room && a.client != b.client && overlap {
                pairs.insert((a.room.clone(), a.client.clone(), b.client.clone()));
            }
        }
    }
    assert!(
        out.stats.authentications >= pairs.len() as u64,
        "{} authentications for {} member pairs",
        out.stats.authentications,
        pairs.len()
    );
    assert_eq!(run(&s, "mimi").stats.authentications, 0);
}

#[test]
fn a_connection_request_is_an_opaque_blob_from_a_domain() {
    let s = load("quickstart");
    let out = run(&s, "mimimi");
    let users = owners(&out, Kind::UserId);
    let requests: Vec<&Observation> = out
        .observations
        .iter()
        .filter(|o| o.flow == "connection_request" && !matches!(o.peer, Peer::Account(_)))
        .collect();
    assert_eq!(requests.len(), out.connections.len());
    for o in requests {
        assert!(matches!(o.peer, Peer::Domain(_) | Peer::Anonymous), "{o:?}");
        // Only the inbox it is addressed to: the provider's own user, the responder.
        assert_eq!(o.items.len(), 1, "{o:?}");
        let (user, _) = &users[&o.items[0].value];
        assert_eq!(provider_of(&s, user), o.observer);
        assert!(o.size > 200, "a sealed request, not a name: {o:?}");
    }
    // Under MIMI the consent request names both users in clear.
    let mimi = run(&s, "mimi");
    let consent = mimi
        .observations
        .iter()
        .find(|o| o.flow == "connect_request" && matches!(o.peer, Peer::Domain(_)))
        .unwrap();
    assert_eq!(
        consent
            .items
            .iter()
            .filter(|i| i.kind == Kind::UserId)
            .count(),
        2
    );
}

/// (observer, user pseudonym) -> scenario rooms it appeared in.
fn pseudonym_rooms(out: &RunOutput) -> BTreeMap<(String, String), BTreeSet<String>> {
    let scenario_rooms: BTreeSet<&str> = out
        .memberships
        .iter()
        .filter(|m| m.purpose == "room")
        .map(|m| m.room.as_str())
        .collect();
    let mut seen: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for o in out.observations.iter().filter(|o| is_room_observation(o)) {
        let room = o.room.clone().unwrap();
        if !scenario_rooms.contains(room.as_str()) {
            continue;
        }
        for i in o.items.iter().filter(|i| i.kind == Kind::UserPseudonym) {
            seen.entry((o.observer.clone(), i.value.clone()))
                .or_default()
                .insert(room.clone());
        }
    }
    seen
}

#[test]
fn a_reused_last_resort_set_links_two_rooms_at_the_hub() {
    let s = load("last-resort");
    let out = run(&s, "mimimi");
    assert!(out.stats.last_resort_claims > 0);
    let pseudonyms = owners(&out, Kind::UserPseudonym);
    let linked: Vec<_> = pseudonym_rooms(&out)
        .into_iter()
        .filter(|(_, rooms)| rooms.len() > 1)
        .collect();
    // Every linked pseudonym is bob's, and the hub of both rooms is among the observers.
    assert!(!linked.is_empty());
    for ((_, pseudonym), rooms) in &linked {
        assert_eq!(pseudonyms[pseudonym].0, "bob");
        assert_eq!(rooms.iter().collect::<Vec<_>>(), ["three", "two"]);
    }
    assert!(linked.iter().any(|((hub, _), _)| hub == "alpha.example"));

    // Quickstart keeps enough sets: no last-resort set, no pseudonym in two rooms.
    let q = run(&load("quickstart"), "mimimi");
    assert_eq!(q.stats.last_resort_claims, 0);
    assert!(pseudonym_rooms(&q).values().all(|rooms| rooms.len() == 1));
}

#[test]
fn only_the_own_provider_ties_a_queue_to_rooms() {
    let s = load("quickstart");
    let out = run(&s, "mimimi");
    let queues = owners(&out, Kind::QueueId);
    let mut rooms_per_queue: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for o in &out.observations {
        for i in o.items.iter().filter(|i| i.kind == Kind::QueueId) {
            let (user, client) = &queues[&i.value];
            assert_eq!(
                provider_of(&s, user),
                o.observer,
                "{client}'s queue seen elsewhere"
            );
            if let Some(room) = &o.room {
                let member = out
                    .memberships
                    .iter()
                    .any(|m| &m.room == room && &m.client == client);
                assert!(
                    member,
                    "{client} got fanout for {room} without being a member"
                );
                rooms_per_queue.entry(&i.value).or_default().insert(room);
            }
        }
    }
    // The limit the draft admits: the provider sees some queue in several rooms.
    assert!(rooms_per_queue.values().any(|r| r.len() > 1));
    // Sealed queue IDs are fresh per leaf: none appears in two rooms.
    let mut rooms_per_sealed: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for o in out.observations.iter().filter(|o| o.room.is_some()) {
        for i in o.items.iter().filter(|i| i.kind == Kind::EncryptedQueueId) {
            rooms_per_sealed
                .entry(&i.value)
                .or_default()
                .insert(o.room.as_deref().unwrap());
        }
    }
    assert!(!rooms_per_sealed.is_empty());
    assert!(rooms_per_sealed.values().all(|r| r.len() == 1));
}

/// Quickstart with another `channel`.
fn with_channel(channel: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quickstart.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = format!("channel = \"{channel}\"\n{text}");
    scenario::parse_str(&text, "quickstart.toml").unwrap()
}

fn peers_of(out: &RunOutput, flow: &str) -> BTreeSet<&'static str> {
    out.observations
        .iter()
        .filter(|o| o.flow == flow)
        .map(|o| match o.peer {
            Peer::Account(_) => "account",
            Peer::Anonymous => "anonymous",
            Peer::Domain(_) => "domain",
        })
        .collect()
}

#[test]
fn the_anonymous_channel_decides_who_sees_the_account() {
    // relay: every relayed request reaches its target from another domain, never with an
    // account. A request for the own provider (every upload) goes through another provider,
    // which the client reaches without an account: that relay sees only the target domain.
    // A request elsewhere is relayed by the own provider, which sees the account and the
    // target domain.
    let relay = run(&with_channel("relay"), "mimimi");
    assert_eq!(peers_of(&relay, "kp_set_upload"), ["domain"].into());
    assert_eq!(peers_of(&relay, "kp_fetch"), ["domain"].into());
    assert_eq!(peers_of(&relay, "relay"), ["account", "anonymous"].into());
    for o in relay.observations.iter().filter(|o| o.flow == "relay") {
        let kinds: BTreeSet<Kind> = o.items.iter().map(|i| i.kind).collect();
        let want: BTreeSet<Kind> = match o.peer {
            Peer::Account(_) => [Kind::Account, Kind::Domain].into(),
            _ => [Kind::Domain].into(),
        };
        assert_eq!(kinds, want, "{o:?}");
        // The third-party relay is never the target.
        if o.peer == Peer::Anonymous {
            assert!(o.items.iter().all(|i| i.value != o.observer), "{o:?}");
        }
    }
    for o in relay
        .observations
        .iter()
        .filter(|o| o.flow == "kp_set_upload")
    {
        assert!(o.items.iter().all(|i| i.kind != Kind::Account), "{o:?}");
        assert_ne!(o.peer, Peer::Domain(o.observer.clone()), "{o:?}");
    }
    // direct: nobody but the target sees anything, and the target sees no account.
    let direct = run(&with_channel("direct"), "mimimi");
    assert_eq!(peers_of(&direct, "kp_set_upload"), ["anonymous"].into());
    assert_eq!(peers_of(&direct, "kp_fetch"), ["anonymous"].into());
    assert!(peers_of(&direct, "relay").is_empty());
    // none: the own provider reads every request on the account's session.
    let none = run(&with_channel("none"), "mimimi");
    assert_eq!(peers_of(&none, "kp_set_upload"), ["account"].into());
    assert_eq!(peers_of(&none, "kp_fetch"), ["account", "domain"].into());
    assert!(peers_of(&none, "relay").is_empty());
    // The channel changes who sees what, never what the users do.
    for out in [&direct, &none] {
        assert_eq!(out.stats.messages_delivered, relay.stats.messages_delivered);
        assert_eq!(out.stats.connections, relay.stats.connections);
    }
}

const DECLINE: &str = r#"
[[provider]]
domain = "a.example"
[[provider]]
domain = "b.example"
[[user]]
name = "alice"
provider = "a.example"
[[user]]
name = "bob"
provider = "b.example"
clients = 2
[[action]]
at = "0s"
connect = { from = "alice", to = "bob", accept = false }
"#;

#[test]
fn a_declined_connection_connects_nobody() {
    let s = scenario::parse_str(DECLINE, "decline.toml").unwrap();
    for mode in ["mimi", "mimimi"] {
        let out = run(&s, mode);
        assert_eq!(out.stats.connections, 0, "{mode}");
        assert!(out.connections.is_empty());
        assert!(out.memberships.iter().all(|m| m.user == "alice"), "{mode}");
    }
    // The request still reached bob's provider as an opaque blob under MIMIMI.
    let out = run(&s, "mimimi");
    assert!(out
        .observations
        .iter()
        .any(|o| o.flow == "connection_request" && o.observer == "b.example"));
    // And a declined connection does not let alice add bob.
    let add = format!(
        "{DECLINE}[[action]]\nat = \"5s\"\ncreate_room = {{ room = \"r\", by = \"alice\", members = [\"bob\"] }}\n"
    );
    let err = scenario::parse_str(&add, "decline.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("bob is not connected to alice"), "{err}");
}

/// `relay` names the provider that relays requests for a client's own provider; with a single
/// provider there is nobody to relay, and the upload is recorded with the account.
#[test]
fn requests_for_the_own_provider_need_another_relay() {
    let named = format!(
        "relay = \"gamma.example\"\n{}",
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quickstart.toml"),
        )
        .unwrap()
    );
    let s = scenario::parse_str(&named, "quickstart.toml").unwrap();
    let out = run(&s, "mimimi");
    for o in out
        .observations
        .iter()
        .filter(|o| o.flow == "kp_set_upload")
    {
        // gamma relays for alpha and beta; gamma's own users go through the first other one.
        let want = if o.observer == "gamma.example" {
            "domain:alpha.example"
        } else {
            "domain:gamma.example"
        };
        assert_eq!(o.peer.to_string(), want, "{o:?}");
    }
    let alone = r#"
modes = ["mimimi"]
[[provider]]
domain = "only.example"
[[user]]
name = "alice"
provider = "only.example"
[[user]]
name = "bob"
provider = "only.example"
[[action]]
at = "0s"
connect = { from = "alice", to = "bob" }
[[action]]
at = "5s"
create_room = { room = "r", by = "alice", members = ["bob"] }
"#;
    let s = scenario::parse_str(alone, "alone.toml").unwrap();
    let out = run(&s, "mimimi");
    let uploads: Vec<_> = out
        .observations
        .iter()
        .filter(|o| o.flow == "kp_set_upload")
        .collect();
    assert!(!uploads.is_empty());
    for o in uploads {
        assert!(matches!(o.peer, Peer::Account(_)), "{o:?}");
        assert!(o.items.iter().any(|i| i.kind == Kind::Account), "{o:?}");
    }
}

/// A room creator with a single client spends no KeyPackage set: its leaf gets a fresh user
/// pseudonym. alice (one client, one regular set) creates four rooms hosted at b.example with
/// bob: if she spent her sets, three rooms would get her reused last-resort pseudonym and
/// b.example would link 3 of her 6 room pairs. She does not: 0 of 6, and none of her
/// memberships used a set. bob (at b.example, two clients) enters with his sets: the first
/// room with his regular set, the other three with his last-resort set.
#[test]
fn a_single_client_creator_spends_no_set() {
    let mut src = String::from(
        r#"modes = ["mimimi"]
key_package_sets = 1
last_resort_reupload = "0s"
[[provider]]
domain = "a.example"
[[provider]]
domain = "b.example"
[[user]]
name = "alice"
provider = "a.example"
[[user]]
name = "bob"
provider = "b.example"
clients = 2
[[action]]
at = "0s"
connect = { from = "alice", to = "bob" }
"#,
    );
    for r in 1..=4 {
        src += &format!(
            "[[action]]\nat = \"5s\"\ncreate_room = {{ room = \"r{r}\", by = \"alice\", hub = \"b.example\", members = [\"bob\"] }}\n"
        );
    }
    let s = scenario::parse_str(&src, "sets.toml").unwrap();
    let out = run(&s, "mimimi");
    let rooms: Vec<_> = out
        .memberships
        .iter()
        .filter(|m| m.purpose == "room")
        .collect();
    for m in rooms.iter().filter(|m| m.user == "alice") {
        assert_eq!(m.key_package_set, "", "{m:?}");
        assert!(!m.last_resort);
    }
    let bob_sets: BTreeSet<(&str, bool)> = rooms
        .iter()
        .filter(|m| m.user == "bob")
        .map(|m| (m.key_package_set.as_str(), m.last_resort))
        .collect();
    assert_eq!(bob_sets.len(), 2, "{bob_sets:?}");
    assert_eq!(
        rooms
            .iter()
            .filter(|m| m.user == "bob" && m.last_resort)
            .count(),
        6,
        "three rooms, two clients each, with the last-resort set"
    );
    let analysis = mimimi_sim::check::analyse(&s, s.seed).unwrap();
    let recall = analysis
        .metrics
        .iter()
        .find(|m| {
            m.observer == "b.example"
                && m.scope.as_str() == "foreign"
                && m.metric == "cross_room_recall"
        })
        .unwrap();
    assert_eq!((recall.numerator, recall.denominator), (Some(0.0), 6.0));
}

/// Which sets lack a client's KeyPackage is a request to the own provider, under the
/// connection token and through the relay (draft section 6, step 1): the provider sees it
/// from another domain, never with the account. alice has two clients; each completes the
/// sets the other started, so both her clients enter each room with one set.
#[test]
fn set_coordination_is_an_observed_request() {
    let src = r#"modes = ["mimimi"]
key_package_sets = 2
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
connect = { from = "bob", to = "alice" }
[[action]]
at = "5s"
create_room = { room = "r1", by = "bob", members = ["alice"] }
[[action]]
at = "6s"
create_room = { room = "r2", by = "bob", members = ["alice"] }
"#;
    let s = scenario::parse_str(src, "coordination.toml").unwrap();
    let out = run(&s, "mimimi");
    let lists: Vec<_> = out
        .observations
        .iter()
        .filter(|o| o.flow == "kp_set_list")
        .collect();
    // At least one question per client of alice's (two) and of bob's (one).
    assert!(lists.len() >= 3, "{lists:?}");
    for o in &lists {
        let want = if o.observer == "a.example" {
            "domain:b.example"
        } else {
            "domain:a.example"
        };
        assert_eq!(o.peer.to_string(), want, "{o:?}");
        let kinds: BTreeSet<Kind> = o.items.iter().map(|i| i.kind).collect();
        assert_eq!(kinds, [Kind::ConnectionToken].into(), "{o:?}");
    }
    for room in ["r1", "r2"] {
        let sets: Vec<&str> = out
            .memberships
            .iter()
            .filter(|m| m.user == "alice" && m.room == room)
            .map(|m| m.key_package_set.as_str())
            .collect();
        assert_eq!(sets.len(), 2, "{room}: {sets:?}");
        assert_ne!(sets[0], "", "{room}: {sets:?}");
        assert_eq!(sets[0], sets[1], "{room}: both clients from one set");
    }
}

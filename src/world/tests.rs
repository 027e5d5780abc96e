//! The consistency check must catch members that disagree with each other or with the hub.

use super::*;
use crate::scenario::parse_str;

const SMALL: &str = r#"
modes = ["mimi"]
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
at = "1s"
create_room = { room = "r", by = "alice", hub = "b.example", members = ["bob"] }
[[action]]
at = "5s"
join = { room = "r", user = "carol" }
[[action]]
at = "9s"
send = { room = "r", from = "bob", count = 2, every = "1s" }
"#;

fn finished_world(s: &Scenario) -> World<'_> {
    let mut w = World::new(s, &s.modes[0], 3, 0);
    while w.step().expect("the small scenario runs") {}
    w
}

#[test]
fn consistent_room_passes_the_check() {
    let s = parse_str(SMALL, "small.toml").unwrap();
    let mut w = finished_world(&s);
    let before = w.stats.consistency_checks;
    w.check_room(0).expect("an idle room is consistent");
    assert_eq!(w.stats.consistency_checks, before + 1);
    // create; add of alice/2 and bob; carol's external join; and the add of carol's other
    // clients, which has nothing to add (she has one)
    assert_eq!(before, 4);
}

#[test]
fn a_client_missing_its_group_is_caught() {
    let s = parse_str(SMALL, "small.toml").unwrap();
    let mut w = finished_world(&s);
    let bob = w.client_index["mimi://b.example/d/bob/1"];
    w.clients[bob].groups.remove(&0);
    let err = w.check_room(0).unwrap_err().to_string();
    assert!(err.contains("hub lists"), "{err}");
}

#[test]
fn a_client_in_another_epoch_is_caught() {
    let s = parse_str(SMALL, "small.toml").unwrap();
    let mut w = finished_world(&s);
    // bob commits an empty commit locally that never reaches the hub or the others.
    let bob = w.client_index["mimi://b.example/d/bob/1"];
    let c = &mut w.clients[bob];
    let g = &mut c.groups.get_mut(&0).unwrap().group;
    g.commit_to_pending_proposals(&c.mls, &c.signer).unwrap();
    g.merge_pending_commit(&c.mls).unwrap();
    let err = w.check_room(0).unwrap_err().to_string();
    assert!(err.contains("epoch"), "{err}");
}

#[test]
fn every_member_reads_every_message() {
    let s = parse_str(SMALL, "small.toml").unwrap();
    let out = World::new(&s, &s.modes[0], 3, 0).run(|_| {}).unwrap();
    // two messages from bob, each read by alice's two clients and carol
    assert_eq!(out.stats.messages_sent, 2);
    assert_eq!(out.stats.messages_delivered, 6);
    assert_eq!(out.stats.sends_skipped, 0);
}

const SMALL_MIMIMI: &str = r#"
modes = ["mimimi"]
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
connect = { from = "carol", to = "alice" }
[[action]]
at = "3s"
create_room = { room = "r", by = "alice", hub = "b.example", members = ["bob"] }
[[action]]
at = "6s"
join = { room = "r", user = "carol" }
[[action]]
at = "9s"
send = { room = "r", from = "bob", count = 2, every = "1s" }
"#;

/// Runs until virtual time reaches `until_us`.
fn run_until(w: &mut World<'_>, until_us: u64) {
    while w.engine.pending() > 0 && w.engine.now() < until_us {
        w.step().expect("the scenario runs");
    }
}

#[test]
fn every_member_can_authenticate_every_other_member() {
    let s = parse_str(SMALL_MIMIMI, "small.toml").unwrap();
    let w = finished_world(&s);
    let room = w.room_index["r"];
    let mut checked = 0;
    for c in w.clients.iter().filter(|c| c.groups.contains_key(&room)) {
        let m = &c.groups[&room];
        for other in m.group.members().filter(|o| o.signature_key != m.signer) {
            let key = &m.link_keys[&other.signature_key];
            let pc =
                crate::protocol::PseudonymousCredential::from_mls_credential(&other.credential)
                    .unwrap();
            let id = pc
                .authenticate(c.mls.crypto(), key, &other.signature_key)
                .unwrap();
            assert_eq!(w.directory[&id.client_uri], id.client_signature_key);
            checked += 1;
        }
    }
    // alice/1, alice/2, bob and carol: 4 members, each checks 3 others
    assert_eq!(checked, 12);
    assert_eq!(w.stats.authentication_failures, 0);
    assert!(w.stats.authentications >= 12);
}

#[test]
fn a_tampered_identity_link_is_an_authentication_failure() {
    let s = parse_str(SMALL_MIMIMI, "small.toml").unwrap();
    let mut w = World::new(&s, &s.modes[0], 3, 0);
    run_until(&mut w, 5_000_000);
    let room = w.room_index["r"];
    let hub = w.rooms[room].hub;
    // The hub (or an attacker on it) corrupts the encrypted identity link key of every leaf.
    for e in w.providers[hub]
        .hub
        .get_mut(&room)
        .unwrap()
        .link_keys
        .values_mut()
    {
        let mut bytes = e.as_slice().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        *e = bytes.into();
    }
    assert_eq!(w.stats.authentication_failures, 0);
    while w.step().unwrap() {}
    // carol, joining, cannot authenticate any of the three leaves already there.
    assert_eq!(w.stats.authentication_failures, 3);
}

#[test]
fn a_pseudonymous_room_exchanges_no_identity_links() {
    // carol is connected to nobody: without identity links she needs no member's wrapper
    // key to join, and no member learns who any other member is.
    let src = SMALL_MIMIMI
        .replace(
            "members = [\"bob\"] }",
            "members = [\"bob\"], identity_links = false }",
        )
        .replace(
            "connect = { from = \"carol\", to = \"alice\" }",
            "publish_key_packages = { user = \"carol\", count = 1 }",
        );
    let s = parse_str(&src, "small.toml").unwrap();
    let w = finished_world(&s);
    let room = w.room_index["r"];
    let members: Vec<_> = w
        .clients
        .iter()
        .filter_map(|c| c.groups.get(&room))
        .collect();
    assert_eq!(members.len(), 4);
    for m in members {
        assert!(m.wrapper.is_none());
        assert!(m.link_keys.is_empty());
    }
    assert_eq!(w.stats.authentication_failures, 0);
    // The same join into a room with identity links is refused by the scenario check.
    let linked = src.replace(", identity_links = false", "");
    let err = parse_str(&linked, "small.toml").unwrap_err().to_string();
    assert!(
        err.contains("carol is not connected to any member"),
        "{err}"
    );
}

#[test]
fn a_first_fanout_after_an_external_join_carries_the_new_epoch() {
    // alice's provider has received nothing of the room when bob's external commit reaches
    // it: the state the hub attaches must be that of the epoch after the commit.
    let src = r#"
[[provider]]
domain = "a.example"
[[provider]]
domain = "b.example"
[[provider]]
domain = "c.example"
[[user]]
name = "alice"
provider = "a.example"
[[user]]
name = "bob"
provider = "c.example"
[[action]]
at = "0s"
connect = { from = "bob", to = "alice" }
[[action]]
at = "5s"
create_room = { room = "r", by = "alice", hub = "b.example", members = [] }
[[action]]
at = "8s"
join = { room = "r", user = "bob" }
[[action]]
at = "10s"
send = { room = "r", from = "alice", count = 1 }
"#;
    let s = parse_str(src, "join.toml").unwrap();
    for mode in &s.modes {
        let out = World::new(&s, mode, 1, 0).run(|_| {}).unwrap();
        assert_eq!(out.stats.messages_delivered, 1, "{}", mode.name);
    }
}

#[test]
fn a_failure_names_the_action_the_time_the_mode_and_the_seed() {
    // After his first message (sent at 9s, the event that ends `run_until`), bob moves to an
    // epoch nobody else knows: the others cannot decrypt his second message (sent at 10s) when
    // it reaches them four hops later, and the error names the action whose consequence that
    // delivery is.
    let s = parse_str(SMALL, "small.toml").unwrap();
    let mut w = World::new(&s, &s.modes[0], 3, 0);
    run_until(&mut w, 8_000_000);
    let bob = w.client_index["mimi://b.example/d/bob/1"];
    let room = w.room_index["r"];
    let c = &mut w.clients[bob];
    let g = &mut c.groups.get_mut(&room).unwrap().group;
    g.commit_to_pending_proposals(&c.mls, &c.signer).unwrap();
    g.merge_pending_commit(&c.mls).unwrap();
    let e = loop {
        match w.step() {
            Ok(true) => {}
            Ok(false) => panic!("the corrupted run finished"),
            Err(e) => break e,
        }
    };
    let text = e.to_string();
    // `send` is the third action, its table at line 23, column 1.
    assert!(
        text.starts_with(
            "small.toml:23:1: error: the `send` action failed at 10080ms of simulated time \
             (mode mimi, seed 3, run 0): MLS operation failed (decrypt an application message)"
        ),
        "{text}"
    );
    assert_eq!(e.time_us, 10_080_000);
}

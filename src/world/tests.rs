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
    // create, add of alice/2 and bob, external join of carol
    assert_eq!(before, 3);
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

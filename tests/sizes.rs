//! The size adversary on `scenarios/message-sizes.toml`: a `send` with `bytes` makes long
//! messages, the hub links the long writer's two rooms by their length, and padding to one
//! bucket removes the link.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use mimimi_analysis::adversary::{Adversary, AdversaryOptions, SIZE};
use mimimi_analysis::metrics;
use mimimi_analysis::model::{ModeData, Observation, RunData, Scope};

fn run(name: &str) -> (tempfile::TempDir, RunData) {
    common::run_shipped(name)
}

fn mode<'d>(data: &'d RunData, name: &str) -> &'d ModeData {
    data.modes.iter().find(|m| m.mode == name).unwrap()
}

/// The user each user pseudonym belongs to (ground truth).
fn owners(mode: &ModeData) -> BTreeMap<&str, &str> {
    mode.truth
        .iter()
        .filter(|t| t.kind == "user_pseudonym")
        .map(|t| (t.value.as_str(), t.user.as_str()))
        .collect()
}

fn hub(mode: &ModeData) -> Vec<&Observation> {
    mode.observations
        .iter()
        .filter(|o| o.observer == "hub.example")
        .collect()
}

/// The users behind each link the size adversary draws at the hub.
fn size_links(mode: &ModeData) -> Vec<BTreeSet<String>> {
    let owners = owners(mode);
    let adversary = Adversary::new(SIZE, &AdversaryOptions::default(), mode);
    adversary
        .links(&hub(mode))
        .iter()
        .map(|o| {
            o.items
                .iter()
                .map(|i| owners[i.value.as_str()].to_string())
                .collect()
        })
        .collect()
}

#[test]
fn long_messages_link_their_writer_and_one_padding_bucket_unlinks_her() {
    let (_tmp, data) = run("message-sizes");
    let mimimi = mode(&data, "mimimi");
    let owners = owners(mimimi);
    // `bytes = 3000` reaches the wire: alice's submissions at the hub are over 3,000 bytes,
    // everyone else's short texts under 300.
    let mut sizes: BTreeMap<&str, BTreeSet<u64>> = BTreeMap::new();
    for o in hub(mimimi).into_iter().filter(|o| o.flow == "app_message") {
        let p = o
            .items
            .iter()
            .find(|i| i.kind == "user_pseudonym")
            .expect("the hub sees the sender's pseudonym");
        sizes
            .entry(owners[p.value.as_str()])
            .or_default()
            .insert(o.size);
    }
    assert!(sizes["alice"].iter().all(|&s| s > 3000), "{sizes:?}");
    for (user, s) in &sizes {
        if *user != "alice" {
            assert!(s.iter().all(|&s| s < 300), "{user}: {s:?}");
        }
    }
    // One link, of alice's two pseudonyms (forum and club).
    let links = size_links(mimimi);
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0], BTreeSet::from(["alice".to_string()]));
    assert_eq!(
        hub(mimimi)
            .iter()
            .filter(|o| o.flow == "app_message")
            .flat_map(|o| &o.items)
            .filter(|i| i.kind == "user_pseudonym" && owners[i.value.as_str()] == "alice")
            .map(|i| i.value.as_str())
            .collect::<BTreeSet<_>>()
            .len(),
        2,
        "alice shows a pseudonym per room"
    );
    // Padded to one 4096-byte bucket: every size the same, no link.
    let padded = mode(&data, "padded");
    assert!(hub(padded)
        .iter()
        .filter(|o| o.flow == "app_message")
        .all(|o| o.size == 4096));
    assert!(size_links(padded).is_empty());
    // The scores: 1 of the 3 foreign users in both rooms under mimimi, 0 padded.
    let a = metrics::analyze(&data);
    let recall = |mode: &str| {
        let m = a
            .metrics
            .iter()
            .find(|m| {
                m.mode == mode
                    && m.adversary == SIZE
                    && m.observer == "hub.example"
                    && m.scope == Scope::Foreign
                    && m.metric == "cross_room_recall"
            })
            .unwrap();
        (m.numerator.unwrap_or(0.0), m.denominator)
    };
    assert_eq!(recall("mimimi"), (1.0, 3.0));
    assert_eq!(recall("padded"), (0.0, 3.0));
}

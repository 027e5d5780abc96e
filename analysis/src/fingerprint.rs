//! The fingerprint adversary: links a user's rooms by the shape of what it shows, not by a
//! shared identifier value.
//!
//! In a room, every leaf of one user carries the same user handle (a user pseudonym under
//! MIMIMI, which -06 section 6.1 requires the user's leaves to share; a user id under MIMI), so
//! a hub sees how many devices the user has in that room, and the handle names the user's
//! domain. Only pseudonyms are fingerprinted: a user id names its user already. The *fingerprint* of a user in a room is (domain, device count). The adversary links
//! the user handles of different rooms whose fingerprints match when the match is rare among
//! what it saw:
//!
//! - without background knowledge, a fingerprint is linked when it occurs in at most
//!   `max_class` (room, handle) entries, at most one per room, and in at least two rooms: a
//!   rare fingerprint in several rooms is most likely one user;
//! - with a directory (background knowledge the scenario names: how many devices each user of
//!   each domain has, as a public key directory or, under MIMI, key-material claims show), a
//!   fingerprint that only one user of the domain can produce (one user with at least that many
//!   devices) is linked whatever its frequency, and anonymity sets shrink to the users
//!   consistent with it.
//!
//! The adversary reads observations only; a directory is given to it explicitly.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Item, Observation};

/// Default rarity threshold: a fingerprint seen in at most this many (room, handle) entries is
/// linked.
pub const DEFAULT_MAX_CLASS: usize = 2;

/// Background knowledge: per domain, the device count of each of its users (ascending).
pub type Directory = BTreeMap<String, Vec<u64>>;

/// Kinds that stand for a user in a room without naming it (the handle its leaves share). A
/// user id names its user already: two different user ids are two users, and the adversary
/// never links them.
pub(crate) const USER_HANDLES: &[&str] = &["user_pseudonym"];

/// Kinds that name one device (leaf) of a user.
const DEVICE_HANDLES: &[&str] = &["client_pseudonym", "client_id"];

/// The domain a user pseudonym names (`…@domain`).
pub fn handle_domain(kind: &str, value: &str) -> Option<String> {
    match kind {
        "user_pseudonym" => value.rsplit_once('@').map(|(_, d)| d.to_string()),
        _ => None,
    }
}

/// (room, (kind, value) of a user handle): one user as one room shows it.
pub type RoomHandle = (String, (String, String));

/// A user's fingerprint in one room: its domain and how many devices it showed there.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fingerprint {
    pub domain: String,
    pub devices: u64,
}

/// Every (room, user handle) the observations show with its fingerprint: for each subject of
/// an observation of a room that holds a user handle, the device handles beside it count as
/// that user's devices in that room.
pub fn fingerprints(observations: &[&Observation]) -> BTreeMap<RoomHandle, Fingerprint> {
    let mut devices: BTreeMap<RoomHandle, BTreeSet<&str>> = BTreeMap::new();
    for o in observations {
        let Some(room) = &o.room else { continue };
        let mut subjects: BTreeMap<u32, Vec<&Item>> = BTreeMap::new();
        for i in &o.items {
            subjects.entry(i.subject).or_default().push(i);
        }
        for items in subjects.values() {
            let handles = items
                .iter()
                .filter(|i| USER_HANDLES.contains(&i.kind.as_str()));
            for h in handles {
                let e = devices
                    .entry((room.clone(), (h.kind.clone(), h.value.clone())))
                    .or_default();
                e.extend(
                    items
                        .iter()
                        .filter(|i| DEVICE_HANDLES.contains(&i.kind.as_str()))
                        .map(|i| i.value.as_str()),
                );
            }
        }
    }
    devices
        .into_iter()
        .filter_map(|(key, d)| {
            let domain = handle_domain(&key.1 .0, &key.1 .1)?;
            // A handle seen without any device beside it shows no count.
            (!d.is_empty()).then_some((
                key,
                Fingerprint {
                    domain,
                    devices: d.len() as u64,
                },
            ))
        })
        .collect()
}

/// The number of users of a directory consistent with a fingerprint: those of its domain with
/// at least as many devices as it shows.
pub fn consistent_users(directory: &Directory, f: &Fingerprint) -> usize {
    directory.get(&f.domain).map_or(0, |counts| {
        counts.iter().filter(|&&c| c >= f.devices).count()
    })
}

/// The links the fingerprint adversary adds: one synthetic observation (flow `fingerprint`,
/// every handle of one linked class under subject 0) per linked fingerprint class.
pub fn links(
    observations: &[&Observation],
    max_class: usize,
    directory: Option<&Directory>,
) -> Vec<Observation> {
    let mut classes: BTreeMap<Fingerprint, Vec<RoomHandle>> = BTreeMap::new();
    for (key, f) in fingerprints(observations) {
        classes.entry(f).or_default().push(key);
    }
    link_rare(
        observations,
        classes,
        max_class,
        |f| directory.is_some_and(|d| consistent_users(d, f) == 1),
        "fingerprint",
    )
}

/// The links of a rare-class adversary: for each class of (room, handle) entries sharing one
/// key, one synthetic observation (flow `flow`, every handle under subject 0) when the class
/// lies in at least two rooms, at most one entry per room (two in one room are two users), and
/// holds at most `max_class` entries or is `unique` (background knowledge says only one user
/// can show it).
pub(crate) fn link_rare<K: Ord>(
    observations: &[&Observation],
    classes: BTreeMap<K, Vec<RoomHandle>>,
    max_class: usize,
    unique: impl Fn(&K) -> bool,
    flow: &str,
) -> Vec<Observation> {
    let observer = observations
        .first()
        .map(|o| o.observer.clone())
        .unwrap_or_default();
    let mut out = Vec::new();
    for (key, entries) in classes {
        let rooms: BTreeSet<&str> = entries.iter().map(|(r, _)| r.as_str()).collect();
        if rooms.len() < 2 || rooms.len() != entries.len() {
            continue;
        }
        if entries.len() > max_class && !unique(&key) {
            continue;
        }
        out.push(Observation {
            seq: 0,
            time_us: 0,
            observer: observer.clone(),
            flow: flow.to_string(),
            peer: String::new(),
            room: None,
            size: 0,
            items: entries
                .into_iter()
                .map(|(_, (kind, value))| Item {
                    subject: 0,
                    kind,
                    value,
                })
                .collect(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An observation of `room` with one leaf per (user pseudonym, client pseudonym).
    fn leaves(room: &str, leaves: &[(&str, &str)]) -> Observation {
        Observation {
            seq: 1,
            time_us: 0,
            observer: "hub.example".into(),
            flow: "handshake".into(),
            peer: "domain:hub.example".into(),
            room: Some(room.into()),
            size: 100,
            items: leaves
                .iter()
                .enumerate()
                .flat_map(|(s, (u, c))| {
                    [
                        Item {
                            subject: s as u32,
                            kind: "user_pseudonym".into(),
                            value: (*u).into(),
                        },
                        Item {
                            subject: s as u32,
                            kind: "client_pseudonym".into(),
                            value: (*c).into(),
                        },
                    ]
                })
                .collect(),
        }
    }

    fn linked(out: &[Observation]) -> Vec<Vec<String>> {
        out.iter()
            .map(|o| o.items.iter().map(|i| i.value.clone()).collect())
            .collect()
    }

    /// Room r1: u1 (a.example, three devices) and u2 (a.example, one device); room r2: v1
    /// (a.example, three devices) and v2 (a.example, one device); room r3: w2 (a.example, one
    /// device). The three-device fingerprint occurs twice, once per room: rare, linked. The
    /// one-device fingerprint occurs three times: common, not linked at max_class 2.
    #[test]
    fn a_rare_fingerprint_links_and_a_common_one_does_not() {
        let r1 = leaves(
            "r1",
            &[
                ("u1@a.example", "c1"),
                ("u1@a.example", "c2"),
                ("u1@a.example", "c3"),
                ("u2@a.example", "c4"),
            ],
        );
        let r2 = leaves(
            "r2",
            &[
                ("v1@a.example", "d1"),
                ("v1@a.example", "d2"),
                ("v1@a.example", "d3"),
                ("v2@a.example", "d4"),
            ],
        );
        let r3 = leaves("r3", &[("w2@a.example", "e1")]);
        let obs = [&r1, &r2, &r3];
        let f = fingerprints(&obs);
        assert_eq!(f.len(), 5);
        assert_eq!(
            f[&(
                "r1".to_string(),
                ("user_pseudonym".to_string(), "u1@a.example".to_string())
            )],
            Fingerprint {
                domain: "a.example".into(),
                devices: 3
            }
        );
        assert_eq!(
            linked(&links(&obs, 2, None)),
            [["u1@a.example", "v1@a.example"]]
        );
        // At max_class 3 the one-device class (three rooms, one entry each) links too.
        assert_eq!(links(&obs, 3, None).len(), 2);
        // Two three-device users in one room make the class ambiguous: no link.
        let r2b = leaves(
            "r2",
            &[
                ("v1@a.example", "d1"),
                ("v1@a.example", "d2"),
                ("v1@a.example", "d3"),
                ("x@a.example", "f1"),
                ("x@a.example", "f2"),
                ("x@a.example", "f3"),
            ],
        );
        assert!(links(&[&r1, &r2b], 2, None).is_empty());
    }

    /// A directory in which one user of a.example has three devices and four have one: the
    /// three-device fingerprint is unique, linked even in a class of three; the one-device
    /// fingerprint is consistent with all five users.
    #[test]
    fn a_directory_links_a_fingerprint_only_one_user_can_show() {
        let rooms = [
            leaves(
                "r1",
                &[
                    ("p1@a.example", "c1"),
                    ("p1@a.example", "c2"),
                    ("p1@a.example", "c3"),
                ],
            ),
            leaves(
                "r2",
                &[
                    ("p2@a.example", "d1"),
                    ("p2@a.example", "d2"),
                    ("p2@a.example", "d3"),
                ],
            ),
            leaves(
                "r3",
                &[
                    ("p3@a.example", "e1"),
                    ("p3@a.example", "e2"),
                    ("p3@a.example", "e3"),
                ],
            ),
        ];
        let obs: Vec<&Observation> = rooms.iter().collect();
        assert!(links(&obs, 2, None).is_empty(), "a class of three");
        let dir: Directory = [("a.example".to_string(), vec![1, 1, 1, 1, 3])].into();
        assert_eq!(
            linked(&links(&obs, 2, Some(&dir))),
            [["p1@a.example", "p2@a.example", "p3@a.example"]]
        );
        let three = Fingerprint {
            domain: "a.example".into(),
            devices: 3,
        };
        let one = Fingerprint {
            domain: "a.example".into(),
            devices: 1,
        };
        assert_eq!(consistent_users(&dir, &three), 1);
        assert_eq!(consistent_users(&dir, &one), 5);
    }
}

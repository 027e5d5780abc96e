//! The size adversary: links a user's rooms by how long its messages are.
//!
//! A hub sees every application message a room's members submit, with the sender's user handle
//! (a user pseudonym under MIMIMI) and the message's size on the wire; the content is
//! encrypted, its length is not. A user who writes longer (or shorter) messages than most, in
//! two rooms, is one pseudonym in each whose messages stand out in the same way.
//!
//! The adversary cuts the sizes of all the application messages the observer saw into *length
//! classes*: sorted, a new class starts where a size exceeds the one before it by more than
//! [`CLASS_GAP`] (25 %). The class that holds the most messages is the *ordinary* length, which
//! says nothing. The *size signature* of a user handle in a room is its domain and the set of
//! non-ordinary classes its messages fall in; a handle with ordinary messages only has none and
//! is never linked. Like the [`fingerprint`](crate::fingerprint), a signature is linked when it
//! occurs in at most `max_class` (room, handle) entries, at most one per room, and in at least
//! two rooms.
//!
//! Padding every message to one bucket that holds them all puts every message in the ordinary
//! class, and the adversary links nothing; buckets finer than the differences between users
//! keep their classes apart (the `padding` countermeasure's default powers of two keep a
//! 3,000-byte message apart from a 300-byte one).
//!
//! Only pseudonyms are considered, as by the fingerprint: a user id names its user already.

use std::collections::{BTreeMap, BTreeSet};

use crate::fingerprint::{handle_domain, link_rare, RoomHandle, USER_HANDLES};
use crate::model::Observation;

/// A size more than this factor above the previous one starts a new length class.
pub const CLASS_GAP: f64 = 1.25;

/// Default rarity threshold: a signature seen in at most this many (room, handle) entries is
/// linked.
pub const DEFAULT_MAX_CLASS: usize = 2;

/// Flow of the synthetic observations that hold the size adversary's links.
pub const FLOW: &str = "size";

/// Flows that carry a sender's application message with its handle.
const MESSAGE_FLOWS: &[&str] = &["app_message"];

/// The length classes of `sizes`: for each distinct size, the smallest size of its class (a
/// class is named by its lower bound).
pub fn length_classes(sizes: impl IntoIterator<Item = u64>) -> BTreeMap<u64, u64> {
    let distinct: BTreeSet<u64> = sizes.into_iter().collect();
    let mut out = BTreeMap::new();
    let mut class: Option<(u64, u64)> = None; // (lower bound, previous size)
    for s in distinct {
        let lower = match class {
            Some((lower, prev)) if (s as f64) <= prev as f64 * CLASS_GAP => lower,
            _ => s,
        };
        class = Some((lower, s));
        out.insert(s, lower);
    }
    out
}

/// A user handle's size signature in one room: its domain and the non-ordinary length classes
/// (by lower bound) of its messages.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Signature {
    pub domain: String,
    pub classes: BTreeSet<u64>,
}

/// Every (room, user handle) with a non-empty size signature in the observations.
pub fn signatures(observations: &[&Observation]) -> BTreeMap<RoomHandle, Signature> {
    // (room, handle) -> sizes of the messages it sent.
    let mut sent: BTreeMap<RoomHandle, Vec<u64>> = BTreeMap::new();
    for o in observations {
        if !MESSAGE_FLOWS.contains(&o.flow.as_str()) {
            continue;
        }
        let Some(room) = &o.room else { continue };
        for i in o
            .items
            .iter()
            .filter(|i| USER_HANDLES.contains(&i.kind.as_str()))
        {
            sent.entry((room.clone(), (i.kind.clone(), i.value.clone())))
                .or_default()
                .push(o.size);
        }
    }
    let classes = length_classes(sent.values().flatten().copied());
    // The ordinary class: the one with the most messages (the smallest on a tie).
    let mut count: BTreeMap<u64, usize> = BTreeMap::new();
    for s in sent.values().flatten() {
        *count.entry(classes[s]).or_default() += 1;
    }
    let ordinary = count
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(&c, _)| c);
    sent.into_iter()
        .filter_map(|(key, sizes)| {
            let domain = handle_domain(&key.1 .0, &key.1 .1)?;
            let classes: BTreeSet<u64> = sizes
                .iter()
                .map(|s| classes[s])
                .filter(|c| Some(*c) != ordinary)
                .collect();
            (!classes.is_empty()).then_some((key, Signature { domain, classes }))
        })
        .collect()
}

/// The links the size adversary adds: one synthetic observation (flow [`FLOW`]) per linked
/// signature.
pub fn links(observations: &[&Observation], max_class: usize) -> Vec<Observation> {
    let mut classes: BTreeMap<Signature, Vec<RoomHandle>> = BTreeMap::new();
    for (key, s) in signatures(observations) {
        classes.entry(s).or_default().push(key);
    }
    link_rare(observations, classes, max_class, |_| false, FLOW)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Item;

    /// An application message of `size` bytes from `pseudonym` in `room`.
    fn message(room: &str, pseudonym: &str, size: u64) -> Observation {
        Observation {
            seq: 1,
            time_us: 0,
            observer: "hub.example".into(),
            flow: "app_message".into(),
            peer: "domain:a.example".into(),
            room: Some(room.into()),
            size,
            items: vec![Item {
                subject: 0,
                kind: "user_pseudonym".into(),
                value: pseudonym.into(),
            }],
        }
    }

    fn linked(out: &[Observation]) -> Vec<Vec<String>> {
        out.iter()
            .map(|o| o.items.iter().map(|i| i.value.clone()).collect())
            .collect()
    }

    #[test]
    fn classes_break_where_a_size_jumps_by_more_than_a_quarter() {
        // 255 and 300 (300 <= 255 x 1.25 = 318.75) and 318 share a class; 400 > 318 x 1.25 =
        // 397.5 starts one; 3000 another.
        let c = length_classes([300, 255, 318, 400, 3000, 300]);
        assert_eq!(
            c.into_iter().collect::<Vec<_>>(),
            [(255, 255), (300, 255), (318, 255), (400, 400), (3000, 3000)]
        );
    }

    /// Room r1: u (a.example) writes 3,000-byte messages, v and w ordinary 300-byte ones; room
    /// r2: x (a.example) writes 3,000-byte messages, y ordinary ones. The ordinary class
    /// (255..300) holds seven messages, the long class four: u and x share the signature
    /// (a.example, {3000}) in two entries, one per room: linked. No ordinary sender is.
    #[test]
    fn a_user_whose_messages_stand_out_is_linked_and_ordinary_ones_are_not() {
        let obs = [
            message("r1", "u@a.example", 3000),
            message("r1", "u@a.example", 3010),
            message("r1", "v@a.example", 300),
            message("r1", "v@a.example", 290),
            message("r1", "w@a.example", 255),
            message("r2", "x@a.example", 3000),
            message("r2", "x@a.example", 2990),
            message("r2", "y@a.example", 300),
            message("r2", "y@a.example", 300),
            message("r2", "y@a.example", 299),
            message("r2", "y@a.example", 280),
        ];
        let refs: Vec<&Observation> = obs.iter().collect();
        let s = signatures(&refs);
        assert_eq!(s.len(), 2, "only u and x have non-ordinary messages");
        assert_eq!(
            s[&("r1".into(), ("user_pseudonym".into(), "u@a.example".into()))],
            Signature {
                domain: "a.example".into(),
                classes: [2990].into(),
            }
        );
        assert_eq!(linked(&links(&refs, 2)), [["u@a.example", "x@a.example"]]);
        // A third long writer in a third room makes the class common at max_class 2.
        let mut more = obs.to_vec();
        more.push(message("r3", "z@a.example", 3005));
        let refs: Vec<&Observation> = more.iter().collect();
        assert!(links(&refs, 2).is_empty());
        assert_eq!(links(&refs, 3).len(), 1);
    }

    /// Padding every message to one 4,096-byte bucket: every size is the same, every message
    /// ordinary, nothing linked (the link of the test above is gone).
    #[test]
    fn padding_to_one_bucket_removes_the_size_link() {
        let padded: Vec<Observation> = [
            ("r1", "u@a.example"),
            ("r1", "v@a.example"),
            ("r2", "x@a.example"),
            ("r2", "y@a.example"),
        ]
        .iter()
        .map(|(r, p)| message(r, p, 4096))
        .collect();
        let refs: Vec<&Observation> = padded.iter().collect();
        assert!(signatures(&refs).is_empty());
        assert!(links(&refs, 2).is_empty());
    }
}

//! The timing adversary: links that an observer draws from *when* it saw things, not from
//! identical identifier values.
//!
//! [`links`] takes one observer's pooled observations (one provider, or a coalition pooling
//! theirs) and returns synthetic observations, one per link, that the [`crate::linking::Linker`]
//! can take beside the real ones: every item of a synthetic observation is under subject 0, so
//! the Linker merges them into one user-level cluster. The function never reads ground truth.
//!
//! Every chain is an *earlier* event followed, within a window, by a *later* event, and links the
//! identifiers of the earlier event's subject with those of the later one. A chain links only
//! when it is unambiguous: exactly one candidate earlier event (one distinct key, see each
//! chain) lies in the window `[later time - window_us, later time]` before the later event, and
//! no more later events take that candidate as theirs than it has events in the window (two
//! commits after one request cannot both answer it). Two or more candidates give no link; that
//! is how batching, cover traffic or random delays defeat these chains (they put several
//! candidates in every window, or push the true one out of it).
//!
//! Events are put in one total order (time, seq, then the observation's content), so the
//! output does not depend on the order of the input; the look-back is a binary search over the
//! earlier events sorted by time, never a comparison of all pairs.
//!
//! The chains (flow names of the synthetic observations):
//!
//! - [`CONNECTION`] (`timing:connection`). *Sees:* at the responder's provider a
//!   `connection_request` that names the target's `user_id` (its provider must deliver it), and
//!   at the hub of the requester's connection room an external commit (`handshake` into a room
//!   named `connection-*`, whose leaf appeared in a `groupinfo_request` for that room before).
//!   *Links:* the target's `user_id` with the leaf (pseudonyms, signature key, sealed queue ID)
//!   of the commit: the responder accepts by fetching the room's GroupInfo and committing
//!   within a few hops (7 hops, 140 ms, in the shipped scenarios). The connection room belongs
//!   to the requester, whom the hub, its own provider, knows: a coalition holding both ends
//!   recovers the connection. One provider alone sees both ends only for a connection between
//!   two of its own users. *Defeated by:* several connection requests reaching the coalition
//!   within the window, or a random delay before accepting longer than the window.
//!   The requester-side relay (`relay` from `account:<requester>`, naming the target's domain)
//!   is not used: it names the requester, while the commit's leaf is the target's, and a link
//!   here means "same user".
//! - [`JOIN`] (`timing:join`). *Sees:* a wrapper-key exchange in a connection room (the joiner's
//!   `WrapperKeyRequest` then the helper's answer, `app_message` observations carrying the
//!   sender's `user_pseudonym`, at the connection room's hub and at each sender's own provider)
//!   and then a `groupinfo_request` for room R at R's hub, which carries the joiner's leaf (the
//!   same leaf as its external commit into R, which the identifier linker already joins with
//!   it). *Links:* the sender of the first message of that exchange in the window (the joiner)
//!   with the leaf of the GroupInfo request. The candidates are the connection rooms with
//!   application messages in the window. A single hub sees the chain when it hosts both the
//!   connection room and R; a coalition of R's hub with the hub of the connection room (or the
//!   joiner's own provider, which sees its request with the account) sees it in any case.
//!   Anchoring at the GroupInfo request rather than at the commit keeps the joiner's request
//!   inside a window that does not reach back before the exchange (the commit comes 80 ms
//!   later still). *Defeated by:* other connection-room traffic in the window, or a delay
//!   between getting the key and joining.
//! - [`ADD`] (`timing:add`). *Sees:* a KeyPackage fetch by connection token (`kp_fetch`, at the
//!   provider that stores the added user's KeyPackages) and then a `handshake` at the hub that
//!   adds leaves (not an external commit). *Links:* the token with the added leaves. The
//!   candidates are the distinct tokens fetched in the window; the handshake must carry the
//!   leaves of one user (one user-level value among all its leaves), otherwise it adds several
//!   users and is ambiguous. A commit that removes or updates a leaf lists that leaf too, and
//!   is taken for an add if one token was fetched just before. *Defeated by:* adding several
//!   users at once, prefetching KeyPackages well before the add, or fetching decoys.
//! - [`DEVICE`] (`timing:device`). *Sees:* `groupinfo_request`s whose leaf carries a
//!   `user_pseudonym` already seen in that room (a new device of a member joining by external
//!   commit, MIMI -06 section 3.6: a new device joins all its user's rooms at once, each under
//!   the user's pseudonym there). *Links:* the pseudonyms (and the new leaves) of a *burst*:
//!   such requests whose pseudonyms name one domain, each within the window of the previous
//!   one, in two or more rooms, one pseudonym per room. A burst with two pseudonyms in one room
//!   is two users and gives no link; two users of one domain whose devices join disjoint rooms
//!   in one window are linked wrongly (precision counts it). *Defeated by:* random delays
//!   between a device's joins longer than the window (`jitter`), or joins spread out over time.
//! - [`ACTIVITY`] (`timing:activity`), a statistical disclosure (intersection) attack. *Sees:*
//!   the sender's `user_pseudonym` in every `app_message` of a room. Time is cut into windows
//!   of `window_us` (`time_us / window_us`); a pseudonym in a room is *active* in a window if it
//!   sent a message in it. *Links:* two pseudonyms of different rooms whose activity sets are
//!   identical (never one active without the other) and that were active together in at least
//!   [`DEFAULT_MIN_COOCCURRENCE`] windows: one person writing in two rooms at once. Only
//!   pseudonyms active in a shared window are ever compared. [`activity_links`] also says
//!   after how many messages a pair met the minimum (the anchor: Martiny et al., NDSS 2021, link
//!   Signal's sealed-sender conversations after about 5 messages). Pseudonyms of a coalition's
//!   several hubs are compared too. *Defeated by:* cover traffic, batching or delaying messages
//!   across windows; it needs a user active in two rooms together, which the shipped scenarios
//!   do not script (messages there are not delayed, so any such user would be linked).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Item, Observation};

/// Default look-back window of the chains and width of the activity windows: 250 ms, twelve
/// and a half hops at the shipped scenarios' fixed 20 ms per hop. It covers each chain's own
/// delay (connection request to commit 140 ms, wrapper-key request to GroupInfo request 160 to
/// 180 ms, KeyPackage fetch to add 80 to 240 ms, the longest when a user fetches its own
/// KeyPackages, commits externally and then adds its other clients) and little more: on the
/// quickstart and connections runs it links nothing wrongly, while 150 ms links a join to the
/// helper instead of the joiner and 300 ms a connection to a request of the same instant.
pub const DEFAULT_WINDOW_US: u64 = 250_000;

/// Default minimum number of shared activity windows before [`ACTIVITY`] links two pseudonyms.
pub const DEFAULT_MIN_COOCCURRENCE: u64 = 3;

/// Flow of the links of the connection chain.
pub const CONNECTION: &str = "timing:connection";
/// Flow of the links of the join chain.
pub const JOIN: &str = "timing:join";
/// Flow of the links of the add chain.
pub const ADD: &str = "timing:add";
/// Flow of the links of the device chain.
pub const DEVICE: &str = "timing:device";
/// Flow of the links of the activity (co-occurrence) attack.
pub const ACTIVITY: &str = "timing:activity";

/// Prefix of the names of MIMIMI connection rooms.
const CONNECTION_ROOM_PREFIX: &str = "connection-";

/// Kinds that make a subject an MLS leaf (the client-scoped fields a hub reads from a leaf).
const LEAF_KINDS: &[&str] = &["signature_key", "client_pseudonym", "client_id"];

/// User-level kinds that tell whether the leaves of one commit belong to one user.
const LEAF_USER_KINDS: &[&str] = &["user_pseudonym", "user_id"];

/// Kinds that are not identifiers (left out of synthetic observations).
const NOT_IDENTIFIERS: &[&str] = &["domain"];

/// Links an observer's timing chains produce: each returned Observation is synthetic, with
/// flow "timing:<chain name>", room None, size 0, observer = the observer domain of the later
/// observation, seq = 0, time_us = the later observation's time, and all items under subject 0
/// (the Linker merges items of one subject into one user-level cluster, so one synthetic
/// observation = one link between the identifier values it lists).
///
/// Chains in the order [`CONNECTION`], [`JOIN`], [`ADD`], [`DEVICE`], [`ACTIVITY`], each in the
/// order of its later events; see the module documentation for what each links and what
/// defeats it. The activity attack uses [`DEFAULT_MIN_COOCCURRENCE`].
pub fn links(observations: &[&Observation], window_us: u64) -> Vec<Observation> {
    let ordered = ordered(observations);
    let external = external_commits(&ordered);
    let mut out = Vec::new();
    out.extend(chain(
        CONNECTION,
        &ordered,
        window_us,
        connection_request,
        |i, o| external.contains(&i) && is_connection_room(o),
    ));
    out.extend(chain(
        JOIN,
        &ordered,
        window_us,
        wrapper_key_message,
        |_, o| o.flow == "groupinfo_request" && o.room.is_some() && !is_connection_room(o),
    ));
    out.extend(chain(
        ADD,
        &ordered,
        window_us,
        key_package_fetch,
        |i, o| o.flow == "handshake" && !external.contains(&i) && one_user_leaves(o),
    ));
    out.extend(device_bursts(&ordered, window_us));
    out.extend(
        activity_links(observations, window_us, DEFAULT_MIN_COOCCURRENCE)
            .into_iter()
            .map(|l| Observation {
                seq: 0,
                time_us: l.linked_at_us,
                observer: l.observer,
                flow: ACTIVITY.to_string(),
                peer: String::new(),
                room: None,
                size: 0,
                items: [l.a.1, l.b.1]
                    .into_iter()
                    .map(|value| Item {
                        subject: 0,
                        kind: "user_pseudonym".to_string(),
                        value,
                    })
                    .collect(),
            }),
    );
    out
}

/// A pair of pseudonyms the activity attack links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivityLink {
    /// (room, user pseudonym) of the first of the pair (the smaller in that order).
    pub a: (String, String),
    /// (room, user pseudonym) of the second.
    pub b: (String, String),
    /// Windows in which both were active (all windows in which either was).
    pub cooccurrences: u64,
    /// Windows of activity it took to link them: the minimum co-occurrence.
    pub windows_to_link: u64,
    /// Distinct messages the two sent (both pseudonyms together) up to and including the window
    /// in which they met the minimum: "links a user's rooms after N messages".
    pub messages_to_link: u64,
    /// Time of the last observation of either in that window.
    pub linked_at_us: u64,
    /// Observer domain of that observation.
    pub observer: String,
}

/// The activity attack at its default operating point ([`DEFAULT_MIN_COOCCURRENCE`]): every
/// linked pair with the number of messages it took to link it.
pub fn messages_to_link(observations: &[&Observation], window_us: u64) -> Vec<ActivityLink> {
    activity_links(observations, window_us, DEFAULT_MIN_COOCCURRENCE)
}

/// The statistical disclosure attack of [`ACTIVITY`]: pseudonyms (by room) active in the same
/// windows of `window_us` (0 is taken as 1), linked when their activity sets are identical and
/// they share at least `min_cooccurrence` windows (0 is taken as 1). Pairs in the order of
/// (a, b).
pub fn activity_links(
    observations: &[&Observation],
    window_us: u64,
    min_cooccurrence: u64,
) -> Vec<ActivityLink> {
    type Key = (String, String);
    let window_us = window_us.max(1);
    let min_cooccurrence = min_cooccurrence.max(1);
    let ordered = ordered(observations);
    // Window -> active (room, pseudonym) -> (distinct messages, last observation in it).
    let mut windows: BTreeMap<u64, BTreeMap<Key, (BTreeSet<String>, &Observation)>> =
        BTreeMap::new();
    for &o in &ordered {
        if o.flow != "app_message" {
            continue;
        }
        let Some(room) = &o.room else { continue };
        for (subject, items) in subjects(o) {
            for pseudonym in items.iter().filter(|i| i.kind == "user_pseudonym") {
                let message = items
                    .iter()
                    .find(|i| i.kind == "message")
                    .map(|i| i.value.clone())
                    // Without a digest, each observation counts as one message.
                    .unwrap_or_else(|| format!("{}/{}/{}", o.seq, o.observer, subject));
                let entry = windows
                    .entry(o.time_us / window_us)
                    .or_default()
                    .entry((room.clone(), pseudonym.value.clone()))
                    .or_insert_with(|| (BTreeSet::new(), o));
                entry.0.insert(message);
                entry.1 = o;
            }
        }
    }
    // Sweep the windows in time order; compare only keys active in one window.
    let mut active_windows: BTreeMap<&Key, u64> = BTreeMap::new();
    let mut messages: BTreeMap<&Key, u64> = BTreeMap::new();
    // Pair -> (co-occurrences, linking point once the minimum is met: messages until then and
    // the last observation of the window).
    type Point<'o> = Option<(u64, &'o Observation)>;
    let mut pairs: BTreeMap<(&Key, &Key), (u64, Point)> = BTreeMap::new();
    for active in windows.values() {
        for (key, (msgs, _)) in active {
            *active_windows.entry(key).or_default() += 1;
            *messages.entry(key).or_default() += msgs.len() as u64;
        }
        let keys: Vec<(&Key, &Observation)> = active.iter().map(|(k, v)| (k, v.1)).collect();
        for (i, &(a, last_a)) in keys.iter().enumerate() {
            for &(b, last_b) in &keys[i + 1..] {
                if a.0 == b.0 || a.1 == b.1 {
                    continue;
                }
                let pair = pairs.entry((a, b)).or_insert((0, None));
                pair.0 += 1;
                if pair.0 == min_cooccurrence {
                    let last = if order(last_a, last_b).is_ge() {
                        last_a
                    } else {
                        last_b
                    };
                    pair.1 = Some((messages[a] + messages[b], last));
                }
            }
        }
    }
    pairs
        .into_iter()
        .filter_map(|((a, b), (count, point))| {
            let (messages_to_link, last) = point?;
            (active_windows[a] == count && active_windows[b] == count).then(|| ActivityLink {
                a: a.clone(),
                b: b.clone(),
                cooccurrences: count,
                windows_to_link: min_cooccurrence,
                messages_to_link,
                linked_at_us: last.time_us,
                observer: last.observer.clone(),
            })
        })
        .collect()
}

/// A candidate earlier event of a chain: the key that makes candidates distinct, and the
/// identifiers it links.
struct Earlier<'a> {
    key: String,
    items: Vec<&'a Item>,
}

/// One chain: for every later event (index in `ordered`, observation) that `is_later` accepts,
/// the earlier events `earlier` finds in the window before it. A later event *claims* a
/// candidate when those have exactly one distinct key; the claim links (to the items of the
/// first event of that key in the window) unless more later events claim the same first event
/// than there are events of that key in the window: two commits after one request cannot
/// both be its answer, and which one is cannot be told.
fn chain<'a>(
    flow: &str,
    ordered: &[&'a Observation],
    window_us: u64,
    earlier: impl Fn(&'a Observation) -> Vec<Earlier<'a>>,
    is_later: impl Fn(usize, &'a Observation) -> bool,
) -> Vec<Observation> {
    // Earlier events in total order: (index in `ordered`, time, event).
    let mut events: Vec<(usize, u64, Earlier<'a>)> = Vec::new();
    for (i, &o) in ordered.iter().enumerate() {
        events.extend(earlier(o).into_iter().map(|e| (i, o.time_us, e)));
    }
    // Claims: (later observation, its leaf items, first candidate event, candidate events).
    let mut claims: Vec<(&'a Observation, Vec<&'a Item>, usize, usize)> = Vec::new();
    for (i, &later) in ordered.iter().enumerate() {
        if !is_later(i, later) {
            continue;
        }
        let leaves = leaf_items(later);
        if leaves.is_empty() {
            continue;
        }
        let from = later.time_us.saturating_sub(window_us);
        let lo = events.partition_point(|e| e.1 < from);
        let hi = events.partition_point(|e| e.0 < i);
        let Some(candidates) = events.get(lo..hi) else {
            continue;
        };
        let keys: BTreeSet<&str> = candidates.iter().map(|e| e.2.key.as_str()).collect();
        if keys.len() == 1 {
            claims.push((later, leaves, lo, candidates.len()));
        }
    }
    let mut claimed: BTreeMap<usize, usize> = BTreeMap::new();
    for c in &claims {
        *claimed.entry(c.2).or_default() += 1;
    }
    claims
        .into_iter()
        .filter(|c| claimed[&c.2] <= c.3)
        .map(|(later, leaves, first, _)| {
            synthetic(
                flow,
                later,
                events[first].2.items.iter().copied().chain(leaves),
            )
        })
        .collect()
}

/// A synthetic observation linking `items` (deduplicated, identifiers only).
fn synthetic<'a>(
    flow: &str,
    later: &Observation,
    items: impl IntoIterator<Item = &'a Item>,
) -> Observation {
    let mut seen = BTreeSet::new();
    let items = items
        .into_iter()
        .filter(|i| !NOT_IDENTIFIERS.contains(&i.kind.as_str()))
        .filter(|i| seen.insert((i.kind.as_str(), i.value.as_str())))
        .map(|i| Item {
            subject: 0,
            kind: i.kind.clone(),
            value: i.value.clone(),
        })
        .collect();
    Observation {
        seq: 0,
        time_us: later.time_us,
        observer: later.observer.clone(),
        flow: flow.to_string(),
        peer: String::new(),
        room: None,
        size: 0,
        items,
    }
}

/// The observations in one total order: time, seq, then content (so that the input's order,
/// ties included, does not matter); exact duplicates dropped.
fn ordered<'a>(observations: &[&'a Observation]) -> Vec<&'a Observation> {
    let mut v = observations.to_vec();
    v.sort_by(|a, b| order(a, b));
    v.dedup_by(|a, b| a == b);
    v
}

/// The total order of [`ordered`]: time, seq, observer, flow, peer, room, size, then the items
/// (subject, kind, value) in turn; compared field by field, without building a key.
fn order(a: &Observation, b: &Observation) -> Ordering {
    fn items(o: &Observation) -> impl Iterator<Item = (u32, &str, &str)> {
        o.items
            .iter()
            .map(|i| (i.subject, i.kind.as_str(), i.value.as_str()))
    }
    (a.time_us, a.seq)
        .cmp(&(b.time_us, b.seq))
        .then_with(|| {
            (&a.observer, &a.flow, &a.peer, a.room.as_deref(), a.size).cmp(&(
                &b.observer,
                &b.flow,
                &b.peer,
                b.room.as_deref(),
                b.size,
            ))
        })
        .then_with(|| items(a).cmp(items(b)))
}

/// The identifier items of an observation by subject.
fn subjects(o: &Observation) -> BTreeMap<u32, Vec<&Item>> {
    let mut s: BTreeMap<u32, Vec<&Item>> = BTreeMap::new();
    for item in &o.items {
        if !NOT_IDENTIFIERS.contains(&item.kind.as_str()) {
            s.entry(item.subject).or_default().push(item);
        }
    }
    s
}

/// The items of the subjects that are MLS leaves.
fn leaf_items(o: &Observation) -> Vec<&Item> {
    subjects(o)
        .into_values()
        .filter(|items| items.iter().any(|i| LEAF_KINDS.contains(&i.kind.as_str())))
        .flatten()
        .collect()
}

/// Whether every leaf of the observation carries one and the same user-level value.
fn one_user_leaves(o: &Observation) -> bool {
    let mut users = BTreeSet::new();
    for items in subjects(o).into_values() {
        if !items.iter().any(|i| LEAF_KINDS.contains(&i.kind.as_str())) {
            continue;
        }
        let user: BTreeSet<&str> = items
            .iter()
            .filter(|i| LEAF_USER_KINDS.contains(&i.kind.as_str()))
            .map(|i| i.value.as_str())
            .collect();
        if user.len() != 1 {
            return false;
        }
        users.extend(user);
    }
    users.len() == 1
}

fn is_connection_room(o: &Observation) -> bool {
    o.room
        .as_deref()
        .is_some_and(|r| r.starts_with(CONNECTION_ROOM_PREFIX))
}

/// Indices (in `ordered`) of the handshakes that are external commits: a leaf of the commit
/// (signature key, client pseudonym or client id) was in an earlier `groupinfo_request` for the
/// same room.
fn external_commits(ordered: &[&Observation]) -> BTreeSet<usize> {
    let mut requested: BTreeSet<(&str, &str, &str)> = BTreeSet::new();
    let mut external = BTreeSet::new();
    for (i, o) in ordered.iter().enumerate() {
        let Some(room) = o.room.as_deref() else {
            continue;
        };
        let leaf = o
            .items
            .iter()
            .filter(|it| LEAF_KINDS.contains(&it.kind.as_str()))
            .map(|it| (room, it.kind.as_str(), it.value.as_str()));
        match o.flow.as_str() {
            "groupinfo_request" => requested.extend(leaf),
            "handshake" if leaf.into_iter().any(|k| requested.contains(&k)) => {
                external.insert(i);
            }
            _ => {}
        }
    }
    external
}

/// [`DEVICE`]: the bursts of GroupInfo requests by members' new devices; one synthetic
/// observation per burst that links (see the module documentation).
fn device_bursts(ordered: &[&Observation], window_us: u64) -> Vec<Observation> {
    // Per domain, in order: (time, room, user pseudonym, the new leaf's items, observation).
    type Join<'a> = (u64, &'a str, &'a str, Vec<&'a Item>, &'a Observation);
    let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut joins: BTreeMap<String, Vec<Join<'_>>> = BTreeMap::new();
    for &o in ordered {
        let Some(room) = o.room.as_deref() else {
            continue;
        };
        if o.flow == "groupinfo_request" {
            for items in subjects(o).into_values() {
                let handles: Vec<&Item> = items
                    .iter()
                    .copied()
                    .filter(|i| i.kind == "user_pseudonym")
                    .collect();
                let [handle] = handles[..] else {
                    continue;
                };
                if !seen.contains(&(room, handle.value.as_str())) {
                    continue;
                }
                if let Some(domain) = crate::fingerprint::handle_domain(&handle.kind, &handle.value)
                {
                    joins.entry(domain).or_default().push((
                        o.time_us,
                        room,
                        handle.value.as_str(),
                        items,
                        o,
                    ));
                }
            }
        }
        // What shows a pseudonym in a room is its leaves there (commits, Welcomes, messages),
        // not a GroupInfo request: a pooled observer sees one request twice (at the client's
        // provider and at the hub), and a joiner's pseudonym is new to the room.
        if o.flow != "groupinfo_request" {
            for i in o.items.iter().filter(|i| i.kind == "user_pseudonym") {
                seen.insert((room, i.value.as_str()));
            }
        }
    }
    let mut out = vec![];
    for list in joins.values() {
        let mut start = 0;
        for end in 1..=list.len() {
            if end < list.len() && list[end].0 - list[end - 1].0 <= window_us {
                continue;
            }
            let burst = &list[start..end];
            start = end;
            let mut rooms: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
            for j in burst {
                rooms.entry(j.1).or_default().insert(j.2);
            }
            if rooms.len() < 2 || rooms.values().any(|h| h.len() > 1) {
                continue;
            }
            let last = burst.last().expect("a burst has a join").4;
            out.push(synthetic(
                DEVICE,
                last,
                burst.iter().flat_map(|j| j.3.iter().copied()),
            ));
        }
    }
    out
}

/// Earlier events of [`CONNECTION`]: the subjects of a `connection_request` that carry a
/// `user_id` (the target), keyed by it. A subject that names the requester's account only (the
/// request sent on the account's session) is not the target and is left out.
fn connection_request(o: &Observation) -> Vec<Earlier<'_>> {
    if o.flow != "connection_request" {
        return Vec::new();
    }
    subjects(o)
        .into_values()
        .filter_map(|items| {
            let target = items.iter().find(|i| i.kind == "user_id")?;
            Some(Earlier {
                key: target.value.clone(),
                items,
            })
        })
        .collect()
}

/// Earlier events of [`JOIN`]: the sender of an `app_message` in a connection room, keyed by
/// the room.
fn wrapper_key_message(o: &Observation) -> Vec<Earlier<'_>> {
    if o.flow != "app_message" || !is_connection_room(o) {
        return Vec::new();
    }
    let room = o.room.clone().unwrap_or_default();
    subjects(o)
        .into_values()
        .filter(|items| items.iter().any(|i| i.kind == "user_pseudonym"))
        .map(|items| Earlier {
            key: room.clone(),
            items,
        })
        .collect()
}

/// Earlier events of [`ADD`]: the token of a `kp_fetch`, keyed by itself.
fn key_package_fetch(o: &Observation) -> Vec<Earlier<'_>> {
    if o.flow != "kp_fetch" {
        return Vec::new();
    }
    o.items
        .iter()
        .filter(|i| i.kind == "connection_token")
        .map(|i| Earlier {
            key: i.value.clone(),
            items: vec![i],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(
        seq: u64,
        time_us: u64,
        observer: &str,
        flow: &str,
        room: Option<&str>,
        items: &[(u32, &str, &str)],
    ) -> Observation {
        Observation {
            seq,
            time_us,
            observer: observer.to_string(),
            flow: flow.to_string(),
            peer: "domain:x.example".to_string(),
            room: room.map(str::to_string),
            size: 100,
            items: items
                .iter()
                .map(|&(subject, kind, value)| Item {
                    subject,
                    kind: kind.to_string(),
                    value: value.to_string(),
                })
                .collect(),
        }
    }

    const MS: u64 = 1_000;

    /// The leaf of carol's client in connection-1 (as in the connections scenario).
    fn carol_leaf() -> Vec<(u32, &'static str, &'static str)> {
        vec![
            (0, "client_pseudonym", "cp-carol"),
            (0, "user_pseudonym", "up-carol"),
            (0, "signature_key", "sk-carol"),
        ]
    }

    /// Connection request naming `target` at `request_ms`, then carol's GroupInfo request
    /// (580 ms) and external commit (660 ms) into connection-1 at alpha.
    fn connection(requests: &[(&str, u64)]) -> Vec<Observation> {
        let mut v: Vec<Observation> = requests
            .iter()
            .enumerate()
            .map(|(n, &(target, ms))| {
                obs(
                    n as u64,
                    ms * MS,
                    "beta.example",
                    "connection_request",
                    None,
                    &[(0, "user_id", target)],
                )
            })
            .collect();
        v.push(obs(
            10,
            580 * MS,
            "alpha.example",
            "groupinfo_request",
            Some("connection-1"),
            &carol_leaf(),
        ));
        let mut commit = carol_leaf();
        commit.push((0, "encrypted_queue_id", "eq-carol"));
        v.push(obs(
            11,
            660 * MS,
            "alpha.example",
            "handshake",
            Some("connection-1"),
            &commit,
        ));
        v
    }

    fn run(v: &[Observation], window_us: u64) -> Vec<Observation> {
        links(&v.iter().collect::<Vec<_>>(), window_us)
    }

    fn values(o: &Observation) -> Vec<(&str, &str)> {
        o.items
            .iter()
            .map(|i| (i.kind.as_str(), i.value.as_str()))
            .collect()
    }

    /// r1 and r2 at beta, with alice's pseudonyms pa1@alpha.example and pa2@alpha.example in
    /// their commits at 1 s, then GroupInfo requests at `ms` by new leaves: (room, pseudonym,
    /// client pseudonym).
    fn device_joins(
        requests: &[(&'static str, &'static str, &'static str, u64)],
    ) -> Vec<Observation> {
        let mut v = vec![
            obs(
                0,
                1_000 * MS,
                "beta.example",
                "handshake",
                Some("r1"),
                &[
                    (0, "user_pseudonym", "pa1@alpha.example"),
                    (0, "client_pseudonym", "c1"),
                ],
            ),
            obs(
                1,
                1_000 * MS,
                "beta.example",
                "handshake",
                Some("r2"),
                &[
                    (0, "user_pseudonym", "pa2@alpha.example"),
                    (0, "client_pseudonym", "c2"),
                    (1, "user_pseudonym", "pd2@alpha.example"),
                    (1, "client_pseudonym", "d2"),
                ],
            ),
        ];
        for (n, &(room, handle, client, ms)) in requests.iter().enumerate() {
            v.push(obs(
                10 + n as u64,
                ms * MS,
                "beta.example",
                "groupinfo_request",
                Some(room),
                &[
                    (0, "client_pseudonym", client),
                    (0, "user_pseudonym", handle),
                ],
            ));
        }
        v
    }

    /// The items of each device link, sorted, as owned strings.
    fn device_links(v: &[Observation]) -> Vec<Vec<(String, String)>> {
        run(v, DEFAULT_WINDOW_US)
            .iter()
            .filter(|o| o.flow == DEVICE)
            .map(|o| {
                let mut items: Vec<(String, String)> = values(o)
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                items.sort_unstable();
                items
            })
            .collect()
    }

    #[test]
    fn a_new_device_joining_two_rooms_at_once_links_its_pseudonyms() {
        // alice's new device asks for both rooms' GroupInfo within 100 ms: one link.
        let v = device_joins(&[
            ("r1", "pa1@alpha.example", "n1", 60_000),
            ("r2", "pa2@alpha.example", "n2", 60_100),
        ]);
        let expected: Vec<(String, String)> = [
            ("client_pseudonym", "n1"),
            ("client_pseudonym", "n2"),
            ("user_pseudonym", "pa1@alpha.example"),
            ("user_pseudonym", "pa2@alpha.example"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(device_links(&v), vec![expected]);
        // 300 ms apart: two bursts of one room each, no link.
        let v = device_joins(&[
            ("r1", "pa1@alpha.example", "n1", 60_000),
            ("r2", "pa2@alpha.example", "n2", 60_300),
        ]);
        assert!(device_links(&v).is_empty());
        // A pseudonym the room has not seen is a new member, not a new device: no link.
        let v = device_joins(&[
            ("r1", "pa1@alpha.example", "n1", 60_000),
            ("r2", "px@alpha.example", "n2", 60_100),
        ]);
        assert!(device_links(&v).is_empty());
        // Two joiners' requests for r1 and r2, each seen twice by a pooled observer (at the
        // joiner's provider, then at the hub): new pseudonyms, no device, no link.
        let mut v = device_joins(&[
            ("r1", "pj@alpha.example", "j1", 60_000),
            ("r1", "pj@alpha.example", "j1", 60_020),
            ("r2", "pk@alpha.example", "k1", 60_040),
            ("r2", "pk@alpha.example", "k1", 60_060),
        ]);
        v[2].observer = "alpha.example".to_string();
        v[4].observer = "alpha.example".to_string();
        assert!(device_links(&v).is_empty());
        // Two members of r2 get devices in the burst: ambiguous, no link.
        let v = device_joins(&[
            ("r1", "pa1@alpha.example", "n1", 60_000),
            ("r2", "pa2@alpha.example", "n2", 60_100),
            ("r2", "pd2@alpha.example", "n3", 60_200),
        ]);
        assert!(device_links(&v).is_empty());
    }

    #[test]
    fn connection_request_then_external_commit_links_inside_the_window_only() {
        let v = connection(&[("mimi://beta.example/u/carol", 520)]);
        // 660 - 520 = 140 ms <= 200 ms.
        let out = run(&v, 200 * MS);
        assert_eq!(out.len(), 1);
        let l = &out[0];
        assert_eq!(l.flow, CONNECTION);
        assert_eq!(
            (l.seq, l.time_us, l.observer.as_str(), &l.room, l.size),
            (0, 660 * MS, "alpha.example", &None, 0)
        );
        assert!(l.items.iter().all(|i| i.subject == 0));
        assert_eq!(
            values(l),
            vec![
                ("user_id", "mimi://beta.example/u/carol"),
                ("client_pseudonym", "cp-carol"),
                ("user_pseudonym", "up-carol"),
                ("signature_key", "sk-carol"),
                ("encrypted_queue_id", "eq-carol"),
            ]
        );
        // 140 ms > 100 ms: outside the window.
        assert!(run(&v, 100 * MS).is_empty());
    }

    #[test]
    fn two_connection_requests_in_the_window_give_no_link() {
        let v = connection(&[
            ("mimi://beta.example/u/carol", 520),
            ("mimi://beta.example/u/dave", 530),
        ]);
        assert!(run(&v, 200 * MS).is_empty());
        // With the window down to 135 ms only dave's request (130 ms before) is left: one
        // candidate, linked (wrongly: what a timing adversary risks).
        let out = run(&v, 135 * MS);
        assert_eq!(out.len(), 1);
        assert_eq!(
            values(&out[0])[0],
            ("user_id", "mimi://beta.example/u/dave")
        );
        // The same target seen twice is one candidate.
        let v = connection(&[
            ("mimi://beta.example/u/carol", 500),
            ("mimi://beta.example/u/carol", 520),
        ]);
        assert_eq!(run(&v, 200 * MS).len(), 1);
    }

    #[test]
    fn two_commits_after_one_request_give_no_link() {
        // grace's external commit into connection-2 lands next to carol's: the one request
        // cannot be told to be the answer of either.
        let mut v = connection(&[("mimi://beta.example/u/carol", 520)]);
        let grace = [
            (0, "client_pseudonym", "cp-grace"),
            (0, "user_pseudonym", "up-grace"),
            (0, "signature_key", "sk-grace"),
        ];
        v.push(obs(
            12,
            570 * MS,
            "alpha.example",
            "groupinfo_request",
            Some("connection-2"),
            &grace,
        ));
        v.push(obs(
            13,
            650 * MS,
            "alpha.example",
            "handshake",
            Some("connection-2"),
            &grace,
        ));
        assert!(run(&v, 200 * MS).is_empty());
        // With a second request for grace in the window of both commits, both see two
        // candidates: still nothing.
        v.push(obs(
            14,
            515 * MS,
            "beta.example",
            "connection_request",
            None,
            &[(0, "user_id", "mimi://beta.example/u/grace")],
        ));
        assert!(run(&v, 200 * MS).is_empty());
    }

    #[test]
    fn a_commit_without_groupinfo_request_is_not_external() {
        let mut v = connection(&[("mimi://beta.example/u/carol", 520)]);
        v.retain(|o| o.flow != "groupinfo_request");
        // No external commit, so no connection link; it adds one user's leaf, but no token
        // was fetched, so no add link either.
        assert!(run(&v, 200 * MS).is_empty());
    }

    /// frank asks judy for the wrapper key in connection-8 (45.12 s), judy answers (45.18 s),
    /// frank fetches the GroupInfo of games (45.28 s) and commits (45.36 s), all at gamma.
    fn join() -> Vec<Observation> {
        vec![
            obs(
                1,
                45_120 * MS,
                "gamma.example",
                "app_message",
                Some("connection-8"),
                &[(0, "user_pseudonym", "up-frank-c8"), (0, "message", "m1")],
            ),
            obs(
                2,
                45_180 * MS,
                "gamma.example",
                "app_message",
                Some("connection-8"),
                &[(0, "user_pseudonym", "up-judy-c8"), (0, "message", "m2")],
            ),
            obs(
                3,
                45_280 * MS,
                "gamma.example",
                "groupinfo_request",
                Some("games"),
                &[
                    (0, "client_pseudonym", "cp-frank-g"),
                    (0, "user_pseudonym", "up-frank-g"),
                    (0, "signature_key", "sk-frank-g"),
                ],
            ),
            obs(
                4,
                45_360 * MS,
                "gamma.example",
                "handshake",
                Some("games"),
                &[
                    (0, "client_pseudonym", "cp-frank-g"),
                    (0, "user_pseudonym", "up-frank-g"),
                    (0, "signature_key", "sk-frank-g"),
                    (0, "encrypted_queue_id", "eq-frank-g"),
                ],
            ),
        ]
    }

    #[test]
    fn wrapper_key_exchange_then_groupinfo_request_links_the_joiner() {
        let out = run(&join(), 200 * MS);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].flow, JOIN);
        assert_eq!(out[0].time_us, 45_280 * MS);
        // The requester (frank), not the helper who answered (judy).
        assert_eq!(
            values(&out[0]),
            vec![
                ("user_pseudonym", "up-frank-c8"),
                ("message", "m1"),
                ("client_pseudonym", "cp-frank-g"),
                ("user_pseudonym", "up-frank-g"),
                ("signature_key", "sk-frank-g"),
            ]
        );
        // 160 ms back reaches frank's request; 150 ms does not, and judy's answer alone is
        // then the first message in the window (the limit of a too short window).
        assert_eq!(run(&join(), 160 * MS).len(), 1);
        assert_eq!(values(&run(&join(), 150 * MS)[0])[0].1, "up-judy-c8");
        assert!(run(&join(), 50 * MS).is_empty());
        // Another connection room active in the window: two candidates, no link.
        let mut v = join();
        v.push(obs(
            5,
            45_200 * MS,
            "gamma.example",
            "app_message",
            Some("connection-9"),
            &[(0, "user_pseudonym", "up-ivan-c9"), (0, "message", "m3")],
        ));
        assert!(run(&v, 200 * MS).is_empty());
    }

    /// dave's provider hands out erin's KeyPackages by token (40.04 s), then the hub takes the
    /// commit adding erin's leaf to lunch (40.12 s).
    fn add(tokens: &[(&str, u64)]) -> Vec<Observation> {
        let mut v: Vec<Observation> = tokens
            .iter()
            .enumerate()
            .map(|(n, &(token, ms))| {
                obs(
                    n as u64,
                    ms * MS,
                    "beta.example",
                    "kp_fetch",
                    None,
                    &[(0, "connection_token", token)],
                )
            })
            .collect();
        v.push(obs(
            10,
            40_120 * MS,
            "beta.example",
            "handshake",
            Some("lunch"),
            &[
                (0, "client_pseudonym", "cp-erin"),
                (0, "user_pseudonym", "up-erin"),
                (0, "signature_key", "sk-erin"),
            ],
        ));
        v
    }

    #[test]
    fn key_package_fetch_then_add_links_the_token() {
        let out = run(&add(&[("tok-erin", 40_040)]), 200 * MS);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].flow, ADD);
        assert_eq!(
            values(&out[0]),
            vec![
                ("connection_token", "tok-erin"),
                ("client_pseudonym", "cp-erin"),
                ("user_pseudonym", "up-erin"),
                ("signature_key", "sk-erin"),
            ]
        );
        // 80 ms back: outside a 50 ms window.
        assert!(run(&add(&[("tok-erin", 40_040)]), 50 * MS).is_empty());
        // Two tokens fetched in the window: no link.
        assert!(run(&add(&[("tok-erin", 40_040), ("tok-x", 40_060)]), 200 * MS).is_empty());
        // Three fetches of one token, then three commits adding that user's leaves to three
        // rooms: each commit claims the first fetch, but there are as many fetches as commits.
        let mut v = add(&[
            ("tok-erin", 40_000),
            ("tok-erin", 40_010),
            ("tok-erin", 40_020),
        ]);
        let commit = v.last().unwrap().clone();
        for (n, room) in ["r2", "r3"].into_iter().enumerate() {
            let mut c = commit.clone();
            c.seq += 1 + n as u64;
            c.room = Some(room.into());
            v.push(c);
        }
        assert_eq!(run(&v, 200 * MS).len(), 3);
        // Two fetches, three commits: which commit answers none cannot be told.
        v.remove(0);
        assert!(run(&v, 200 * MS).is_empty());
        // A commit that adds two users' leaves is ambiguous too.
        let mut v = add(&[("tok-erin", 40_040)]);
        let commit = v.last_mut().unwrap();
        for (kind, value) in [
            ("client_pseudonym", "cp-x"),
            ("user_pseudonym", "up-x"),
            ("signature_key", "sk-x"),
        ] {
            commit.items.push(Item {
                subject: 1,
                kind: kind.into(),
                value: value.into(),
            });
        }
        assert!(run(&v, 200 * MS).is_empty());
    }

    /// `(seq, ms, room, pseudonym)` messages at one hub, each with its own digest.
    fn messages(m: &[(u64, u64, &str, &str)]) -> Vec<Observation> {
        m.iter()
            .map(|&(seq, ms, room, p)| {
                let digest = format!("m{seq}");
                obs(
                    seq,
                    ms * MS,
                    "beta.example",
                    "app_message",
                    Some(room),
                    &[(0, "user_pseudonym", p), (0, "message", &digest)],
                )
            })
            .collect()
    }

    #[test]
    fn activity_links_pseudonyms_always_active_together_after_the_minimum() {
        // Windows of 1 s. A (lunch) and B (games) write together in windows 0, 2 and 5; C
        // (project) writes with them in 0 and 2 and alone in 3; D (plans) only in 0 and 2.
        let v = messages(&[
            (1, 100, "lunch", "A"),
            (2, 150, "games", "B"),
            (3, 160, "project", "C"),
            (4, 170, "plans", "D"),
            (5, 2_100, "lunch", "A"),
            (6, 2_200, "lunch", "A"),
            (7, 2_300, "games", "B"),
            (8, 2_400, "project", "C"),
            (9, 2_500, "plans", "D"),
            (10, 3_000, "project", "C"),
            (11, 5_100, "games", "B"),
            (12, 5_900, "lunch", "A"),
        ]);
        let refs: Vec<&Observation> = v.iter().collect();
        // After two windows nothing is linked: below the minimum of 3.
        let two: Vec<&Observation> = refs.iter().copied().filter(|o| o.seq <= 9).collect();
        assert!(activity_links(&two, 1_000 * MS, 3).is_empty());
        let l = messages_to_link(&refs, 1_000 * MS);
        assert_eq!(
            l,
            vec![ActivityLink {
                a: ("games".into(), "B".into()),
                b: ("lunch".into(), "A".into()),
                cooccurrences: 3,
                windows_to_link: 3,
                // A: 1 + 2 + 1, B: 1 + 1 + 1.
                messages_to_link: 7,
                linked_at_us: 5_900 * MS,
                observer: "beta.example".into(),
            }]
        );
        let out = run(&v, 1_000 * MS);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].flow, ACTIVITY);
        assert_eq!(out[0].time_us, 5_900 * MS);
        assert_eq!(
            values(&out[0]),
            vec![("user_pseudonym", "B"), ("user_pseudonym", "A")]
        );
        // At a minimum of 2 the same pair is linked one window earlier (A: 1 + 2, B: 1 + 1
        // messages); C (alone in window 3) and D (absent from window 5) share only two
        // windows with anyone and are never linked.
        let at_two = activity_links(&refs, 1_000 * MS, 2);
        assert_eq!(at_two.len(), 1);
        assert_eq!(at_two[0].messages_to_link, 5);
        assert_eq!(at_two[0].linked_at_us, 2_300 * MS);
    }

    #[test]
    fn activity_ignores_pseudonyms_of_one_room() {
        let v = messages(&[
            (1, 100, "lunch", "A"),
            (2, 150, "lunch", "B"),
            (3, 1_100, "lunch", "A"),
            (4, 1_150, "lunch", "B"),
            (5, 2_100, "lunch", "A"),
            (6, 2_150, "lunch", "B"),
        ]);
        assert!(run(&v, 1_000 * MS).is_empty());
    }

    #[test]
    fn output_does_not_depend_on_input_order() {
        let mut v = connection(&[("mimi://beta.example/u/carol", 520)]);
        v.extend(join());
        v.extend(add(&[("tok-erin", 40_040)]));
        v.extend(messages(&[
            (20, 50_100, "lunch", "A"),
            (20, 50_100, "games", "B"),
            (21, 51_100, "lunch", "A"),
            (21, 51_100, "games", "B"),
            (22, 52_100, "games", "B"),
            (22, 52_100, "lunch", "A"),
        ]));
        // Give everything the same seq too: ties are broken by content.
        let mut same_seq = v.clone();
        for o in &mut same_seq {
            o.seq = 7;
        }
        for v in [v, same_seq] {
            let forward = run(&v, 200 * MS);
            assert_eq!(
                forward.iter().map(|o| o.flow.as_str()).collect::<Vec<_>>(),
                vec![CONNECTION, JOIN, ADD, ACTIVITY]
            );
            let mut reversed = v.clone();
            reversed.reverse();
            assert_eq!(run(&reversed, 200 * MS), forward);
            let mut rotated = v.clone();
            rotated.rotate_left(5);
            assert_eq!(run(&rotated, 200 * MS), forward);
        }
    }
}

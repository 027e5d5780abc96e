//! Scoring the adversary against ground truth (see `shared/design/metrics.md`).
//!
//! For every mode and observer the [`Linker`] is built from the observer's observations only;
//! ground truth then says which user each identifier value belongs to, which memberships,
//! connections and messages are real, and so how much the observer learned.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rayon::prelude::*;

use crate::adversary::{Adversary, AdversaryOptions, ADVERSARIES, IDENTIFIER};
use crate::fingerprint;
use crate::linking::{FlowId, Linker, NodeId, REAL_KINDS};
use crate::model::{
    ActivityRow, Analysis, AnonymitySizes, AttributionRow, CurvePoint, MetricRow, ModeData,
    Observation, Provenance, RunData, Scope, ALL_PROVIDERS, METRICS,
};

/// Flows whose observations can name both ends of a connection: plain MIMI connection consent
/// (both user ids), and MIMIMI's connection-key fetch and connection request when they are
/// forwarded in clear (channel `none`, or the anonymous channel off): the requester's account
/// with the target's user id.
pub const CONNECT_FLOWS: &[&str] = &[
    "connect_request",
    "connect_response",
    "establishment_key_fetch",
    "connection_request",
];

/// An observer: a name and the provider domains whose observations it pools.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observer {
    pub name: String,
    pub members: Vec<String>,
    /// The coalition of every provider: every user is its own.
    pub everything: bool,
}

impl Observer {
    /// Whether the observations of provider `domain` belong to this observer.
    pub fn pools(&self, domain: &str) -> bool {
        self.everything || self.members.iter().any(|m| m == domain)
    }

    /// Whether a user whose provider is `provider` is one of the observer's own users.
    pub fn owns(&self, provider: Option<&str>) -> bool {
        self.everything || provider.is_some_and(|p| self.members.iter().any(|m| m == p))
    }

    /// Whether a user of `provider` is in `scope` for this observer.
    pub fn in_scope(&self, scope: Scope, provider: Option<&str>) -> bool {
        match scope {
            Scope::All => true,
            Scope::Own => self.owns(provider),
            Scope::Foreign => !self.owns(provider),
        }
    }
}

/// The observers of a run, in report order: each provider, each named coalition, then all.
pub fn observers(run: &RunData) -> Vec<Observer> {
    let mut out: Vec<Observer> = run
        .providers
        .iter()
        .map(|p| Observer {
            name: p.clone(),
            members: vec![p.clone()],
            everything: false,
        })
        .collect();
    out.extend(run.coalitions.iter().map(|c| Observer {
        name: c.name.clone(),
        members: c.members.clone(),
        everything: false,
    }));
    out.push(Observer {
        name: ALL_PROVIDERS.to_string(),
        members: run.providers.clone(),
        everything: true,
    });
    out
}

/// The provider domain of a real user id `mimi://DOMAIN/u/NAME`.
pub fn user_id_domain(user_id: &str) -> Option<&str> {
    let rest = user_id.strip_prefix("mimi://")?;
    let (domain, path) = rest.split_once('/')?;
    (!domain.is_empty() && path.starts_with("u/")).then_some(domain)
}

/// What ground truth says, indexed for scoring.
#[derive(Clone, Debug, Default)]
pub struct TruthIndex {
    /// kind -> value -> the users truth assigns it to (looked up without allocating).
    pub owners: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    /// User -> provider domain (from its `user_id`).
    pub provider: BTreeMap<String, String>,
    /// Provider domain -> number of users.
    pub users_per_provider: BTreeMap<String, usize>,
    /// Number of users (distinct users with a `user_id` row).
    pub users: usize,
}

impl TruthIndex {
    pub fn new(mode: &ModeData) -> Self {
        let mut t = TruthIndex::default();
        for row in &mode.truth {
            t.owners
                .entry(row.kind.clone())
                .or_default()
                .entry(row.value.clone())
                .or_default()
                .insert(row.user.clone());
            if row.kind == "user_id" {
                if let Some(d) = user_id_domain(&row.value) {
                    t.provider.insert(row.user.clone(), d.to_string());
                }
            }
        }
        let with_id: BTreeSet<&str> = mode
            .truth
            .iter()
            .filter(|r| r.kind == "user_id")
            .map(|r| r.user.as_str())
            .collect();
        t.users = with_id.len();
        for d in t.provider.values() {
            *t.users_per_provider.entry(d.clone()).or_default() += 1;
        }
        t
    }

    pub fn owners_of(&self, kind: &str, value: &str) -> Option<&BTreeSet<String>> {
        self.owners.get(kind).and_then(|values| values.get(value))
    }

    pub fn provider_of(&self, user: &str) -> Option<&str> {
        self.provider.get(user).map(String::as_str)
    }
}

/// One true membership (user, room), as one observer saw it.
#[derive(Clone, Debug)]
pub struct SeenMembership {
    pub user: String,
    pub room: String,
    /// `room` purpose (scored) rather than a connection room.
    pub scored: bool,
    pub last_resort: bool,
    /// The last-resort KeyPackage sets its clients entered with (by set id).
    pub last_resort_sets: BTreeSet<String>,
    /// The spans of the membership's rows, (from_us, to_us) (`None`: until the end).
    pub spans: Vec<(u64, Option<u64>)>,
    /// The observer saw an observation of the room while the membership lasted (within one of
    /// its spans): only then can it have learned anything about it.
    pub seen: bool,
    /// Items of the room's observations that truth assigns to the user.
    pub items: Vec<NodeId>,
    /// User-level clusters of those items.
    pub clusters: BTreeSet<NodeId>,
    /// One of the clusters holds a real identifier of the user.
    pub disclosed: bool,
}

impl SeenMembership {
    pub fn linked(&self, other: &SeenMembership) -> bool {
        self.clusters.iter().any(|c| other.clusters.contains(c))
    }
}

/// One observer's observations of one mode, and what follows from them whatever the
/// adversary: the identifier links, the true memberships with what the observer saw of them,
/// and the pairs of users that links do not change. Every adversary's view
/// ([`Pool::view`]) extends it with the adversary's own links.
pub struct Pool<'a> {
    pub observer: &'a Observer,
    pub mode: &'a ModeData,
    pub truth: &'a TruthIndex,
    /// The observer's observations, in log order.
    pub observations: Vec<&'a Observation>,
    /// The identifier adversary's links.
    identifier: Linker,
    /// Distinct memberships, as [`ObserverView::memberships`] but not yet clustered (no
    /// clusters, none disclosed).
    memberships: Vec<SeenMembership>,
    pairs: Arc<UserPairs>,
}

/// Pairs of users (ordered, distinct) that do not depend on the adversary's links.
struct UserPairs {
    /// Co-members of a room of room purpose.
    rooms: BTreeSet<(String, String)>,
    /// Connected users.
    connections: BTreeSet<(String, String)>,
    /// Users that one observation of a [`CONNECT_FLOWS`] flow names together, by any real
    /// identifier (user id, account, client id): inferred connection edges.
    connect: BTreeSet<(String, String)>,
}

impl<'a> Pool<'a> {
    pub fn new(observer: &'a Observer, mode: &'a ModeData, truth: &'a TruthIndex) -> Self {
        let observations: Vec<&Observation> = mode
            .observations
            .iter()
            .filter(|o| observer.pools(&o.observer))
            .collect();
        let identifier = Linker::build(observations.iter().copied());
        // Distinct (user, room) memberships with the spans of all their rows (every client,
        // every time in the room); last_resort if any client entered with one.
        let mut distinct: BTreeMap<(&str, &str), SeenMembership> = BTreeMap::new();
        for m in &mode.memberships {
            let e = distinct
                .entry((&m.user, &m.room))
                .or_insert_with(|| SeenMembership {
                    user: m.user.clone(),
                    room: m.room.clone(),
                    scored: m.purpose == "room",
                    last_resort: false,
                    last_resort_sets: BTreeSet::new(),
                    spans: Vec::new(),
                    seen: false,
                    items: Vec::new(),
                    clusters: BTreeSet::new(),
                    disclosed: false,
                });
            e.last_resort |= m.last_resort;
            if let Some(set) = m.key_package_set.as_ref().filter(|_| m.last_resort) {
                e.last_resort_sets.insert(set.clone());
            }
            e.spans.push((m.from_us, m.to_us));
        }
        // Items of each (user, room), found per room from the items' owners.
        for room in identifier.rooms() {
            for &n in identifier
                .room_items(room)
                .into_iter()
                .flat_map(|i| i.keys())
            {
                let (kind, value) = identifier.key(n);
                for u in truth.owners_of(kind, value).into_iter().flatten() {
                    if let Some(m) = distinct.get_mut(&(u.as_str(), room)) {
                        m.items.push(n);
                    }
                }
            }
        }
        let memberships: Vec<SeenMembership> = distinct
            .into_values()
            .map(|mut m| {
                m.seen = m
                    .spans
                    .iter()
                    .any(|&(from, to)| identifier.saw_room_between(&m.room, from, to));
                m
            })
            .collect();
        let pairs = Arc::new(UserPairs::new(mode, truth, &observations, &memberships));
        Pool {
            observer,
            mode,
            truth,
            observations,
            identifier,
            memberships,
            pairs,
        }
    }

    /// The view of `adversary`: the observer's observations and the links the adversary adds.
    pub fn view(&self, adversary: &Adversary) -> ObserverView<'a> {
        let mut linker = self.identifier.clone();
        linker.extend(&adversary.links(&self.observations));
        // With a directory, what each (room, user handle) fingerprint leaves possible.
        let handle_fingerprints = match &adversary.directory {
            Some(dir) => fingerprint::fingerprints(&self.observations)
                .into_iter()
                .map(|(key, f)| (key, fingerprint::consistent_users(dir, &f) as u64))
                .collect(),
            None => BTreeMap::new(),
        };
        let mut named: BTreeMap<NodeId, BTreeSet<String>> = BTreeMap::new();
        for n in 0..linker.len() {
            let (kind, value) = linker.key(n);
            if !REAL_KINDS.contains(&kind) {
                continue;
            }
            if let Some(owners) = self.truth.owners_of(kind, value) {
                named
                    .entry(linker.user_cluster(n))
                    .or_default()
                    .extend(owners.iter().cloned());
            }
        }
        let mut consistent = BTreeMap::new();
        let memberships = self
            .memberships
            .iter()
            .map(|m| {
                let clusters: BTreeSet<NodeId> =
                    m.items.iter().map(|&n| linker.user_cluster(n)).collect();
                let disclosed = clusters
                    .iter()
                    .any(|c| named.get(c).is_some_and(|us| us.contains(&m.user)));
                // The fewest users any of the member's handles in the room is consistent with.
                if let Some(n) = m
                    .items
                    .iter()
                    .filter_map(|&n| {
                        let (kind, value) = linker.key(n);
                        handle_fingerprints
                            .get(&(m.room.clone(), (kind.to_string(), value.to_string())))
                            .copied()
                    })
                    .min()
                {
                    consistent.insert((m.user.clone(), m.room.clone()), n);
                }
                SeenMembership {
                    clusters,
                    disclosed,
                    ..m.clone()
                }
            })
            .collect();
        ObserverView {
            observer: self.observer,
            mode: self.mode,
            truth: self.truth,
            linker,
            memberships,
            named,
            consistent,
            pairs: Arc::clone(&self.pairs),
        }
    }
}

impl UserPairs {
    fn new(
        mode: &ModeData,
        truth: &TruthIndex,
        observations: &[&Observation],
        memberships: &[SeenMembership],
    ) -> Self {
        let mut members: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for m in memberships.iter().filter(|m| m.scored) {
            members.entry(&m.room).or_default().insert(&m.user);
        }
        let mut rooms = BTreeSet::new();
        for users in members.values() {
            rooms.extend(pairs_of(users.iter().copied()));
        }
        let connections = mode
            .connections
            .iter()
            .filter(|(a, b)| a != b)
            .map(|(a, b)| ordered(a, b))
            .collect();
        let mut connect = BTreeSet::new();
        for o in observations {
            if !CONNECT_FLOWS.contains(&o.flow.as_str()) {
                continue;
            }
            let users: BTreeSet<&str> = o
                .items
                .iter()
                .filter(|i| REAL_KINDS.contains(&i.kind.as_str()))
                .flat_map(|i| truth.owners_of(&i.kind, &i.value).into_iter().flatten())
                .map(String::as_str)
                .collect();
            connect.extend(pairs_of(users.into_iter()));
        }
        UserPairs {
            rooms,
            connections,
            connect,
        }
    }
}

/// Two seen memberships in different rooms, the earlier in membership order first.
type MembershipPair<'a> = (&'a SeenMembership, &'a SeenMembership);

/// One observer's view of one mode, scored.
pub struct ObserverView<'a> {
    pub observer: &'a Observer,
    pub mode: &'a ModeData,
    pub truth: &'a TruthIndex,
    pub linker: Linker,
    /// Distinct memberships, room purpose and connection purpose, by (user, room).
    pub memberships: Vec<SeenMembership>,
    /// User-level cluster -> users a real identifier in it names.
    pub named: BTreeMap<NodeId, BTreeSet<String>>,
    /// (user, room) -> the number of the member's domain's users consistent with the
    /// fingerprint it showed in that room, for an adversary with a directory.
    pub consistent: BTreeMap<(String, String), u64>,
    pairs: Arc<UserPairs>,
}

impl<'a> ObserverView<'a> {
    /// The identifier adversary's view.
    pub fn new(observer: &'a Observer, mode: &'a ModeData, truth: &'a TruthIndex) -> Self {
        let identifier = Adversary::new(IDENTIFIER, &AdversaryOptions::default(), mode);
        Self::with_adversary(observer, mode, truth, &identifier)
    }

    /// The view of `adversary`: the observer's observations and the links the adversary adds
    /// (see [`Pool::view`], which spares rebuilding the observer's pool per adversary).
    pub fn with_adversary(
        observer: &'a Observer,
        mode: &'a ModeData,
        truth: &'a TruthIndex,
        adversary: &Adversary,
    ) -> Self {
        Pool::new(observer, mode, truth).view(adversary)
    }

    fn in_scope(&self, scope: Scope, user: &str) -> bool {
        self.observer.in_scope(scope, self.truth.provider_of(user))
    }

    /// Whether the observer names `user` in the cluster of node `n`.
    pub fn names(&self, n: NodeId, user: &str) -> bool {
        self.named
            .get(&self.linker.user_cluster(n))
            .is_some_and(|us| us.contains(user))
    }

    /// Seen, scored memberships (room purpose, room seen).
    pub fn scored(&self) -> impl Iterator<Item = &SeenMembership> {
        self.memberships.iter().filter(|m| m.scored && m.seen)
    }

    /// The pairs of seen scored memberships in two different rooms that recall and precision
    /// count: those of one user, and those linked (sharing a cluster), each pair once, as
    /// (same-user pairs, linked pairs). Every other pair counts for neither, so it is never
    /// formed: the work grows with users' rooms and clusters' sizes, not with the square of
    /// all memberships.
    fn cross_room_pairs(&self) -> (Vec<MembershipPair<'_>>, Vec<MembershipPair<'_>>) {
        let seen: Vec<&SeenMembership> = self.scored().collect();
        let mut by_user: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        let mut by_cluster: BTreeMap<NodeId, Vec<usize>> = BTreeMap::new();
        for (i, m) in seen.iter().enumerate() {
            by_user.entry(&m.user).or_default().push(i);
            for &c in &m.clusters {
                by_cluster.entry(c).or_default().push(i);
            }
        }
        let pairs_within = |groups: &mut dyn Iterator<Item = &Vec<usize>>| {
            let mut out: Vec<(usize, usize)> = Vec::new();
            for group in groups {
                for (k, &i) in group.iter().enumerate() {
                    for &j in &group[k + 1..] {
                        if seen[i].room != seen[j].room {
                            out.push((i, j));
                        }
                    }
                }
            }
            out.sort_unstable();
            out.dedup();
            out.into_iter().map(|(i, j)| (seen[i], seen[j])).collect()
        };
        (
            pairs_within(&mut by_user.values()),
            pairs_within(&mut by_cluster.values()),
        )
    }

    /// Pairs of users both disclosed by the observer in one seen room of the given purpose.
    fn disclosed_pairs(&self, scored: bool) -> BTreeSet<(String, String)> {
        let mut by_room: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for m in &self.memberships {
            if m.scored == scored && m.seen && m.disclosed {
                by_room.entry(&m.room).or_default().insert(&m.user);
            }
        }
        let mut out = BTreeSet::new();
        for users in by_room.values() {
            out.extend(pairs_of(users.iter().copied()));
        }
        out
    }

    /// The metrics of one scope, in [`METRICS`] order, and the sorted anonymity set sizes.
    pub fn metrics(&self, scope: Scope) -> (Vec<(&'static str, Measure)>, Vec<u64>) {
        let mut v: BTreeMap<&'static str, Measure> = BTreeMap::new();

        // Identity disclosure, identification and anonymity sets.
        let (measures, sizes) = self.membership_measures(true, scope);
        for (name, m) in MEMBERSHIP_METRICS.iter().zip(measures) {
            v.insert(name, m);
        }

        // The same for connection rooms (MIMIMI), in their own rows, so that the rows of the
        // scenario's rooms compare between modes: what a connection room shows its hub (the
        // requester's provider) about the responder.
        let (measures, _) = self.membership_measures(false, scope);
        for (name, m) in CONNECTION_ROOM_METRICS.iter().zip(measures) {
            v.insert(name, m);
        }

        // Cross-room links.
        let (same_user, linked_pairs) = self.cross_room_pairs();
        let (mut same, mut same_linked, mut lr, mut lr_linked) = (0.0, 0.0, 0.0, 0.0);
        let (mut linked, mut linked_same) = (0.0, 0.0);
        for (a, b) in &same_user {
            if !self.in_scope(scope, &a.user) {
                continue;
            }
            let is_linked = a.linked(b);
            same += 1.0;
            if is_linked {
                same_linked += 1.0;
            }
            // Reuse of one last-resort set: both entered with it. Links through other
            // identifiers of a user's other pairs are cross-room recall, not reuse.
            if !a.last_resort_sets.is_disjoint(&b.last_resort_sets) {
                lr += 1.0;
                if is_linked {
                    lr_linked += 1.0;
                }
            }
        }
        for (a, b) in &linked_pairs {
            if self.in_scope(scope, &a.user) && self.in_scope(scope, &b.user) {
                linked += 1.0;
                if a.user == b.user {
                    linked_same += 1.0;
                }
            }
        }
        v.insert("cross_room_recall", Measure::ratio(same_linked, same));
        v.insert("cross_room_precision", Measure::ratio(linked_same, linked));

        // Social graph (co-membership).
        let scoped =
            |(a, b): &&(String, String)| self.in_scope(scope, a) && self.in_scope(scope, b);
        let disclosed = self.disclosed_pairs(true);
        let [p, r, f] = graph_scores(
            &self.pairs.rooms.iter().filter(scoped).collect(),
            &disclosed.iter().filter(scoped).collect(),
        );
        v.insert("social_graph_precision", p);
        v.insert("social_graph_recall", r);
        v.insert("social_graph_f1", f);

        // Connection graph.
        let disclosed = self.disclosed_pairs(false);
        let inferred = disclosed.iter().chain(&self.pairs.connect);
        let [p, r, f] = graph_scores(
            &self.pairs.connections.iter().filter(scoped).collect(),
            &inferred.filter(scoped).collect(),
        );
        v.insert("connection_graph_precision", p);
        v.insert("connection_graph_recall", r);
        v.insert("connection_graph_f1", f);

        // Message attribution.
        let (mut seen_msgs, mut named_msgs) = (0.0, 0.0);
        for m in &self.mode.messages {
            let Some(n) = self.linker.node("message", &m.message) else {
                continue;
            };
            if !self.in_scope(scope, &m.user) {
                continue;
            }
            seen_msgs += 1.0;
            if self.names(n, &m.user) {
                named_msgs += 1.0;
            }
        }
        v.insert("message_attribution", Measure::ratio(named_msgs, seen_msgs));

        // Last-resort reuse.
        let (mut all_scored, mut lr_rooms) = (0.0, 0.0);
        for m in self.memberships.iter().filter(|m| m.scored) {
            if self.in_scope(scope, &m.user) {
                all_scored += 1.0;
                if m.last_resort {
                    lr_rooms += 1.0;
                }
            }
        }
        v.insert("last_resort_rooms", Measure::count(lr_rooms, all_scored));
        v.insert("last_resort_pairs", Measure::count(lr, same));
        v.insert("last_resort_links", Measure::count(lr_linked, lr));

        let rows = METRICS
            .iter()
            .map(|(name, _)| {
                let m = v
                    .remove(name)
                    .unwrap_or_else(|| panic!("metric {name} of METRICS not computed"));
                (*name, m)
            })
            .collect();
        debug_assert!(v.is_empty(), "metrics missing from METRICS: {:?}", v.keys());
        (rows, sizes)
    }

    /// The anonymity set size of every seen membership of one purpose (`scored`: the
    /// scenario's rooms; else connection rooms), in membership order: 1 if disclosed, else the
    /// users of the member's provider (the domain its pseudonym names) minus those the observer
    /// has named in the same room, at least 1.
    fn anonymity_sets(&self, scored: bool) -> Vec<(&SeenMembership, u64)> {
        let seen = || {
            self.memberships
                .iter()
                .filter(move |m| m.scored == scored && m.seen)
        };
        let mut disclosed_in_room: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for m in seen().filter(|m| m.disclosed) {
            if let Some(p) = self.truth.provider_of(&m.user) {
                *disclosed_in_room.entry((&m.room, p)).or_default() += 1;
            }
        }
        seen()
            .map(|m| {
                if m.disclosed {
                    return (m, 1);
                }
                let Some(p) = self.truth.provider_of(&m.user) else {
                    return (m, 1);
                };
                let users = self.truth.users_per_provider.get(p).copied().unwrap_or(0);
                let placed = disclosed_in_room.get(&(&m.room, p)).copied().unwrap_or(0);
                let size = users.saturating_sub(placed).max(1) as u64;
                // A directory narrows the set to the users consistent with the fingerprint.
                match self.consistent.get(&(m.user.clone(), m.room.clone())) {
                    Some(&c) => (m, size.min(c.max(1))),
                    None => (m, size),
                }
            })
            .collect()
    }

    /// The measures of [`MEMBERSHIP_METRICS`], in order, over the seen memberships of one
    /// purpose in scope, and their sorted anonymity set sizes.
    fn membership_measures(&self, scored: bool, scope: Scope) -> (Vec<Measure>, Vec<u64>) {
        let sets: Vec<(&SeenMembership, u64)> = self
            .anonymity_sets(scored)
            .into_iter()
            .filter(|(m, _)| self.in_scope(scope, &m.user))
            .collect();
        let n = sets.len() as f64;
        let disclosed = sets.iter().filter(|(m, _)| m.disclosed).count() as f64;
        // Named, or narrowed to one user: identified either way.
        let identified = sets
            .iter()
            .filter(|(m, size)| m.disclosed || *size == 1)
            .count() as f64;
        let mut sizes: Vec<u64> = sets.iter().map(|(_, size)| *size).collect();
        sizes.sort_unstable();
        let count = sizes.len();
        let stat = |value: Option<u64>| Measure::order(value.map(|x| x as f64), count as f64);
        // Nearest rank: index ceil(n / 10) - 1.
        let p10 = (count > 0).then(|| sizes[count.div_ceil(10) - 1]);
        let median = (count > 0).then(|| sizes[(count - 1) / 2]);
        let unique = sizes.iter().filter(|&&s| s == 1).count() as f64;
        let entropy: f64 = sizes.iter().map(|&s| (s as f64).log2()).sum();
        let total = self.truth.users as f64;
        let degree: f64 = if self.truth.users <= 1 {
            0.0
        } else {
            sizes
                .iter()
                .map(|&s| (s as f64).log2() / total.log2())
                .sum()
        };
        let measures = vec![
            Measure::ratio(disclosed, n),
            Measure::ratio(identified, n),
            stat(sizes.first().copied()),
            stat(p10),
            stat(median),
            Measure::ratio(unique, count as f64),
            Measure::mean(entropy, count as f64),
            Measure::mean(degree, count as f64),
        ];
        debug_assert_eq!(measures.len(), MEMBERSHIP_METRICS.len());
        (measures, sizes)
    }

    /// Leak attribution: per scope (`own` or `foreign`, the user's) and flow, the disclosed
    /// memberships and linked cross-room pairs whose shortest linking path uses it.
    pub fn attribution(&self) -> BTreeMap<(Scope, String), (u64, u64)> {
        let mut counts: BTreeMap<(Scope, FlowId), (u64, u64)> = BTreeMap::new();
        let scope_of = |user: &str| {
            if self.in_scope(Scope::Own, user) {
                Scope::Own
            } else {
                Scope::Foreign
            }
        };
        let room_flows = |n: NodeId, room: &str| -> BTreeSet<FlowId> {
            self.linker
                .room_items(room)
                .and_then(|items| items.get(&n))
                .cloned()
                .unwrap_or_default()
        };
        for m in self.scored().filter(|m| m.disclosed) {
            let is_real = |n: NodeId| {
                let (kind, value) = self.linker.key(n);
                REAL_KINDS.contains(&kind)
                    && self
                        .truth
                        .owners_of(kind, value)
                        .is_some_and(|us| us.contains(&m.user))
            };
            if let Some(path) = self.linker.shortest_path(&m.items, is_real) {
                let mut flows = self.linker.path_edge_flows(&path);
                flows.extend(room_flows(path[0], &m.room));
                flows.extend(room_flows(path[path.len() - 1], &m.room));
                for f in flows {
                    counts.entry((scope_of(&m.user), f)).or_default().0 += 1;
                }
            }
        }
        for (a, b) in self.cross_room_pairs().0 {
            if !a.linked(b) {
                continue;
            }
            let targets: BTreeSet<NodeId> = b.items.iter().copied().collect();
            if let Some(path) = self
                .linker
                .shortest_path(&a.items, |n| targets.contains(&n))
            {
                let mut flows = self.linker.path_edge_flows(&path);
                flows.extend(room_flows(path[0], &a.room));
                flows.extend(room_flows(path[path.len() - 1], &b.room));
                for f in flows {
                    counts.entry((scope_of(&a.user), f)).or_default().1 += 1;
                }
            }
        }
        counts
            .into_iter()
            .map(|((scope, f), c)| ((scope, self.linker.flow_name(f).to_string()), c))
            .collect()
    }
}

/// The metrics [`ObserverView::membership_measures`] computes for the scenario's rooms, in
/// its order.
const MEMBERSHIP_METRICS: [&str; 8] = [
    "identity_disclosure",
    "identification",
    "anonymity_set_min",
    "anonymity_set_p10",
    "anonymity_set_median",
    "anonymity_unique_fraction",
    "anonymity_entropy_mean",
    "degree_of_anonymity_mean",
];

/// The metrics of [`MEMBERSHIP_METRICS`] for connection rooms, in the same order.
const CONNECTION_ROOM_METRICS: [&str; 8] = [
    "connection_room_identity_disclosure",
    "connection_room_identification",
    "connection_room_anonymity_set_min",
    "connection_room_anonymity_set_p10",
    "connection_room_anonymity_set_median",
    "connection_room_anonymity_unique_fraction",
    "connection_room_anonymity_entropy_mean",
    "connection_room_degree_of_anonymity_mean",
];

/// A metric's value with its numerator and denominator (see [`MetricKind`](crate::model::MetricKind)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measure {
    /// `None`: n/a, taken over nothing.
    pub value: Option<f64>,
    pub numerator: Option<f64>,
    pub denominator: f64,
}

impl Measure {
    /// `numerator / denominator`; n/a when the denominator is 0.
    pub fn ratio(numerator: f64, denominator: f64) -> Self {
        Measure {
            value: (denominator != 0.0).then(|| numerator / denominator),
            numerator: Some(numerator),
            denominator,
        }
    }

    /// The mean of `samples` values that add up to `sum`; n/a without samples.
    pub fn mean(sum: f64, samples: f64) -> Self {
        Measure::ratio(sum, samples)
    }

    /// An order statistic of `samples` values (`None` without samples).
    pub fn order(value: Option<f64>, samples: f64) -> Self {
        Measure {
            value: value.filter(|_| samples > 0.0),
            numerator: None,
            denominator: samples,
        }
    }

    /// A count among `among`; a count of nothing is 0, never n/a.
    pub fn count(value: f64, among: f64) -> Self {
        Measure {
            value: Some(value),
            numerator: Some(value),
            denominator: among,
        }
    }
}

fn ordered(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

/// Unordered pairs of distinct items of a sorted, deduplicated sequence.
fn pairs_of<'s>(users: impl Iterator<Item = &'s str>) -> Vec<(String, String)> {
    let users: Vec<&str> = users.collect();
    let mut out = Vec::new();
    for (i, a) in users.iter().enumerate() {
        for b in &users[i + 1..] {
            if a != b {
                out.push(ordered(a, b));
            }
        }
    }
    out
}

/// Precision, recall and F1 of inferred edges against true edges.
fn graph_scores(
    truth: &BTreeSet<&(String, String)>,
    inferred: &BTreeSet<&(String, String)>,
) -> [Measure; 3] {
    let tp = inferred.intersection(truth).count() as f64;
    let (ni, nt) = (inferred.len() as f64, truth.len() as f64);
    [
        Measure::ratio(tp, ni),
        Measure::ratio(tp, nt),
        Measure::ratio(2.0 * tp, ni + nt),
    ]
}

/// Flattens a JSON object to (dotted path, value) pairs in key order: nested objects by path,
/// strings as they are, anything else as compact JSON.
fn flatten(
    prefix: &str,
    object: &serde_json::Map<String, serde_json::Value>,
    out: &mut Vec<(String, String)>,
) {
    let mut keys: Vec<&String> = object.keys().collect();
    keys.sort();
    for key in keys {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match &object[key] {
            serde_json::Value::Object(inner) => flatten(&path, inner, out),
            serde_json::Value::String(s) => out.push((path, s.clone())),
            other => out.push((path, other.to_string())),
        }
    }
}

/// Computes every metric, anonymity distribution and attribution row of a run.
pub fn analyze(run: &RunData) -> Analysis {
    let observers = observers(run);
    let mut out = start(run, &observers);
    for mode in &run.modes {
        analyze_mode(run, &observers, mode, &mut out);
    }
    out
}

/// [`analyze`] of the run directory `dir`, reading one mode's logs at a time, so that only one
/// mode's observations are in memory at once.
pub fn analyze_dir(dir: &std::path::Path) -> Result<Analysis, crate::input::AnalysisError> {
    let mut run = crate::input::load_header(dir)?;
    let observers = observers(&run);
    let mut out = start(&run, &observers);
    for i in 0..run.modes.len() {
        let header = std::mem::take(&mut run.modes[i]);
        let mode = crate::input::load_mode_data(dir, &run.providers, header)?;
        analyze_mode(&run, &observers, &mode, &mut out);
    }
    Ok(out)
}

/// The analysis of a run before any mode's rows: its names, provenance and counters.
fn start(run: &RunData, observers: &[Observer]) -> Analysis {
    let mut out = Analysis {
        scenario: run.scenario.clone(),
        seed: run.seed,
        run: run.run,
        modes: run
            .modes
            .iter()
            .map(|m| (m.mode.clone(), m.mechanisms.clone()))
            .collect(),
        observers: observers.iter().map(|o| o.name.clone()).collect(),
        provenance: Provenance {
            tool_version: run.tool_version.clone(),
            scenario_sha256: run.scenario_sha256.clone(),
            fingerprints: run
                .modes
                .iter()
                .filter_map(|m| Some((m.mode.clone(), m.fingerprint.clone()?)))
                .collect(),
            parameters: run.parameters.as_ref().map(|p| {
                let mut out = Vec::new();
                flatten("", p, &mut out);
                out
            }),
        },
        ..Analysis::default()
    };
    out.adversaries = ADVERSARIES.iter().map(|(a, _)| a.to_string()).collect();
    out.coalitions = run.coalitions.iter().map(|c| c.name.clone()).collect();
    out.stats = run
        .modes
        .iter()
        .map(|m| (m.mode.clone(), m.stats.clone()))
        .collect();
    out.adversary_options = run.adversary.clone();
    out
}

/// Appends the rows of one mode of `run` to `out`.
fn analyze_mode(run: &RunData, observers: &[Observer], mode: &ModeData, out: &mut Analysis) {
    let truth = TruthIndex::new(mode);
    let points = curve_points(run, mode);
    let adversaries: Vec<Adversary> = ADVERSARIES
        .iter()
        .map(|(name, _)| Adversary::new(name, &run.adversary, mode))
        .collect();
    let window_us = run.adversary.timing_window_us;
    // Observers in parallel, each pool (the largest structure of the analysis) built, used for
    // the observer's rows and curve points, and dropped: about one pool per core is in memory.
    let parts: Vec<(Analysis, Vec<CurvePoint>)> = observers
        .par_iter()
        .map(|observer| {
            let pool = Pool::new(observer, mode, &truth);
            let curve: Vec<CurvePoint> = points
                .par_iter()
                .map(|point| curve_point(mode, &pool, point))
                .collect();
            (observer_rows(&pool, &adversaries, window_us), curve)
        })
        .collect();
    // Curve points in (point, observer) order, rows in observer order.
    let (parts, curves): (Vec<Analysis>, Vec<Vec<CurvePoint>>) = parts.into_iter().unzip();
    let mut curves: Vec<_> = curves.into_iter().map(Vec::into_iter).collect();
    for _ in &points {
        for observer in &mut curves {
            out.curves.extend(observer.next());
        }
    }
    for mut part in parts {
        out.activity.append(&mut part.activity);
        out.metrics.append(&mut part.metrics);
        out.anonymity.append(&mut part.anonymity);
        out.attribution.append(&mut part.attribution);
    }
}

/// The activity, metric, anonymity and attribution rows of one observer of one mode (the
/// other fields of the returned [`Analysis`] are left empty).
fn observer_rows(pool: &Pool, adversaries: &[Adversary], window_us: u64) -> Analysis {
    let (mode, observer, truth) = (pool.mode, pool.observer, pool.truth);
    let mut out = Analysis::default();
    for link in crate::timing::messages_to_link(&pool.observations, window_us) {
        let owner = |(_, pseudonym): &(String, String)| {
            truth.owners_of("user_pseudonym", pseudonym).cloned()
        };
        let correct = match (owner(&link.a), owner(&link.b)) {
            (Some(a), Some(b)) => a.len() == 1 && a == b,
            _ => false,
        };
        out.activity.push(ActivityRow {
            mode: mode.mode.clone(),
            observer: observer.name.clone(),
            room_a: link.a.0.clone(),
            room_b: link.b.0.clone(),
            messages_to_link: link.messages_to_link,
            windows_to_link: link.windows_to_link,
            correct,
        });
    }
    for (i, adversary) in adversaries.iter().enumerate() {
        let view = pool.view(adversary);
        // The strongest adversary, last, also gives the anonymity set sizes and the
        // leak attribution.
        let strongest = i + 1 == adversaries.len();
        for scope in Scope::ALL {
            let (rows, sizes) = view.metrics(scope);
            out.metrics
                .extend(rows.into_iter().map(|(metric, r)| MetricRow {
                    mode: mode.mode.clone(),
                    observer: observer.name.clone(),
                    adversary: adversary.name.to_string(),
                    scope,
                    metric: metric.to_string(),
                    value: r.value,
                    numerator: r.numerator,
                    denominator: r.denominator,
                }));
            if strongest {
                out.anonymity.push(AnonymitySizes {
                    mode: mode.mode.clone(),
                    observer: observer.name.clone(),
                    scope,
                    sizes,
                });
            }
        }
        if !strongest {
            continue;
        }
        out.attribution
            .extend(view.attribution().into_iter().filter_map(
                |((scope, flow), (disclosed, linked))| {
                    (disclosed > 0 || linked > 0).then(|| AttributionRow {
                        mode: mode.mode.clone(),
                        observer: observer.name.clone(),
                        scope,
                        flow,
                        memberships_disclosed: disclosed,
                        room_pairs_linked: linked,
                    })
                },
            ));
    }
    out
}

/// The thresholds a curve visits: the rarity threshold of the fingerprint and size
/// adversaries, and the timing window.
pub const FINGERPRINT_CLASSES: &[u64] = &[1, 2, 3, 4, 6, 8];
/// Timing windows of the curve, in microseconds.
pub const TIMING_WINDOWS_US: &[u64] = &[
    50_000, 100_000, 150_000, 200_000, 250_000, 300_000, 400_000, 500_000, 1_000_000,
];

/// A point of a curve: adversary, parameter, threshold, whether it is the run's own operating
/// point, and the adversary with that threshold.
type Point = (&'static str, &'static str, u64, bool, Adversary);

/// The points of one mode's precision–recall curves (with identification beside them) of the
/// adversaries with a threshold, over [`FINGERPRINT_CLASSES`] and [`TIMING_WINDOWS_US`] (plus the
/// run's own operating point, if it is not among them), in curve order.
fn curve_points(run: &RunData, mode: &ModeData) -> Vec<Point> {
    use crate::adversary::{FINGERPRINT, SIZE, TIMING};
    let with = |mut values: Vec<u64>, own: u64| {
        if !values.contains(&own) {
            values.push(own);
            values.sort_unstable();
        }
        values
    };
    let sweeps: [(&'static str, &'static str, Vec<u64>); 3] = [
        (
            FINGERPRINT,
            "fingerprint_max_class",
            with(
                FINGERPRINT_CLASSES.to_vec(),
                run.adversary.fingerprint_max_class as u64,
            ),
        ),
        (
            TIMING,
            "timing_window_us",
            with(TIMING_WINDOWS_US.to_vec(), run.adversary.timing_window_us),
        ),
        (
            SIZE,
            "size_max_class",
            with(
                FINGERPRINT_CLASSES.to_vec(),
                run.adversary.size_max_class as u64,
            ),
        ),
    ];
    let mut points: Vec<Point> = Vec::new();
    for (name, parameter, values) in &sweeps {
        for &threshold in values {
            let mut options = run.adversary.clone();
            let operating = match *parameter {
                "fingerprint_max_class" => {
                    let own = options.fingerprint_max_class as u64 == threshold;
                    options.fingerprint_max_class = threshold as usize;
                    own
                }
                "size_max_class" => {
                    let own = options.size_max_class as u64 == threshold;
                    options.size_max_class = threshold as usize;
                    own
                }
                _ => {
                    let own = options.timing_window_us == threshold;
                    options.timing_window_us = threshold;
                    own
                }
            };
            let adversary = Adversary::new(name, &options, mode);
            points.push((name, parameter, threshold, operating, adversary));
        }
    }
    points
}

/// One observer's value of one curve point.
fn curve_point(
    mode: &ModeData,
    pool: &Pool,
    (name, parameter, threshold, operating, adversary): &Point,
) -> CurvePoint {
    let view = pool.view(adversary);
    let (rows, _) = view.metrics(Scope::Foreign);
    let get = |metric: &str| {
        rows.iter()
            .find(|(m, _)| *m == metric)
            .map(|(_, r)| (r.numerator.unwrap_or(0.0), r.denominator))
            .unwrap_or((0.0, 0.0))
    };
    CurvePoint {
        mode: mode.mode.clone(),
        observer: pool.observer.name.clone(),
        adversary: name.to_string(),
        parameter: parameter.to_string(),
        threshold: *threshold,
        operating: *operating,
        cross_room_recall: get("cross_room_recall"),
        cross_room_precision: get("cross_room_precision"),
        identification: get("identification"),
        connection_room_identification: get("connection_room_identification"),
    }
}

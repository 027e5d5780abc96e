//! The adversary: linking identifier values by the subjects they share in observations.
//!
//! An observer (one provider, a coalition or all providers) pools its observations. Every
//! identifier value, keyed by (kind, value), is a node. Items of one subject in one observation
//! belong to one entity, as the observer knows from the bytes it parsed, so:
//! - at *user level* all items of a subject are merged;
//! - at *client level* only client-scoped kinds of a subject are merged.
//!
//! An undirected graph keeps which flow made which link, for leak attribution: the items of a
//! subject are joined by a star from its first item, every edge labelled with the flows of the
//! observations that gave it. The adversary never reads ground truth.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use petgraph::graph::{NodeIndex, UnGraph};
use petgraph::unionfind::UnionFind;

use crate::model::Observation;

/// Kinds that identify a client (merged at client level).
pub const CLIENT_KINDS: &[&str] = &[
    "client_id",
    "client_pseudonym",
    "signature_key",
    "queue_id",
    "encrypted_queue_id",
    "key_package_ref",
];

/// Kinds that identify a user, not one of its clients.
pub const USER_KINDS: &[&str] = &[
    "user_id",
    "user_pseudonym",
    "account",
    "connection_token",
    "key_package_set",
    "establishment_key",
    "message",
];

/// Kinds that do not identify a user and are left out of linking.
pub const IGNORED_KINDS: &[&str] = &["domain"];

/// Kinds that name a user for real (identity disclosure).
pub const REAL_KINDS: &[&str] = &["user_id", "account", "client_id"];

/// Whether items of `kind` take part in linking.
pub fn is_identifier(kind: &str) -> bool {
    !IGNORED_KINDS.contains(&kind)
}

/// Whether `kind` is client-scoped.
pub fn is_client_kind(kind: &str) -> bool {
    CLIENT_KINDS.contains(&kind)
}

/// Node number of an identifier value in a [`Linker`].
pub type NodeId = usize;

/// Flow number in a [`Linker`] (see [`Linker::flow_name`]).
pub type FlowId = usize;

/// What one observer can link.
///
/// Cloning is cheap in what links never change: the identifier values and the rooms are shared
/// between clones until one of them sees a new value or a new observation of a room, so that a
/// view is extended with an adversary's links ([`Linker::extend`]) without copying them.
#[derive(Clone, Debug)]
pub struct Linker {
    values: Arc<Values>,
    flows: Vec<String>,
    flow_index: BTreeMap<String, FlowId>,
    user: UnionFind<NodeId>,
    client: UnionFind<NodeId>,
    graph: UnGraph<NodeId, BTreeSet<FlowId>>,
    node_flows: Vec<BTreeSet<FlowId>>,
    rooms: Arc<Rooms>,
}

/// The identifier values of a [`Linker`], by node.
#[derive(Clone, Debug, Default)]
struct Values {
    nodes: Vec<(String, String)>,
    /// kind -> value -> node: looked up without allocating, never iterated.
    index: HashMap<String, HashMap<String, NodeId>>,
}

/// What a [`Linker`] saw of each room.
#[derive(Clone, Debug, Default)]
struct Rooms {
    /// Room -> items seen in observations of that room -> flows of those observations.
    items: BTreeMap<String, BTreeMap<NodeId, BTreeSet<FlowId>>>,
    /// Room -> times of the observations of that room, ascending.
    times: BTreeMap<String, Vec<u64>>,
}

impl Linker {
    /// Builds the observer's view from its observations (already filtered to the observer).
    pub fn build<'a>(observations: impl IntoIterator<Item = &'a Observation>) -> Self {
        let mut l = Linker {
            values: Arc::default(),
            flows: Vec::new(),
            flow_index: BTreeMap::new(),
            user: UnionFind::new(0),
            client: UnionFind::new(0),
            graph: UnGraph::default(),
            node_flows: Vec::new(),
            rooms: Arc::default(),
        };
        l.extend(observations);
        l
    }

    /// Merges more observations into the view, as [`Linker::build`] would have merged them
    /// after the ones it was built from.
    pub fn extend<'a>(&mut self, observations: impl IntoIterator<Item = &'a Observation>) {
        let mut rooms_seen = false;
        for obs in observations {
            rooms_seen |= obs.room.is_some();
            self.add(obs);
        }
        if rooms_seen {
            for times in Arc::make_mut(&mut self.rooms).times.values_mut() {
                times.sort_unstable();
                times.dedup();
            }
        }
    }

    fn intern_flow(&mut self, flow: &str) -> FlowId {
        if let Some(&f) = self.flow_index.get(flow) {
            return f;
        }
        let f = self.flows.len();
        self.flows.push(flow.to_string());
        self.flow_index.insert(flow.to_string(), f);
        f
    }

    fn intern_node(&mut self, kind: &str, value: &str) -> NodeId {
        if let Some(n) = self.node(kind, value) {
            return n;
        }
        let values = Arc::make_mut(&mut self.values);
        let n = values.nodes.len();
        values.nodes.push((kind.to_string(), value.to_string()));
        values
            .index
            .entry(kind.to_string())
            .or_default()
            .insert(value.to_string(), n);
        self.user.new_set();
        self.client.new_set();
        self.graph.add_node(n);
        self.node_flows.push(BTreeSet::new());
        n
    }

    fn add(&mut self, obs: &Observation) {
        let flow = self.intern_flow(&obs.flow);
        let mut room_items = obs
            .room
            .as_ref()
            .map(|r| (r.clone(), BTreeMap::<NodeId, BTreeSet<FlowId>>::new()));
        // Subject -> (first item, first client-scoped item).
        let mut subjects: BTreeMap<u32, (NodeId, Option<NodeId>)> = BTreeMap::new();
        for item in &obs.items {
            if !is_identifier(&item.kind) {
                continue;
            }
            let n = self.intern_node(&item.kind, &item.value);
            self.node_flows[n].insert(flow);
            if let Some((_, items)) = room_items.as_mut() {
                items.entry(n).or_default().insert(flow);
            }
            let client_kind = is_client_kind(&item.kind);
            match subjects.get_mut(&item.subject) {
                None => {
                    subjects.insert(item.subject, (n, client_kind.then_some(n)));
                }
                Some((first, first_client)) => {
                    let first = *first;
                    self.user.union(first, n);
                    if first != n {
                        let (a, b) = (NodeIndex::new(first), NodeIndex::new(n));
                        match self.graph.find_edge(a, b) {
                            Some(e) => {
                                self.graph[e].insert(flow);
                            }
                            None => {
                                self.graph.add_edge(a, b, BTreeSet::from([flow]));
                            }
                        }
                    }
                    if client_kind {
                        match first_client {
                            Some(c) => {
                                self.client.union(*c, n);
                            }
                            None => *first_client = Some(n),
                        }
                    }
                }
            }
        }
        if let Some((room, items)) = room_items {
            let rooms = Arc::make_mut(&mut self.rooms);
            rooms
                .times
                .entry(room.clone())
                .or_default()
                .push(obs.time_us);
            let entry = rooms.items.entry(room).or_default();
            for (n, fs) in items {
                entry.entry(n).or_default().extend(fs);
            }
        }
    }

    /// Number of identifier values.
    pub fn len(&self) -> usize {
        self.values.nodes.len()
    }

    /// Whether the observer saw no identifier at all.
    pub fn is_empty(&self) -> bool {
        self.values.nodes.is_empty()
    }

    /// The node of (kind, value), if the observer saw it.
    pub fn node(&self, kind: &str, value: &str) -> Option<NodeId> {
        self.values
            .index
            .get(kind)
            .and_then(|values| values.get(value))
            .copied()
    }

    /// The (kind, value) of a node.
    pub fn key(&self, n: NodeId) -> (&str, &str) {
        let (k, v) = &self.values.nodes[n];
        (k, v)
    }

    /// Representative of the node's user-level cluster.
    pub fn user_cluster(&self, n: NodeId) -> NodeId {
        self.user.find(n)
    }

    /// Representative of the node's client-level cluster.
    pub fn client_cluster(&self, n: NodeId) -> NodeId {
        self.client.find(n)
    }

    /// Name of a flow number.
    pub fn flow_name(&self, f: FlowId) -> &str {
        &self.flows[f]
    }

    /// Flows of the observations in which the node appears.
    pub fn node_flows(&self, n: NodeId) -> &BTreeSet<FlowId> {
        &self.node_flows[n]
    }

    /// Whether at least one observation of the observer has this room.
    pub fn saw_room(&self, room: &str) -> bool {
        self.rooms.items.contains_key(room)
    }

    /// Whether an observation of the room falls between `from_us` and `to_us` (both included;
    /// `None`: until the end).
    pub fn saw_room_between(&self, room: &str, from_us: u64, to_us: Option<u64>) -> bool {
        let Some(times) = self.rooms.times.get(room) else {
            return false;
        };
        let first = times.partition_point(|&t| t < from_us);
        times
            .get(first)
            .is_some_and(|&t| to_us.is_none_or(|to| t <= to))
    }

    /// Rooms the observer saw, in name order.
    pub fn rooms(&self) -> impl Iterator<Item = &str> {
        self.rooms.items.keys().map(String::as_str)
    }

    /// Items of the observations of a room, with the flows of those observations.
    pub fn room_items(&self, room: &str) -> Option<&BTreeMap<NodeId, BTreeSet<FlowId>>> {
        self.rooms.items.get(room)
    }

    /// Flows of the links between two adjacent nodes (empty if not adjacent).
    pub fn edge_flows(&self, a: NodeId, b: NodeId) -> BTreeSet<FlowId> {
        self.graph
            .find_edge(NodeIndex::new(a), NodeIndex::new(b))
            .map(|e| self.graph[e].clone())
            .unwrap_or_default()
    }

    /// A shortest path in the attribution graph from any of `sources` to a node for which
    /// `is_target` holds, as the list of its nodes (one node if a source is a target).
    /// Ties are broken deterministically (sources in the given order, then graph order).
    pub fn shortest_path(
        &self,
        sources: &[NodeId],
        is_target: impl Fn(NodeId) -> bool,
    ) -> Option<Vec<NodeId>> {
        let mut previous: BTreeMap<NodeId, Option<NodeId>> = BTreeMap::new();
        let mut queue = VecDeque::new();
        for &s in sources {
            if previous.contains_key(&s) {
                continue;
            }
            previous.insert(s, None);
            queue.push_back(s);
        }
        while let Some(n) = queue.pop_front() {
            if is_target(n) {
                let mut path = vec![n];
                let mut cur = n;
                while let Some(Some(p)) = previous.get(&cur) {
                    path.push(*p);
                    cur = *p;
                }
                path.reverse();
                return Some(path);
            }
            let mut next: Vec<NodeId> = self
                .graph
                .neighbors(NodeIndex::new(n))
                .map(|i| i.index())
                .collect();
            next.sort_unstable();
            next.dedup();
            for m in next {
                if let std::collections::btree_map::Entry::Vacant(e) = previous.entry(m) {
                    e.insert(Some(n));
                    queue.push_back(m);
                }
            }
        }
        None
    }

    /// The flows of a path's edges.
    pub fn path_edge_flows(&self, path: &[NodeId]) -> BTreeSet<FlowId> {
        path.windows(2)
            .flat_map(|w| self.edge_flows(w[0], w[1]))
            .collect()
    }
}

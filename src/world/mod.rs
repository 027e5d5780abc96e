//! The simulated world of the plain MIMI baseline: users, their clients, their providers, and
//! the hub of each room, exchanging real MLS (openmls) messages as TLS-encoded bytes over
//! hops with a latency. Every receipt at a provider yields an [`Observation`] parsed from the
//! bytes; the ground truth (who owns which identifier, who was in which room when) is kept
//! beside it for scoring, never consulted by the observers.

mod client;
mod hub;
pub mod mls;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use openmls::prelude::{CredentialWithKey, MlsGroup, PublicGroup};
use openmls_basic_credential::SignatureKeyPair;

use crate::crypto::{derive_seed, signature_keys_from_seed, stream_seed, SimProvider};
use crate::engine::{Engine, Micros};
use crate::observe::{Kind, Observation, Peer};
use crate::scenario::{Action, ActionKind, Scenario};

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// openmls refused an operation; a bug in the simulator or the scenario's protocol flow.
    #[error("MLS operation failed ({what}): {detail}")]
    Mls {
        /// What the simulator was doing.
        what: &'static str,
        /// openmls' error.
        detail: String,
    },
    /// Bytes on the wire did not parse.
    #[error("malformed wire message: {0}")]
    Wire(#[from] tls_codec::Error),
    /// A message broke the protocol flow.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// After a commit, members disagreed about the group.
    #[error("room {room}: members disagree after a commit: {detail}")]
    Inconsistent {
        /// The room.
        room: String,
        /// What differed.
        detail: String,
    },
}

/// Which role a provider plays for a delivery (the endpoint the bytes arrive at).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// From one of the provider's own clients.
    Home,
    /// A request forwarded to the hub of a room.
    HubIn,
    /// A request for one of the provider's users (claim, consent).
    TargetIn,
    /// A response passing back through the hub.
    HubReturn,
    /// A response arriving for one of the provider's clients.
    HomeReturn,
    /// A hub's fanout to a follower provider.
    FollowerIn,
}

/// Something that happens at a virtual time.
pub(crate) enum Event {
    /// Registration of a user (its clients upload KeyPackages).
    Register(usize),
    /// A scenario action starts (or is queued behind its room's operation).
    Action(usize),
    /// The `i`-th message of a `send` action.
    SendTick { action: usize, i: u32 },
    /// Bytes arriving at a provider.
    AtProvider {
        to: usize,
        peer: Peer,
        endpoint: Endpoint,
        /// The client waiting for the answer (transport-level request correlation).
        origin: Option<usize>,
        bytes: Vec<u8>,
    },
    /// Bytes arriving in a client's queue.
    AtClient { to: usize, bytes: Vec<u8> },
}

/// A membership interval: from, and until (None while it lasts).
type Span = (Micros, Option<Micros>);

struct User {
    name: String,
    uri: String,
    provider: usize,
    clients: Vec<usize>,
}

struct Client {
    user: usize,
    uri: String,
    mls: SimProvider,
    signer: SignatureKeyPair,
    cwk: CredentialWithKey,
    /// The client's MLS group per room it is in.
    groups: BTreeMap<usize, MlsGroup>,
    /// The epoch at which the client entered each room (older messages are not for it).
    joined_epoch: BTreeMap<usize, u64>,
}

#[derive(Default)]
struct KeyPackageStock {
    regular: VecDeque<Vec<u8>>,
    last_resort: Option<Vec<u8>>,
}

/// A provider's hub state for one room it hosts.
struct HubRoom {
    group: PublicGroup,
    /// The latest GroupInfo a committer uploaded (`MlsMessageOut` bytes).
    group_info: Vec<u8>,
}

struct Provider {
    domain: String,
    /// Crypto and storage for the hub's PublicGroups.
    mls: SimProvider,
    /// KeyPackages per client of this provider.
    key_packages: BTreeMap<usize, KeyPackageStock>,
    /// The rooms this provider is the hub of.
    hub: BTreeMap<usize, HubRoom>,
}

/// A step of a room operation waiting for something.
enum Stage {
    /// Waiting for the hub to acknowledge a new room.
    Creating,
    /// Waiting for KeyPackage claims to come back.
    Claiming,
    /// Waiting for a GroupInfo to join by external commit.
    Joining,
    /// Waiting for proposals to be committed and the commit processed.
    Proposed,
    /// Waiting for every recipient to process a commit (and Welcome).
    Committed,
}

/// A handshake operation on a room in progress. Operations on one room are serialized: one
/// that starts while another is in flight waits for it (the hub would reject a second commit
/// for the same epoch).
struct Op {
    action: usize,
    /// The client acting.
    actor: usize,
    stage: Stage,
    /// Users whose KeyPackages are being claimed, in order, with the answers so far.
    claims: Vec<(usize, Option<Vec<Vec<u8>>>)>,
    /// Client deliveries of the current commit not yet processed.
    outstanding: usize,
    /// Users to add once the current step completes (creator's and joiner's other clients).
    then_add: Vec<usize>,
}

impl Op {
    fn new(action: usize, actor: usize, stage: Stage) -> Self {
        Op {
            action,
            actor,
            stage,
            claims: vec![],
            outstanding: 0,
            then_add: vec![],
        }
    }
}

struct Room {
    name: String,
    uri: String,
    hub: usize,
    /// Actions waiting for the operation in flight.
    queue: VecDeque<usize>,
    op: Option<Op>,
}

/// One row of `truth.csv`: who owns an identifier value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TruthRow {
    /// Identifier kind.
    pub kind: Kind,
    /// The value as written in observations.
    pub value: String,
    /// Owning user (scenario name).
    pub user: String,
    /// Owning client (`name/n`), empty for user-level identifiers.
    pub client: String,
}

/// One row of `memberships.csv`: a client's time in a room.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MembershipRow {
    /// Room name.
    pub room: String,
    /// `room` for scenario rooms.
    pub purpose: &'static str,
    /// User name.
    pub user: String,
    /// Client (`name/n`).
    pub client: String,
    /// When the hub accepted the commit that added it.
    pub from_us: Micros,
    /// When the hub accepted the commit that removed it (None: still a member at the end).
    pub to_us: Option<Micros>,
}

/// Counters of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunStats {
    /// Events processed.
    pub events: u64,
    /// Virtual time at the end (microseconds).
    pub simulated_us: Micros,
    /// Commits the hubs accepted.
    pub commits: u64,
    /// Application messages sent.
    pub messages_sent: u64,
    /// Application messages decrypted by recipients.
    pub messages_delivered: u64,
    /// Application messages from before a recipient joined (not readable by design).
    pub messages_before_join: u64,
    /// Sends skipped because the sending client was not in the room at that tick.
    pub sends_skipped: u64,
    /// Consistency checks passed (one per room per completed operation).
    pub consistency_checks: u64,
    /// Accepted MIMI consent requests.
    pub connections: u64,
    /// Claims answered with a last-resort KeyPackage.
    pub last_resort_claims: u64,
}

/// Everything a run produces.
pub struct RunOutput {
    /// Observations in log order.
    pub observations: Vec<Observation>,
    /// Ground truth about identifiers, sorted.
    pub truth: Vec<TruthRow>,
    /// Ground truth about memberships, sorted.
    pub memberships: Vec<MembershipRow>,
    /// Accepted connections (user names, requester first), in order of acceptance.
    pub connections: Vec<(String, String)>,
    /// Counters.
    pub stats: RunStats,
}

/// The simulated deployment.
pub struct World<'s> {
    scenario: &'s Scenario,
    engine: Engine<Event>,
    users: Vec<User>,
    clients: Vec<Client>,
    providers: Vec<Provider>,
    rooms: Vec<Room>,
    room_index: BTreeMap<String, usize>,
    user_index: BTreeMap<String, usize>,
    client_index: BTreeMap<String, usize>,
    domain_index: BTreeMap<String, usize>,
    observations: Vec<Observation>,
    truth: BTreeSet<TruthRow>,
    /// Open and closed membership intervals per (room, client).
    memberships: BTreeMap<(usize, usize), Vec<Span>>,
    connections: Vec<(String, String)>,
    stats: RunStats,
}

impl<'s> World<'s> {
    /// Builds the world of `scenario`: providers, users and clients with their keys, every
    /// random choice drawn from streams named after the entity.
    pub fn new(scenario: &'s Scenario, seed: u64, run: u64) -> Self {
        let mut w = World {
            scenario,
            engine: Engine::default(),
            users: vec![],
            clients: vec![],
            providers: vec![],
            rooms: vec![],
            room_index: BTreeMap::new(),
            user_index: BTreeMap::new(),
            client_index: BTreeMap::new(),
            domain_index: BTreeMap::new(),
            observations: vec![],
            truth: BTreeSet::new(),
            memberships: BTreeMap::new(),
            connections: vec![],
            stats: RunStats::default(),
        };
        for p in &scenario.providers {
            w.domain_index.insert(p.domain.clone(), w.providers.len());
            w.providers.push(Provider {
                domain: p.domain.clone(),
                mls: SimProvider::new(stream_seed(seed, run, &format!("provider/{}", p.domain))),
                key_packages: BTreeMap::new(),
                hub: BTreeMap::new(),
            });
        }
        for u in &scenario.users {
            let uid = w.users.len();
            let provider = w.domain_index[&u.provider];
            let uri = wire::user_uri(&u.provider, &u.name);
            w.truth.insert(TruthRow {
                kind: Kind::UserId,
                value: uri.clone(),
                user: u.name.clone(),
                client: String::new(),
            });
            w.truth.insert(TruthRow {
                kind: Kind::Account,
                value: u.name.clone(),
                user: u.name.clone(),
                client: String::new(),
            });
            let mut clients = vec![];
            for n in 1..=u.clients {
                let cid = w.clients.len();
                let label = format!("{}/{n}", u.name);
                let base = stream_seed(seed, run, &format!("client/{label}"));
                let signer = signature_keys_from_seed(derive_seed(&base, b"signature key"));
                let curi = wire::client_uri(&u.provider, &u.name, n);
                let credential =
                    openmls::prelude::BasicCredential::new(curi.clone().into_bytes()).into();
                let cwk = CredentialWithKey {
                    credential,
                    signature_key: signer.public().into(),
                };
                for (kind, value) in [
                    (Kind::ClientId, curi.clone()),
                    (Kind::SignatureKey, crate::observe::digest(signer.public())),
                ] {
                    w.truth.insert(TruthRow {
                        kind,
                        value,
                        user: u.name.clone(),
                        client: label.clone(),
                    });
                }
                w.client_index.insert(curi.clone(), cid);
                w.clients.push(Client {
                    user: uid,
                    uri: curi,
                    mls: SimProvider::new(base),
                    signer,
                    cwk,
                    groups: BTreeMap::new(),
                    joined_epoch: BTreeMap::new(),
                });
                clients.push(cid);
            }
            w.user_index.insert(u.name.clone(), uid);
            w.users.push(User {
                name: u.name.clone(),
                uri,
                provider,
                clients,
            });
        }
        for uid in 0..w.users.len() {
            w.engine.schedule_at(0, Event::Register(uid));
        }
        for (i, a) in scenario.actions.iter().enumerate() {
            w.engine.schedule_at(a.at_us, Event::Action(i));
        }
        w
    }

    /// The time of the last scripted action, for progress display.
    pub fn last_action_us(&self) -> Micros {
        self.scenario
            .actions
            .iter()
            .map(|a| match &a.kind {
                ActionKind::Send {
                    count, every_us, ..
                } => a.at_us + every_us * u64::from(count.saturating_sub(1)),
                _ => a.at_us,
            })
            .max()
            .unwrap_or(0)
    }

    /// Runs until no event is left; `progress` is called now and then with the virtual time.
    pub fn run(mut self, mut progress: impl FnMut(Micros)) -> Result<RunOutput, SimError> {
        while self.step()? {
            if self.engine.processed().is_multiple_of(256) {
                progress(self.engine.now());
            }
        }
        progress(self.engine.now());
        self.finish()
    }

    /// Processes the next event; false when none is left.
    pub fn step(&mut self) -> Result<bool, SimError> {
        match self.engine.next_event() {
            Some(ev) => self.handle(ev).map(|()| true),
            None => Ok(false),
        }
    }

    /// Ends the run: checks that no operation is left half done and collects the results.
    pub fn finish(mut self) -> Result<RunOutput, SimError> {
        for room in 0..self.rooms.len() {
            if let Some(op) = &self.rooms[room].op {
                let a = &self.scenario.actions[op.action];
                return Err(SimError::Protocol(format!(
                    "room {}: the operation of line {} never completed",
                    self.rooms[room].name, a.pos.line
                )));
            }
        }
        self.stats.events = self.engine.processed();
        self.stats.simulated_us = self.engine.now();
        let mut memberships = vec![];
        for (&(room, client), spans) in &self.memberships {
            let c = &self.clients[client];
            let u = &self.users[c.user];
            for &(from_us, to_us) in spans {
                memberships.push(MembershipRow {
                    room: self.rooms[room].name.clone(),
                    purpose: "room",
                    user: u.name.clone(),
                    client: client_label(c),
                    from_us,
                    to_us,
                });
            }
        }
        memberships.sort();
        Ok(RunOutput {
            observations: self.observations,
            truth: self.truth.into_iter().collect(),
            memberships,
            connections: self.connections,
            stats: self.stats,
        })
    }

    fn handle(&mut self, ev: Event) -> Result<(), SimError> {
        match ev {
            Event::Register(uid) => {
                let n = self.scenario.key_packages_per_client;
                for c in self.users[uid].clients.clone() {
                    self.upload_key_packages(c, n, true)?;
                }
                Ok(())
            }
            Event::Action(i) => self.start_action(i),
            Event::SendTick { action, i } => self.send_tick(action, i),
            Event::AtProvider {
                to,
                peer,
                endpoint,
                origin,
                bytes,
            } => self.at_provider(to, peer, endpoint, origin, bytes),
            Event::AtClient { to, bytes } => self.at_client(to, bytes),
        }
    }

    /// Sends bytes from a client to its own provider over its authenticated session.
    fn client_to_home(&mut self, client: usize, msg: &wire::Wire) {
        let user = &self.users[self.clients[client].user];
        let ev = Event::AtProvider {
            to: user.provider,
            peer: Peer::Account(user.name.clone()),
            endpoint: Endpoint::Home,
            origin: Some(client),
            bytes: msg.to_bytes(),
        };
        self.engine.schedule_in(self.scenario.latency_us, ev);
    }

    /// Sends bytes from one provider to another (or to itself in another role).
    fn provider_to(
        &mut self,
        from: usize,
        to: usize,
        endpoint: Endpoint,
        origin: Option<usize>,
        bytes: Vec<u8>,
    ) {
        let ev = Event::AtProvider {
            to,
            peer: Peer::Domain(self.providers[from].domain.clone()),
            endpoint,
            origin,
            bytes,
        };
        self.engine.schedule_in(self.scenario.latency_us, ev);
    }

    /// Puts bytes into a client's queue.
    fn provider_to_client(&mut self, client: usize, bytes: Vec<u8>) {
        self.engine.schedule_in(
            self.scenario.latency_us,
            Event::AtClient { to: client, bytes },
        );
    }

    fn domain_of_uri(&self, uri: &str) -> Result<usize, SimError> {
        let domain = uri
            .strip_prefix("mimi://")
            .and_then(|r| r.split('/').next())
            .ok_or_else(|| SimError::Protocol(format!("not a MIMI URI: {uri}")))?;
        self.domain_index
            .get(domain)
            .copied()
            .ok_or_else(|| SimError::Protocol(format!("unknown domain in {uri}")))
    }

    fn user_by_uri(&self, uri: &str) -> Result<usize, SimError> {
        self.users
            .iter()
            .position(|u| u.uri == uri)
            .ok_or_else(|| SimError::Protocol(format!("unknown user {uri}")))
    }

    fn room_by_uri(&self, uri: &str) -> Result<usize, SimError> {
        self.rooms
            .iter()
            .position(|r| r.uri == uri)
            .ok_or_else(|| SimError::Protocol(format!("unknown room {uri}")))
    }

    fn record(
        &mut self,
        observer: usize,
        wire: &wire::Wire,
        peer: Peer,
        size: usize,
        items: Vec<crate::observe::Item>,
    ) {
        let room = wire.room().and_then(wire::room_name).map(str::to_string);
        self.observations.push(Observation {
            time_us: self.engine.now(),
            observer: self.providers[observer].domain.clone(),
            flow: wire.flow(),
            peer,
            room,
            size,
            items,
        });
    }

    /// Opens or closes membership intervals from the hub's member lists before and after a
    /// merge.
    fn update_memberships(
        &mut self,
        room: usize,
        before: &BTreeSet<usize>,
        after: &BTreeSet<usize>,
    ) {
        let now = self.engine.now();
        for &c in after.difference(before) {
            self.memberships
                .entry((room, c))
                .or_default()
                .push((now, None));
        }
        for &c in before.difference(after) {
            if let Some(last) = self
                .memberships
                .get_mut(&(room, c))
                .and_then(|v| v.last_mut())
            {
                last.1 = Some(now);
            }
        }
    }

    fn start_action(&mut self, i: usize) -> Result<(), SimError> {
        let action: &Action = &self.scenario.actions[i];
        match &action.kind {
            ActionKind::Connect { from, to } => {
                let (f, t) = (self.user_index[from], self.user_index[to]);
                let msg = wire::Wire::ConsentRequest(wire::Consent {
                    requester: self.users[f].uri.clone(),
                    target: self.users[t].uri.clone(),
                    accepted: 0,
                });
                let c = self.users[f].clients[0];
                self.client_to_home(c, &msg);
                Ok(())
            }
            ActionKind::PublishKeyPackages { user, count } => {
                for c in self.users[self.user_index[user]].clients.clone() {
                    self.upload_key_packages(c, *count, false)?;
                }
                Ok(())
            }
            ActionKind::CreateRoom { room, by, hub, .. } => {
                let creator = self.user_index[by];
                let hub = match hub {
                    Some(d) => self.domain_index[d],
                    None => self.users[creator].provider,
                };
                let id = self.rooms.len();
                self.room_index.insert(room.clone(), id);
                self.rooms.push(Room {
                    name: room.clone(),
                    uri: wire::room_uri(&self.providers[hub].domain, room),
                    hub,
                    queue: VecDeque::new(),
                    op: None,
                });
                self.enqueue_room_action(id, i)
            }
            ActionKind::Add { room, .. }
            | ActionKind::Join { room, .. }
            | ActionKind::Remove { room, .. }
            | ActionKind::Leave { room, .. }
            | ActionKind::Send { room, .. } => {
                let id = self.room_index[room];
                self.enqueue_room_action(id, i)
            }
        }
    }

    /// Runs a room action now if the room is idle, else queues it behind the operation.
    fn enqueue_room_action(&mut self, room: usize, action: usize) -> Result<(), SimError> {
        if self.rooms[room].op.is_some() || !self.rooms[room].queue.is_empty() {
            self.rooms[room].queue.push_back(action);
            return Ok(());
        }
        self.run_room_action(room, action)
    }

    /// Starts queued actions of an idle room until one of them begins an operation.
    fn drain_room_queue(&mut self, room: usize) -> Result<(), SimError> {
        while self.rooms[room].op.is_none() {
            let Some(next) = self.rooms[room].queue.pop_front() else {
                break;
            };
            self.run_room_action(room, next)?;
        }
        Ok(())
    }

    fn run_room_action(&mut self, room: usize, i: usize) -> Result<(), SimError> {
        let action = &self.scenario.actions[i];
        match &action.kind {
            ActionKind::CreateRoom { by, members, .. } => {
                let creator = self.user_index[by];
                let mut then_add: Vec<usize> = vec![];
                if self.users[creator].clients.len() > 1 {
                    then_add.push(creator);
                }
                then_add.extend(members.iter().map(|m| self.user_index[m]));
                self.create_room(room, i, creator, then_add)
            }
            ActionKind::Add { by, users, .. } => {
                let adder = self.user_index[by];
                let targets = users.iter().map(|u| self.user_index[u]).collect();
                let actor = self.acting_client(room, adder)?;
                self.start_claims(room, i, actor, targets)
            }
            ActionKind::Join { user, .. } => {
                let u = self.user_index[user];
                self.start_external_join(room, i, u)
            }
            ActionKind::Remove { by, user, .. } => {
                let (r, u) = (self.user_index[by], self.user_index[user]);
                let actor = self.acting_client(room, r)?;
                self.remove_user(room, i, actor, u)
            }
            ActionKind::Leave { user, .. } => {
                let u = self.user_index[user];
                self.leave(room, i, u)
            }
            ActionKind::Send { .. } => self.send_tick(i, 0),
            ActionKind::Connect { .. } | ActionKind::PublishKeyPackages { .. } => Ok(()),
        }
    }

    /// The client of `user` that acts in `room`: its first client that is a member.
    fn acting_client(&self, room: usize, user: usize) -> Result<usize, SimError> {
        self.users[user]
            .clients
            .iter()
            .copied()
            .find(|&c| self.clients[c].groups.contains_key(&room))
            .ok_or_else(|| {
                SimError::Protocol(format!(
                    "{} has no client in room {}",
                    self.users[user].name, self.rooms[room].name
                ))
            })
    }

    /// An operation step finished everywhere: check the room, then go on.
    fn step_done(&mut self, room: usize) -> Result<(), SimError> {
        self.check_room(room)?;
        let Some(op) = self.rooms[room].op.as_mut() else {
            return Ok(());
        };
        if !op.then_add.is_empty() {
            let users = std::mem::take(&mut op.then_add);
            let (action, actor) = (op.action, op.actor);
            self.rooms[room].op = None;
            return self.start_claims(room, action, actor, users);
        }
        self.rooms[room].op = None;
        self.drain_room_queue(room)
    }

    /// After a step (and callable any time the room is idle): every member holds the same epoch authenticator, and the hub's
    /// PublicGroup lists exactly the clients that hold the group.
    pub fn check_room(&mut self, room: usize) -> Result<(), SimError> {
        let r = &self.rooms[room];
        let inconsistent = |detail: String| SimError::Inconsistent {
            room: r.name.clone(),
            detail,
        };
        let hub = &self.providers[r.hub].hub[&room];
        let hub_members: BTreeSet<String> = hub
            .group
            .members()
            .map(|m| mls::credential_uri(&m.credential))
            .collect::<Result<_, _>>()?;
        let holders: BTreeSet<String> = self
            .clients
            .iter()
            .filter(|c| c.groups.contains_key(&room))
            .map(|c| c.uri.clone())
            .collect();
        if hub_members != holders {
            return Err(inconsistent(format!(
                "hub lists {hub_members:?}, clients holding the group are {holders:?}"
            )));
        }
        let mut authenticator: Option<Vec<u8>> = None;
        for c in self.clients.iter().filter(|c| c.groups.contains_key(&room)) {
            let g = &c.groups[&room];
            let members: BTreeSet<String> = g
                .members()
                .map(|m| mls::credential_uri(&m.credential))
                .collect::<Result<_, _>>()?;
            if members != hub_members {
                return Err(inconsistent(format!(
                    "{} sees members {members:?}, the hub {hub_members:?}",
                    c.uri
                )));
            }
            if g.epoch() != hub.group.group_context().epoch() {
                return Err(inconsistent(format!(
                    "{} is at epoch {}, the hub at {}",
                    c.uri,
                    g.epoch().as_u64(),
                    hub.group.group_context().epoch().as_u64()
                )));
            }
            let a = g.epoch_authenticator().as_slice().to_vec();
            match &authenticator {
                None => authenticator = Some(a),
                Some(prev) if *prev != a => {
                    return Err(inconsistent(format!(
                        "{} has another epoch authenticator",
                        c.uri
                    )))
                }
                Some(_) => {}
            }
        }
        self.stats.consistency_checks += 1;
        Ok(())
    }
}

/// `name/n` of a client (the path of its URI after `/d/`).
fn client_label(c: &Client) -> String {
    c.uri
        .rsplit_once("/d/")
        .map(|(_, l)| l.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;

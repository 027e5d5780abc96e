//! The simulated world: users, their clients, their providers, and the hub of each room,
//! exchanging real MLS (openmls) messages as TLS-encoded bytes over hops with a latency, in
//! plain MIMI or with any set of MIMIMI mechanisms switched on. Every receipt at a provider
//! yields an [`Observation`] parsed from the bytes; the ground truth (who owns which
//! identifier, who was in which room when) is kept beside it for scoring, never consulted by
//! the observers.

mod channel;
mod client;
mod connect;
mod device;
mod hub;
mod identity;
pub mod mls;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::crypto::SimSigner;
use openmls::prelude::{CredentialWithKey, MlsGroup, PublicGroup};
use openmls_traits::OpenMlsProvider;
use rand_chacha::ChaCha20Rng;
use rand_core::Rng;
use tls_codec::VLBytes;

use crate::crypto::{
    derive_seed, signature_keys_from_seed, stream, stream_seed, HpkeKeys, SimProvider,
};
use crate::engine::{Engine, Micros};
use crate::observe::{Kind, Log, Observation, Peer};
use crate::protocol::{ConnectionKey, IdentityLinkKey, IdentityLinkWrapperKey};
use crate::scenario::{
    Action, ActionKind, Channel, JitterDistribution, Mechanisms, Mode, Scenario,
};

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
    /// A MIMIMI structure did not encode, decode, seal or open.
    #[error("MIMIMI protocol error: {0}")]
    Mimimi(#[from] crate::protocol::ProtocolError),
    /// A message broke the protocol flow.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// An action the protocol refuses (for example an add between users not connected).
    #[error("{0}")]
    Refused(String),
    /// The observation log could not be written.
    #[error("{0}")]
    Log(#[from] crate::observe::log::LogError),
    /// After a commit, members disagreed about the group.
    #[error("room {room}: members disagree after a commit: {detail}")]
    Inconsistent {
        /// The room.
        room: String,
        /// What differed.
        detail: String,
    },
}

/// A run that stopped: what went wrong, when (simulated time), and the scenario action whose
/// consequences were being simulated, so the failure can be found in the file and replayed.
#[derive(Debug)]
pub struct RunError {
    /// The scenario file, for messages.
    pub file: String,
    /// The mode that failed.
    pub mode: String,
    /// The seed and run number, to replay the failure.
    pub seed: u64,
    pub run: u64,
    /// Simulated time of the failure, in microseconds.
    pub time_us: Micros,
    /// The action being simulated: where it is written and its kind (`add`, ...); `None`
    /// during registration and periodic work.
    pub action: Option<(crate::scenario::Pos, &'static str)>,
    /// What went wrong.
    pub error: SimError,
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let when = crate::scenario::format_duration(self.time_us);
        let context = format!("mode {}, seed {}, run {}", self.mode, self.seed, self.run);
        match self.action {
            Some((pos, key)) => write!(
                f,
                "{}:{pos}: error: the `{key}` action failed at {when} of simulated time \
                 ({context}): {}",
                self.file, self.error
            ),
            None => write!(
                f,
                "{}: error: the run failed at {when} of simulated time ({context}): {}",
                self.file, self.error
            ),
        }
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Which role a provider plays for a delivery (the endpoint the bytes arrive at).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// From one of the provider's own clients, on its account's session.
    Home,
    /// A request forwarded to the hub of a room.
    HubIn,
    /// A request for one of the provider's users (claim, consent), or an anonymous request
    /// that arrived for this provider.
    TargetIn,
    /// A response passing back through the hub.
    HubReturn,
    /// A response arriving for one of the provider's clients.
    HomeReturn,
    /// A hub's fanout to a follower provider.
    FollowerIn,
    /// A request of another provider's client for that provider, to relay (no account).
    RelayIn,
    /// The answer to a request this provider relayed for another provider's client.
    RelayReturn,
}

/// Where the answer to a request goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    /// Back over the client's own provider, in clear (`HomeReturn`).
    Home(usize),
    /// Back through the relay `relay` (the client's own provider, or a third party for a
    /// request to the own provider): sealed to this response key, then to the client.
    Relay {
        client: usize,
        key: Vec<u8>,
        relay: usize,
    },
    /// Straight to the client (the perfect anonymous channel).
    Direct(usize),
}

impl Reply {
    fn client(&self) -> usize {
        match self {
            Reply::Home(c) | Reply::Relay { client: c, .. } | Reply::Direct(c) => *c,
        }
    }
}

/// Something that happens at a virtual time.
pub(crate) enum Event {
    /// Registration of a user (keys, queues, KeyPackages).
    Register(usize),
    /// A user's clients upload a fresh last-resort KeyPackage set.
    ReuploadLastResort(usize),
    /// A scenario action starts (or is queued behind its room's operation).
    Action(usize),
    /// The `i`-th message of a `send` action.
    SendTick { action: usize, i: u32 },
    /// Bytes arriving at a provider.
    AtProvider {
        to: usize,
        peer: Peer,
        endpoint: Endpoint,
        /// Where an answer goes (transport-level request correlation).
        reply: Option<Reply>,
        bytes: Vec<u8>,
        /// With a plain MIMI fanout: the provider's own clients that are members and get the
        /// message. A provider knows which of its clients are in a room; the fanout does not
        /// carry it (MIMI -06 section 5.5), and it is never observed.
        local: Vec<usize>,
        /// Under `padding`: how many of `bytes` are there only because of padding (the
        /// envelope's and, in a relay envelope, the request's inside it). Never observed.
        padding: u64,
    },
    /// Bytes arriving in a client's queue.
    AtClient { to: usize, bytes: Vec<u8> },
}

/// An event with the scenario action it is a consequence of.
pub(crate) struct Caused {
    cause: Option<usize>,
    event: Event,
}

/// A KeyPackage set of a user whose KeyPackages go on the account's session (no connection
/// token): its label is agreed among the user's clients at registration.
struct KeyPackageSet {
    /// The set's label: its user pseudonym, or a random label without pseudonyms.
    label: String,
    last_resort: bool,
    /// Clients that have not yet uploaded their KeyPackage for this set.
    missing: BTreeSet<usize>,
}

/// What a client sets out to do when it takes its turn with the user's token-indexed
/// KeyPackage sets (MIMIMI "KeyPackages": check which sets lack its KeyPackage, complete them,
/// then start new ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SetTask {
    /// Complete the sets lacking this client's KeyPackage and keep the number of regular sets.
    Complete,
    /// Also start this many more regular sets (`publish_key_packages`).
    Publish(u32),
    /// Also start a new last-resort set, replacing the current one.
    NewLastResort,
}

/// A user's clients take turns with its token-indexed sets, one at a time, so that each sees
/// what the previous one uploaded.
#[derive(Default)]
struct SetTurns {
    /// Clients waiting for their turn, with what they will do.
    waiting: VecDeque<(usize, SetTask)>,
    /// The client whose list request is in flight, and its task.
    current: Option<(usize, SetTask)>,
}

struct User {
    name: String,
    uri: String,
    provider: usize,
    /// The user's clients: the real ones first, then its placeholders (`placeholder_leaves`).
    clients: Vec<usize>,
    /// How many of `clients` are real (the scenario's `clients`, then the devices added and
    /// not removed); the others are placeholders, which never act and never send.
    real_clients: usize,
    /// The user's devices by their number in the scenario (`remove_device` names one), while
    /// they last.
    devices: BTreeMap<u32, usize>,
    /// How many devices the user has had; the next one added gets the number after.
    devices_ever: u32,
    /// The user's MIMIMI connection key, handed to its connections.
    connection_key: ConnectionKey,
    /// The connection token derived from it, which indexes the user's KeyPackage sets.
    token: Vec<u8>,
    /// Connection-establishment HPKE key pair; the public key is published at the provider.
    establishment: HpkeKeys,
    /// Connection keys of the users this one is connected to.
    contacts: BTreeMap<usize, ConnectionKey>,
    /// KeyPackage sets uploaded on the session (without a connection token), oldest first.
    sets: Vec<KeyPackageSet>,
    /// Turns of the user's clients with its token-indexed sets.
    set_turns: SetTurns,
    /// Registration is complete: every client has uploaded its KeyPackages (with
    /// token-indexed sets, after its turn). The user's actions wait for it.
    registered: bool,
    /// Under `jitter`: when the last delayed send of the user's clients leaves; a later one
    /// never leaves before it, so the user's delayed sends keep their order.
    jitter_until: Micros,
    /// Pseudonyms and labels.
    rng: ChaCha20Rng,
}

/// A client's state in one room.
struct Membership {
    group: MlsGroup,
    /// Public key of the signer of this client's leaf.
    signer: Vec<u8>,
    /// The epoch at which the client entered (older messages are not for it).
    joined_epoch: u64,
    /// The room's identity link wrapper key (MIMIMI).
    wrapper: Option<IdentityLinkWrapperKey>,
    /// Identity link keys of the room's leaves, by leaf signature key.
    link_keys: BTreeMap<Vec<u8>, IdentityLinkKey>,
}

struct Client {
    user: usize,
    uri: String,
    mls: SimProvider,
    /// The client's long-term (real) signature key.
    signer: SimSigner,
    /// The real credential with the long-term key.
    cwk: CredentialWithKey,
    /// Every signature key pair this client holds, by public key (fresh keys per credential).
    signers: BTreeMap<Vec<u8>, SimSigner>,
    /// The queue ID registered at the provider.
    queue_id: Vec<u8>,
    /// The client's state per room it is in.
    groups: BTreeMap<usize, Membership>,
    /// Keys, pseudonyms, nonces and HPKE seeds.
    rng: ChaCha20Rng,
    /// Response keys of relayed requests awaiting an answer.
    relay_keys: Vec<HpkeKeys>,
    /// The KeyPackages this client made, by reference: their set's label and whether it is
    /// the last-resort set.
    key_package_sets: BTreeMap<Vec<u8>, (String, bool)>,
    /// The `jitter` countermeasure's delays, a stream of its own (`client/<name>/<n>/jitter`)
    /// so that the other streams draw the same with or without it.
    jitter_rng: ChaCha20Rng,
    /// The device was removed (`remove_device`): it is no longer one of its user's clients,
    /// its KeyPackages are deleted, and it leaves the rooms it is in.
    removed: bool,
}

impl Client {
    /// Forgets a room the client is no longer in, in memory and in its MLS storage (a client
    /// removed and added again gets the same group id in its Welcome).
    fn drop_group(&mut self, room: usize) -> Result<(), SimError> {
        if let Some(mut m) = self.groups.remove(&room) {
            m.group
                .delete(self.mls.storage())
                .map_err(mls::mls_err("delete a group's state"))?;
        }
        Ok(())
    }
}

/// KeyPackages a provider keeps for one client (MIMI) or one token's sets (MIMIMI).
#[derive(Default)]
struct KeyPackageStock {
    regular: VecDeque<Vec<u8>>,
    last_resort: Option<Vec<u8>>,
}

/// KeyPackage sets a provider keeps under one connection token.
#[derive(Default)]
struct SetStock {
    /// Regular sets, in order of first upload.
    regular: Vec<StoredSet>,
    /// The current last-resort set.
    last_resort: Option<StoredSet>,
}

/// One stored KeyPackage set: its label and its KeyPackages with their references.
struct StoredSet {
    label: Vec<u8>,
    key_packages: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A provider's hub state for one room it hosts.
struct HubRoom {
    group: PublicGroup,
    /// The latest GroupInfo a committer uploaded (`MlsMessageOut` bytes).
    group_info: Vec<u8>,
    /// Members' identity link keys encrypted under the room's wrapper key, by leaf signature key.
    link_keys: BTreeMap<Vec<u8>, VLBytes>,
    /// Follower providers that have the room's state.
    followers: BTreeSet<usize>,
}

struct Provider {
    domain: String,
    /// Crypto and storage for the hub's PublicGroups.
    mls: SimProvider,
    /// HPKE keys: queue IDs and relayed requests are sealed to the public one.
    keys: HpkeKeys,
    /// The hub's signature key (its MLS `ExternalSender`), which signs GroupInfo answers.
    signer: SimSigner,
    /// The hub's credential (`mimi://domain`), beside its signature key.
    credential: openmls::prelude::Credential,
    /// MIMI KeyPackages per client of this provider.
    key_packages: BTreeMap<usize, KeyPackageStock>,
    /// MIMIMI KeyPackage sets per connection token.
    sets: BTreeMap<Vec<u8>, SetStock>,
    /// Registered queues.
    queues: BTreeMap<Vec<u8>, usize>,
    /// Sealed queue IDs this provider has opened, and what they hold: a leaf's sealed queue ID
    /// recurs in every fanout to it, and opening is deterministic. Only looked up.
    opened_queue_ids: std::collections::HashMap<Vec<u8>, Vec<u8>>,
    /// Published connection-establishment keys, by user URI.
    establishment_keys: BTreeMap<String, Vec<u8>>,
    /// The rooms this provider is the hub of.
    hub: BTreeMap<usize, HubRoom>,
    /// The rooms this provider follows for its members, with their public state.
    follows: BTreeMap<usize, PublicGroup>,
    /// HPKE seeds for sealing responses.
    rng: ChaCha20Rng,
}

/// A step of a room operation.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    /// Claim (MIMI) or fetch (MIMIMI) KeyPackages of these users.
    Claim(Vec<usize>),
    /// The actor creates the group and announces it to the hub.
    Create,
    /// The actor gets the room's identity link wrapper key from a connected member.
    WrapperKey,
    /// The actor joins by external commit.
    JoinExternal,
    /// The actor commits Adds of the claimed KeyPackages not used yet.
    CommitAdds,
    /// The actor removes all clients of a user.
    Remove(usize),
    /// A user's first client proposes the removal of all its leaves.
    Leave(usize),
    /// The requester seals a ConnectionRequest to the responder (connection rooms).
    RequestConnection(usize),
    /// The actor's user waits until the connections the operation needs are complete (a real
    /// client cannot add a user before their connection is established).
    Await(Need),
    /// A device added during the run takes its user's name and wrapper key in the room from
    /// one of its user's other clients there (or has nothing to do), before its external join.
    DeviceJoin,
    /// A removed device proposes its own removal; a remaining member commits it.
    LeaveDevice,
}

/// What an operation waits for before it can start.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Need {
    /// These users have registered (their clients have uploaded their KeyPackage sets).
    Registered(Vec<usize>),
    /// The user is connected to each of these users.
    All(usize, Vec<usize>),
    /// The user is connected to at least one member of the room (a joiner's helper).
    AnyMember(usize),
}

/// A handshake operation on a room in progress: a plan of steps, each waiting for something.
/// Operations on one room are serialized: one that starts while another is in flight waits
/// for it (the hub would reject a second commit for the same epoch).
struct Op {
    /// The scenario action this operation carries out or is a consequence of (a connection
    /// room's operation: its `connect`), for error messages.
    cause: Option<usize>,
    /// The client acting.
    actor: usize,
    steps: VecDeque<Step>,
    /// Users whose KeyPackages are being claimed, with the answers so far.
    claims: Vec<(usize, Option<Vec<Vec<u8>>>)>,
    /// Claimed KeyPackages not used yet, with their user.
    key_packages: Vec<(usize, Vec<u8>)>,
    /// Client deliveries of the current commit not yet processed.
    outstanding: usize,
    /// The connection this join answers (responder side): requester user and the request.
    answering: Option<(usize, crate::protocol::ConnectionRequest)>,
    /// The room's identity link wrapper key, once a member handed it over (external joins).
    wrapper: Option<IdentityLinkWrapperKey>,
    /// An external joiner's leaf, chosen when it asks for the GroupInfo (the request carries
    /// its credential), and the HPKE key pair the answer is encrypted to.
    joining: Option<(identity::LeafIdentity, HpkeKeys)>,
    /// A new device joining: the name its user has in the room (user pseudonym or URI),
    /// which its leaf takes.
    pseudonym: Option<String>,
}

/// Why a room exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A scenario room.
    Room,
    /// A MIMIMI connection room.
    Connection,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Room => "room",
            Purpose::Connection => "connection",
        }
    }
}

struct Room {
    name: String,
    uri: String,
    hub: usize,
    purpose: Purpose,
    /// Members exchange identity links (false: user-to-user pseudonymity policy).
    identity_links: bool,
    /// Actions waiting for the operation in flight.
    queue: VecDeque<Queued>,
    op: Option<Op>,
}

/// Work waiting for a room.
enum Queued {
    Action(usize),
    Op(Box<Op>),
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
    /// `room` for scenario rooms, `connection` for MIMIMI connection rooms.
    pub purpose: &'static str,
    /// User name.
    pub user: String,
    /// Client (`name/n`).
    pub client: String,
    /// When the hub accepted the commit that added it.
    pub from_us: Micros,
    /// When the hub accepted the commit that removed it (None: still a member at the end).
    pub to_us: Option<Micros>,
    /// The client entered with a KeyPackage of its user's last-resort set (first use
    /// included).
    pub last_resort: bool,
    /// The KeyPackage set it entered with (a digest of the set's label, as 16 hex digits), or
    /// empty for a fresh leaf.
    pub key_package_set: String,
}

/// One row of `messages.csv`: an application message a user sent.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MessageRow {
    /// Digest of the PrivateMessage bytes, as in `message` observation items.
    pub message: String,
    /// Room name.
    pub room: String,
    /// Sending user.
    pub user: String,
    /// Sending client (`name/n`).
    pub client: String,
    /// When it was sent.
    pub time_us: Micros,
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
    /// Application messages sent by users (scenario `send`).
    pub messages_sent: u64,
    /// Application messages decrypted by recipients.
    pub messages_delivered: u64,
    /// `--decrypt needed`: application messages of scenario rooms that reached a member's
    /// client and were left encrypted (no provider observation depends on them). Absent with
    /// `--decrypt all`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages_not_decrypted: Option<u64>,
    /// Application messages from before a recipient joined (not readable by design).
    pub messages_before_join: u64,
    /// Sends skipped because the sending client was not in the room at that tick.
    pub sends_skipped: u64,
    /// Application messages the hub refused because the room had closed meanwhile.
    pub messages_rejected: u64,
    /// Application messages that reached a client after it had left the room (dropped).
    pub messages_after_leaving: u64,
    /// MLS operations: groups created, commits and proposals made, handshakes processed (by
    /// clients, hubs and followers), Welcomes joined, rooms followed, application messages
    /// encrypted and decrypted, KeyPackages built.
    pub mls_operations: u64,
    /// Public-key operations behind them and the simulator's own HPKE and signatures:
    /// `signatures`, `verifications`, `hpke_seals`, `hpke_opens`, `hpke_key_derivations`.
    #[serde(flatten)]
    pub crypto: crate::crypto::ops::CryptoOps,
    /// Consistency checks passed (one per room per completed step).
    pub consistency_checks: u64,
    /// Accepted connections.
    pub connections: u64,
    /// Claims answered with a last-resort KeyPackage (or set).
    pub last_resort_claims: u64,
    /// Identity links a member decrypted and verified (MIMIMI).
    pub authentications: u64,
    /// Identity links that failed to decrypt or verify.
    pub authentication_failures: u64,
    /// Messages providers received, each hop counted (a message a provider forwards counts
    /// again). Recorded when a mode of the scenario has a countermeasure, absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_messages: Option<u64>,
    /// Bytes of those messages, padding included. Recorded when a mode of the scenario has a
    /// countermeasure, absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_sent: Option<u64>,
    /// `padding`: bytes of those messages that are there only because of padding (a padded
    /// size minus the size without padding, each hop counted). Absent without `padding`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub padding_bytes: Option<u64>,
    /// `jitter`: sends given an extra delay. Absent without `jitter`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter_messages: Option<u64>,
    /// `jitter`: the sum of their extra delays, in microseconds. Absent without `jitter`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter_delay_us_total: Option<u64>,
    /// `jitter`: the longest extra delay, in microseconds. Absent without `jitter`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter_delay_us_max: Option<u64>,
    /// `placeholder_leaves`: placeholder clients created (every user with fewer clients than
    /// `leaves_per_user` gets the difference). Absent without `placeholder_leaves`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placeholder_clients: Option<u64>,
}

/// Adds `by` to a counter that is recorded (`Some`).
fn bump(counter: &mut Option<u64>, by: u64) {
    if let Some(c) = counter {
        *c = c.saturating_add(by);
    }
}

/// Everything a run produces.
#[derive(Clone)]
pub struct RunOutput {
    /// Observations in log order, when the log was kept in memory ([`Log::memory`], the
    /// default); empty when it was written to a file ([`World::logging`]).
    pub observations: Vec<Observation>,
    /// How many observations were recorded.
    pub observation_count: u64,
    /// The run fingerprint: SHA-256 over the observation log's CSV form, in hex.
    pub fingerprint: String,
    /// The file the observation log was written to, if it was.
    pub log_file: Option<std::path::PathBuf>,
    /// Ground truth about identifiers, sorted.
    pub truth: Vec<TruthRow>,
    /// Ground truth about memberships, sorted.
    pub memberships: Vec<MembershipRow>,
    /// Accepted connections (user names, requester first), in order of acceptance.
    pub connections: Vec<(String, String)>,
    /// Application messages sent, in order.
    pub messages: Vec<MessageRow>,
    /// Counters.
    pub stats: RunStats,
}

/// The simulated deployment.
pub struct World<'s> {
    scenario: &'s Scenario,
    mech: Mechanisms,
    /// Which application messages recipients decrypt.
    decrypt: Decrypt,
    /// This thread's public-key operation counts when the world was built: the world counts
    /// the operations since (it is built and run on one thread).
    crypto_start: crate::crypto::ops::CryptoOps,
    /// How anonymous requests travel in this mode.
    channel: Channel,
    engine: Engine<Caused>,
    /// The scenario action whose consequences are being simulated (errors name it).
    cause: Option<usize>,
    /// The mode's name, seed and run, for error messages.
    mode: String,
    seed: u64,
    run: u64,
    /// Completed connections, as (lower, higher) user index.
    connected: BTreeSet<(usize, usize)>,
    /// Rooms whose operation waits for a connection or a registration that has just completed.
    wake: BTreeSet<usize>,
    /// `connect` actions waiting for their users' registration, in order.
    deferred_connects: Vec<usize>,
    /// Application messages held back while proposals are pending: (client, room) ->
    /// (payload, whether it is a scenario `send`).
    held: BTreeMap<(usize, usize), Vec<Held>>,
    users: Vec<User>,
    clients: Vec<Client>,
    providers: Vec<Provider>,
    rooms: Vec<Room>,
    room_index: BTreeMap<String, usize>,
    user_index: BTreeMap<String, usize>,
    client_index: BTreeMap<String, usize>,
    domain_index: BTreeMap<String, usize>,
    /// The authentication service's list of real client signature keys.
    directory: BTreeMap<String, Vec<u8>>,
    /// Connection requests in flight (requester side): (requester, responder) -> the HPKE
    /// private key the response is sealed to.
    connection_secrets: BTreeMap<(usize, usize), Vec<u8>>,
    /// Connection requests the responder will decline: (requester, responder).
    /// Whether each responder accepts the requests of a requester, in the order of their
    /// `connect` actions: (requester, responder) -> decisions not yet taken.
    decisions: BTreeMap<(usize, usize), VecDeque<bool>>,
    observations: Log,
    truth: BTreeSet<TruthRow>,
    /// Open and closed membership intervals per (room, client).
    memberships: BTreeMap<(usize, usize), Vec<Span>>,
    connections: Vec<(String, String)>,
    messages: Vec<MessageRow>,
    /// Per (room, client), the KeyPackage set of each entry in order: (set label, whether it
    /// is the last-resort set), or None for a fresh leaf (the creator's or a joiner's).
    entries: BTreeMap<(usize, usize), Vec<Option<SetUsed>>>,
    stats: RunStats,
    /// Under `padding`: the padding held by the bytes of the message being handled, which a
    /// provider that forwards them as received sends on.
    inbound_padding: u64,
    /// Devices added during the run and not removed, with their `add_device` action: after
    /// every room operation they join the rooms their user is in and they are not.
    added_devices: Vec<(usize, usize)>,
    /// (room, client) of device joins queued and not begun.
    device_joins: BTreeSet<(usize, usize)>,
}

/// A KeyPackage set a client entered a room with: its label, and whether it is the user's
/// last-resort set.
type SetUsed = (String, bool);

/// An application message held back: its payload, and whether it is a scenario `send`.
type Held = (Vec<u8>, bool);

/// A membership interval: from, and until (None while it lasts).
type Span = (Micros, Option<Micros>);

/// A delay in microseconds from `dist` with the longest `max`: uniform on [0, max], or
/// exponential with mean max/4, drawn again while above max. Only integer arithmetic and
/// correctly rounded floating-point operations, so every platform draws the same.
fn draw_delay(rng: &mut ChaCha20Rng, dist: JitterDistribution, max: Micros) -> Micros {
    match dist {
        JitterDistribution::Uniform => {
            // A 64-bit draw scaled to [0, max]: a bias below 2^-37 for max up to a minute.
            let r = u128::from(rng.next_u64());
            u64::try_from((r * (u128::from(max) + 1)) >> 64).expect("below max + 1")
        }
        JitterDistribution::Exponential => {
            let mean = max as f64 / 4.0;
            loop {
                // u in (0, 1], 53 random bits.
                let u = ((rng.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64;
                let d = -ln(u) * mean;
                if d <= max as f64 {
                    // Non-negative and at most max: the conversion is exact enough.
                    return (d.round() as u64).min(max);
                }
            }
        }
    }
}

/// The natural logarithm of `x` in (0, 1], from its exponent and the series of atanh, with
/// basic floating-point operations only (the platform's `ln` may round differently).
fn ln(x: f64) -> f64 {
    const LN_2: f64 = std::f64::consts::LN_2;
    let bits = x.to_bits();
    let mut exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52));
    if m > std::f64::consts::SQRT_2 {
        m /= 2.0;
        exponent += 1;
    }
    // ln(m) = 2 atanh(s), |s| <= 0.172: 20 terms reach far below the last bit.
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let (mut term, mut sum) = (s, 0.0);
    for k in 0..20 {
        sum += term / f64::from(2 * k + 1);
        term *= s2;
    }
    2.0 * sum + exponent as f64 * LN_2
}

/// 32 bytes from a stream.
fn draw32(rng: &mut ChaCha20Rng) -> [u8; 32] {
    let mut b = [0u8; 32];
    rng.fill_bytes(&mut b);
    b
}

/// Runs every mode of `scenario` with `seed` and `run`, up to `options.jobs` modes at once on
/// threads of their own, and returns their outputs in mode order. Modes share nothing (each
/// world draws from streams named after its entities), so the outputs do not depend on the
/// number of jobs or on which mode finishes first. `progress(mode index, virtual time)` is
/// called now and then from the mode's thread. On failure, the error of the first failing mode
/// in mode order.
pub fn run_modes(
    scenario: &Scenario,
    seed: u64,
    run: u64,
    options: &RunOptions,
    progress: impl Fn(usize, Micros) + Sync,
) -> Result<Vec<RunOutput>, Box<RunError>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    type Slot = Mutex<Option<Result<RunOutput, Box<RunError>>>>;
    let n = scenario.modes.len();
    let next = AtomicUsize::new(0);
    let slots: Vec<Slot> = (0..n).map(|_| Mutex::new(None)).collect();
    // Every log file is created before any mode starts, with interrupts held off: an
    // interrupt removes the staged output directory, and no thread may create an entry in it
    // afterwards (a thread writing to a file it already has open creates none).
    let logs: Vec<Mutex<Option<Result<Log, crate::observe::log::LogError>>>> =
        crate::cleanup::uninterrupted(|_| {
            scenario
                .modes
                .iter()
                .map(|mode| {
                    let log = options.log_to.as_ref().map(|(dir, format)| {
                        let dir = dir.join(&mode.name);
                        std::fs::create_dir_all(&dir)
                            .and_then(|()| Log::create(&dir, *format))
                            .map_err(|error| crate::observe::log::LogError {
                                path: dir.join(format.file_name()),
                                error,
                            })
                    });
                    Mutex::new(log)
                })
                .collect()
        });
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(mode) = scenario.modes.get(i) else {
            break;
        };
        let world = World::new(scenario, mode, seed, run).decrypting(options.decrypt);
        let log = logs[i]
            .lock()
            .expect("no thread panicked holding a log")
            .take();
        let out = match log {
            None => world.run(|now| progress(i, now)),
            Some(Ok(log)) => world.logging(log).run(|now| progress(i, now)),
            Some(Err(e)) => Err(world.run_error(SimError::Log(e))),
        };
        *slots[i].lock().expect("no thread panicked holding a slot") = Some(out);
    };
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.clamp(1, n.max(1)) {
            std::thread::Builder::new()
                .name("mode".into())
                .stack_size(MODE_STACK_BYTES)
                .spawn_scoped(scope, work)
                .expect("a thread for a mode");
        }
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .expect("no thread panicked holding a slot")
                .expect("every mode ran")
        })
        .collect()
}

/// How [`run_modes`] runs the modes of a scenario.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// How many modes run at once (at least one).
    pub jobs: usize,
    /// Which application messages recipients decrypt.
    pub decrypt: Decrypt,
    /// Where each mode's observation log is written as the run goes
    /// (`<dir>/<mode>/observations.csv` or `.parquet`); `None` keeps the logs in memory, in
    /// [`RunOutput::observations`].
    pub log_to: Option<(std::path::PathBuf, crate::observe::Format)>,
}

/// Which application messages recipient clients decrypt. No provider observation depends on
/// whether a client decrypts an application message it does not act on, so both give the same
/// observation logs, metrics and fingerprints; only the counters of decryption differ
/// (`mls_operations`, `messages_delivered`, `messages_not_decrypted`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Decrypt {
    /// Every member's client decrypts every application message (the default).
    #[default]
    All,
    /// Clients decrypt only what they act on: commits, Welcomes, and the messages of connection
    /// rooms (which carry keys and requests); the application messages of scenario rooms, which
    /// only count as delivered, stay encrypted.
    Needed,
}

/// Stack of a mode's thread: as much as the main thread gets on Linux.
const MODE_STACK_BYTES: usize = 8 << 20;

/// The number of modes `run` and `check` simulate at once by default: the cores available.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl<'s> World<'s> {
    /// Builds the world of `scenario` in `mode`: providers, users and clients with their keys,
    /// every random choice drawn from streams named after the entity.
    pub fn new(scenario: &'s Scenario, mode: &Mode, seed: u64, run: u64) -> Self {
        let mech = mode.mechanisms;
        let channel = if mech.anonymous_channel {
            scenario.channel
        } else {
            Channel::None
        };
        let mut w = World {
            scenario,
            mech,
            channel,
            engine: Engine::default(),
            cause: None,
            mode: mode.name.clone(),
            seed,
            run,
            connected: BTreeSet::new(),
            wake: BTreeSet::new(),
            deferred_connects: vec![],
            held: BTreeMap::new(),
            users: vec![],
            clients: vec![],
            providers: vec![],
            rooms: vec![],
            room_index: BTreeMap::new(),
            user_index: BTreeMap::new(),
            client_index: BTreeMap::new(),
            domain_index: BTreeMap::new(),
            directory: BTreeMap::new(),
            connection_secrets: BTreeMap::new(),
            decisions: BTreeMap::new(),
            observations: Log::memory(),
            truth: BTreeSet::new(),
            memberships: BTreeMap::new(),
            connections: vec![],
            messages: vec![],
            entries: BTreeMap::new(),
            stats: RunStats::default(),
            inbound_padding: 0,
            added_devices: vec![],
            device_joins: BTreeSet::new(),
            decrypt: Decrypt::All,
            crypto_start: crate::crypto::ops::snapshot(),
        };
        if scenario
            .modes
            .iter()
            .any(|m| m.mechanisms.any_countermeasure())
        {
            // Every mode of such a scenario counts its traffic, so that the cost of a
            // countermeasure in bytes shows beside the modes without it.
            w.stats.provider_messages = Some(0);
            w.stats.bytes_sent = Some(0);
        }
        if mech.padding {
            w.stats.padding_bytes = Some(0);
        }
        if mech.jitter {
            w.stats.jitter_messages = Some(0);
            w.stats.jitter_delay_us_total = Some(0);
            w.stats.jitter_delay_us_max = Some(0);
        }
        if mech.placeholder_leaves {
            w.stats.placeholder_clients = Some(0);
        }
        for p in &scenario.providers {
            let name = format!("provider/{}", p.domain);
            let base = stream_seed(seed, run, &name);
            w.domain_index.insert(p.domain.clone(), w.providers.len());
            w.providers.push(Provider {
                domain: p.domain.clone(),
                mls: SimProvider::new(base),
                keys: HpkeKeys::derive(&derive_seed(&base, b"hpke keys"))
                    .expect("X25519 derivation"),
                signer: signature_keys_from_seed(derive_seed(&base, b"hub signature key")),
                credential: openmls::prelude::BasicCredential::new(
                    format!("mimi://{}", p.domain).into_bytes(),
                )
                .into(),
                key_packages: BTreeMap::new(),
                sets: BTreeMap::new(),
                queues: BTreeMap::new(),
                opened_queue_ids: std::collections::HashMap::new(),
                establishment_keys: BTreeMap::new(),
                hub: BTreeMap::new(),
                follows: BTreeMap::new(),
                rng: stream(seed, run, &format!("{name}/rng")),
            });
        }
        // Devices added during the run, counted once: placeholders are numbered after them.
        let added = scenario.added_devices();
        for u in &scenario.users {
            let uid = w.users.len();
            let provider = w.domain_index[&u.provider];
            let uri = wire::user_uri(&u.provider, &u.name);
            let mut urng = stream(seed, run, &format!("user/{}", u.name));
            let connection_key = ConnectionKey(draw32(&mut urng));
            let establishment = HpkeKeys::derive(&draw32(&mut urng)).expect("X25519 derivation");
            w.add_truth(Kind::UserId, uri.clone(), uid, None);
            w.add_truth(Kind::Account, u.name.clone(), uid, None);
            w.add_truth(
                Kind::EstablishmentKey,
                crate::observe::digest(&establishment.public),
                uid,
                None,
            );
            // Placeholders (`placeholder_leaves`) come after the real clients, numbered on
            // from every device the user has during the run, their keys drawn from streams
            // named alike.
            let all = scenario.clients_in(u, &mech);
            bump(&mut w.stats.placeholder_clients, u64::from(all - u.clients));
            let after = u.clients + added.get(u.name.as_str()).copied().unwrap_or(0);
            let numbers = (1..=u.clients).chain(after + 1..=after + (all - u.clients));
            let clients: Vec<usize> = numbers
                .map(|n| w.make_client(uid, &u.name, &u.provider, n))
                .collect();
            w.user_index.insert(u.name.clone(), uid);
            w.users.push(User {
                name: u.name.clone(),
                uri,
                provider,
                devices: (1..=u.clients).zip(clients.iter().copied()).collect(),
                devices_ever: u.clients,
                clients,
                real_clients: u.clients as usize,
                token: connection_key
                    .token(w.providers[0].mls.crypto())
                    .expect("HKDF expand of 16 bytes")
                    .0
                    .to_vec(),
                connection_key,
                establishment,
                contacts: BTreeMap::new(),
                sets: vec![],
                set_turns: SetTurns::default(),
                registered: false,
                jitter_until: 0,
                rng: urng,
            });
        }
        for uid in 0..w.users.len() {
            let token = crate::observe::digest(&w.users[uid].token);
            w.add_truth(Kind::ConnectionToken, token, uid, None);
            w.schedule_at(0, Event::Register(uid));
        }
        for (i, a) in scenario.actions.iter().enumerate() {
            w.schedule_at(a.at_us, Event::Action(i));
        }
        w
    }

    /// Creates client number `n` of user `uid` (`name` at `domain`): its keys, queue ID and
    /// streams are named after `name/n`; the authentication service lists its real key.
    fn make_client(&mut self, uid: usize, name: &str, domain: &str, n: u32) -> usize {
        let (seed, run) = (self.seed, self.run);
        let cid = self.clients.len();
        let label = format!("{name}/{n}");
        let base = stream_seed(seed, run, &format!("client/{label}"));
        let signer = signature_keys_from_seed(derive_seed(&base, b"signature key"));
        let curi = wire::client_uri(domain, name, n);
        let credential = openmls::prelude::BasicCredential::new(curi.clone().into_bytes()).into();
        let cwk = CredentialWithKey {
            credential,
            signature_key: signer.public().into(),
        };
        let mut rng = stream(seed, run, &format!("client/{label}/rng"));
        let queue_id = draw32(&mut rng)[..16].to_vec();
        self.directory
            .insert(curi.clone(), signer.public().to_vec());
        self.client_index.insert(curi.clone(), cid);
        let mut signers = BTreeMap::new();
        signers.insert(
            signer.public().to_vec(),
            signature_keys_from_seed(derive_seed(&base, b"signature key")),
        );
        self.clients.push(Client {
            user: uid,
            uri: curi.clone(),
            mls: SimProvider::new(base),
            signer,
            cwk,
            signers,
            queue_id: queue_id.clone(),
            groups: BTreeMap::new(),
            rng,
            relay_keys: vec![],
            key_package_sets: BTreeMap::new(),
            jitter_rng: stream(seed, run, &format!("client/{label}/jitter")),
            removed: false,
        });
        self.add_truth(Kind::ClientId, curi, uid, Some(cid));
        let pk = self.clients[cid].signer.public().to_vec();
        self.add_truth(
            Kind::SignatureKey,
            crate::observe::digest(&pk),
            uid,
            Some(cid),
        );
        self.add_truth(Kind::QueueId, hex::encode(&queue_id), uid, Some(cid));
        cid
    }

    /// Records who owns an identifier value.
    fn add_truth(&mut self, kind: Kind, value: String, user: usize, client: Option<usize>) {
        let client = client
            .map(|c| client_label(&self.clients[c]))
            .unwrap_or_default();
        self.truth.insert(TruthRow {
            kind,
            value,
            user: self.users.get(user).map_or_else(
                || self.scenario.users[user].name.clone(),
                |u| u.name.clone(),
            ),
            client,
        });
    }

    /// Writes the observation log with `log` instead of keeping it in memory.
    pub fn logging(mut self, log: Log) -> Self {
        self.observations = log;
        self
    }

    /// Sets which application messages recipients decrypt ([`Decrypt::All`] by default).
    pub fn decrypting(mut self, decrypt: Decrypt) -> Self {
        self.decrypt = decrypt;
        if decrypt == Decrypt::Needed {
            self.stats.messages_not_decrypted = Some(0);
        }
        self
    }

    /// The time of the last scripted action, for progress display and periodic work.
    pub fn last_action_us(&self) -> Micros {
        self.scenario.end_us()
    }

    /// Runs until no event is left; `progress` is called now and then with the virtual time.
    pub fn run(mut self, mut progress: impl FnMut(Micros)) -> Result<RunOutput, Box<RunError>> {
        while self.step()? {
            if self.engine.processed().is_multiple_of(256) {
                progress(self.engine.now());
            }
        }
        progress(self.engine.now());
        self.finish()
    }

    /// Processes the next event; false when none is left (or the observation log could not be
    /// written).
    pub fn step(&mut self) -> Result<bool, Box<RunError>> {
        if self.observations.failed() {
            // The log could not be written: stop here; `finish` reports why.
            return Ok(false);
        }
        let Some(Caused { cause, event }) = self.engine.next_event() else {
            return Ok(false);
        };
        self.cause = match &event {
            Event::Action(i) | Event::SendTick { action: i, .. } => Some(*i),
            _ => cause,
        };
        let result = self.handle(event).and_then(|()| self.wake_waiting());
        result.map(|()| true).map_err(|e| self.run_error(e))
    }

    /// `error` with the time, the action being simulated and the run's mode, seed and run.
    fn run_error(&self, error: SimError) -> Box<RunError> {
        Box::new(RunError {
            file: self.scenario.file.clone(),
            mode: self.mode.clone(),
            seed: self.seed,
            run: self.run,
            time_us: self.engine.now(),
            action: self.cause.map(|i| {
                let a = &self.scenario.actions[i];
                (a.pos, a.kind.key())
            }),
            error,
        })
    }

    /// Schedules an event `delay` from now, as a consequence of the current action.
    fn schedule_in(&mut self, delay: Micros, event: Event) {
        let cause = self.cause;
        self.engine.schedule_in(delay, Caused { cause, event });
    }

    /// Schedules an event at `at`, as a consequence of the current action.
    fn schedule_at(&mut self, at: Micros, event: Event) {
        let cause = self.cause;
        self.engine.schedule_at(at, Caused { cause, event });
    }

    /// Ends the run: checks that no operation is left half done and collects the results.
    pub fn finish(mut self) -> Result<RunOutput, Box<RunError>> {
        for room in 0..self.rooms.len() {
            if let Some(op) = &self.rooms[room].op {
                self.cause = op.cause;
                let e = SimError::Protocol(format!(
                    "room {}: an operation never completed (waiting for {:?})",
                    self.rooms[room].name,
                    op.steps.front()
                ));
                return Err(self.run_error(e));
            }
        }
        if let Some((&(client, room), _)) = self.held.first_key_value() {
            let e = SimError::Protocol(format!(
                "{} held messages for room {} that it never sent",
                self.clients[client].uri, self.rooms[room].name
            ));
            return Err(self.run_error(e));
        }
        self.stats.events = self.engine.processed();
        self.stats.simulated_us = self.engine.now();
        self.stats.crypto = crate::crypto::ops::snapshot().since(self.crypto_start);
        let mut memberships = vec![];
        for (&(room, client), spans) in &self.memberships {
            let c = &self.clients[client];
            let u = &self.users[c.user];
            let entries = self
                .entries
                .get(&(room, client))
                .map_or(&[][..], Vec::as_slice);
            if entries.len() != spans.len() {
                let e = SimError::Protocol(format!(
                    "{} entered room {} {} times, the hub saw {}",
                    c.uri,
                    self.rooms[room].name,
                    entries.len(),
                    spans.len()
                ));
                return Err(self.run_error(e));
            }
            for (&(from_us, to_us), entry) in spans.iter().zip(entries) {
                memberships.push(MembershipRow {
                    room: self.rooms[room].name.clone(),
                    purpose: self.rooms[room].purpose.as_str(),
                    user: u.name.clone(),
                    client: client_label(c),
                    from_us,
                    to_us,
                    last_resort: entry.as_ref().is_some_and(|(_, lr)| *lr),
                    key_package_set: entry
                        .as_ref()
                        .map(|(label, _)| crate::observe::digest(label.as_bytes()))
                        .unwrap_or_default(),
                });
            }
        }
        memberships.sort();
        let log = match self.observations.finish() {
            Ok(log) => log,
            Err(e) => {
                self.observations = Log::memory();
                return Err(self.run_error(SimError::Log(e)));
            }
        };
        Ok(RunOutput {
            observations: log.observations,
            observation_count: log.count,
            fingerprint: log.fingerprint,
            log_file: log.path,
            truth: self.truth.into_iter().collect(),
            memberships,
            connections: self.connections,
            messages: self.messages,
            stats: self.stats,
        })
    }

    fn handle(&mut self, ev: Event) -> Result<(), SimError> {
        match ev {
            Event::Register(uid) => self.register(uid),
            Event::ReuploadLastResort(uid) => self.reupload_last_resort(uid),
            Event::Action(i) => self.start_action(i),
            Event::SendTick { action, i } => self.send_tick(action, i),
            Event::AtProvider {
                to,
                peer,
                endpoint,
                reply,
                bytes,
                local,
                padding,
            } => {
                self.inbound_padding = padding;
                self.at_provider(to, peer, endpoint, reply, bytes, local)
            }
            Event::AtClient { to, bytes } => self.at_client(to, bytes),
        }
    }

    /// Sends bytes from a client to its own provider over its authenticated session. Under
    /// `jitter`, an anonymous-channel envelope (`Forward`, `Relay`), a GroupInfo request, a
    /// room creation, a handshake or an application message leaves after an extra delay.
    fn client_to_home(&mut self, client: usize, msg: &wire::Wire) {
        self.client_to_home_padded(client, msg, 0);
    }

    /// [`World::client_to_home`] with an envelope that holds `nested` bytes of a padded
    /// request's padding.
    fn client_to_home_padded(&mut self, client: usize, msg: &wire::Wire, nested: u64) {
        let extra = match msg {
            wire::Wire::Forward(_)
            | wire::Wire::Relay(_)
            | wire::Wire::GroupInfoRequest(_)
            | wire::Wire::CreateRoom(_)
            | wire::Wire::Handshake(_)
            | wire::Wire::AppMessage(_) => self.jitter_delay(client),
            _ => 0,
        };
        let user = &self.users[self.clients[client].user];
        let (to, peer) = (user.provider, Peer::Account(user.name.clone()));
        let (bytes, padding) = self.pad_out(msg.to_bytes());
        self.send_to_provider(
            extra,
            to,
            peer,
            Endpoint::Home,
            Some(Reply::Home(client)),
            bytes,
            padding.saturating_add(nested),
            vec![],
        );
    }

    /// Schedules bytes' arrival at provider `to`, one hop and `extra` from now, and counts
    /// the hop; `padding` is how many of the bytes padding added.
    #[allow(clippy::too_many_arguments)]
    fn send_to_provider(
        &mut self,
        extra: Micros,
        to: usize,
        peer: Peer,
        endpoint: Endpoint,
        reply: Option<Reply>,
        bytes: Vec<u8>,
        padding: u64,
        local: Vec<usize>,
    ) {
        bump(&mut self.stats.provider_messages, 1);
        bump(&mut self.stats.bytes_sent, bytes.len() as u64);
        bump(&mut self.stats.padding_bytes, padding);
        let ev = Event::AtProvider {
            to,
            peer,
            endpoint,
            reply,
            bytes,
            local,
            padding,
        };
        self.schedule_in(self.scenario.latency_us.saturating_add(extra), ev);
    }

    /// The bytes of a message about to go to a provider and how many of them padding added.
    /// Under `padding`, a message is wrapped in a [`wire::Padded`] envelope of the smallest
    /// bucket that holds it; bytes already padded (a message forwarded as it arrived) go on
    /// as they are, with the padding they arrived with.
    fn pad_out(&mut self, bytes: Vec<u8>) -> (Vec<u8>, u64) {
        if !self.mech.padding {
            return (bytes, 0);
        }
        if wire::is_padded(&bytes) {
            return (bytes, self.inbound_padding);
        }
        let unpadded = bytes.len() as u64;
        let padded = self
            .scenario
            .padding_bucket(unpadded.saturating_add(wire::PADDING_OVERHEAD as u64))
            .and_then(|size| usize::try_from(size).ok())
            .and_then(|size| wire::pad(&bytes, size))
            .expect("messages stay far below 4 GiB");
        let added = padded.len() as u64 - unpadded;
        (padded, added)
    }

    /// Under `jitter`: the extra delay of a send of `client`, drawn from the client's jitter
    /// stream (uniform on [0, `jitter_max`], or exponential with mean `jitter_max`/4 truncated
    /// at `jitter_max`), lengthened so that it leaves no earlier than the user's previous
    /// delayed send (which left at most `jitter_max` after it was made, so the extra delay
    /// stays within [0, `jitter_max`]). 0 without `jitter`.
    fn jitter_delay(&mut self, client: usize) -> Micros {
        if !self.mech.jitter {
            return 0;
        }
        let now = self.engine.now();
        let max = self.scenario.jitter_max_us;
        let c = &mut self.clients[client];
        let drawn = draw_delay(&mut c.jitter_rng, self.scenario.jitter, max);
        let user = &mut self.users[c.user];
        let leaves = now.saturating_add(drawn).max(user.jitter_until);
        user.jitter_until = leaves;
        let extra = leaves.saturating_sub(now);
        bump(&mut self.stats.jitter_messages, 1);
        bump(&mut self.stats.jitter_delay_us_total, extra);
        if let Some(m) = &mut self.stats.jitter_delay_us_max {
            *m = (*m).max(extra);
        }
        extra
    }

    /// Sends bytes from one provider to another (or to itself in another role).
    fn provider_to(
        &mut self,
        from: usize,
        to: usize,
        endpoint: Endpoint,
        reply: Option<Reply>,
        bytes: Vec<u8>,
    ) {
        self.fanout_to(from, to, endpoint, reply, bytes, vec![]);
    }

    /// [`World::provider_to`] with the provider's own recipients of a plain MIMI fanout.
    fn fanout_to(
        &mut self,
        from: usize,
        to: usize,
        endpoint: Endpoint,
        reply: Option<Reply>,
        bytes: Vec<u8>,
        local: Vec<usize>,
    ) {
        let peer = Peer::Domain(self.providers[from].domain.clone());
        let (bytes, padding) = self.pad_out(bytes);
        self.send_to_provider(0, to, peer, endpoint, reply, bytes, padding, local);
    }

    /// Puts bytes into a client's queue.
    fn provider_to_client(&mut self, client: usize, bytes: Vec<u8>) {
        self.schedule_in(
            self.scenario.latency_us,
            Event::AtClient { to: client, bytes },
        );
    }

    /// The provider a MIMI URI or a MIMIMI pseudonym (`id@domain`) names.
    fn domain_of_uri(&self, uri: &str) -> Result<usize, SimError> {
        let domain = match uri.strip_prefix("mimi://") {
            Some(rest) => rest.split('/').next(),
            None => uri.rsplit_once('@').map(|(_, d)| d),
        }
        .ok_or_else(|| SimError::Protocol(format!("not a MIMI URI or pseudonym: {uri}")))?;
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
        let o = self.observation(observer, wire, peer, size, items);
        self.observations.push(o);
    }

    /// An observation by provider `observer`, now, of `wire` from `peer`.
    fn observation(
        &self,
        observer: usize,
        wire: &wire::Wire,
        peer: Peer,
        size: usize,
        items: Vec<crate::observe::Item>,
    ) -> Observation {
        let room = wire
            .room()
            .and_then(|uri| self.rooms.iter().find(|r| r.uri == uri))
            .map(|r| r.name.clone());
        Observation {
            time_us: self.engine.now(),
            observer: self.providers[observer].domain.clone(),
            flow: wire.flow(),
            peer,
            room,
            size,
            items,
        }
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

    /// Adds a room (scenario or connection room) hosted by `hub`.
    fn add_room(&mut self, name: String, hub: usize, purpose: Purpose) -> usize {
        let id = self.rooms.len();
        self.room_index.insert(name.clone(), id);
        self.rooms.push(Room {
            uri: wire::room_uri(&self.providers[hub].domain, &name),
            name,
            hub,
            purpose,
            identity_links: true,
            queue: VecDeque::new(),
            op: None,
        });
        id
    }

    fn start_action(&mut self, i: usize) -> Result<(), SimError> {
        let action: &Action = &self.scenario.actions[i];
        match &action.kind {
            ActionKind::Connect { from, to, accept } => {
                if !self.action_users_registered(i) {
                    // A client that has not finished registering cannot connect yet.
                    self.deferred_connects.push(i);
                    return Ok(());
                }
                let (f, t) = (self.user_index[from], self.user_index[to]);
                self.decisions.entry((f, t)).or_default().push_back(*accept);
                self.connect(f, t)
            }
            ActionKind::PublishKeyPackages { user, count } => {
                let u = self.user_index[user];
                self.publish_key_packages(u, *count)
            }
            ActionKind::AddDevice { user } => {
                let u = self.user_index[user];
                self.add_device(i, u)
            }
            ActionKind::RemoveDevice { user, device } => {
                let u = self.user_index[user];
                self.remove_device(u, *device)
            }
            ActionKind::CreateRoom {
                room,
                by,
                hub,
                identity_links,
                ..
            } => {
                let creator = self.user_index[by];
                let hub = match hub {
                    Some(d) => self.domain_index[d],
                    None => self.users[creator].provider,
                };
                let id = self.add_room(room.clone(), hub, Purpose::Room);
                self.rooms[id].identity_links = *identity_links;
                self.enqueue(id, Queued::Action(i))
            }
            ActionKind::Add { room, .. }
            | ActionKind::Join { room, .. }
            | ActionKind::Remove { room, .. }
            | ActionKind::Leave { room, .. }
            | ActionKind::Send { room, .. } => {
                let id = self.room_index[room];
                self.enqueue(id, Queued::Action(i))
            }
        }
    }

    /// Runs room work now if the room is idle, else queues it behind the operation.
    fn enqueue(&mut self, room: usize, mut work: Queued) -> Result<(), SimError> {
        if let Queued::Op(op) = &mut work {
            op.cause = op.cause.or(self.cause);
        }
        if self.rooms[room].op.is_some() || !self.rooms[room].queue.is_empty() {
            self.rooms[room].queue.push_back(work);
            return Ok(());
        }
        self.run_queued(room, work)
    }

    /// Starts queued work of an idle room until some of it begins an operation.
    fn drain_room_queue(&mut self, room: usize) -> Result<(), SimError> {
        while self.rooms[room].op.is_none() {
            let Some(next) = self.rooms[room].queue.pop_front() else {
                break;
            };
            self.run_queued(room, next)?;
        }
        Ok(())
    }

    fn run_queued(&mut self, room: usize, work: Queued) -> Result<(), SimError> {
        let i = match work {
            Queued::Op(op) => return self.begin(room, *op),
            Queued::Action(i) => i,
        };
        // Queued work may start while another action's event is handled: what it schedules
        // is a consequence of its own action.
        let outer = self.cause.replace(i);
        self.start_queued_action(room, i)?;
        self.cause = outer;
        Ok(())
    }

    /// The connections `user` needs before adding `targets` in `room`: KeyPackages fetched by
    /// connection token, or identity link keys derived from the targets' connection keys.
    fn need_connections(&self, room: usize, user: usize, targets: &[usize]) -> Option<Need> {
        let links = self.mech.pseudonymous_credentials && self.rooms[room].identity_links;
        let others: Vec<usize> = targets.iter().copied().filter(|&t| t != user).collect();
        ((self.mech.anonymous_key_packages || links) && !others.is_empty())
            .then_some(Need::All(user, others))
    }

    /// Whether the connections of `need` are complete.
    fn need_met(&self, room: usize, need: &Need) -> bool {
        match need {
            Need::Registered(users) => users.iter().all(|&u| self.users[u].registered),
            Need::All(user, others) => others.iter().all(|&o| self.is_connected(*user, o)),
            Need::AnyMember(user) => self
                .clients
                .iter()
                .filter(|c| c.groups.contains_key(&room))
                .any(|c| self.is_connected(*user, c.user)),
        }
    }

    /// The users an action involves (its actor and the users it names).
    fn action_users(&self, i: usize) -> Vec<usize> {
        let names: Vec<&String> = match &self.scenario.actions[i].kind {
            ActionKind::Connect { from, to, .. } => vec![from, to],
            ActionKind::CreateRoom { by, members, .. } => {
                std::iter::once(by).chain(members).collect()
            }
            ActionKind::Add { by, users, .. } => std::iter::once(by).chain(users).collect(),
            ActionKind::Join { user, .. } => vec![user],
            ActionKind::Remove { by, .. } => vec![by],
            ActionKind::Leave { user, .. } => vec![user],
            ActionKind::Send { from, .. } => vec![from],
            ActionKind::PublishKeyPackages { user, .. }
            | ActionKind::AddDevice { user }
            | ActionKind::RemoveDevice { user, .. } => vec![user],
        };
        names.into_iter().map(|n| self.user_index[n]).collect()
    }

    fn action_users_registered(&self, i: usize) -> bool {
        self.action_users(i)
            .iter()
            .all(|&u| self.users[u].registered)
    }

    /// A user's registration completed: the actions waiting for it go on.
    pub(super) fn registered(&mut self, user: usize) {
        self.users[user].registered = true;
        for room in 0..self.rooms.len() {
            if matches!(
                self.rooms[room].op.as_ref().and_then(|op| op.steps.front()),
                Some(Step::Await(_))
            ) {
                self.wake.insert(room);
            }
        }
    }

    /// Whether the connection of users `a` and `b` is complete.
    fn is_connected(&self, a: usize, b: usize) -> bool {
        self.connected.contains(&(a.min(b), a.max(b)))
    }

    /// Resumes the operations that wait for a connection, once one has completed.
    fn wake_waiting(&mut self) -> Result<(), SimError> {
        let ready: Vec<usize> = self
            .deferred_connects
            .iter()
            .copied()
            .filter(|&i| self.action_users_registered(i))
            .collect();
        if !ready.is_empty() {
            self.deferred_connects.retain(|i| !ready.contains(i));
            for i in ready {
                let outer = self.cause.replace(i);
                self.start_action(i)?;
                self.cause = outer;
            }
        }
        while let Some(room) = self.wake.pop_first() {
            let Some(op) = &self.rooms[room].op else {
                continue;
            };
            if matches!(op.steps.front(), Some(Step::Await(_))) {
                let outer = std::mem::replace(&mut self.cause, op.cause);
                self.advance(room)?;
                self.cause = outer;
            }
        }
        Ok(())
    }

    fn start_queued_action(&mut self, room: usize, i: usize) -> Result<(), SimError> {
        let action = &self.scenario.actions[i];
        // A user with several clients adds its other clients through one of its KeyPackage
        // sets, so that all its leaves in the room share the set's user pseudonym (MIMIMI
        // "KeyPackages"); a single client makes a fresh leaf and spends no set.
        let own_set = |w: &Self, u: usize| w.users[u].clients.len() > 1;
        match &action.kind {
            ActionKind::CreateRoom { by, members, .. } => {
                let creator = self.user_index[by];
                let mut claim: Vec<usize> = vec![];
                if own_set(self, creator) {
                    claim.push(creator);
                }
                let targets: Vec<usize> = members.iter().map(|m| self.user_index[m]).collect();
                let need = self.need_connections(room, creator, &targets);
                claim.extend(targets);
                let actor = self.users[creator].clients[0];
                let steps = need.map(Step::Await).into_iter().chain([
                    Step::Claim(claim),
                    Step::Create,
                    Step::CommitAdds,
                ]);
                self.begin(room, Op::new(Some(i), actor, steps))
            }
            ActionKind::Add { by, users, .. } => {
                let adder = self.user_index[by];
                let targets: Vec<usize> = users.iter().map(|u| self.user_index[u]).collect();
                let actor = self.acting_client(room, adder)?;
                let need = self.need_connections(room, adder, &targets);
                let steps = need
                    .map(Step::Await)
                    .into_iter()
                    .chain([Step::Claim(targets), Step::CommitAdds]);
                self.begin(room, Op::new(Some(i), actor, steps))
            }
            ActionKind::Join { user, .. } => {
                let u = self.user_index[user];
                let op = self.join_op(Some(i), room, u);
                self.begin(room, op)
            }
            ActionKind::Remove { by, user, .. } => {
                let (r, u) = (self.user_index[by], self.user_index[user]);
                let actor = self.acting_client(room, r)?;
                self.begin(room, Op::new(Some(i), actor, [Step::Remove(u)]))
            }
            ActionKind::Leave { user, .. } => {
                let u = self.user_index[user];
                let actor = self.acting_client(room, u)?;
                self.begin(room, Op::new(Some(i), actor, [Step::Leave(u)]))
            }
            ActionKind::Send { .. } => self.send_tick(i, 0),
            ActionKind::Connect { .. }
            | ActionKind::PublishKeyPackages { .. }
            | ActionKind::AddDevice { .. }
            | ActionKind::RemoveDevice { .. } => Ok(()),
        }
    }

    /// The plan of an external join by `user`'s first client into `room`.
    fn join_op(&self, action: Option<usize>, room: usize, user: usize) -> Op {
        let pc = self.mech.pseudonymous_credentials;
        let mut steps = vec![];
        let helper_needed = pc && action.is_some() && self.rooms[room].identity_links;
        if helper_needed {
            steps.push(Step::Await(Need::AnyMember(user)));
        }
        if self.users[user].clients.len() > 1 {
            steps.push(Step::Claim(vec![user]));
        }
        if helper_needed {
            steps.push(Step::WrapperKey);
        }
        steps.push(Step::JoinExternal);
        steps.push(Step::CommitAdds);
        Op::new(action, self.users[user].clients[0], steps)
    }

    /// Starts an operation on an idle room. A room action of users that have not finished
    /// registering waits for them first.
    fn begin(&mut self, room: usize, mut op: Op) -> Result<(), SimError> {
        if let Some(i) = op.cause {
            let room_action = matches!(
                self.scenario.actions[i].kind,
                ActionKind::CreateRoom { .. } | ActionKind::Add { .. } | ActionKind::Join { .. }
            );
            let pending: Vec<usize> = self
                .action_users(i)
                .into_iter()
                .filter(|&u| !self.users[u].registered)
                .collect();
            if room_action && !pending.is_empty() {
                op.steps.push_front(Step::Await(Need::Registered(pending)));
            }
        }
        let outer = std::mem::replace(&mut self.cause, op.cause);
        self.rooms[room].op = Some(op);
        self.advance(room)?;
        self.cause = outer;
        Ok(())
    }

    /// Starts the next step of the room's operation, or ends the operation.
    fn advance(&mut self, room: usize) -> Result<(), SimError> {
        let Some(op) = self.rooms[room].op.as_mut() else {
            return Ok(());
        };
        let Some(step) = op.steps.front().cloned() else {
            self.rooms[room].op = None;
            self.queue_device_joins(room)?;
            return self.drain_room_queue(room);
        };
        let actor = op.actor;
        match step {
            Step::Claim(users) => self.start_claims(room, actor, users),
            Step::Create => self.create_group(room, actor),
            Step::WrapperKey => self.request_wrapper_key(room, actor),
            Step::JoinExternal => self.request_group_info(room, actor),
            Step::CommitAdds => self.commit_adds(room, actor),
            Step::Remove(user) => self.remove_user(room, actor, user),
            Step::Leave(user) => self.leave(room, actor, user),
            Step::RequestConnection(responder) => self.send_connection_request(actor, responder),
            Step::DeviceJoin => self.prepare_device_join(room, actor),
            Step::LeaveDevice => self.leave_device(room, actor),
            // Resumed by `wake_waiting` when a connection completes.
            Step::Await(need) if !self.need_met(room, &need) => Ok(()),
            Step::Await(_) => self.step_done(room),
        }
    }

    /// The current step finished: check the room where members changed, then go on.
    fn step_done(&mut self, room: usize) -> Result<(), SimError> {
        let step = match self.rooms[room].op.as_mut() {
            Some(op) => op.steps.pop_front(),
            None => return Ok(()),
        };
        if matches!(
            step,
            Some(
                Step::Create
                    | Step::JoinExternal
                    | Step::CommitAdds
                    | Step::Remove(_)
                    | Step::Leave(_)
                    | Step::LeaveDevice
            )
        ) && self.providers[self.rooms[room].hub].hub.contains_key(&room)
        {
            self.check_room(room)?;
        }
        self.advance(room)
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

    /// After a step (and callable any time the room is idle): every member holds the same
    /// epoch authenticator, and the hub's PublicGroup lists exactly the clients that hold
    /// the group.
    pub fn check_room(&mut self, room: usize) -> Result<(), SimError> {
        let r = &self.rooms[room];
        let inconsistent = |detail: String| SimError::Inconsistent {
            room: r.name.clone(),
            detail,
        };
        let hub = &self.providers[r.hub].hub[&room];
        let hub_members: BTreeSet<Vec<u8>> = hub.group.members().map(|m| m.signature_key).collect();
        let holders: BTreeSet<Vec<u8>> = self
            .clients
            .iter()
            .filter_map(|c| c.groups.get(&room))
            .map(|m| m.signer.clone())
            .collect();
        if hub_members != holders {
            return Err(inconsistent(format!(
                "the hub lists {} leaves, {} clients hold the group",
                hub_members.len(),
                holders.len()
            )));
        }
        let mut authenticator: Option<Vec<u8>> = None;
        for c in self.clients.iter().filter(|c| c.groups.contains_key(&room)) {
            let g = &c.groups[&room].group;
            let members: BTreeSet<Vec<u8>> = g.members().map(|m| m.signature_key).collect();
            if members != hub_members {
                return Err(inconsistent(format!(
                    "{} sees other members than the hub",
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

impl Op {
    fn new(cause: Option<usize>, actor: usize, steps: impl IntoIterator<Item = Step>) -> Self {
        Op {
            cause,
            actor,
            steps: steps.into_iter().collect(),
            claims: vec![],
            key_packages: vec![],
            outstanding: 0,
            answering: None,
            wrapper: None,
            joining: None,
            pseudonym: None,
        }
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

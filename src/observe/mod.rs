//! Observations: what one provider learned at one moment, extracted from the bytes it received.
//!
//! Each record carries the transport peer, the room (when the observer can tell), the size of
//! what arrived, and identifier items. Items that share a subject number within one observation
//! are known to the observer to belong to one entity (for example the fields of one leaf).

use sha2::{Digest, Sha256};

use crate::engine::Micros;

pub mod log;
pub mod parquet;

pub use log::{Format, Log};

/// Who handed the bytes to the observer, as its transport shows it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Peer {
    /// An authenticated client session of this account (a user name).
    Account(String),
    /// A request not tied to any account.
    Anonymous,
    /// Another provider (or this one in another role), by domain.
    Domain(String),
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Account(u) => write!(f, "account:{u}"),
            Peer::Anonymous => f.write_str("anonymous"),
            Peer::Domain(d) => write!(f, "domain:{d}"),
        }
    }
}

/// The kind of an identifier item, as written in `observations.csv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A real user identifier (`mimi://domain/u/name`).
    UserId,
    /// A real client identifier (`mimi://domain/d/name/n`).
    ClientId,
    /// The account of an authenticated session.
    Account,
    /// A provider domain.
    Domain,
    /// An MLS signature public key (digest).
    SignatureKey,
    /// A KeyPackage reference (digest).
    KeyPackageRef,
    /// An MLS group id (digest).
    GroupId,
    /// A client's queue identifier.
    QueueId,
    /// A queue identifier sealed to its provider (digest).
    EncryptedQueueId,
    /// A MIMIMI user pseudonym (shared by a user's leaves in one room).
    UserPseudonym,
    /// A MIMIMI client pseudonym (fresh per KeyPackage).
    ClientPseudonym,
    /// A user's connection token, which indexes its KeyPackage sets (digest).
    ConnectionToken,
    /// A KeyPackage set label (digest).
    KeyPackageSet,
    /// A user's connection-establishment public key (digest).
    EstablishmentKey,
    /// An application message, by a digest of its PrivateMessage bytes.
    Message,
}

impl Kind {
    /// The name used in CSV files.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::UserId => "user_id",
            Kind::ClientId => "client_id",
            Kind::Account => "account",
            Kind::Domain => "domain",
            Kind::SignatureKey => "signature_key",
            Kind::KeyPackageRef => "key_package_ref",
            Kind::GroupId => "group_id",
            Kind::QueueId => "queue_id",
            Kind::EncryptedQueueId => "encrypted_queue_id",
            Kind::UserPseudonym => "user_pseudonym",
            Kind::ClientPseudonym => "client_pseudonym",
            Kind::ConnectionToken => "connection_token",
            Kind::KeyPackageSet => "key_package_set",
            Kind::EstablishmentKey => "establishment_key",
            Kind::Message => "message",
        }
    }
}

/// One identifier value an observer read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// Items with one subject in one observation belong to one entity.
    pub subject: u32,
    /// What the value is.
    pub kind: Kind,
    /// The value as the observer saw it (identifiers as text, keys as short digests).
    pub value: String,
}

/// One thing one provider learned at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// Virtual time of receipt.
    pub time_us: Micros,
    /// The observing provider's domain.
    pub observer: String,
    /// The flow (message type) that arrived.
    pub flow: &'static str,
    /// The transport peer.
    pub peer: Peer,
    /// The room, when the observer can tell which room this is about.
    pub room: Option<String>,
    /// Bytes received.
    pub size: usize,
    /// Identifier items parsed from the bytes.
    pub items: Vec<Item>,
}

/// Builds the item list of one observation, handing out subject numbers.
#[derive(Default)]
pub struct Items {
    items: Vec<Item>,
    next_subject: u32,
}

impl Items {
    /// Starts a new subject and returns its number.
    pub fn subject(&mut self) -> u32 {
        let s = self.next_subject;
        self.next_subject += 1;
        s
    }

    /// Adds an item to subject `s`.
    pub fn push(&mut self, s: u32, kind: Kind, value: impl Into<String>) {
        self.items.push(Item {
            subject: s,
            kind,
            value: value.into(),
        });
    }

    /// Adds a one-item subject.
    pub fn single(&mut self, kind: Kind, value: impl Into<String>) {
        let s = self.subject();
        self.push(s, kind, value);
    }

    /// The items collected.
    pub fn into_vec(self) -> Vec<Item> {
        self.items
    }
}

/// A short, stable digest of bytes an observer cannot read as text (keys, references).
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..8])
}

/// The header of `observations.csv`.
pub const OBSERVATIONS_HEADER: [&str; 10] = [
    "seq", "time_us", "observer", "flow", "peer", "room", "size", "subject", "kind", "value",
];

/// Writes observations as CSV: one row per item, and one row with empty item columns for an
/// observation without items. `seq` numbers the observations in log order.
pub fn observations_csv(log: &[Observation]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(OBSERVATIONS_HEADER)
        .expect("writing to memory");
    for (seq, o) in log.iter().enumerate() {
        write_observation_csv(&mut w, seq as u64, o).expect("writing to memory");
    }
    w.into_inner().expect("writing to memory")
}

/// Writes the CSV rows of observation `seq`.
pub fn write_observation_csv<W: std::io::Write>(
    w: &mut csv::Writer<W>,
    seq: u64,
    o: &Observation,
) -> csv::Result<()> {
    let seq = seq.to_string();
    let time = o.time_us.to_string();
    let peer = o.peer.to_string();
    let size = o.size.to_string();
    let head = [
        seq.as_str(),
        time.as_str(),
        o.observer.as_str(),
        o.flow,
        peer.as_str(),
        o.room.as_deref().unwrap_or_default(),
        size.as_str(),
    ];
    if o.items.is_empty() {
        w.write_record(head.iter().copied().chain(["", "", ""]))?;
    }
    for it in &o.items {
        let subject = it.subject.to_string();
        w.write_record(head.iter().copied().chain([
            subject.as_str(),
            it.kind.as_str(),
            it.value.as_str(),
        ]))?;
    }
    Ok(())
}

/// The run fingerprint: SHA-256 over the ordered observation log (its CSV form), in hex.
pub fn fingerprint(observations_csv: &[u8]) -> String {
    hex::encode(Sha256::digest(observations_csv))
}

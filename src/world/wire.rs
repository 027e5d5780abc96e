//! Wire structs of the plain MIMI baseline, TLS-encoded with tls_codec.
//!
//! Every message that passes between two parties is one [`Wire`] value serialized to bytes;
//! the receiver deserializes it, and what a provider observes is parsed from those bytes.
//! MLS messages travel inside as their own TLS encoding (`MlsMessageOut` bytes).

use tls_codec::{Deserialize as _, Serialize as _, TlsDeserialize, TlsSerialize, TlsSize, VLBytes};

/// KeyPackages uploaded by an authenticated client to its own provider.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct KeyPackageUpload {
    /// `MlsMessageOut` encodings of KeyPackages (last-resort ones carry the MLS extension).
    pub key_packages: Vec<VLBytes>,
}

/// A claim of one KeyPackage per client of `target`, for adding it to `room`
/// (draft-ietf-mimi-protocol "Claim group key information"): requester, target and room in clear.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct KeyPackageClaim {
    /// Room URI.
    pub room: String,
    /// The requesting user's URI.
    pub requester: String,
    /// The user whose KeyPackages are claimed.
    pub target: String,
}

/// The answer to a [`KeyPackageClaim`].
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct KeyPackageClaimResponse {
    /// Room URI.
    pub room: String,
    /// The requesting user's URI.
    pub requester: String,
    /// The user whose KeyPackages these are.
    pub target: String,
    /// One KeyPackage per client of the target.
    pub key_packages: Vec<VLBytes>,
}

/// MIMI consent between two users, request or response.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct Consent {
    /// The user asking to connect.
    pub requester: String,
    /// The user asked.
    pub target: String,
    /// 1 when the target accepts (responses only).
    pub accepted: u8,
    /// The sender's MIMIMI connection key, HPKE-sealed to the other user's
    /// connection-establishment key (when pseudonymous credentials are on without encrypted
    /// connection requests: the consent itself stays in clear).
    pub sealed_connection_key: Option<VLBytes>,
}

/// A new room announced to its hub: the creator's GroupInfo and ratchet tree.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct CreateRoom {
    /// Room URI.
    pub room: String,
    /// The creating user's URI.
    pub creator: String,
    /// `MlsMessageOut` encoding of the GroupInfo.
    pub group_info: VLBytes,
    /// TLS encoding of the ratchet tree.
    pub ratchet_tree: VLBytes,
    /// The creator's encrypted identity link key (MIMIMI).
    pub link_keys: Vec<LinkKey>,
}

/// A hub's acknowledgement that a room exists or a handshake was accepted.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct RoomAck {
    /// Room URI.
    pub room: String,
}

/// Handshake messages submitted to the hub: a commit (with its Welcome and the new epoch's
/// GroupInfo) or standalone proposals.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct Handshake {
    /// Room URI.
    pub room: String,
    /// The submitting user's URI.
    pub sender: String,
    /// `MlsMessageOut` encodings of PublicMessages (one commit, or proposals).
    pub messages: Vec<VLBytes>,
    /// The Welcome for added clients, if any.
    pub welcome: Option<VLBytes>,
    /// The GroupInfo of the new epoch (committers upload one each epoch).
    pub group_info: Option<VLBytes>,
}

/// A request for a room's GroupInfo, to join it by external commit.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct GroupInfoRequest {
    /// Room URI.
    pub room: String,
    /// The requesting user's URI (MIMI; absent when the request is anonymous).
    pub requester: Option<String>,
}

/// A member's identity link key, encrypted under the room's wrapper key, as the hub stores it.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct LinkKey {
    /// The leaf's signature public key.
    pub signature_key: VLBytes,
    /// `wrap_identity_link_key` output.
    pub encrypted_key: VLBytes,
}

/// The hub's answer to a [`GroupInfoRequest`].
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct GroupInfoResponse {
    /// Room URI.
    pub room: String,
    /// The requesting user's URI, if the request named one.
    pub requester: Option<String>,
    /// `MlsMessageOut` encoding of the latest GroupInfo.
    pub group_info: VLBytes,
    /// TLS encoding of the hub's ratchet tree.
    pub ratchet_tree: VLBytes,
    /// The members' encrypted identity link keys.
    pub link_keys: Vec<LinkKey>,
}

/// An application message (PrivateMessage) submitted with the sending user's URI.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct AppMessage {
    /// Room URI.
    pub room: String,
    /// The sending user's URI.
    pub sender: String,
    /// `MlsMessageOut` encoding of the PrivateMessage.
    pub message: VLBytes,
}

/// What a [`Fanout`] carries.
pub mod fanout_kind {
    /// Handshake PublicMessages.
    pub const HANDSHAKE: u8 = 1;
    /// An application message.
    pub const APPLICATION: u8 = 2;
    /// A Welcome.
    pub const WELCOME: u8 = 3;
}

/// Hub to follower provider: messages for some of that provider's clients.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct Fanout {
    /// Room URI.
    pub room: String,
    /// The hub's acceptance timestamp (virtual microseconds).
    pub timestamp: u64,
    /// See [`fanout_kind`].
    pub kind: u8,
    /// The sending user's URI, for application messages (MIMI forwards it).
    pub sender: Option<String>,
    /// Client URIs whose queues receive the messages (MIMI routing).
    pub recipients: Vec<String>,
    /// Queue IDs sealed to the follower provider, from the members' leaves (MIMIMI routing).
    pub encrypted_recipients: Vec<VLBytes>,
    /// `MlsMessageOut` encodings.
    pub messages: Vec<VLBytes>,
    /// With a Welcome: the room's encrypted identity link keys.
    pub link_keys: Vec<LinkKey>,
    /// The room's state after this message, for a follower that starts following the room.
    pub room_state: Option<RoomState>,
}

/// What a follower needs to follow a room's handshakes: the latest GroupInfo and the tree.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct RoomState {
    /// `MlsMessageOut` encoding of the GroupInfo.
    pub group_info: VLBytes,
    /// TLS encoding of the ratchet tree.
    pub ratchet_tree: VLBytes,
}

/// A client registers its queue with its provider.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct QueueRegistration {
    /// The queue ID.
    pub queue_id: VLBytes,
}

/// A client registers a client pseudonym as an address of its queue (pseudonymous
/// credentials without encrypted queue IDs: the hub addresses fanout by client pseudonym).
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct PseudonymRegistration {
    /// The client pseudonym.
    pub client_pseudonym: String,
}

/// A user publishes its connection-establishment key at its provider.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct EstablishmentKeyPublish {
    /// The user's URI.
    pub user: String,
    /// HPKE public key.
    pub key: VLBytes,
}

/// A request for a user's connection-establishment key (answerable without authentication).
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct EstablishmentKeyFetch {
    /// The user's URI.
    pub user: String,
}

/// The answer to an [`EstablishmentKeyFetch`].
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct EstablishmentKeyResponse {
    /// The user's URI.
    pub user: String,
    /// HPKE public key.
    pub key: VLBytes,
}

/// A sealed ConnectionRequest for a user, left in its provider's inbox.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct ConnectionRequestDelivery {
    /// The responder's URI (the inbox).
    pub target: String,
    /// `seal_connection_request` output.
    pub sealed: VLBytes,
}

/// KeyPackages of one KeyPackage set, uploaded under the user's connection token.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct KeyPackageSetUpload {
    /// The user's connection token.
    pub token: VLBytes,
    /// The set's label (its user pseudonym, or a random label without pseudonyms).
    pub set: VLBytes,
    /// 1 for a last-resort set (replaces the previous one).
    pub last_resort: u8,
    /// This client's KeyPackages for the set.
    pub key_packages: Vec<VLBytes>,
}

/// A fetch of one KeyPackage set by connection token.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct KeyPackageFetch {
    /// The target user's connection token.
    pub token: VLBytes,
}

/// The answer to a [`KeyPackageFetch`].
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct KeyPackageFetchResponse {
    /// The token asked for.
    pub token: VLBytes,
    /// 1 when the set handed out is the (reused) last-resort set.
    pub last_resort: u8,
    /// One KeyPackage per client that completed the set.
    pub key_packages: Vec<VLBytes>,
}

/// Anonymous channel `none`: the own provider reads the request and forwards it.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct Forward {
    /// Domain of the provider the request is for.
    pub target: String,
    /// The request's [`Wire`] bytes, in clear.
    pub request: VLBytes,
}

/// Anonymous channel `relay`: an oblivious relay through the own provider. The request is
/// HPKE-sealed to the target provider (a [`RelayedRequest`]); the relay sees the target
/// domain, the size and the time.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct Relay {
    /// Domain of the provider the request is for.
    pub target: String,
    /// HPKE ciphertext of a [`RelayedRequest`].
    pub sealed: VLBytes,
}

/// The plaintext inside a [`Relay`].
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct RelayedRequest {
    /// A fresh HPKE public key the response is sealed to.
    pub response_key: VLBytes,
    /// The request's [`Wire`] bytes.
    pub request: VLBytes,
}

/// A response travelling back through the relay, sealed to the request's response key.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct RelayResponse {
    /// HPKE ciphertext of the response's [`Wire`] bytes.
    pub sealed: VLBytes,
}

/// Every message on the wire.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
#[repr(u8)]
pub enum Wire {
    /// See [`KeyPackageUpload`].
    #[tls_codec(discriminant = 1)]
    KeyPackageUpload(KeyPackageUpload),
    /// See [`KeyPackageClaim`].
    #[tls_codec(discriminant = 2)]
    KeyPackageClaim(KeyPackageClaim),
    /// See [`KeyPackageClaimResponse`].
    #[tls_codec(discriminant = 3)]
    KeyPackageClaimResponse(KeyPackageClaimResponse),
    /// A consent request.
    #[tls_codec(discriminant = 4)]
    ConsentRequest(Consent),
    /// A consent response.
    #[tls_codec(discriminant = 5)]
    ConsentResponse(Consent),
    /// See [`CreateRoom`].
    #[tls_codec(discriminant = 6)]
    CreateRoom(CreateRoom),
    /// See [`RoomAck`].
    #[tls_codec(discriminant = 7)]
    RoomAck(RoomAck),
    /// See [`Handshake`].
    #[tls_codec(discriminant = 8)]
    Handshake(Handshake),
    /// See [`GroupInfoRequest`].
    #[tls_codec(discriminant = 9)]
    GroupInfoRequest(GroupInfoRequest),
    /// See [`GroupInfoResponse`].
    #[tls_codec(discriminant = 10)]
    GroupInfoResponse(GroupInfoResponse),
    /// See [`AppMessage`].
    #[tls_codec(discriminant = 11)]
    AppMessage(AppMessage),
    /// See [`Fanout`].
    #[tls_codec(discriminant = 12)]
    Fanout(Fanout),
    /// See [`QueueRegistration`].
    #[tls_codec(discriminant = 13)]
    QueueRegistration(QueueRegistration),
    /// See [`EstablishmentKeyPublish`].
    #[tls_codec(discriminant = 14)]
    EstablishmentKeyPublish(EstablishmentKeyPublish),
    /// See [`EstablishmentKeyFetch`].
    #[tls_codec(discriminant = 15)]
    EstablishmentKeyFetch(EstablishmentKeyFetch),
    /// See [`EstablishmentKeyResponse`].
    #[tls_codec(discriminant = 16)]
    EstablishmentKeyResponse(EstablishmentKeyResponse),
    /// See [`ConnectionRequestDelivery`].
    #[tls_codec(discriminant = 17)]
    ConnectionRequestDelivery(ConnectionRequestDelivery),
    /// See [`KeyPackageSetUpload`].
    #[tls_codec(discriminant = 18)]
    KeyPackageSetUpload(KeyPackageSetUpload),
    /// See [`KeyPackageFetch`].
    #[tls_codec(discriminant = 19)]
    KeyPackageFetch(KeyPackageFetch),
    /// See [`KeyPackageFetchResponse`].
    #[tls_codec(discriminant = 20)]
    KeyPackageFetchResponse(KeyPackageFetchResponse),
    /// See [`Forward`].
    #[tls_codec(discriminant = 21)]
    Forward(Forward),
    /// See [`Relay`].
    #[tls_codec(discriminant = 22)]
    Relay(Relay),
    /// See [`RelayResponse`].
    #[tls_codec(discriminant = 23)]
    RelayResponse(RelayResponse),
    /// See [`PseudonymRegistration`].
    #[tls_codec(discriminant = 24)]
    PseudonymRegistration(PseudonymRegistration),
}

impl Wire {
    /// The flow name recorded in observations.
    pub fn flow(&self) -> &'static str {
        match self {
            Wire::KeyPackageUpload(_) => "kp_upload",
            Wire::KeyPackageClaim(_) => "kp_claim",
            Wire::KeyPackageClaimResponse(_) => "kp_claim_response",
            Wire::ConsentRequest(_) => "connect_request",
            Wire::ConsentResponse(_) => "connect_response",
            Wire::CreateRoom(_) => "room_create",
            Wire::RoomAck(_) => "room_ack",
            Wire::Handshake(_) => "handshake",
            Wire::GroupInfoRequest(_) => "groupinfo_request",
            Wire::GroupInfoResponse(_) => "groupinfo_response",
            Wire::AppMessage(_) => "app_message",
            Wire::Fanout(f) => match f.kind {
                fanout_kind::HANDSHAKE => "fanout_handshake",
                fanout_kind::APPLICATION => "fanout_message",
                _ => "fanout_welcome",
            },
            Wire::QueueRegistration(_) => "queue_registration",
            Wire::EstablishmentKeyPublish(_) => "establishment_key_publish",
            Wire::EstablishmentKeyFetch(_) => "establishment_key_fetch",
            Wire::EstablishmentKeyResponse(_) => "establishment_key_response",
            Wire::ConnectionRequestDelivery(_) => "connection_request",
            Wire::KeyPackageSetUpload(_) => "kp_set_upload",
            Wire::KeyPackageFetch(_) => "kp_fetch",
            Wire::KeyPackageFetchResponse(_) => "kp_fetch_response",
            Wire::Forward(_) => "forward",
            Wire::Relay(_) => "relay",
            Wire::RelayResponse(_) => "relay_response",
            Wire::PseudonymRegistration(_) => "pseudonym_registration",
        }
    }

    /// The room URI this message is about, if any.
    pub fn room(&self) -> Option<&str> {
        match self {
            Wire::KeyPackageUpload(_)
            | Wire::ConsentRequest(_)
            | Wire::ConsentResponse(_)
            | Wire::QueueRegistration(_)
            | Wire::EstablishmentKeyPublish(_)
            | Wire::EstablishmentKeyFetch(_)
            | Wire::EstablishmentKeyResponse(_)
            | Wire::ConnectionRequestDelivery(_)
            | Wire::KeyPackageSetUpload(_)
            | Wire::KeyPackageFetch(_)
            | Wire::KeyPackageFetchResponse(_)
            | Wire::Forward(_)
            | Wire::Relay(_)
            | Wire::RelayResponse(_)
            | Wire::PseudonymRegistration(_) => None,
            Wire::KeyPackageClaim(m) => Some(&m.room),
            Wire::KeyPackageClaimResponse(m) => Some(&m.room),
            Wire::CreateRoom(m) => Some(&m.room),
            Wire::RoomAck(m) => Some(&m.room),
            Wire::Handshake(m) => Some(&m.room),
            Wire::GroupInfoRequest(m) => Some(&m.room),
            Wire::GroupInfoResponse(m) => Some(&m.room),
            Wire::AppMessage(m) => Some(&m.room),
            Wire::Fanout(m) => Some(&m.room),
        }
    }

    /// Serializes for sending.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.tls_serialize_detached()
            .expect("wire structs always serialize")
    }

    /// Parses received bytes; trailing bytes are an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, tls_codec::Error> {
        let mut slice = bytes;
        let w = Wire::tls_deserialize(&mut slice)?;
        if !slice.is_empty() {
            return Err(tls_codec::Error::TrailingData);
        }
        Ok(w)
    }
}

/// `mimi://domain/u/name`
pub fn user_uri(domain: &str, name: &str) -> String {
    format!("mimi://{domain}/u/{name}")
}

/// `mimi://domain/d/name/n`
pub fn client_uri(domain: &str, name: &str, n: u32) -> String {
    format!("mimi://{domain}/d/{name}/{n}")
}

/// `mimi://hub/r/room`
pub fn room_uri(hub: &str, room: &str) -> String {
    format!("mimi://{hub}/r/{room}")
}

/// The user URI a client URI names (client URIs carry the user, as qualified client ids do).
pub fn user_of_client_uri(client: &str) -> Option<String> {
    let rest = client.strip_prefix("mimi://")?;
    let mut parts = rest.split('/');
    let (domain, d, name) = (parts.next()?, parts.next()?, parts.next()?);
    (d == "d").then(|| user_uri(domain, name))
}

/// The room name of a room URI.
pub fn room_name(room_uri: &str) -> Option<&str> {
    room_uri.rsplit_once("/r/").map(|(_, r)| r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_round_trips_and_rejects_trailing_bytes() {
        let w = Wire::Fanout(Fanout {
            room: room_uri("a.example", "lunch"),
            timestamp: 42,
            kind: fanout_kind::APPLICATION,
            sender: Some(user_uri("a.example", "alice")),
            recipients: vec![client_uri("b.example", "bob", 1)],
            encrypted_recipients: vec![],
            messages: vec![VLBytes::new(vec![1, 2, 3])],
            link_keys: vec![],
            room_state: None,
        });
        let bytes = w.to_bytes();
        assert_eq!(Wire::from_bytes(&bytes).unwrap(), w);
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Wire::from_bytes(&longer).is_err());
        assert!(Wire::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn client_uris_name_their_user() {
        let c = client_uri("b.example", "bob", 2);
        assert_eq!(user_of_client_uri(&c).unwrap(), "mimi://b.example/u/bob");
        assert_eq!(user_of_client_uri("mimi://b.example/u/bob"), None);
        assert_eq!(room_name("mimi://a.example/r/lunch"), Some("lunch"));
    }
}

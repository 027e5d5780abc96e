//! Wire structs of the plain MIMI baseline, TLS-encoded with tls_codec.
//!
//! Every message that passes between two parties is one [`Wire`] value serialized to bytes;
//! the receiver deserializes it, and what a provider observes is parsed from those bytes.
//! MLS messages travel inside as their own TLS encoding (`MlsMessageOut` bytes).

use tls_codec::{
    Deserialize as _, Serialize as _, TlsByteVecU32, TlsDeserialize, TlsSerialize, TlsSize, VLBytes,
};

/// KeyPackages uploaded by an authenticated client to its own provider.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct KeyPackageUpload {
    /// `MlsMessageOut` encodings of KeyPackages (last-resort ones carry the MLS extension).
    pub key_packages: Vec<VLBytes>,
}

/// `Protocol` value of MLS 1.0 in MIMI -06 requests.
pub const PROTOCOL_MLS10: u8 = 1;

/// MIMI -06 section 5.2 `KeyMaterialRequestTBS`: what a claim of one KeyPackage per client of
/// `target` for room `room` says, and what the requesting client signs.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct KeyMaterialRequestTbs {
    /// `protocol` (MLS 1.0).
    pub protocol: u8,
    /// `requestingUser`: the requesting user's URI.
    pub requester: String,
    /// `targetUser`: the user whose KeyPackages are claimed.
    pub target: String,
    /// `roomId`: the room URI.
    pub room: String,
    /// `acceptableCiphersuites`.
    pub ciphersuites: Vec<u16>,
    /// `requiredCapabilities`: TLS encoding of an MLS RequiredCapabilities extension.
    pub required_capabilities: VLBytes,
    /// `requesterSignatureKey`.
    pub requester_signature_key: VLBytes,
    /// `requesterCredential`: TLS encoding of the requesting client's MLS Credential.
    pub requester_credential: VLBytes,
}

/// MIMI -06 section 5.2 `KeyMaterialRequest` ("Fetch Key Material"), sent via the hub of the
/// room the KeyPackages are for: the TBS and `SignWithLabel(requesterSignatureKey,
/// "KeyMaterialRequestTBS", tbs)` (the same bytes as -06's flat struct).
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct KeyPackageClaim {
    pub tbs: KeyMaterialRequestTbs,
    /// `key_material_request_signature`.
    pub signature: VLBytes,
}

/// MIMI -06 `KeyMaterialUserCode` values used here.
pub mod key_material_code {
    /// Key material for every client (also the client code `success`).
    pub const SUCCESS: u8 = 0;
    /// Key material for some clients.
    pub const PARTIAL_SUCCESS: u8 = 1;
    /// Key material for no client (user code `noCompatibleMaterial`).
    pub const NO_MATERIAL: u8 = 3;
    /// Client code `keyMaterialExhausted`.
    pub const EXHAUSTED: u8 = 1;
}

/// MIMI -06 `ClientKeyMaterial`: one client of the target and its KeyPackage.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct ClientKeyMaterial {
    /// `clientStatus` (see [`key_material_code`]).
    pub status: u8,
    /// `clientUri`.
    pub client: String,
    /// `keyPackage`, present with `success` (`MlsMessageOut` encoding).
    pub key_package: Option<VLBytes>,
}

/// MIMI -06 section 5.2 `KeyMaterialResponse`, the answer to a [`KeyPackageClaim`].
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct KeyPackageClaimResponse {
    /// `protocol` (MLS 1.0).
    pub protocol: u8,
    /// `userStatus` (see [`key_material_code`]).
    pub user_status: u8,
    /// `userUri`: the user whose KeyPackages these are.
    pub target: String,
    /// `clients`.
    pub clients: Vec<ClientKeyMaterial>,
}

/// MIMI -06 `ConsentOperation` values.
pub mod consent_operation {
    pub const REQUEST: u8 = 1;
    pub const GRANT: u8 = 2;
}

/// An entry of an MLS `AppDataDictionary`: a component id and its data.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct ComponentData {
    pub component_id: u16,
    pub data: VLBytes,
}

/// The `consent_extensions` component that carries the sender's MIMIMI connection key,
/// HPKE-sealed to the other user's connection-establishment key (the ablation with
/// pseudonymous credentials and without encrypted connection requests: the consent itself
/// stays in clear).
pub const SEALED_CONNECTION_KEY_COMPONENT: u16 = 0xF0C1;

/// MIMI -06 section 5.7 `ConsentEntry`: a consent request (`requestConsent`) or a grant
/// (`updateConsent`) between two users. A target that declines sends nothing.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct Consent {
    /// `consentOperation` (see [`consent_operation`]).
    pub operation: u8,
    /// `requesterUri`: the user asking to connect.
    pub requester: String,
    /// `targetUri`: the user asked.
    pub target: String,
    /// `roomId`, when consent is asked for one room only (never, here).
    pub room: Option<String>,
    /// `clientKeyPackages` of a grant (empty here; -06 sends the field only with a grant,
    /// this encoding always: one byte).
    pub key_packages: Vec<VLBytes>,
    /// `consent_extensions`.
    pub extensions: Vec<ComponentData>,
}

impl Consent {
    /// The sealed connection key in the extensions, if any.
    pub fn sealed_connection_key(&self) -> Option<&VLBytes> {
        self.extensions
            .iter()
            .find(|c| c.component_id == SEALED_CONNECTION_KEY_COMPONENT)
            .map(|c| &c.data)
    }
}

/// A new room announced to its hub: the creator's GroupInfo and ratchet tree. (MIMI -06 makes
/// room creation local to the hub's provider; rooms hosted elsewhere need this message.)
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

/// MIMI -06 section 5.3 `UpdateRequest` (its `HandshakeBundle`), for `POST /update/{roomId}`:
/// a commit with its Welcome and the new epoch's GroupInfo, or proposals. It names no sender:
/// the hub reads the committer from the PublicMessage.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct Handshake {
    /// Room URI (the request path).
    pub room: String,
    /// `proposalOrCommit` and `moreProposals`: `MlsMessageOut` encodings of PublicMessages.
    pub messages: Vec<VLBytes>,
    /// `welcome`, for added clients (the ratchet tree travels inside its GroupInfo).
    pub welcome: Option<VLBytes>,
    /// `groupInfoOption` (full): the GroupInfo of the new epoch, without the tree.
    pub group_info: Option<VLBytes>,
}

/// MIMI -06 section 5.6 `GroupInfoRequestTBS`, for `POST /groupInfo/{roomId}`: the requesting
/// client's credential (real under MIMI; under MIMIMI the pseudonymous one it will join with,
/// which lets the hub correlate the request with the external commit) and a fresh HPKE key
/// the answer is encrypted to.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct GroupInfoRequestTbs {
    /// `protocol` (MLS 1.0).
    pub protocol: u8,
    /// Room URI (the request path).
    pub room: String,
    /// `cipher_suite`.
    pub ciphersuite: u16,
    /// `requestingSignatureKey`.
    pub signature_key: VLBytes,
    /// `requestingCredential`: TLS encoding of an MLS Credential.
    pub credential: VLBytes,
    /// `groupInfoPublicKey`.
    pub group_info_key: VLBytes,
    /// `joiningCode` (empty).
    pub joining_code: VLBytes,
}

/// MIMI -06 section 5.6 `GroupInfoRequest`: the TBS and its signature by the requesting key.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct GroupInfoRequest {
    pub tbs: GroupInfoRequestTbs,
    pub signature: VLBytes,
}

/// A member's identity link key, encrypted under the room's wrapper key, as the hub stores it.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct LinkKey {
    /// The leaf's signature public key.
    pub signature_key: VLBytes,
    /// `wrap_identity_link_key` output.
    pub encrypted_key: VLBytes,
}

/// MIMI -06 `GroupInfoRatchetTreeTBE`: what a GroupInfo answer encrypts to the requester.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct GroupInfoRatchetTreeTbe {
    /// `groupInfo`: `MlsMessageOut` encoding of the latest GroupInfo.
    pub group_info: VLBytes,
    /// `ratchetTreeOption` (full): TLS encoding of the hub's ratchet tree.
    pub ratchet_tree: VLBytes,
    /// `pending_proposals` (none: operations on a room are serialized).
    pub pending_proposals: Vec<VLBytes>,
    /// MIMIMI: the members' identity link keys encrypted under the room's wrapper key.
    pub link_keys: Vec<LinkKey>,
}

/// MIMI -06 section 5.6 `GroupInfoResponseTBS`: the GroupInfo, the tree and (MIMIMI) the
/// encrypted identity link keys, encrypted to the request's `groupInfoPublicKey`.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct GroupInfoResponseTbs {
    /// `version` (MLS 1.0).
    pub protocol: u8,
    /// `room_id`.
    pub room: String,
    /// `status` (1: success).
    pub status: u8,
    /// `cipher_suite`.
    pub ciphersuite: u16,
    /// `hub_sender`: the hub's signature key and credential (MLS `ExternalSender`).
    pub hub_signature_key: VLBytes,
    pub hub_credential: VLBytes,
    /// `encrypted_groupinfo_and_tree`: HPKE ciphertext of a [`GroupInfoRatchetTreeTbe`].
    pub encrypted: VLBytes,
}

/// MIMI -06 section 5.6 `GroupInfoResponse`: the TBS, signed by the hub.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct GroupInfoResponse {
    pub tbs: GroupInfoResponseTbs,
    /// `SignWithLabel(hub_sender.signature_key, "GroupInfoResponseTBS", tbs)`.
    pub signature: VLBytes,
}

/// MIMI -06 section 5.4 `SubmitMessageRequest`: an application message (PrivateMessage)
/// submitted with the sending user's URI (a pseudonym in a minimal metadata room).
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

/// MIMI -06 section 5.5 `FanoutMessage`, hub to a provider with members in the room
/// (`POST /notify/{roomId}`): the hub's timestamp and the MLS messages. It names neither the
/// sender nor, in plain MIMI, the recipients: a provider delivers to its own clients that are
/// members, which it knows. MIMIMI ("Message Fanout") adds the recipients' queue IDs sealed to
/// the provider.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct Fanout {
    /// Room URI (the request path).
    pub room: String,
    /// `timestamp`: the hub's acceptance time (virtual microseconds).
    pub timestamp: u64,
    /// See [`fanout_kind`].
    pub kind: u8,
    /// Queue IDs sealed to the provider, from the recipients' leaves (MIMIMI routing).
    pub encrypted_recipients: Vec<VLBytes>,
    /// Client pseudonyms of the recipients (the ablation with pseudonymous credentials and
    /// without encrypted queue IDs: fanout addressed by registered pseudonym).
    pub pseudonym_recipients: Vec<String>,
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

/// MIMIMI "KeyPackages", step 1: a client asks its provider which KeyPackage sets the user's
/// clients have uploaded under the connection token (over the anonymous channel).
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct KeyPackageSetList {
    /// The user's connection token.
    pub token: VLBytes,
}

/// One KeyPackage set a provider holds: its label, whether it is the last-resort set, and the
/// references of its KeyPackages (a client recognises its own).
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct KeyPackageSetSummary {
    pub set: VLBytes,
    pub last_resort: u8,
    pub key_package_refs: Vec<VLBytes>,
}

/// The answer to a [`KeyPackageSetList`]: the regular sets in order of first upload, then the
/// last-resort set.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct KeyPackageSetListResponse {
    pub token: VLBytes,
    pub sets: Vec<KeyPackageSetSummary>,
}

/// A device that goes away deletes its KeyPackages: on its account's session (`token` empty:
/// the provider drops every KeyPackage it keeps for the client), or under its user's connection
/// token over the anonymous channel (the provider drops the listed KeyPackages from the token's
/// sets). Neither MIMI -06 nor MIMIMI defines such a message; this is the simulator's.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct KeyPackageDelete {
    /// The user's connection token, or empty on the session.
    pub token: VLBytes,
    /// References of the device's KeyPackages.
    pub key_package_refs: Vec<VLBytes>,
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

/// The `padding` countermeasure's envelope: a message's [`Wire`] bytes followed by zero bytes,
/// so that the whole envelope is exactly a bucket size. Both vectors have a fixed 4-byte
/// length prefix, so the envelope is 9 bytes longer than the message plus its padding
/// ([`PADDING_OVERHEAD`]) whatever the sizes: discriminant 27, `u32` message length, the
/// message, `u32` padding length, the zero bytes.
#[derive(Clone, Debug, PartialEq, TlsSerialize, TlsDeserialize, TlsSize)]
pub struct Padded {
    /// The message's [`Wire`] bytes (never itself a `Padded`).
    pub message: TlsByteVecU32,
    /// Zero bytes.
    pub padding: TlsByteVecU32,
}

/// The discriminant of [`Wire::Padded`], the first byte of every padded message.
pub const PADDED_DISCRIMINANT: u8 = 27;

/// Bytes a [`Padded`] envelope adds besides the padding itself: the discriminant and two
/// 4-byte length prefixes.
pub const PADDING_OVERHEAD: usize = 9;

/// Wraps a message's [`Wire`] bytes in a [`Padded`] envelope of exactly `size` bytes; `None`
/// if `size` is less than the message plus [`PADDING_OVERHEAD`] or beyond a `u32` length.
pub fn pad(message: &[u8], size: usize) -> Option<Vec<u8>> {
    let padding = size
        .checked_sub(message.len())?
        .checked_sub(PADDING_OVERHEAD)?;
    let message_len = u32::try_from(message.len()).ok()?;
    let padding_len = u32::try_from(padding).ok()?;
    let mut out = Vec::with_capacity(size);
    out.push(PADDED_DISCRIMINANT);
    out.extend_from_slice(&message_len.to_be_bytes());
    out.extend_from_slice(message);
    out.extend_from_slice(&padding_len.to_be_bytes());
    out.resize(size, 0);
    Some(out)
}

/// How many of `bytes` a [`Padded`] envelope adds to the message inside (0 for bytes that are
/// not padded): read from the envelope's first length prefix.
pub fn padding_of(bytes: &[u8]) -> u64 {
    match bytes.get(1..5) {
        Some(len) if is_padded(bytes) => {
            let message = u32::from_be_bytes(len.try_into().expect("4 bytes"));
            (bytes.len() as u64).saturating_sub(u64::from(message))
        }
        _ => 0,
    }
}

/// Whether `bytes` are a padded message (a [`Padded`] envelope).
pub fn is_padded(bytes: &[u8]) -> bool {
    bytes.first() == Some(&PADDED_DISCRIMINANT)
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
    /// See [`KeyPackageSetList`].
    #[tls_codec(discriminant = 25)]
    KeyPackageSetList(KeyPackageSetList),
    /// See [`KeyPackageSetListResponse`].
    #[tls_codec(discriminant = 26)]
    KeyPackageSetListResponse(KeyPackageSetListResponse),
    /// See [`Padded`]: only on the wire, taken off by [`Wire::from_bytes`].
    #[tls_codec(discriminant = 27)]
    Padded(Padded),
    /// See [`KeyPackageDelete`].
    #[tls_codec(discriminant = 28)]
    KeyPackageDelete(KeyPackageDelete),
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
            Wire::KeyPackageSetList(_) => "kp_set_list",
            Wire::KeyPackageSetListResponse(_) => "kp_set_list_response",
            Wire::Padded(_) => "padded",
            Wire::KeyPackageDelete(_) => "kp_delete",
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
            | Wire::PseudonymRegistration(_)
            | Wire::KeyPackageSetList(_)
            | Wire::KeyPackageSetListResponse(_)
            | Wire::KeyPackageDelete(_)
            | Wire::Padded(_) => None,
            Wire::KeyPackageClaim(m) => Some(&m.tbs.room),
            Wire::KeyPackageClaimResponse(_) => None,
            Wire::CreateRoom(m) => Some(&m.room),
            Wire::RoomAck(m) => Some(&m.room),
            Wire::Handshake(m) => Some(&m.room),
            Wire::GroupInfoRequest(m) => Some(&m.tbs.room),
            Wire::GroupInfoResponse(m) => Some(&m.tbs.room),
            Wire::AppMessage(m) => Some(&m.room),
            Wire::Fanout(m) => Some(&m.room),
        }
    }

    /// Serializes for sending.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.tls_serialize_detached()
            .expect("wire structs always serialize")
    }

    /// Parses received bytes, taking off a [`Padded`] envelope (whose padding must be zero
    /// bytes and whose message must not be padded again); trailing bytes are an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, tls_codec::Error> {
        match Self::parse_exact(bytes)? {
            Wire::Padded(p) => {
                if p.padding.as_slice().iter().any(|&b| b != 0) {
                    return Err(tls_codec::Error::DecodingError(
                        "padding that is not zero bytes".into(),
                    ));
                }
                match Self::parse_exact(p.message.as_slice())? {
                    Wire::Padded(_) => Err(tls_codec::Error::DecodingError(
                        "a padded message padded again".into(),
                    )),
                    w => Ok(w),
                }
            }
            w => Ok(w),
        }
    }

    /// Parses bytes as one [`Wire`] value, envelope or not; trailing bytes are an error.
    fn parse_exact(bytes: &[u8]) -> Result<Self, tls_codec::Error> {
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
            encrypted_recipients: vec![],
            pseudonym_recipients: vec![client_uri("b.example", "bob", 1)],
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
    fn padding_envelopes_have_the_exact_size_and_round_trip() {
        let w = Wire::RoomAck(RoomAck {
            room: room_uri("a.example", "lunch"),
        });
        let bytes = w.to_bytes();
        assert!(pad(&bytes, bytes.len() + PADDING_OVERHEAD - 1).is_none());
        for size in [bytes.len() + PADDING_OVERHEAD, 256, 4096] {
            let padded = pad(&bytes, size).unwrap();
            assert_eq!(padded.len(), size);
            assert!(is_padded(&padded));
            assert_eq!(Wire::from_bytes(&padded).unwrap(), w);
            // The hand-written encoding is the derived one.
            let envelope = Wire::Padded(Padded {
                message: bytes.clone().into(),
                padding: vec![0; size - bytes.len() - PADDING_OVERHEAD].into(),
            });
            assert_eq!(envelope.to_bytes(), padded);
        }
        let mut dirty = pad(&bytes, 256).unwrap();
        *dirty.last_mut().unwrap() = 1;
        assert!(Wire::from_bytes(&dirty).is_err());
        let twice = pad(&pad(&bytes, 256).unwrap(), 512).unwrap();
        assert!(Wire::from_bytes(&twice).is_err());
    }

    #[test]
    fn client_uris_name_their_user() {
        let c = client_uri("b.example", "bob", 2);
        assert_eq!(user_of_client_uri(&c).unwrap(), "mimi://b.example/u/bob");
        assert_eq!(user_of_client_uri("mimi://b.example/u/bob"), None);
        assert_eq!(room_name("mimi://a.example/r/lunch"), Some("lunch"));
    }
}

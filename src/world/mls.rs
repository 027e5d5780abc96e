//! openmls plumbing shared by clients and hubs: group configuration, fixed lifetimes,
//! serialization helpers, and reading a leaf's identifiers.

use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use openmls::treesync::RatchetTreeIn;

use crate::observe::{digest, Items, Kind};
use crate::protocol::{self, PseudonymousCredential};
use crate::world::wire::user_of_client_uri;
use crate::world::SimError;

/// Past epochs whose secrets a member keeps, so application messages sent just before a
/// commit can still be read after it.
pub const MAX_PAST_EPOCHS: usize = 16;

/// A fixed lifetime (2023-11-14 to 2100-01-01): `Lifetime::new` would read the wall clock,
/// and openmls still checks lifetimes against it, so the bounds must cover any real date.
pub fn fixed_lifetime() -> Lifetime {
    Lifetime::init(1_700_000_000, 4_102_444_800)
}

/// The one ciphersuite the simulator uses.
pub use crate::crypto::CIPHERSUITE;

/// Leaf capabilities: the defaults, the last-resort KeyPackage extension, the MIMIMI queue ID
/// leaf extension and the pseudonymous credential type.
pub fn capabilities() -> Capabilities {
    Capabilities::new(
        None,
        None,
        Some(&[
            ExtensionType::LastResort,
            ExtensionType::Unknown(protocol::QUEUE_ID_EXTENSION_TYPE),
        ]),
        None,
        Some(&[
            CredentialType::Basic,
            CredentialType::Other(protocol::PSEUDONYMOUS_CREDENTIAL_TYPE),
        ]),
    )
}

/// The configuration every member joins with: handshakes in the clear (the hub must read
/// them), ratchet tree inside Welcomes, past epochs kept.
pub fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .max_past_epochs(MAX_PAST_EPOCHS)
        .build()
}

/// Wraps an openmls error with what was being done.
pub fn mls_err<E: std::fmt::Debug>(what: &'static str) -> impl FnOnce(E) -> SimError {
    move |e| SimError::Mls {
        what,
        detail: format!("{e:?}"),
    }
}

/// TLS-serializes an openmls value.
pub fn to_bytes(v: &impl tls_codec::Serialize) -> Vec<u8> {
    v.tls_serialize_detached()
        .expect("openmls values always serialize")
}

/// Parses an `MlsMessageIn`, requiring every byte to be used.
pub fn parse_message(bytes: &[u8]) -> Result<MlsMessageIn, SimError> {
    MlsMessageIn::tls_deserialize_exact(bytes).map_err(mls_err("parse an MLS message"))
}

/// Parses a ratchet tree.
pub fn parse_tree(bytes: &[u8]) -> Result<RatchetTreeIn, SimError> {
    RatchetTreeIn::tls_deserialize_exact(bytes).map_err(mls_err("parse a ratchet tree"))
}

/// Parses and verifies a KeyPackage sent as an `MlsMessageOut`.
pub fn parse_key_package(
    crypto: &impl openmls_traits::crypto::OpenMlsCrypto,
    bytes: &[u8],
) -> Result<KeyPackage, SimError> {
    match parse_message(bytes)?.extract() {
        MlsMessageBodyIn::KeyPackage(kp) => kp
            .validate(crypto, ProtocolVersion::Mls10)
            .map_err(mls_err("verify a KeyPackage")),
        _ => Err(SimError::Protocol("expected a KeyPackage".into())),
    }
}

/// The client URI a leaf's BasicCredential carries.
pub fn credential_uri(credential: &Credential) -> Result<String, SimError> {
    let basic =
        BasicCredential::try_from(credential.clone()).map_err(mls_err("read a credential"))?;
    String::from_utf8(basic.identity().to_vec())
        .map_err(|_| SimError::Protocol("credential identity is not UTF-8".into()))
}

/// Records one leaf (credential and signature key) as one subject: for a real credential the
/// client URI and the user URI it names, for a pseudonymous one the client and user
/// pseudonyms; and the signature key.
pub fn leaf_items(
    items: &mut Items,
    credential: &Credential,
    signature_key: &[u8],
) -> Result<u32, SimError> {
    let s = items.subject();
    credential_items(items, s, credential)?;
    items.push(s, Kind::SignatureKey, digest(signature_key));
    Ok(s)
}

/// Records into subject `s` what a credential names: the client URI and the user URI it
/// names (a real credential), or the client and user pseudonyms (a pseudonymous one).
pub fn credential_items(
    items: &mut Items,
    s: u32,
    credential: &Credential,
) -> Result<(), SimError> {
    match PseudonymousCredential::from_mls_credential(credential) {
        Ok(pc) => {
            items.push(s, Kind::ClientPseudonym, pc.client_pseudonym);
            items.push(s, Kind::UserPseudonym, pc.user_pseudonym);
        }
        Err(_) => {
            let client = credential_uri(credential)?;
            if let Some(user) = user_of_client_uri(&client) {
                items.push(s, Kind::UserId, user);
            }
            items.push(s, Kind::ClientId, client);
        }
    }
    Ok(())
}

/// Parses a TLS-encoded MLS Credential.
pub fn parse_credential(bytes: &[u8]) -> Result<Credential, SimError> {
    Credential::tls_deserialize_exact(bytes).map_err(mls_err("parse a credential"))
}

/// Records a leaf node as one subject (see [`leaf_items`]).
pub fn leaf_node_items(items: &mut Items, leaf: &LeafNode) -> Result<u32, SimError> {
    let s = leaf_items(items, leaf.credential(), leaf.signature_key().as_slice())?;
    if let Some(sealed) = protocol::queue_id_from_leaf_extensions(leaf.extensions()) {
        items.push(s, Kind::EncryptedQueueId, digest(&sealed));
    }
    Ok(s)
}

/// The address a leaf gives for fanout without encrypted queue IDs: its client pseudonym, or
/// its client URI.
pub fn leaf_address(credential: &Credential) -> Result<String, SimError> {
    match PseudonymousCredential::from_mls_credential(credential) {
        Ok(pc) => Ok(pc.client_pseudonym),
        Err(_) => credential_uri(credential),
    }
}

/// The domain a leaf names: that of its client pseudonym, or of its client URI.
pub fn leaf_domain(credential: &Credential) -> Result<String, SimError> {
    let name = match PseudonymousCredential::from_mls_credential(credential) {
        Ok(pc) => pc.client_pseudonym,
        Err(_) => credential_uri(credential)?,
    };
    let domain = match name.strip_prefix("mimi://") {
        Some(rest) => rest.split('/').next(),
        None => name.rsplit_once('@').map(|(_, d)| d),
    };
    domain
        .map(str::to_string)
        .ok_or_else(|| SimError::Protocol(format!("no domain in {name}")))
}

/// Records a KeyPackage: its leaf, and its reference in the same subject.
pub fn key_package_items(
    items: &mut Items,
    crypto: &impl openmls_traits::crypto::OpenMlsCrypto,
    kp: &KeyPackage,
) -> Result<u32, SimError> {
    let s = leaf_node_items(items, kp.leaf_node())?;
    let r = kp.hash_ref(crypto).map_err(mls_err("hash a KeyPackage"))?;
    items.push(s, Kind::KeyPackageRef, digest(r.as_slice()));
    Ok(s)
}

//! MIMIMI wire structs (draft-kohbrok-mimi-metadata-minimalization-01) and their cryptography:
//! pseudonymous credentials with encrypted identity links, connection requests and responses,
//! encrypted queue IDs, and the MLS extensions and AADs that carry them.
//!
//! Everything is encoded with `tls_codec`, as the draft specifies, and every random input (HPKE
//! seeds, AEAD nonces, pseudonyms) comes from the caller, so the same seed gives the same bytes.

mod connection;
mod credential;
mod group;
mod keys;
mod queue;

use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::signatures::{Signer, SignerError};
use openmls_traits::types::{CryptoError, HashType, SignatureScheme};
use tls_codec::{Serialize as _, TlsSerialize, TlsSize, VLBytes};

pub use self::connection::{
    open_connection_request, open_connection_response, seal_connection_request,
    seal_connection_response, ConnectionRequest, ConnectionResponse,
};
pub use self::credential::{
    identity_link_key, AuthError, AuthenticatedIdentity, IdentityLinkTbe, PseudonymousCredential,
    PseudonymousCredentialTbs,
};
pub use self::group::{AddAad, ExternalJoinAad, IdentityLinkExtension};
pub use self::keys::{
    unwrap_identity_link_key, wrap_identity_link_key, ConnectionKey, ConnectionToken,
    IdentityLinkKey, IdentityLinkWrapperKey,
};
pub use self::queue::{
    open_queue_id, queue_id_extension, queue_id_from_leaf_extensions, seal_queue_id,
};

/// Credential type of a [`PseudonymousCredential`] (an MLS `CredentialType::Other`).
/// MIMIMI -01 section "Pseudonymous credentials".
pub const PSEUDONYMOUS_CREDENTIAL_TYPE: u16 = 0xF001;

/// Leaf node extension type holding a client's encrypted queue ID.
/// MIMIMI -01 section "Message Fanout".
pub const QUEUE_ID_EXTENSION_TYPE: u16 = 0xF002;

/// GroupInfo extension type of the [`IdentityLinkExtension`] (sent to new members in a Welcome).
/// MIMIMI -01 section "Identity link wrapper key".
pub const IDENTITY_LINK_EXTENSION_TYPE: u16 = 0xF003;

/// The RFC 9420 prefix of every label in `ExpandWithLabel` and `SignWithLabel`.
const MLS_LABEL_PREFIX: &str = "MLS 1.0 ";

/// Errors of encoding, decoding and cryptography of the MIMIMI structs.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// A struct could not be TLS-encoded or -decoded.
    #[error("TLS codec: {0}")]
    Codec(#[from] tls_codec::Error),
    /// A cryptographic primitive failed (wrong key, tampered ciphertext, bad input length).
    #[error("crypto: {0}")]
    Crypto(#[from] CryptoError),
    /// The signer refused to sign.
    #[error("signing failed: {0:?}")]
    Sign(SignerError),
    /// Only Ed25519 (the simulator's ciphersuite) is supported for SignWithLabel.
    #[error("unsupported signature scheme {0:?}: only Ed25519 is supported")]
    UnsupportedSignatureScheme(SignatureScheme),
    /// An MLS credential is not a pseudonymous credential.
    #[error("credential type {0} is not the pseudonymous credential type")]
    WrongCredentialType(u16),
    /// A key or key-carrying field has the wrong length.
    #[error("{what}: expected {expected} bytes, got {got}")]
    BadLength {
        /// What was being read.
        what: &'static str,
        /// The required length.
        expected: usize,
        /// The length found.
        got: usize,
    },
}

impl From<SignerError> for ProtocolError {
    fn from(e: SignerError) -> Self {
        Self::Sign(e)
    }
}

/// RFC 9420 section 8: `KDFLabel`.
#[derive(TlsSerialize, TlsSize)]
struct KdfLabel {
    length: u16,
    label: VLBytes,
    context: VLBytes,
}

/// RFC 9420 section 5.1.2: `SignContent`.
#[derive(TlsSerialize, TlsSize)]
struct SignContent {
    label: VLBytes,
    content: VLBytes,
}

impl SignContent {
    fn encode(label: &str, content: &[u8]) -> Result<Vec<u8>, ProtocolError> {
        let sc = SignContent {
            label: format!("{MLS_LABEL_PREFIX}{label}").into_bytes().into(),
            content: content.into(),
        };
        Ok(sc.tls_serialize_detached()?)
    }
}

/// MLS `ExpandWithLabel` (RFC 9420 section 8) with HKDF-SHA256:
/// `HKDF-Expand(secret, KDFLabel{length, "MLS 1.0 " + label, context}, length)`.
pub fn expand_with_label(
    crypto: &impl OpenMlsCrypto,
    secret: &[u8],
    label: &str,
    context: &[u8],
    length: u16,
) -> Result<Vec<u8>, ProtocolError> {
    let info = KdfLabel {
        length,
        label: format!("{MLS_LABEL_PREFIX}{label}").into_bytes().into(),
        context: context.into(),
    }
    .tls_serialize_detached()?;
    let okm = crypto.hkdf_expand(HashType::Sha2_256, secret, &info, usize::from(length))?;
    Ok(okm.as_slice().to_vec())
}

/// MLS `SignWithLabel` (RFC 9420 section 5.1.2): a signature over the TLS-encoded
/// `SignContent{"MLS 1.0 " + label, content}`. Only Ed25519 signers are accepted, because
/// [`verify_with_label`] verifies with Ed25519 (the simulator's ciphersuite).
pub fn sign_with_label(
    signer: &impl Signer,
    label: &str,
    content: &[u8],
) -> Result<Vec<u8>, ProtocolError> {
    let scheme = signer.signature_scheme();
    if scheme != SignatureScheme::ED25519 {
        return Err(ProtocolError::UnsupportedSignatureScheme(scheme));
    }
    Ok(signer.sign(&SignContent::encode(label, content)?)?)
}

/// RFC 9420 section 5.1.3: `EncryptContext`.
#[derive(tls_codec::TlsSerialize, tls_codec::TlsSize)]
struct EncryptContext {
    label: VLBytes,
    context: VLBytes,
}

fn encrypt_context(label: &str, context: &[u8]) -> Result<Vec<u8>, ProtocolError> {
    encode(&EncryptContext {
        label: format!("{MLS_LABEL_PREFIX}{label}").into_bytes().into(),
        context: context.to_vec().into(),
    })
}

/// MLS `EncryptWithLabel` (RFC 9420 section 5.1.3): HPKE to `pk` with the `EncryptContext`
/// as info; the ephemeral key comes from `seed`. Returns the TLS-encoded `HPKECiphertext`.
pub fn encrypt_with_label(
    seed: [u8; 32],
    pk: &[u8],
    label: &str,
    context: &[u8],
    plaintext: &[u8],
) -> Result<VLBytes, ProtocolError> {
    connection::seal(seed, pk, &encrypt_context(label, context)?, plaintext)
}

/// MLS `DecryptWithLabel`, the inverse of [`encrypt_with_label`].
pub fn decrypt_with_label(
    sk: &[u8],
    label: &str,
    context: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, ProtocolError> {
    connection::open(sk, &encrypt_context(label, context)?, sealed)
}

/// MLS `VerifyWithLabel` (RFC 9420 section 5.1.2) for Ed25519 public keys.
pub fn verify_with_label(
    crypto: &impl OpenMlsCrypto,
    public_key: &[u8],
    label: &str,
    content: &[u8],
    signature: &[u8],
) -> Result<(), ProtocolError> {
    let data = SignContent::encode(label, content)?;
    crypto.verify_signature(SignatureScheme::ED25519, &data, public_key, signature)?;
    Ok(())
}

/// TLS-encodes a wire struct.
fn encode(value: &impl tls_codec::Serialize) -> Result<Vec<u8>, ProtocolError> {
    Ok(value.tls_serialize_detached()?)
}

/// TLS-encodes a struct built from keys, pseudonyms and ciphertexts of a simulated client.
/// `tls_codec` fails only on a vector of 2^30 bytes or more, which no such field comes near;
/// this serves the conversions that openmls expects to be infallible (credentials, extensions).
fn encode_bounded(value: &impl tls_codec::Serialize) -> Vec<u8> {
    value
        .tls_serialize_detached()
        .expect("MIMIMI structs hold no vector of 2^30 bytes or more")
}

/// TLS-decodes a wire struct that must fill `bytes` exactly.
fn decode<T: tls_codec::Deserialize>(bytes: &[u8]) -> Result<T, ProtocolError> {
    Ok(T::tls_deserialize_exact(bytes)?)
}

/// Copies a key from a byte slice, checking its length.
fn key_array<const N: usize>(what: &'static str, bytes: &[u8]) -> Result<[u8; N], ProtocolError> {
    bytes.try_into().map_err(|_| ProtocolError::BadLength {
        what,
        expected: N,
        got: bytes.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{signature_keys_from_seed, SimProvider};
    use openmls_traits::OpenMlsProvider;

    #[test]
    fn expand_with_label_matches_a_hand_built_kdf_label() {
        let provider = SimProvider::new([7; 32]);
        let crypto = provider.crypto();
        let secret = [0x42u8; 32];

        // KDFLabel{uint16 length = 32, opaque label<V>, opaque context<V>}: both vectors are
        // shorter than 64 bytes, so each length is one byte.
        let label = b"MLS 1.0 IdentityLinkKey";
        let context = b"some context";
        let mut info = vec![0x00, 0x20, label.len() as u8];
        info.extend_from_slice(label);
        info.push(context.len() as u8);
        info.extend_from_slice(context);
        let by_hand = crypto
            .hkdf_expand(HashType::Sha2_256, &secret, &info, 32)
            .unwrap();

        let derived = expand_with_label(crypto, &secret, "IdentityLinkKey", context, 32).unwrap();
        assert_eq!(derived, by_hand.as_slice());
        assert_eq!(derived.len(), 32);

        // Label, context and length each change the output.
        let other_label = expand_with_label(crypto, &secret, "IdentityLinkKeX", context, 32);
        let other_context = expand_with_label(crypto, &secret, "IdentityLinkKey", b"x", 32);
        let shorter = expand_with_label(crypto, &secret, "IdentityLinkKey", context, 16).unwrap();
        assert_ne!(other_label.unwrap(), derived);
        assert_ne!(other_context.unwrap(), derived);
        assert_eq!(shorter.len(), 16);
        assert_ne!(shorter[..], derived[..16]);
    }

    #[test]
    fn sign_with_label_binds_the_label() {
        let provider = SimProvider::new([7; 32]);
        let crypto = provider.crypto();
        let keys = signature_keys_from_seed([3; 32]);
        let sig = sign_with_label(&keys, "PseudonymousCredentialTBS", b"content").unwrap();
        verify_with_label(
            crypto,
            keys.public(),
            "PseudonymousCredentialTBS",
            b"content",
            &sig,
        )
        .unwrap();
        assert!(verify_with_label(crypto, keys.public(), "Other", b"content", &sig).is_err());
        assert!(verify_with_label(
            crypto,
            keys.public(),
            "PseudonymousCredentialTBS",
            b"contenT",
            &sig
        )
        .is_err());
    }
}

//! Typed MIMIMI keys, so that a wrapper key can never stand where a connection key is meant,
//! and the wrapping of identity link keys under a room's wrapper key.

use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::types::AeadType;
use tls_codec::VLBytes;

use super::{expand_with_label, key_array, ProtocolError};

/// AEAD of every symmetric MIMIMI encryption (identity links and wrapped identity link keys).
pub(super) const AEAD: AeadType = AeadType::ChaCha20Poly1305;

/// Nonce length of [`AEAD`].
pub(super) const NONCE_LEN: usize = 12;

/// Tag length of [`AEAD`].
const TAG_LEN: usize = 16;

/// A user's connection key: given to each of its connections, from it they derive the identity
/// link keys of the user's pseudonymous credentials.
/// MIMIMI -01 section "Connection establishment".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionKey(pub [u8; 32]);

/// The key that encrypts the identity link of one pseudonymous credential.
/// MIMIMI -01 section "Pseudonymous credentials".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IdentityLinkKey(pub [u8; 32]);

/// A room's identity link wrapper key, chosen by its creator and given to every member: the
/// identity link keys of new members travel wrapped under it.
/// MIMIMI -01 section "Identity link wrapper key".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IdentityLinkWrapperKey(pub [u8; 32]);

/// Indexes a user's KeyPackage sets at its provider; derived from the user's connection key, so
/// only connections can fetch them. MIMIMI -01 section "KeyPackage retrieval".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionToken(pub [u8; 16]);

impl ConnectionKey {
    /// Reads a connection key from the bytes of a wire field.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ProtocolError> {
        key_array("connection key", bytes).map(Self)
    }

    /// The connection token: `ExpandWithLabel(connection_key, "ConnectionToken", "", 16)`.
    /// MIMIMI -01 section "KeyPackage retrieval".
    pub fn token(&self, crypto: &impl OpenMlsCrypto) -> Result<ConnectionToken, ProtocolError> {
        let okm = expand_with_label(crypto, &self.0, "ConnectionToken", &[], 16)?;
        key_array("connection token", &okm).map(ConnectionToken)
    }
}

impl IdentityLinkKey {
    /// Reads an identity link key from bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ProtocolError> {
        key_array("identity link key", bytes).map(Self)
    }
}

impl IdentityLinkWrapperKey {
    /// Reads a wrapper key from the bytes of a wire field.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ProtocolError> {
        key_array("identity link wrapper key", bytes).map(Self)
    }
}

impl ConnectionToken {
    /// Short form for logs and tables: the first 8 bytes in hex.
    pub fn hex(&self) -> String {
        hex::encode(&self.0[..8])
    }
}

/// Wraps an identity link key under a room's wrapper key:
/// `nonce || ChaCha20-Poly1305(wrapper_key, nonce, identity_link_key, aad = "")`.
/// The nonce comes from the caller's seeded stream. MIMIMI -01 section "Add flow".
pub fn wrap_identity_link_key(
    crypto: &impl OpenMlsCrypto,
    wrapper_key: &IdentityLinkWrapperKey,
    identity_link_key: &IdentityLinkKey,
    nonce: [u8; NONCE_LEN],
) -> Result<VLBytes, ProtocolError> {
    let ct = crypto.aead_encrypt(AEAD, &wrapper_key.0, &identity_link_key.0, &nonce, &[])?;
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out.into())
}

/// Unwraps an identity link key made by [`wrap_identity_link_key`]; fails with a crypto error
/// under a wrong wrapper key or after tampering.
pub fn unwrap_identity_link_key(
    crypto: &impl OpenMlsCrypto,
    wrapper_key: &IdentityLinkWrapperKey,
    wrapped: &[u8],
) -> Result<IdentityLinkKey, ProtocolError> {
    let expected = NONCE_LEN + 32 + TAG_LEN;
    if wrapped.len() != expected {
        return Err(ProtocolError::BadLength {
            what: "wrapped identity link key",
            expected,
            got: wrapped.len(),
        });
    }
    let (nonce, ct) = wrapped.split_at(NONCE_LEN);
    let key = crypto.aead_decrypt(AEAD, &wrapper_key.0, ct, nonce, &[])?;
    IdentityLinkKey::from_slice(&key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SimProvider;
    use openmls_traits::types::CryptoError;
    use openmls_traits::OpenMlsProvider;

    #[test]
    fn wrapped_identity_link_keys_open_only_under_the_room_wrapper_key() {
        let provider = SimProvider::new([7; 32]);
        let crypto = provider.crypto();
        let wrapper = IdentityLinkWrapperKey([1; 32]);
        let key = IdentityLinkKey([2; 32]);

        let wrapped = wrap_identity_link_key(crypto, &wrapper, &key, [3; 12]).unwrap();
        assert_eq!(wrapped.as_slice().len(), 12 + 32 + 16);
        assert_eq!(&wrapped.as_slice()[..12], &[3; 12]);
        assert_eq!(
            unwrap_identity_link_key(crypto, &wrapper, wrapped.as_slice()).unwrap(),
            key
        );

        let wrong = IdentityLinkWrapperKey([9; 32]);
        assert!(matches!(
            unwrap_identity_link_key(crypto, &wrong, wrapped.as_slice()),
            Err(ProtocolError::Crypto(CryptoError::AeadDecryptionError))
        ));

        let mut tampered = wrapped.as_slice().to_vec();
        tampered[20] ^= 1;
        assert!(unwrap_identity_link_key(crypto, &wrapper, &tampered).is_err());
        assert!(matches!(
            unwrap_identity_link_key(crypto, &wrapper, &tampered[..40]),
            Err(ProtocolError::BadLength { .. })
        ));

        // A fresh nonce gives different bytes for the same key.
        let again = wrap_identity_link_key(crypto, &wrapper, &key, [4; 12]).unwrap();
        assert_ne!(again, wrapped);
    }

    #[test]
    fn connection_tokens_are_stable_and_differ_between_keys() {
        let provider = SimProvider::new([7; 32]);
        let crypto = provider.crypto();
        let a = ConnectionKey([1; 32]);
        let b = ConnectionKey([2; 32]);
        let token_a = a.token(crypto).unwrap();
        assert_eq!(token_a, a.token(crypto).unwrap());
        // Stable across providers too: the token depends on the key alone.
        assert_eq!(
            token_a,
            a.token(SimProvider::new([8; 32]).crypto()).unwrap()
        );
        assert_ne!(token_a, b.token(crypto).unwrap());

        let full = expand_with_label(crypto, &a.0, "ConnectionToken", &[], 16).unwrap();
        assert_eq!(token_a.0.as_slice(), full.as_slice());
        assert_eq!(token_a.hex(), hex::encode(&full[..8]));
        assert_eq!(token_a.hex().len(), 16);
    }
}

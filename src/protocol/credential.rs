//! Pseudonymous credentials: the MLS leaf credential under MIMIMI, which names only random
//! pseudonyms and carries the real credential encrypted under an identity link key that only
//! the user's connections (and fellow room members, through the wrapper key) can derive.
//! MIMIMI -01 section "Pseudonymous credentials".

use openmls::prelude::{BasicCredential, Credential, CredentialType};
use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::signatures::Signer;
use tls_codec::{TlsDeserialize, TlsSerialize, TlsSize, VLBytes};

use super::keys::{AEAD, NONCE_LEN};
use super::{
    decode, encode, encode_bounded, expand_with_label, sign_with_label, verify_with_label,
    ConnectionKey, IdentityLinkKey, ProtocolError, PSEUDONYMOUS_CREDENTIAL_TYPE,
};

/// Label of the real key's signature over a [`PseudonymousCredentialTbs`].
const TBS_SIGNATURE_LABEL: &str = "PseudonymousCredentialTBS";

/// The identity link key is unique per TBS (which holds a fresh client pseudonym and signature
/// key), so a fixed nonce never repeats under one key.
const IDENTITY_LINK_NONCE: [u8; NONCE_LEN] = [0; NONCE_LEN];

/// The signed part of a [`PseudonymousCredential`].
/// MIMIMI -01 section "Pseudonymous credentials" (`PseudonymousCredentialTBS`).
#[derive(TlsSerialize, TlsDeserialize, TlsSize, Clone, Debug, PartialEq, Eq)]
pub struct PseudonymousCredentialTbs {
    /// A random UUID at the user's domain, fresh per KeyPackage.
    pub client_pseudonym: String,
    /// A random UUID at the user's domain, shared by the user's leaves in one room.
    pub user_pseudonym: String,
    /// The leaf's signature public key, fresh per credential.
    pub signature_public_key: VLBytes,
}

/// The MLS leaf credential under MIMIMI (credential type [`PSEUDONYMOUS_CREDENTIAL_TYPE`]).
/// MIMIMI -01 section "Pseudonymous credentials".
#[derive(TlsSerialize, TlsDeserialize, TlsSize, Clone, Debug, PartialEq, Eq)]
pub struct PseudonymousCredential {
    /// A random UUID at the user's domain, fresh per KeyPackage.
    pub client_pseudonym: String,
    /// A random UUID at the user's domain, shared by the user's leaves in one room.
    pub user_pseudonym: String,
    /// The leaf's signature public key, fresh per credential.
    pub signature_public_key: VLBytes,
    /// The [`IdentityLinkTbe`], encrypted under the identity link key.
    pub identity_link_ciphertext: VLBytes,
}

/// Plaintext of a pseudonymous credential's `identity_link_ciphertext`: the link from the
/// pseudonyms to the real client. MIMIMI -01 section "Pseudonymous credentials"
/// (`IdentityLinkTBE`).
#[derive(TlsSerialize, TlsDeserialize, TlsSize, Clone, Debug, PartialEq, Eq)]
pub struct IdentityLinkTbe {
    /// `SignWithLabel(real key, "PseudonymousCredentialTBS", TBS)`.
    pub pseudonymous_credential_signature: VLBytes,
    /// TLS encoding of the real MLS credential (a BasicCredential with the client URI).
    pub client_credential: VLBytes,
    /// The real credential's public key: a BasicCredential does not carry it (an X.509
    /// credential would), so it travels next to it.
    pub client_signature_key: VLBytes,
}

/// The real identity behind a pseudonymous credential, after [`PseudonymousCredential::authenticate`].
/// The caller still checks that `client_signature_key` is the key the authentication service
/// lists for `client_uri`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthenticatedIdentity {
    /// The client URI of the real BasicCredential.
    pub client_uri: String,
    /// The real credential's signature public key.
    pub client_signature_key: Vec<u8>,
}

/// Why a pseudonymous credential failed to authenticate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The identity link did not decrypt: wrong identity link key or tampered ciphertext.
    #[error("the identity link does not decrypt (wrong key or tampered ciphertext)")]
    Decrypt,
    /// The identity link decrypted but its contents are not well-formed.
    #[error("malformed identity link: {0}")]
    Malformed(&'static str),
    /// The real key's signature over the credential's TBS does not verify.
    #[error("the real key's signature over the pseudonymous credential does not verify")]
    BadSignature,
    /// The credential names another signature key than the leaf it sits in.
    #[error("the credential's signature key is not the leaf's signature key")]
    LeafKeyMismatch,
}

/// The identity link key of a credential:
/// `ExpandWithLabel(connection_key, "IdentityLinkKey", PseudonymousCredentialTBS, KDF.Nh)`.
/// MIMIMI -01 section "Pseudonymous credentials".
pub fn identity_link_key(
    crypto: &impl OpenMlsCrypto,
    connection_key: &ConnectionKey,
    tbs: &PseudonymousCredentialTbs,
) -> Result<IdentityLinkKey, ProtocolError> {
    let okm = expand_with_label(
        crypto,
        &connection_key.0,
        "IdentityLinkKey",
        &encode(tbs)?,
        32,
    )?;
    IdentityLinkKey::from_slice(&okm)
}

impl IdentityLinkTbe {
    /// Encrypts this identity link under `key` (ChaCha20-Poly1305, zero nonce, empty AAD).
    pub fn encrypt(
        &self,
        crypto: &impl OpenMlsCrypto,
        key: &IdentityLinkKey,
    ) -> Result<VLBytes, ProtocolError> {
        let ct = crypto.aead_encrypt(AEAD, &key.0, &encode(self)?, &IDENTITY_LINK_NONCE, &[])?;
        Ok(ct.into())
    }

    /// Decrypts and parses an identity link.
    pub fn decrypt(
        crypto: &impl OpenMlsCrypto,
        key: &IdentityLinkKey,
        ciphertext: &[u8],
    ) -> Result<Self, AuthError> {
        let ptxt = crypto
            .aead_decrypt(AEAD, &key.0, ciphertext, &IDENTITY_LINK_NONCE, &[])
            .map_err(|_| AuthError::Decrypt)?;
        decode(&ptxt).map_err(|_| AuthError::Malformed("identity link encoding"))
    }
}

impl PseudonymousCredential {
    /// Builds the credential for `tbs`: signs it with the real key, links it to the real
    /// credential, and encrypts the link under the identity link key derived from the user's
    /// connection key. Returns the credential and that identity link key (which the client
    /// hands to fellow members, wrapped under each room's wrapper key).
    /// MIMIMI -01 section "Pseudonymous credentials".
    pub fn new(
        crypto: &impl OpenMlsCrypto,
        tbs: PseudonymousCredentialTbs,
        real_signer: &impl Signer,
        real_credential: &Credential,
        real_signature_key: &[u8],
        connection_key: &ConnectionKey,
    ) -> Result<(Self, IdentityLinkKey), ProtocolError> {
        let signature = sign_with_label(real_signer, TBS_SIGNATURE_LABEL, &encode(&tbs)?)?;
        let tbe = IdentityLinkTbe {
            pseudonymous_credential_signature: signature.into(),
            client_credential: encode(real_credential)?.into(),
            client_signature_key: real_signature_key.into(),
        };
        let key = identity_link_key(crypto, connection_key, &tbs)?;
        let identity_link_ciphertext = tbe.encrypt(crypto, &key)?;
        let credential = Self {
            client_pseudonym: tbs.client_pseudonym,
            user_pseudonym: tbs.user_pseudonym,
            signature_public_key: tbs.signature_public_key,
            identity_link_ciphertext,
        };
        Ok((credential, key))
    }

    /// The signed part of this credential.
    pub fn tbs(&self) -> PseudonymousCredentialTbs {
        PseudonymousCredentialTbs {
            client_pseudonym: self.client_pseudonym.clone(),
            user_pseudonym: self.user_pseudonym.clone(),
            signature_public_key: self.signature_public_key.clone(),
        }
    }

    /// This credential as an MLS credential of type [`PSEUDONYMOUS_CREDENTIAL_TYPE`].
    pub fn to_mls_credential(&self) -> Credential {
        Credential::new(
            CredentialType::Other(PSEUDONYMOUS_CREDENTIAL_TYPE),
            encode_bounded(self),
        )
    }

    /// Reads a pseudonymous credential out of an MLS credential.
    pub fn from_mls_credential(credential: &Credential) -> Result<Self, ProtocolError> {
        let credential_type = u16::from(credential.credential_type());
        if credential_type != PSEUDONYMOUS_CREDENTIAL_TYPE {
            return Err(ProtocolError::WrongCredentialType(credential_type));
        }
        decode(credential.serialized_content())
    }

    /// Authenticates this credential with its identity link key: decrypts the identity link,
    /// verifies the real key's signature over the TBS and checks that the credential belongs to
    /// the leaf whose signature key is `leaf_signature_key`.
    /// MIMIMI -01 section "Pseudonymous credentials".
    pub fn authenticate(
        &self,
        crypto: &impl OpenMlsCrypto,
        key: &IdentityLinkKey,
        leaf_signature_key: &[u8],
    ) -> Result<AuthenticatedIdentity, AuthError> {
        let tbe = IdentityLinkTbe::decrypt(crypto, key, self.identity_link_ciphertext.as_slice())?;
        let real: Credential = decode(tbe.client_credential.as_slice())
            .map_err(|_| AuthError::Malformed("client credential encoding"))?;
        let basic = BasicCredential::try_from(real)
            .map_err(|_| AuthError::Malformed("client credential is not a BasicCredential"))?;
        let client_uri = String::from_utf8(basic.identity().to_vec())
            .map_err(|_| AuthError::Malformed("client URI is not UTF-8"))?;
        let tbs = encode(&self.tbs()).map_err(|_| AuthError::Malformed("TBS encoding"))?;
        verify_with_label(
            crypto,
            tbe.client_signature_key.as_slice(),
            TBS_SIGNATURE_LABEL,
            &tbs,
            tbe.pseudonymous_credential_signature.as_slice(),
        )
        .map_err(|_| AuthError::BadSignature)?;
        if self.signature_public_key.as_slice() != leaf_signature_key {
            return Err(AuthError::LeafKeyMismatch);
        }
        Ok(AuthenticatedIdentity {
            client_uri,
            client_signature_key: tbe.client_signature_key.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SimSigner;
    use crate::crypto::{signature_keys_from_seed, SimProvider};
    use openmls_traits::OpenMlsProvider;

    const ALICE_URI: &str = "mimi://a.example/d/alice/1";

    struct Alice {
        real_keys: SimSigner,
        real_credential: Credential,
        leaf_keys: SimSigner,
        connection_key: ConnectionKey,
    }

    fn alice() -> Alice {
        Alice {
            real_keys: signature_keys_from_seed([1; 32]),
            real_credential: BasicCredential::new(ALICE_URI.as_bytes().to_vec()).into(),
            leaf_keys: signature_keys_from_seed([2; 32]),
            connection_key: ConnectionKey([3; 32]),
        }
    }

    fn tbs(leaf_keys: &SimSigner) -> PseudonymousCredentialTbs {
        PseudonymousCredentialTbs {
            client_pseudonym: "6f0c2a4e-1b7d-4e55-9a3c-8d2f1e0b7c61@a.example".into(),
            user_pseudonym: "0b9e7d3a-52c4-4f1e-8a6b-3c7d9e1f2a40@a.example".into(),
            signature_public_key: leaf_keys.public().into(),
        }
    }

    #[test]
    fn only_the_right_identity_link_key_reveals_the_real_client() {
        let provider = SimProvider::new([7; 32]);
        let crypto = provider.crypto();
        let a = alice();
        let (credential, key) = PseudonymousCredential::new(
            crypto,
            tbs(&a.leaf_keys),
            &a.real_keys,
            &a.real_credential,
            a.real_keys.public(),
            &a.connection_key,
        )
        .unwrap();
        assert_eq!(
            key,
            identity_link_key(crypto, &a.connection_key, &credential.tbs()).unwrap()
        );

        // The MLS credential names no real identity, and survives the round trip.
        let mls = credential.to_mls_credential();
        assert_eq!(
            mls.credential_type(),
            CredentialType::Other(PSEUDONYMOUS_CREDENTIAL_TYPE)
        );
        let uri = ALICE_URI.as_bytes();
        assert!(!mls
            .serialized_content()
            .windows(uri.len())
            .any(|w| w == uri));
        let back = PseudonymousCredential::from_mls_credential(&mls).unwrap();
        assert_eq!(back, credential);

        // Right key: the real client, with its real signature key.
        let identity = back
            .authenticate(crypto, &key, a.leaf_keys.public())
            .unwrap();
        assert_eq!(
            identity,
            AuthenticatedIdentity {
                client_uri: ALICE_URI.to_string(),
                client_signature_key: a.real_keys.public().to_vec(),
            }
        );

        // A key derived from another connection key does not decrypt.
        let other = identity_link_key(crypto, &ConnectionKey([4; 32]), &back.tbs()).unwrap();
        assert_eq!(
            back.authenticate(crypto, &other, a.leaf_keys.public()),
            Err(AuthError::Decrypt)
        );

        // One flipped ciphertext byte: no decryption.
        let mut tampered = back.clone();
        let mut ct = tampered.identity_link_ciphertext.as_slice().to_vec();
        ct[5] ^= 0x01;
        tampered.identity_link_ciphertext = ct.into();
        assert_eq!(
            tampered.authenticate(crypto, &key, a.leaf_keys.public()),
            Err(AuthError::Decrypt)
        );

        // The credential sits in a leaf with another signature key.
        let stranger = signature_keys_from_seed([5; 32]);
        assert_eq!(
            back.authenticate(crypto, &key, stranger.public()),
            Err(AuthError::LeafKeyMismatch)
        );
    }

    #[test]
    fn an_identity_link_signed_by_another_key_is_rejected() {
        let provider = SimProvider::new([7; 32]);
        let crypto = provider.crypto();
        let a = alice();
        let mallory = signature_keys_from_seed([6; 32]);
        let tbs = tbs(&a.leaf_keys);

        // Claims Alice's real key and credential, but the signature is Mallory's; the identity
        // link key is a correct one, so the link decrypts.
        let key = identity_link_key(crypto, &a.connection_key, &tbs).unwrap();
        let forged_tbe = IdentityLinkTbe {
            pseudonymous_credential_signature: sign_with_label(
                &mallory,
                TBS_SIGNATURE_LABEL,
                &encode(&tbs).unwrap(),
            )
            .unwrap()
            .into(),
            client_credential: encode(&a.real_credential).unwrap().into(),
            client_signature_key: a.real_keys.public().into(),
        };
        let forged = PseudonymousCredential {
            client_pseudonym: tbs.client_pseudonym.clone(),
            user_pseudonym: tbs.user_pseudonym.clone(),
            signature_public_key: tbs.signature_public_key.clone(),
            identity_link_ciphertext: forged_tbe.encrypt(crypto, &key).unwrap(),
        };
        assert_eq!(
            forged.authenticate(crypto, &key, a.leaf_keys.public()),
            Err(AuthError::BadSignature)
        );

        // A genuine signature over another TBS (another pseudonym) does not transfer either.
        let mut other_tbs = tbs.clone();
        other_tbs.client_pseudonym = "another@a.example".into();
        let (genuine, _) = PseudonymousCredential::new(
            crypto,
            other_tbs,
            &a.real_keys,
            &a.real_credential,
            a.real_keys.public(),
            &a.connection_key,
        )
        .unwrap();
        let genuine_key = identity_link_key(crypto, &a.connection_key, &genuine.tbs()).unwrap();
        let genuine_tbe = IdentityLinkTbe::decrypt(
            crypto,
            &genuine_key,
            genuine.identity_link_ciphertext.as_slice(),
        )
        .unwrap();
        let transplanted = PseudonymousCredential {
            identity_link_ciphertext: genuine_tbe.encrypt(crypto, &key).unwrap(),
            ..forged
        };
        assert_eq!(
            transplanted.authenticate(crypto, &key, a.leaf_keys.public()),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn from_mls_credential_rejects_other_credentials() {
        let basic: Credential = BasicCredential::new(ALICE_URI.as_bytes().to_vec()).into();
        assert!(matches!(
            PseudonymousCredential::from_mls_credential(&basic),
            Err(ProtocolError::WrongCredentialType(1))
        ));
        let garbage = Credential::new(
            CredentialType::Other(PSEUDONYMOUS_CREDENTIAL_TYPE),
            vec![0xff, 0x00, 0x01],
        );
        assert!(matches!(
            PseudonymousCredential::from_mls_credential(&garbage),
            Err(ProtocolError::Codec(_))
        ));
    }

    #[test]
    fn same_inputs_give_the_same_credential() {
        let provider = SimProvider::new([7; 32]);
        let crypto = provider.crypto();
        let a = alice();
        let make = || {
            PseudonymousCredential::new(
                crypto,
                tbs(&a.leaf_keys),
                &a.real_keys,
                &a.real_credential,
                a.real_keys.public(),
                &a.connection_key,
            )
            .unwrap()
        };
        assert_eq!(make(), make());
    }
}

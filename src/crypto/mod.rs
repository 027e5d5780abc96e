//! Deterministic cryptography for openmls and hpke-rs.
//!
//! Stock openmls providers draw from the operating system. The simulator must give the same
//! bytes for the same seed, so this module supplies an [`OpenMlsProvider`] whose randomness is a
//! seeded ChaCha20 stream, whose HPKE encryptions take their ephemeral keys from a seed derived
//! from the provider's secret and the call's inputs, and signature keys built from seeded bytes.
//! Input-derived HPKE seeds keep openmls' parallel path encryption independent of thread order.

mod hpke;
pub mod ops;

use std::sync::Mutex;

use openmls::prelude::{Ciphersuite, SignatureScheme};
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::{MemoryStorage, RustCrypto};
use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::random::OpenMlsRand;
use openmls_traits::types::{
    AeadType, CryptoError, ExporterSecret, HashType, HpkeCiphertext, HpkeConfig, HpkeKeyPair,
    KemOutput,
};
use openmls_traits::OpenMlsProvider;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use tls_codec::SecretVLBytes;

pub use self::hpke::{hpke_open, hpke_seal_seeded, HpkeKeys};

/// The one ciphersuite the simulator uses (X25519, AES-128-GCM, SHA-256, Ed25519).
pub const CIPHERSUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

/// A 32-byte seed for a named random stream: SHA-256 over (seed, run, stable entity name).
/// Adding an entity never shifts another entity's stream, because names, not positions, key it.
pub fn stream_seed(seed: u64, run: u64, name: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"mimimi-sim stream v1\0");
    h.update(seed.to_be_bytes());
    h.update(run.to_be_bytes());
    h.update((name.len() as u64).to_be_bytes());
    h.update(name.as_bytes());
    h.finalize().into()
}

/// A seeded ChaCha20 stream for one named entity.
pub fn stream(seed: u64, run: u64, name: &str) -> ChaCha20Rng {
    ChaCha20Rng::from_seed(stream_seed(seed, run, name))
}

/// Derives a sub-seed from a 32-byte secret and a label (for keys that must not consume
/// an entity's main stream).
pub fn derive_seed(secret: &[u8; 32], label: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"mimimi-sim derive v1\0");
    h.update(secret);
    h.update((label.len() as u64).to_be_bytes());
    h.update(label);
    h.finalize().into()
}

/// An Ed25519 signature key pair from 32 seeded bytes (Ed25519 signing itself is deterministic).
pub fn signature_keys_from_seed(seed: [u8; 32]) -> SimSigner {
    let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
    let pk = sk.verifying_key().to_bytes().to_vec();
    SimSigner(SignatureKeyPair::from_raw(
        SignatureScheme::ED25519,
        seed.to_vec(),
        pk,
    ))
}

/// An Ed25519 signing key (openmls's `SignatureKeyPair`) that counts the signatures made with
/// it ([`ops`]); openmls and the simulator's own messages sign through it.
#[derive(Debug)]
pub struct SimSigner(SignatureKeyPair);

impl SimSigner {
    /// The public key.
    pub fn public(&self) -> &[u8] {
        self.0.public()
    }
}

impl openmls_traits::signatures::Signer for SimSigner {
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, openmls_traits::signatures::SignerError> {
        ops::count(|o| o.signatures += 1);
        self.0.sign(payload)
    }

    fn signature_scheme(&self) -> SignatureScheme {
        self.0.signature_scheme()
    }
}

/// Errors of the seeded random source.
#[derive(Debug, thiserror::Error)]
pub enum SimRandError {
    /// The lock guarding the stream was poisoned by a panic elsewhere.
    #[error("the random stream's lock is poisoned")]
    Poisoned,
}

/// [`OpenMlsRand`] over a seeded ChaCha20 stream.
#[derive(Debug)]
pub struct SeededRand(Mutex<ChaCha20Rng>);

impl SeededRand {
    /// A stream starting from `seed`.
    pub fn new(seed: [u8; 32]) -> Self {
        Self(Mutex::new(ChaCha20Rng::from_seed(seed)))
    }

    /// Fills `out` from the stream.
    pub fn fill(&self, out: &mut [u8]) -> Result<(), SimRandError> {
        self.0
            .lock()
            .map_err(|_| SimRandError::Poisoned)?
            .fill_bytes(out);
        Ok(())
    }
}

impl OpenMlsRand for SeededRand {
    type Error = SimRandError;

    fn random_array<const N: usize>(&self) -> Result<[u8; N], Self::Error> {
        let mut out = [0u8; N];
        self.fill(&mut out)?;
        Ok(out)
    }

    fn random_vec(&self, len: usize) -> Result<Vec<u8>, Self::Error> {
        let mut out = vec![0u8; len];
        self.fill(&mut out)?;
        Ok(out)
    }
}

/// [`OpenMlsCrypto`] that delegates to [`RustCrypto`] except where randomness is drawn:
/// HPKE encryption uses seeds derived from `secret` and the call's inputs, and signature key
/// generation is refused (keys come from [`signature_keys_from_seed`]).
#[derive(Debug)]
pub struct SimCrypto {
    inner: RustCrypto,
    secret: [u8; 32],
}

impl SimCrypto {
    /// Seed for one HPKE encryption: a hash of the secret, a label and every input.
    fn hpke_seed(&self, label: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"mimimi-sim hpke v1\0");
        h.update(self.secret);
        h.update(label);
        for p in parts {
            h.update((p.len() as u64).to_be_bytes());
            h.update(p);
        }
        h.finalize().into()
    }
}

impl OpenMlsCrypto for SimCrypto {
    fn supports(&self, ciphersuite: Ciphersuite) -> Result<(), CryptoError> {
        self.inner.supports(ciphersuite)
    }

    fn supported_ciphersuites(&self) -> Vec<Ciphersuite> {
        self.inner.supported_ciphersuites()
    }

    fn hkdf_extract(
        &self,
        hash_type: HashType,
        salt: &[u8],
        ikm: &[u8],
    ) -> Result<SecretVLBytes, CryptoError> {
        self.inner.hkdf_extract(hash_type, salt, ikm)
    }

    fn hmac(
        &self,
        hash_type: HashType,
        key: &[u8],
        message: &[u8],
    ) -> Result<SecretVLBytes, CryptoError> {
        self.inner.hmac(hash_type, key, message)
    }

    fn hkdf_expand(
        &self,
        hash_type: HashType,
        prk: &[u8],
        info: &[u8],
        okm_len: usize,
    ) -> Result<SecretVLBytes, CryptoError> {
        self.inner.hkdf_expand(hash_type, prk, info, okm_len)
    }

    fn hash(&self, hash_type: HashType, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.inner.hash(hash_type, data)
    }

    fn aead_encrypt(
        &self,
        alg: AeadType,
        key: &[u8],
        data: &[u8],
        nonce: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.inner.aead_encrypt(alg, key, data, nonce, aad)
    }

    fn aead_decrypt(
        &self,
        alg: AeadType,
        key: &[u8],
        ct_tag: &[u8],
        nonce: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.inner.aead_decrypt(alg, key, ct_tag, nonce, aad)
    }

    fn signature_key_gen(&self, _alg: SignatureScheme) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
        // Would draw from the OS: every key in the simulator comes from a named stream.
        Err(CryptoError::InsufficientRandomness)
    }

    fn verify_signature(
        &self,
        alg: SignatureScheme,
        data: &[u8],
        pk: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        ops::count(|o| o.verifications += 1);
        self.inner.verify_signature(alg, data, pk, signature)
    }

    fn sign(&self, alg: SignatureScheme, data: &[u8], key: &[u8]) -> Result<Vec<u8>, CryptoError> {
        ops::count(|o| o.signatures += 1);
        self.inner.sign(alg, data, key)
    }

    fn hpke_seal(
        &self,
        config: HpkeConfig,
        pk_r: &[u8],
        info: &[u8],
        aad: &[u8],
        ptxt: &[u8],
    ) -> Result<HpkeCiphertext, CryptoError> {
        let seed = self.hpke_seed(b"seal", &[pk_r, info, aad, ptxt]);
        hpke::seal_with_config(config, seed, pk_r, info, aad, ptxt)
    }

    fn hpke_open(
        &self,
        config: HpkeConfig,
        input: &HpkeCiphertext,
        sk_r: &[u8],
        info: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        ops::count(|o| o.hpke_opens += 1);
        self.inner.hpke_open(config, input, sk_r, info, aad)
    }

    fn hpke_setup_sender_and_export(
        &self,
        config: HpkeConfig,
        pk_r: &[u8],
        info: &[u8],
        exporter_context: &[u8],
        exporter_length: usize,
    ) -> Result<(KemOutput, ExporterSecret), CryptoError> {
        let len = (exporter_length as u64).to_be_bytes();
        let seed = self.hpke_seed(b"export", &[pk_r, info, exporter_context, &len]);
        hpke::setup_sender_and_export(config, seed, pk_r, info, exporter_context, exporter_length)
    }

    fn hpke_setup_receiver_and_export(
        &self,
        config: HpkeConfig,
        enc: &[u8],
        sk_r: &[u8],
        info: &[u8],
        exporter_context: &[u8],
        exporter_length: usize,
    ) -> Result<ExporterSecret, CryptoError> {
        ops::count(|o| o.hpke_opens += 1);
        self.inner.hpke_setup_receiver_and_export(
            config,
            enc,
            sk_r,
            info,
            exporter_context,
            exporter_length,
        )
    }

    fn derive_hpke_keypair(
        &self,
        config: HpkeConfig,
        ikm: &[u8],
    ) -> Result<HpkeKeyPair, CryptoError> {
        ops::count(|o| o.hpke_key_derivations += 1);
        self.inner.derive_hpke_keypair(config, ikm)
    }
}

/// The simulator's [`OpenMlsProvider`]: one per simulated client (and one per hub), each with
/// its own seed, its own storage and its own HPKE secret.
#[derive(Debug)]
pub struct SimProvider {
    crypto: SimCrypto,
    rand: SeededRand,
    storage: MemoryStorage,
}

impl SimProvider {
    /// A provider whose randomness and HPKE seeds all derive from `seed`.
    pub fn new(seed: [u8; 32]) -> Self {
        Self {
            crypto: SimCrypto {
                inner: RustCrypto::default(),
                secret: derive_seed(&seed, b"hpke"),
            },
            rand: SeededRand::new(derive_seed(&seed, b"rand")),
            // Groups live in memory and are never loaded: their state is not written.
            storage: MemoryStorage::without_group_state(),
        }
    }
}

impl OpenMlsProvider for SimProvider {
    type CryptoProvider = SimCrypto;
    type RandProvider = SeededRand;
    type StorageProvider = MemoryStorage;

    fn storage(&self) -> &Self::StorageProvider {
        &self.storage
    }

    fn crypto(&self) -> &Self::CryptoProvider {
        &self.crypto
    }

    fn rand(&self) -> &Self::RandProvider {
        &self.rand
    }
}

//! hpke-rs with seeded ephemeral keys.
//!
//! hpke-rs builds a fresh OS-seeded PRNG in every `Hpke::new`; its PRNG comes from the
//! `HpkeCrypto` implementation, through a function without arguments. [`SeededHpke`] is
//! hpke-rs-rust-crypto with one difference: that function reads a seed that the caller placed in
//! a thread-local slot just before, and a PRNG without a seed panics on first use, so a missed
//! seed can never fall back to the OS quietly.

use std::cell::Cell;

use hpke_rs::hpke_types::{AeadAlgorithm, KdfAlgorithm, KemAlgorithm};
use hpke_rs::{Hpke, Mode};
use hpke_rs_crypto::error::Error;
use hpke_rs_crypto::{HpkeCrypto, HpkeTestRng};
use hpke_rs_rust_crypto::HpkeRustCrypto;
use openmls_traits::types::{
    CryptoError, ExporterSecret, HpkeAeadType, HpkeCiphertext, HpkeConfig, HpkeKdfType, HpkeKemType,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{Infallible, Rng, SeedableRng, TryCryptoRng, TryRng};

thread_local! {
    /// The seed for the next `SeededHpke::prng()` on this thread, taken by that call.
    static NEXT_SEED: Cell<Option<[u8; 32]>> = const { Cell::new(None) };
}

/// PRNG handed to hpke-rs: ChaCha20 from a seed, or nothing (panics when drawn from).
pub struct SeededPrng(Option<ChaCha20Rng>);

impl SeededPrng {
    fn rng(&mut self) -> &mut ChaCha20Rng {
        self.0
            .as_mut()
            .expect("HPKE drew randomness without a seed: call through hpke_seal_seeded")
    }
}

impl std::fmt::Debug for SeededPrng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SeededPrng")
    }
}

impl zeroize::Zeroize for SeededPrng {
    fn zeroize(&mut self) {
        self.0 = None;
    }
}

impl TryRng for SeededPrng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.rng().next_u32())
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.rng().next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.rng().fill_bytes(dst);
        Ok(())
    }
}

impl TryCryptoRng for SeededPrng {}

/// Error type of the test-RNG interface hpke-rs requires.
#[derive(Debug)]
pub struct NoTestRng;

impl std::fmt::Display for NoTestRng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no test randomness")
    }
}

impl HpkeTestRng for SeededPrng {
    type Error = NoTestRng;

    fn try_fill_test_bytes(&mut self, dest: &mut [u8]) -> Result<(), NoTestRng> {
        self.rng().fill_bytes(dest);
        Ok(())
    }

    fn seed(&mut self, seed: &[u8]) {
        let mut s = [0u8; 32];
        let n = seed.len().min(32);
        s[..n].copy_from_slice(&seed[..n]);
        self.0 = Some(ChaCha20Rng::from_seed(s));
    }
}

/// hpke-rs-rust-crypto with a seeded PRNG (X25519 only for key generation).
#[derive(Debug)]
pub struct SeededHpke;

impl HpkeCrypto for SeededHpke {
    type HpkePrng = SeededPrng;

    fn name() -> String {
        "SeededHpke".into()
    }

    fn supports_kdf(alg: KdfAlgorithm) -> Result<(), Error> {
        HpkeRustCrypto::supports_kdf(alg)
    }

    fn supports_kem(alg: KemAlgorithm) -> Result<(), Error> {
        match alg {
            KemAlgorithm::DhKem25519 => Ok(()),
            _ => Err(Error::UnknownKemAlgorithm),
        }
    }

    fn supports_aead(alg: AeadAlgorithm) -> Result<(), Error> {
        HpkeRustCrypto::supports_aead(alg)
    }

    fn prng() -> SeededPrng {
        SeededPrng(NEXT_SEED.with(|s| s.take()).map(ChaCha20Rng::from_seed))
    }

    fn kdf_extract(alg: KdfAlgorithm, salt: &[u8], ikm: &[u8]) -> Result<Vec<u8>, Error> {
        HpkeRustCrypto::kdf_extract(alg, salt, ikm)
    }

    fn kdf_expand(
        alg: KdfAlgorithm,
        prk: &[u8],
        info: &[u8],
        output_size: usize,
    ) -> Result<Vec<u8>, Error> {
        HpkeRustCrypto::kdf_expand(alg, prk, info, output_size)
    }

    fn dh(alg: KemAlgorithm, pk: &[u8], sk: &[u8]) -> Result<Vec<u8>, Error> {
        HpkeRustCrypto::dh(alg, pk, sk)
    }

    fn secret_to_public(alg: KemAlgorithm, sk: &[u8]) -> Result<Vec<u8>, Error> {
        HpkeRustCrypto::secret_to_public(alg, sk)
    }

    fn kem_key_gen(alg: KemAlgorithm, prng: &mut SeededPrng) -> Result<(Vec<u8>, Vec<u8>), Error> {
        match alg {
            KemAlgorithm::DhKem25519 => {
                // As x25519-dalek's StaticSecret::random_from_rng: 32 bytes, clamped at use.
                let mut sk = [0u8; 32];
                prng.rng().fill_bytes(&mut sk);
                let pk = HpkeRustCrypto::secret_to_public(alg, &sk)?;
                Ok((pk, sk.to_vec()))
            }
            _ => Err(Error::UnsupportedKemOperation),
        }
    }

    fn kem_key_gen_derand(alg: KemAlgorithm, seed: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Error> {
        HpkeRustCrypto::kem_key_gen_derand(alg, seed)
    }

    fn kem_encaps(
        _alg: KemAlgorithm,
        _pk_r: &[u8],
        _prng: &mut SeededPrng,
    ) -> Result<(Vec<u8>, Vec<u8>), Error> {
        // Only post-quantum KEMs use this entry point; DH-KEMs go through kem_key_gen.
        Err(Error::UnsupportedKemOperation)
    }

    fn kem_decaps(alg: KemAlgorithm, ct: &[u8], sk_r: &[u8]) -> Result<Vec<u8>, Error> {
        HpkeRustCrypto::kem_decaps(alg, ct, sk_r)
    }

    fn dh_validate_sk(alg: KemAlgorithm, sk: &[u8]) -> Result<Vec<u8>, Error> {
        HpkeRustCrypto::dh_validate_sk(alg, sk)
    }

    fn aead_seal(
        alg: AeadAlgorithm,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        msg: &[u8],
    ) -> Result<Vec<u8>, Error> {
        HpkeRustCrypto::aead_seal(alg, key, nonce, aad, msg)
    }

    fn aead_open(
        alg: AeadAlgorithm,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        msg: &[u8],
    ) -> Result<Vec<u8>, Error> {
        HpkeRustCrypto::aead_open(alg, key, nonce, aad, msg)
    }
}

fn hpke_for(config: HpkeConfig, seed: [u8; 32]) -> Result<Hpke<SeededHpke>, CryptoError> {
    let kem = match config.0 {
        HpkeKemType::DhKem25519 => KemAlgorithm::DhKem25519,
        _ => return Err(CryptoError::UnsupportedCiphersuite),
    };
    let kdf = match config.1 {
        HpkeKdfType::HkdfSha256 => KdfAlgorithm::HkdfSha256,
        HpkeKdfType::HkdfSha384 => KdfAlgorithm::HkdfSha384,
        HpkeKdfType::HkdfSha512 => KdfAlgorithm::HkdfSha512,
    };
    let aead = match config.2 {
        HpkeAeadType::AesGcm128 => AeadAlgorithm::Aes128Gcm,
        HpkeAeadType::AesGcm256 => AeadAlgorithm::Aes256Gcm,
        HpkeAeadType::ChaCha20Poly1305 => AeadAlgorithm::ChaCha20Poly1305,
        HpkeAeadType::Export => AeadAlgorithm::HpkeExport,
    };
    NEXT_SEED.with(|s| s.set(Some(seed)));
    Ok(Hpke::new(Mode::Base, kem, kdf, aead))
}

/// One-shot HPKE seal whose ephemeral key comes from `seed`.
pub(super) fn seal_with_config(
    config: HpkeConfig,
    seed: [u8; 32],
    pk_r: &[u8],
    info: &[u8],
    aad: &[u8],
    ptxt: &[u8],
) -> Result<HpkeCiphertext, CryptoError> {
    super::ops::count(|o| o.hpke_seals += 1);
    let (kem_output, ciphertext) = hpke_for(config, seed)?
        .seal(&pk_r.into(), info, aad, ptxt, None, None, None)
        .map_err(|_| CryptoError::HpkeEncryptionError)?;
    Ok(HpkeCiphertext {
        kem_output: kem_output.into(),
        ciphertext: ciphertext.into(),
    })
}

/// HPKE sender setup and export whose ephemeral key comes from `seed`.
pub(super) fn setup_sender_and_export(
    config: HpkeConfig,
    seed: [u8; 32],
    pk_r: &[u8],
    info: &[u8],
    exporter_context: &[u8],
    exporter_length: usize,
) -> Result<(Vec<u8>, ExporterSecret), CryptoError> {
    super::ops::count(|o| o.hpke_seals += 1);
    let (kem_output, context) = hpke_for(config, seed)?
        .setup_sender(&pk_r.into(), info, None, None, None)
        .map_err(|_| CryptoError::SenderSetupError)?;
    let secret = context
        .export(exporter_context, exporter_length)
        .map_err(|_| CryptoError::ExporterError)?;
    Ok((kem_output, secret.into()))
}

/// The simulator's own HPKE configuration (that of the MLS ciphersuite).
pub const SIM_HPKE: HpkeConfig = HpkeConfig(
    HpkeKemType::DhKem25519,
    HpkeKdfType::HkdfSha256,
    HpkeAeadType::AesGcm128,
);

/// An X25519 HPKE key pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HpkeKeys {
    /// The private key.
    pub private: Vec<u8>,
    /// The public key.
    pub public: Vec<u8>,
}

impl HpkeKeys {
    /// Derives a key pair from 32 seeded bytes (RFC 9180 DeriveKeyPair).
    pub fn derive(ikm: &[u8; 32]) -> Result<Self, CryptoError> {
        super::ops::count(|o| o.hpke_key_derivations += 1);
        let hpke = Hpke::<HpkeRustCrypto>::new(
            Mode::Base,
            KemAlgorithm::DhKem25519,
            KdfAlgorithm::HkdfSha256,
            AeadAlgorithm::Aes128Gcm,
        );
        let (sk, pk) = hpke
            .derive_key_pair(ikm)
            .map_err(|_| CryptoError::CryptoLibraryError)?
            .into_keys();
        Ok(Self {
            private: sk.as_slice().to_vec(),
            public: pk.as_slice().to_vec(),
        })
    }
}

/// Seals `ptxt` to `pk_r` with the ephemeral key drawn from `seed` (which the caller takes
/// from its entity's named stream).
pub fn hpke_seal_seeded(
    seed: [u8; 32],
    pk_r: &[u8],
    info: &[u8],
    aad: &[u8],
    ptxt: &[u8],
) -> Result<HpkeCiphertext, CryptoError> {
    seal_with_config(SIM_HPKE, seed, pk_r, info, aad, ptxt)
}

/// Opens an HPKE ciphertext made by [`hpke_seal_seeded`].
pub fn hpke_open(
    ct: &HpkeCiphertext,
    sk_r: &[u8],
    info: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    super::ops::count(|o| o.hpke_opens += 1);
    let hpke = Hpke::<HpkeRustCrypto>::new(
        Mode::Base,
        KemAlgorithm::DhKem25519,
        KdfAlgorithm::HkdfSha256,
        AeadAlgorithm::Aes128Gcm,
    );
    hpke.open(
        ct.kem_output.as_slice(),
        &sk_r.into(),
        info,
        aad,
        ct.ciphertext.as_slice(),
        None,
        None,
        None,
    )
    .map_err(|_| CryptoError::HpkeDecryptionError)
}

//! Counts of the public-key operations a world performs, for the cost model of a run (its
//! crypto floor: each count times the operation's unit cost, see `benches/floor.rs`).
//!
//! Every public-key operation of the simulator goes through this module's callers: Ed25519
//! signatures through [`SimSigner`](super::SimSigner), verifications and openmls's HPKE
//! through [`SimCrypto`](super::SimCrypto), and the simulator's own HPKE through
//! `crypto::hpke`. A world runs on one thread from start to end, so the counts live in a
//! thread-local, and a world reports the difference between the counts at its end and at its
//! start.

use std::cell::Cell;

use serde::Serialize;

/// Public-key operations, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CryptoOps {
    /// Ed25519 signatures made.
    pub signatures: u64,
    /// Ed25519 signatures verified.
    pub verifications: u64,
    /// HPKE seals (one X25519 key generation and one DH each), and sender-side exports.
    pub hpke_seals: u64,
    /// HPKE opens (one DH each, including failed trial openings), and receiver-side exports.
    pub hpke_opens: u64,
    /// X25519 key pairs derived (one scalar multiplication each).
    pub hpke_key_derivations: u64,
}

impl CryptoOps {
    /// The operations counted since `start` (a snapshot taken earlier on this thread).
    pub fn since(self, start: CryptoOps) -> CryptoOps {
        CryptoOps {
            signatures: self.signatures - start.signatures,
            verifications: self.verifications - start.verifications,
            hpke_seals: self.hpke_seals - start.hpke_seals,
            hpke_opens: self.hpke_opens - start.hpke_opens,
            hpke_key_derivations: self.hpke_key_derivations - start.hpke_key_derivations,
        }
    }
}

thread_local! {
    static OPS: Cell<CryptoOps> = Cell::new(CryptoOps::default());
}

/// Counts one operation on this thread.
pub(crate) fn count(bump: fn(&mut CryptoOps)) {
    OPS.with(|ops| {
        let mut o = ops.get();
        bump(&mut o);
        ops.set(o);
    });
}

/// The operations counted on this thread so far.
pub fn snapshot() -> CryptoOps {
    OPS.with(Cell::get)
}

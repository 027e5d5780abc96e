//! mimimi-sim: a deterministic discrete-event simulator of MIMI deployments that records what
//! every provider observes, so the metadata a deployment leaks can be measured.

pub mod check;
pub mod cleanup;
pub mod crypto;
pub mod diff;
pub mod engine;
pub mod observe;
pub mod output;
pub mod protocol;
pub mod scenario;
pub mod sweep;
pub mod world;

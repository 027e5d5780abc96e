//! mimimi-analysis: from a run directory of mimimi-sim (observation logs and ground truth) to
//! linkability metrics and reports. The adversary works from observations only; ground truth
//! is used only to score it.

pub mod adversary;
pub mod fingerprint;
pub mod input;
pub mod linking;
pub mod metrics;
pub mod model;
pub mod report;
pub mod size;
pub mod sweep;
pub mod timing;

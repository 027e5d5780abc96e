//! Scoring the adversary against ground truth (see `shared/design/metrics.md`).
//!
//! For every mode and observer the [`Linker`] is built from the observer's observations only;
//! ground truth then says which user each identifier value belongs to, which memberships,
//! connections and messages are real, and so how much the observer learned.

use std::collections::{BTreeMap, BTreeSet};

use crate::linking::{FlowId, Linker, NodeId, REAL_KINDS};
use crate::model::{
    AnalysisError as _, AnonymitySizes, Analysis, AttributionRow, MetricRow, ModeData, RunData,
    Scope, ALL_PROVIDERS, METRICS,
};

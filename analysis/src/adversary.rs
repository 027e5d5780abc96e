//! The adversaries the analysis scores, from the weakest to the strongest.
//!
//! Every adversary reads one observer's observations only (ground truth scores it, and a
//! directory of device counts is background knowledge given to it explicitly when the scenario
//! grants it). Each starts from the identifier adversary's links (identical identifier values
//! in one entity) and adds links of its own as synthetic observations that the
//! [`Linker`](crate::linking::Linker) merges like any other; the flow of a synthetic
//! observation (`fingerprint`, ...) shows in the leak attribution which adversary made a link.
//! `combined` pools every adversary's links, and is the one the reports lead with.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::fingerprint::{self, Directory};
use crate::model::{ModeData, Observation};
use crate::{size, timing};

/// The adversaries in the order `metrics.csv` lists them, with a one-line description.
pub const ADVERSARIES: &[(&str, &str)] = &[
    (
        IDENTIFIER,
        "links identical identifier values seen in one entity (a leaf, a KeyPackage, a session)",
    ),
    (
        FINGERPRINT,
        "adds links between a user's rooms whose fingerprint (the domain of the user handle and \
         the number of devices it shows) is rare among what the observer saw",
    ),
    (
        TIMING,
        "adds links from event chains within a time window: a connection request and the \
         external commit that answers it, a wrapper-key request and the joiner's GroupInfo \
         fetch, a KeyPackage fetch by token and the add commit, and pseudonyms of different \
         rooms that are always active in the same windows",
    ),
    (
        SIZE,
        "adds links between a user's rooms whose messages fall in the same rare length classes \
         (sizes more than 25% apart), beyond the ordinary length most messages have",
    ),
    (COMBINED, "pools the links of every adversary above"),
];

/// The identifier-only adversary.
pub const IDENTIFIER: &str = "identifier";
/// The fingerprint adversary ([`crate::fingerprint`]).
pub const FINGERPRINT: &str = "fingerprint";
/// The timing adversary ([`crate::timing`]).
pub const TIMING: &str = "timing";
/// The size adversary ([`crate::size`]).
pub const SIZE: &str = "size";
/// Every adversary's links pooled: the strongest, which the reports lead with.
pub const COMBINED: &str = "combined";

/// What the scenario's `[adversary]` table sets (recorded in `summary.json` under
/// `adversary`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdversaryOptions {
    /// Background knowledge: the adversary knows how many devices each user of each domain
    /// has (a public directory; under MIMI, key-material claims show it too).
    pub directory: bool,
    /// The fingerprint adversary's rarity threshold ([`fingerprint::DEFAULT_MAX_CLASS`]).
    pub fingerprint_max_class: usize,
    /// The timing adversary's window in microseconds ([`timing::DEFAULT_WINDOW_US`]).
    pub timing_window_us: u64,
    /// The size adversary's rarity threshold ([`size::DEFAULT_MAX_CLASS`]).
    pub size_max_class: usize,
}

impl Default for AdversaryOptions {
    fn default() -> Self {
        AdversaryOptions {
            directory: false,
            fingerprint_max_class: fingerprint::DEFAULT_MAX_CLASS,
            timing_window_us: timing::DEFAULT_WINDOW_US,
            size_max_class: size::DEFAULT_MAX_CLASS,
        }
    }
}

/// One adversary as it scores one mode: its name, and the background knowledge it holds.
#[derive(Clone, Debug)]
pub struct Adversary {
    pub name: &'static str,
    pub options: AdversaryOptions,
    /// The directory of device counts, when the options grant it and the adversary uses it.
    pub directory: Option<Directory>,
}

impl Adversary {
    /// The adversary `name` (one of [`ADVERSARIES`]) for a mode, with its background knowledge.
    pub fn new(name: &'static str, options: &AdversaryOptions, mode: &ModeData) -> Self {
        let uses_fingerprint = matches!(name, FINGERPRINT | COMBINED);
        Adversary {
            name,
            options: options.clone(),
            directory: (uses_fingerprint && options.directory).then(|| directory(mode)),
        }
    }

    /// Whether this adversary narrows anonymity sets by fingerprint.
    pub fn fingerprints(&self) -> bool {
        matches!(self.name, FINGERPRINT | COMBINED)
    }

    /// The synthetic observations holding the links this adversary adds to the identifier
    /// links, from one observer's observations.
    pub fn links(&self, observations: &[&Observation]) -> Vec<Observation> {
        let mut out = Vec::new();
        if self.fingerprints() {
            out.extend(fingerprint::links(
                observations,
                self.options.fingerprint_max_class,
                self.directory.as_ref(),
            ));
        }
        if matches!(self.name, TIMING | COMBINED) {
            out.extend(timing::links(observations, self.options.timing_window_us));
        }
        if matches!(self.name, SIZE | COMBINED) {
            out.extend(size::links(observations, self.options.size_max_class));
        }
        out
    }
}

/// The directory a scenario's `directory = true` grants: per domain, the number of clients of
/// each of its users (from the user ids and clients ground truth lists).
pub fn directory(mode: &ModeData) -> Directory {
    let mut domain: BTreeMap<&str, &str> = BTreeMap::new();
    let mut clients: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for t in &mode.truth {
        if t.kind == "user_id" {
            if let Some(d) = crate::metrics::user_id_domain(&t.value) {
                domain.insert(&t.user, d);
            }
        }
        if !t.client.is_empty() {
            clients.entry(&t.user).or_default().insert(&t.client);
        }
    }
    let mut out: Directory = BTreeMap::new();
    for (user, d) in domain {
        let n = clients.get(user).map_or(1, |c| c.len().max(1)) as u64;
        out.entry(d.to_string()).or_default().push(n);
    }
    for counts in out.values_mut() {
        counts.sort_unstable();
    }
    out
}

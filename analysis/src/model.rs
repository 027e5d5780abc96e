//! The analysis' data: what it reads from a run directory, and what it computes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One identifier item of an observation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Items with one subject in one observation belong to one entity.
    pub subject: u32,
    /// Identifier kind (`user_id`, `client_pseudonym`, ...).
    pub kind: String,
    /// The value as the observer saw it.
    pub value: String,
}

/// One observation (the rows of one `seq` in `observations.csv`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    pub seq: u64,
    pub time_us: u64,
    /// The observing provider's domain.
    pub observer: String,
    pub flow: String,
    /// `account:<user>`, `anonymous` or `domain:<domain>`.
    pub peer: String,
    pub room: Option<String>,
    pub size: u64,
    pub items: Vec<Item>,
}

/// A row of `truth.csv`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truth {
    pub kind: String,
    pub value: String,
    pub user: String,
    /// Empty for user-level identifiers.
    pub client: String,
}

/// A row of `memberships.csv`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub room: String,
    /// `room` or `connection`.
    pub purpose: String,
    pub user: String,
    pub client: String,
    pub from_us: u64,
    pub to_us: Option<u64>,
    /// The client entered with a KeyPackage of the user's last-resort set (first use
    /// included, as the simulator marks it).
    pub last_resort: bool,
    /// Opaque id (16 hex digits) of the KeyPackage set the client entered with; `None` when it
    /// entered without one, or the run directory predates the column.
    pub key_package_set: Option<String>,
}

/// A row of `messages.csv`: an application message a user sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Digest of the PrivateMessage bytes (the `message` items of observations).
    pub message: String,
    pub room: String,
    pub user: String,
    pub client: String,
    pub time_us: u64,
}

/// Everything one mode of a run produced.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModeData {
    pub mode: String,
    /// Names of the MIMIMI mechanisms switched on in this mode.
    pub mechanisms: Vec<String>,
    /// SHA-256 of the mode's `observations.csv` as `summary.json` records it, if it does.
    pub fingerprint: Option<String>,
    pub observations: Vec<Observation>,
    pub truth: Vec<Truth>,
    pub memberships: Vec<Membership>,
    /// Accepted connections (requester, target).
    pub connections: Vec<(String, String)>,
    pub messages: Vec<Message>,
    /// The run's counters from `summary.json` (events, MLS operations, bytes, delays, ...);
    /// empty when not recorded.
    pub stats: BTreeMap<String, f64>,
}

/// A named set of providers that pool their observations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coalition {
    pub name: String,
    /// Provider domains.
    pub members: Vec<String>,
}

/// A run directory as the analysis reads it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunData {
    pub scenario: String,
    pub seed: u64,
    pub run: u64,
    /// Provider domains, in scenario order.
    pub providers: Vec<String>,
    /// Coalitions named in the scenario (the built-in `all` is not listed here).
    pub coalitions: Vec<Coalition>,
    /// Modes in run order.
    pub modes: Vec<ModeData>,
    /// The version of the tool that ran the scenario, if `summary.json` records it.
    pub tool_version: Option<String>,
    /// SHA-256 of the scenario file (hex), if recorded.
    pub scenario_sha256: Option<String>,
    /// The effective scenario parameters, if recorded.
    pub parameters: Option<serde_json::Map<String, serde_json::Value>>,
    /// The adversary options (`summary.json`'s `adversary`; defaults when absent).
    pub adversary: crate::adversary::AdversaryOptions,
}

/// Where the numbers of an analysis come from, for the top of the reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub tool_version: Option<String>,
    pub scenario_sha256: Option<String>,
    /// (mode, fingerprint) in run order, for the modes whose fingerprint is recorded.
    pub fingerprints: Vec<(String, String)>,
    /// The scenario parameters flattened to (dotted path, value as JSON text, strings
    /// unquoted), in key order; `None` when not recorded.
    pub parameters: Option<Vec<(String, String)>>,
}

/// Whose memberships a metric counts, relative to the observer (metrics.md, "Scope").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Users of the observer's own provider(s).
    Own,
    /// Users of other providers.
    Foreign,
    /// Both.
    All,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Own, Scope::Foreign, Scope::All];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Own => "own",
            Scope::Foreign => "foreign",
            Scope::All => "all",
        }
    }
}

/// What kind of number a metric is: what its value, numerator and denominator hold, and when it
/// is n/a (taken over nothing, so not measured: never written as 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// `value = numerator / denominator`; n/a when the denominator is 0.
    Ratio,
    /// A mean over samples: the numerator is the sum, the denominator the number of samples;
    /// n/a without samples.
    Mean,
    /// An order statistic (minimum, percentile, median) of samples: no numerator, the
    /// denominator is the number of samples; n/a without samples.
    OrderStatistic,
    /// A count: `numerator = value`, and the denominator is what it was counted among (see the
    /// metric's meaning). Never n/a: a count of nothing is 0.
    Count,
}

/// One number of `metrics.csv` (see [`MetricKind`] for what the three numbers hold).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricRow {
    pub mode: String,
    pub observer: String,
    /// The adversary that produced the number (one of
    /// [`ADVERSARIES`](crate::adversary::ADVERSARIES)).
    pub adversary: String,
    pub scope: Scope,
    pub metric: String,
    /// `None`: n/a, the metric was taken over nothing.
    pub value: Option<f64>,
    /// `None` for order statistics.
    pub numerator: Option<f64>,
    pub denominator: f64,
}

impl MetricRow {
    /// Whether the metric was taken over nothing (n/a).
    pub fn is_empty(&self) -> bool {
        self.value.is_none()
    }
}

/// Which flow made links, per observer and mode (leak attribution).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributionRow {
    pub mode: String,
    pub observer: String,
    /// Whose memberships: `own` or `foreign` (the observer's users or other providers').
    pub scope: Scope,
    pub flow: String,
    /// Memberships whose identity disclosure used an item or link from this flow.
    pub memberships_disclosed: u64,
    /// Cross-room membership pairs whose link used an item or link from this flow.
    pub room_pairs_linked: u64,
}

/// One point of an adversary's precision–recall curve: its foreign cross-room recall and
/// precision, and its foreign identification of room and connection-room memberships, for one
/// mode and observer at one value of its threshold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub mode: String,
    pub observer: String,
    pub adversary: String,
    /// The option varied (`fingerprint_max_class`, `timing_window_us`).
    pub parameter: String,
    pub threshold: u64,
    /// Whether this threshold is the run's operating point (its options).
    pub operating: bool,
    /// (numerator, denominator) of the foreign-scope ratios.
    pub cross_room_recall: (f64, f64),
    pub cross_room_precision: (f64, f64),
    pub identification: (f64, f64),
    pub connection_room_identification: (f64, f64),
}

/// A pair of user pseudonyms in two rooms that the timing adversary's activity attack links
/// (statistical disclosure), with how many messages it took.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityRow {
    pub mode: String,
    pub observer: String,
    pub room_a: String,
    pub room_b: String,
    /// Messages the two pseudonyms sent until the attack linked them.
    pub messages_to_link: u64,
    /// Windows both were active in, until then.
    pub windows_to_link: u64,
    /// Ground truth: both pseudonyms are one user's.
    pub correct: bool,
}

/// The anonymity set sizes behind the anonymity metrics, for the distribution chart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnonymitySizes {
    pub mode: String,
    pub observer: String,
    pub scope: Scope,
    /// One size per membership the observer saw, sorted ascending.
    pub sizes: Vec<u64>,
}

/// Everything the analysis computes for a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub scenario: String,
    pub seed: u64,
    pub run: u64,
    /// Modes in run order, with their enabled mechanisms.
    pub modes: Vec<(String, Vec<String>)>,
    /// Observers in order: providers, named coalitions, then `all`.
    pub observers: Vec<String>,
    pub metrics: Vec<MetricRow>,
    pub attribution: Vec<AttributionRow>,
    pub anonymity: Vec<AnonymitySizes>,
    /// Tool version, scenario file hash, fingerprints and parameters of the run.
    pub provenance: Provenance,
    /// The adversaries of `metrics`, weakest first; the last (`combined`, the strongest) also
    /// gives `attribution` and `anonymity`, and the reports lead with it. Empty in an analysis
    /// built by hand: then every row counts as the strongest.
    pub adversaries: Vec<String>,
    /// The options the scenario set for them.
    pub adversary_options: crate::adversary::AdversaryOptions,
    /// Precision–recall curves of the adversaries with a threshold.
    pub curves: Vec<CurvePoint>,
    /// The activity attack's links, per mode and observer.
    pub activity: Vec<ActivityRow>,
    /// The names of the run's coalitions (observers that are neither a provider nor `all`).
    pub coalitions: Vec<String>,
    /// Each mode's counters (for the cost of countermeasures), in mode order.
    pub stats: Vec<(String, BTreeMap<String, f64>)>,
}

impl Analysis {
    /// The adversary the reports lead with: the strongest, last of `adversaries`.
    pub fn strongest(&self) -> Option<&str> {
        self.adversaries.last().map(String::as_str)
    }

    /// Whether an observer is a named coalition (not a provider, not `all`).
    pub fn is_coalition(&self, observer: &str) -> bool {
        self.coalitions.iter().any(|c| c == observer)
    }
}

/// Metric names, in report order, with a one-line meaning.
pub const METRICS: &[(&str, &str)] = &[
    (
        "identity_disclosure",
        "share of memberships whose member the observer can name",
    ),
    (
        "identification",
        "share of memberships whose member the observer names or narrows to one user",
    ),
    (
        "cross_room_recall",
        "share of same-user membership pairs in two rooms the observer links",
    ),
    (
        "cross_room_precision",
        "share of the observer's cross-room links that are the same user",
    ),
    (
        "anonymity_set_min",
        "smallest anonymity set of a membership",
    ),
    (
        "anonymity_set_p10",
        "10th percentile of anonymity set sizes",
    ),
    ("anonymity_set_median", "median anonymity set size"),
    (
        "anonymity_unique_fraction",
        "share of memberships whose anonymity set is one user",
    ),
    (
        "anonymity_entropy_mean",
        "mean log2 of the anonymity set size (bits)",
    ),
    (
        "degree_of_anonymity_mean",
        "mean log2|A| / log2 N (1 = anonymous among all users)",
    ),
    (
        "social_graph_precision",
        "share of inferred co-membership edges that are true",
    ),
    (
        "social_graph_recall",
        "share of true co-membership edges the observer infers",
    ),
    (
        "social_graph_f1",
        "F1 of co-membership edge recovery: 2 true inferred / (inferred + true)",
    ),
    (
        "connection_graph_precision",
        "share of inferred connection edges that are true",
    ),
    (
        "connection_graph_recall",
        "share of true connections the observer infers",
    ),
    (
        "connection_graph_f1",
        "F1 of connection edge recovery: 2 true inferred / (inferred + true)",
    ),
    (
        "message_attribution",
        "share of seen application messages whose sender the observer names",
    ),
    (
        "last_resort_rooms",
        "memberships entered with a last-resort KeyPackage (of every membership)",
    ),
    (
        "last_resort_pairs",
        "same-user pairs in two rooms entered with one last-resort set (of the seen \
         same-user pairs)",
    ),
    (
        "last_resort_links",
        "last-resort pairs the observer links (of last_resort_pairs)",
    ),
    (
        "connection_room_identity_disclosure",
        "share of connection-room memberships whose member the observer can name",
    ),
    (
        "connection_room_identification",
        "share of connection-room memberships whose member the observer names or narrows to \
         one user",
    ),
    (
        "connection_room_anonymity_set_min",
        "smallest anonymity set of a connection-room membership",
    ),
    (
        "connection_room_anonymity_set_p10",
        "10th percentile of connection-room anonymity set sizes",
    ),
    (
        "connection_room_anonymity_set_median",
        "median connection-room anonymity set size",
    ),
    (
        "connection_room_anonymity_unique_fraction",
        "share of connection-room memberships whose anonymity set is one user",
    ),
    (
        "connection_room_anonymity_entropy_mean",
        "mean log2 of the connection-room anonymity set size (bits)",
    ),
    (
        "connection_room_degree_of_anonymity_mean",
        "mean log2|A| / log2 N over connection-room memberships",
    ),
];

/// The kind of a metric of [`METRICS`]; `None` for a name the analysis does not produce.
pub fn metric_kind(metric: &str) -> Option<MetricKind> {
    use MetricKind::*;
    Some(match metric {
        "identity_disclosure"
        | "identification"
        | "cross_room_recall"
        | "cross_room_precision"
        | "anonymity_unique_fraction"
        | "social_graph_precision"
        | "social_graph_recall"
        | "social_graph_f1"
        | "connection_graph_precision"
        | "connection_graph_recall"
        | "connection_graph_f1"
        | "message_attribution"
        | "connection_room_identity_disclosure"
        | "connection_room_identification"
        | "connection_room_anonymity_unique_fraction" => Ratio,
        "anonymity_entropy_mean"
        | "degree_of_anonymity_mean"
        | "connection_room_anonymity_entropy_mean"
        | "connection_room_degree_of_anonymity_mean" => Mean,
        "anonymity_set_min"
        | "anonymity_set_p10"
        | "anonymity_set_median"
        | "connection_room_anonymity_set_min"
        | "connection_room_anonymity_set_p10"
        | "connection_room_anonymity_set_median" => OrderStatistic,
        "last_resort_rooms" | "last_resort_pairs" | "last_resort_links" => Count,
        _ => return None,
    })
}

/// Observer name of the coalition of every provider.
pub const ALL_PROVIDERS: &str = "all";

/// Mode name -> mechanisms, for convenience.
pub fn mechanisms_by_mode(run: &RunData) -> BTreeMap<String, Vec<String>> {
    run.modes
        .iter()
        .map(|m| (m.mode.clone(), m.mechanisms.clone()))
        .collect()
}

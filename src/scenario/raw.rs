//! The file schema as deserialized, with spans on every value that can be wrong.
//!
//! Numbers the scenario constrains are read as `i64` so that out-of-range values reach the
//! validator and get a specific message instead of serde's generic one.

use serde::Deserialize;
use toml::Spanned;

pub(crate) type Str = Spanned<String>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScenario {
    pub name: Option<Str>,
    pub seed: Option<Spanned<i64>>,
    pub latency: Option<Str>,
    pub key_packages: Option<Spanned<i64>>,
    #[serde(default)]
    pub provider: Vec<Spanned<RawProvider>>,
    #[serde(default)]
    pub user: Vec<Spanned<RawUser>>,
    #[serde(default)]
    pub action: Vec<Spanned<RawAction>>,
    pub modes: Option<Spanned<Vec<Str>>>,
    pub channel: Option<Str>,
    pub relay: Option<Str>,
    pub key_package_sets: Option<Spanned<i64>>,
    pub last_resort_reupload: Option<Str>,
    #[serde(default)]
    pub ablation: Vec<Spanned<RawAblation>>,
    #[serde(default)]
    pub coalition: Vec<Spanned<RawCoalition>>,
    #[serde(default)]
    pub expect: Vec<Spanned<RawExpect>>,
    pub adversary: Option<Spanned<RawAdversary>>,
    /// The countermeasures' parameters (after the older keys, which hints list first).
    pub jitter: Option<Str>,
    pub jitter_max: Option<Str>,
    pub padding_buckets: Option<Spanned<Vec<Spanned<i64>>>>,
    pub leaves_per_user: Option<Spanned<i64>>,
    /// Checked and expanded before the scenario is parsed (`population::check`).
    #[allow(dead_code)]
    pub population: Option<toml::Value>,
}

/// The `[adversary]` table: options and background knowledge of the analysis' adversaries.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdversary {
    pub directory: Option<bool>,
    pub fingerprint_max_class: Option<Spanned<i64>>,
    pub timing_window: Option<Str>,
    pub size_max_class: Option<Spanned<i64>>,
}

/// An `[[expect]]` table: a bound on a metric, checked by `mimimi-sim check`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExpect {
    pub mode: Str,
    pub observer: Str,
    pub scope: Option<Str>,
    pub metric: Str,
    pub max: Option<Spanned<f64>>,
    pub min: Option<Spanned<f64>>,
    pub equals: Option<Spanned<f64>>,
    pub tolerance: Option<Spanned<f64>>,
    pub when_empty: Option<Str>,
    pub adversary: Option<Str>,
    pub why: Option<Str>,
}

/// A `[[coalition]]` table: providers that pool their observations.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCoalition {
    pub name: Str,
    pub members: Vec<Str>,
}

/// An `[[ablation]]` table. The mechanism keys are the names in `Mechanisms::NAMES` and
/// `Mechanisms::COUNTERMEASURES`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAblation {
    pub name: Str,
    pub base: Option<Str>,
    pub pseudonymous_credentials: Option<bool>,
    pub fresh_signature_keys: Option<bool>,
    pub encrypted_queue_ids: Option<bool>,
    pub anonymous_key_packages: Option<bool>,
    pub encrypted_connection_requests: Option<bool>,
    pub anonymous_channel: Option<bool>,
    pub last_resort_policy: Option<bool>,
    pub jitter: Option<bool>,
    pub padding: Option<bool>,
    pub placeholder_leaves: Option<bool>,
}

impl RawAblation {
    /// The mechanism and countermeasure keys as `(key, value if present)`, in schema order.
    pub fn switches(&self) -> [(&'static str, Option<bool>); 10] {
        [
            ("pseudonymous_credentials", self.pseudonymous_credentials),
            ("fresh_signature_keys", self.fresh_signature_keys),
            ("encrypted_queue_ids", self.encrypted_queue_ids),
            ("anonymous_key_packages", self.anonymous_key_packages),
            (
                "encrypted_connection_requests",
                self.encrypted_connection_requests,
            ),
            ("anonymous_channel", self.anonymous_channel),
            ("last_resort_policy", self.last_resort_policy),
            ("jitter", self.jitter),
            ("padding", self.padding),
            ("placeholder_leaves", self.placeholder_leaves),
        ]
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProvider {
    pub domain: Str,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUser {
    pub name: Str,
    pub provider: Str,
    pub clients: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAction {
    pub at: Str,
    pub connect: Option<Spanned<RawConnect>>,
    pub create_room: Option<Spanned<RawCreateRoom>>,
    pub add: Option<Spanned<RawAdd>>,
    pub join: Option<Spanned<RawJoin>>,
    pub remove: Option<Spanned<RawRemove>>,
    pub leave: Option<Spanned<RawLeave>>,
    pub send: Option<Spanned<RawSend>>,
    pub publish_key_packages: Option<Spanned<RawPublishKeyPackages>>,
    pub add_device: Option<Spanned<RawAddDevice>>,
    pub remove_device: Option<Spanned<RawRemoveDevice>>,
}

/// The kind keys of an action, in schema order.
pub(crate) const ACTION_KINDS: &[&str] = &[
    "connect",
    "create_room",
    "add",
    "join",
    "remove",
    "leave",
    "send",
    "publish_key_packages",
    "add_device",
    "remove_device",
];

/// One present kind key of an action, borrowed.
pub(crate) enum RawKind<'a> {
    Connect(&'a RawConnect),
    CreateRoom(&'a RawCreateRoom),
    Add(&'a RawAdd),
    Join(&'a RawJoin),
    Remove(&'a RawRemove),
    Leave(&'a RawLeave),
    Send(&'a RawSend),
    PublishKeyPackages(&'a RawPublishKeyPackages),
    AddDevice(&'a RawAddDevice),
    RemoveDevice(&'a RawRemoveDevice),
}

impl RawAction {
    /// The kind keys present in this action as `(key, span of its value, kind)`, in file order.
    pub fn kinds(&self) -> Vec<(&'static str, std::ops::Range<usize>, RawKind<'_>)> {
        fn entry<'a, T>(
            key: &'static str,
            value: &'a Option<Spanned<T>>,
            wrap: fn(&'a T) -> RawKind<'a>,
        ) -> Option<(&'static str, std::ops::Range<usize>, RawKind<'a>)> {
            value.as_ref().map(|v| (key, v.span(), wrap(v.get_ref())))
        }
        let mut kinds: Vec<_> = [
            entry("connect", &self.connect, RawKind::Connect),
            entry("create_room", &self.create_room, RawKind::CreateRoom),
            entry("add", &self.add, RawKind::Add),
            entry("join", &self.join, RawKind::Join),
            entry("remove", &self.remove, RawKind::Remove),
            entry("leave", &self.leave, RawKind::Leave),
            entry("send", &self.send, RawKind::Send),
            entry(
                "publish_key_packages",
                &self.publish_key_packages,
                RawKind::PublishKeyPackages,
            ),
            entry("add_device", &self.add_device, RawKind::AddDevice),
            entry("remove_device", &self.remove_device, RawKind::RemoveDevice),
        ]
        .into_iter()
        .flatten()
        .collect();
        kinds.sort_by_key(|(_, span, _)| span.start);
        kinds
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConnect {
    pub from: Str,
    pub to: Str,
    pub accept: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCreateRoom {
    pub room: Str,
    pub by: Str,
    pub hub: Option<Str>,
    #[serde(default)]
    pub members: Vec<Str>,
    pub identity_links: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdd {
    pub room: Str,
    pub by: Str,
    pub users: Spanned<Vec<Str>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawJoin {
    pub room: Str,
    pub user: Str,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRemove {
    pub room: Str,
    pub by: Str,
    pub user: Str,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLeave {
    pub room: Str,
    pub user: Str,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSend {
    pub room: Str,
    pub from: Str,
    pub count: Option<Spanned<i64>>,
    pub every: Option<Str>,
    pub bytes: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPublishKeyPackages {
    pub user: Str,
    pub count: Spanned<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAddDevice {
    pub user: Str,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRemoveDevice {
    pub user: Str,
    pub device: Spanned<i64>,
}

//! Scenario files: TOML schema, parsing and validation.
//!
//! A scenario declares providers, users and a timeline of actions. [`load`] reads a file and
//! [`parse_str`] parses text; both validate the scenario completely (including replaying room
//! membership in time order), so a [`Scenario`] that comes back can be simulated without
//! further checks. Every error carries the position of the offending value and renders as
//! `FILE:LINE:COLUMN: error: MESSAGE`, followed by `\n  hint: HINT` when there is a hint.
//!
//! ```toml
//! name = "quickstart"          # optional, defaults to the file stem
//! seed = 7                     # optional, default 1
//! latency = "20ms"             # optional, per hop
//! key_packages = 4             # optional, per client at registration
//! modes = ["mimi", "mimimi", "pseudonyms-only"]  # optional, the modes to run, in order
//! channel = "relay"            # optional: "relay", "direct" or "none"
//! relay = "beta.example"       # optional: relays requests for a client's own provider
//! key_package_sets = 4         # optional, 1..=1000, KeyPackage sets per user under MIMIMI
//! last_resort_reupload = "10m" # optional, "0s" means never
//! jitter = "uniform"           # optional: "uniform" or "exponential" (countermeasure `jitter`)
//! jitter_max = "200ms"         # optional, longest extra delay, at most 1m
//! padding_buckets = [256, 1024, 4096]  # optional (countermeasure `padding`), increasing sizes
//! leaves_per_user = 3          # optional (countermeasure `placeholder_leaves`), 1..=16,
//!                              # default the largest `clients` of any user
//!
//! [[provider]]
//! domain = "alpha.example"
//!
//! [[user]]
//! name = "alice"
//! provider = "alpha.example"
//! clients = 2                  # optional, default 1, 1..=16
//!
//! [[action]]
//! at = "90s"
//! create_room = { room = "lunch", by = "alice", members = ["bob"] }
//!
//! [[ablation]]
//! name = "pseudonyms-only"
//! base = "mimi"                # optional: "mimi" (default, all off) or "mimimi" (all on)
//! pseudonymous_credentials = true
//! padding = true               # countermeasures (`jitter`, `padding`, `placeholder_leaves`)
//!                              # are off unless switched on
//! ```
//!
//! A `send` takes `count` (default 1), `every` (default `"1s"`) and `bytes` (the length of each
//! message's text, 1..=65536; default a short numbered text).
//!
//! Under the countermeasure `placeholder_leaves`, every user with fewer than `leaves_per_user`
//! clients gets placeholder clients up to that number (`name/n+1` and on, after the real
//! ones): real MLS clients with KeyPackages in the user's sets, added, removed and joining
//! with the user, that never act or send, so that every room shows `leaves_per_user` client
//! pseudonyms behind each user pseudonym and the device-count fingerprint is the same for all.
//! They process everything they receive, like any client: the cost recorded is an upper
//! bound (a design where one real device holds the placeholders' keys without tracking the
//! group would cost less). Users with `leaves_per_user` or more clients get none. Placeholders
//! are made at the start from the declared `clients`: a device added later is one more leaf
//! (it takes no placeholder's place), and placeholders are numbered after every device the
//! user has during the run.
//!
//! Action kinds: `connect`, `create_room`, `add`, `join`, `remove`, `leave`, `send`,
//! `publish_key_packages`, `add_device`, `remove_device`; see [`ActionKind`].
//!
//! The built-in modes are `mimi` (every MIMIMI mechanism off) and `mimimi` (every mechanism
//! on); each `[[ablation]]` declares another mode whose mechanism keys (see
//! [`Mechanisms::NAMES`]) override its base. Without `modes` a scenario runs `mimi`, `mimimi`
//! and then every ablation in file order. When any mode to run has
//! `pseudonymous_credentials`, users must be connected before they can add each other, and a
//! user who joins a room must be connected to one of its members.

mod check;
mod duration;
mod error;
mod estimate;
mod modes;
mod overrides;
mod population;
mod raw;

use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

pub use duration::{format_duration, parse_duration};
pub use error::ScenarioError;
pub use estimate::{estimate, Estimate};
pub use modes::{Channel, JitterDistribution, Mechanisms, Mode};
pub use overrides::{parse_values, Override, ROOT_KEYS, TABLES};
pub use population::{generate, Generated, Population, ProviderSizes};

/// Default `seed`.
pub const DEFAULT_SEED: u64 = 1;
/// Default `latency` per hop, in microseconds (20ms).
pub const DEFAULT_LATENCY_US: u64 = 20_000;
/// Default `key_packages` per client.
pub const DEFAULT_KEY_PACKAGES: u32 = 4;
/// Largest accepted `key_packages`.
pub const MAX_KEY_PACKAGES: u32 = 1_000;
/// Accepted range of `clients` per user.
pub const CLIENTS_RANGE: std::ops::RangeInclusive<u32> = 1..=16;
/// Default `key_package_sets`.
pub const DEFAULT_KEY_PACKAGE_SETS: u32 = 4;
/// Accepted range of `key_package_sets`.
pub const KEY_PACKAGE_SETS_RANGE: std::ops::RangeInclusive<u32> = 1..=1_000;
/// Default `last_resort_reupload`, in microseconds (10m).
pub const DEFAULT_LAST_RESORT_REUPLOAD_US: u64 = 600_000_000;
/// Shortest `last_resort_reupload` other than `"0s"` (never), in microseconds (1s).
pub const MIN_LAST_RESORT_REUPLOAD_US: u64 = 1_000_000;
/// Default `jitter_max`, in microseconds (200ms).
pub const DEFAULT_JITTER_MAX_US: u64 = 200_000;
/// Longest `jitter_max` (1m).
pub const MAX_JITTER_US: u64 = 60_000_000;
/// The smallest size the default padding buckets pad to: powers of two from 256 bytes.
pub const DEFAULT_PADDING_MIN_BUCKET: u64 = 256;
/// Accepted sizes of a `padding_buckets` entry, in bytes.
pub const PADDING_BUCKET_RANGE: std::ops::RangeInclusive<u64> = 64..=16_777_216;
/// Most entries of `padding_buckets`.
pub const MAX_PADDING_BUCKETS: usize = 64;
/// Longest simulated time: no action (or message of a `send`) after 30 days.
pub const MAX_TIME_US: u64 = 30 * 24 * 3_600_000_000;
/// Longest `latency` per hop (1m).
pub const MAX_LATENCY_US: u64 = 60_000_000;
/// Largest `count` of a `send`.
pub const MAX_SEND_COUNT: u32 = 1_000_000;
/// Shortest `every` of a `send` (1ms).
pub const MIN_SEND_EVERY_US: u64 = 1_000;
/// Accepted `bytes` of a `send`: the length of each message's text.
pub const SEND_BYTES_RANGE: std::ops::RangeInclusive<u32> = 1..=65_536;
/// Largest `count` of a `publish_key_packages` (KeyPackage sets per action).
pub const MAX_PUBLISH_COUNT: u32 = 1_000;

/// A parsed and validated scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    /// The `name` key, or the file stem if absent.
    pub name: String,
    /// The path as given, for messages.
    pub file: String,
    /// SHA-256 of the scenario text as read (the file's bytes), in lowercase hex.
    pub sha256: String,
    /// The `seed` key, default 1.
    pub seed: u64,
    /// The `latency` key in microseconds, per hop; default 20ms.
    pub latency_us: u64,
    /// The `key_packages` key, default 4: KeyPackages each client uploads at registration,
    /// in addition to a last-resort one.
    pub key_packages_per_client: u32,
    /// Providers in file order.
    pub providers: Vec<ProviderSpec>,
    /// Users in file order.
    pub users: Vec<UserSpec>,
    /// Actions sorted by `at_us`; actions at the same time keep their file order.
    pub actions: Vec<Action>,
    /// The modes to run, in order: the `modes` key, or `mimi`, `mimimi` and every ablation in
    /// file order.
    pub modes: Vec<Mode>,
    /// The `channel` key, default [`Channel::Relay`].
    pub channel: Channel,
    /// The `relay` key: the provider that relays a client's anonymous requests for the
    /// client's own provider (default: the first other provider).
    pub relay: Option<String>,
    /// The `key_package_sets` key, default 4, 1..=1000: regular KeyPackage sets each user
    /// keeps when `last_resort_policy` is on (with it off, 1).
    pub key_package_sets: u32,
    /// The `last_resort_reupload` key in microseconds, default 10m; 0 means never.
    pub last_resort_reupload_us: u64,
    /// The `jitter` key, default uniform: how the `jitter` countermeasure draws its delays.
    pub jitter: JitterDistribution,
    /// The `jitter_max` key in microseconds, default 200ms, at most 1m: the longest extra
    /// delay of the `jitter` countermeasure (uniform on [0, max]; exponential with mean
    /// max/4, truncated at max).
    pub jitter_max_us: u64,
    /// The `padding_buckets` key: the sizes the `padding` countermeasure pads to, strictly
    /// increasing; empty (the default) means the powers of two from 256 bytes.
    pub padding_buckets: Vec<u64>,
    /// The `leaves_per_user` key, 1..=16, default the largest `clients` of any user: under the
    /// `placeholder_leaves` countermeasure, the clients (real and placeholder) of every user
    /// with fewer real ones.
    pub leaves_per_user: u32,
    /// Whether any mode to run has `pseudonymous_credentials` or `anonymous_key_packages`;
    /// then users must be connected before they can add each other (checked when the scenario
    /// is parsed).
    pub connections_required: bool,
    /// Coalitions of providers that pool their observations (`[[coalition]]`), in file order.
    pub coalitions: Vec<Coalition>,
    /// Expectations on metrics (`[[expect]]`), in file order.
    pub expectations: Vec<Expectation>,
    /// The `[adversary]` table: the analysis' adversary options and background knowledge.
    pub adversary: mimimi_analysis::adversary::AdversaryOptions,
    /// The `--set` overrides applied to the file, as given (`KEY=VALUE`), in order.
    pub overrides: Vec<String>,
    /// The `[population]` table's parameters (defaults filled in) and what it generated, when
    /// the scenario has one.
    pub population: Option<(Population, Generated)>,
}

/// Which observers an expectation is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectObserver {
    /// `every-provider`: the bound must hold for each provider alone.
    EveryProvider,
    /// One observer: a provider domain, a coalition name or `all`.
    Named(String),
}

/// An `[[expect]]` table: the bounds a metric must respect.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expectation {
    /// Where the table is written.
    pub pos: Pos,
    /// The mode it is about (one the scenario runs).
    pub mode: String,
    pub observer: ExpectObserver,
    /// `own`, `foreign` or `all` (default).
    pub scope: String,
    /// A metric name of the analysis.
    pub metric: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// `equals` with its `tolerance` (default 1e-9).
    pub equals: Option<(f64, f64)>,
    /// What a metric taken over nothing (n/a) gives: `when_empty`, default fail.
    pub when_empty: WhenEmpty,
    /// The adversary whose number is bounded: `adversary`, default `combined` (the strongest).
    pub adversary: String,
    /// Why the bound holds (shown when it fails).
    pub why: Option<String>,
}

/// The outcome of an expectation whose metric was taken over nothing (n/a): the value is
/// not measured, so no bound can hold of it, unless the expectation says that nothing to
/// measure is fine (`when_empty = "pass"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenEmpty {
    /// Nothing measured fails (the default).
    #[default]
    Fail,
    /// Nothing measured passes.
    Pass,
}

impl WhenEmpty {
    /// Parses a TOML value of `when_empty`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pass" => Some(WhenEmpty::Pass),
            "fail" => Some(WhenEmpty::Fail),
            _ => None,
        }
    }
}

impl Expectation {
    /// Whether `value` respects every bound.
    pub fn holds(&self, value: f64) -> bool {
        self.min.is_none_or(|m| value >= m)
            && self.max.is_none_or(|m| value <= m)
            && self.equals.is_none_or(|(e, t)| (value - e).abs() <= t)
    }

    /// Whether a measured value (`None`: n/a, taken over nothing) passes.
    pub fn passes(&self, value: Option<f64>) -> bool {
        match value {
            Some(v) => self.holds(v),
            None => self.when_empty == WhenEmpty::Pass,
        }
    }

    /// The bounds as text, e.g. `<= 0`, `== 0.5 ± 0.01` or `<= 0 (n/a passes)`.
    pub fn bounds(&self) -> String {
        let mut parts = vec![];
        if let Some(m) = self.min {
            parts.push(format!(">= {m}"));
        }
        if let Some(m) = self.max {
            parts.push(format!("<= {m}"));
        }
        if let Some((e, t)) = self.equals {
            if t > 1e-9 {
                parts.push(format!("== {e} ± {t}"));
            } else {
                parts.push(format!("== {e}"));
            }
        }
        let mut text = parts.join(" and ");
        if self.when_empty == WhenEmpty::Pass {
            text.push_str(" (n/a passes)");
        }
        text
    }
}

/// A `[[coalition]]` table: providers that pool what they observe.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Coalition {
    /// Its name, an observer in reports.
    pub name: String,
    /// Provider domains, in file order.
    pub members: Vec<String>,
}

/// A `[[provider]]` table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ProviderSpec {
    pub domain: String,
}

/// A `[[user]]` table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct UserSpec {
    pub name: String,
    /// The domain of the user's provider; always one of the declared providers.
    pub provider: String,
    /// Number of clients (devices), 1..=16.
    pub clients: u32,
}

/// An `[[action]]` table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Action {
    /// When the action happens, in microseconds from the start.
    pub at_us: u64,
    /// Where the action is written: its table header (or inline table).
    pub pos: Pos,
    pub kind: ActionKind,
}

/// A 1-based position in a scenario file; `column` counts characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// What an action does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// `from` and `to` become contacts.
    /// `from` asks `to` to connect; `to` accepts unless `accept` is false (then it ignores the
    /// request, and the two are not connected).
    Connect {
        from: String,
        to: String,
        accept: bool,
    },
    /// `by` creates `room`, hosted by `hub` (a provider domain; `None` means the creator's
    /// provider), with `members` (which excludes the creator). With `identity_links` false the
    /// room's policy is user-to-user pseudonymity (MIMIMI): members exchange no identity link
    /// keys, so they do not learn who the others are.
    CreateRoom {
        room: String,
        by: String,
        hub: Option<String>,
        members: Vec<String>,
        identity_links: bool,
    },
    /// Member `by` adds `users` to `room`.
    Add {
        room: String,
        by: String,
        users: Vec<String>,
    },
    /// `user` joins `room` by external commit.
    Join { room: String, user: String },
    /// Member `by` removes `user` from `room`.
    Remove {
        room: String,
        by: String,
        user: String,
    },
    /// `user` leaves `room`.
    Leave { room: String, user: String },
    /// `from` sends `count` messages to `room`, one every `every_us` microseconds; each
    /// message's text is `bytes` long (`None`: a short numbered text of about 20 bytes).
    Send {
        room: String,
        from: String,
        count: u32,
        every_us: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        bytes: Option<u32>,
    },
    /// `user` uploads `count` more KeyPackages for each of its clients.
    PublishKeyPackages { user: String, count: u32 },
    /// `user` gets a new device (client), numbered after its devices so far (a user declared
    /// with `clients = 2` has devices 1 and 2; its first added device is 3). The device
    /// registers, and joins each room its user is in by external commit (MIMI -06 section
    /// 3.6), under the user's name there (its user pseudonym under MIMIMI).
    AddDevice { user: String },
    /// `user`'s device number `device` goes away: it leaves each room it is in (it proposes
    /// its own removal, a member commits it), and its KeyPackages are deleted.
    RemoveDevice { user: String, device: u32 },
}

impl ActionKind {
    /// The key that introduces this kind in a scenario file, e.g. `"create_room"`.
    pub fn key(&self) -> &'static str {
        match self {
            ActionKind::Connect { .. } => "connect",
            ActionKind::CreateRoom { .. } => "create_room",
            ActionKind::Add { .. } => "add",
            ActionKind::Join { .. } => "join",
            ActionKind::Remove { .. } => "remove",
            ActionKind::Leave { .. } => "leave",
            ActionKind::Send { .. } => "send",
            ActionKind::PublishKeyPackages { .. } => "publish_key_packages",
            ActionKind::AddDevice { .. } => "add_device",
            ActionKind::RemoveDevice { .. } => "remove_device",
        }
    }

    /// The room the action concerns, if any.
    pub fn room(&self) -> Option<&str> {
        match self {
            ActionKind::CreateRoom { room, .. }
            | ActionKind::Add { room, .. }
            | ActionKind::Join { room, .. }
            | ActionKind::Remove { room, .. }
            | ActionKind::Leave { room, .. }
            | ActionKind::Send { room, .. } => Some(room),
            ActionKind::Connect { .. }
            | ActionKind::PublishKeyPackages { .. }
            | ActionKind::AddDevice { .. }
            | ActionKind::RemoveDevice { .. } => None,
        }
    }
}

impl Scenario {
    /// The size the `padding` countermeasure pads a message of at least `size` bytes to: the
    /// smallest bucket that holds it; beyond the largest of `padding_buckets`, the next
    /// multiple of the largest. `None` if that does not fit in a `u64`.
    pub fn padding_bucket(&self, size: u64) -> Option<u64> {
        match self.padding_buckets.last() {
            None => size
                .max(DEFAULT_PADDING_MIN_BUCKET)
                .checked_next_power_of_two(),
            Some(&largest) => match self.padding_buckets.iter().find(|&&b| b >= size) {
                Some(&b) => Some(b),
                None => size.div_ceil(largest).checked_mul(largest),
            },
        }
    }

    /// The clients `user` has in a mode with `mechanisms`: its own, raised to
    /// `leaves_per_user` by placeholders under `placeholder_leaves`.
    pub fn clients_in(&self, user: &UserSpec, mechanisms: &Mechanisms) -> u32 {
        if mechanisms.placeholder_leaves {
            user.clients.max(self.leaves_per_user)
        } else {
            user.clients
        }
    }

    /// How many devices each user's `add_device` actions add, by user name (users without
    /// any are absent); devices are numbered on from the declared clients.
    pub fn added_devices(&self) -> std::collections::BTreeMap<&str, u32> {
        let mut added = std::collections::BTreeMap::new();
        for a in &self.actions {
            if let ActionKind::AddDevice { user } = &a.kind {
                *added.entry(user.as_str()).or_insert(0u32) += 1;
            }
        }
        added
    }

    /// The declared user with this name.
    pub fn user(&self, name: &str) -> Option<&UserSpec> {
        self.users.iter().find(|u| u.name == name)
    }

    /// The declared provider with this domain.
    pub fn provider(&self, domain: &str) -> Option<&ProviderSpec> {
        self.providers.iter().find(|p| p.domain == domain)
    }

    /// When the last scripted action happens (a `send` ends with its last message), in
    /// microseconds; validation keeps it within [`MAX_TIME_US`].
    pub fn end_us(&self) -> u64 {
        self.actions
            .iter()
            .map(|a| a.end_us().unwrap_or(u64::MAX))
            .max()
            .unwrap_or(0)
    }
}

impl Action {
    /// When the action's last effect is scheduled: its `at`, or a `send`'s last message;
    /// `None` if that overflows.
    pub fn end_us(&self) -> Option<u64> {
        match &self.kind {
            ActionKind::Send {
                count, every_us, ..
            } => every_us
                .checked_mul(u64::from(count.saturating_sub(1)))
                .and_then(|d| self.at_us.checked_add(d)),
            _ => Some(self.at_us),
        }
    }
}

/// Reads and parses a scenario file; see [`parse_str`].
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    load_with(path, &[])
}

/// Reads and parses a scenario file with `--set` overrides; see [`parse_with`].
pub fn load_with(path: &Path, overrides: &[Override]) -> Result<Scenario, ScenarioError> {
    let (file, src) = read_text(path)?;
    parse_with(&src, &file, overrides)
}

/// A file's name for messages and its text, which must be UTF-8.
fn read_text(path: &Path) -> Result<(String, String), ScenarioError> {
    let file = path.display().to_string();
    let bytes = read_file(path)?;
    let src = std::str::from_utf8(&bytes).map_err(|e| error::utf8_error(&file, &bytes, e))?;
    let src = src.to_string();
    Ok((file, src))
}

/// Reads a file, or says why it cannot be read.
pub fn read_file(path: &Path) -> Result<Vec<u8>, ScenarioError> {
    let file = path.display().to_string();
    if path.is_dir() {
        return Err(ScenarioError::Io {
            file,
            error: std::io::Error::new(std::io::ErrorKind::IsADirectory, "it is a directory"),
        });
    }
    std::fs::read(path).map_err(|error| ScenarioError::Io { file, error })
}

/// Parses and validates scenario text. `file` is used in messages and, when the scenario
/// has no `name`, its stem becomes the name. A leading byte order mark is ignored.
pub fn parse_str(src: &str, file: &str) -> Result<Scenario, ScenarioError> {
    parse_with(src, file, &[])
}

/// Parses and validates scenario text with `--set` overrides applied (see
/// [`Override`]), and with the population of a `[population]` table generated from the
/// scenario's seed. Errors point into the file, into a `--set` argument, or, for generated
/// tables, into the expanded scenario that [`expand`] returns.
pub fn parse_with(
    src: &str,
    file: &str,
    overrides: &[Override],
) -> Result<Scenario, ScenarioError> {
    let expanded = expand_text(src, file, overrides)?;
    build_expanded(src, file, overrides, &expanded)
}

/// Parses and validates the expanded text of `src`.
fn build_expanded(
    src: &str,
    file: &str,
    overrides: &[Override],
    expanded: &ExpandedText,
) -> Result<Scenario, ScenarioError> {
    let source = match &expanded.map {
        Some(map) => error::Source::mapped(&expanded.text, file, map),
        None => error::Source::new(&expanded.text, file),
    };
    let raw: raw::RawScenario =
        toml::from_str(&expanded.text).map_err(|e| source.toml_error(&e))?;
    let mut s = check::build(&raw, &source)?;
    s.sha256 = hex::encode(Sha256::digest(src.as_bytes()));
    s.overrides = overrides.iter().map(|o| o.arg.clone()).collect();
    s.population = expanded.population.clone();
    Ok(s)
}

/// The scenario `parse_with` would parse, as a file of its own: the text with the overrides
/// applied and the population's providers, users and actions appended, its `[population]`
/// table commented out, so that the file replays the same run. Checked as `parse_with` checks.
pub fn expand(src: &str, file: &str, overrides: &[Override]) -> Result<String, ScenarioError> {
    let expanded = expand_text(src, file, overrides)?;
    build_expanded(src, file, overrides, &expanded)?;
    let mut text = expanded.text;
    if let Some(lines) = population::table_lines(&text[..expanded.generated_at]) {
        let commented: String = text[lines.clone()]
            .split_inclusive('\n')
            .map(|l| format!("# {l}"))
            .collect();
        text.replace_range(lines, &commented);
    }
    Ok(text)
}

/// Reads a scenario file and expands it; see [`expand`].
pub fn load_expanded(path: &Path, overrides: &[Override]) -> Result<String, ScenarioError> {
    let (file, src) = read_text(path)?;
    expand(&src, &file, overrides)
}

/// The text to parse: overrides applied, population appended.
struct ExpandedText {
    text: String,
    /// Where the generated tables start (the end of the text without a population).
    generated_at: usize,
    map: Option<overrides::SourceMap>,
    population: Option<(Population, Generated)>,
}

fn expand_text(
    src: &str,
    file: &str,
    overrides: &[Override],
) -> Result<ExpandedText, ScenarioError> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let (mut text, map) = if overrides.is_empty() {
        (src.to_string(), None)
    } else {
        let (text, map) = overrides::apply(src, file, overrides)?;
        (text, Some(map))
    };
    // Only the keys the population needs: the rest is checked with the whole scenario.
    #[derive(serde::Deserialize)]
    struct Head {
        seed: Option<toml::Value>,
        population: Option<toml::Spanned<population::RawPopulation>>,
    }
    // Most scenarios have no population: they are not parsed twice.
    let found = if !text.contains("population") {
        None
    } else {
        let source = match &map {
            Some(map) => error::Source::mapped(&text, file, map),
            None => error::Source::new(&text, file),
        };
        let head: Head = toml::from_str(&text).map_err(|e| source.toml_error(&e))?;
        match head.population {
            None => None,
            Some(raw) => {
                let p = population::check(raw.get_ref(), &source)?;
                let seed = head
                    .seed
                    .and_then(|v| v.as_integer())
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(DEFAULT_SEED);
                Some((p, seed))
            }
        }
    };
    let Some((p, seed)) = found else {
        return Ok(ExpandedText {
            generated_at: text.len(),
            text,
            map,
            population: None,
        });
    };
    let (generated, made) = population::generate(&p, seed);
    let mut map = map.unwrap_or_else(|| overrides::SourceMap::identity(&text));
    map.push_generated(text.len());
    let generated_at = text.len();
    text.push_str(&generated);
    Ok(ExpandedText {
        generated_at,
        text,
        map: Some(map),
        population: Some((p, made)),
    })
}

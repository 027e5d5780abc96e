//! Validation: static checks in file order, then a replay of room membership in time order.

use mimimi_analysis::adversary::{AdversaryOptions, ADVERSARIES, COMBINED};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Range;
use std::path::Path;

use toml::Spanned;

use super::duration::{format_duration, parse_duration_detail, DURATION_HINT};
use super::error::{ScenarioError, Source};
use super::raw::{RawAction, RawKind, RawScenario, Str, ACTION_KINDS};
use super::{
    Action, ActionKind, Channel, Coalition, ExpectObserver, Expectation, JitterDistribution,
    Mechanisms, Mode, Pos, ProviderSpec, Scenario, UserSpec, WhenEmpty, CLIENTS_RANGE,
    DEFAULT_JITTER_MAX_US, DEFAULT_KEY_PACKAGES, DEFAULT_KEY_PACKAGE_SETS,
    DEFAULT_LAST_RESORT_REUPLOAD_US, DEFAULT_LATENCY_US, DEFAULT_SEED, KEY_PACKAGE_SETS_RANGE,
    MAX_JITTER_US, MAX_KEY_PACKAGES, MAX_LATENCY_US, MAX_PADDING_BUCKETS, MAX_PUBLISH_COUNT,
    MAX_SEND_COUNT, MAX_TIME_US, MIN_LAST_RESORT_REUPLOAD_US, MIN_SEND_EVERY_US,
    PADDING_BUCKET_RANGE, SEND_BYTES_RANGE,
};

/// Default `send.count`.
const DEFAULT_SEND_COUNT: u32 = 1;
/// Default `send.every`, in microseconds (1s).
const DEFAULT_SEND_EVERY_US: u64 = 1_000_000;
/// How many names a hint lists before abbreviating.
const MAX_LISTED: usize = 12;

/// The largest `fingerprint_max_class` and `size_max_class` accepted.
const MAX_FINGERPRINT_CLASS: usize = 1000;

/// Builds the scenario from its deserialized form, or returns the first error: the earliest
/// in the file among the static checks, otherwise the earliest in time of the replay.
pub(crate) fn build(raw: &RawScenario, source: &Source<'_>) -> Result<Scenario, ScenarioError> {
    let mut c = Checker {
        source,
        first: None,
        domains: Vec::new(),
        users: HashMap::new(),
        user_names: Vec::new(),
        connected: HashMap::new(),
    };

    // The name is the default output directory, reports/<name>: a plain file name.
    let name = match &raw.name {
        Some(name) => {
            if name.get_ref().trim().is_empty() {
                c.report(
                    name.span(),
                    "scenario name is empty",
                    Some("give the scenario a name, or remove `name` to use the file name".into()),
                );
            } else if let Some(problem) = file_name_problem(name.get_ref()) {
                c.report(
                    name.span(),
                    format!("invalid scenario name \"{}\": {problem}", name.get_ref()),
                    Some(format!("{FILE_NAME_HINT}, e.g. name = \"quickstart\"")),
                );
            }
            name.get_ref().clone()
        }
        None => {
            let stem = Path::new(source.file).file_stem().map_or_else(
                || source.file.to_string(),
                |s| s.to_string_lossy().into_owned(),
            );
            if let Some(problem) = file_name_problem(&stem) {
                c.report(
                    0..0,
                    format!(
                        "the file name \"{stem}\" cannot name the scenario (it would name its \
                         output directory): {problem}"
                    ),
                    Some(format!(
                        "add a `name` key: {FILE_NAME_HINT}, e.g. name = \"my-scenario\""
                    )),
                );
            }
            stem
        }
    };

    let seed = match &raw.seed {
        Some(seed) => u64::try_from(*seed.get_ref()).unwrap_or_else(|_| {
            c.report(
                seed.span(),
                format!("seed must not be negative, got {}", seed.get_ref()),
                Some("use a non-negative integer, e.g. seed = 1".into()),
            );
            DEFAULT_SEED
        }),
        None => DEFAULT_SEED,
    };

    let latency_us = match &raw.latency {
        Some(latency) => match c.duration(latency, "latency") {
            Some(us) if us > MAX_LATENCY_US => {
                c.report(
                    latency.span(),
                    format!(
                        "latency {} is longer than the longest accepted, {}",
                        latency.get_ref(),
                        format_duration(MAX_LATENCY_US)
                    ),
                    Some("use a latency per hop of at most 1m, e.g. latency = \"20ms\"".into()),
                );
                DEFAULT_LATENCY_US
            }
            Some(us) => us,
            None => DEFAULT_LATENCY_US,
        },
        None => DEFAULT_LATENCY_US,
    };

    let key_packages_per_client = match &raw.key_packages {
        Some(kp) => match u32::try_from(*kp.get_ref()) {
            Ok(n) if n <= MAX_KEY_PACKAGES => n,
            _ => {
                c.report(
                    kp.span(),
                    format!(
                        "key_packages must be between 0 and {MAX_KEY_PACKAGES}, got {}",
                        kp.get_ref()
                    ),
                    Some(format!(
                        "use a value from 0 to {MAX_KEY_PACKAGES}; a last-resort KeyPackage is \
                         always uploaded on top"
                    )),
                );
                DEFAULT_KEY_PACKAGES
            }
        },
        None => DEFAULT_KEY_PACKAGES,
    };

    let channel = match &raw.channel {
        Some(channel) => Channel::from_key(channel.get_ref()).unwrap_or_else(|| {
            c.report(
                channel.span(),
                format!("invalid channel \"{}\"", channel.get_ref()),
                Some(
                    "use \"relay\" (the default), \"direct\" or \"none\"; the channel carries \
                     anonymous requests when anonymous_channel is on"
                        .into(),
                ),
            );
            Channel::Relay
        }),
        None => Channel::Relay,
    };

    let key_package_sets = match &raw.key_package_sets {
        Some(sets) => match u32::try_from(*sets.get_ref()) {
            Ok(n) if KEY_PACKAGE_SETS_RANGE.contains(&n) => n,
            _ => {
                c.report(
                    sets.span(),
                    format!(
                        "key_package_sets must be between {} and {}, got {}",
                        KEY_PACKAGE_SETS_RANGE.start(),
                        KEY_PACKAGE_SETS_RANGE.end(),
                        sets.get_ref()
                    ),
                    Some(format!(
                        "use a value from {} to {}: the regular KeyPackage sets each user keeps \
                         under last_resort_policy",
                        KEY_PACKAGE_SETS_RANGE.start(),
                        KEY_PACKAGE_SETS_RANGE.end()
                    )),
                );
                DEFAULT_KEY_PACKAGE_SETS
            }
        },
        None => DEFAULT_KEY_PACKAGE_SETS,
    };

    let last_resort_reupload_us = match &raw.last_resort_reupload {
        Some(every) => match c.duration(every, "last_resort_reupload") {
            Some(us) if us > 0 && us < MIN_LAST_RESORT_REUPLOAD_US => {
                c.report(
                    every.span(),
                    format!(
                        "last_resort_reupload {} is shorter than the shortest accepted, {}",
                        every.get_ref(),
                        format_duration(MIN_LAST_RESORT_REUPLOAD_US)
                    ),
                    Some(
                        "every re-upload builds a KeyPackage per client: use at least \"1s\", \
                         or \"0s\" to never re-upload"
                            .into(),
                    ),
                );
                DEFAULT_LAST_RESORT_REUPLOAD_US
            }
            Some(us) => us,
            None => DEFAULT_LAST_RESORT_REUPLOAD_US,
        },
        None => DEFAULT_LAST_RESORT_REUPLOAD_US,
    };

    let jitter = match &raw.jitter {
        Some(j) => JitterDistribution::from_key(j.get_ref()).unwrap_or_else(|| {
            c.report(
                j.span(),
                format!("invalid jitter distribution \"{}\"", j.get_ref()),
                Some(
                    "use \"uniform\" (the default: uniform on [0, jitter_max]) or \
                     \"exponential\" (mean jitter_max/4, truncated at jitter_max)"
                        .into(),
                ),
            );
            JitterDistribution::Uniform
        }),
        None => JitterDistribution::Uniform,
    };

    let jitter_max_us = match &raw.jitter_max {
        Some(max) => match c.duration(max, "jitter_max") {
            Some(0) => {
                c.report(
                    max.span(),
                    "jitter_max must be longer than 0s",
                    Some(
                        "give the longest extra delay of the jitter countermeasure, e.g. \
                         jitter_max = \"200ms\"; switch jitter off in the ablation instead"
                            .into(),
                    ),
                );
                DEFAULT_JITTER_MAX_US
            }
            Some(us) if us > MAX_JITTER_US => {
                c.report(
                    max.span(),
                    format!(
                        "jitter_max {} is longer than the longest accepted, {}",
                        max.get_ref(),
                        format_duration(MAX_JITTER_US)
                    ),
                    Some("use an extra delay of at most 1m, e.g. jitter_max = \"200ms\"".into()),
                );
                DEFAULT_JITTER_MAX_US
            }
            Some(us) => us,
            None => DEFAULT_JITTER_MAX_US,
        },
        None => DEFAULT_JITTER_MAX_US,
    };

    let padding_buckets = c.padding_buckets(raw);

    let ablations = c.ablations(raw);
    let modes = c.modes(raw, ablations);
    // Adds need a connection when KeyPackages are fetched by connection token or identity
    // links are derived from connection keys; joins when a member must hand over the room's
    // identity link wrapper key.
    let connections_required = modes
        .iter()
        .any(|m| m.mechanisms.pseudonymous_credentials || m.mechanisms.anonymous_key_packages);
    let joins_need_connection = modes.iter().any(|m| m.mechanisms.pseudonymous_credentials);

    let providers = c.providers(raw);
    let relay = raw.relay.as_ref().map(|r| {
        let d = r.get_ref().as_str();
        if !c.domains.contains(&d) {
            c.report(
                r.span(),
                format!("unknown provider \"{d}\" in `relay`"),
                Some(format!(
                    "declared providers: {}; or remove `relay` to use the first provider other \
                     than the client's own",
                    list(c.domains.iter().copied())
                )),
            );
        }
        d.to_string()
    });
    let adversary = c.adversary(raw);
    let users = c.users(raw);
    let leaves_per_user = c.leaves_per_user(raw, &users);
    let coalitions = c.coalitions(raw);
    let expectations = c.expectations(raw, &modes, &coalitions);

    let mut pending = Vec::with_capacity(raw.action.len());
    for action in &raw.action {
        if let Some(p) = c.action(action) {
            pending.push(p);
        }
    }

    if let Some((_, err)) = c.first {
        return Err(err);
    }

    // Stable: actions at the same time keep their file order.
    pending.sort_by_key(|p| p.at_us);
    replay(
        &pending,
        source,
        &users,
        connections_required,
        joins_need_connection,
    )?;

    Ok(Scenario {
        name,
        file: source.file.to_string(),
        sha256: String::new(),
        seed,
        latency_us,
        key_packages_per_client,
        providers,
        users,
        coalitions,
        expectations,
        adversary,
        actions: pending
            .into_iter()
            .map(|p| Action {
                at_us: p.at_us,
                pos: p.pos,
                kind: p.kind,
            })
            .collect(),
        modes,
        channel,
        relay,
        key_package_sets,
        last_resort_reupload_us,
        jitter,
        jitter_max_us,
        padding_buckets,
        leaves_per_user,
        connections_required,
        overrides: vec![],
        population: None,
    })
}

/// A statically valid action waiting for the replay.
struct Pending<'r> {
    at_us: u64,
    pos: Pos,
    raw: RawKind<'r>,
    kind: ActionKind,
}

/// Static checks; keeps the error that comes first in the file.
struct Checker<'s, 'r> {
    source: &'s Source<'s>,
    first: Option<(usize, ScenarioError)>,
    /// Declared provider domains, in file order.
    domains: Vec<&'r str>,
    /// Declared users and the line of their declaration.
    users: HashMap<&'r str, usize>,
    /// Declared user names, in file order.
    user_names: Vec<&'r str>,
    /// Connected pairs (ordered by name) and the line of their connect action.
    connected: HashMap<(&'r str, &'r str), usize>,
}

impl<'r> Checker<'_, 'r> {
    fn report(&mut self, span: Range<usize>, message: impl Into<String>, hint: Option<String>) {
        if self.first.as_ref().is_some_and(|(at, _)| *at <= span.start) {
            return;
        }
        let err = self.source.error(span.clone(), message, hint);
        self.first = Some((span.start, err));
    }

    fn line(&self, span: &Range<usize>) -> usize {
        self.source.pos(span.start).line
    }

    fn duration(&mut self, value: &Str, key: &str) -> Option<u64> {
        match parse_duration_detail(value.get_ref()) {
            Ok(us) => Some(us),
            Err((message, hint)) => {
                self.report(
                    value.span(),
                    format!("invalid duration for `{key}`: {message}"),
                    Some(hint.unwrap_or_else(|| DURATION_HINT.to_string())),
                );
                None
            }
        }
    }

    /// The `padding_buckets` key: 1 to 64 sizes, each within [`PADDING_BUCKET_RANGE`],
    /// strictly increasing; absent means the powers of two from 256 bytes (empty).
    fn padding_buckets(&mut self, raw: &'r RawScenario) -> Vec<u64> {
        const HINT: &str = "list strictly increasing sizes in bytes from 64 to 16777216, e.g. \
                            padding_buckets = [256, 512, 1024, 4096, 16384, 65536], or remove the \
                            key to pad to the powers of two from 256";
        let Some(list) = &raw.padding_buckets else {
            return vec![];
        };
        let entries = list.get_ref();
        if entries.is_empty() || entries.len() > MAX_PADDING_BUCKETS {
            self.report(
                list.span(),
                format!(
                    "padding_buckets needs 1 to {MAX_PADDING_BUCKETS} sizes, got {}",
                    entries.len()
                ),
                Some(HINT.into()),
            );
            return vec![];
        }
        let mut out: Vec<u64> = Vec::with_capacity(entries.len());
        for e in entries {
            let size = match u64::try_from(*e.get_ref()) {
                Ok(v) if PADDING_BUCKET_RANGE.contains(&v) => v,
                _ => {
                    self.report(
                        e.span(),
                        format!(
                            "a padding bucket must be between {} and {} bytes, got {}",
                            PADDING_BUCKET_RANGE.start(),
                            PADDING_BUCKET_RANGE.end(),
                            e.get_ref()
                        ),
                        Some(HINT.into()),
                    );
                    return vec![];
                }
            };
            if let Some(&prev) = out.last() {
                if size <= prev {
                    self.report(
                        e.span(),
                        format!(
                            "padding buckets must be strictly increasing: {size} follows {prev}"
                        ),
                        Some(HINT.into()),
                    );
                    return vec![];
                }
            }
            out.push(size);
        }
        out
    }

    /// The `leaves_per_user` key: within [`CLIENTS_RANGE`]; absent means the largest
    /// `clients` of any user (1 without users).
    fn leaves_per_user(&mut self, raw: &'r RawScenario, users: &[UserSpec]) -> u32 {
        let default = users.iter().map(|u| u.clients).max().unwrap_or(1);
        let Some(k) = &raw.leaves_per_user else {
            return default;
        };
        match u32::try_from(*k.get_ref()) {
            Ok(n) if CLIENTS_RANGE.contains(&n) => n,
            _ => {
                self.report(
                    k.span(),
                    format!(
                        "leaves_per_user must be between {} and {}, got {}",
                        CLIENTS_RANGE.start(),
                        CLIENTS_RANGE.end(),
                        k.get_ref()
                    ),
                    Some(format!(
                        "use a value from {} to {} (the clients a user may have), or remove the \
                         key to pad every user to the largest `clients` of the scenario ({default})",
                        CLIENTS_RANGE.start(),
                        CLIENTS_RANGE.end()
                    )),
                );
                default
            }
        }
    }

    /// The `[[expect]]` tables: a mode the scenario runs, a known observer, scope and metric,
    /// and at least one bound.
    /// The `[adversary]` table.
    fn adversary(&mut self, raw: &'r RawScenario) -> AdversaryOptions {
        let mut out = AdversaryOptions::default();
        let Some(a) = &raw.adversary else {
            return out;
        };
        let a = a.get_ref();
        if let Some(d) = a.directory {
            out.directory = d;
        }
        if let Some(m) = &a.fingerprint_max_class {
            if let Some(v) = self.max_class(
                m,
                "fingerprint_max_class",
                "fingerprint",
                mimimi_analysis::fingerprint::DEFAULT_MAX_CLASS,
            ) {
                out.fingerprint_max_class = v;
            }
        }
        if let Some(m) = &a.size_max_class {
            if let Some(v) = self.max_class(
                m,
                "size_max_class",
                "size",
                mimimi_analysis::size::DEFAULT_MAX_CLASS,
            ) {
                out.size_max_class = v;
            }
        }
        if let Some(w) = &a.timing_window {
            match self.duration(w, "timing_window") {
                Some(us) if us > 0 => out.timing_window_us = us,
                Some(_) => self.report(
                    w.span(),
                    "timing_window must be longer than 0s",
                    Some(format!(
                        "the timing adversary links events within this window; the default is \
                         \"{}\"",
                        format_duration(mimimi_analysis::timing::DEFAULT_WINDOW_US)
                    )),
                ),
                None => {}
            }
        }
        out
    }

    /// A rarity threshold of the `[adversary]` table (`key`, for the adversary `name`).
    fn max_class(
        &mut self,
        m: &Spanned<i64>,
        key: &str,
        name: &str,
        default: usize,
    ) -> Option<usize> {
        match usize::try_from(*m.get_ref()) {
            Ok(v) if (1..=MAX_FINGERPRINT_CLASS).contains(&v) => Some(v),
            _ => {
                self.report(
                    m.span(),
                    format!(
                        "{key} must be between 1 and {MAX_FINGERPRINT_CLASS}, got {}",
                        m.get_ref()
                    ),
                    Some(format!(
                        "the {name} adversary links a signature seen in at most this many \
                         (room, user) entries; the default is {default}"
                    )),
                );
                None
            }
        }
    }

    fn expectations(
        &mut self,
        raw: &'r RawScenario,
        modes: &[Mode],
        coalitions: &[Coalition],
    ) -> Vec<Expectation> {
        let metrics: Vec<&str> = mimimi_analysis::model::METRICS
            .iter()
            .map(|(m, _)| *m)
            .collect();
        let mut out = Vec::with_capacity(raw.expect.len());
        for expect in &raw.expect {
            let e = expect.get_ref();
            let mode = e.mode.get_ref().as_str();
            if !modes.iter().any(|m| m.name == mode) {
                self.report(
                    e.mode.span(),
                    format!("expectation about mode {mode}, which this scenario does not run"),
                    Some(format!(
                        "modes run: {}",
                        list(modes.iter().map(|m| m.name.as_str()))
                    )),
                );
            }
            let observer = e.observer.get_ref().as_str();
            let known = observer == "every-provider"
                || observer == mimimi_analysis::model::ALL_PROVIDERS
                || self.domains.contains(&observer)
                || coalitions.iter().any(|c| c.name == observer);
            if !known {
                self.report(
                    e.observer.span(),
                    format!("unknown observer {observer}"),
                    Some(format!(
                        "use every-provider, all, a provider domain ({}) or a coalition name",
                        list(self.domains.iter().copied())
                    )),
                );
            }
            let scope = match &e.scope {
                Some(s) => {
                    let v = s.get_ref().as_str();
                    if !["own", "foreign", "all"].contains(&v) {
                        self.report(
                            s.span(),
                            format!("unknown scope {v}"),
                            Some("use own, foreign or all".into()),
                        );
                    }
                    v.to_string()
                }
                None => "all".to_string(),
            };
            let metric = e.metric.get_ref().as_str();
            if !metrics.contains(&metric) {
                self.report(
                    e.metric.span(),
                    format!("unknown metric {metric}"),
                    Some(format!("metrics: {}", metrics.join(", "))),
                );
            }
            let value = |v: &Option<Spanned<f64>>| v.as_ref().map(|v| *v.get_ref());
            if e.max.is_none() && e.min.is_none() && e.equals.is_none() {
                self.report(
                    expect.span(),
                    "expectation without a bound",
                    Some("give it max, min or equals (with an optional tolerance)".into()),
                );
            }
            if let (Some(t), None) = (&e.tolerance, &e.equals) {
                self.report(
                    t.span(),
                    "tolerance without equals",
                    Some("tolerance applies to equals; use min and max for a range".into()),
                );
            }
            for (key, bound) in [
                ("min", &e.min),
                ("max", &e.max),
                ("equals", &e.equals),
                ("tolerance", &e.tolerance),
            ] {
                if let Some(b) = bound.as_ref().filter(|b| !b.get_ref().is_finite()) {
                    self.report(
                        b.span(),
                        format!("`{key}` must be a finite number, got {}", b.get_ref()),
                        Some(format!(
                            "a bound of {} can never hold or always holds; write a number, \
                             e.g. {key} = 0.0",
                            b.get_ref()
                        )),
                    );
                }
            }
            if let Some(t) = &e.tolerance {
                if t.get_ref().is_nan() || *t.get_ref() < 0.0 {
                    self.report(
                        t.span(),
                        "tolerance must not be negative",
                        Some("use e.g. tolerance = 0.01".into()),
                    );
                }
            }
            let when_empty = match &e.when_empty {
                Some(w) => WhenEmpty::parse(w.get_ref()).unwrap_or_else(|| {
                    self.report(
                        w.span(),
                        format!("unknown when_empty {}", w.get_ref()),
                        Some(
                            "use pass (a metric taken over nothing passes) or fail (the \
                             default: nothing measured fails)"
                                .into(),
                        ),
                    );
                    WhenEmpty::Fail
                }),
                None => WhenEmpty::Fail,
            };
            let adversary = match &e.adversary {
                Some(a) => {
                    let name = a.get_ref().as_str();
                    if !ADVERSARIES.iter().any(|(n, _)| *n == name) {
                        self.report(
                            a.span(),
                            format!("unknown adversary {name}"),
                            Some(format!(
                                "adversaries: {} (default {COMBINED}, the strongest)",
                                list(ADVERSARIES.iter().map(|(n, _)| *n))
                            )),
                        );
                    }
                    name.to_string()
                }
                None => COMBINED.to_string(),
            };
            out.push(Expectation {
                pos: self.source.pos(expect.span().start),
                mode: mode.to_string(),
                observer: if observer == "every-provider" {
                    ExpectObserver::EveryProvider
                } else {
                    ExpectObserver::Named(observer.to_string())
                },
                scope,
                metric: metric.to_string(),
                min: value(&e.min),
                max: value(&e.max),
                equals: value(&e.equals).map(|v| (v, value(&e.tolerance).unwrap_or(1e-9))),
                when_empty,
                adversary,
                why: e.why.as_ref().map(|w| w.get_ref().clone()),
            });
        }
        out
    }

    /// The declared coalitions: unique names that are neither `all` nor a provider domain, and
    /// at least two declared providers each.
    fn coalitions(&mut self, raw: &'r RawScenario) -> Vec<Coalition> {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut out = Vec::with_capacity(raw.coalition.len());
        for coalition in &raw.coalition {
            let c = coalition.get_ref();
            let name = c.name.get_ref().as_str();
            if !is_name(name) && !name.contains('+') {
                self.report(
                    c.name.span(),
                    format!("invalid coalition name \"{name}\""),
                    Some(format!(
                        "{NAME_HINT}; '+' is allowed too, e.g. \"alpha+beta\""
                    )),
                );
            } else if name == "all" || self.domains.contains(&name) {
                self.report(
                    c.name.span(),
                    format!("coalition name {name} is already an observer"),
                    Some("`all` and the provider domains are built-in observers; choose another name".into()),
                );
            } else if let Some(line) = seen.get(name) {
                let line = *line;
                self.report(
                    c.name.span(),
                    format!("two coalitions named {name}"),
                    Some(format!(
                        "the first is declared at line {line}; rename one of them"
                    )),
                );
            } else {
                seen.insert(name, self.line(&c.name.span()));
            }
            let mut members: Vec<String> = vec![];
            for m in &c.members {
                let d = m.get_ref().as_str();
                if !self.domains.contains(&d) {
                    self.report(
                        m.span(),
                        format!("coalition {name} names an undeclared provider \"{d}\""),
                        Some(format!(
                            "declared providers: {}",
                            list(self.domains.iter().copied())
                        )),
                    );
                } else if members.iter().any(|x| x == d) {
                    self.report(
                        m.span(),
                        format!("coalition {name} lists {d} twice"),
                        Some("list each provider once".into()),
                    );
                } else {
                    members.push(d.to_string());
                }
            }
            if c.members.len() < 2 {
                self.report(
                    coalition.span(),
                    format!("coalition {name} needs at least two providers"),
                    Some("a single provider is already an observer on its own".into()),
                );
            }
            out.push(Coalition {
                name: name.to_string(),
                members,
            });
        }
        out
    }

    /// The declared ablations as modes, in file order.
    fn ablations(&mut self, raw: &'r RawScenario) -> Vec<Mode> {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut modes = Vec::with_capacity(raw.ablation.len());
        for ablation in &raw.ablation {
            let a = ablation.get_ref();
            let name = a.name.get_ref().as_str();
            if !is_name(name) {
                self.report(
                    a.name.span(),
                    format!("invalid ablation name \"{name}\""),
                    Some(NAME_HINT.into()),
                );
            } else if BUILT_IN_MODES.contains(&name) {
                self.report(
                    a.name.span(),
                    format!("ablation name {name} is reserved for a built-in mode"),
                    Some(format!(
                        "choose another name; {} are built in, use base = \"{name}\" to start \
                         from it",
                        BUILT_IN_MODES.join(" and ")
                    )),
                );
            } else if let Some(line) = seen.get(name) {
                let line = *line;
                self.report(
                    a.name.span(),
                    format!("two ablations named {name}"),
                    Some(format!(
                        "the first is declared at line {line}; rename one of them"
                    )),
                );
            } else {
                seen.insert(name, self.line(&a.name.span()));
            }

            let mut mechanisms = match &a.base {
                None => Mechanisms::MIMI,
                Some(base) => match base.get_ref().as_str() {
                    "mimi" => Mechanisms::MIMI,
                    "mimimi" => Mechanisms::MIMIMI,
                    b => {
                        self.report(
                            base.span(),
                            format!("unknown base \"{b}\" for ablation {name}"),
                            Some(
                                "use base = \"mimi\" (everything off, the default) or \
                                 base = \"mimimi\" (every draft mechanism on, no countermeasure)"
                                    .into(),
                            ),
                        );
                        Mechanisms::MIMI
                    }
                },
            };
            for (key, value) in a.switches() {
                if let Some(on) = value {
                    mechanisms.set(key, on);
                }
            }
            modes.push(Mode {
                name: name.to_string(),
                mechanisms,
            });
        }
        modes
    }

    /// The modes to run: the `modes` key, or the built-in modes and then every ablation.
    fn modes(&mut self, raw: &'r RawScenario, ablations: Vec<Mode>) -> Vec<Mode> {
        let mut available = vec![Mode::mimi(), Mode::mimimi()];
        for ablation in ablations {
            if !available.iter().any(|m| m.name == ablation.name) {
                available.push(ablation);
            }
        }
        let Some(listed) = &raw.modes else {
            return available;
        };
        if listed.get_ref().is_empty() {
            self.report(
                listed.span(),
                "`modes` needs at least one mode",
                Some(format!(
                    "list the modes to run, e.g. modes = [\"mimi\", \"mimimi\"], or remove \
                     `modes` to run all of: {}",
                    list(available.iter().map(|m| m.name.as_str()))
                )),
            );
            return available;
        }
        let mut modes: Vec<Mode> = Vec::with_capacity(listed.get_ref().len());
        for entry in listed.get_ref() {
            let name = entry.get_ref().as_str();
            match available.iter().find(|m| m.name == name) {
                None => self.report(
                    entry.span(),
                    format!("unknown mode {name}"),
                    Some(format!(
                        "available modes: {}; fix the name or declare it with an [[ablation]] \
                         table",
                        list(available.iter().map(|m| m.name.as_str()))
                    )),
                ),
                Some(_) if modes.iter().any(|m| m.name == name) => self.report(
                    entry.span(),
                    format!("mode {name} is listed twice in modes"),
                    Some("remove the duplicate".into()),
                ),
                Some(mode) => modes.push(mode.clone()),
            }
        }
        modes
    }

    fn providers(&mut self, raw: &'r RawScenario) -> Vec<ProviderSpec> {
        if raw.provider.is_empty() {
            self.report(
                0..0,
                "no providers declared",
                Some(
                    "add a [[provider]] table with a domain, e.g. domain = \"alpha.example\""
                        .into(),
                ),
            );
        }
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut providers = Vec::with_capacity(raw.provider.len());
        for provider in &raw.provider {
            let domain = &provider.get_ref().domain;
            let d = domain.get_ref().as_str();
            if let Some(problem) = domain_problem(d) {
                self.report(
                    domain.span(),
                    format!("invalid provider domain \"{d}\": {problem}"),
                    Some(
                        "use a DNS-like name made of letters, digits, '-' and '.', e.g. \
                         \"alpha.example\""
                            .into(),
                    ),
                );
            } else if let Some(line) = seen.get(&d.to_ascii_lowercase()) {
                self.report(
                    domain.span(),
                    format!("two providers with domain \"{d}\""),
                    Some(format!(
                        "the first is declared at line {line}; remove one or rename it"
                    )),
                );
            } else {
                seen.insert(d.to_ascii_lowercase(), self.line(&domain.span()));
            }
            if !self.domains.contains(&d) {
                self.domains.push(d);
            }
            providers.push(ProviderSpec {
                domain: d.to_string(),
            });
        }
        providers
    }

    fn users(&mut self, raw: &'r RawScenario) -> Vec<UserSpec> {
        if raw.user.is_empty() {
            self.report(
                0..0,
                "no users declared",
                Some(
                    "add a [[user]] table, e.g. name = \"alice\" and provider = \"alpha.example\""
                        .into(),
                ),
            );
        }
        let mut users = Vec::with_capacity(raw.user.len());
        for user in &raw.user {
            let u = user.get_ref();
            let name = u.name.get_ref().as_str();
            if !is_name(name) {
                self.report(
                    u.name.span(),
                    format!("invalid user name \"{name}\""),
                    Some(NAME_HINT.into()),
                );
            } else if let Some(line) = self.users.get(name) {
                let line = *line;
                self.report(
                    u.name.span(),
                    format!("two users named {name}"),
                    Some(format!(
                        "the first is declared at line {line}; rename one of them"
                    )),
                );
            } else {
                self.users.insert(name, self.line(&u.name.span()));
                self.user_names.push(name);
            }

            let provider = u.provider.get_ref().as_str();
            if !self.domains.contains(&provider) {
                let hint = if self.domains.is_empty() {
                    "declare it with a [[provider]] table".to_string()
                } else {
                    format!(
                        "declared providers: {}; fix the domain or declare it with a \
                         [[provider]] table",
                        list(self.domains.iter().copied())
                    )
                };
                self.report(
                    u.provider.span(),
                    format!("user {name}'s provider \"{provider}\" is not declared"),
                    Some(hint),
                );
            }

            let clients = match &u.clients {
                Some(clients) => match u32::try_from(*clients.get_ref()) {
                    Ok(n) if CLIENTS_RANGE.contains(&n) => n,
                    _ => {
                        self.report(
                            clients.span(),
                            format!(
                                "user {name} has {} clients, but clients must be {}..={}",
                                clients.get_ref(),
                                CLIENTS_RANGE.start(),
                                CLIENTS_RANGE.end()
                            ),
                            Some(format!(
                                "set clients to a value from {} to {}",
                                CLIENTS_RANGE.start(),
                                CLIENTS_RANGE.end()
                            )),
                        );
                        1
                    }
                },
                None => 1,
            };
            users.push(UserSpec {
                name: name.to_string(),
                provider: provider.to_string(),
                clients,
            });
        }
        users
    }

    fn action(&mut self, action: &'r Spanned<RawAction>) -> Option<Pending<'r>> {
        let a = action.get_ref();
        let at_us = match self.duration(&a.at, "at") {
            Some(us) if us > MAX_TIME_US => {
                self.report(
                    a.at.span(),
                    format!(
                        "action at {} is after the longest simulated time, {}",
                        a.at.get_ref(),
                        format_duration(MAX_TIME_US)
                    ),
                    Some(format!(
                        "a run simulates at most {}; move the action earlier",
                        format_duration(MAX_TIME_US)
                    )),
                );
                None
            }
            other => other,
        };
        let mut kinds = a.kinds();
        let kind_list = ACTION_KINDS.join(", ");
        if kinds.is_empty() {
            self.report(
                action.span(),
                "action has no kind",
                Some(format!("give it exactly one of: {kind_list}")),
            );
            return None;
        }
        if kinds.len() > 1 {
            self.report(
                kinds[1].1.clone(),
                format!(
                    "action has more than one kind: `{}` and `{}`",
                    kinds[0].0, kinds[1].0
                ),
                Some(format!(
                    "split it into separate [[action]] tables, each with `at` and exactly one \
                     of: {kind_list}"
                )),
            );
            return None;
        }
        let (_, span, raw) = kinds.remove(0);
        let kind = self.kind(&raw, span, at_us);
        Some(Pending {
            at_us: at_us?,
            pos: self.source.pos(action.span().start),
            raw,
            kind,
        })
    }

    fn kind(&mut self, raw: &RawKind<'r>, span: Range<usize>, at_us: Option<u64>) -> ActionKind {
        match raw {
            RawKind::Connect(r) => {
                let (from, to) = (r.from.get_ref().as_str(), r.to.get_ref().as_str());
                let known = self.user(&r.from) & self.user(&r.to);
                if known && from == to {
                    self.report(
                        r.to.span(),
                        format!("connect from {from} to itself"),
                        Some("connect two different users".into()),
                    );
                } else if known {
                    let pair = if from < to { (from, to) } else { (to, from) };
                    let accepted = r.accept.as_ref().is_none_or(|a| *a.get_ref());
                    if let Some(line) = self.connected.get(&pair) {
                        let line = *line;
                        self.report(
                            span,
                            format!("{from} and {to} are already connected"),
                            Some(format!(
                                "the accepted connect of this pair is at line {line}; remove \
                                 this one"
                            )),
                        );
                    } else if accepted {
                        // A declined request leaves the pair free to try again.
                        let line = self.line(&span);
                        self.connected.insert(pair, line);
                    }
                }
                ActionKind::Connect {
                    from: from.to_string(),
                    to: to.to_string(),
                    accept: r.accept.as_ref().is_none_or(|a| *a.get_ref()),
                }
            }
            RawKind::CreateRoom(r) => {
                self.room(&r.room);
                self.user(&r.by);
                let by = r.by.get_ref().as_str();
                if let Some(hub) = &r.hub {
                    let h = hub.get_ref().as_str();
                    if !self.domains.contains(&h) {
                        let declared = list(self.domains.iter().copied());
                        self.report(
                            hub.span(),
                            format!("unknown provider \"{h}\" in `hub`"),
                            Some(format!(
                                "declared providers: {declared}; or remove `hub` to host the \
                                 room on the creator's provider"
                            )),
                        );
                    }
                }
                let mut seen = HashSet::new();
                for member in &r.members {
                    let m = member.get_ref().as_str();
                    if !self.user(member) {
                        continue;
                    }
                    if m == by {
                        self.report(
                            member.span(),
                            format!("the creator {m} is listed among members"),
                            Some(format!(
                                "remove {m} from members; the creator is always a member"
                            )),
                        );
                    } else if !seen.insert(m) {
                        self.report(
                            member.span(),
                            format!("{m} is listed twice in members"),
                            Some("remove the duplicate".into()),
                        );
                    }
                }
                ActionKind::CreateRoom {
                    room: r.room.get_ref().clone(),
                    by: by.to_string(),
                    hub: r.hub.as_ref().map(|h| h.get_ref().clone()),
                    members: strings(&r.members),
                    identity_links: r.identity_links.as_ref().is_none_or(|l| *l.get_ref()),
                }
            }
            RawKind::Add(r) => {
                self.room(&r.room);
                self.user(&r.by);
                if r.users.get_ref().is_empty() {
                    self.report(
                        r.users.span(),
                        "`add` needs at least one user",
                        Some("list the users to add, e.g. users = [\"bob\"]".into()),
                    );
                }
                let mut seen = HashSet::new();
                for user in r.users.get_ref() {
                    if self.user(user) && !seen.insert(user.get_ref().as_str()) {
                        self.report(
                            user.span(),
                            format!("{} is listed twice in users", user.get_ref()),
                            Some("remove the duplicate".into()),
                        );
                    }
                }
                ActionKind::Add {
                    room: r.room.get_ref().clone(),
                    by: r.by.get_ref().clone(),
                    users: strings(r.users.get_ref()),
                }
            }
            RawKind::Join(r) => {
                self.room(&r.room);
                self.user(&r.user);
                ActionKind::Join {
                    room: r.room.get_ref().clone(),
                    user: r.user.get_ref().clone(),
                }
            }
            RawKind::Remove(r) => {
                self.room(&r.room);
                let known = self.user(&r.by) & self.user(&r.user);
                if known && r.by.get_ref() == r.user.get_ref() {
                    self.report(
                        r.user.span(),
                        format!("{} cannot remove itself", r.user.get_ref()),
                        Some(format!(
                            "use leave = {{ room = \"{}\", user = \"{}\" }} instead",
                            r.room.get_ref(),
                            r.user.get_ref()
                        )),
                    );
                }
                ActionKind::Remove {
                    room: r.room.get_ref().clone(),
                    by: r.by.get_ref().clone(),
                    user: r.user.get_ref().clone(),
                }
            }
            RawKind::Leave(r) => {
                self.room(&r.room);
                self.user(&r.user);
                ActionKind::Leave {
                    room: r.room.get_ref().clone(),
                    user: r.user.get_ref().clone(),
                }
            }
            RawKind::Send(r) => {
                self.room(&r.room);
                self.user(&r.from);
                let count = r.count.as_ref().map_or(DEFAULT_SEND_COUNT, |c| {
                    self.count(c, "send", MAX_SEND_COUNT)
                });
                let every_us = match &r.every {
                    Some(every) => match self.duration(every, "every") {
                        Some(us) if us < MIN_SEND_EVERY_US => {
                            self.report(
                                every.span(),
                                format!(
                                    "`every` must be at least {}, got {}",
                                    format_duration(MIN_SEND_EVERY_US),
                                    every.get_ref()
                                ),
                                Some("use a longer interval, e.g. every = \"1s\"".into()),
                            );
                            DEFAULT_SEND_EVERY_US
                        }
                        Some(us) => us,
                        None => DEFAULT_SEND_EVERY_US,
                    },
                    None => DEFAULT_SEND_EVERY_US,
                };
                if let (Some(at), Some(count_value)) = (at_us, &r.count) {
                    let last = every_us
                        .checked_mul(u64::from(count.saturating_sub(1)))
                        .and_then(|d| at.checked_add(d));
                    if last.is_none_or(|l| l > MAX_TIME_US) {
                        self.report(
                            count_value.span(),
                            format!(
                                "the last of {count} messages, one every {}, would be sent \
                                 after the longest simulated time, {}",
                                format_duration(every_us),
                                format_duration(MAX_TIME_US)
                            ),
                            Some("send fewer messages, or send them more often".into()),
                        );
                    }
                }
                let bytes = r.bytes.as_ref().map(|b| {
                    let n = *b.get_ref();
                    match u32::try_from(n) {
                        Ok(n) if SEND_BYTES_RANGE.contains(&n) => n,
                        _ => {
                            self.report(
                                b.span(),
                                format!(
                                    "`bytes` must be {} to {}, got {n}",
                                    SEND_BYTES_RANGE.start(),
                                    SEND_BYTES_RANGE.end()
                                ),
                                Some(
                                    "give the length of each message's text, e.g. bytes = 300"
                                        .into(),
                                ),
                            );
                            *SEND_BYTES_RANGE.start()
                        }
                    }
                });
                ActionKind::Send {
                    room: r.room.get_ref().clone(),
                    from: r.from.get_ref().clone(),
                    count,
                    every_us,
                    bytes,
                }
            }
            RawKind::PublishKeyPackages(r) => {
                self.user(&r.user);
                let count = self.count(&r.count, "publish_key_packages", MAX_PUBLISH_COUNT);
                ActionKind::PublishKeyPackages {
                    user: r.user.get_ref().clone(),
                    count,
                }
            }
            RawKind::AddDevice(r) => {
                self.user(&r.user);
                ActionKind::AddDevice {
                    user: r.user.get_ref().clone(),
                }
            }
            RawKind::RemoveDevice(r) => {
                self.user(&r.user);
                let device = match u32::try_from(*r.device.get_ref()) {
                    Ok(n) if n >= 1 => n,
                    _ => {
                        self.report(
                            r.device.span(),
                            format!(
                                "`device` must be a device number from 1, got {}",
                                r.device.get_ref()
                            ),
                            Some(
                                "devices are numbered from 1: a user's declared clients first, \
                                 then each add_device in time order"
                                    .into(),
                            ),
                        );
                        1
                    }
                };
                ActionKind::RemoveDevice {
                    user: r.user.get_ref().clone(),
                    device,
                }
            }
        }
    }

    /// Checks that a user is declared; returns whether it is.
    fn user(&mut self, user: &Str) -> bool {
        let name = user.get_ref().as_str();
        if self.users.contains_key(name) {
            return true;
        }
        let hint = if self.user_names.is_empty() {
            "declare it with a [[user]] table".to_string()
        } else {
            format!(
                "declared users: {}; fix the name or declare it with a [[user]] table",
                list(self.user_names.iter().copied())
            )
        };
        self.report(user.span(), format!("unknown user \"{name}\""), Some(hint));
        false
    }

    fn room(&mut self, room: &Str) {
        let name = room.get_ref().as_str();
        if !is_name(name) {
            self.report(
                room.span(),
                format!("invalid room name \"{name}\""),
                Some(NAME_HINT.into()),
            );
        }
    }

    fn count(&mut self, count: &Spanned<i64>, kind: &str, max: u32) -> u32 {
        let n = *count.get_ref();
        if n < 1 {
            self.report(
                count.span(),
                format!("{kind} count must be at least 1, got {n}"),
                Some("use a positive count, or remove the action".into()),
            );
            return 1;
        }
        match u32::try_from(n) {
            Ok(n) if n <= max => n,
            _ => {
                self.report(
                    count.span(),
                    format!("{kind} count {n} is too large"),
                    Some(format!("use a count of at most {max}")),
                );
                1
            }
        }
    }
}

/// The names of the built-in modes, which ablations cannot take.
const BUILT_IN_MODES: [&str; 2] = ["mimi", "mimimi"];

const NAME_HINT: &str =
    "names are 1 to 100 characters and use only letters, digits, '_', '.' and '-'";

const FILE_NAME_HINT: &str =
    "a scenario name is up to 100 letters, digits, '_', '.' and '-', not starting with '.'";

/// What keeps `s` from being a scenario name (a directory name of its own), if anything.
fn file_name_problem(s: &str) -> Option<&'static str> {
    if s.len() > 100 {
        Some("it is longer than 100 characters")
    } else if s.starts_with('.') {
        Some("it starts with '.'")
    } else if !is_name(s) {
        Some("only letters, digits, '_', '.' and '-' are allowed")
    } else {
        None
    }
}

/// Whether `s` is a valid user or room name: `[A-Za-z0-9_.-]{1,100}`.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// What is wrong with a provider domain, if anything.
fn domain_problem(d: &str) -> Option<&'static str> {
    if d.is_empty() {
        return Some("it is empty");
    }
    if d.len() > 253 {
        return Some("it is longer than 253 characters");
    }
    if !d
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return Some("only letters, digits, '-' and '.' are allowed");
    }
    for label in d.split('.') {
        if label.is_empty() {
            return Some("it has an empty label (a leading, trailing or doubled '.')");
        }
        if label.len() > 63 {
            return Some("it has a label longer than 63 characters");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some("a label starts or ends with '-'");
        }
    }
    None
}

/// A comma-separated list of names, abbreviated when long.
fn list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.into_iter().collect();
    let mut out = names
        .iter()
        .take(MAX_LISTED)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > MAX_LISTED {
        out.push_str(&format!(", ... ({} more)", names.len() - MAX_LISTED));
    }
    out
}

fn strings(values: &[Str]) -> Vec<String> {
    values.iter().map(|v| v.get_ref().clone()).collect()
}

/// A room during the replay.
struct Room<'r> {
    members: BTreeSet<&'r str>,
    at_us: u64,
    line: usize,
    /// Whether members exchange identity links (a joiner then needs a connected member).
    identity_links: bool,
}

/// The hint's way out of the connection rule, shared by every connection error.
const CONNECTION_WAY_OUT: &str = "or run only modes without pseudonymous_credentials";

/// A pair of users ordered by name, as connections are symmetric.
fn pair<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    if a < b {
        (a, b)
    } else {
        (b, a)
    }
}

/// Replays room creation and membership in time order and returns the first violation.
///
/// With `connections_required` (some mode uses pseudonymous credentials or token-indexed
/// KeyPackages), users must be connected by an earlier `connect` before one adds the other;
/// with `joins_need_connection` (pseudonymous credentials), a joiner of a room with identity
/// links must be connected to a current member.
fn replay(
    pending: &[Pending<'_>],
    source: &Source<'_>,
    users: &[UserSpec],
    connections_required: bool,
    joins_need_connection: bool,
) -> Result<(), ScenarioError> {
    // Where each room is first created in time order, for hints about early use.
    let mut first_create: HashMap<&str, (u64, usize)> = HashMap::new();
    for p in pending {
        if let RawKind::CreateRoom(r) = &p.raw {
            first_create
                .entry(r.room.get_ref().as_str())
                .or_insert((p.at_us, p.pos.line));
        }
    }

    let mut rooms: HashMap<&str, Room<'_>> = HashMap::new();
    let mut connected: HashSet<(&str, &str)> = HashSet::new();
    // Each user's devices at the time of the action: the numbers in use, and how many it has
    // had (the next one added gets the number after).
    let mut devices: HashMap<&str, (BTreeSet<u32>, u32)> = users
        .iter()
        .map(|u| (u.name.as_str(), ((1..=u.clients).collect(), u.clients)))
        .collect();
    for p in pending {
        let now = format_duration(p.at_us);
        let err_at = |span: Range<usize>, message: String, hint: String| {
            source.error(span, message, Some(hint))
        };
        let err = |value: &Str, message: String, hint: String| err_at(value.span(), message, hint);
        let missing = |room: &Str, key: &str| {
            let name = room.get_ref();
            match first_create.get(name.as_str()) {
                Some(&(at_us, line)) => err(
                    room,
                    format!("room {name} does not exist yet at {now}"),
                    format!(
                        "it is created at {} (line {line}); create it earlier or move the \
                         {key} later",
                        format_duration(at_us)
                    ),
                ),
                None => err(
                    room,
                    format!("unknown room {name}"),
                    format!("no create_room action creates {name}; add one before this {key}"),
                ),
            }
        };
        let not_member = |user: &Str, room: &Str| {
            format!(
                "{} is not a member of room {} at {now}",
                user.get_ref(),
                room.get_ref()
            )
        };

        // The error when the connection rule forbids `by` to add `user`, if it does.
        let unconnected = |by: &Str, user: &Str| {
            let (b, u) = (by.get_ref(), user.get_ref());
            if !connections_required || connected.contains(&pair(b, u)) {
                return None;
            }
            Some(err(
                user,
                format!(
                    "{u} is not connected to {b} at {now}; under MIMIMI users must be connected \
                     before they can add each other"
                ),
                format!(
                    "add connect = {{ from = \"{b}\", to = \"{u}\" }} before this action, \
                     {CONNECTION_WAY_OUT}"
                ),
            ))
        };

        match &p.raw {
            RawKind::PublishKeyPackages(_) => {}
            RawKind::AddDevice(r) => {
                let u = r.user.get_ref();
                let Some((live, ever)) = devices.get_mut(u.as_str()) else {
                    continue;
                };
                if live.len() >= *CLIENTS_RANGE.end() as usize {
                    return Err(err(
                        &r.user,
                        format!(
                            "{u} already has {} devices at {now}, the most a user can have",
                            live.len()
                        ),
                        format!("remove one of {u}'s devices before adding another"),
                    ));
                }
                *ever += 1;
                live.insert(*ever);
            }
            RawKind::RemoveDevice(r) => {
                let u = r.user.get_ref();
                let Some((live, ever)) = devices.get_mut(u.as_str()) else {
                    continue;
                };
                let n = *r.device.get_ref();
                let numbers = live
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                if !u32::try_from(n).is_ok_and(|n| live.contains(&n)) {
                    let why = if u32::try_from(n).is_ok_and(|n| (1..=*ever).contains(&n)) {
                        "it was removed earlier"
                    } else {
                        "it is not added yet"
                    };
                    return Err(err_at(
                        r.device.span(),
                        format!("{u} has no device {n} at {now}: {why}"),
                        format!("{u}'s devices at that time: {numbers}"),
                    ));
                }
                if live.len() == 1 {
                    return Err(err_at(
                        r.device.span(),
                        format!(
                            "device {n} is {u}'s last device at {now}: a user keeps at least one"
                        ),
                        format!("add_device = {{ user = \"{u}\" }} before this action, or drop it"),
                    ));
                }
                live.retain(|&d| i64::from(d) != n);
            }
            RawKind::Connect(r) => {
                if r.accept.as_ref().is_none_or(|a| *a.get_ref()) {
                    connected.insert(pair(r.from.get_ref(), r.to.get_ref()));
                }
            }
            RawKind::CreateRoom(r) => {
                let name = r.room.get_ref().as_str();
                if let Some(existing) = rooms.get(name) {
                    return Err(err(
                        &r.room,
                        format!("room {name} already exists"),
                        format!(
                            "it was created at {} (line {}); choose another room name",
                            format_duration(existing.at_us),
                            existing.line
                        ),
                    ));
                }
                if let Some(e) = r.members.iter().find_map(|m| unconnected(&r.by, m)) {
                    return Err(e);
                }
                let mut members: BTreeSet<&str> =
                    r.members.iter().map(|m| m.get_ref().as_str()).collect();
                members.insert(r.by.get_ref());
                rooms.insert(
                    name,
                    Room {
                        members,
                        at_us: p.at_us,
                        line: p.pos.line,
                        identity_links: r.identity_links.as_ref().is_none_or(|l| *l.get_ref()),
                    },
                );
            }
            RawKind::Add(r) => {
                let Some(room) = rooms.get_mut(r.room.get_ref().as_str()) else {
                    return Err(missing(&r.room, "add"));
                };
                let by = r.by.get_ref();
                if !room.members.contains(by.as_str()) {
                    return Err(err(
                        &r.by,
                        format!("{} and cannot add users", not_member(&r.by, &r.room)),
                        format!(
                            "only members can add; make {by} a member earlier, or let a current \
                             member add"
                        ),
                    ));
                }
                for user in r.users.get_ref() {
                    let u = user.get_ref();
                    if room.members.contains(u.as_str()) {
                        return Err(err(
                            user,
                            format!(
                                "{u} is already a member of room {} at {now}",
                                r.room.get_ref()
                            ),
                            format!("remove {u} from users, or remove {u} from the room earlier"),
                        ));
                    }
                }
                if let Some(e) = r.users.get_ref().iter().find_map(|u| unconnected(&r.by, u)) {
                    return Err(e);
                }
                room.members
                    .extend(r.users.get_ref().iter().map(|u| u.get_ref().as_str()));
            }
            RawKind::Join(r) => {
                let Some(room) = rooms.get_mut(r.room.get_ref().as_str()) else {
                    return Err(missing(&r.room, "join"));
                };
                let u = r.user.get_ref();
                if room.members.is_empty() {
                    return Err(err(
                        &r.room,
                        format!(
                            "room {} has no members left at {now}: nobody can help {u} join",
                            r.room.get_ref()
                        ),
                        "move the join before the last member leaves, or create a new room"
                            .to_string(),
                    ));
                }
                if room.members.contains(u.as_str()) {
                    return Err(err(
                        &r.user,
                        format!(
                            "{u} is already a member of room {} at {now}",
                            r.room.get_ref()
                        ),
                        format!("drop this join, or make {u} leave the room earlier"),
                    ));
                }
                if joins_need_connection
                    && room.identity_links
                    && !room.members.iter().any(|m| connected.contains(&pair(m, u)))
                {
                    let first = room.members.iter().next().copied().unwrap_or_default();
                    return Err(err(
                        &r.user,
                        format!(
                            "{u} is not connected to any member of room {} at {now}; under \
                             MIMIMI a joiner gets the room's identity-link wrapper key from a \
                             member it is connected to",
                            r.room.get_ref()
                        ),
                        format!(
                            "connect {u} to one of the members ({}) before this join, e.g. \
                             connect = {{ from = \"{first}\", to = \"{u}\" }}, \
                             {CONNECTION_WAY_OUT}",
                            list(room.members.iter().copied())
                        ),
                    ));
                }
                room.members.insert(u.as_str());
            }
            RawKind::Remove(r) => {
                let Some(room) = rooms.get_mut(r.room.get_ref().as_str()) else {
                    return Err(missing(&r.room, "remove"));
                };
                let by = r.by.get_ref();
                if !room.members.contains(by.as_str()) {
                    return Err(err(
                        &r.by,
                        format!("{} and cannot remove users", not_member(&r.by, &r.room)),
                        format!(
                            "only members can remove; make {by} a member earlier, or let a \
                             current member remove"
                        ),
                    ));
                }
                let u = r.user.get_ref();
                if !room.members.remove(u.as_str()) {
                    return Err(err(
                        &r.user,
                        not_member(&r.user, &r.room),
                        format!("drop this remove, or move it after {u} is added or joins"),
                    ));
                }
            }
            RawKind::Leave(r) => {
                let Some(room) = rooms.get_mut(r.room.get_ref().as_str()) else {
                    return Err(missing(&r.room, "leave"));
                };
                let u = r.user.get_ref();
                if !room.members.remove(u.as_str()) {
                    return Err(err(
                        &r.user,
                        not_member(&r.user, &r.room),
                        format!("drop this leave, or move it after {u} is added or joins"),
                    ));
                }
            }
            RawKind::Send(r) => {
                let Some(room) = rooms.get(r.room.get_ref().as_str()) else {
                    return Err(missing(&r.room, "send"));
                };
                let from = r.from.get_ref();
                if !room.members.contains(from.as_str()) {
                    return Err(err(
                        &r.from,
                        format!("{} and cannot send to it", not_member(&r.from, &r.room)),
                        format!("make {from} a member earlier, or send from a current member"),
                    ));
                }
            }
        }
    }
    Ok(())
}

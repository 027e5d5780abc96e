//! `[population]`: a world and its workload generated from the seed.
//!
//! A scenario with a `[population]` table gets providers, users, connections, rooms, churn and
//! messages drawn from the distributions the table configures, appended to whatever the file
//! lists by hand. The same seed gives the same world; `mimimi-sim generate FILE` writes the
//! expanded scenario, which runs exactly as the original does.
//!
//! The model, with every parameter's default (see [`Population::default`]):
//! - **Providers** `p1.example`..: sizes Zipf (`zipf_exponent`, default 1) or `uniform`, or
//!   explicit `provider_shares` for the first providers (`[0.8]`: one provider with 80 % of the
//!   users, the others splitting the rest evenly). Users go to providers by largest remainder,
//!   in a random order.
//! - **Devices** per user: `devices` gives the shares of users with 1, 2, 3, ... clients.
//! - **Contacts**: a configuration-model graph whose degrees are log-normal (`contacts_median`,
//!   `contacts_sigma`), the family Corten et al. (2025) fit to donated WhatsApp contact
//!   counts; each edge is a `connect` before any room.
//! - **Rooms**: each user gets an activity weight drawn from an exponential distribution with
//!   mean `groups_per_user` (Corten et al. fit group memberships per user with an
//!   exponential); rooms are drawn until the memberships reach `users * groups_per_user`. A room
//!   has two members with probability `pair_share`, otherwise 3 or more from a Pareto tail
//!   (`group_size_exponent`, capped at `group_size_max`). Its creator is drawn by weight; its
//!   members by weight from the creator's contacts first, then from everyone, and the creator
//!   connects first to any member it is not connected to (the protocol requires it). A share
//!   `foreign_hub_share` of rooms is hosted by a provider other than the creator's.
//! - **Traffic**: every room alternates between idle periods (exponential, mean
//!   `conversation_gap`) and conversations (a geometric number of messages with mean
//!   `conversation_messages`, exponential gaps with mean `message_gap`): a two-state
//!   semi-Markov process after Seufert et al. (2015). Each message is sent by a member who is
//!   online then; users alternate between online sessions and offline periods (exponential,
//!   means `session_on` and `session_off`), so a user's activity in several rooms falls in the
//!   same sessions, as it does in practice.
//! - **Churn**: each membership other than the creator's ends during the traffic with
//!   probability `churn` (a leave or a removal by the creator, half each), and comes back later
//!   with probability `rejoin` (by external join with probability `join_share`, otherwise
//!   re-added by the creator). Creators stay, so no room empties.
//! - **Device changes**: a share `device_churn` of the users (default 0: devices stay as they
//!   are) get a new device at a uniform time during the traffic (`add_device`: it registers and
//!   joins each of the user's rooms by external commit); with probability `device_replace` one
//!   of their older devices goes away at a later uniform time (`remove_device`), as when a phone
//!   is replaced. Drawn from a stream of their own: the rest of the world is the same with or
//!   without them.
//!
//! The distribution families follow the studies cited; the default parameter values are
//! assumptions of this tool, chosen to give a world that runs in seconds, not fitted values.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::ops::Range;

use rand_chacha::ChaCha20Rng;
use rand_core::Rng;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::duration::{format_duration, parse_duration_detail, DURATION_HINT};
use super::error::{ScenarioError, Source};
use super::raw::Str;
use super::MAX_TIME_US;

/// The `[population]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPopulation {
    users: Option<Spanned<toml::Value>>,
    providers: Option<Spanned<toml::Value>>,
    provider_sizes: Option<Str>,
    zipf_exponent: Option<Spanned<toml::Value>>,
    provider_shares: Option<Spanned<Vec<Spanned<toml::Value>>>>,
    devices: Option<Spanned<Vec<Spanned<toml::Value>>>>,
    contacts_median: Option<Spanned<toml::Value>>,
    contacts_sigma: Option<Spanned<toml::Value>>,
    groups_per_user: Option<Spanned<toml::Value>>,
    pair_share: Option<Spanned<toml::Value>>,
    group_size_exponent: Option<Spanned<toml::Value>>,
    group_size_max: Option<Spanned<toml::Value>>,
    foreign_hub_share: Option<Spanned<toml::Value>>,
    duration: Option<Str>,
    conversation_gap: Option<Str>,
    conversation_messages: Option<Spanned<toml::Value>>,
    message_gap: Option<Str>,
    session_on: Option<Str>,
    session_off: Option<Str>,
    churn: Option<Spanned<toml::Value>>,
    rejoin: Option<Spanned<toml::Value>>,
    join_share: Option<Spanned<toml::Value>>,
    device_churn: Option<Spanned<toml::Value>>,
    device_replace: Option<Spanned<toml::Value>>,
}

/// How provider sizes are distributed when `provider_shares` does not list them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderSizes {
    /// Provider k (from 1) gets a share proportional to 1/k^exponent.
    Zipf,
    /// Every provider the same share.
    Uniform,
}

/// The effective population parameters (defaults filled in), recorded in summary.json.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Population {
    pub users: u32,
    pub providers: u32,
    pub provider_sizes: ProviderSizes,
    pub zipf_exponent: f64,
    pub provider_shares: Vec<f64>,
    pub devices: Vec<f64>,
    pub contacts_median: f64,
    pub contacts_sigma: f64,
    pub groups_per_user: f64,
    pub pair_share: f64,
    pub group_size_exponent: f64,
    pub group_size_max: u32,
    pub foreign_hub_share: f64,
    pub duration_us: u64,
    pub conversation_gap_us: u64,
    pub conversation_messages: f64,
    pub message_gap_us: u64,
    pub session_on_us: u64,
    pub session_off_us: u64,
    pub churn: f64,
    pub rejoin: f64,
    pub join_share: f64,
    pub device_churn: f64,
    pub device_replace: f64,
}

impl Default for Population {
    fn default() -> Self {
        Population {
            users: 40,
            providers: 5,
            provider_sizes: ProviderSizes::Zipf,
            zipf_exponent: 1.0,
            provider_shares: vec![],
            devices: vec![0.6, 0.3, 0.1],
            contacts_median: 4.0,
            contacts_sigma: 0.8,
            groups_per_user: 1.5,
            pair_share: 0.5,
            group_size_exponent: 1.5,
            group_size_max: 64,
            foreign_hub_share: 0.2,
            duration_us: 2 * 3_600_000_000,
            conversation_gap_us: 30 * 60_000_000,
            conversation_messages: 4.0,
            message_gap_us: 30_000_000,
            session_on_us: 20 * 60_000_000,
            session_off_us: 40 * 60_000_000,
            churn: 0.1,
            rejoin: 0.5,
            join_share: 0.5,
            device_churn: 0.0,
            device_replace: 0.5,
        }
    }
}

/// Largest `users` of a population.
pub const MAX_USERS: u32 = 100_000;
/// Largest `providers` of a population.
pub const MAX_PROVIDERS: u32 = 1_000;

/// Reads and checks the `[population]` table: every value in range, with a positioned error.
pub(crate) fn check(raw: &RawPopulation, source: &Source<'_>) -> Result<Population, ScenarioError> {
    let d = Population::default();
    let mut c = Reader { source };
    let users = c.int(&raw.users, "users", 2, MAX_USERS as i64, d.users)?;
    let providers = c.int(
        &raw.providers,
        "providers",
        1,
        MAX_PROVIDERS as i64,
        d.providers,
    )?;
    let provider_sizes = match &raw.provider_sizes {
        None => d.provider_sizes,
        Some(s) => match s.get_ref().as_str() {
            "zipf" => ProviderSizes::Zipf,
            "uniform" => ProviderSizes::Uniform,
            other => {
                return Err(source.error(
                    s.span(),
                    format!("unknown provider_sizes \"{other}\""),
                    Some("use \"zipf\" (the default) or \"uniform\"".into()),
                ))
            }
        },
    };
    let zipf_exponent = c.num(
        &raw.zipf_exponent,
        "zipf_exponent",
        0.0..=5.0,
        d.zipf_exponent,
    )?;
    let provider_shares = match &raw.provider_shares {
        None => vec![],
        Some(list) => {
            let shares = c.shares(list, "provider_shares")?;
            if shares.len() > providers as usize {
                return Err(source.error(
                    list.span(),
                    format!(
                        "provider_shares lists {} shares for {providers} providers",
                        shares.len()
                    ),
                    Some("list at most one share per provider, or raise `providers`".into()),
                ));
            }
            let sum: f64 = shares.iter().sum();
            let exact = shares.len() == providers as usize;
            if sum > 1.0 + 1e-9 || (exact && (sum - 1.0).abs() > 1e-6) {
                return Err(source.error(
                    list.span(),
                    format!("provider_shares add up to {sum}"),
                    Some(
                        "shares are fractions of the users: they add up to at most 1, and to 1 \
                         when every provider is listed; the providers not listed split the rest"
                            .into(),
                    ),
                ));
            }
            shares
        }
    };
    let devices = match &raw.devices {
        None => d.devices,
        Some(list) => {
            let shares = c.shares(list, "devices")?;
            let sum: f64 = shares.iter().sum();
            if shares.len() > *super::CLIENTS_RANGE.end() as usize || (sum - 1.0).abs() > 1e-6 {
                return Err(source.error(
                    list.span(),
                    format!("devices lists {} shares adding up to {sum}", shares.len()),
                    Some(
                        "give the shares of users with 1, 2, 3, ... devices (at most 16), adding \
                         up to 1, e.g. devices = [0.6, 0.3, 0.1]"
                            .into(),
                    ),
                ));
            }
            shares
        }
    };
    let contacts_median = c.num(
        &raw.contacts_median,
        "contacts_median",
        0.1..=10_000.0,
        d.contacts_median,
    )?;
    let contacts_sigma = c.num(
        &raw.contacts_sigma,
        "contacts_sigma",
        0.0..=5.0,
        d.contacts_sigma,
    )?;
    let groups_per_user = c.num(
        &raw.groups_per_user,
        "groups_per_user",
        0.01..=1_000.0,
        d.groups_per_user,
    )?;
    let pair_share = c.num(&raw.pair_share, "pair_share", 0.0..=1.0, d.pair_share)?;
    let group_size_exponent = c.num(
        &raw.group_size_exponent,
        "group_size_exponent",
        0.1..=10.0,
        d.group_size_exponent,
    )?;
    let group_size_max = c.int(
        &raw.group_size_max,
        "group_size_max",
        2,
        10_000,
        d.group_size_max,
    )?;
    let foreign_hub_share = c.num(
        &raw.foreign_hub_share,
        "foreign_hub_share",
        0.0..=1.0,
        d.foreign_hub_share,
    )?;
    let duration_us = c.duration(&raw.duration, "duration", 1_000_000, d.duration_us)?;
    let conversation_gap_us = c.duration(
        &raw.conversation_gap,
        "conversation_gap",
        1_000,
        d.conversation_gap_us,
    )?;
    let conversation_messages = c.num(
        &raw.conversation_messages,
        "conversation_messages",
        1.0..=10_000.0,
        d.conversation_messages,
    )?;
    let message_gap_us = c.duration(&raw.message_gap, "message_gap", 1_000, d.message_gap_us)?;
    let session_on_us = c.duration(&raw.session_on, "session_on", 1_000_000, d.session_on_us)?;
    let session_off_us = c.duration(&raw.session_off, "session_off", 0, d.session_off_us)?;
    let churn = c.num(&raw.churn, "churn", 0.0..=1.0, d.churn)?;
    let rejoin = c.num(&raw.rejoin, "rejoin", 0.0..=1.0, d.rejoin)?;
    let join_share = c.num(&raw.join_share, "join_share", 0.0..=1.0, d.join_share)?;
    let device_churn = c.num(&raw.device_churn, "device_churn", 0.0..=1.0, d.device_churn)?;
    let device_replace = c.num(
        &raw.device_replace,
        "device_replace",
        0.0..=1.0,
        d.device_replace,
    )?;
    Ok(Population {
        users,
        providers,
        provider_sizes,
        zipf_exponent,
        provider_shares,
        devices,
        contacts_median,
        contacts_sigma,
        groups_per_user,
        pair_share,
        group_size_exponent,
        group_size_max,
        foreign_hub_share,
        duration_us,
        conversation_gap_us,
        conversation_messages,
        message_gap_us,
        session_on_us,
        session_off_us,
        churn,
        rejoin,
        join_share,
        device_churn,
        device_replace,
    })
}

/// Reads the population's values with positioned errors.
struct Reader<'s, 'a> {
    source: &'s Source<'a>,
}

impl Reader<'_, '_> {
    fn int(
        &mut self,
        v: &Option<Spanned<toml::Value>>,
        key: &str,
        min: i64,
        max: i64,
        default: u32,
    ) -> Result<u32, ScenarioError> {
        let Some(v) = v else { return Ok(default) };
        match v.get_ref().as_integer() {
            Some(n) if (min..=max).contains(&n) => Ok(n as u32),
            Some(n) => Err(self.source.error(
                v.span(),
                format!("population.{key} must be from {min} to {max}, got {n}"),
                Some(format!("e.g. {key} = {default}")),
            )),
            None => Err(self.type_error(v, key, "a whole number", &default.to_string())),
        }
    }

    fn num(
        &mut self,
        v: &Option<Spanned<toml::Value>>,
        key: &str,
        range: std::ops::RangeInclusive<f64>,
        default: f64,
    ) -> Result<f64, ScenarioError> {
        let Some(v) = v else { return Ok(default) };
        self.number(v, key, range, default)
    }

    fn number(
        &mut self,
        v: &Spanned<toml::Value>,
        key: &str,
        range: std::ops::RangeInclusive<f64>,
        default: f64,
    ) -> Result<f64, ScenarioError> {
        let x = match v.get_ref() {
            toml::Value::Integer(n) => *n as f64,
            toml::Value::Float(x) => *x,
            _ => return Err(self.type_error(v, key, "a number", &default.to_string())),
        };
        if !x.is_finite() || !range.contains(&x) {
            return Err(self.source.error(
                v.span(),
                format!(
                    "population.{key} must be from {} to {}, got {x}",
                    range.start(),
                    range.end()
                ),
                Some(format!("e.g. {key} = {default}")),
            ));
        }
        Ok(x)
    }

    fn shares(
        &mut self,
        list: &Spanned<Vec<Spanned<toml::Value>>>,
        key: &str,
    ) -> Result<Vec<f64>, ScenarioError> {
        if list.get_ref().is_empty() {
            return Err(self.source.error(
                list.span(),
                format!("population.{key} is empty"),
                Some("list at least one share, or remove the key for the default".into()),
            ));
        }
        list.get_ref()
            .iter()
            .map(|v| self.number(v, key, 0.0..=1.0, 0.5))
            .collect()
    }

    fn duration(
        &mut self,
        v: &Option<Str>,
        key: &str,
        min_us: u64,
        default: u64,
    ) -> Result<u64, ScenarioError> {
        let Some(v) = v else { return Ok(default) };
        match parse_duration_detail(v.get_ref()) {
            Ok(us) if us >= min_us && us <= MAX_TIME_US / 2 => Ok(us),
            Ok(_) => Err(self.source.error(
                v.span(),
                format!(
                    "population.{key} must be from {} to {}, got \"{}\"",
                    format_duration(min_us),
                    format_duration(MAX_TIME_US / 2),
                    v.get_ref()
                ),
                Some(format!("e.g. {key} = \"{}\"", format_duration(default))),
            )),
            Err((message, hint)) => Err(self.source.error(
                v.span(),
                format!("invalid duration for `population.{key}`: {message}"),
                Some(hint.unwrap_or_else(|| DURATION_HINT.to_string())),
            )),
        }
    }

    fn type_error(
        &self,
        v: &Spanned<toml::Value>,
        key: &str,
        expected: &str,
        example: &str,
    ) -> ScenarioError {
        self.source.error(
            v.span(),
            format!(
                "population.{key} must be {expected}, got {}",
                v.get_ref().type_str()
            ),
            Some(format!("e.g. {key} = {example}, without quotes")),
        )
    }
}

/// Uniform draws and the distributions the generator uses.
struct Draw(ChaCha20Rng);

impl Draw {
    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.0.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() <= p
    }
    /// Exponential with this mean.
    fn exp(&mut self, mean: f64) -> f64 {
        -mean * self.unit().ln()
    }
    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
    /// An index drawn with probability proportional to `weights` (not all zero).
    fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if x <= *w && *w > 0.0 {
                return i;
            }
            x -= w;
        }
        weights.iter().rposition(|w| *w > 0.0).unwrap_or(0)
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

/// Counts of `n` split by `shares` (adding up to 1), by largest remainder.
fn apportion(n: u32, shares: &[f64]) -> Vec<u32> {
    let exact: Vec<f64> = shares.iter().map(|s| s * f64::from(n)).collect();
    let mut counts: Vec<u32> = exact.iter().map(|x| x.floor() as u32).collect();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    let mut left = n.saturating_sub(counts.iter().sum());
    for i in order.into_iter().cycle() {
        if left == 0 {
            break;
        }
        counts[i] += 1;
        left -= 1;
    }
    counts
}

impl Population {
    /// Every provider's share of the users.
    pub fn provider_share_list(&self) -> Vec<f64> {
        let n = self.providers as usize;
        if !self.provider_shares.is_empty() {
            let listed: f64 = self.provider_shares.iter().sum();
            let rest = n - self.provider_shares.len();
            let mut shares = self.provider_shares.clone();
            shares.extend(std::iter::repeat_n(
                (1.0 - listed).max(0.0) / rest.max(1) as f64,
                rest,
            ));
            return shares;
        }
        let weights: Vec<f64> = (1..=n)
            .map(|k| match self.provider_sizes {
                ProviderSizes::Zipf => 1.0 / (k as f64).powf(self.zipf_exponent),
                ProviderSizes::Uniform => 1.0,
            })
            .collect();
        let total: f64 = weights.iter().sum();
        weights.iter().map(|w| w / total).collect()
    }
}

/// What [`generate`] made, for the generated text's header and for tests.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Generated {
    pub providers: usize,
    pub users: usize,
    pub connections: usize,
    pub rooms: usize,
    pub churn_events: usize,
    /// Devices added and removed during the run.
    pub device_events: usize,
    pub messages: usize,
}

/// A membership's churn: out at `leave_us` (by `leave` or removal), back at `back_us` (by
/// join or add) if it comes back.
struct Churn {
    room: usize,
    user: usize,
    leave_us: u64,
    removed: bool,
    back: Option<(u64, bool)>,
}

/// The generated providers, users and actions as scenario TOML (to append to a scenario), and
/// what it holds. Deterministic in `(population, seed)`.
pub fn generate(p: &Population, seed: u64) -> (String, Generated) {
    let mut rng = Draw(crate::crypto::stream(seed, 0, "population"));
    let n = p.users as usize;
    let width = n.to_string().len();
    let user = |u: usize| format!("u{:0width$}", u + 1);
    let pwidth = p.providers.to_string().len();
    let provider = |k: usize| format!("p{:0pwidth$}.example", k + 1);

    // Providers and devices.
    let counts = apportion(p.users, &p.provider_share_list());
    let mut provider_of: Vec<usize> = counts
        .iter()
        .enumerate()
        .flat_map(|(k, &c)| std::iter::repeat_n(k, c as usize))
        .collect();
    rng.shuffle(&mut provider_of);
    let devices: Vec<usize> = (0..n).map(|_| rng.weighted(&p.devices) + 1).collect();

    // Contacts: a configuration model with log-normal degrees.
    let mut stubs = vec![];
    for u in 0..n {
        let degree = (p.contacts_median * (p.contacts_sigma * rng.normal()).exp()).round();
        let degree = (degree.max(0.0) as usize).min(n - 1);
        stubs.extend(std::iter::repeat_n(u, degree));
    }
    rng.shuffle(&mut stubs);
    let mut contacts: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
    let mut connects: Vec<(usize, usize)> = vec![];
    for pair in stubs.chunks_exact(2) {
        let (a, b) = (pair[0], pair[1]);
        if a != b && contacts[a].insert(b) {
            contacts[b].insert(a);
            connects.push((a, b));
        }
    }

    // Rooms.
    let weights: Vec<f64> = (0..n).map(|_| rng.exp(p.groups_per_user)).collect();
    let target = p.groups_per_user * n as f64;
    let max_size = (p.group_size_max as usize).min(n);
    let mut rooms: Vec<(usize, Vec<usize>, Option<usize>)> = vec![]; // (creator, members, hub)
    let mut memberships = 0usize;
    let mut room_connects: Vec<Vec<(usize, usize)>> = vec![];
    while (memberships as f64) < target {
        let size = if max_size <= 2 || rng.chance(p.pair_share) {
            2
        } else {
            let pareto = 3.0 * rng.unit().powf(-1.0 / p.group_size_exponent);
            (pareto.floor() as usize).clamp(3, max_size)
        };
        let creator = rng.weighted(&weights);
        let mut members: Vec<usize> = vec![];
        let mut chosen = BTreeSet::from([creator]);
        for pool in [true, false] {
            while members.len() + 1 < size {
                let candidates: Vec<usize> = (0..n)
                    .filter(|u| !chosen.contains(u) && (!pool || contacts[creator].contains(u)))
                    .collect();
                if candidates.is_empty() {
                    break;
                }
                let w: Vec<f64> = candidates.iter().map(|&u| weights[u] + 1e-3).collect();
                let m = candidates[rng.weighted(&w)];
                chosen.insert(m);
                members.push(m);
            }
        }
        let mut new = vec![];
        for &m in &members {
            if contacts[creator].insert(m) {
                contacts[m].insert(creator);
                new.push((creator, m));
            }
        }
        let hub = (p.providers > 1 && rng.chance(p.foreign_hub_share)).then(|| {
            let own = provider_of[creator];
            let other = rng.below(p.providers as usize - 1);
            if other >= own {
                other + 1
            } else {
                other
            }
        });
        memberships += members.len() + 1;
        rooms.push((creator, members, hub));
        room_connects.push(new);
    }

    // The timeline: connections 100 ms apart, then rooms 1 s apart, then traffic.
    let ms = 1_000u64;
    let connect_end = connects.len() as u64 * 100 * ms;
    let mut t = connect_end;
    let mut created = vec![];
    for new in &room_connects {
        t += ms * 1_000;
        created.push(t + (new.len() as u64) * 100 * ms);
        t += (new.len() as u64) * 100 * ms;
    }
    let start = t + 10_000 * ms;
    let end = start + p.duration_us;

    // Sessions: alternating online and offline periods.
    let on_share = p.session_on_us as f64 / (p.session_on_us + p.session_off_us) as f64;
    let sessions: Vec<Vec<(u64, u64)>> = (0..n)
        .map(|_| {
            let mut out = vec![];
            let mut at = start as f64;
            let mut online = rng.chance(on_share);
            while at < end as f64 {
                let mean = if online {
                    p.session_on_us
                } else {
                    p.session_off_us
                } as f64;
                let next = at + rng.exp(mean).max(1_000.0);
                if online {
                    out.push((at as u64, next as u64));
                }
                at = next;
                online = !online;
            }
            out
        })
        .collect();
    // Sessions are in time order: the last one starting at or before `at`.
    let online = |u: usize, at: u64| {
        let i = sessions[u].partition_point(|&(a, _)| a <= at);
        i > 0 && at < sessions[u][i - 1].1
    };

    // Churn.
    let mut churn: Vec<Churn> = vec![];
    for (r, (_, members, _)) in rooms.iter().enumerate() {
        for &m in members {
            if !rng.chance(p.churn) {
                continue;
            }
            let leave_us = start + (rng.unit() * p.duration_us as f64) as u64 / ms * ms;
            let removed = rng.chance(0.5);
            let back = rng.chance(p.rejoin).then(|| {
                let rest = end.saturating_sub(leave_us + 1_000 * ms);
                let back = leave_us + 1_000 * ms + (rng.unit() * rest as f64) as u64 / ms * ms;
                (back, rng.chance(p.join_share))
            });
            churn.push(Churn {
                room: r,
                user: m,
                leave_us,
                removed,
                back,
            });
        }
    }
    // A membership's absence, if it churns: (out from, back at).
    let absent: std::collections::BTreeMap<(usize, usize), (u64, Option<u64>)> = churn
        .iter()
        .map(|c| ((c.room, c.user), (c.leave_us, c.back.map(|(b, _)| b))))
        .collect();
    let member_at = |r: usize, u: usize, at: u64| {
        absent
            .get(&(r, u))
            .is_none_or(|&(out, back)| at < out || back.is_some_and(|b| at >= b))
    };

    // Traffic: idle periods and conversations per room.
    let mut sends: Vec<(u64, usize, usize)> = vec![];
    for (r, (creator, members, _)) in rooms.iter().enumerate() {
        let everyone: Vec<usize> = std::iter::once(*creator)
            .chain(members.iter().copied())
            .collect();
        let mut at = start as f64 + rng.exp(p.conversation_gap_us as f64);
        while at < end as f64 {
            // Geometric number of messages with the mean asked for.
            let stop = 1.0 / p.conversation_messages;
            let mut previous = None;
            loop {
                let now = (at as u64) / ms * ms;
                if now >= end {
                    break;
                }
                let here: Vec<usize> = everyone
                    .iter()
                    .copied()
                    .filter(|&u| online(u, now) && member_at(r, u, now))
                    .collect();
                let choices: Vec<usize> = if here.len() > 1 {
                    here.iter()
                        .copied()
                        .filter(|&u| Some(u) != previous)
                        .collect()
                } else {
                    here
                };
                if choices.is_empty() {
                    break;
                }
                let from = choices[rng.below(choices.len())];
                sends.push((now, r, from));
                previous = Some(from);
                if rng.chance(stop) {
                    break;
                }
                at += rng.exp(p.message_gap_us as f64).max(1_000.0);
            }
            at += rng.exp(p.conversation_gap_us as f64).max(1_000.0);
        }
    }

    // The text.
    let rwidth = rooms.len().to_string().len();
    let room = |r: usize| format!("r{:0rwidth$}", r + 1);
    let at = |us: u64| format!("{}ms", us / ms);
    let mut actions: Vec<(u64, usize, String)> = vec![];
    let mut push = |when: u64, text: String| {
        let k = actions.len();
        actions.push((when, k, text));
    };
    for (i, (a, b)) in connects.iter().enumerate() {
        let (from, to) = if rng.chance(0.5) { (a, b) } else { (b, a) };
        push(
            i as u64 * 100 * ms,
            format!(
                "connect = {{ from = \"{}\", to = \"{}\" }}",
                user(*from),
                user(*to)
            ),
        );
    }
    let mut at_room = connect_end;
    for (r, ((creator, members, hub), new)) in rooms.iter().zip(&room_connects).enumerate() {
        at_room += 1_000 * ms;
        for (i, (a, b)) in new.iter().enumerate() {
            push(
                at_room + i as u64 * 100 * ms,
                format!(
                    "connect = {{ from = \"{}\", to = \"{}\" }}",
                    user(*a),
                    user(*b)
                ),
            );
        }
        let list: Vec<String> = members
            .iter()
            .map(|&m| format!("\"{}\"", user(m)))
            .collect();
        let hub = hub.map_or(String::new(), |h| format!(", hub = \"{}\"", provider(h)));
        push(
            created[r],
            format!(
                "create_room = {{ room = \"{}\", by = \"{}\"{hub}, members = [{}] }}",
                room(r),
                user(*creator),
                list.join(", ")
            ),
        );
        at_room = created[r];
    }
    for c in &churn {
        let (r, u) = (room(c.room), user(c.user));
        let by = user(rooms[c.room].0);
        push(
            c.leave_us,
            if c.removed {
                format!("remove = {{ room = \"{r}\", by = \"{by}\", user = \"{u}\" }}")
            } else {
                format!("leave = {{ room = \"{r}\", user = \"{u}\" }}")
            },
        );
        if let Some((back, join)) = c.back {
            push(
                back,
                if join {
                    format!("join = {{ room = \"{r}\", user = \"{u}\" }}")
                } else {
                    format!("add = {{ room = \"{r}\", by = \"{by}\", users = [\"{u}\"] }}")
                },
            );
        }
    }
    // Device changes, from a stream of their own so that the rest of the world is the same
    // with or without them: a user gets a new device at a time during the traffic; with
    // probability `device_replace` one of its older devices goes away later.
    let mut drng = Draw(crate::crypto::stream(seed, 0, "population/devices"));
    let mut device_events = 0;
    for (u, &had) in devices.iter().enumerate() {
        if p.device_churn == 0.0
            || !drng.chance(p.device_churn)
            || had >= *super::CLIENTS_RANGE.end() as usize
        {
            continue;
        }
        let added = start + (drng.unit() * p.duration_us as f64) as u64 / ms * ms;
        push(added, format!("add_device = {{ user = \"{}\" }}", user(u)));
        device_events += 1;
        let rest = end.saturating_sub(added + 1_000 * ms);
        if drng.chance(p.device_replace) && rest > 0 {
            let gone = added + 1_000 * ms + (drng.unit() * rest as f64) as u64 / ms * ms;
            let old = drng.below(had) + 1;
            push(
                gone,
                format!(
                    "remove_device = {{ user = \"{}\", device = {old} }}",
                    user(u)
                ),
            );
            device_events += 1;
        }
    }
    for &(when, r, from) in &sends {
        push(
            when,
            format!(
                "send = {{ room = \"{}\", from = \"{}\" }}",
                room(r),
                user(from)
            ),
        );
    }
    actions.sort_by_key(|(when, k, _)| (*when, *k));

    let made = Generated {
        providers: p.providers as usize,
        users: n,
        connections: connects.len() + room_connects.iter().map(Vec::len).sum::<usize>(),
        rooms: rooms.len(),
        churn_events: churn.len() + churn.iter().filter(|c| c.back.is_some()).count(),
        device_events,
        messages: sends.len(),
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n# Generated from [population] with seed {seed} by mimimi-sim {}: {} providers, {} \
         users, {} connections, {} rooms, {} churn events, {} device changes, {} messages.\n",
        env!("CARGO_PKG_VERSION"),
        made.providers,
        made.users,
        made.connections,
        made.rooms,
        made.churn_events,
        made.device_events,
        made.messages
    );
    for k in 0..p.providers as usize {
        let _ = writeln!(s, "[[provider]]\ndomain = \"{}\"\n", provider(k));
    }
    for u in 0..n {
        let _ = writeln!(
            s,
            "[[user]]\nname = \"{}\"\nprovider = \"{}\"\nclients = {}\n",
            user(u),
            provider(provider_of[u]),
            devices[u]
        );
    }
    for (when, _, text) in &actions {
        let _ = writeln!(s, "[[action]]\nat = \"{}\"\n{text}\n", at(*when));
    }
    (s, made)
}

/// The byte range of the `[population]` table's lines in `src` (its header to the next
/// table header or the end), for commenting it out of an expanded scenario.
pub(crate) fn table_lines(src: &str) -> Option<Range<usize>> {
    let table = toml::de::DeTable::parse(src).ok()?;
    let table = table.get_ref();
    let (_, value) = table.iter().find(|(k, _)| k.get_ref() == "population")?;
    let start = value.span().start;
    let mut headers: Vec<usize> = vec![];
    for (_, v) in table.iter() {
        match v.get_ref() {
            toml::de::DeValue::Array(items) => {
                headers.extend(items.iter().map(|i| i.span().start));
            }
            _ => headers.push(v.span().start),
        }
    }
    let end = headers
        .into_iter()
        .filter(|&h| h > start && src[h..].starts_with('['))
        .min()
        .unwrap_or(src.len());
    // Back to the start of the line of the next header.
    let end = src[..end].rfind('\n').map_or(end, |i| i + 1).max(start);
    Some(src[..start].rfind('\n').map_or(0, |i| i + 1)..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_by_largest_remainder() {
        assert_eq!(apportion(10, &[0.8, 0.1, 0.1]), [8, 1, 1]);
        assert_eq!(apportion(10, &[0.5, 0.25, 0.25]), [5, 3, 2]);
        assert_eq!(apportion(7, &[1.0 / 3.0; 3]), [3, 2, 2]);
    }

    #[test]
    fn shares_of_providers() {
        let p = Population {
            providers: 5,
            provider_shares: vec![0.8],
            ..Population::default()
        };
        let s = p.provider_share_list();
        assert_eq!(s[0], 0.8);
        assert!(s[1..].iter().all(|x| (x - 0.05).abs() < 1e-12), "{s:?}");
        let p = Population {
            providers: 3,
            ..Population::default()
        };
        // 1, 1/2, 1/3 over 11/6.
        let s = p.provider_share_list();
        assert!((s[0] - 6.0 / 11.0).abs() < 1e-12 && (s[2] - 2.0 / 11.0).abs() < 1e-12);
    }

    #[test]
    fn same_seed_same_world_other_seed_other_world() {
        let p = Population::default();
        let (a, made) = generate(&p, 1);
        assert_eq!(a, generate(&p, 1).0);
        assert_ne!(a, generate(&p, 2).0);
        assert_eq!(made.users, 40);
        assert!(made.rooms > 0 && made.messages > 0, "{made:?}");
    }
}

//! Modes a scenario runs in: plain MIMI, full MIMIMI, and ablations that switch single MIMIMI
//! mechanisms on or off, and the countermeasures against traffic analysis that go beyond the
//! draft (off in both built-in modes).

use serde::Serialize;

/// The MIMIMI mechanisms (draft-kohbrok-mimi-metadata-minimalization), each switchable alone,
/// and the countermeasures against traffic analysis beyond the draft.
///
/// The field names are also the keys of an `[[ablation]]` table; [`Mechanisms::NAMES`] lists
/// the draft's mechanisms in declaration order, [`Mechanisms::COUNTERMEASURES`] the
/// countermeasures. `mimimi` is every draft mechanism on and no countermeasure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct Mechanisms {
    /// Leaves carry PseudonymousCredentials with identity links.
    pub pseudonymous_credentials: bool,
    /// A fresh signature key per credential (else the client's long-term key).
    pub fresh_signature_keys: bool,
    /// A leaf extension with the queue id sealed to the provider; fanout by encrypted ids.
    pub encrypted_queue_ids: bool,
    /// KeyPackage sets uploaded and fetched by connection token, not tied to the account.
    pub anonymous_key_packages: bool,
    /// HPKE-sealed ConnectionRequest and a connection room, instead of MIMI consent in clear.
    pub encrypted_connection_requests: bool,
    /// Requests that must not be tied to the account go through the scenario's `channel`;
    /// off means over the account's session.
    pub anonymous_channel: bool,
    /// Several KeyPackage sets per user and periodic re-upload of the last-resort set; off
    /// means one regular set and one last-resort set, never re-uploaded.
    pub last_resort_policy: bool,
    /// Countermeasure: clients delay what they send over the anonymous channel, their external
    /// joins and their submissions to hubs by a random extra delay (the scenario's `jitter`
    /// and `jitter_max`).
    pub jitter: bool,
    /// Countermeasure: every message a provider receives is padded to a size bucket (the
    /// scenario's `padding_buckets`).
    pub padding: bool,
    /// Countermeasure: every user with fewer clients than the scenario's `leaves_per_user`
    /// gets placeholder clients up to that number, real MLS clients that are added, removed
    /// and join with the user but never act or send, so that every leaf set of the user shows
    /// the same number of devices.
    pub placeholder_leaves: bool,
}

impl Mechanisms {
    /// Plain MIMI: every mechanism off.
    pub const MIMI: Mechanisms = Mechanisms {
        pseudonymous_credentials: false,
        fresh_signature_keys: false,
        encrypted_queue_ids: false,
        anonymous_key_packages: false,
        encrypted_connection_requests: false,
        anonymous_channel: false,
        last_resort_policy: false,
        jitter: false,
        padding: false,
        placeholder_leaves: false,
    };

    /// Full MIMIMI: every draft mechanism on, no countermeasure.
    pub const MIMIMI: Mechanisms = Mechanisms {
        pseudonymous_credentials: true,
        fresh_signature_keys: true,
        encrypted_queue_ids: true,
        anonymous_key_packages: true,
        encrypted_connection_requests: true,
        anonymous_channel: true,
        last_resort_policy: true,
        jitter: false,
        padding: false,
        placeholder_leaves: false,
    };

    /// The names of the draft's mechanisms, in declaration order; they are also the TOML keys.
    /// `mimimi` switches on exactly these.
    pub const NAMES: [&'static str; 7] = [
        "pseudonymous_credentials",
        "fresh_signature_keys",
        "encrypted_queue_ids",
        "anonymous_key_packages",
        "encrypted_connection_requests",
        "anonymous_channel",
        "last_resort_policy",
    ];

    /// The names of the countermeasures beyond the draft, in declaration order; they are also
    /// the TOML keys. No built-in mode switches them on.
    pub const COUNTERMEASURES: [&'static str; 3] = ["jitter", "padding", "placeholder_leaves"];

    /// The field named `name`, or `None` for an unknown name.
    fn field(&mut self, name: &str) -> Option<&mut bool> {
        Some(match name {
            "pseudonymous_credentials" => &mut self.pseudonymous_credentials,
            "fresh_signature_keys" => &mut self.fresh_signature_keys,
            "encrypted_queue_ids" => &mut self.encrypted_queue_ids,
            "anonymous_key_packages" => &mut self.anonymous_key_packages,
            "encrypted_connection_requests" => &mut self.encrypted_connection_requests,
            "anonymous_channel" => &mut self.anonymous_channel,
            "last_resort_policy" => &mut self.last_resort_policy,
            "jitter" => &mut self.jitter,
            "padding" => &mut self.padding,
            "placeholder_leaves" => &mut self.placeholder_leaves,
            _ => return None,
        })
    }

    /// Whether the mechanism `name` is on, or `None` for an unknown name.
    pub fn get(&self, name: &str) -> Option<bool> {
        let mut copy = *self;
        copy.field(name).map(|on| *on)
    }

    /// Switches the mechanism `name` on or off; returns `false` for an unknown name.
    pub fn set(&mut self, name: &str, on: bool) -> bool {
        match self.field(name) {
            Some(field) => {
                *field = on;
                true
            }
            None => false,
        }
    }

    /// The names of the switches that are on: the draft's mechanisms in [`Mechanisms::NAMES`]
    /// order, then the countermeasures in [`Mechanisms::COUNTERMEASURES`] order.
    pub fn enabled(&self) -> Vec<&'static str> {
        Self::NAMES
            .into_iter()
            .chain(Self::COUNTERMEASURES)
            .filter(|name| self.get(name) == Some(true))
            .collect()
    }

    /// Whether any countermeasure is on.
    pub fn any_countermeasure(&self) -> bool {
        self.jitter || self.padding || self.placeholder_leaves
    }
}

/// How anonymous requests travel when `anonymous_channel` is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Through a relay that hides the client's network address from the provider (default).
    Relay,
    /// Directly to the provider, without the account's session.
    Direct,
    /// No network-level protection at all.
    None,
}

impl Channel {
    /// Every channel, in the order the scenario documentation lists them.
    pub const ALL: [Channel; 3] = [Channel::Relay, Channel::Direct, Channel::None];

    /// The value that selects this channel in a scenario file, e.g. `"relay"`.
    pub fn key(&self) -> &'static str {
        match self {
            Channel::Relay => "relay",
            Channel::Direct => "direct",
            Channel::None => "none",
        }
    }

    /// The channel a scenario file value selects.
    pub fn from_key(key: &str) -> Option<Channel> {
        Self::ALL.into_iter().find(|c| c.key() == key)
    }
}

/// The distribution of the `jitter` countermeasure's extra delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JitterDistribution {
    /// Uniform on [0, `jitter_max`] (default).
    Uniform,
    /// Exponential with mean `jitter_max`/4, truncated at `jitter_max` (redrawn above it).
    Exponential,
}

impl JitterDistribution {
    /// Every distribution, in the order the scenario documentation lists them.
    pub const ALL: [JitterDistribution; 2] =
        [JitterDistribution::Uniform, JitterDistribution::Exponential];

    /// The value that selects this distribution in a scenario file, e.g. `"uniform"`.
    pub fn key(&self) -> &'static str {
        match self {
            JitterDistribution::Uniform => "uniform",
            JitterDistribution::Exponential => "exponential",
        }
    }

    /// The distribution a scenario file value selects.
    pub fn from_key(key: &str) -> Option<JitterDistribution> {
        Self::ALL.into_iter().find(|d| d.key() == key)
    }
}

/// A mode the scenario runs in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Mode {
    /// `mimi`, `mimimi` or the name of an `[[ablation]]`.
    pub name: String,
    pub mechanisms: Mechanisms,
}

impl Mode {
    /// The built-in mode `mimi`: plain MIMI.
    pub fn mimi() -> Mode {
        Mode {
            name: "mimi".to_string(),
            mechanisms: Mechanisms::MIMI,
        }
    }

    /// The built-in mode `mimimi`: every MIMIMI mechanism of the draft on, no countermeasure.
    pub fn mimimi() -> Mode {
        Mode {
            name: "mimimi".to_string(),
            mechanisms: Mechanisms::MIMIMI,
        }
    }
}

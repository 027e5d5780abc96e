//! Properties of `[population]`: every population the table accepts generates a scenario the
//! validator accepts (connections before adds, members before sends, the creator never
//! leaving, devices added and removed within the limits), the same seed gives the same text
//! and another seed another world, and a small generated world with churn and device changes
//! runs to the end under both modes with the same fingerprint twice.

use mimimi_sim::output::ModeResult;
use mimimi_sim::scenario::{expand, parse_str, parse_with, Override};
use mimimi_sim::world::World;
use proptest::prelude::*;

/// A `[population]` table with values drawn across the accepted ranges (kept small).
fn population() -> impl Strategy<Value = String> {
    (
        (2..40u32, 1..8u32, prop::bool::ANY, 0.0..2.0f64),
        (0.5..8.0f64, 0.0..1.5f64, 0.2..4.0f64, 0.0..1.0f64),
        (0.5..3.0f64, 2..30u32, 0.0..1.0f64, 1..120u32),
        (0.0..1.0f64, 0.0..1.0f64, 0.0..1.0f64, 1..4usize),
        (prop::bool::ANY, 0.0..1.0f64, 0.0..1.0f64),
    )
        .prop_map(
            |(
                (users, providers, zipf, exponent),
                (median, sigma, groups, pair),
                (size_exp, size_max, foreign, minutes),
                (churn, rejoin, join, devices),
                (device_changes, device_churn, device_replace),
            )| {
                let sizes = if zipf { "zipf" } else { "uniform" };
                let device_shares = vec![format!("{}", 1.0 / devices as f64); devices];
                let devices_line = if devices == 3 {
                    // Thirds do not add up to 1 exactly in decimal: use explicit shares.
                    "devices = [0.5, 0.25, 0.25]".to_string()
                } else {
                    format!("devices = [{}]", device_shares.join(", "))
                };
                format!(
                    "modes = [\"mimi\", \"mimimi\"]\n\n[population]\nusers = {users}\n\
                     providers = {providers}\nprovider_sizes = \"{sizes}\"\n\
                     zipf_exponent = {exponent}\ncontacts_median = {median}\n\
                     contacts_sigma = {sigma}\ngroups_per_user = {groups}\npair_share = {pair}\n\
                     group_size_exponent = {size_exp}\ngroup_size_max = {size_max}\n\
                     foreign_hub_share = {foreign}\nduration = \"{minutes}m\"\n\
                     conversation_gap = \"5m\"\nmessage_gap = \"20s\"\nchurn = {churn}\n\
                     rejoin = {rejoin}\njoin_share = {join}\n{devices_line}\n{}",
                    if device_changes {
                        format!(
                            "device_churn = {device_churn}\ndevice_replace = {device_replace}\n"
                        )
                    } else {
                        String::new()
                    }
                )
            },
        )
}

/// 64 cases from a fixed seed, so that CI checks the same populations every time; set
/// PROPTEST_CASES and PROPTEST_RNG_SEED to search further.
fn config() -> ProptestConfig {
    let env = ProptestConfig::default();
    let set = |var: &str| std::env::var_os(var).is_some();
    ProptestConfig {
        cases: if set("PROPTEST_CASES") { env.cases } else { 64 },
        rng_seed: if set("PROPTEST_RNG_SEED") {
            env.rng_seed
        } else {
            proptest::test_runner::RngSeed::Fixed(0x0070_6f70)
        },
        failure_persistence: None,
        ..env
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_accepted_population_generates_a_valid_scenario(text in population(), seed in 0..1000u64) {
        let seeded = [Override::new("seed", &seed.to_string())];
        let s = parse_with(&text, "pop.toml", &seeded);
        prop_assert!(s.is_ok(), "{}", s.unwrap_err());
        let s = s.unwrap();
        let (_, made) = s.population.clone().unwrap();
        prop_assert_eq!(s.users.len(), made.users);
        // The expanded file parses to the same scenario (but for where it came from).
        let expanded = expand(&text, "pop.toml", &seeded).unwrap();
        let again = parse_str(&expanded, "pop.toml").unwrap();
        prop_assert_eq!(&again.actions, &s.actions);
        prop_assert_eq!(&again.users, &s.users);
        prop_assert_eq!(expand(&text, "pop.toml", &seeded).unwrap(), expanded);
    }
}

#[test]
fn another_seed_another_world() {
    let text = "[population]\nusers = 30\n";
    let world = |seed: u64| expand(text, "p.toml", &[Override::new("seed", &seed.to_string())]);
    assert_eq!(world(1).unwrap(), world(1).unwrap());
    assert_ne!(world(1).unwrap(), world(2).unwrap());
}

#[test]
fn a_generated_world_runs_to_the_end_with_the_same_fingerprint_twice() {
    let text = "modes = [\"mimi\", \"mimimi\"]\n\n[population]\nusers = 10\nproviders = 3\n\
                duration = \"20m\"\nchurn = 0.5\ndevices = [0.4, 0.4, 0.2]\n\
                device_churn = 0.5\ndevice_replace = 1\n";
    let s = parse_str(text, "p.toml").unwrap();
    let kinds = |key: &str| s.actions.iter().filter(|a| a.kind.key() == key).count();
    assert!(kinds("add_device") > 0 && kinds("remove_device") > 0);
    for mode in &s.modes {
        let fingerprint = || {
            let out = World::new(&s, mode, s.seed, 0).run(|_| {}).unwrap();
            ModeResult::new(mode, out).fingerprint
        };
        assert_eq!(fingerprint(), fingerprint(), "mode {}", mode.name);
    }
}

#[test]
fn device_changes_leave_the_rest_of_the_world_as_it_was() {
    let world = |extra: &str| {
        let text = format!("[population]\nusers = 30\n{extra}");
        let s = parse_str(&text, "p.toml").unwrap();
        let others: Vec<_> = s
            .actions
            .into_iter()
            .filter(|a| !a.kind.key().ends_with("_device"))
            .collect();
        (others, s.users)
    };
    let (plain, users) = world("");
    let (changed, same_users) = world("device_churn = 0.8\n");
    assert_eq!(users, same_users);
    assert_eq!(plain.len(), changed.len());
    assert!(plain
        .iter()
        .zip(&changed)
        .all(|(a, b)| a.kind == b.kind && a.at_us == b.at_us));
}

//! `--decrypt needed` against `--decrypt all`: the same observations and ground truth on a
//! scenario with connection rooms, joins and removals (the quickstart), fewer MLS operations.
//! CI compares every shipped scenario's files the same way.

use mimimi_sim::output::mode_results;
use mimimi_sim::scenario::load;
use mimimi_sim::world::{run_modes, Decrypt, RunOptions};

#[test]
fn decrypting_only_what_is_needed_changes_nothing_observed() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quickstart.toml");
    let s = load(&path).unwrap();
    let run = |decrypt| {
        let options = RunOptions {
            jobs: 2,
            decrypt,
            log_to: None,
        };
        let outputs = run_modes(&s, s.seed, 0, &options, |_, _| {}).unwrap();
        mode_results(&s, outputs)
    };
    let (all, needed) = (run(Decrypt::All), run(Decrypt::Needed));
    for (a, n) in all.iter().zip(&needed) {
        assert_eq!(a.fingerprint, n.fingerprint, "{}", a.mode);
        assert_eq!(a.observations_csv, n.observations_csv);
        assert_eq!(a.output.truth, n.output.truth);
        assert_eq!(a.output.memberships, n.output.memberships);
        assert_eq!(a.output.connections, n.output.connections);
        assert_eq!(a.output.messages, n.output.messages);
        let (sa, sn) = (&a.output.stats, &n.output.stats);
        assert_eq!(sa.messages_not_decrypted, None);
        let skipped = sn.messages_not_decrypted.unwrap();
        // Every scenario-room message a member's client received (its sender's copy
        // included) is left encrypted, and is one MLS operation fewer.
        assert!(skipped >= sa.messages_delivered, "{}", a.mode);
        assert_eq!(sn.messages_delivered, 0);
        assert_eq!(sa.mls_operations - sn.mls_operations, skipped, "{}", a.mode);
        assert_eq!(sa.commits, sn.commits);
        assert_eq!(sa.events, sn.events);
    }
}

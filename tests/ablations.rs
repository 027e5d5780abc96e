//! Every MIMIMI mechanism can be switched on alone, and off alone, on the quickstart scenario:
//! each such mode runs to the end with consistent rooms and every message delivered.

use std::path::Path;

use mimimi_sim::scenario::{self, Mechanisms, Mode, Scenario};
use mimimi_sim::world::World;

fn quickstart() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quickstart.toml");
    scenario::load(&path).unwrap()
}

fn check(s: &Scenario, mode: &Mode) {
    let out = World::new(s, mode, s.seed, 0)
        .run(|_| {})
        .unwrap_or_else(|e| panic!("mode {}: {e}", mode.name));
    let reference = World::new(s, &s.modes[0], s.seed, 0).run(|_| {}).unwrap();
    assert_eq!(
        out.stats.messages_sent, reference.stats.messages_sent,
        "{}",
        mode.name
    );
    assert_eq!(
        out.stats.messages_delivered, reference.stats.messages_delivered,
        "{}",
        mode.name
    );
    assert_eq!(out.stats.authentication_failures, 0, "{}", mode.name);
    assert_eq!(
        out.stats.connections, reference.stats.connections,
        "{}",
        mode.name
    );
    assert!(out.stats.consistency_checks > 0);
}

#[test]
fn each_mechanism_alone() {
    let s = quickstart();
    for name in Mechanisms::NAMES {
        let mut m = Mechanisms::MIMI;
        m.set(name, true);
        check(
            &s,
            &Mode {
                name: format!("only-{name}"),
                mechanisms: m,
            },
        );
    }
}

#[test]
fn each_mechanism_left_out() {
    let s = quickstart();
    for name in Mechanisms::NAMES {
        let mut m = Mechanisms::MIMIMI;
        m.set(name, false);
        check(
            &s,
            &Mode {
                name: format!("without-{name}"),
                mechanisms: m,
            },
        );
    }
}

//! Scenario parsing: a good file parses to the expected values, and every kind of bad input
//! is reported at the exact position of the offending value.

use mimimi_sim::scenario::{
    load, parse_duration, parse_str, Action, ActionKind, Mode, Pos, ProviderSpec, ScenarioError,
    UserSpec,
};

/// Two providers and four users; actions are appended from line `B + 1` on.
const BASE: &str = r#"[[provider]]
domain = "alpha.example"

[[provider]]
domain = "beta.example"

[[user]]
name = "alice"
provider = "alpha.example"

[[user]]
name = "bob"
provider = "beta.example"

[[user]]
name = "carol"
provider = "alpha.example"

[[user]]
name = "dave"
provider = "beta.example"
"#;

/// Number of lines in `BASE`.
const B: usize = 21;

/// Connects alice and bob at 0s (lines B+1..=B+3), then creates room `lunch` at 0s by alice
/// with bob as the other member (lines B+4..=B+6). The connect lets alice add bob in modes with
/// pseudonymous credentials, which the default modes include.
const LUNCH: &str = r#"[[action]]
at = "0s"
connect = { from = "alice", to = "bob" }
[[action]]
at = "0s"
create_room = { room = "lunch", by = "alice", members = ["bob"] }
"#;

fn with(actions: &str) -> String {
    format!("{BASE}{actions}")
}

fn err(src: &str) -> ScenarioError {
    match parse_str(src, "t.toml") {
        Ok(s) => panic!("expected an error, got {s:#?}"),
        Err(e) => e,
    }
}

/// Asserts the error is at `line:column` and its message contains `needle`.
#[track_caller]
fn assert_err(src: &str, line: usize, column: usize, needle: &str) -> ScenarioError {
    let e = err(src);
    let text = e.to_string();
    let prefix = format!("t.toml:{line}:{column}: error: ");
    assert!(
        text.starts_with(&prefix),
        "expected `{prefix}...`, got:\n{text}"
    );
    let first_line = text.lines().next().unwrap();
    assert!(
        first_line.contains(needle),
        "expected message containing {needle:?}, got:\n{text}"
    );
    assert_eq!(e.pos(), Some(Pos { line, column }));
    e
}

#[track_caller]
fn assert_hint(e: &ScenarioError, needle: &str) {
    let text = e.to_string();
    let hint = text
        .split_once("\n  hint: ")
        .unwrap_or_else(|| panic!("expected a hint, got:\n{text}"))
        .1;
    assert!(
        hint.contains(needle),
        "expected hint containing {needle:?}, got:\n{text}"
    );
    assert_eq!(e.hint(), Some(hint));
}

#[test]
fn base_has_the_expected_line_count() {
    assert_eq!(BASE.lines().count(), B);
}

// ---------------------------------------------------------------------------------------------
// Good input
// ---------------------------------------------------------------------------------------------

const QUICKSTART: &str = r#"name = "quickstart"
seed = 7
latency = "15ms"
key_packages = 6
modes = ["mimi"] # plain MIMI only: alice adds carol and dave, and erin joins, unconnected
[[provider]]
domain = "alpha.example"

[[provider]]
domain = "beta.example"

[[user]]
name = "alice"
provider = "alpha.example"
clients = 2

[[user]]
name = "bob"
provider = "beta.example"

[[user]]
name = "carol"
provider = "alpha.example"

[[user]]
name = "dave"
provider = "beta.example"

[[user]]
name = "erin"
provider = "beta.example"

[[action]]
at = "0s"
connect = { from = "alice", to = "bob" }

[[action]]
at = "90s"
create_room = { room = "lunch", by = "alice", hub = "beta.example", members = ["bob", "carol"] }

[[action]]
at = "2m"
add = { room = "lunch", by = "alice", users = ["dave"] }

[[action]]
at = "3m"
join = { room = "lunch", user = "erin" }

[[action]]
at = "4m"
remove = { room = "lunch", by = "alice", user = "bob" }

[[action]]
at = "5m"
leave = { room = "lunch", user = "carol" }

[[action]]
at = "6m"
send = { room = "lunch", from = "alice", count = 5, every = "10s" }

[[action]]
at = "0s"
publish_key_packages = { user = "alice", count = 3 }
"#;

#[test]
fn quickstart_parses_with_expected_values() {
    let s = parse_str(QUICKSTART, "scenarios/quickstart.toml").unwrap();
    assert_eq!(s.name, "quickstart");
    assert_eq!(s.file, "scenarios/quickstart.toml");
    assert_eq!(s.seed, 7);
    assert_eq!(s.latency_us, 15_000);
    assert_eq!(s.key_packages_per_client, 6);
    assert_eq!(s.modes, vec![Mode::mimi()]);
    assert!(!s.connections_required);
    assert_eq!(
        s.providers,
        vec![
            ProviderSpec {
                domain: "alpha.example".into()
            },
            ProviderSpec {
                domain: "beta.example".into()
            },
        ]
    );
    let user = |name: &str, provider: &str, clients| UserSpec {
        name: name.into(),
        provider: provider.into(),
        clients,
    };
    assert_eq!(
        s.users,
        vec![
            user("alice", "alpha.example", 2),
            user("bob", "beta.example", 1),
            user("carol", "alpha.example", 1),
            user("dave", "beta.example", 1),
            user("erin", "beta.example", 1),
        ]
    );
    let s_ = |v: &str| v.to_string();
    let action = |at_us, line, kind| Action {
        at_us,
        pos: Pos { line, column: 1 },
        kind,
    };
    assert_eq!(
        s.actions,
        vec![
            action(
                0,
                33,
                ActionKind::Connect {
                    from: s_("alice"),
                    to: s_("bob"),
                    accept: true,
                }
            ),
            // Same time as the connect, later in the file: stays after it.
            // Same time as the connect but later in the file: stays after it.
            action(
                0,
                61,
                ActionKind::PublishKeyPackages {
                    user: s_("alice"),
                    count: 3
                }
            ),
            action(
                90_000_000,
                37,
                ActionKind::CreateRoom {
                    room: s_("lunch"),
                    by: s_("alice"),
                    hub: Some(s_("beta.example")),
                    members: vec![s_("bob"), s_("carol")],
                    identity_links: true,
                }
            ),
            action(
                120_000_000,
                41,
                ActionKind::Add {
                    room: s_("lunch"),
                    by: s_("alice"),
                    users: vec![s_("dave")],
                }
            ),
            action(
                180_000_000,
                45,
                ActionKind::Join {
                    room: s_("lunch"),
                    user: s_("erin"),
                }
            ),
            action(
                240_000_000,
                49,
                ActionKind::Remove {
                    room: s_("lunch"),
                    by: s_("alice"),
                    user: s_("bob"),
                }
            ),
            action(
                300_000_000,
                53,
                ActionKind::Leave {
                    room: s_("lunch"),
                    user: s_("carol"),
                }
            ),
            action(
                360_000_000,
                57,
                ActionKind::Send {
                    room: s_("lunch"),
                    from: s_("alice"),
                    count: 5,
                    every_us: 10_000_000,
                    bytes: None,
                }
            ),
        ]
    );
}

#[test]
fn defaults_apply_and_name_comes_from_the_file_stem() {
    let src = with(
        r#"[[action]]
at = "1.5s"
create_room = { room = "r", by = "alice" }

[[action]]
at = "2s"
send = { room = "r", from = "alice" }
"#,
    );
    let s = parse_str(&src, "dir/my-scenario.toml").unwrap();
    assert_eq!(s.name, "my-scenario");
    assert_eq!(s.seed, 1);
    assert_eq!(s.latency_us, 20_000);
    assert_eq!(s.key_packages_per_client, 4);
    assert!(s.users.iter().all(|u| u.clients == 1));
    assert_eq!(
        s.actions,
        vec![
            Action {
                at_us: 1_500_000,
                pos: Pos {
                    line: 22,
                    column: 1
                },
                kind: ActionKind::CreateRoom {
                    room: "r".into(),
                    by: "alice".into(),
                    hub: None,
                    members: vec![],
                    identity_links: true,
                },
            },
            Action {
                at_us: 2_000_000,
                pos: Pos {
                    line: 26,
                    column: 1
                },
                kind: ActionKind::Send {
                    room: "r".into(),
                    from: "alice".into(),
                    count: 1,
                    every_us: 1_000_000,
                    bytes: None,
                },
            },
        ]
    );
}

#[test]
fn actions_are_sorted_by_time_with_ties_in_file_order() {
    let src = with(
        r#"[[action]]
at = "3s"
publish_key_packages = { user = "alice", count = 1 }

[[action]]
at = "1s"
publish_key_packages = { user = "alice", count = 2 }

[[action]]
at = "1000ms"
publish_key_packages = { user = "alice", count = 3 }

[[action]]
at = "0s"
publish_key_packages = { user = "alice", count = 4 }
"#,
    );
    let s = parse_str(&src, "t.toml").unwrap();
    let order: Vec<(u64, usize, u32)> = s
        .actions
        .iter()
        .map(|a| match a.kind {
            ActionKind::PublishKeyPackages { count, .. } => (a.at_us, a.pos.line, count),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        order,
        vec![
            (0, B + 13, 4),
            (1_000_000, B + 5, 2),
            (1_000_000, B + 9, 3),
            (3_000_000, B + 1, 1)
        ]
    );
}

#[test]
fn membership_is_replayed_in_time_order_and_members_may_come_back() {
    // The leave comes first in the file but after the creation in time; bob leaves, joins
    // again, is removed and added again. alice is connected to bob and carol, as the default
    // modes include MIMIMI, where only connected users can add each other.
    let src = with(
        r#"[[action]]
at = "10s"
leave = { room = "lunch", user = "bob" }

[[action]]
at = "0s"
connect = { from = "alice", to = "bob" }

[[action]]
at = "0s"
connect = { from = "carol", to = "alice" }

[[action]]
at = "0s"
create_room = { room = "lunch", by = "alice", members = ["bob"] }

[[action]]
at = "20s"
join = { room = "lunch", user = "bob" }

[[action]]
at = "30s"
remove = { room = "lunch", by = "alice", user = "bob" }

[[action]]
at = "40s"
add = { room = "lunch", by = "alice", users = ["bob", "carol"] }

[[action]]
at = "50s"
send = { room = "lunch", from = "carol" }
"#,
    );
    let s = parse_str(&src, "t.toml").unwrap();
    let keys: Vec<&str> = s.actions.iter().map(|a| a.kind.key()).collect();
    assert_eq!(
        keys,
        [
            "connect",
            "connect",
            "create_room",
            "leave",
            "join",
            "remove",
            "add",
            "send"
        ]
    );
}

#[test]
fn inline_action_array_is_accepted() {
    let src = r#"action = [
  { at = "0s", connect = { from = "alice", to = "bob" } },
]

[[provider]]
domain = "alpha.example"

[[user]]
name = "alice"
provider = "alpha.example"

[[user]]
name = "bob"
provider = "alpha.example"
"#;
    let s = parse_str(src, "t.toml").unwrap();
    assert_eq!(s.actions[0].pos, Pos { line: 2, column: 3 });
}

#[test]
fn load_reads_a_file_and_reports_io_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("from-disk.toml");
    std::fs::write(&path, BASE).unwrap();
    let s = load(&path).unwrap();
    assert_eq!(s.name, "from-disk");
    assert_eq!(s.file, path.display().to_string());

    let missing = dir.path().join("missing.toml");
    let e = load(&missing).unwrap_err();
    assert!(matches!(e, ScenarioError::Io { .. }));
    let text = e.to_string();
    assert!(
        text.starts_with(&format!(
            "{}: error: cannot read the file: ",
            missing.display()
        )),
        "{text}"
    );
    // The OS error appears once.
    assert_eq!(
        text.matches("No such file or directory").count(),
        1,
        "{text}"
    );
    assert_eq!(e.pos(), None);
}

// ---------------------------------------------------------------------------------------------
// parse_duration
// ---------------------------------------------------------------------------------------------

#[test]
fn parse_duration_accepts_units_and_decimals() {
    for (text, us) in [
        ("90s", 90_000_000),
        ("5m", 300_000_000),
        ("20ms", 20_000),
        ("1h", 3_600_000_000),
        ("250us", 250),
        ("250µs", 250),
        ("0s", 0),
        ("1.5s", 1_500_000),
        ("0.5ms", 500),
        (".25s", 250_000),
        ("2.s", 2_000_000),
        ("1.000s", 1_000_000),
        ("2min", 120_000_000),
        (" 3s ", 3_000_000),
    ] {
        assert_eq!(parse_duration(text), Ok(us), "{text:?}");
    }
}

#[test]
fn parse_duration_rejects_bad_input() {
    for (text, needle) in [
        ("90", "add a unit, e.g. \"90s\""),
        ("0", "has no unit"),
        ("", "empty"),
        ("s", "does not start with a non-negative number"),
        ("-1s", "does not start with a non-negative number"),
        ("5x", "unknown unit \"x\""),
        ("5 s", "unknown unit"),
        ("1.2.3s", "malformed"),
        (".s", "malformed"),
        ("0.0000001s", "not a whole number of microseconds"),
        ("1.5us", "not a whole number of microseconds"),
        ("99999999999999999999h", "too large"),
        ("5124096000h", "too large"),
    ] {
        let e = parse_duration(text).unwrap_err();
        assert!(e.contains(needle), "{text:?}: {e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Syntax and schema errors
// ---------------------------------------------------------------------------------------------

#[test]
fn syntax_error_unterminated_string() {
    assert_err("name = \"x\nseed = 1\n", 1, 10, "invalid basic string");
}

#[test]
fn syntax_error_column_counts_characters() {
    assert_err("name = \"ééé\" x\n", 1, 14, "unexpected key or value");
}

#[test]
fn syntax_error_bad_table_header() {
    assert_err(
        &format!("{BASE}[[action]\n"),
        B + 1,
        10,
        "unclosed array table",
    );
}

#[test]
fn duplicate_key() {
    assert_err("name = \"a\"\nname = \"b\"\n", 2, 1, "duplicate key");
}

#[test]
fn unknown_top_level_key() {
    let e = assert_err(&format!("sede = 3\n{BASE}"), 1, 1, "unknown key `sede`");
    assert_hint(
        &e,
        "name, seed, latency, key_packages, provider, user, action",
    );
}

#[test]
fn unknown_key_in_user() {
    let src = r#"[[provider]]
domain = "alpha.example"

[[user]]
name = "alice"
provider = "alpha.example"
client = 2
"#;
    let e = assert_err(src, 7, 1, "unknown key `client`");
    assert_hint(&e, "name, provider, clients");
}

#[test]
fn unknown_key_in_action_kind_table() {
    let e = assert_err(
        &with("[[action]]\nat = \"0s\"\nconnect = { from = \"alice\", too = \"bob\" }\n"),
        B + 3,
        29,
        "unknown key `too`",
    );
    assert_hint(&e, "from, to");
}

#[test]
fn unknown_action_kind() {
    let e = assert_err(
        &with("[[action]]\nat = \"0s\"\nsned = { room = \"lunch\", from = \"alice\" }\n"),
        B + 3,
        1,
        "unknown key `sned`",
    );
    assert_hint(&e, "send, publish_key_packages");
}

#[test]
fn missing_field_in_user() {
    let src = r#"[[provider]]
domain = "alpha.example"

[[user]]
name = "alice"
"#;
    let e = assert_err(src, 4, 1, "missing key `provider`");
    assert_hint(&e, "add `provider = ...`");
}

#[test]
fn missing_field_in_action_kind() {
    assert_err(
        &with("[[action]]\nat = \"0s\"\nconnect = { from = \"alice\" }\n"),
        B + 3,
        11,
        "missing key `to`",
    );
}

#[test]
fn missing_at() {
    assert_err(
        &with("[[action]]\nconnect = { from = \"alice\", to = \"bob\" }\n"),
        B + 1,
        1,
        "missing key `at`",
    );
}

#[test]
fn wrong_type() {
    let src = r#"[[provider]]
domain = "alpha.example"

[[user]]
name = "alice"
provider = "alpha.example"
clients = "two"
"#;
    let e = assert_err(
        src,
        7,
        11,
        "invalid type: string \"two\", expected an integer",
    );
    assert_hint(&e, "write a whole number without quotes");
}

#[test]
fn duration_without_unit() {
    let e = assert_err(
        &with("[[action]]\nat = \"90\"\nconnect = { from = \"alice\", to = \"bob\" }\n"),
        B + 2,
        6,
        "invalid duration for `at`: duration \"90\" has no unit",
    );
    assert_hint(&e, "add a unit, e.g. \"90s\"");
}

#[test]
fn duration_with_unknown_unit() {
    let e = assert_err(
        &with("[[action]]\nat = \"5x\"\nconnect = { from = \"alice\", to = \"bob\" }\n"),
        B + 2,
        6,
        "unknown unit \"x\"",
    );
    assert_hint(&e, "us, ms, s, m, h");
}

#[test]
fn bad_latency() {
    let e = assert_err(
        &format!("latency = \"fast\"\n{BASE}"),
        1,
        11,
        "invalid duration for `latency`",
    );
    assert_hint(&e, "e.g. \"90s\"");
}

#[test]
fn bad_send_interval_duration() {
    assert_err(
        &with(&format!(
            "{LUNCH}[[action]]\nat = \"1s\"\nsend = {{ room = \"lunch\", from = \"alice\", every = \"soon\" }}\n"
        )),
        B + 9,
        50,
        "invalid duration for `every`",
    );
}

#[test]
fn negative_seed_and_bad_key_packages() {
    assert_err(
        &format!("seed = -5\n{BASE}"),
        1,
        8,
        "seed must not be negative",
    );
    assert_err(
        &format!("key_packages = 1001\n{BASE}"),
        1,
        16,
        "key_packages must be between 0 and 1000",
    );
    assert_err(
        &format!("key_packages = -1\n{BASE}"),
        1,
        16,
        "key_packages must be between 0 and 1000",
    );
    assert_eq!(
        parse_str(&format!("key_packages = 0\n{BASE}"), "t.toml")
            .unwrap()
            .key_packages_per_client,
        0
    );
}

#[test]
fn empty_name() {
    assert_err(
        &format!("name = \"\"\n{BASE}"),
        1,
        8,
        "scenario name is empty",
    );
}

// ---------------------------------------------------------------------------------------------
// Providers and users
// ---------------------------------------------------------------------------------------------

#[test]
fn no_providers() {
    let e = assert_err(
        "[[user]]\nname = \"alice\"\nprovider = \"alpha.example\"\n",
        1,
        1,
        "no providers declared",
    );
    assert_hint(&e, "[[provider]]");
}

#[test]
fn no_users() {
    let e = assert_err(
        "[[provider]]\ndomain = \"alpha.example\"\n",
        1,
        1,
        "no users declared",
    );
    assert_hint(&e, "[[user]]");
}

#[test]
fn duplicate_provider() {
    let src = r#"[[provider]]
domain = "alpha.example"
[[provider]]
domain = "Alpha.example"
[[user]]
name = "alice"
provider = "alpha.example"
"#;
    let e = assert_err(src, 4, 10, "two providers with domain \"Alpha.example\"");
    assert_hint(&e, "line 2");
}

#[test]
fn invalid_domains() {
    for (domain, needle) in [
        ("", "it is empty"),
        ("alpha..example", "empty label"),
        ("alpha.example.", "empty label"),
        ("alpha_example", "only letters, digits, '-' and '.'"),
        ("-alpha.example", "starts or ends with '-'"),
    ] {
        let src = format!(
            "[[provider]]\ndomain = \"{domain}\"\n[[user]]\nname = \"a\"\nprovider = \"{domain}\"\n"
        );
        let e = assert_err(&src, 2, 10, "invalid provider domain");
        assert!(e.to_string().contains(needle), "{domain:?}: {e}");
    }
}

#[test]
fn duplicate_user() {
    let e = err(&with(
        "\n[[user]]\nname = \"bob\"\nprovider = \"alpha.example\"\n",
    ));
    assert_eq!(
        e.to_string(),
        "t.toml:24:8: error: two users named bob\n  hint: the first is declared at line 12; rename one of them"
    );
}

#[test]
fn user_with_undeclared_provider() {
    let e = assert_err(
        &with("\n[[user]]\nname = \"erin\"\nprovider = \"gamma.example\"\n"),
        B + 4,
        12,
        "user erin's provider \"gamma.example\" is not declared",
    );
    assert_hint(&e, "declared providers: alpha.example, beta.example");
}

#[test]
fn clients_out_of_range() {
    for clients in ["0", "17", "-1"] {
        let e = assert_err(
            &with(&format!(
                "\n[[user]]\nname = \"erin\"\nprovider = \"alpha.example\"\nclients = {clients}\n"
            )),
            B + 5,
            11,
            "clients must be 1..=16",
        );
        assert_hint(&e, "from 1 to 16");
    }
}

#[test]
fn invalid_user_name() {
    assert_err(
        &with("\n[[user]]\nname = \"erin smith\"\nprovider = \"alpha.example\"\n"),
        B + 3,
        8,
        "invalid user name \"erin smith\"",
    );
}

// ---------------------------------------------------------------------------------------------
// Static action checks
// ---------------------------------------------------------------------------------------------

#[test]
fn two_kinds_in_one_action() {
    let e = assert_err(
        &with(
            "[[action]]\nat = \"0s\"\nconnect = { from = \"alice\", to = \"bob\" }\njoin = { room = \"lunch\", user = \"bob\" }\n",
        ),
        B + 4,
        8,
        "action has more than one kind: `connect` and `join`",
    );
    assert_hint(
        &e,
        "connect, create_room, add, join, remove, leave, send, publish_key_packages",
    );
}

#[test]
fn action_without_kind() {
    let e = assert_err(
        &with("[[action]]\nat = \"0s\"\n"),
        B + 1,
        1,
        "action has no kind",
    );
    assert_hint(&e, "exactly one of: connect, create_room");
}

#[test]
fn unknown_user_in_action() {
    let e = assert_err(
        &with(&format!(
            "{LUNCH}[[action]]\nat = \"1s\"\nadd = {{ room = \"lunch\", by = \"alice\", users = [\"carol\", \"zed\"] }}\n"
        )),
        B + 9,
        57,
        "unknown user \"zed\"",
    );
    assert_hint(&e, "declared users: alice, bob, carol, dave");
}

#[test]
fn unknown_provider_in_hub() {
    let e = assert_err(
        &with(
            "[[action]]\nat = \"0s\"\ncreate_room = { room = \"r\", by = \"alice\", hub = \"gamma.example\" }\n",
        ),
        B + 3,
        49,
        "unknown provider \"gamma.example\" in `hub`",
    );
    assert_hint(&e, "alpha.example, beta.example");
}

#[test]
fn invalid_room_name() {
    assert_err(
        &with("[[action]]\nat = \"0s\"\ncreate_room = { room = \"a b\", by = \"alice\" }\n"),
        B + 3,
        24,
        "invalid room name \"a b\"",
    );
}

#[test]
fn creator_listed_among_members() {
    let e = assert_err(
        &with(
            "[[action]]\nat = \"0s\"\ncreate_room = { room = \"r\", by = \"alice\", members = [\"bob\", \"alice\"] }\n",
        ),
        B + 3,
        61,
        "the creator alice is listed among members",
    );
    assert_hint(&e, "remove alice from members");
}

#[test]
fn member_listed_twice() {
    assert_err(
        &with(
            "[[action]]\nat = \"0s\"\ncreate_room = { room = \"r\", by = \"alice\", members = [\"bob\", \"bob\"] }\n",
        ),
        B + 3,
        61,
        "bob is listed twice in members",
    );
}

#[test]
fn connect_to_self() {
    assert_err(
        &with("[[action]]\nat = \"0s\"\nconnect = { from = \"alice\", to = \"alice\" }\n"),
        B + 3,
        34,
        "connect from alice to itself",
    );
}

#[test]
fn duplicate_connect_in_either_direction() {
    let e = assert_err(
        &with(
            r#"[[action]]
at = "0s"
connect = { from = "alice", to = "bob" }

[[action]]
at = "1s"
connect = { from = "bob", to = "alice" }
"#,
        ),
        B + 7,
        11,
        "bob and alice are already connected",
    );
    assert_hint(&e, "line 24");
}

#[test]
fn send_count_and_interval_must_be_positive() {
    let e = assert_err(
        &with(&format!(
            "{LUNCH}[[action]]\nat = \"1s\"\nsend = {{ room = \"lunch\", from = \"alice\", count = 0 }}\n"
        )),
        B + 9,
        50,
        "send count must be at least 1",
    );
    assert_hint(&e, "positive count");
    let e = assert_err(
        &with(&format!(
            "{LUNCH}[[action]]\nat = \"1s\"\nsend = {{ room = \"lunch\", from = \"alice\", every = \"0s\" }}\n"
        )),
        B + 9,
        50,
        "`every` must be at least 1ms, got 0s",
    );
    assert_hint(&e, "every = \"1s\"");
}

#[test]
fn publish_count_must_be_positive() {
    assert_err(
        &with("[[action]]\nat = \"0s\"\npublish_key_packages = { user = \"alice\", count = 0 }\n"),
        B + 3,
        50,
        "publish_key_packages count must be at least 1",
    );
}

#[test]
fn add_needs_users() {
    assert_err(
        &with(&format!(
            "{LUNCH}[[action]]\nat = \"1s\"\nadd = {{ room = \"lunch\", by = \"alice\", users = [] }}\n"
        )),
        B + 9,
        47,
        "`add` needs at least one user",
    );
}

#[test]
fn remove_of_oneself() {
    let e = assert_err(
        &with(&format!(
            "{LUNCH}[[action]]\nat = \"1s\"\nremove = {{ room = \"lunch\", by = \"alice\", user = \"alice\" }}\n"
        )),
        B + 9,
        49,
        "alice cannot remove itself",
    );
    assert_hint(
        &e,
        "use leave = { room = \"lunch\", user = \"alice\" } instead",
    );
}

#[test]
fn static_errors_are_reported_in_file_order() {
    // Bad duration on line B+2 and an unknown user on line B+3: the first one wins.
    assert_err(
        &with("[[action]]\nat = \"1\"\nconnect = { from = \"zed\", to = \"bob\" }\n"),
        B + 2,
        6,
        "invalid duration",
    );
    // A static error later in the file is reported before a replay error earlier in the file.
    assert_err(
        &with(
            r#"[[action]]
at = "0s"
send = { room = "nope", from = "alice" }

[[action]]
at = "1s"
connect = { from = "alice", to = "zed" }
"#,
        ),
        B + 7,
        34,
        "unknown user \"zed\"",
    );
}

// ---------------------------------------------------------------------------------------------
// Replay of room membership
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_room() {
    let e = assert_err(
        &with("[[action]]\nat = \"0s\"\nsend = { room = \"nope\", from = \"alice\" }\n"),
        B + 3,
        17,
        "unknown room nope",
    );
    assert_hint(&e, "no create_room action creates nope");
}

#[test]
fn room_used_before_its_creation_in_time() {
    let e = assert_err(
        &with(
            r#"[[action]]
at = "1m"
send = { room = "lunch", from = "alice" }

[[action]]
at = "2m"
create_room = { room = "lunch", by = "alice" }
"#,
        ),
        B + 3,
        17,
        "room lunch does not exist yet at 1m",
    );
    assert_hint(&e, "it is created at 2m (line 26)");
}

#[test]
fn join_to_a_room_that_does_not_exist_yet() {
    let e = assert_err(
        &with(
            r#"[[action]]
at = "0s"
join = { room = "lunch", user = "bob" }

[[action]]
at = "0s"
create_room = { room = "lunch", by = "alice" }
"#,
        ),
        B + 3,
        17,
        "room lunch does not exist yet at 0s",
    );
    assert_hint(&e, "create it earlier or move the join later");
}

#[test]
fn create_room_that_exists() {
    let e = assert_err(
        &with(&format!(
            "{LUNCH}[[action]]\nat = \"5s\"\ncreate_room = {{ room = \"lunch\", by = \"bob\" }}\n"
        )),
        B + 9,
        24,
        "room lunch already exists",
    );
    assert_hint(&e, "created at 0s (line 25)");
}

#[test]
fn add_by_non_member() {
    let e = assert_err(
        &with(&format!(
            "{LUNCH}[[action]]\nat = \"1s\"\nadd = {{ room = \"lunch\", by = \"carol\", users = [\"dave\"] }}\n"
        )),
        B + 9,
        30,
        "carol is not a member of room lunch at 1s and cannot add users",
    );
    assert_hint(&e, "only members can add");
}

#[test]
fn add_of_a_member() {
    let e = assert_err(
        &with(&format!(
            "{LUNCH}[[action]]\nat = \"1s\"\nadd = {{ room = \"lunch\", by = \"alice\", users = [\"dave\", \"bob\"] }}\n"
        )),
        B + 9,
        56,
        "bob is already a member of room lunch at 1s",
    );
    assert_hint(&e, "remove bob from users");
}

#[test]
fn nobody_can_add_to_an_empty_room() {
    let src = with(&format!(
        r#"{LUNCH}[[action]]
at = "1s"
leave = {{ room = "lunch", user = "alice" }}
[[action]]
at = "2s"
leave = {{ room = "lunch", user = "bob" }}
[[action]]
at = "3s"
add = {{ room = "lunch", by = "alice", users = ["carol"] }}
"#
    ));
    assert_err(
        &src,
        B + 15,
        30,
        "alice is not a member of room lunch at 3s",
    );
    // The empty room still exists.
    let src = src.replace(
        "add = { room = \"lunch\", by = \"alice\", users = [\"carol\"] }",
        "create_room = { room = \"lunch\", by = \"carol\" }",
    );
    assert_err(&src, B + 15, 24, "room lunch already exists");
    // Nor can anyone join it: an external join needs a member's GroupInfo.
    let src = src.replace(
        "create_room = { room = \"lunch\", by = \"carol\" }",
        "join = { room = \"lunch\", user = \"carol\" }",
    );
    assert_err(&src, B + 15, 17, "room lunch has no members left at 3s");
}

#[test]
fn join_by_a_member() {
    let e = assert_err(
        &with(&format!(
            "{LUNCH}[[action]]\nat = \"1s\"\njoin = {{ room = \"lunch\", user = \"bob\" }}\n"
        )),
        B + 9,
        33,
        "bob is already a member of room lunch at 1s",
    );
    assert_hint(&e, "make bob leave the room earlier");
}

#[test]
fn remove_by_non_member() {
    let e = assert_err(
        &with(&format!(
            "{LUNCH}[[action]]\nat = \"1s\"\nremove = {{ room = \"lunch\", by = \"carol\", user = \"bob\" }}\n"
        )),
        B + 9,
        33,
        "carol is not a member of room lunch at 1s and cannot remove users",
    );
    assert_hint(&e, "only members can remove");
}

#[test]
fn remove_of_non_member() {
    let e = assert_err(
        &with(&format!(
            "{LUNCH}[[action]]\nat = \"1s\"\nremove = {{ room = \"lunch\", by = \"alice\", user = \"carol\" }}\n"
        )),
        B + 9,
        49,
        "carol is not a member of room lunch at 1s",
    );
    assert_hint(&e, "drop this remove");
}

#[test]
fn leave_by_non_member() {
    let e = assert_err(
        &with(&format!(
            "{LUNCH}[[action]]\nat = \"1s\"\nleave = {{ room = \"lunch\", user = \"carol\" }}\n"
        )),
        B + 9,
        34,
        "carol is not a member of room lunch at 1s",
    );
    assert_hint(&e, "drop this leave");
}

#[test]
fn send_from_non_member() {
    let e = assert_err(
        &with(&format!(
            "{LUNCH}[[action]]\nat = \"1s\"\nsend = {{ room = \"lunch\", from = \"carol\" }}\n"
        )),
        B + 9,
        33,
        "carol is not a member of room lunch at 1s and cannot send to it",
    );
    assert_hint(&e, "send from a current member");
}

#[test]
fn send_after_leaving() {
    assert_err(
        &with(&format!(
            r#"{LUNCH}[[action]]
at = "2s"
send = {{ room = "lunch", from = "bob" }}
[[action]]
at = "1s"
leave = {{ room = "lunch", user = "bob" }}
"#
        )),
        B + 9,
        33,
        "bob is not a member of room lunch at 2s",
    );
}

#[test]
fn replay_errors_are_reported_in_time_order() {
    // The send from carol is later in the file but earlier in time than dave's.
    assert_err(
        &with(&format!(
            r#"{LUNCH}[[action]]
at = "5s"
send = {{ room = "lunch", from = "dave" }}
[[action]]
at = "4s"
send = {{ room = "lunch", from = "carol" }}
"#
        )),
        B + 12,
        33,
        "carol is not a member",
    );
}

/// `[[expect]]` takes `when_empty = "pass"` or `"fail"` (the default); any other value is an
/// error at the value, with the choices in the hint.
#[test]
fn expect_when_empty() {
    use mimimi_sim::scenario::WhenEmpty;
    let expect = |extra: &str| {
        format!(
            "{BASE}{LUNCH}[[expect]]\nmode = \"mimimi\"\nobserver = \"all\"\nscope = \"foreign\"\n\
             metric = \"identity_disclosure\"\nmax = 0.0\n{extra}"
        )
    };
    let when =
        |extra: &str| parse_str(&expect(extra), "t.toml").unwrap().expectations[0].when_empty;
    assert_eq!(when(""), WhenEmpty::Fail);
    assert_eq!(when("when_empty = \"fail\"\n"), WhenEmpty::Fail);
    assert_eq!(when("when_empty = \"pass\"\n"), WhenEmpty::Pass);
    // The table starts after BASE and LUNCH's 6 lines; when_empty is its 7th line.
    let e = assert_err(
        &expect("when_empty = \"skip\"\n"),
        B + 6 + 7,
        14,
        "unknown when_empty skip",
    );
    assert_hint(&e, "use pass");
}

/// `[[expect]]` names an adversary (default `combined`, the strongest); an unknown one is an
/// error at the value, with the adversaries in the hint.
#[test]
fn expect_adversary() {
    let expect = |extra: &str| {
        format!(
            "{BASE}{LUNCH}[[expect]]\nmode = \"mimimi\"\nobserver = \"all\"\nscope = \"foreign\"\n\
             metric = \"identity_disclosure\"\nmax = 0.0\n{extra}"
        )
    };
    let adversary = |extra: &str| {
        parse_str(&expect(extra), "t.toml").unwrap().expectations[0]
            .adversary
            .clone()
    };
    assert_eq!(adversary(""), "combined");
    assert_eq!(adversary("adversary = \"identifier\"\n"), "identifier");
    assert_eq!(adversary("adversary = \"timing\"\n"), "timing");
    assert_eq!(adversary("adversary = \"size\"\n"), "size");
    let e = assert_err(
        &expect("adversary = \"volume\"\n"),
        B + 6 + 7,
        13,
        "unknown adversary volume",
    );
    assert_hint(&e, "identifier, fingerprint, timing, size, combined");
}

/// The `[adversary]` table: defaults, values, and positioned errors for values out of range.
#[test]
fn adversary_table() {
    let top = |table: &str| format!("[adversary]\n{table}{BASE}{LUNCH}");
    let defaults = parse_str(&with(LUNCH), "t.toml").unwrap().adversary;
    assert!(!defaults.directory);
    assert_eq!(defaults.fingerprint_max_class, 2);
    assert_eq!(defaults.timing_window_us, 250_000);
    assert_eq!(defaults.size_max_class, 2);
    let set = parse_str(
        &top("directory = true\nfingerprint_max_class = 5\ntiming_window = \"1s\"\nsize_max_class = 4\n"),
        "t.toml",
    )
    .unwrap()
    .adversary;
    assert!(set.directory);
    assert_eq!(set.fingerprint_max_class, 5);
    assert_eq!(set.timing_window_us, 1_000_000);
    assert_eq!(set.size_max_class, 4);
    let e = assert_err(
        &top("fingerprint_max_class = 0\n"),
        2,
        25,
        "fingerprint_max_class must be between 1 and 1000, got 0",
    );
    assert_hint(&e, "the default is 2");
    let e = assert_err(
        &top("size_max_class = 1001\n"),
        2,
        18,
        "size_max_class must be between 1 and 1000, got 1001",
    );
    assert_hint(&e, "the size adversary links a signature");
    let e = assert_err(
        &top("timing_window = \"0s\"\n"),
        2,
        17,
        "timing_window must be longer than 0s",
    );
    assert_hint(&e, "the default is \"250ms\"");
    let e = assert_err(&top("windows = 3\n"), 2, 1, "unknown key `windows`");
    assert_hint(
        &e,
        "directory, fingerprint_max_class, timing_window, size_max_class",
    );
}

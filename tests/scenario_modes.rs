//! Scenario modes: built-in modes, ablations, MIMIMI settings, and the connection rule that
//! applies when a mode uses pseudonymous credentials.

use mimimi_sim::scenario::{parse_str, Channel, Mechanisms, Mode, Pos, Scenario, ScenarioError};

/// Two providers and four users; top-level keys go before it, actions and ablations after.
const BASE: &str = r#"[[provider]]
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
"#;

/// Number of lines in `BASE`.
const B: usize = 22;

/// `top` (whole lines of top-level keys), then `BASE`, then `tail`.
fn src(top: &str, tail: &str) -> String {
    format!("{top}{BASE}{tail}")
}

fn ok(src: &str) -> Scenario {
    parse_str(src, "t.toml").unwrap_or_else(|e| panic!("expected success, got:\n{e}"))
}

/// Asserts the error is at `line:column` and its message contains `needle`.
#[track_caller]
fn assert_err(src: &str, line: usize, column: usize, needle: &str) -> ScenarioError {
    let e = match parse_str(src, "t.toml") {
        Ok(s) => panic!("expected an error, got {s:#?}"),
        Err(e) => e,
    };
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
    assert!(e.hint().is_some(), "expected a hint, got:\n{text}");
    e
}

#[track_caller]
fn assert_hint(e: &ScenarioError, needle: &str) {
    let hint = e
        .hint()
        .unwrap_or_else(|| panic!("expected a hint, got:\n{e}"));
    assert!(
        hint.contains(needle),
        "expected hint containing {needle:?}, got:\n{e}"
    );
}

fn mode(name: &str, mechanisms: Mechanisms) -> Mode {
    Mode {
        name: name.into(),
        mechanisms,
    }
}

fn names(s: &Scenario) -> Vec<&str> {
    s.modes.iter().map(|m| m.name.as_str()).collect()
}

#[test]
fn base_has_the_expected_line_count() {
    assert_eq!(BASE.lines().count(), B);
}

// ---------------------------------------------------------------------------------------------
// Mechanisms
// ---------------------------------------------------------------------------------------------

#[test]
fn mechanisms_constants_and_accessors() {
    assert_eq!(Mechanisms::MIMI, Mechanisms::default());
    assert!(Mechanisms::MIMI.enabled().is_empty());
    assert_eq!(Mechanisms::MIMIMI.enabled(), Mechanisms::NAMES.to_vec());
    for name in Mechanisms::NAMES {
        assert_eq!(Mechanisms::MIMI.get(name), Some(false), "{name}");
        assert_eq!(Mechanisms::MIMIMI.get(name), Some(true), "{name}");
        let mut m = Mechanisms::MIMI;
        assert!(m.set(name, true));
        assert_eq!(m.enabled(), vec![name]);
        assert!(m.set(name, false));
        assert_eq!(m, Mechanisms::MIMI);
    }
    let mut m = Mechanisms::MIMI;
    assert_eq!(m.get("pseudonyms"), None);
    assert!(!m.set("pseudonyms", true));
    assert_eq!(m, Mechanisms::MIMI);
}

#[test]
fn mechanism_names_are_the_ablation_keys() {
    let on: String = Mechanisms::NAMES
        .iter()
        .map(|n| format!("{n} = true\n"))
        .collect();
    let off: String = Mechanisms::NAMES
        .iter()
        .map(|n| format!("{n} = false\n"))
        .collect();
    let s = ok(&src(
        "",
        &format!(
            "[[ablation]]\nname = \"all-on\"\n{on}\n[[ablation]]\nname = \"all-off\"\nbase = \"mimimi\"\n{off}"
        ),
    ));
    assert_eq!(
        s.modes,
        vec![
            mode("mimi", Mechanisms::MIMI),
            mode("mimimi", Mechanisms::MIMIMI),
            mode("all-on", Mechanisms::MIMIMI),
            mode("all-off", Mechanisms::MIMI),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Good input
// ---------------------------------------------------------------------------------------------

#[test]
fn defaults() {
    let s = ok(BASE);
    assert_eq!(
        s.modes,
        vec![
            mode("mimi", Mechanisms::MIMI),
            mode("mimimi", Mechanisms::MIMIMI)
        ]
    );
    assert_eq!(s.modes, vec![Mode::mimi(), Mode::mimimi()]);
    assert_eq!(s.channel, Channel::Relay);
    assert_eq!(s.key_package_sets, 4);
    assert_eq!(s.last_resort_reupload_us, 600_000_000);
    assert!(s.connections_required);
}

#[test]
fn settings_are_read() {
    let s = ok(&src(
        "channel = \"direct\"\nkey_package_sets = 1000\nlast_resort_reupload = \"0s\"\n",
        "",
    ));
    assert_eq!(s.channel, Channel::Direct);
    assert_eq!(s.key_package_sets, 1000);
    assert_eq!(s.last_resort_reupload_us, 0);
    let s = ok(&src(
        "channel = \"none\"\nkey_package_sets = 1\nlast_resort_reupload = \"1.5h\"\n",
        "",
    ));
    assert_eq!(s.channel, Channel::None);
    assert_eq!(s.key_package_sets, 1);
    assert_eq!(s.last_resort_reupload_us, 5_400_000_000);
    assert_eq!(
        ok(&src("channel = \"relay\"\n", "")).channel,
        Channel::Relay
    );
}

#[test]
fn without_modes_every_ablation_runs_in_file_order() {
    let s = ok(&src(
        "",
        r#"
[[ablation]]
name = "z-last-declared-first"
encrypted_queue_ids = true

[[ablation]]
name = "a.second"
base = "mimimi"
anonymous_channel = false
"#,
    ));
    assert_eq!(
        names(&s),
        ["mimi", "mimimi", "z-last-declared-first", "a.second"]
    );
}

#[test]
fn explicit_modes_run_in_the_listed_order() {
    let s = ok(&src(
        "modes = [\"pseudonyms-only\", \"mimimi\", \"mimi\"]\n",
        r#"
[[ablation]]
name = "not-listed"
fresh_signature_keys = true

[[ablation]]
name = "pseudonyms-only"
pseudonymous_credentials = true
"#,
    ));
    assert_eq!(names(&s), ["pseudonyms-only", "mimimi", "mimi"]);
    assert!(s.connections_required);

    let s = ok(&src("modes = [\"mimimi\"]\n", ""));
    assert_eq!(s.modes, vec![Mode::mimimi()]);
    assert!(s.connections_required);

    let s = ok(&src("modes = [\"mimi\"]\n", ""));
    assert_eq!(s.modes, vec![Mode::mimi()]);
    assert!(!s.connections_required);
}

#[test]
fn ablation_on_mimi_switches_one_mechanism_on() {
    for base in ["", "base = \"mimi\"\n"] {
        let s = ok(&src(
            "modes = [\"pseudonyms-only\"]\n",
            &format!(
                "[[ablation]]\nname = \"pseudonyms-only\"\n{base}pseudonymous_credentials = true\n"
            ),
        ));
        let expected = Mechanisms {
            pseudonymous_credentials: true,
            ..Mechanisms::MIMI
        };
        assert_eq!(s.modes, vec![mode("pseudonyms-only", expected)]);
        assert_eq!(
            s.modes[0].mechanisms.enabled(),
            ["pseudonymous_credentials"]
        );
        assert!(s.connections_required);
    }
}

#[test]
fn ablation_on_mimimi_switches_one_mechanism_off() {
    let s = ok(&src(
        "modes = [\"no-encrypted-queues\"]\n",
        "[[ablation]]\nname = \"no-encrypted-queues\"\nbase = \"mimimi\"\nencrypted_queue_ids = false\n",
    ));
    let expected = Mechanisms {
        encrypted_queue_ids: false,
        ..Mechanisms::MIMIMI
    };
    assert_eq!(s.modes, vec![mode("no-encrypted-queues", expected)]);
    assert_eq!(
        s.modes[0].mechanisms.get("encrypted_queue_ids"),
        Some(false)
    );
    assert_eq!(s.modes[0].mechanisms.enabled().len(), 6);
    assert!(s.connections_required);
}

#[test]
fn ablation_without_pseudonyms_needs_no_connections() {
    // alice adds bob without a connect: fine when no mode to run uses pseudonyms or
    // KeyPackages fetched by connection token.
    let tail = r#"[[action]]
at = "1s"
create_room = { room = "r", by = "alice", members = ["bob"] }

[[ablation]]
name = "no-pseudonyms"
base = "mimimi"
pseudonymous_credentials = false
anonymous_key_packages = false

[[ablation]]
name = "pseudonyms-only"
pseudonymous_credentials = true

[[ablation]]
name = "tokens-only"
anonymous_key_packages = true
"#;
    let s = ok(&src("modes = [\"mimi\", \"no-pseudonyms\"]\n", tail));
    assert!(!s.connections_required);
    // Declaring an ablation that needs connections and does not run changes nothing; running
    // it does: with pseudonyms (identity links) or with token-indexed KeyPackages (a token is
    // learned only from a connection), the run itself would refuse the add.
    for mode in ["pseudonyms-only", "tokens-only"] {
        assert_err(
            &src(&format!("modes = [\"no-pseudonyms\", \"{mode}\"]\n"), tail),
            B + 4,
            54,
            "bob is not connected to alice at 1s",
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Errors in settings and ablations
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_key_in_ablation() {
    let e = assert_err(
        &src("", "[[ablation]]\nname = \"x\"\npseudonyms = true\n"),
        B + 3,
        1,
        "unknown key `pseudonyms`",
    );
    assert_hint(
        &e,
        "name, base, pseudonymous_credentials, fresh_signature_keys, encrypted_queue_ids, \
         anonymous_key_packages, encrypted_connection_requests, anonymous_channel, \
         last_resort_policy",
    );
}

#[test]
fn unknown_top_level_key_lists_the_new_keys() {
    let e = assert_err(&src("mode = [\"mimi\"]\n", ""), 1, 1, "unknown key `mode`");
    assert_hint(
        &e,
        "modes, channel, relay, key_package_sets, last_resort_reupload, ablation",
    );
}

#[test]
fn missing_ablation_name() {
    let e = assert_err(
        &src("", "[[ablation]]\nbase = \"mimi\"\n"),
        B + 1,
        1,
        "missing key `name`",
    );
    assert_hint(&e, "add `name = ...`");
}

#[test]
fn wrong_types() {
    let e = assert_err(
        &src(
            "",
            "[[ablation]]\nname = \"x\"\nanonymous_channel = \"yes\"\n",
        ),
        B + 3,
        21,
        "invalid type: string \"yes\", expected a boolean",
    );
    assert_hint(&e, "true or false");
    let e = assert_err(
        &src("modes = \"mimi\"\n", ""),
        1,
        9,
        "invalid type: string \"mimi\", expected a sequence",
    );
    assert_hint(&e, "square brackets");
    assert_err(
        &src("modes = [\"mimi\", 3]\n", ""),
        1,
        18,
        "invalid type: integer `3`, expected a string",
    );
    assert_err(
        &src("key_package_sets = \"4\"\n", ""),
        1,
        20,
        "invalid type: string \"4\", expected an integer",
    );
    assert_err(
        &src("channel = 1\n", ""),
        1,
        11,
        "invalid type: integer `1`, expected a string",
    );
    assert_err(
        &src("", "[[ablation]]\nname = 7\n"),
        B + 2,
        8,
        "invalid type: integer `7`, expected a string",
    );
}

#[test]
fn bad_base() {
    let e = assert_err(
        &src("", "[[ablation]]\nname = \"x\"\nbase = \"MIMIMI\"\n"),
        B + 3,
        8,
        "unknown base \"MIMIMI\" for ablation x",
    );
    assert_hint(&e, "base = \"mimi\"");
    assert_hint(&e, "base = \"mimimi\"");
}

#[test]
fn bad_ablation_names() {
    let e = assert_err(
        &src("", "[[ablation]]\nname = \"no queues\"\n"),
        B + 2,
        8,
        "invalid ablation name \"no queues\"",
    );
    assert_hint(&e, "letters, digits, '_', '.' and '-'");
    assert_err(
        &src("", "[[ablation]]\nname = \"\"\n"),
        B + 2,
        8,
        "invalid ablation name \"\"",
    );
    for reserved in ["mimi", "mimimi"] {
        let e = assert_err(
            &src(
                "",
                &format!("[[ablation]]\nname = \"{reserved}\"\nanonymous_channel = true\n"),
            ),
            B + 2,
            8,
            &format!("ablation name {reserved} is reserved for a built-in mode"),
        );
        assert_hint(&e, "choose another name");
    }
}

#[test]
fn duplicate_ablation_name() {
    let e = assert_err(
        &src(
            "",
            "[[ablation]]\nname = \"x\"\n\n[[ablation]]\nname = \"x\"\nbase = \"mimimi\"\n",
        ),
        B + 5,
        8,
        "two ablations named x",
    );
    assert_hint(&e, &format!("the first is declared at line {}", B + 2));
}

#[test]
fn bad_channel() {
    let e = assert_err(
        &src("channel = \"tor\"\n", ""),
        1,
        11,
        "invalid channel \"tor\"",
    );
    assert_hint(&e, "\"relay\" (the default), \"direct\" or \"none\"");
    assert_err(&src("channel = \"Relay\"\n", ""), 1, 11, "invalid channel");
}

#[test]
fn relay_names_a_declared_provider() {
    let e = assert_err(
        &src("relay = \"gamma.example\"\n", ""),
        1,
        9,
        "unknown provider \"gamma.example\" in `relay`",
    );
    assert_hint(&e, "declared providers: alpha.example, beta.example");
    let s = ok(&src("relay = \"beta.example\"\n", ""));
    assert_eq!(s.relay.as_deref(), Some("beta.example"));
}

#[test]
fn key_package_sets_out_of_range() {
    for value in ["0", "1001", "-1"] {
        let e = assert_err(
            &src(&format!("key_package_sets = {value}\n"), ""),
            1,
            20,
            &format!("key_package_sets must be between 1 and 1000, got {value}"),
        );
        assert_hint(&e, "from 1 to 1000");
    }
}

#[test]
fn bad_last_resort_reupload() {
    let e = assert_err(
        &src("last_resort_reupload = \"10\"\n", ""),
        1,
        24,
        "invalid duration for `last_resort_reupload`: duration \"10\" has no unit",
    );
    assert_hint(&e, "add a unit");
    let e = assert_err(
        &src("last_resort_reupload = \"never\"\n", ""),
        1,
        24,
        "invalid duration for `last_resort_reupload`",
    );
    assert_hint(&e, "e.g. \"90s\"");
}

#[test]
fn unknown_mode() {
    let e = assert_err(
        &src(
            "modes = [\"mimi\", \"pseudonym-only\"]\n",
            "[[ablation]]\nname = \"pseudonyms-only\"\npseudonymous_credentials = true\n",
        ),
        1,
        18,
        "unknown mode pseudonym-only",
    );
    assert_hint(&e, "available modes: mimi, mimimi, pseudonyms-only");
    assert_hint(&e, "[[ablation]]");
}

#[test]
fn duplicate_mode() {
    let e = assert_err(
        &src("modes = [\"mimimi\", \"mimi\", \"mimimi\"]\n", ""),
        1,
        28,
        "mode mimimi is listed twice in modes",
    );
    assert_hint(&e, "remove the duplicate");
}

#[test]
fn empty_modes() {
    let e = assert_err(
        &src("modes = []\n", ""),
        1,
        9,
        "`modes` needs at least one mode",
    );
    assert_hint(&e, "modes = [\"mimi\", \"mimimi\"]");
}

#[test]
fn errors_in_settings_are_reported_in_file_order() {
    // The unknown mode on line 2 comes before the bad channel on line 3 and the bad ablation
    // base at the end, whatever order they are checked in.
    assert_err(
        &src(
            "seed = 1\nmodes = [\"nope\"]\nchannel = \"tor\"\n",
            "[[ablation]]\nname = \"x\"\nbase = \"none\"\n",
        ),
        2,
        10,
        "unknown mode nope",
    );
    // A static error in an action comes before a bad ablation later in the file.
    assert_err(
        &src(
            "",
            "[[action]]\nat = \"soon\"\nconnect = { from = \"alice\", to = \"bob\" }\n\n\
             [[ablation]]\nname = \"mimi\"\n",
        ),
        B + 2,
        6,
        "invalid duration for `at`",
    );
}

// ---------------------------------------------------------------------------------------------
// Users must be connected before they can add each other
// ---------------------------------------------------------------------------------------------

/// alice creates `r` at 10s with no other member (lines B+1..=B+3).
const ROOM: &str = r#"[[action]]
at = "10s"
create_room = { room = "r", by = "alice" }
"#;

#[test]
fn add_without_connect_is_an_error() {
    let src = src(
        "",
        &format!("{ROOM}[[action]]\nat = \"40s\"\nadd = {{ room = \"r\", by = \"alice\", users = [\"bob\"] }}\n"),
    );
    let e = parse_str(&src, "t.toml").unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "t.toml:{}:44: error: bob is not connected to alice at 40s; under MIMIMI users must \
             be connected before they can add each other\n  hint: add connect = {{ from = \
             \"alice\", to = \"bob\" }} before this action, or run only modes without \
             pseudonymous_credentials",
            B + 6
        )
    );
}

#[test]
fn create_room_without_connect_is_an_error_at_the_member() {
    // alice is connected to bob but not to carol.
    let e = assert_err(
        &src(
            "",
            r#"[[action]]
at = "0s"
connect = { from = "bob", to = "alice" }

[[action]]
at = "1m"
create_room = { room = "r", by = "alice", members = ["bob", "carol"] }
"#,
        ),
        B + 7,
        61,
        "carol is not connected to alice at 1m; under MIMIMI users must be connected",
    );
    assert_hint(
        &e,
        "add connect = { from = \"alice\", to = \"carol\" } before this action",
    );
}

#[test]
fn add_checks_membership_before_connections() {
    // dave is unconnected, but bob being a member already is reported first.
    assert_err(
        &src(
            "",
            r#"[[action]]
at = "0s"
connect = { from = "alice", to = "bob" }

[[action]]
at = "1s"
create_room = { room = "r", by = "alice", members = ["bob"] }

[[action]]
at = "2s"
add = { room = "r", by = "alice", users = ["dave", "bob"] }
"#,
        ),
        B + 11,
        52,
        "bob is already a member of room r at 2s",
    );
}

#[test]
fn connected_users_can_add_each_other() {
    let s = ok(&src(
        "",
        &format!(
            r#"[[action]]
at = "5s"
connect = {{ from = "carol", to = "alice" }}

[[action]]
at = "10s"
connect = {{ from = "alice", to = "bob" }}

{ROOM}
[[action]]
at = "20s"
add = {{ room = "r", by = "alice", users = ["bob", "carol"] }}

[[action]]
at = "30s"
create_room = {{ room = "s", by = "carol", members = ["alice"] }}
"#
        ),
    ));
    assert!(s.connections_required);
    // The connect at 10s is earlier in the file than the creation at 10s: it counts.
    let s = ok(&src(
        "",
        r#"[[action]]
at = "10s"
connect = { from = "alice", to = "bob" }

[[action]]
at = "10s"
create_room = { room = "r", by = "alice", members = ["bob"] }
"#,
    ));
    assert_eq!(s.actions.len(), 2);
}

#[test]
fn a_connect_later_in_time_does_not_count() {
    // Earlier in the file but later in time.
    assert_err(
        &src(
            "",
            r#"[[action]]
at = "20s"
connect = { from = "alice", to = "bob" }

[[action]]
at = "10s"
create_room = { room = "r", by = "alice", members = ["bob"] }
"#,
        ),
        B + 7,
        54,
        "bob is not connected to alice at 10s",
    );
    // Same time, later in the file.
    assert_err(
        &src(
            "",
            r#"[[action]]
at = "10s"
create_room = { room = "r", by = "alice", members = ["bob"] }

[[action]]
at = "10s"
connect = { from = "alice", to = "bob" }
"#,
        ),
        B + 3,
        54,
        "bob is not connected to alice at 10s",
    );
}

#[test]
fn the_creators_own_clients_need_no_connection() {
    // alice has two clients; a room with only her needs no connect, nor does a send.
    let s = ok(&src(
        "",
        &format!("{ROOM}[[action]]\nat = \"11s\"\nsend = {{ room = \"r\", from = \"alice\" }}\n"),
    ));
    assert_eq!(s.actions.len(), 2);
}

#[test]
fn plain_mimi_has_no_connection_rule() {
    let tail = r#"[[action]]
at = "10s"
create_room = { room = "r", by = "alice", members = ["bob"] }

[[action]]
at = "40s"
add = { room = "r", by = "bob", users = ["carol"] }

[[action]]
at = "50s"
join = { room = "r", user = "dave" }
"#;
    let s = ok(&src("modes = [\"mimi\"]\n", tail));
    assert!(!s.connections_required);
    assert_eq!(s.actions.len(), 3);
    // The same scenario under the default modes fails at the first unconnected add.
    assert_err(&src("", tail), B + 3, 54, "bob is not connected to alice");
}

#[test]
fn joiner_must_be_connected_to_a_member() {
    let tail = r#"[[action]]
at = "0s"
connect = { from = "alice", to = "bob" }

[[action]]
at = "10s"
create_room = { room = "r", by = "alice", members = ["bob"] }

[[action]]
at = "20s"
join = { room = "r", user = "dave" }
"#;
    let e = assert_err(
        &src("", tail),
        B + 11,
        29,
        "dave is not connected to any member of room r at 20s",
    );
    assert_hint(
        &e,
        "connect dave to one of the members (alice, bob) before this join",
    );
    assert_hint(&e, "or run only modes without pseudonymous_credentials");

    // Connected to bob (not the creator) is enough.
    let with_connect = tail.replace(
        "[[action]]\nat = \"20s\"",
        "[[action]]\nat = \"15s\"\nconnect = { from = \"dave\", to = \"bob\" }\n\n[[action]]\nat = \"20s\"",
    );
    ok(&src("", &with_connect));

    // A connection to someone who already left does not help.
    let after_leave = with_connect.replace(
        "[[action]]\nat = \"20s\"",
        "[[action]]\nat = \"16s\"\nleave = { room = \"r\", user = \"bob\" }\n\n[[action]]\nat = \"20s\"",
    );
    let e = assert_err(
        &src("", &after_leave),
        B + 19,
        29,
        "dave is not connected to any member of room r at 20s",
    );
    assert_hint(&e, "one of the members (alice)");

    // Without pseudonymous credentials anybody may join.
    ok(&src("modes = [\"mimi\"]\n", tail));
}

const COALITION_BASE: &str = "[[provider]]\ndomain = \"a.example\"\n[[provider]]\ndomain = \"b.example\"\n[[user]]\nname = \"alice\"\nprovider = \"a.example\"\n";

#[test]
fn coalitions_are_parsed_in_file_order() {
    let src = format!(
        "{COALITION_BASE}[[coalition]]\nname = \"a+b\"\nmembers = [\"a.example\", \"b.example\"]\n"
    );
    let s = mimimi_sim::scenario::parse_str(&src, "c.toml").unwrap();
    assert_eq!(s.coalitions.len(), 1);
    assert_eq!(s.coalitions[0].name, "a+b");
    assert_eq!(s.coalitions[0].members, ["a.example", "b.example"]);
}

#[test]
fn a_coalition_of_an_undeclared_provider_is_an_error() {
    let src = format!(
        "{COALITION_BASE}[[coalition]]\nname = \"a+z\"\nmembers = [\"a.example\", \"z.example\"]\n"
    );
    let e = mimimi_sim::scenario::parse_str(&src, "c.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("c.toml:10:25: error: coalition a+z names an undeclared provider"),
        "{e}"
    );
    let src = format!(
        "{COALITION_BASE}[[coalition]]\nname = \"all\"\nmembers = [\"a.example\", \"b.example\"]\n"
    );
    let e = mimimi_sim::scenario::parse_str(&src, "c.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("c.toml:9:8: error: coalition name all is already an observer"),
        "{e}"
    );
}

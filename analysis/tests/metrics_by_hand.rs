//! Metrics of small hand-built logs, worked out by hand in the comments.
//!
//! Notation: users are written by initial (a = alice, ...); a membership is (user, room); a
//! pair of memberships is written `a1-a2` for (alice, r1)-(alice, r2). `{...}` is a user-level
//! cluster of the observer. "Seen" rooms are those with at least one observation of the
//! observer. Tables list every metric of `METRICS` as (numerator, denominator); the value is
//! numerator/denominator for ratios and means, n/a (none) when the denominator is 0, and the
//! numerator itself for counts. Order statistics are listed as (value, samples): their row has
//! no numerator, and the value is n/a without samples.

use std::path::Path;

use mimimi_analysis::adversary::ADVERSARIES;
use mimimi_analysis::input::{self, AnalysisError};
use mimimi_analysis::metrics::{analyze, observers, ObserverView, TruthIndex};
use mimimi_analysis::model::{
    metric_kind, Analysis, AttributionRow, Coalition, Item, Membership, Message, MetricKind,
    ModeData, Observation, RunData, Scope, Truth, METRICS,
};

// ---------------------------------------------------------------------------------------------
// Building logs by hand.

/// Parses an observation log written one observation a line: `seq observer flow room items`,
/// where the observer `a` stands for `a.example`, room `-` for none, items are `kind=value`
/// separated by spaces, and `|` starts the next subject (also at the start of a continuation
/// line).
fn log(text: &str) -> Vec<Observation> {
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match lines.last_mut() {
            Some(last) if line.starts_with('|') => {
                last.push(' ');
                last.push_str(line);
            }
            _ => lines.push(line.to_string()),
        }
    }
    lines
        .iter()
        .map(|line| {
            let mut words = line.split_whitespace();
            let mut next = || words.next().expect("seq observer flow room");
            let seq: u64 = next().parse().unwrap();
            let observer = format!("{}.example", next());
            let flow = next().to_string();
            let room = Some(next()).filter(|r| *r != "-").map(str::to_string);
            let mut items = Vec::new();
            let mut subject = 0;
            for word in line.split_whitespace().skip(4) {
                if word == "|" {
                    subject += 1;
                    continue;
                }
                let (kind, value) = word.split_once('=').expect("kind=value");
                items.push(Item {
                    subject,
                    kind: kind.to_string(),
                    value: value.to_string(),
                });
            }
            Observation {
                seq,
                time_us: seq * 1000,
                observer,
                flow,
                peer: "anonymous".to_string(),
                room,
                size: 100,
                items,
            }
        })
        .collect()
}

fn truth(kind: &str, value: &str, user: &str) -> Truth {
    let client_scoped = mimimi_analysis::linking::is_client_kind(kind);
    Truth {
        kind: kind.to_string(),
        value: value.to_string(),
        user: user.to_string(),
        client: if client_scoped {
            format!("{user}/1")
        } else {
            String::new()
        },
    }
}

/// Ground truth: `user@domain` lines give a user's `user_id` and `account`; `kind value user`
/// lines give one identifier value.
fn truths(text: &str) -> Vec<Truth> {
    let mut out = Vec::new();
    for words in text
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
    {
        match words[..] {
            [] => {}
            [user_at_domain] => {
                let (name, domain) = user_at_domain.split_once('@').unwrap();
                out.push(truth("user_id", &format!("mimi://{domain}/u/{name}"), name));
                out.push(truth("account", name, name));
            }
            [kind, value, user] => out.push(truth(kind, value, user)),
            _ => panic!("bad truth line {words:?}"),
        }
    }
    out
}

/// Memberships, one a line: `room purpose user last_resort(0/1) [key_package_set]`, where the
/// set is written with one hex digit and stands for 16 of them (`a` = `aaaaaaaaaaaaaaaa`).
fn members(text: &str) -> Vec<Membership> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| !w.is_empty())
        .map(|w| Membership {
            room: w[0].to_string(),
            purpose: w[1].to_string(),
            user: w[2].to_string(),
            client: format!("{}/1", w[2]),
            from_us: 0,
            to_us: None,
            last_resort: w[3] == "1",
            key_package_set: w.get(4).map(|set| set.repeat(16)),
        })
        .collect()
}

fn message(id: &str, room: &str, user: &str) -> Message {
    Message {
        message: id.to_string(),
        room: room.to_string(),
        user: user.to_string(),
        client: format!("{user}/1"),
        time_us: 0,
    }
}

fn connection(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

fn mode_of(
    mode: &str,
    observations: &str,
    truth: &str,
    memberships: &str,
    connections: Vec<(String, String)>,
    messages: Vec<Message>,
) -> ModeData {
    ModeData {
        mode: mode.to_string(),
        mechanisms: vec![],
        fingerprint: None,
        stats: Default::default(),
        observations: log(observations),
        truth: truths(truth),
        memberships: members(memberships),
        connections,
        messages,
    }
}

fn run_of(providers: &[&str], coalitions: Vec<Coalition>, mode: ModeData) -> RunData {
    RunData {
        scenario: "by-hand".to_string(),
        seed: 1,
        run: 0,
        providers: providers.iter().map(|p| p.to_string()).collect(),
        coalitions,
        modes: vec![mode],
        ..RunData::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Checking.

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

/// Checks every metric of the identifier adversary for (mode, observer, scope) against `table`
/// (metric, numerator, denominator), which must list all of `METRICS` in order.
fn check(a: &Analysis, mode: &str, observer: &str, scope: Scope, table: &[(&str, f64, f64)]) {
    check_adversary(a, "identifier", mode, observer, scope, table)
}

/// [`check`] for the rows of one adversary.
fn check_adversary(
    a: &Analysis,
    adversary: &str,
    mode: &str,
    observer: &str,
    scope: Scope,
    table: &[(&str, f64, f64)],
) {
    let names: Vec<&str> = table.iter().map(|(m, _, _)| *m).collect();
    let all: Vec<&str> = METRICS.iter().map(|(m, _)| *m).collect();
    assert_eq!(names, all, "the table must list every metric in order");
    let rows: Vec<_> = a
        .metrics
        .iter()
        .filter(|r| {
            r.adversary == adversary && r.mode == mode && r.observer == observer && r.scope == scope
        })
        .collect();
    assert_eq!(
        rows.len(),
        METRICS.len(),
        "{adversary} {mode} {observer} {scope:?}"
    );
    for (row, (metric, num, den)) in rows.iter().zip(table) {
        assert_eq!(row.metric, *metric);
        let ctx = format!("{mode} {observer} {} {metric}", scope.as_str());
        let kind = metric_kind(metric).unwrap_or_else(|| panic!("{ctx}: no kind"));
        let (value, numerator) = match kind {
            MetricKind::Ratio | MetricKind::Mean => ((*den != 0.0).then(|| num / den), Some(*num)),
            MetricKind::OrderStatistic => ((*den != 0.0).then_some(*num), None),
            MetricKind::Count => (Some(*num), Some(*num)),
        };
        let same = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => close(a, b),
            (a, b) => a.is_none() && b.is_none(),
        };
        assert!(
            same(row.numerator, numerator),
            "{ctx}: numerator {:?} != {numerator:?}",
            row.numerator
        );
        assert!(
            close(row.denominator, *den),
            "{ctx}: denominator {} != {den}",
            row.denominator
        );
        assert!(
            same(row.value, value),
            "{ctx}: value {:?} != {value:?}",
            row.value
        );
    }
}

/// `table` followed by the connection-room metrics of an observer that saw no connection
/// room: every one n/a.
fn no_connection_rooms<'t>(table: &[(&'t str, f64, f64)]) -> Vec<(&'t str, f64, f64)> {
    let mut out = table.to_vec();
    out.extend(
        METRICS
            .iter()
            .map(|(m, _)| *m)
            .filter(|m| m.starts_with("connection_room_"))
            .map(|m| (m, 0.0, 0.0)),
    );
    out
}

/// The attribution rows of one observer and scope as (flow, disclosed, linked).
fn attribution(a: &Analysis, observer: &str, scope: Scope) -> Vec<(String, u64, u64)> {
    a.attribution
        .iter()
        .filter(|r| r.observer == observer && r.scope == scope)
        .map(|r: &AttributionRow| (r.flow.clone(), r.memberships_disclosed, r.room_pairs_linked))
        .collect()
}

fn flows(rows: &[(&str, u64, u64)]) -> Vec<(String, u64, u64)> {
    rows.iter()
        .map(|(f, d, l)| (f.to_string(), *d, *l))
        .collect()
}

/// log2 of 3, for degrees of anonymity with N = 3.
fn l3() -> f64 {
    3f64.log2()
}

// ---------------------------------------------------------------------------------------------
// Plain MIMI: hubs see real user ids.

const A: &str = "a.example";
const B: &str = "b.example";

/// Providers a (alice, bob) and b (carol); r1 hosted by a with alice, bob, carol; r2 hosted by
/// b with alice, carol. Alice connected to bob and carol. Alice sends m1 in r1, carol m2 in r2.
/// In the comments Ux is x's user id, Cx its client id, Sx its signature key.
fn mimi_run() -> RunData {
    let observations = "
        0  a connect_request -  user_id=mimi://a.example/u/alice account=alice | user_id=mimi://a.example/u/bob
        1  a connect_request -  user_id=mimi://a.example/u/alice account=alice | user_id=mimi://b.example/u/carol
        2  b connect_request -  user_id=mimi://a.example/u/alice | user_id=mimi://b.example/u/carol
        3  a room_create     r1 user_id=mimi://a.example/u/alice client_id=mimi://a.example/d/alice/1 signature_key=Sa
        4  a handshake       r1 user_id=mimi://a.example/u/bob client_id=mimi://a.example/d/bob/1 signature_key=Sb
                              | user_id=mimi://b.example/u/carol client_id=mimi://b.example/d/carol/1 signature_key=Sc
        5  b fanout_welcome  r1 client_id=mimi://b.example/d/carol/1
        6  a app_message     r1 account=alice message=m1
        7  b fanout_message  r1 message=m1 | client_id=mimi://b.example/d/carol/1
        8  b room_create     r2 user_id=mimi://b.example/u/carol client_id=mimi://b.example/d/carol/1 signature_key=Sc
        9  b handshake       r2 user_id=mimi://a.example/u/alice client_id=mimi://a.example/d/alice/1 signature_key=Sa
        10 a fanout_welcome  r2 client_id=mimi://a.example/d/alice/1
        11 b app_message     r2 account=carol message=m2
        12 a fanout_message  r2 message=m2 | client_id=mimi://a.example/d/alice/1
    ";
    let truth = "
        alice@a.example
        bob@a.example
        carol@b.example
        client_id mimi://a.example/d/alice/1 alice
        client_id mimi://a.example/d/bob/1 bob
        client_id mimi://b.example/d/carol/1 carol
        signature_key Sa alice
        signature_key Sb bob
        signature_key Sc carol
    ";
    let memberships = "
        r1 room alice 0
        r1 room bob   0
        r1 room carol 0
        r2 room alice 0
        r2 room carol 0
    ";
    let mode = mode_of(
        "mimi",
        observations,
        truth,
        memberships,
        vec![connection("alice", "bob"), connection("alice", "carol")],
        vec![message("m1", "r1", "alice"), message("m2", "r2", "carol")],
    );
    run_of(&[A, B], vec![], mode)
}

#[test]
fn mimi_hub_names_every_member_of_its_room() {
    let a = analyze(&mimi_run());
    assert_eq!(a.observers, vec![A, B, "all"]);
    assert_eq!(a.metrics.len(), ADVERSARIES.len() * 3 * 3 * METRICS.len());

    // Observer a: clusters A = {Ua, account alice, Ca, Sa, m1}, B = {Ub, Cb, Sb},
    // C = {Uc, Cc, Sc}, {m2}. Seen rooms r1 (o3, o4, o6) and r2 (o10, o12).
    // a1 -> {A} disclosed; b1 -> {B} disclosed; c1 -> {C} disclosed (the hub of r1 names all);
    // a2 -> {A} (Ca at fanout) disclosed; c2: no item of carol in r2 at a, not disclosed.
    // Own = alice, bob; foreign = carol. Providers: a has 2 users, b has 1; N = 3.
    // Pairs in two rooms: a1-a2 linked (A); c1-c2 not; cross-user pairs not linked.
    // Social: true {ab, ac, bc}; inferred r1 {ab, ac, bc}. Connections: true {ab, ac};
    // inferred from o0, o1 {ab, ac}. Messages: m1 in A names alice; m2 alone names nobody.
    let table = [
        ("identity_disclosure", 3.0, 3.0), // a1, b1, a2
        ("identification", 3.0, 3.0),
        ("cross_room_recall", 1.0, 1.0), // a1-a2
        ("cross_room_precision", 1.0, 1.0),
        ("anonymity_set_min", 1.0, 3.0), // sizes [1, 1, 1]
        ("anonymity_set_p10", 1.0, 3.0),
        ("anonymity_set_median", 1.0, 3.0),
        ("anonymity_unique_fraction", 3.0, 3.0),
        ("anonymity_entropy_mean", 0.0, 3.0),
        ("degree_of_anonymity_mean", 0.0, 3.0),
        ("social_graph_precision", 1.0, 1.0), // own pairs: true {ab}, inferred {ab}
        ("social_graph_recall", 1.0, 1.0),
        ("social_graph_f1", 2.0, 2.0),
        ("connection_graph_precision", 1.0, 1.0), // true {ab}, inferred {ab}
        ("connection_graph_recall", 1.0, 1.0),
        ("connection_graph_f1", 2.0, 2.0),
        ("message_attribution", 1.0, 1.0), // m1
        ("last_resort_rooms", 0.0, 3.0),
        ("last_resort_pairs", 0.0, 1.0),
        ("last_resort_links", 0.0, 0.0),
    ];
    check(&a, "mimi", A, Scope::Own, &no_connection_rooms(&table));
    let table = [
        ("identity_disclosure", 1.0, 2.0), // c1 yes, c2 no
        ("identification", 2.0, 2.0),      // c1 named; c2 carol is b's only user
        ("cross_room_recall", 0.0, 1.0),   // c1-c2 not linked
        ("cross_room_precision", 0.0, 0.0),
        // c1 disclosed: 1; c2: b has one user, none placed in r2: 1 - 0 = 1. Sizes [1, 1].
        ("anonymity_set_min", 1.0, 2.0),
        ("anonymity_set_p10", 1.0, 2.0),
        ("anonymity_set_median", 1.0, 2.0),
        ("anonymity_unique_fraction", 2.0, 2.0),
        ("anonymity_entropy_mean", 0.0, 2.0),
        ("degree_of_anonymity_mean", 0.0, 2.0),
        ("social_graph_precision", 0.0, 0.0), // no pair of two foreign users
        ("social_graph_recall", 0.0, 0.0),
        ("social_graph_f1", 0.0, 0.0),
        ("connection_graph_precision", 0.0, 0.0),
        ("connection_graph_recall", 0.0, 0.0),
        ("connection_graph_f1", 0.0, 0.0),
        ("message_attribution", 0.0, 1.0), // m2
        ("last_resort_rooms", 0.0, 2.0),
        ("last_resort_pairs", 0.0, 1.0),
        ("last_resort_links", 0.0, 0.0),
    ];
    check(&a, "mimi", A, Scope::Foreign, &no_connection_rooms(&table));
    let table = [
        ("identity_disclosure", 4.0, 5.0),
        ("identification", 5.0, 5.0),
        ("cross_room_recall", 1.0, 2.0),
        ("cross_room_precision", 1.0, 1.0),
        ("anonymity_set_min", 1.0, 5.0),
        ("anonymity_set_p10", 1.0, 5.0),
        ("anonymity_set_median", 1.0, 5.0),
        ("anonymity_unique_fraction", 5.0, 5.0),
        ("anonymity_entropy_mean", 0.0, 5.0),
        ("degree_of_anonymity_mean", 0.0, 5.0),
        ("social_graph_precision", 3.0, 3.0),
        ("social_graph_recall", 3.0, 3.0),
        ("social_graph_f1", 6.0, 6.0),
        ("connection_graph_precision", 2.0, 2.0),
        ("connection_graph_recall", 2.0, 2.0),
        ("connection_graph_f1", 4.0, 4.0),
        ("message_attribution", 1.0, 2.0),
        ("last_resort_rooms", 0.0, 5.0),
        ("last_resort_pairs", 0.0, 2.0),
        ("last_resort_links", 0.0, 0.0),
    ];
    check(&a, "mimi", A, Scope::All, &no_connection_rooms(&table));

    // Observer b: clusters C = {Uc, Cc, Sc, account carol, m2}, A = {Ua, Ca, Sa}, {m1}.
    // a1, b1: no item at b (r1 seen only through carol's fanouts); c1 -> {C} disclosed;
    // a2 -> {A} disclosed (the hub of r2); c2 -> {C} disclosed. Own = carol.
    // Pairs: c1-c2 linked; a1-a2 not (a1 has no cluster).
    // Anonymity: a1, b1 not disclosed: a has 2 users, none placed in r1: size 2.
    // Social: inferred r2 {ac}. Connections: inferred from o2 {ac}.
    let table = [
        ("identity_disclosure", 2.0, 2.0),
        ("identification", 2.0, 2.0),
        ("cross_room_recall", 1.0, 1.0),
        ("cross_room_precision", 1.0, 1.0),
        ("anonymity_set_min", 1.0, 2.0),
        ("anonymity_set_p10", 1.0, 2.0),
        ("anonymity_set_median", 1.0, 2.0),
        ("anonymity_unique_fraction", 2.0, 2.0),
        ("anonymity_entropy_mean", 0.0, 2.0),
        ("degree_of_anonymity_mean", 0.0, 2.0),
        ("social_graph_precision", 0.0, 0.0),
        ("social_graph_recall", 0.0, 0.0),
        ("social_graph_f1", 0.0, 0.0),
        ("connection_graph_precision", 0.0, 0.0),
        ("connection_graph_recall", 0.0, 0.0),
        ("connection_graph_f1", 0.0, 0.0),
        ("message_attribution", 1.0, 1.0), // m2
        ("last_resort_rooms", 0.0, 2.0),
        ("last_resort_pairs", 0.0, 1.0),
        ("last_resort_links", 0.0, 0.0),
    ];
    check(&a, "mimi", B, Scope::Own, &no_connection_rooms(&table));
    let table = [
        ("identity_disclosure", 1.0, 3.0), // a1 no, b1 no, a2 yes
        ("identification", 1.0, 3.0),
        ("cross_room_recall", 0.0, 1.0), // a1-a2
        ("cross_room_precision", 0.0, 0.0),
        ("anonymity_set_min", 1.0, 3.0),    // sizes [1, 2, 2]
        ("anonymity_set_p10", 1.0, 3.0),    // index ceil(0.3) - 1 = 0
        ("anonymity_set_median", 2.0, 3.0), // index (3 - 1) / 2 = 1
        ("anonymity_unique_fraction", 1.0, 3.0),
        ("anonymity_entropy_mean", 2.0, 3.0), // 0 + 1 + 1
        ("degree_of_anonymity_mean", 2.0 / l3(), 3.0), // 2 * log2(2) / log2(3)
        ("social_graph_precision", 0.0, 0.0), // true {ab}, inferred {}
        ("social_graph_recall", 0.0, 1.0),
        ("social_graph_f1", 0.0, 1.0),
        ("connection_graph_precision", 0.0, 0.0), // true {ab}, inferred {}
        ("connection_graph_recall", 0.0, 1.0),
        ("connection_graph_f1", 0.0, 1.0),
        ("message_attribution", 0.0, 1.0), // m1
        ("last_resort_rooms", 0.0, 3.0),
        ("last_resort_pairs", 0.0, 1.0),
        ("last_resort_links", 0.0, 0.0),
    ];
    check(&a, "mimi", B, Scope::Foreign, &no_connection_rooms(&table));
    let table = [
        ("identity_disclosure", 3.0, 5.0),
        ("identification", 3.0, 5.0),
        ("cross_room_recall", 1.0, 2.0),
        ("cross_room_precision", 1.0, 1.0),
        ("anonymity_set_min", 1.0, 5.0), // sizes [1, 1, 1, 2, 2]
        ("anonymity_set_p10", 1.0, 5.0),
        ("anonymity_set_median", 1.0, 5.0),
        ("anonymity_unique_fraction", 3.0, 5.0),
        ("anonymity_entropy_mean", 2.0, 5.0),
        ("degree_of_anonymity_mean", 2.0 / l3(), 5.0),
        ("social_graph_precision", 1.0, 1.0), // inferred {ac} of true {ab, ac, bc}
        ("social_graph_recall", 1.0, 3.0),
        ("social_graph_f1", 2.0, 4.0),
        ("connection_graph_precision", 1.0, 1.0), // inferred {ac} of true {ab, ac}
        ("connection_graph_recall", 1.0, 2.0),
        ("connection_graph_f1", 2.0, 3.0),
        ("message_attribution", 1.0, 2.0),
        ("last_resort_rooms", 0.0, 5.0),
        ("last_resort_pairs", 0.0, 2.0),
        ("last_resort_links", 0.0, 0.0),
    ];
    check(&a, "mimi", B, Scope::All, &no_connection_rooms(&table));

    // All providers: every membership disclosed, both same-user pairs linked; every user own.
    let table = [
        ("identity_disclosure", 5.0, 5.0),
        ("identification", 5.0, 5.0),
        ("cross_room_recall", 2.0, 2.0),
        ("cross_room_precision", 2.0, 2.0),
        ("anonymity_set_min", 1.0, 5.0),
        ("anonymity_set_p10", 1.0, 5.0),
        ("anonymity_set_median", 1.0, 5.0),
        ("anonymity_unique_fraction", 5.0, 5.0),
        ("anonymity_entropy_mean", 0.0, 5.0),
        ("degree_of_anonymity_mean", 0.0, 5.0),
        ("social_graph_precision", 3.0, 3.0),
        ("social_graph_recall", 3.0, 3.0),
        ("social_graph_f1", 6.0, 6.0),
        ("connection_graph_precision", 2.0, 2.0),
        ("connection_graph_recall", 2.0, 2.0),
        ("connection_graph_f1", 4.0, 4.0),
        ("message_attribution", 2.0, 2.0),
        ("last_resort_rooms", 0.0, 5.0),
        ("last_resort_pairs", 0.0, 2.0),
        ("last_resort_links", 0.0, 0.0),
    ];
    check(&a, "mimi", "all", Scope::All, &no_connection_rooms(&table));
    let table = [
        ("identity_disclosure", 0.0, 0.0),
        ("identification", 0.0, 0.0),
        ("cross_room_recall", 0.0, 0.0),
        ("cross_room_precision", 0.0, 0.0),
        ("anonymity_set_min", 0.0, 0.0),
        ("anonymity_set_p10", 0.0, 0.0),
        ("anonymity_set_median", 0.0, 0.0),
        ("anonymity_unique_fraction", 0.0, 0.0),
        ("anonymity_entropy_mean", 0.0, 0.0),
        ("degree_of_anonymity_mean", 0.0, 0.0),
        ("social_graph_precision", 0.0, 0.0),
        ("social_graph_recall", 0.0, 0.0),
        ("social_graph_f1", 0.0, 0.0),
        ("connection_graph_precision", 0.0, 0.0),
        ("connection_graph_recall", 0.0, 0.0),
        ("connection_graph_f1", 0.0, 0.0),
        ("message_attribution", 0.0, 0.0),
        ("last_resort_rooms", 0.0, 0.0),
        ("last_resort_pairs", 0.0, 0.0),
        ("last_resort_links", 0.0, 0.0),
    ];
    check(
        &a,
        "mimi",
        "all",
        Scope::Foreign,
        &no_connection_rooms(&table),
    );
    let sizes: Vec<_> = a
        .anonymity
        .iter()
        .filter(|s| s.observer == B)
        .map(|s| (s.scope, s.sizes.clone()))
        .collect();
    assert_eq!(
        sizes,
        vec![
            (Scope::Own, vec![1, 1]),
            (Scope::Foreign, vec![1, 2, 2]),
            (Scope::All, vec![1, 1, 1, 2, 2]),
        ]
    );

    // Attribution at a: a1 by Ua itself in r1 (room_create); b1 and c1 by their user ids in the
    // handshake; a2 by Ca in r2 (fanout_welcome, fanout_message). The pair a1-a2 meets at Ca,
    // which a saw in r1 (room_create) and in r2 (both fanouts). Carol is foreign.
    assert_eq!(
        attribution(&a, A, Scope::Own),
        flows(&[
            ("fanout_message", 1, 1),
            ("fanout_welcome", 1, 1),
            ("handshake", 1, 0),
            ("room_create", 1, 1),
        ])
    );
    assert_eq!(
        attribution(&a, A, Scope::Foreign),
        flows(&[("handshake", 1, 0)])
    );
    // At b: c1 by Cc in r1 (both fanouts), a2 by Ua in the handshake, c2 by Uc at room_create;
    // c1-c2 meet at Cc (fanouts in r1, room_create in r2). Alice is foreign.
    assert_eq!(
        attribution(&a, B, Scope::Own),
        flows(&[
            ("fanout_message", 1, 1),
            ("fanout_welcome", 1, 1),
            ("room_create", 1, 1),
        ])
    );
    assert_eq!(
        attribution(&a, B, Scope::Foreign),
        flows(&[("handshake", 1, 0)])
    );
}

// ---------------------------------------------------------------------------------------------
// MIMIMI: pseudonyms; only the own provider links, through account + queue id.

/// Providers a (alice, bob) and b (carol, dave; dave is in no room); r1 on hub a with alice,
/// bob, carol; r2 on hub b with alice, carol; connection room c1 on a for alice and carol.
/// Carol sends m1 in r1, alice m2 in r2. Pseudonyms P1x/P2x/Pcx, signature keys S1x/S2x,
/// encrypted queue ids E1x/E2x/Ecx per room, queue ids Qx, accounts x.
fn mimimi_run() -> RunData {
    let observations = "
        0  a queue_registration -  queue_id=Qa account=alice
        1  a queue_registration -  queue_id=Qb account=bob
        2  b queue_registration -  queue_id=Qc account=carol
        3  a handshake          r1 user_pseudonym=P1a signature_key=S1a encrypted_queue_id=E1a
                                 | user_pseudonym=P1b signature_key=S1b encrypted_queue_id=E1b
                                 | user_pseudonym=P1c signature_key=S1c encrypted_queue_id=E1c
        4  a fanout_welcome     r1 encrypted_queue_id=E1b queue_id=Qb
        5  b fanout_welcome     r1 encrypted_queue_id=E1c queue_id=Qc
        6  b handshake          r2 user_pseudonym=P2c signature_key=S2c encrypted_queue_id=E2c
                                 | user_pseudonym=P2a signature_key=S2a encrypted_queue_id=E2a
        7  a fanout_welcome     r2 encrypted_queue_id=E2a queue_id=Qa
        8  b app_message        r1 user_pseudonym=P1c account=carol message=m1
        9  a app_message        r1 user_pseudonym=P1c message=m1
        10 a fanout_message     r1 user_pseudonym=P1c message=m1
                                 | encrypted_queue_id=E1a queue_id=Qa
                                 | encrypted_queue_id=E1b queue_id=Qb
        11 a app_message        r2 user_pseudonym=P2a account=alice message=m2
        12 b app_message        r2 user_pseudonym=P2a message=m2
        13 b fanout_message     r2 user_pseudonym=P2a message=m2 | encrypted_queue_id=E2c queue_id=Qc
        14 a room_create        c1 user_pseudonym=Pca account=alice
        15 a handshake          c1 user_pseudonym=Pcc encrypted_queue_id=Ecc
        16 b handshake          c1 user_pseudonym=Pcc account=carol
    ";
    let truth = "
        alice@a.example
        bob@a.example
        carol@b.example
        dave@b.example
        queue_id Qa alice
        queue_id Qb bob
        queue_id Qc carol
        user_pseudonym P1a alice
        user_pseudonym P1b bob
        user_pseudonym P1c carol
        user_pseudonym P2a alice
        user_pseudonym P2c carol
        user_pseudonym Pca alice
        user_pseudonym Pcc carol
        signature_key S1a alice
        signature_key S1b bob
        signature_key S1c carol
        signature_key S2a alice
        signature_key S2c carol
        encrypted_queue_id E1a alice
        encrypted_queue_id E1b bob
        encrypted_queue_id E1c carol
        encrypted_queue_id E2a alice
        encrypted_queue_id E2c carol
        encrypted_queue_id Ecc carol
    ";
    let memberships = "
        r1 room       alice 0
        r1 room       bob   0
        r1 room       carol 0
        r2 room       alice 0
        r2 room       carol 0
        c1 connection alice 0
        c1 connection carol 0
    ";
    let mut mode = mode_of(
        "mimimi",
        observations,
        truth,
        memberships,
        vec![connection("alice", "carol")],
        vec![message("m1", "r1", "carol"), message("m2", "r2", "alice")],
    );
    mode.mechanisms = vec!["pseudonymous_credentials".to_string()];
    run_of(&[A, B], vec![], mode)
}

#[test]
fn mimimi_only_the_own_provider_names_its_users() {
    let a = analyze(&mimimi_run());

    // Observer a: A = {Qa, account alice, E1a, P1a, S1a, E2a, P2a, m2, Pca} (queue ids decrypted
    // at fanout, registered by the account); B = {Qb, account bob, E1b, P1b, S1b};
    // C1 = {P1c, S1c, E1c, m1}; {Pcc, Ecc}. Seen: r1, r2, c1.
    // a1 -> {A} disclosed, b1 -> {B} disclosed, c1 -> {C1} not, a2 -> {A} disclosed, c2: no item.
    // Users: a has 2, b has 2 (carol, dave); N = 4.
    let table = [
        ("identity_disclosure", 3.0, 3.0),
        ("identification", 3.0, 3.0),
        ("cross_room_recall", 1.0, 1.0), // a1-a2 share A
        ("cross_room_precision", 1.0, 1.0),
        ("anonymity_set_min", 1.0, 3.0),
        ("anonymity_set_p10", 1.0, 3.0),
        ("anonymity_set_median", 1.0, 3.0),
        ("anonymity_unique_fraction", 3.0, 3.0),
        ("anonymity_entropy_mean", 0.0, 3.0),
        ("degree_of_anonymity_mean", 0.0, 3.0),
        ("social_graph_precision", 1.0, 1.0), // inferred r1 {ab}; true own {ab}
        ("social_graph_recall", 1.0, 1.0),
        ("social_graph_f1", 2.0, 2.0),
        ("connection_graph_precision", 0.0, 0.0), // the only connection is alice-carol
        ("connection_graph_recall", 0.0, 0.0),
        ("connection_graph_f1", 0.0, 0.0),
        ("message_attribution", 1.0, 1.0), // m2 in A
        ("last_resort_rooms", 0.0, 3.0),
        ("last_resort_pairs", 0.0, 1.0),
        ("last_resort_links", 0.0, 0.0),
        ("connection_room_identity_disclosure", 1.0, 1.0), // alice in c1: Pca with her account
        ("connection_room_identification", 1.0, 1.0),
        ("connection_room_anonymity_set_min", 1.0, 1.0),
        ("connection_room_anonymity_set_p10", 1.0, 1.0),
        ("connection_room_anonymity_set_median", 1.0, 1.0),
        ("connection_room_anonymity_unique_fraction", 1.0, 1.0),
        ("connection_room_anonymity_entropy_mean", 0.0, 1.0),
        ("connection_room_degree_of_anonymity_mean", 0.0, 1.0),
    ];
    check(&a, "mimimi", A, Scope::Own, &table);
    let table = [
        ("identity_disclosure", 0.0, 2.0), // c1, c2
        ("identification", 0.0, 2.0),
        ("cross_room_recall", 0.0, 1.0), // c1-c2
        ("cross_room_precision", 0.0, 0.0),
        // c1, c2: b has 2 users, none placed by a: size 2 each.
        ("anonymity_set_min", 2.0, 2.0),
        ("anonymity_set_p10", 2.0, 2.0),
        ("anonymity_set_median", 2.0, 2.0),
        ("anonymity_unique_fraction", 0.0, 2.0),
        ("anonymity_entropy_mean", 2.0, 2.0),
        ("degree_of_anonymity_mean", 1.0, 2.0), // 2 * log2(2) / log2(4)
        ("social_graph_precision", 0.0, 0.0),
        ("social_graph_recall", 0.0, 0.0),
        ("social_graph_f1", 0.0, 0.0),
        ("connection_graph_precision", 0.0, 0.0),
        ("connection_graph_recall", 0.0, 0.0),
        ("connection_graph_f1", 0.0, 0.0),
        ("message_attribution", 0.0, 1.0), // m1 in C1 names nobody
        ("last_resort_rooms", 0.0, 2.0),
        ("last_resort_pairs", 0.0, 1.0),
        ("last_resort_links", 0.0, 0.0),
        ("connection_room_identity_disclosure", 0.0, 1.0), // carol in c1: {Pcc, Ecc} names nobody
        ("connection_room_identification", 0.0, 1.0),
        ("connection_room_anonymity_set_min", 2.0, 1.0), // b has 2 users, none placed in c1
        ("connection_room_anonymity_set_p10", 2.0, 1.0),
        ("connection_room_anonymity_set_median", 2.0, 1.0),
        ("connection_room_anonymity_unique_fraction", 0.0, 1.0),
        ("connection_room_anonymity_entropy_mean", 1.0, 1.0),
        ("connection_room_degree_of_anonymity_mean", 0.5, 1.0), // log2(2) / log2(4)
    ];
    check(&a, "mimimi", A, Scope::Foreign, &table);
    let table = [
        ("identity_disclosure", 3.0, 5.0),
        ("identification", 3.0, 5.0),
        ("cross_room_recall", 1.0, 2.0),
        ("cross_room_precision", 1.0, 1.0),
        ("anonymity_set_min", 1.0, 5.0), // [1, 1, 1, 2, 2]
        ("anonymity_set_p10", 1.0, 5.0),
        ("anonymity_set_median", 1.0, 5.0),
        ("anonymity_unique_fraction", 3.0, 5.0),
        ("anonymity_entropy_mean", 2.0, 5.0),
        ("degree_of_anonymity_mean", 1.0, 5.0),
        ("social_graph_precision", 1.0, 1.0), // {ab} of {ab, ac, bc}
        ("social_graph_recall", 1.0, 3.0),
        ("social_graph_f1", 2.0, 4.0),
        ("connection_graph_precision", 0.0, 0.0), // c1 names alice only
        ("connection_graph_recall", 0.0, 1.0),
        ("connection_graph_f1", 0.0, 1.0),
        ("message_attribution", 1.0, 2.0),
        ("last_resort_rooms", 0.0, 5.0),
        ("last_resort_pairs", 0.0, 2.0),
        ("last_resort_links", 0.0, 0.0),
        ("connection_room_identity_disclosure", 1.0, 2.0),
        ("connection_room_identification", 1.0, 2.0),
        ("connection_room_anonymity_set_min", 1.0, 2.0), // [1, 2]
        ("connection_room_anonymity_set_p10", 1.0, 2.0),
        ("connection_room_anonymity_set_median", 1.0, 2.0),
        ("connection_room_anonymity_unique_fraction", 1.0, 2.0),
        ("connection_room_anonymity_entropy_mean", 1.0, 2.0),
        ("connection_room_degree_of_anonymity_mean", 0.5, 2.0),
    ];
    check(&a, "mimimi", A, Scope::All, &table);

    // Observer b: C = {Qc, account carol, E1c, P1c, m1, P2c, S2c, E2c, Pcc};
    // A2 = {P2a, S2a, E2a, m2}. a1, b1: no item; c1 -> {C} disclosed; a2 -> {A2} not;
    // c2 -> {C} disclosed; connection room c1: carol disclosed, alice not.
    let table = [
        ("identity_disclosure", 2.0, 2.0),
        ("identification", 2.0, 2.0),
        ("cross_room_recall", 1.0, 1.0), // c1-c2
        ("cross_room_precision", 1.0, 1.0),
        ("anonymity_set_min", 1.0, 2.0),
        ("anonymity_set_p10", 1.0, 2.0),
        ("anonymity_set_median", 1.0, 2.0),
        ("anonymity_unique_fraction", 2.0, 2.0),
        ("anonymity_entropy_mean", 0.0, 2.0),
        ("degree_of_anonymity_mean", 0.0, 2.0),
        ("social_graph_precision", 0.0, 0.0), // carol and dave share no room
        ("social_graph_recall", 0.0, 0.0),
        ("social_graph_f1", 0.0, 0.0),
        ("connection_graph_precision", 0.0, 0.0),
        ("connection_graph_recall", 0.0, 0.0),
        ("connection_graph_f1", 0.0, 0.0),
        ("message_attribution", 1.0, 1.0), // m1 in C
        ("last_resort_rooms", 0.0, 2.0),
        ("last_resort_pairs", 0.0, 1.0),
        ("last_resort_links", 0.0, 0.0),
        ("connection_room_identity_disclosure", 1.0, 1.0), // carol in c1: Pcc with her account
        ("connection_room_identification", 1.0, 1.0),
        ("connection_room_anonymity_set_min", 1.0, 1.0),
        ("connection_room_anonymity_set_p10", 1.0, 1.0),
        ("connection_room_anonymity_set_median", 1.0, 1.0),
        ("connection_room_anonymity_unique_fraction", 1.0, 1.0),
        ("connection_room_anonymity_entropy_mean", 0.0, 1.0),
        ("connection_room_degree_of_anonymity_mean", 0.0, 1.0),
    ];
    check(&a, "mimimi", B, Scope::Own, &table);
    let table = [
        ("identity_disclosure", 0.0, 3.0), // a1, b1, a2
        ("identification", 0.0, 3.0),
        ("cross_room_recall", 0.0, 1.0), // a1-a2
        ("cross_room_precision", 0.0, 0.0),
        ("anonymity_set_min", 2.0, 3.0), // [2, 2, 2]
        ("anonymity_set_p10", 2.0, 3.0),
        ("anonymity_set_median", 2.0, 3.0),
        ("anonymity_unique_fraction", 0.0, 3.0),
        ("anonymity_entropy_mean", 3.0, 3.0),
        ("degree_of_anonymity_mean", 1.5, 3.0),
        ("social_graph_precision", 0.0, 0.0), // true {ab}, inferred {}
        ("social_graph_recall", 0.0, 1.0),
        ("social_graph_f1", 0.0, 1.0),
        ("connection_graph_precision", 0.0, 0.0),
        ("connection_graph_recall", 0.0, 0.0),
        ("connection_graph_f1", 0.0, 0.0),
        ("message_attribution", 0.0, 1.0), // m2 in A2 names nobody
        ("last_resort_rooms", 0.0, 3.0),
        ("last_resort_pairs", 0.0, 1.0),
        ("last_resort_links", 0.0, 0.0),
        ("connection_room_identity_disclosure", 0.0, 1.0), // alice in c1: no item at b
        ("connection_room_identification", 0.0, 1.0),
        ("connection_room_anonymity_set_min", 2.0, 1.0), // a has 2 users, none placed in c1
        ("connection_room_anonymity_set_p10", 2.0, 1.0),
        ("connection_room_anonymity_set_median", 2.0, 1.0),
        ("connection_room_anonymity_unique_fraction", 0.0, 1.0),
        ("connection_room_anonymity_entropy_mean", 1.0, 1.0),
        ("connection_room_degree_of_anonymity_mean", 0.5, 1.0),
    ];
    check(&a, "mimimi", B, Scope::Foreign, &table);
    let table = [
        ("identity_disclosure", 2.0, 5.0),
        ("identification", 2.0, 5.0),
        ("cross_room_recall", 1.0, 2.0),
        ("cross_room_precision", 1.0, 1.0),
        ("anonymity_set_min", 1.0, 5.0), // [1, 1, 2, 2, 2]
        ("anonymity_set_p10", 1.0, 5.0),
        ("anonymity_set_median", 2.0, 5.0),
        ("anonymity_unique_fraction", 2.0, 5.0),
        ("anonymity_entropy_mean", 3.0, 5.0),
        ("degree_of_anonymity_mean", 1.5, 5.0),
        ("social_graph_precision", 0.0, 0.0),
        ("social_graph_recall", 0.0, 3.0),
        ("social_graph_f1", 0.0, 3.0),
        ("connection_graph_precision", 0.0, 0.0),
        ("connection_graph_recall", 0.0, 1.0),
        ("connection_graph_f1", 0.0, 1.0),
        ("message_attribution", 1.0, 2.0),
        ("last_resort_rooms", 0.0, 5.0),
        ("last_resort_pairs", 0.0, 2.0),
        ("last_resort_links", 0.0, 0.0),
        ("connection_room_identity_disclosure", 1.0, 2.0),
        ("connection_room_identification", 1.0, 2.0),
        ("connection_room_anonymity_set_min", 1.0, 2.0), // [1, 2]
        ("connection_room_anonymity_set_p10", 1.0, 2.0),
        ("connection_room_anonymity_set_median", 1.0, 2.0),
        ("connection_room_anonymity_unique_fraction", 1.0, 2.0),
        ("connection_room_anonymity_entropy_mean", 1.0, 2.0),
        ("connection_room_degree_of_anonymity_mean", 0.5, 2.0),
    ];
    check(&a, "mimimi", B, Scope::All, &table);

    // All providers pooled: A and A2 merge (P2a), C1, C and {Pcc, Ecc} merge (P1c, Pcc):
    // everything is disclosed and both same-user pairs are linked; c1 gives the connection.
    let table = [
        ("identity_disclosure", 5.0, 5.0),
        ("identification", 5.0, 5.0),
        ("cross_room_recall", 2.0, 2.0),
        ("cross_room_precision", 2.0, 2.0),
        ("anonymity_set_min", 1.0, 5.0),
        ("anonymity_set_p10", 1.0, 5.0),
        ("anonymity_set_median", 1.0, 5.0),
        ("anonymity_unique_fraction", 5.0, 5.0),
        ("anonymity_entropy_mean", 0.0, 5.0),
        ("degree_of_anonymity_mean", 0.0, 5.0),
        ("social_graph_precision", 3.0, 3.0),
        ("social_graph_recall", 3.0, 3.0),
        ("social_graph_f1", 6.0, 6.0),
        ("connection_graph_precision", 1.0, 1.0),
        ("connection_graph_recall", 1.0, 1.0),
        ("connection_graph_f1", 2.0, 2.0),
        ("message_attribution", 2.0, 2.0),
        ("last_resort_rooms", 0.0, 5.0),
        ("last_resort_pairs", 0.0, 2.0),
        ("last_resort_links", 0.0, 0.0),
        ("connection_room_identity_disclosure", 2.0, 2.0), // both named once pooled
        ("connection_room_identification", 2.0, 2.0),
        ("connection_room_anonymity_set_min", 1.0, 2.0),
        ("connection_room_anonymity_set_p10", 1.0, 2.0),
        ("connection_room_anonymity_set_median", 1.0, 2.0),
        ("connection_room_anonymity_unique_fraction", 2.0, 2.0),
        ("connection_room_anonymity_entropy_mean", 0.0, 2.0),
        ("connection_room_degree_of_anonymity_mean", 0.0, 2.0),
    ];
    check(&a, "mimimi", "all", Scope::All, &table);

    // Attribution at a: a1 via Qa (seen in r1 in fanout_message) -- account alice
    // (queue_registration); b1 via Qb (fanout_welcome, fanout_message in r1) -- account bob
    // (queue_registration); a2 by account alice itself in r2 (app_message). a1-a2 meet at Qa:
    // fanout_message in r1, fanout_welcome in r2. Only own users are named.
    assert_eq!(attribution(&a, A, Scope::Foreign), flows(&[]));
    assert_eq!(
        attribution(&a, A, Scope::Own),
        flows(&[
            ("app_message", 1, 0),
            ("fanout_message", 2, 1),
            ("fanout_welcome", 1, 1),
            ("queue_registration", 2, 0),
        ])
    );
    // At b: c1 by account carol in r1 (app_message); c2 via Qc (fanout_message in r2) --
    // account carol (queue_registration); c1-c2 meet at Qc (fanout_welcome in r1,
    // fanout_message in r2).
    assert_eq!(attribution(&a, B, Scope::Foreign), flows(&[]));
    assert_eq!(
        attribution(&a, B, Scope::Own),
        flows(&[
            ("app_message", 1, 0),
            ("fanout_message", 1, 1),
            ("fanout_welcome", 0, 1),
            ("queue_registration", 1, 0),
        ])
    );

    // The client-level view keeps clients apart from user-level identifiers.
    let run = mimimi_run();
    let truth_index = TruthIndex::new(&run.modes[0]);
    let obs_list = observers(&run);
    let view = ObserverView::new(&obs_list[0], &run.modes[0], &truth_index);
    let node = |k: &str, v: &str| view.linker.node(k, v).unwrap();
    let l = &view.linker;
    assert_eq!(
        l.client_cluster(node("queue_id", "Qa")),
        l.client_cluster(node("encrypted_queue_id", "E1a"))
    );
    assert_eq!(
        l.client_cluster(node("signature_key", "S1a")),
        l.client_cluster(node("encrypted_queue_id", "E1a"))
    );
    assert_ne!(
        l.client_cluster(node("user_pseudonym", "P1a")),
        l.client_cluster(node("encrypted_queue_id", "E1a"))
    );
    assert_eq!(
        l.user_cluster(node("user_pseudonym", "P1a")),
        l.user_cluster(node("account", "alice"))
    );
    assert!(l.node("user_pseudonym", "P2c").is_none(), "a never saw P2c");
}

// ---------------------------------------------------------------------------------------------
// Last-resort reuse: the hub links rooms entered with one last-resort pseudonym.

#[test]
fn last_resort_pseudonym_links_two_rooms_at_the_hub() {
    // Providers a (alice) and b (carol, dave); r1 and r2 both on hub b. Alice enters both rooms
    // with one last-resort set (id 1...1): the same pseudonym X in both. Carol enters both with
    // last-resort KeyPackages too, but of two sets (2...2 and 3...3, pseudonyms Y1, Y2), and
    // her own provider b links her rooms through her account anyway. Dave enters r2 with a
    // regular set. a observes nothing.
    let observations = "
        0 b handshake   r1 user_pseudonym=X signature_key=k1 | user_pseudonym=Y1 signature_key=k2
        1 b handshake   r2 user_pseudonym=X signature_key=k3 | user_pseudonym=Y2 signature_key=k4
                           | user_pseudonym=Z signature_key=k5
        2 b app_message r1 user_pseudonym=Y1 account=carol
        3 b app_message r2 user_pseudonym=Y2 account=carol
    ";
    let truth = "
        alice@a.example
        carol@b.example
        dave@b.example
        user_pseudonym X alice
        user_pseudonym Y1 carol
        user_pseudonym Y2 carol
        user_pseudonym Z dave
        signature_key k1 alice
        signature_key k2 carol
        signature_key k3 alice
        signature_key k4 carol
        signature_key k5 dave
    ";
    let memberships = "
        r1 room alice 1 1
        r1 room carol 1 2
        r2 room alice 1 1
        r2 room carol 1 3
        r2 room dave  0 4
    ";
    let mode = mode_of("mimimi", observations, truth, memberships, vec![], vec![]);
    let a = analyze(&run_of(&[A, B], vec![], mode));

    // b: clusters {X, k1, k3}, C = {Y1, k2, account carol, Y2, k4}, {Z, k5}. c1, c2 disclosed
    // (own); a1, a2, d2 not. Same-user pairs: a1-a2 linked (X), c1-c2 linked (C).
    // Own = carol, dave; foreign = alice. N = 3.
    // Anonymity: a1, a2: a has one user: 1 without disclosure. d2: b has 2 users and carol is
    // placed in r2: 2 - 1 = 1, identified by elimination. Every size is 1.
    // Social: true {ac, ad, cd}; inferred {} (one disclosed user per room).
    // Last resort: a1, a2, c1, c2. Same-set pairs: a1-a2 (set 1), linked. c1-c2 entered with
    // two sets: linked through carol's account, which is cross-room recall, not reuse.
    let table = [
        ("identity_disclosure", 2.0, 3.0), // c1, c2 of c1, c2, d2
        ("identification", 3.0, 3.0),      // and d2 by elimination
        ("cross_room_recall", 1.0, 1.0),   // c1-c2
        ("cross_room_precision", 1.0, 1.0),
        ("anonymity_set_min", 1.0, 3.0),
        ("anonymity_set_p10", 1.0, 3.0),
        ("anonymity_set_median", 1.0, 3.0),
        ("anonymity_unique_fraction", 3.0, 3.0),
        ("anonymity_entropy_mean", 0.0, 3.0),
        ("degree_of_anonymity_mean", 0.0, 3.0),
        ("social_graph_precision", 0.0, 0.0),
        ("social_graph_recall", 0.0, 1.0), // {cd}
        ("social_graph_f1", 0.0, 1.0),
        ("connection_graph_precision", 0.0, 0.0),
        ("connection_graph_recall", 0.0, 0.0),
        ("connection_graph_f1", 0.0, 0.0),
        ("message_attribution", 0.0, 0.0),
        ("last_resort_rooms", 2.0, 3.0), // c1, c2 of c1, c2, d2
        ("last_resort_pairs", 0.0, 1.0), // c1-c2: two sets
        ("last_resort_links", 0.0, 0.0),
    ];
    check(&a, "mimimi", B, Scope::Own, &no_connection_rooms(&table));
    let table = [
        ("identity_disclosure", 0.0, 2.0),
        ("identification", 2.0, 2.0), // a1, a2: alice is a's only user, named or not
        ("cross_room_recall", 1.0, 1.0),
        ("cross_room_precision", 1.0, 1.0),
        ("anonymity_set_min", 1.0, 2.0),
        ("anonymity_set_p10", 1.0, 2.0),
        ("anonymity_set_median", 1.0, 2.0),
        ("anonymity_unique_fraction", 2.0, 2.0),
        ("anonymity_entropy_mean", 0.0, 2.0),
        ("degree_of_anonymity_mean", 0.0, 2.0),
        ("social_graph_precision", 0.0, 0.0),
        ("social_graph_recall", 0.0, 0.0),
        ("social_graph_f1", 0.0, 0.0),
        ("connection_graph_precision", 0.0, 0.0),
        ("connection_graph_recall", 0.0, 0.0),
        ("connection_graph_f1", 0.0, 0.0),
        ("message_attribution", 0.0, 0.0),
        ("last_resort_rooms", 2.0, 2.0),
        ("last_resort_pairs", 1.0, 1.0), // a1-a2, set 1
        ("last_resort_links", 1.0, 1.0), // through X
    ];
    check(
        &a,
        "mimimi",
        B,
        Scope::Foreign,
        &no_connection_rooms(&table),
    );
    let table = [
        ("identity_disclosure", 2.0, 5.0),
        ("identification", 5.0, 5.0),
        ("cross_room_recall", 2.0, 2.0),
        ("cross_room_precision", 2.0, 2.0),
        ("anonymity_set_min", 1.0, 5.0), // [1, 1, 1, 1, 1]
        ("anonymity_set_p10", 1.0, 5.0),
        ("anonymity_set_median", 1.0, 5.0),
        ("anonymity_unique_fraction", 5.0, 5.0),
        ("anonymity_entropy_mean", 0.0, 5.0),
        ("degree_of_anonymity_mean", 0.0, 5.0),
        ("social_graph_precision", 0.0, 0.0),
        ("social_graph_recall", 0.0, 3.0),
        ("social_graph_f1", 0.0, 3.0),
        ("connection_graph_precision", 0.0, 0.0),
        ("connection_graph_recall", 0.0, 0.0),
        ("connection_graph_f1", 0.0, 0.0),
        ("message_attribution", 0.0, 0.0),
        ("last_resort_rooms", 4.0, 5.0),
        ("last_resort_pairs", 1.0, 2.0), // a1-a2 of a1-a2, c1-c2
        ("last_resort_links", 1.0, 1.0),
    ];
    check(&a, "mimimi", B, Scope::All, &no_connection_rooms(&table));
    // a saw no room: no membership is in any of its denominators, but the last-resort count is
    // the same for every observer.
    let table = [
        ("identity_disclosure", 0.0, 0.0),
        ("identification", 0.0, 0.0),
        ("cross_room_recall", 0.0, 0.0),
        ("cross_room_precision", 0.0, 0.0),
        ("anonymity_set_min", 0.0, 0.0),
        ("anonymity_set_p10", 0.0, 0.0),
        ("anonymity_set_median", 0.0, 0.0),
        ("anonymity_unique_fraction", 0.0, 0.0),
        ("anonymity_entropy_mean", 0.0, 0.0),
        ("degree_of_anonymity_mean", 0.0, 0.0),
        ("social_graph_precision", 0.0, 0.0),
        ("social_graph_recall", 0.0, 3.0),
        ("social_graph_f1", 0.0, 3.0),
        ("connection_graph_precision", 0.0, 0.0),
        ("connection_graph_recall", 0.0, 0.0),
        ("connection_graph_f1", 0.0, 0.0),
        ("message_attribution", 0.0, 0.0),
        ("last_resort_rooms", 4.0, 5.0),
        ("last_resort_pairs", 0.0, 0.0),
        ("last_resort_links", 0.0, 0.0),
    ];
    check(&a, "mimimi", A, Scope::All, &no_connection_rooms(&table));
    // c1 and c2 (own) by carol's account in each room's app_message, and c1-c2 meet at it;
    // a1-a2 (foreign) meet at X, seen in both rooms' handshakes.
    assert_eq!(
        attribution(&a, B, Scope::Own),
        flows(&[("app_message", 2, 1)])
    );
    assert_eq!(
        attribution(&a, B, Scope::Foreign),
        flows(&[("handshake", 0, 1)])
    );
    assert!(a.attribution.iter().all(|r| r.observer != A));

    // Without set ids (a run directory older than the key_package_set column) no pair is
    // known to share a set: the flags alone do not make reuse.
    let mut run = run_of(
        &[A, B],
        vec![],
        mode_of("mimimi", observations, truth, memberships, vec![], vec![]),
    );
    for m in &mut run.modes[0].memberships {
        m.key_package_set = None;
    }
    let a = analyze(&run);
    let r = a
        .metrics
        .iter()
        .find(|r| r.observer == B && r.scope == Scope::All && r.metric == "last_resort_pairs")
        .unwrap();
    assert_eq!((r.value, r.denominator), (Some(0.0), 2.0));
}

// ---------------------------------------------------------------------------------------------
// Anonymity: a provider with one user.

#[test]
fn a_provider_with_one_user_gives_no_anonymity() {
    // a has alice, bob, carol; b has only dave. r1 on hub a with alice, bob, dave. The hub
    // sees alice's pseudonym with her account (own user), and the pseudonyms of bob and dave.
    let observations = "
        0 a handshake r1 user_pseudonym=Pa account=alice | user_pseudonym=Pb
                          | user_pseudonym=Pd domain=b.example
    ";
    let truth = "
        alice@a.example
        bob@a.example
        carol@a.example
        dave@b.example
        user_pseudonym Pa alice
        user_pseudonym Pb bob
        user_pseudonym Pd dave
    ";
    let memberships = "
        r1 room alice 0
        r1 room bob   0
        r1 room dave  0
    ";
    let mode = mode_of("mimimi", observations, truth, memberships, vec![], vec![]);
    let a = analyze(&run_of(&[A, B], vec![], mode));
    // a1 disclosed: 1. b1: a has 3 users, alice is placed in r1: 3 - 1 = 2. d1: b has one
    // user: 1, although not disclosed. N = 4, log2 N = 2.
    // Social: true {ab, ad, bd}; inferred {} (only alice disclosed).
    let table = [
        ("identity_disclosure", 1.0, 2.0),
        ("identification", 1.0, 2.0),
        ("cross_room_recall", 0.0, 0.0),
        ("cross_room_precision", 0.0, 0.0),
        ("anonymity_set_min", 1.0, 2.0), // [1, 2]
        ("anonymity_set_p10", 1.0, 2.0),
        ("anonymity_set_median", 1.0, 2.0), // lower median
        ("anonymity_unique_fraction", 1.0, 2.0),
        ("anonymity_entropy_mean", 1.0, 2.0),
        ("degree_of_anonymity_mean", 0.5, 2.0),
        ("social_graph_precision", 0.0, 0.0),
        ("social_graph_recall", 0.0, 1.0), // {ab}
        ("social_graph_f1", 0.0, 1.0),
        ("connection_graph_precision", 0.0, 0.0),
        ("connection_graph_recall", 0.0, 0.0),
        ("connection_graph_f1", 0.0, 0.0),
        ("message_attribution", 0.0, 0.0),
        ("last_resort_rooms", 0.0, 2.0),
        ("last_resort_pairs", 0.0, 0.0),
        ("last_resort_links", 0.0, 0.0),
    ];
    check(&a, "mimimi", A, Scope::Own, &no_connection_rooms(&table));
    let table = [
        ("identity_disclosure", 0.0, 1.0), // not disclosed ...
        ("identification", 1.0, 1.0),      // ... but identified, being
        ("cross_room_recall", 0.0, 0.0),
        ("cross_room_precision", 0.0, 0.0),
        ("anonymity_set_min", 1.0, 1.0), // alone in its anonymity set
        ("anonymity_set_p10", 1.0, 1.0),
        ("anonymity_set_median", 1.0, 1.0),
        ("anonymity_unique_fraction", 1.0, 1.0),
        ("anonymity_entropy_mean", 0.0, 1.0),
        ("degree_of_anonymity_mean", 0.0, 1.0),
        ("social_graph_precision", 0.0, 0.0),
        ("social_graph_recall", 0.0, 0.0),
        ("social_graph_f1", 0.0, 0.0),
        ("connection_graph_precision", 0.0, 0.0),
        ("connection_graph_recall", 0.0, 0.0),
        ("connection_graph_f1", 0.0, 0.0),
        ("message_attribution", 0.0, 0.0),
        ("last_resort_rooms", 0.0, 1.0),
        ("last_resort_pairs", 0.0, 0.0),
        ("last_resort_links", 0.0, 0.0),
    ];
    check(
        &a,
        "mimimi",
        A,
        Scope::Foreign,
        &no_connection_rooms(&table),
    );
    let table = [
        ("identity_disclosure", 1.0, 3.0),
        ("identification", 2.0, 3.0),
        ("cross_room_recall", 0.0, 0.0),
        ("cross_room_precision", 0.0, 0.0),
        ("anonymity_set_min", 1.0, 3.0), // [1, 1, 2]
        ("anonymity_set_p10", 1.0, 3.0),
        ("anonymity_set_median", 1.0, 3.0),
        ("anonymity_unique_fraction", 2.0, 3.0),
        ("anonymity_entropy_mean", 1.0, 3.0),
        ("degree_of_anonymity_mean", 0.5, 3.0),
        ("social_graph_precision", 0.0, 0.0),
        ("social_graph_recall", 0.0, 3.0),
        ("social_graph_f1", 0.0, 3.0),
        ("connection_graph_precision", 0.0, 0.0),
        ("connection_graph_recall", 0.0, 0.0),
        ("connection_graph_f1", 0.0, 0.0),
        ("message_attribution", 0.0, 0.0),
        ("last_resort_rooms", 0.0, 3.0),
        ("last_resort_pairs", 0.0, 0.0),
        ("last_resort_links", 0.0, 0.0),
    ];
    check(&a, "mimimi", A, Scope::All, &no_connection_rooms(&table));
    // a1, alice's own.
    assert_eq!(
        attribution(&a, A, Scope::Own),
        flows(&[("handshake", 1, 0)])
    );
    assert_eq!(attribution(&a, A, Scope::Foreign), flows(&[]));
}

// ---------------------------------------------------------------------------------------------
// "Seen" respects time: a membership counts for an observer only if it saw the room while the
// membership lasted.

#[test]
fn a_membership_counts_only_if_the_observer_saw_the_room_while_it_lasted() {
    // a has alice and bob, b has carol; room r on hub a. Times are seq * 1 ms. Alice is in r
    // from 0 on; carol from 1 ms to 3 ms (removed); bob joins at 9 ms, after b's last view of
    // r (the fanout of carol's removal at 4 ms), like judy in the quickstart.
    let observations = "
        0 a room_create      r user_id=mimi://a.example/u/alice client_id=Ca
        1 a handshake        r user_id=mimi://b.example/u/carol client_id=Cc
        2 b fanout_welcome   r client_id=Cc
        3 a handshake        r client_id=Cc
        4 b fanout_handshake r client_id=Cc
        9 a handshake        r user_id=mimi://a.example/u/bob client_id=Cb
    ";
    let truth = "
        alice@a.example
        bob@a.example
        carol@b.example
        client_id Ca alice
        client_id Cb bob
        client_id Cc carol
    ";
    let mut mode = mode_of("mimi", observations, truth, "", vec![], vec![]);
    let span = |user: &str, from_us: u64, to_us: Option<u64>| Membership {
        from_us,
        to_us,
        ..members(&format!("r room {user} 0"))[0].clone()
    };
    mode.memberships = vec![
        span("alice", 0, None),
        span("carol", 1000, Some(3000)),
        span("bob", 9000, None),
    ];
    let run = run_of(&[A, B], vec![], mode);
    let a = analyze(&run);

    // b saw r at 2 ms and 4 ms. alice [0, end): seen at 2 ms, no item of hers at b: not
    // disclosed. carol [1, 3]: seen at 2 ms, disclosed by Cc (own). bob [9, end): b saw r
    // last at 4 ms: not seen, in no denominator of b.
    // Foreign = alice, bob; seen: alice. Anonymity: a has 2 users, none placed: [2]; N = 3.
    // Social: true {ab, ac, bc} over every membership; foreign pairs {ab}; inferred {}.
    let table = [
        ("identity_disclosure", 0.0, 1.0), // alice only (bob not seen)
        ("identification", 0.0, 1.0),
        ("cross_room_recall", 0.0, 0.0),
        ("cross_room_precision", 0.0, 0.0),
        ("anonymity_set_min", 2.0, 1.0),
        ("anonymity_set_p10", 2.0, 1.0),
        ("anonymity_set_median", 2.0, 1.0),
        ("anonymity_unique_fraction", 0.0, 1.0),
        ("anonymity_entropy_mean", 1.0, 1.0),
        ("degree_of_anonymity_mean", 1.0 / l3(), 1.0),
        ("social_graph_precision", 0.0, 0.0),
        ("social_graph_recall", 0.0, 1.0),
        ("social_graph_f1", 0.0, 1.0),
        ("connection_graph_precision", 0.0, 0.0),
        ("connection_graph_recall", 0.0, 0.0),
        ("connection_graph_f1", 0.0, 0.0),
        ("message_attribution", 0.0, 0.0),
        ("last_resort_rooms", 0.0, 2.0), // alice, bob: every membership, seen or not
        ("last_resort_pairs", 0.0, 0.0),
        ("last_resort_links", 0.0, 0.0),
    ];
    check(&a, "mimi", B, Scope::Foreign, &no_connection_rooms(&table));
    let get = |observer: &str, scope: Scope, metric: &str| {
        let r = a
            .metrics
            .iter()
            .find(|r| r.observer == observer && r.scope == scope && r.metric == metric)
            .unwrap();
        (r.numerator.unwrap(), r.denominator)
    };
    assert_eq!(get(B, Scope::Own, "identity_disclosure"), (1.0, 1.0)); // carol
                                                                       // a saw r at 0, 1, 3 and 9 ms: every membership, bob's from its first instant on.
    assert_eq!(get(A, Scope::Own, "identity_disclosure"), (2.0, 2.0));
    assert_eq!(get(A, Scope::Foreign, "identity_disclosure"), (1.0, 1.0));

    // Both ends of a span count.
    let truth_index = TruthIndex::new(&run.modes[0]);
    let obs_list = observers(&run);
    let view = ObserverView::new(&obs_list[1], &run.modes[0], &truth_index);
    let l = &view.linker;
    assert!(l.saw_room_between("r", 2000, Some(2000)));
    assert!(l.saw_room_between("r", 4000, None));
    assert!(!l.saw_room_between("r", 2001, Some(3999)));
    assert!(!l.saw_room_between("r", 4001, None));
    assert!(!l.saw_room_between("r", 0, Some(1999)));
    assert!(!l.saw_room_between("elsewhere", 0, None));
}

// ---------------------------------------------------------------------------------------------
// Connection requests forwarded in clear name both users.

#[test]
fn a_connection_request_in_clear_is_an_inferred_connection_edge() {
    // Channel `none`: the own provider forwards the connection-key fetch and the connection
    // request in clear, so it sees the requester's account with the target's user id. a has
    // alice and bob, b has carol and dave. Alice connects to carol and to bob; bob asks carol,
    // who never accepts. A MIMI-style handshake naming alice and dave together in room r is
    // co-membership, not a connection.
    let observations = "
        0 a establishment_key_fetch - user_id=mimi://b.example/u/carol | account=alice
        1 b establishment_key_fetch - user_id=mimi://b.example/u/carol
        2 a connection_request      - user_id=mimi://b.example/u/carol | account=alice
        3 b connection_request      - user_id=mimi://b.example/u/carol
        4 a connection_request      - user_id=mimi://a.example/u/bob | account=alice
        5 a connection_request      - user_id=mimi://b.example/u/carol | account=bob
        6 a handshake               r user_id=mimi://a.example/u/alice | user_id=mimi://b.example/u/dave
    ";
    let truth = "
        alice@a.example
        bob@a.example
        carol@b.example
        dave@b.example
    ";
    let mode = mode_of(
        "no-channel",
        observations,
        truth,
        "",
        vec![connection("alice", "carol"), connection("alice", "bob")],
        vec![],
    );
    let a = analyze(&run_of(&[A, B], vec![], mode));
    // a: inferred {ac (o0, o2), ab (o4), bc (o5)}, not ad (o6 is no connection flow);
    // true {ab, ac}. No memberships: every membership metric is n/a.
    let table = [
        ("identity_disclosure", 0.0, 0.0),
        ("identification", 0.0, 0.0),
        ("cross_room_recall", 0.0, 0.0),
        ("cross_room_precision", 0.0, 0.0),
        ("anonymity_set_min", 0.0, 0.0),
        ("anonymity_set_p10", 0.0, 0.0),
        ("anonymity_set_median", 0.0, 0.0),
        ("anonymity_unique_fraction", 0.0, 0.0),
        ("anonymity_entropy_mean", 0.0, 0.0),
        ("degree_of_anonymity_mean", 0.0, 0.0),
        ("social_graph_precision", 0.0, 0.0),
        ("social_graph_recall", 0.0, 0.0),
        ("social_graph_f1", 0.0, 0.0),
        ("connection_graph_precision", 2.0, 3.0), // bc was only asked for
        ("connection_graph_recall", 2.0, 2.0),
        ("connection_graph_f1", 4.0, 5.0),
        ("message_attribution", 0.0, 0.0),
        ("last_resort_rooms", 0.0, 0.0),
        ("last_resort_pairs", 0.0, 0.0),
        ("last_resort_links", 0.0, 0.0),
    ];
    check(
        &a,
        "no-channel",
        A,
        Scope::All,
        &no_connection_rooms(&table),
    );
    let get = |observer: &str, scope: Scope, metric: &str| {
        let r = a
            .metrics
            .iter()
            .find(|r| r.observer == observer && r.scope == scope && r.metric == metric)
            .unwrap();
        (r.value, r.numerator.unwrap(), r.denominator)
    };
    // Own users of a: alice and bob; true {ab}, inferred {ab}.
    assert_eq!(
        get(A, Scope::Own, "connection_graph_precision"),
        (Some(1.0), 1.0, 1.0)
    );
    // b sees only carol's user id, from alpha's domain: no pair.
    assert_eq!(
        get(B, Scope::All, "connection_graph_precision"),
        (None, 0.0, 0.0)
    );
    assert_eq!(
        get(B, Scope::All, "connection_graph_recall"),
        (Some(0.0), 0.0, 2.0)
    );
}

// ---------------------------------------------------------------------------------------------
// Coalitions pool observations; their own users are the users of every member.

#[test]
fn coalition_pools_observations_and_owns_its_members_users() {
    // Providers a (alice), b (carol), h (erin, frank); r1 on hub h with alice, carol, erin;
    // r2 on hub h with alice, carol. Carol sends m1 in r2. Alice and carol are connected.
    // Coalition "a+b" of a and b.
    const H: &str = "h.example";
    let observations = "
        0  a queue_registration -  queue_id=Qa account=alice
        1  b queue_registration -  queue_id=Qc account=carol
        2  h queue_registration -  queue_id=Qe account=erin
        3  h handshake          r1 user_pseudonym=P1a encrypted_queue_id=E1a
                                 | user_pseudonym=P1c encrypted_queue_id=E1c
                                 | user_pseudonym=P1e encrypted_queue_id=E1e
        4  a fanout_welcome     r1 encrypted_queue_id=E1a queue_id=Qa
        5  b fanout_welcome     r1 encrypted_queue_id=E1c queue_id=Qc
        6  h fanout_welcome     r1 encrypted_queue_id=E1e queue_id=Qe
        7  h handshake          r2 user_pseudonym=P2a encrypted_queue_id=E2a
                                 | user_pseudonym=P2c encrypted_queue_id=E2c
        8  a fanout_welcome     r2 encrypted_queue_id=E2a queue_id=Qa
        9  b fanout_welcome     r2 encrypted_queue_id=E2c queue_id=Qc
        10 b app_message        r2 user_pseudonym=P2c account=carol message=m1
        11 h app_message        r2 user_pseudonym=P2c message=m1
        12 a fanout_message     r2 user_pseudonym=P2c message=m1 | encrypted_queue_id=E2a queue_id=Qa
    ";
    let truth = "
        alice@a.example
        carol@b.example
        erin@h.example
        frank@h.example
        queue_id Qa alice
        queue_id Qc carol
        queue_id Qe erin
        user_pseudonym P1a alice
        user_pseudonym P1c carol
        user_pseudonym P1e erin
        user_pseudonym P2a alice
        user_pseudonym P2c carol
        encrypted_queue_id E1a alice
        encrypted_queue_id E1c carol
        encrypted_queue_id E1e erin
        encrypted_queue_id E2a alice
        encrypted_queue_id E2c carol
    ";
    let memberships = "
        r1 room alice 0
        r1 room carol 0
        r1 room erin  0
        r2 room alice 0
        r2 room carol 0
    ";
    let mode = mode_of(
        "mimimi",
        observations,
        truth,
        memberships,
        vec![connection("alice", "carol")],
        vec![message("m1", "r2", "carol")],
    );
    let coalition = Coalition {
        name: "a+b".to_string(),
        members: vec![A.to_string(), B.to_string()],
    };
    let a = analyze(&run_of(&[A, B, H], vec![coalition], mode));
    assert_eq!(a.observers, vec![A, B, H, "a+b", "all"]);
    assert_eq!(a.metrics.len(), ADVERSARIES.len() * 5 * 3 * METRICS.len());

    // a+b pools o0, o1, o4, o5, o8, o9, o10, o12: {Qa, account alice, E1a, E2a},
    // {Qc, account carol, E1c, E2c, P2c, m1}. a1, c1, a2, c2 disclosed; e1: no item.
    // Own = alice, carol; foreign = erin. Sizes: own 1 each; e1: h has 2 users: 2. N = 4.
    // Social: true {ac, ae, ce}; inferred {ac}. Connections: true {ac}; inferred {}.
    let table = [
        ("identity_disclosure", 4.0, 4.0),
        ("identification", 4.0, 4.0),
        ("cross_room_recall", 2.0, 2.0),
        ("cross_room_precision", 2.0, 2.0),
        ("anonymity_set_min", 1.0, 4.0),
        ("anonymity_set_p10", 1.0, 4.0),
        ("anonymity_set_median", 1.0, 4.0),
        ("anonymity_unique_fraction", 4.0, 4.0),
        ("anonymity_entropy_mean", 0.0, 4.0),
        ("degree_of_anonymity_mean", 0.0, 4.0),
        ("social_graph_precision", 1.0, 1.0),
        ("social_graph_recall", 1.0, 1.0),
        ("social_graph_f1", 2.0, 2.0),
        ("connection_graph_precision", 0.0, 0.0),
        ("connection_graph_recall", 0.0, 1.0),
        ("connection_graph_f1", 0.0, 1.0),
        ("message_attribution", 1.0, 1.0), // m1: a's fanout joined with b's app_message
        ("last_resort_rooms", 0.0, 4.0),
        ("last_resort_pairs", 0.0, 2.0),
        ("last_resort_links", 0.0, 0.0),
    ];
    check(
        &a,
        "mimimi",
        "a+b",
        Scope::Own,
        &no_connection_rooms(&table),
    );
    let table = [
        ("identity_disclosure", 0.0, 1.0),
        ("identification", 0.0, 1.0),
        ("cross_room_recall", 0.0, 0.0),
        ("cross_room_precision", 0.0, 0.0),
        ("anonymity_set_min", 2.0, 1.0),
        ("anonymity_set_p10", 2.0, 1.0),
        ("anonymity_set_median", 2.0, 1.0),
        ("anonymity_unique_fraction", 0.0, 1.0),
        ("anonymity_entropy_mean", 1.0, 1.0),
        ("degree_of_anonymity_mean", 0.5, 1.0),
        ("social_graph_precision", 0.0, 0.0),
        ("social_graph_recall", 0.0, 0.0),
        ("social_graph_f1", 0.0, 0.0),
        ("connection_graph_precision", 0.0, 0.0),
        ("connection_graph_recall", 0.0, 0.0),
        ("connection_graph_f1", 0.0, 0.0),
        ("message_attribution", 0.0, 0.0),
        ("last_resort_rooms", 0.0, 1.0),
        ("last_resort_pairs", 0.0, 0.0),
        ("last_resort_links", 0.0, 0.0),
    ];
    check(
        &a,
        "mimimi",
        "a+b",
        Scope::Foreign,
        &no_connection_rooms(&table),
    );
    let table = [
        ("identity_disclosure", 4.0, 5.0),
        ("identification", 4.0, 5.0),
        ("cross_room_recall", 2.0, 2.0),
        ("cross_room_precision", 2.0, 2.0),
        ("anonymity_set_min", 1.0, 5.0), // [1, 1, 1, 1, 2]
        ("anonymity_set_p10", 1.0, 5.0),
        ("anonymity_set_median", 1.0, 5.0),
        ("anonymity_unique_fraction", 4.0, 5.0),
        ("anonymity_entropy_mean", 1.0, 5.0),
        ("degree_of_anonymity_mean", 0.5, 5.0),
        ("social_graph_precision", 1.0, 1.0),
        ("social_graph_recall", 1.0, 3.0),
        ("social_graph_f1", 2.0, 4.0),
        ("connection_graph_precision", 0.0, 0.0),
        ("connection_graph_recall", 0.0, 1.0),
        ("connection_graph_f1", 0.0, 1.0),
        ("message_attribution", 1.0, 1.0),
        ("last_resort_rooms", 0.0, 5.0),
        ("last_resort_pairs", 0.0, 2.0),
        ("last_resort_links", 0.0, 0.0),
    ];
    check(
        &a,
        "mimimi",
        "a+b",
        Scope::All,
        &no_connection_rooms(&table),
    );
    // a alone: carol is foreign and unnamed (c1 has no item at a; c2 only P2c, in {P2c, m1}).
    let get = |observer: &str, scope: Scope, metric: &str| {
        let r = a
            .metrics
            .iter()
            .find(|r| r.observer == observer && r.scope == scope && r.metric == metric)
            .unwrap();
        (r.numerator.unwrap(), r.denominator)
    };
    assert_eq!(get(A, Scope::Foreign, "identity_disclosure"), (0.0, 3.0)); // c1, e1, c2
    assert_eq!(get(A, Scope::Foreign, "message_attribution"), (0.0, 1.0));
    // The hub h alone names only its own erin: alice and carol are foreign and unnamed.
    assert_eq!(get(H, Scope::Own, "identity_disclosure"), (1.0, 1.0));
    assert_eq!(get(H, Scope::Foreign, "identity_disclosure"), (0.0, 4.0));
    assert_eq!(get(H, Scope::Foreign, "cross_room_recall"), (0.0, 2.0));
}

// ---------------------------------------------------------------------------------------------
// Precision below 1: one subject carries two users' items.

#[test]
fn a_shared_signature_key_makes_a_wrong_link() {
    // a has alice and bob, b has carol; r1 (alice, carol) and r2 (bob, carol), both on hub b.
    // Alice and bob share a device whose signature key K appears in both rooms, so the hub
    // merges alice's r1 pseudonym with bob's r2 pseudonym. Carol's pseudonyms are linked
    // through her account at her own provider.
    let observations = "
        0 b handshake   r1 user_pseudonym=P1a signature_key=K | user_pseudonym=P1c signature_key=K1c
        1 b handshake   r2 user_pseudonym=P2b signature_key=K | user_pseudonym=P2c signature_key=K2c
        2 b app_message r1 user_pseudonym=P1c account=carol
        3 b app_message r2 user_pseudonym=P2c account=carol
    ";
    let truth = "
        alice@a.example
        bob@a.example
        carol@b.example
        user_pseudonym P1a alice
        user_pseudonym P2b bob
        user_pseudonym P1c carol
        user_pseudonym P2c carol
        signature_key K alice
        signature_key K bob
        signature_key K1c carol
        signature_key K2c carol
    ";
    let memberships = "
        r1 room alice 0
        r1 room carol 0
        r2 room bob   0
        r2 room carol 0
    ";
    let mode = mode_of("mimimi", observations, truth, memberships, vec![], vec![]);
    let a = analyze(&run_of(&[A, B], vec![], mode));
    // b: X = {P1a, K, P2b}, C = {P1c, K1c, account carol, P2c, K2c}. a1 -> {X}, b2 -> {X},
    // c1, c2 -> {C} disclosed. Linked pairs in two rooms: a1-b2 (wrong), c1-c2 (right).
    // Own = carol; foreign = alice, bob. Sizes: own [1, 1]; a1, b2: a has 2 users: [2, 2].
    // Social: true {ac, bc}; inferred {} (only carol disclosed).
    let table = [
        ("identity_disclosure", 2.0, 2.0),
        ("identification", 2.0, 2.0),
        ("cross_room_recall", 1.0, 1.0),
        ("cross_room_precision", 1.0, 1.0), // a1-b2 is not an own pair
        ("anonymity_set_min", 1.0, 2.0),
        ("anonymity_set_p10", 1.0, 2.0),
        ("anonymity_set_median", 1.0, 2.0),
        ("anonymity_unique_fraction", 2.0, 2.0),
        ("anonymity_entropy_mean", 0.0, 2.0),
        ("degree_of_anonymity_mean", 0.0, 2.0),
        ("social_graph_precision", 0.0, 0.0),
        ("social_graph_recall", 0.0, 0.0),
        ("social_graph_f1", 0.0, 0.0),
        ("connection_graph_precision", 0.0, 0.0),
        ("connection_graph_recall", 0.0, 0.0),
        ("connection_graph_f1", 0.0, 0.0),
        ("message_attribution", 0.0, 0.0),
        ("last_resort_rooms", 0.0, 2.0),
        ("last_resort_pairs", 0.0, 1.0),
        ("last_resort_links", 0.0, 0.0),
    ];
    check(&a, "mimimi", B, Scope::Own, &no_connection_rooms(&table));
    let table = [
        ("identity_disclosure", 0.0, 2.0),
        ("identification", 0.0, 2.0),
        ("cross_room_recall", 0.0, 0.0), // alice and bob are in one room each
        ("cross_room_precision", 0.0, 1.0), // a1-b2: two users
        ("anonymity_set_min", 2.0, 2.0),
        ("anonymity_set_p10", 2.0, 2.0),
        ("anonymity_set_median", 2.0, 2.0),
        ("anonymity_unique_fraction", 0.0, 2.0),
        ("anonymity_entropy_mean", 2.0, 2.0),
        ("degree_of_anonymity_mean", 2.0 / l3(), 2.0),
        ("social_graph_precision", 0.0, 0.0),
        ("social_graph_recall", 0.0, 0.0),
        ("social_graph_f1", 0.0, 0.0),
        ("connection_graph_precision", 0.0, 0.0),
        ("connection_graph_recall", 0.0, 0.0),
        ("connection_graph_f1", 0.0, 0.0),
        ("message_attribution", 0.0, 0.0),
        ("last_resort_rooms", 0.0, 2.0),
        ("last_resort_pairs", 0.0, 0.0),
        ("last_resort_links", 0.0, 0.0),
    ];
    check(
        &a,
        "mimimi",
        B,
        Scope::Foreign,
        &no_connection_rooms(&table),
    );
    let table = [
        ("identity_disclosure", 2.0, 4.0),
        ("identification", 2.0, 4.0),
        ("cross_room_recall", 1.0, 1.0),
        ("cross_room_precision", 1.0, 2.0), // c1-c2 right, a1-b2 wrong
        ("anonymity_set_min", 1.0, 4.0),    // [1, 1, 2, 2]
        ("anonymity_set_p10", 1.0, 4.0),
        ("anonymity_set_median", 1.0, 4.0),
        ("anonymity_unique_fraction", 2.0, 4.0),
        ("anonymity_entropy_mean", 2.0, 4.0),
        ("degree_of_anonymity_mean", 2.0 / l3(), 4.0),
        ("social_graph_precision", 0.0, 0.0),
        ("social_graph_recall", 0.0, 2.0),
        ("social_graph_f1", 0.0, 2.0),
        ("connection_graph_precision", 0.0, 0.0),
        ("connection_graph_recall", 0.0, 0.0),
        ("connection_graph_f1", 0.0, 0.0),
        ("message_attribution", 0.0, 0.0),
        ("last_resort_rooms", 0.0, 4.0),
        ("last_resort_pairs", 0.0, 1.0),
        ("last_resort_links", 0.0, 0.0),
    ];
    check(&a, "mimimi", B, Scope::All, &no_connection_rooms(&table));
    // c1 and c2 by carol's account in each room's app_message; c1-c2 meet at that account.
    assert_eq!(
        attribution(&a, B, Scope::Own),
        flows(&[("app_message", 2, 1)])
    );
    // The wrong link a1-b2 is of two users: no same-user pair, nothing attributed.
    assert_eq!(attribution(&a, B, Scope::Foreign), flows(&[]));
}

// ---------------------------------------------------------------------------------------------
// Reading a run directory.

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Hashes of the run directory `write_run` writes.
const SHA: &str = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";
const FF: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
const ZERO: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn write_run(dir: &Path) {
    write(
        dir,
        "summary.json",
        &format!(
            r#"{{"scenario": "tiny", "seed": 7, "run": 2,
            "tool_version": "0.1.0",
            "scenario_sha256": "{SHA}",
            "parameters": {{"latency_us": 20000, "channel": "relay",
                            "ablation": {{"no-relay": {{"anonymous_channel": false}}}}}},
            "providers": ["a.example", "b.example"],
            "coalitions": [{{"name": "both", "members": ["a.example", "b.example"]}}],
            "mode_order": ["mimi", "mimimi"],
            "modes": {{
              "mimimi": {{"mechanisms": ["pseudonymous_credentials"], "fingerprint": "{FF}", "events": 3}},
              "mimi": {{"mechanisms": [], "fingerprint": "{ZERO}"}}
            }}}}"#
        ),
    );
    for mode in ["mimi", "mimimi"] {
        write(
            dir,
            &format!("{mode}/observations.csv"),
            "seq,time_us,observer,flow,peer,room,size,subject,kind,value\n\
             0,20000,a.example,kp_upload,account:alice,,1576,0,user_id,mimi://a.example/u/alice\n\
             0,20000,a.example,kp_upload,account:alice,,1576,0,account,alice\n\
             1,30000,b.example,room_ack,domain:a.example,r1,29,,,\n\
             2,40000,b.example,handshake,domain:a.example,r1,900,0,user_pseudonym,\"x,y@a.example\"\n\
             2,40000,b.example,handshake,domain:a.example,r1,900,1,signature_key,abcd\n",
        );
        write(
            dir,
            &format!("{mode}/truth.csv"),
            "kind,value,user,client\n\
             user_id,mimi://a.example/u/alice,alice,\n\
             signature_key,abcd,alice,alice/1\n",
        );
        write(
            dir,
            &format!("{mode}/memberships.csv"),
            "room,purpose,user,client,from_us,to_us,last_resort,key_package_set\n\
             r1,room,alice,alice/1,40000,,1,00ff00ff00ff00ff\n\
             c1,connection,alice,alice/1,1000,2000,0,\n",
        );
        write(
            dir,
            &format!("{mode}/connections.csv"),
            "requester,target\nalice,bob\n",
        );
        write(
            dir,
            &format!("{mode}/messages.csv"),
            "message,room,user,client,time_us\n01e018d4,r1,alice,alice/1,50000\n",
        );
    }
}

#[test]
fn load_reads_a_run_directory() {
    let tmp = tempfile::tempdir().unwrap();
    write_run(tmp.path());
    let run = input::load(tmp.path()).unwrap();
    assert_eq!(run.scenario, "tiny");
    assert_eq!((run.seed, run.run), (7, 2));
    assert_eq!(run.providers, vec![A, B]);
    assert_eq!(
        run.coalitions,
        vec![Coalition {
            name: "both".to_string(),
            members: vec![A.to_string(), B.to_string()],
        }]
    );
    let modes: Vec<_> = run.modes.iter().map(|m| m.mode.as_str()).collect();
    assert_eq!(modes, vec!["mimi", "mimimi"], "modes in mode_order");
    // Provenance: what the reports show at the top.
    assert_eq!(run.tool_version.as_deref(), Some("0.1.0"));
    assert_eq!(run.scenario_sha256.as_deref(), Some(SHA));
    assert_eq!(run.modes[0].fingerprint.as_deref(), Some(ZERO));
    assert_eq!(run.modes[1].fingerprint.as_deref(), Some(FF));
    let params = run.parameters.as_ref().unwrap();
    assert_eq!(params["latency_us"], 20000);
    assert_eq!(run.modes[1].mechanisms, vec!["pseudonymous_credentials"]);
    let m = &run.modes[0];
    assert_eq!(m.observations.len(), 3);
    assert_eq!(
        m.observations[0],
        obs_with(
            0,
            20000,
            A,
            "kp_upload",
            "account:alice",
            None,
            1576,
            vec![
                (0, "user_id", "mimi://a.example/u/alice"),
                (0, "account", "alice"),
            ]
        )
    );
    assert_eq!(
        m.observations[1],
        obs_with(
            1,
            30000,
            B,
            "room_ack",
            "domain:a.example",
            Some("r1"),
            29,
            vec![]
        )
    );
    assert_eq!(m.observations[2].items[0].value, "x,y@a.example");
    assert_eq!(m.observations[2].items[1].subject, 1);
    assert_eq!(m.truth[0].client, "");
    assert_eq!(m.truth[1].client, "alice/1");
    assert_eq!(
        m.memberships,
        vec![
            Membership {
                room: "r1".to_string(),
                purpose: "room".to_string(),
                user: "alice".to_string(),
                client: "alice/1".to_string(),
                from_us: 40000,
                to_us: None,
                last_resort: true,
                key_package_set: Some("00ff00ff00ff00ff".to_string()),
            },
            Membership {
                room: "c1".to_string(),
                purpose: "connection".to_string(),
                user: "alice".to_string(),
                client: "alice/1".to_string(),
                from_us: 1000,
                to_us: Some(2000),
                last_resort: false,
                key_package_set: None,
            },
        ]
    );
    assert_eq!(
        m.connections,
        vec![("alice".to_string(), "bob".to_string())]
    );
    assert_eq!(
        m.messages,
        vec![message_at("01e018d4", "r1", "alice", 50000)]
    );
    // The loaded run can be analysed; its provenance comes along, parameters flattened.
    let a = analyze(&run);
    assert_eq!(a.observers, vec![A, B, "both", "all"]);
    assert_eq!(
        a.provenance.fingerprints,
        vec![
            ("mimi".to_string(), ZERO.to_string()),
            ("mimimi".to_string(), FF.to_string())
        ]
    );
    assert_eq!(
        a.provenance.parameters,
        Some(vec![
            (
                "ablation.no-relay.anonymous_channel".to_string(),
                "false".to_string()
            ),
            ("channel".to_string(), "relay".to_string()),
            ("latency_us".to_string(), "20000".to_string()),
        ])
    );
    assert_eq!(
        a.metrics.len(),
        ADVERSARIES.len() * 2 * 4 * 3 * METRICS.len()
    );
}

/// A summary.json without tool version, scenario hash, parameters or fingerprints (an older
/// run directory) reads with them absent.
#[test]
fn load_reads_a_summary_without_provenance() {
    let tmp = tempfile::tempdir().unwrap();
    write_run(tmp.path());
    write(
        tmp.path(),
        "summary.json",
        r#"{"scenario": "tiny", "seed": 7, "run": 2, "providers": ["a.example", "b.example"],
            "mode_order": ["mimi", "mimimi"],
            "modes": {"mimimi": {"mechanisms": []}, "mimi": {"mechanisms": []}}}"#,
    );
    let run = input::load(tmp.path()).unwrap();
    assert_eq!(run.tool_version, None);
    assert_eq!(run.scenario_sha256, None);
    assert_eq!(run.parameters, None);
    assert!(run.modes.iter().all(|m| m.fingerprint.is_none()));
    let a = analyze(&run);
    assert!(a.provenance.fingerprints.is_empty());
    assert_eq!(a.provenance.parameters, None);
}

/// A run directory written before `memberships.csv` had `key_package_set` reads as if no
/// client had entered with a known set.
#[test]
fn load_reads_memberships_without_key_package_set() {
    let tmp = tempfile::tempdir().unwrap();
    write_run(tmp.path());
    write(
        tmp.path(),
        "mimi/memberships.csv",
        "room,purpose,user,client,from_us,to_us,last_resort\n\
         r1,room,alice,alice/1,40000,,1\n",
    );
    let run = input::load(tmp.path()).unwrap();
    let m = &run.modes[0].memberships;
    assert_eq!(m.len(), 1);
    assert!(m[0].last_resort);
    assert_eq!(m[0].key_package_set, None);
    assert_eq!(
        run.modes[1].memberships[0].key_package_set.as_deref(),
        Some("00ff00ff00ff00ff")
    );
}

#[allow(clippy::too_many_arguments)]
fn obs_with(
    seq: u64,
    time_us: u64,
    observer: &str,
    flow: &str,
    peer: &str,
    room: Option<&str>,
    size: u64,
    items: Vec<(u32, &str, &str)>,
) -> Observation {
    Observation {
        seq,
        time_us,
        observer: observer.to_string(),
        flow: flow.to_string(),
        peer: peer.to_string(),
        room: room.map(str::to_string),
        size,
        items: items
            .into_iter()
            .map(|(subject, kind, value)| Item {
                subject,
                kind: kind.to_string(),
                value: value.to_string(),
            })
            .collect(),
    }
}

fn message_at(id: &str, room: &str, user: &str, time_us: u64) -> Message {
    Message {
        time_us,
        ..message(id, room, user)
    }
}

fn load_error(dir: &Path) -> String {
    let e: AnalysisError = input::load(dir).unwrap_err();
    e.to_string()
}

#[test]
fn load_errors_name_the_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    write_run(tmp.path());
    // Line 4 (the header is line 1) has a non-numeric size.
    let path = tmp.path().join("mimimi/observations.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace(",r1,29,", ",r1,big,")).unwrap();
    assert_eq!(
        load_error(tmp.path()),
        "mimimi/observations.csv line 4: `size` is not a number: `big`"
    );

    write_run(tmp.path());
    // A row with a field missing.
    write(
        tmp.path(),
        "mimi/memberships.csv",
        "room,purpose,user,client,from_us,to_us,last_resort\nr1,room,alice,alice/1,40000,\n",
    );
    assert_eq!(
        load_error(tmp.path()),
        "mimi/memberships.csv line 2: expected 7 fields, found 6"
    );

    write_run(tmp.path());
    write(
        tmp.path(),
        "mimi/memberships.csv",
        "room,purpose,user,client,from_us,to_us,last_resort\nr1,room,alice,alice/1,1,,0\nr1,lobby,bob,bob/1,1,,0\n",
    );
    assert_eq!(
        load_error(tmp.path()),
        "mimi/memberships.csv line 3: `purpose` must be `room` or `connection`, not `lobby`"
    );

    write_run(tmp.path());
    // Rows of one seq must be consecutive.
    write(
        tmp.path(),
        "mimi/observations.csv",
        "seq,time_us,observer,flow,peer,room,size,subject,kind,value\n\
         0,1,a.example,f,p,,1,0,account,alice\n\
         1,1,a.example,f,p,,1,0,account,bob\n\
         0,1,a.example,f,p,,1,1,account,carol\n",
    );
    assert_eq!(
        load_error(tmp.path()),
        "mimi/observations.csv line 4: rows of seq 0 are not consecutive"
    );

    write_run(tmp.path());
    // An old run directory without the last_resort column.
    write(
        tmp.path(),
        "mimi/memberships.csv",
        "room,purpose,user,client,from_us,to_us\nr1,room,alice,alice/1,1,\n",
    );
    assert_eq!(
        load_error(tmp.path()),
        "mimi/memberships.csv line 1: missing column `last_resort` in header"
    );

    write_run(tmp.path());
    write(
        tmp.path(),
        "mimi/memberships.csv",
        "room,purpose,user,client,from_us,to_us,last_resort,key_package_set\n\
         r1,room,alice,alice/1,1,,1,00ff\n",
    );
    assert_eq!(
        load_error(tmp.path()),
        "mimi/memberships.csv line 2: `key_package_set` must be empty or 16 hex digits, not `00ff`"
    );

    write_run(tmp.path());
    std::fs::remove_file(tmp.path().join("mimimi/messages.csv")).unwrap();
    assert!(load_error(tmp.path()).starts_with("mimimi/messages.csv: "));

    write_run(tmp.path());
    write(tmp.path(), "summary.json", r#"{"scenario": "tiny"}"#);
    assert!(load_error(tmp.path()).starts_with("summary.json: missing field"));

    write_run(tmp.path());
    let path = tmp.path().join("summary.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace(SHA, "5e5e")).unwrap();
    assert_eq!(
        load_error(tmp.path()),
        "summary.json: scenario_sha256 `5e5e` is not a SHA-256 in hex (64 hex digits)"
    );
    std::fs::write(&path, text.replace(FF, "ff")).unwrap();
    assert_eq!(
        load_error(tmp.path()),
        "summary.json: the fingerprint `ff` of mode `mimimi` is not a SHA-256 in hex (64 hex \
         digits)"
    );
}

// ---------------------------------------------------------------------------------------------
// A real run directory, when one is given (MIMIMI_RUN_DIR): print the headline numbers.

#[test]
#[ignore = "needs a run directory in MIMIMI_RUN_DIR"]
fn print_run_directory() {
    let dir = std::env::var("MIMIMI_RUN_DIR").expect("MIMIMI_RUN_DIR");
    let run = input::load(Path::new(&dir)).unwrap();
    let a = analyze(&run);
    for r in &a.metrics {
        println!(
            "{} {} {} {} {:?} ({:?}/{})",
            r.mode,
            r.observer,
            r.scope.as_str(),
            r.metric,
            r.value,
            r.numerator,
            r.denominator
        );
    }
    for r in &a.attribution {
        println!(
            "attribution {} {} {} disclosed={} linked={}",
            r.mode, r.observer, r.flow, r.memberships_disclosed, r.room_pairs_linked
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The fingerprint adversary.

/// One metric's (value, numerator, denominator) for an adversary.
fn metric(
    a: &Analysis,
    adversary: &str,
    observer: &str,
    scope: Scope,
    name: &str,
) -> (Option<f64>, Option<f64>, f64) {
    let r = a
        .metrics
        .iter()
        .find(|r| {
            r.adversary == adversary
                && r.observer == observer
                && r.scope == scope
                && r.metric == name
        })
        .unwrap_or_else(|| panic!("no {adversary} {observer} {scope:?} {name}"));
    (r.value, r.numerator, r.denominator)
}

/// Hub h hosts three rooms of b's users: bob (two devices), carl and dan (one each).
/// r1: bob as p1 (leaves c1, c2), carl as q1; r2: bob as p2 (leaves d1, d2), dan as s2;
/// r3: carl as q3, dan as s3. No identifier repeats across rooms.
///
/// Fingerprints at h: (b.example, 2 devices) in r1 (p1) and r2 (p2), one entry per room, two
/// entries: rare at max_class 2, linked. (b.example, 1 device): q1, s2, q3, s3, two in r3:
/// ambiguous, never linked.
/// Same-user pairs of rooms: b1-b2, c1-c3, d2-d3 (all foreign to h).
/// - identifier: recall 0/3, precision n/a (nothing linked);
/// - fingerprint and combined: b1-b2 linked, recall 1/3, precision 1/1;
/// - anonymity sets without a directory: b.example has 3 users, none named: 3 each,
///   identification 0/6;
/// - with a directory (bob 2 devices, carl and dan 1): the two-device fingerprint is consistent
///   with bob alone, so his two memberships have sets of 1: identification 2/6 under
///   fingerprint and combined, still 0/6 under identifier; the one-device fingerprint is
///   consistent with all three (sets of 3).
fn fingerprint_run(directory: bool) -> RunData {
    let observations = "
        1 h handshake r1 user_pseudonym=p1@b.example client_pseudonym=c1
          | user_pseudonym=p1@b.example client_pseudonym=c2
          | user_pseudonym=q1@b.example client_pseudonym=e1
        2 h handshake r2 user_pseudonym=p2@b.example client_pseudonym=d1
          | user_pseudonym=p2@b.example client_pseudonym=d2
          | user_pseudonym=s2@b.example client_pseudonym=f2
        3 h handshake r3 user_pseudonym=q3@b.example client_pseudonym=e3
          | user_pseudonym=s3@b.example client_pseudonym=f3
    ";
    let truth = "
        bob@b.example
        carl@b.example
        dan@b.example
        user_pseudonym p1@b.example bob
        user_pseudonym p2@b.example bob
        client_pseudonym c1 bob
        client_pseudonym d1 bob
        user_pseudonym q1@b.example carl
        user_pseudonym q3@b.example carl
        client_pseudonym e1 carl
        client_pseudonym e3 carl
        user_pseudonym s2@b.example dan
        user_pseudonym s3@b.example dan
        client_pseudonym f2 dan
        client_pseudonym f3 dan
    ";
    let memberships = "
        r1 room bob 0
        r1 room carl 0
        r2 room bob 0
        r2 room dan 0
        r3 room carl 0
        r3 room dan 0
    ";
    let mut mode = mode_of("mimimi", observations, truth, memberships, vec![], vec![]);
    // bob's second device.
    for value in ["c2", "d2"] {
        mode.truth.push(Truth {
            kind: "client_pseudonym".into(),
            value: value.into(),
            user: "bob".into(),
            client: "bob/2".into(),
        });
    }
    let mut run = run_of(&["h.example", "b.example"], vec![], mode);
    run.adversary.directory = directory;
    run
}

#[test]
fn a_rare_fingerprint_links_a_users_rooms_and_a_common_one_does_not() {
    let a = analyze(&fingerprint_run(false));
    let h = "h.example";
    assert_eq!(
        metric(&a, "identifier", h, Scope::Foreign, "cross_room_recall"),
        (Some(0.0), Some(0.0), 3.0)
    );
    assert_eq!(
        metric(&a, "identifier", h, Scope::Foreign, "cross_room_precision"),
        (None, Some(0.0), 0.0)
    );
    for adversary in ["fingerprint", "combined"] {
        assert_eq!(
            metric(&a, adversary, h, Scope::Foreign, "cross_room_recall"),
            (Some(1.0 / 3.0), Some(1.0), 3.0),
            "{adversary}"
        );
        assert_eq!(
            metric(&a, adversary, h, Scope::Foreign, "cross_room_precision"),
            (Some(1.0), Some(1.0), 1.0),
            "{adversary}"
        );
        // Without a directory the fingerprint narrows no anonymity set.
        assert_eq!(
            metric(&a, adversary, h, Scope::Foreign, "identification"),
            (Some(0.0), Some(0.0), 6.0),
            "{adversary}"
        );
        assert_eq!(
            metric(&a, adversary, h, Scope::Foreign, "anonymity_set_min"),
            (Some(3.0), None, 6.0),
            "{adversary}"
        );
    }
    // The leak attribution (of the strongest adversary) names the fingerprint for that pair.
    let rows = attribution(&a, h, Scope::Foreign);
    assert!(
        rows.iter()
            .any(|(flow, _, linked)| flow == "fingerprint" && *linked == 1),
        "{rows:?}"
    );
    // b.example sees nothing of the rooms: nothing measured.
    assert_eq!(
        metric(&a, "combined", "b.example", Scope::Own, "cross_room_recall"),
        (None, Some(0.0), 0.0)
    );
}

#[test]
fn a_directory_narrows_a_unique_fingerprint_to_one_user() {
    let a = analyze(&fingerprint_run(true));
    let h = "h.example";
    assert_eq!(
        metric(&a, "identifier", h, Scope::Foreign, "identification"),
        (Some(0.0), Some(0.0), 6.0)
    );
    for adversary in ["fingerprint", "combined"] {
        assert_eq!(
            metric(&a, adversary, h, Scope::Foreign, "identification"),
            (Some(2.0 / 6.0), Some(2.0), 6.0),
            "{adversary}"
        );
        assert_eq!(
            metric(&a, adversary, h, Scope::Foreign, "anonymity_set_min"),
            (Some(1.0), None, 6.0),
            "{adversary}"
        );
        assert_eq!(
            metric(&a, adversary, h, Scope::Foreign, "anonymity_set_median"),
            (Some(3.0), None, 6.0),
            "{adversary}"
        );
        // Named by nobody: disclosure stays 0.
        assert_eq!(
            metric(&a, adversary, h, Scope::Foreign, "identity_disclosure"),
            (Some(0.0), Some(0.0), 6.0),
            "{adversary}"
        );
    }
}

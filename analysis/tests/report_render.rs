//! The report renderers on hand-built analyses: exact CSV rows, the Markdown headline, a
//! self-contained and escaped HTML page, and byte-identical output on every call.
//!
//! `REPORT_CHECK_DIR=/some/dir cargo test -p mimimi-analysis --test report_render` also writes
//! the reports of a larger, realistic analysis there, to look at.

use mimimi_analysis::model::{
    Analysis, AnonymitySizes, AttributionRow, CurvePoint, MetricRow, Provenance, Scope,
    ALL_PROVIDERS, METRICS,
};
use mimimi_analysis::report::{curves_csv, fmt_num, metrics_csv, report_html, report_md};

const ALL_MECHANISMS: [&str; 7] = [
    "pseudonymous_credentials",
    "fresh_signature_keys",
    "encrypted_queue_ids",
    "anonymous_key_packages",
    "encrypted_connection_requests",
    "anonymous_channel",
    "last_resort_policy",
];

fn row(mode: &str, observer: &str, scope: Scope, metric: &str, num: f64, den: f64) -> MetricRow {
    MetricRow {
        mode: mode.to_owned(),
        observer: observer.to_owned(),
        adversary: "combined".to_owned(),
        scope,
        metric: metric.to_owned(),
        value: (den != 0.0).then(|| num / den),
        numerator: Some(num),
        denominator: den,
    }
}

fn count(mode: &str, observer: &str, scope: Scope, metric: &str, value: f64, n: f64) -> MetricRow {
    MetricRow {
        mode: mode.to_owned(),
        observer: observer.to_owned(),
        adversary: "combined".to_owned(),
        scope,
        metric: metric.to_owned(),
        value: Some(value),
        numerator: Some(value),
        denominator: n,
    }
}

/// An order statistic of `n` samples (n/a when `n` is 0).
fn order(mode: &str, observer: &str, scope: Scope, metric: &str, value: f64, n: f64) -> MetricRow {
    MetricRow {
        mode: mode.to_owned(),
        observer: observer.to_owned(),
        adversary: "combined".to_owned(),
        scope,
        metric: metric.to_owned(),
        value: (n > 0.0).then_some(value),
        numerator: None,
        denominator: n,
    }
}

fn attribution(
    mode: &str,
    observer: &str,
    scope: Scope,
    flow: &str,
    disclosed: u64,
    linked: u64,
) -> AttributionRow {
    AttributionRow {
        mode: mode.to_owned(),
        observer: observer.to_owned(),
        scope,
        flow: flow.to_owned(),
        memberships_disclosed: disclosed,
        room_pairs_linked: linked,
    }
}

fn sizes(mode: &str, observer: &str, scope: Scope, sizes: &[u64]) -> AnonymitySizes {
    AnonymitySizes {
        mode: mode.to_owned(),
        observer: observer.to_owned(),
        scope,
        sizes: sizes.to_vec(),
    }
}

/// Three modes, two providers and `all`; a scenario name that needs escaping.
fn small() -> Analysis {
    let modes = vec![
        ("mimi".to_owned(), vec![]),
        (
            "mimimi".to_owned(),
            ALL_MECHANISMS.iter().map(|m| m.to_string()).collect(),
        ),
        (
            "pseudonyms-only".to_owned(),
            vec!["pseudonymous_credentials".to_owned()],
        ),
    ];
    let observers = ["alpha.example", "beta.example", ALL_PROVIDERS];
    // Per (mode, observer): identity disclosure foreign (num, den), cross-room recall foreign,
    // cross-room recall own, message attribution all, anonymity median all.
    type Numbers = ((f64, f64), (f64, f64), (f64, f64), (f64, f64), f64);
    let numbers = |mode: &str, observer: &str| -> Numbers {
        match (mode, observer) {
            ("mimi", "alpha.example") => ((6.0, 6.0), (3.0, 3.0), (2.0, 2.0), (10.0, 10.0), 1.0),
            ("mimi", "beta.example") => ((4.0, 4.0), (1.0, 1.0), (3.0, 3.0), (8.0, 8.0), 1.0),
            ("mimi", _) => ((0.0, 0.0), (0.0, 0.0), (5.0, 5.0), (12.0, 12.0), 1.0),
            ("mimimi", "alpha.example") => ((0.0, 6.0), (0.0, 3.0), (2.0, 2.0), (4.0, 10.0), 3.0),
            ("mimimi", "beta.example") => ((0.0, 4.0), (0.0, 1.0), (3.0, 3.0), (5.0, 8.0), 2.0),
            ("mimimi", _) => ((0.0, 0.0), (0.0, 0.0), (5.0, 5.0), (12.0, 12.0), 1.0),
            (_, "alpha.example") => ((3.0, 6.0), (1.0, 3.0), (2.0, 2.0), (7.0, 10.0), 1.5),
            (_, "beta.example") => ((1.0, 4.0), (1.0, 1.0), (3.0, 3.0), (6.0, 8.0), 2.0),
            _ => ((0.0, 0.0), (0.0, 0.0), (5.0, 5.0), (12.0, 12.0), 1.0),
        }
    };
    let mut metrics = Vec::new();
    for (mode, _) in &modes {
        for obs in observers {
            let (idf, crf, cro, att, median) = numbers(mode, obs);
            // Identification: what disclosure names, and under mimimi two of alpha.example's
            // foreign memberships are of a provider with one user.
            let idn = if (mode.as_str(), obs) == ("mimimi", "alpha.example") {
                (2.0, 6.0)
            } else {
                idf
            };
            // Own users: 4 memberships, all named; 2 messages, both attributed. `all` has
            // every user as its own: nothing foreign.
            let everything = obs == ALL_PROVIDERS;
            let (att_foreign, att_own) = if everything {
                ((0.0, 0.0), att)
            } else {
                ((att.0 - 2.0, att.1 - 2.0), (2.0, 2.0))
            };
            let mut push = |scope: Scope, metric: &str, (num, den): (f64, f64)| {
                metrics.push(row(mode, obs, scope, metric, num, den));
            };
            push(Scope::Own, "identity_disclosure", (4.0, 4.0));
            push(Scope::Foreign, "identity_disclosure", idf);
            push(
                Scope::All,
                "identity_disclosure",
                (idf.0 + 4.0, idf.1 + 4.0),
            );
            push(Scope::Own, "identification", (4.0, 4.0));
            push(Scope::Foreign, "identification", idn);
            push(Scope::Foreign, "cross_room_recall", crf);
            push(Scope::Own, "cross_room_recall", cro);
            push(Scope::Foreign, "message_attribution", att_foreign);
            push(Scope::Own, "message_attribution", att_own);
            push(Scope::All, "message_attribution", att);
            metrics.push(order(
                mode,
                obs,
                Scope::All,
                "anonymity_set_median",
                median,
                10.0,
            ));
            metrics.push(order(
                mode,
                obs,
                Scope::Own,
                "anonymity_set_median",
                1.0,
                4.0,
            ));
            metrics.push(order(
                mode,
                obs,
                Scope::Foreign,
                "anonymity_set_median",
                median,
                if everything { 0.0 } else { 6.0 },
            ));
        }
    }
    Analysis {
        scenario: "quick<start> & co".to_owned(),
        seed: 7,
        run: 0,
        provenance: Provenance {
            tool_version: Some("0.1.0".to_owned()),
            scenario_sha256: Some("5e".repeat(32)),
            // pseudonyms-only has none recorded.
            fingerprints: vec![
                ("mimi".to_owned(), "0a".repeat(32)),
                ("mimimi".to_owned(), "0b".repeat(32)),
            ],
            parameters: Some(vec![
                ("channel".to_owned(), "relay".to_owned()),
                ("latency".to_owned(), "20ms".to_owned()),
                ("seed".to_owned(), "7".to_owned()),
            ]),
        },
        modes,
        observers: observers.iter().map(|o| o.to_string()).collect(),
        metrics,
        attribution: vec![
            attribution("mimi", "alpha.example", Scope::Own, "kp_upload", 4, 0),
            attribution("mimi", "alpha.example", Scope::Foreign, "kp_claim", 6, 0),
            attribution(
                "mimi",
                "alpha.example",
                Scope::Foreign,
                "fanout_message",
                0,
                3,
            ),
            attribution("mimi", "alpha.example", Scope::Foreign, "room_ack", 0, 0),
            attribution(
                "mimimi",
                "alpha.example",
                Scope::Own,
                "queue_registration",
                4,
                2,
            ),
            attribution(
                "mimimi",
                "alpha.example",
                Scope::Foreign,
                "fanout_message",
                0,
                0,
            ),
            attribution(
                "pseudonyms-only",
                "beta.example",
                Scope::Foreign,
                "queue_registration",
                1,
                1,
            ),
        ],
        anonymity: vec![
            sizes("mimi", "alpha.example", Scope::Foreign, &[1, 1, 1, 1, 1, 1]),
            sizes(
                "mimimi",
                "alpha.example",
                Scope::Foreign,
                &[2, 3, 3, 3, 4, 4],
            ),
            sizes(
                "pseudonyms-only",
                "alpha.example",
                Scope::Foreign,
                &[1, 1, 1, 3, 3, 4],
            ),
            sizes("mimi", ALL_PROVIDERS, Scope::All, &[1; 10]),
            sizes("mimimi", ALL_PROVIDERS, Scope::All, &[1; 10]),
        ],
        adversaries: Vec::new(),
        adversary_options: Default::default(),
        curves: Vec::new(),
        activity: Vec::new(),
        stats: Vec::new(),
        coalitions: Vec::new(),
    }
}

#[test]
fn csv_header_and_rows() {
    let a = small();
    let csv = String::from_utf8(metrics_csv(&a)).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "scenario,seed,run,mode,observer,adversary,scope,metric,value,numerator,denominator"
    );
    assert_eq!(lines.len(), 1 + a.metrics.len());
    // Rows in `a.metrics` order, each naming its run, so that files concatenate.
    assert_eq!(
        lines[1],
        "quick<start> & co,7,0,mimi,alpha.example,combined,own,identity_disclosure,1,4,4"
    );
    assert!(lines[1..]
        .iter()
        .all(|l| l.starts_with("quick<start> & co,7,0,")));
    assert!(
        csv.contains(",7,0,mimimi,alpha.example,combined,foreign,identity_disclosure,0,0,6\n"),
        "{csv}"
    );
    assert!(
        csv.contains(
            ",7,0,pseudonyms-only,alpha.example,combined,foreign,cross_room_recall,0.333333,1,3\n"
        ),
        "{csv}"
    );
    // An order statistic has no numerator.
    assert!(
        csv.contains(
            ",7,0,pseudonyms-only,alpha.example,combined,all,anonymity_set_median,1.5,,10\n"
        ),
        "{csv}"
    );
    // 0/0 is n/a: an empty value, never 0.
    assert!(
        csv.contains(",7,0,mimimi,all,combined,foreign,identity_disclosure,,0,0\n"),
        "{csv}"
    );
    assert!(csv.ends_with('\n') && !csv.contains('\r'));
}

#[test]
fn csv_quotes_names_with_commas() {
    let mut a = small();
    a.metrics.truncate(1);
    a.metrics[0].observer = "a.example,b.example".to_owned();
    let csv = String::from_utf8(metrics_csv(&a)).unwrap();
    assert_eq!(
        csv.lines().nth(1).unwrap(),
        "quick<start> & co,7,0,mimi,\"a.example,b.example\",combined,own,identity_disclosure,1,4,4"
    );
}

#[test]
fn number_format() {
    assert_eq!(fmt_num(1.0), "1");
    assert_eq!(fmt_num(0.5), "0.5");
    assert_eq!(fmt_num(1.0 / 3.0), "0.333333");
    assert_eq!(fmt_num(0.0), "0");
    assert_eq!(fmt_num(-0.0), "0");
    assert_eq!(fmt_num(24.0), "24");
}

#[test]
fn markdown_headline() {
    let md = report_md(&small());
    assert!(
        md.starts_with("# Linkability report: quick\\<start\\> \\& co (seed 7, run 0)\n"),
        "{md}"
    );
    let header = "| observer \
        | `mimi` disclosure | `mimi` identification | `mimi` recall \
        | `mimimi` disclosure | `mimimi` identification | `mimimi` recall \
        | `pseudonyms-only` disclosure | `pseudonyms-only` identification | `pseudonyms-only` recall |";
    let rule = format!("| --- |{}", " ---: |".repeat(9));
    // One table per scope, foreign first, each under its heading.
    let alpha = "| `alpha.example` \
        | 1 (6/6) | 1 (6/6) | 1 (3/3) \
        | 0 (0/6) | 0.333333 (2/6) | 0 (0/3) \
        | 0.5 (3/6) | 0.5 (3/6) | 0.333333 (1/3) |";
    let beta = "| `beta.example` \
        | 1 (4/4) | 1 (4/4) | 1 (1/1) \
        | 0 (0/4) | 0 (0/4) | 0 (0/1) \
        | 0.25 (1/4) | 0.25 (1/4) | 1 (1/1) |";
    // Nothing foreign to measure for `all`: n/a, not 0.
    let all = format!("| `all` |{}", " n/a (0/0) |".repeat(9));
    let foreign = format!(
        "### Scope `foreign`: other providers' users (the draft's goals)\n\n\
         {header}\n{rule}\n{alpha}\n{beta}\n{all}\n"
    );
    let alpha = "| `alpha.example` |".to_owned() + &" 1 (4/4) | 1 (4/4) | 1 (2/2) |".repeat(3);
    let beta = "| `beta.example` |".to_owned() + &" 1 (4/4) | 1 (4/4) | 1 (3/3) |".repeat(3);
    let all = "| `all` |".to_owned() + &" 1 (4/4) | 1 (4/4) | 1 (5/5) |".repeat(3);
    let own = format!(
        "### Scope `own`: the observer's own users\n\n\
         {header}\n{rule}\n{alpha}\n{beta}\n{all}\n"
    );
    let headline = md.find("## Headline").unwrap();
    let effects = md.find("## Mechanism effects").unwrap();
    let at_foreign = md[headline..effects].find(&foreign).expect(&md);
    let at_own = md[headline..effects].find(&own).expect(&md);
    assert!(at_foreign < at_own);
    // What the numbers hold against, next to them.
    assert!(md[headline..headline + at_foreign].contains(
        "What these numbers hold against: unless a table says otherwise, every number is that \
         of the strongest adversary the tool builds, combined."
    ));
}

#[test]
fn markdown_sections() {
    let md = report_md(&small());
    for heading in [
        "## Modes",
        "## Headline",
        "## Mechanism effects",
        "## Leak attribution",
        "## Per observer",
        "### Observer `alpha.example`",
        "### Observer `beta.example`",
        "### Observer `all`",
    ] {
        assert!(md.contains(&format!("\n{heading}\n")), "{heading}\n{md}");
    }
    // Modes and their mechanisms.
    assert!(
        md.contains("| `mimi` | none | `pseudonymous_credentials`, "),
        "{md}"
    );
    // Per-observer table: every metric with its meaning, ratios with their fraction.
    assert!(
        md.contains(
            "| `identity_disclosure` | foreign | 1 (6/6) | 0 (0/6) | 0.5 (3/6) | share of \
             memberships whose member the observer can name |"
        ),
        "{md}"
    );
    // Per observer: foreign, own and all.
    assert!(
        md.contains(
            "|  | own | 1 (4/4) | 1 (4/4) | 1 (4/4) |  |\n\
             |  | all | 1 (10/10) | 0.4 (4/10) | 0.7 (7/10) |  |"
        ),
        "{md}"
    );
    // Mechanism effects against mimi, `all` first, one table per scope.
    let effects = &md[md.find("## Mechanism effects").unwrap()..md.find("## Leak").unwrap()];
    let (foreign, own) = effects
        .split_once("### Scope `own`: the observer's own users")
        .expect(effects);
    assert!(
        foreign.contains(
            "### Scope `foreign`: other providers' users (the draft's goals)\n\n\
             | mode | mechanisms on | observer | identity disclosure | identification \
             | cross-room recall | anonymity set median | message attribution |"
        ),
        "{effects}"
    );
    assert!(
        foreign.contains(
            "| `mimimi` | all 7 | `all` | n/a | n/a | n/a | n/a | n/a |\n\
             |  |  | `alpha.example` | 1 → 0 (-1) | 1 → 0.333333 (-0.666667) | 1 → 0 (-1) \
             | 1 → 3 (+2) | 1 → 0.25 (-0.75) |"
        ),
        "{effects}"
    );
    assert!(
        own.contains(
            "| `mimimi` | all 7 | `all` | 1 → 1 (±0) | 1 → 1 (±0) | 1 → 1 (±0) | 1 → 1 (±0) \
             | 1 → 1 (±0) |"
        ),
        "{effects}"
    );
    assert!(
        foreign.contains("| `pseudonyms-only` | `pseudonymous_credentials` | `all` |"),
        "{md}"
    );
    // Leak attribution: non-zero rows only, grouped by mode, one table per scope.
    let leaks = &md[md.find("## Leak attribution").unwrap()..md.find("## Per observer").unwrap()];
    let (foreign, own) = leaks
        .split_once("### Scope `own`: the observer's own users")
        .expect(leaks);
    assert!(
        foreign.contains(
            "| `mimi` | `alpha.example` | `kp_claim` | 6 | 0 |\n\
             |  |  | `fanout_message` | 0 | 3 |\n\
             | `pseudonyms-only` | `beta.example` | `queue_registration` | 1 | 1 |\n"
        ),
        "{leaks}"
    );
    assert!(foreign.contains("No flow disclosed a membership or linked a room pair in: `mimimi`."));
    assert!(
        own.contains(
            "| `mimi` | `alpha.example` | `kp_upload` | 4 | 0 |\n\
             | `mimimi` | `alpha.example` | `queue_registration` | 4 | 2 |\n"
        ),
        "{leaks}"
    );
    assert!(
        own.contains("No flow disclosed a membership or linked a room pair in: `pseudonyms-only`.")
    );
    assert!(!md.contains("room_ack"));
    // The `all` observer has no foreign users.
    let all = md.find("### Observer `all`").unwrap();
    assert!(md[all..].contains("scope all only"));
    // Charts are for the HTML report.
    assert!(!md.contains("<svg"));
}

#[test]
fn html_is_self_contained_and_escaped() {
    let a = small();
    let html = report_html(&a);
    assert!(html.starts_with("<!DOCTYPE html>\n"));
    assert!(html.ends_with("</html>\n"));
    // 6 headline charts, anonymity charts of alpha.example and all.
    assert_eq!(html.matches("<svg").count(), 8, "{html}");
    assert_eq!(html.matches("</svg>").count(), 8);
    // Links only within the page: the table of contents.
    for link in html.split("href=\"").skip(1) {
        let target = &link[..link.find('"').unwrap()];
        assert!(target.starts_with('#'), "{target}");
        assert!(
            html.contains(&format!(" id=\"{}\"", &target[1..])),
            "{target} has no anchor"
        );
    }
    for bad in [
        "http://",
        "https://",
        "src=",
        "@import",
        "url(",
        "<script",
        "<link",
        "<img",
        "@font-face",
    ] {
        assert!(!html.contains(bad), "{bad} in report.html");
    }
    assert!(html.contains(
        "<title>Linkability report: quick&lt;start&gt; &amp; co (seed 7, run 0)</title>"
    ));
    assert!(
        html.contains("<h1>Linkability report: quick&lt;start&gt; &amp; co (seed 7, run 0)</h1>")
    );
    assert!(!html.contains("quick<start>"));
    // The same headline numbers as the Markdown, right-aligned.
    assert!(html.contains(
        "<td class=\"num bad\">0.5<span class=\"frac\"> (3/6)</span></td>\
         <td class=\"num bad\">0.333333<span class=\"frac\"> (1/3)</span></td>"
    ));
    assert!(html.contains("<th class=\"group\" colspan=\"3\"><code>pseudonyms-only</code></th>"));
    // Every chart has a legend with every mode, and the observers on its axis.
    let first = &html[html.find("<svg").unwrap()..html.find("</svg>").unwrap()];
    for name in [
        "mimi",
        "mimimi",
        "pseudonyms-only",
        "alpha.example",
        "beta.example",
    ] {
        assert!(
            first.contains(&format!(">\n{name}\n</text>")),
            "{name}: {first}"
        );
    }
}

#[test]
fn html_escapes_names_in_charts() {
    let mut a = small();
    a.modes[2].0 = "<b>&\"".to_owned();
    for m in a.metrics.iter_mut().filter(|m| m.mode == "pseudonyms-only") {
        m.mode = "<b>&\"".to_owned();
    }
    let html = report_html(&a);
    assert!(!html.contains("<b>"));
    assert!(html.contains("&lt;b&gt;&amp;"));
}

#[test]
fn rendering_is_deterministic() {
    let a = small();
    assert_eq!(metrics_csv(&a), metrics_csv(&a.clone()));
    assert_eq!(report_md(&a), report_md(&a.clone()));
    assert_eq!(report_html(&a), report_html(&a.clone()));
    let b = realistic();
    assert_eq!(report_md(&b), report_md(&b.clone()));
    assert_eq!(report_html(&b), report_html(&b.clone()));
}

#[test]
fn empty_analysis_renders() {
    let a = Analysis::default();
    assert_eq!(
        String::from_utf8(metrics_csv(&a)).unwrap(),
        "scenario,seed,run,mode,observer,adversary,scope,metric,value,numerator,denominator\n"
    );
    let md = report_md(&a);
    assert!(md.contains("No baseline mode"));
    let html = report_html(&a);
    assert!(html.contains("</html>"));
}

/// Realistic numbers: three providers, a coalition, `all`; MIMI, MIMIMI and two ablations.
fn realistic() -> Analysis {
    let providers = [
        ("alpha.example", 3u64),
        ("beta.example", 3),
        ("gamma.example", 4),
    ];
    let coalition = "alpha.example+beta.example";
    let mut modes = vec![
        ("mimi".to_owned(), vec![]),
        (
            "mimimi".to_owned(),
            ALL_MECHANISMS.iter().map(|m| m.to_string()).collect(),
        ),
        (
            "pseudonyms-only".to_owned(),
            vec!["pseudonymous_credentials".to_owned()],
        ),
    ];
    modes.push((
        "no-anonymous-channel".to_owned(),
        ALL_MECHANISMS
            .iter()
            .filter(|m| **m != "anonymous_channel")
            .map(|m| m.to_string())
            .collect(),
    ));
    let mut observers: Vec<String> = providers.iter().map(|(p, _)| p.to_string()).collect();
    observers.push(coalition.to_owned());
    observers.push(ALL_PROVIDERS.to_owned());
    // Memberships per provider's users: 8 each, 24 in all.
    let members = |p: &str| -> u64 {
        match p {
            "gamma.example" => 10,
            _ => 8,
        }
    };
    let owns = |obs: &str, p: &str| obs == ALL_PROVIDERS || obs.split('+').any(|o| o == p);
    // Share of foreign memberships disclosed and foreign pairs linked, per mode.
    let leak = |mode: &str| -> (f64, f64) {
        match mode {
            "mimi" => (1.0, 1.0),
            "mimimi" => (0.0, 0.0),
            "pseudonyms-only" => (0.5, 0.75),
            _ => (0.125, 0.25),
        }
    };
    let mut metrics = Vec::new();
    let mut anonymity = Vec::new();
    let mut attr = Vec::new();
    for (mode, _) in &modes {
        let (disclose, link) = leak(mode);
        for obs in &observers {
            let mut per_scope: Vec<(Scope, Vec<u64>, f64, f64, f64, f64)> = Vec::new();
            for scope in Scope::ALL {
                let mut set = Vec::new();
                let (mut pairs, mut linked) = (0.0, 0.0);
                for (p, users) in providers {
                    let own = owns(obs, p);
                    let take = match scope {
                        Scope::Own => own,
                        Scope::Foreign => !own,
                        Scope::All => true,
                    };
                    if !take {
                        continue;
                    }
                    let n = members(p);
                    let named = if own || mode == "mimi" {
                        n
                    } else {
                        (n as f64 * disclose).round() as u64
                    };
                    set.extend(std::iter::repeat_n(1, named as usize));
                    set.extend(std::iter::repeat_n(users, (n - named) as usize));
                    pairs += 5.0;
                    linked += if own { 5.0 } else { (5.0 * link).round() };
                }
                set.sort_unstable();
                let msgs = set.len() as f64 * 1.5;
                let named_msgs = set.iter().filter(|&&s| s == 1).count() as f64 * 1.5;
                per_scope.push((scope, set, pairs, linked, msgs, named_msgs));
            }
            for (scope, set, pairs, linked, msgs, named_msgs) in per_scope {
                let n = set.len() as f64;
                let unique = set.iter().filter(|&&s| s == 1).count() as f64;
                let stat = |x: Option<&u64>| x.map_or(0.0, |&v| v as f64);
                let entropy: f64 = set.iter().map(|&s| (s as f64).log2()).sum();
                let degree = entropy / 10f64.log2();
                let graph_r = if n == 0.0 { 0.0 } else { unique / n };
                // True edges and samples exist only where the observer saw memberships.
                let edges = if n == 0.0 { 0.0 } else { 12.0 };
                let samples = if n == 0.0 { 0.0 } else { 1.0 };
                for (metric, _) in METRICS {
                    // Connection rooms: the numbers of the rooms, for rendering.
                    let base = metric.strip_prefix("connection_room_").unwrap_or(metric);
                    let r = match base {
                        "identity_disclosure" | "identification" => {
                            row(mode, obs, scope, metric, unique, n)
                        }
                        "cross_room_recall" => row(mode, obs, scope, metric, linked, pairs),
                        "cross_room_precision" => row(mode, obs, scope, metric, linked, linked),
                        "anonymity_set_min" => {
                            order(mode, obs, scope, metric, stat(set.first()), n)
                        }
                        "anonymity_set_p10" => {
                            let i = ((n * 0.1).ceil() as usize).max(1) - 1;
                            order(mode, obs, scope, metric, stat(set.get(i)), n)
                        }
                        "anonymity_set_median" => {
                            let i = set.len().saturating_sub(1) / 2;
                            order(mode, obs, scope, metric, stat(set.get(i)), n)
                        }
                        "anonymity_unique_fraction" => row(mode, obs, scope, metric, unique, n),
                        "anonymity_entropy_mean" => row(mode, obs, scope, metric, entropy, n),
                        "degree_of_anonymity_mean" => row(mode, obs, scope, metric, degree, n),
                        "social_graph_precision" | "connection_graph_precision" => {
                            row(mode, obs, scope, metric, unique.min(6.0), unique.min(6.0))
                        }
                        "social_graph_recall" | "connection_graph_recall" => {
                            row(mode, obs, scope, metric, (graph_r * edges).round(), edges)
                        }
                        "social_graph_f1" | "connection_graph_f1" => {
                            let f1 = 2.0 * graph_r / (1.0 + graph_r);
                            row(mode, obs, scope, metric, f1 * samples, samples)
                        }
                        "message_attribution" => row(mode, obs, scope, metric, named_msgs, msgs),
                        "last_resort_rooms" => {
                            let lr = if mode == "mimi" || n == 0.0 { 0.0 } else { 2.0 };
                            count(mode, obs, scope, metric, lr, n)
                        }
                        "last_resort_pairs" => {
                            let lr = if mode == "mimi" || pairs == 0.0 {
                                0.0
                            } else {
                                1.0
                            };
                            count(mode, obs, scope, metric, lr, pairs)
                        }
                        "last_resort_links" => {
                            let lr = if mode == "mimi" || scope == Scope::Foreign {
                                0.0
                            } else {
                                1.0
                            };
                            count(mode, obs, scope, metric, lr, samples)
                        }
                        other => panic!("realistic(): no numbers for {other}"),
                    };
                    metrics.push(r);
                }
                anonymity.push(sizes(mode, obs, scope, &set));
            }
            let flows: &[(&str, u64, u64)] = match mode.as_str() {
                "mimi" => &[
                    ("kp_claim", 16, 0),
                    ("fanout_message", 24, 15),
                    ("handshake", 8, 10),
                ],
                "mimimi" => &[("fanout_message", 8, 5), ("kp_set_upload", 0, 0)],
                "pseudonyms-only" => &[("queue_registration", 12, 9), ("fanout_message", 8, 5)],
                _ => &[
                    ("relay", 0, 0),
                    ("connection_request", 3, 2),
                    ("fanout_message", 8, 5),
                ],
            };
            for (flow, d, l) in flows {
                attr.push(attribution(mode, obs, Scope::Foreign, flow, *d, *l));
                attr.push(attribution(mode, obs, Scope::Own, flow, *d + 1, *l));
            }
        }
    }
    Analysis {
        scenario: "quickstart".to_owned(),
        seed: 7,
        run: 0,
        modes,
        observers,
        metrics,
        attribution: attr,
        anonymity,
        provenance: Provenance::default(),
        adversaries: Vec::new(),
        adversary_options: Default::default(),
        curves: Vec::new(),
        activity: Vec::new(),
        stats: Vec::new(),
        coalitions: Vec::new(),
    }
}

#[test]
fn realistic_report() {
    let a = realistic();
    let md = report_md(&a);
    let html = report_html(&a);
    for obs in &a.observers {
        assert!(md.contains(&format!("### Observer `{obs}`")));
    }
    let all = md.find("### Observer `all`").unwrap();
    assert!(md[all..].contains("scope all only"));
    // 6 headline charts and one anonymity chart per observer.
    assert_eq!(html.matches("<svg").count(), 6 + a.observers.len());
    for bad in ["http://", "https://", "@import", "url("] {
        assert!(!html.contains(bad));
    }
    if let Some(dir) = std::env::var_os("REPORT_CHECK_DIR") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("report.html"), &html).unwrap();
        std::fs::write(dir.join("report.md"), &md).unwrap();
        std::fs::write(dir.join("metrics.csv"), metrics_csv(&a)).unwrap();
    }
}

/// A number taken over nothing is n/a in the CSV (an empty cell), in every table and in the
/// charts, and never 0.
#[test]
fn nothing_measured_is_n_a_everywhere() {
    let mut a = small();
    // beta.example saw no foreign membership under pseudonyms-only, and no membership at all
    // for the anonymity set median.
    for m in a
        .metrics
        .iter_mut()
        .filter(|m| m.mode == "pseudonyms-only" && m.observer == "beta.example")
    {
        if m.scope == Scope::Foreign {
            *m = row(&m.mode, &m.observer, m.scope, &m.metric, 0.0, 0.0);
        }
        if m.metric == "anonymity_set_median" {
            *m = order(&m.mode, &m.observer, m.scope, &m.metric, 0.0, 0.0);
        }
    }
    let csv = String::from_utf8(metrics_csv(&a)).unwrap();
    assert!(
        csv.contains(
            ",7,0,pseudonyms-only,beta.example,combined,foreign,identity_disclosure,,0,0\n"
        ),
        "{csv}"
    );
    assert!(
        csv.contains(",7,0,pseudonyms-only,beta.example,combined,all,anonymity_set_median,,,0\n"),
        "{csv}"
    );
    let md = report_md(&a);
    let beta = "| `beta.example` \
        | 1 (4/4) | 1 (4/4) | 1 (1/1) \
        | 0 (0/4) | 0 (0/4) | 0 (0/1) \
        | n/a (0/0) | n/a (0/0) | n/a (0/0) |";
    assert!(md.contains(beta), "{md}");
    // Mechanism effects: from or to n/a is shown without a change.
    assert!(
        md.contains("|  |  | `beta.example` | 1 → n/a | 1 → n/a | 1 → n/a | 1 → n/a | 1 → n/a |"),
        "{md}"
    );
    // Per observer: the median over no membership.
    let beta_section = &md[md.find("### Observer `beta.example`").unwrap()..];
    assert!(
        beta_section
            .contains("|  | own | 1 | 1 | n/a (n=0) |  |\n|  | all | 1 | 2 | n/a (n=0) |  |"),
        "{md}"
    );
    let html = report_html(&a);
    assert!(html.contains(
        "<td class=\"num\">n/a<span class=\"frac\"> (0/0)</span></td>\
         <td class=\"num\">n/a<span class=\"frac\"> (0/0)</span></td>"
    ));
    // The headline charts mark the bars they cannot draw.
    let first = &html[html.find("<svg").unwrap()..html.find("</svg>").unwrap()];
    assert!(first.contains(">\nn/a\n</text>"), "{first}");
    // Nothing here writes a measured 0 for the empty ratios.
    assert!(!md.contains("| 0 (0/0)"), "{md}");
}

/// The run's provenance comes first: tool version, scenario file hash, seed, run, every mode's
/// fingerprint and the parameters; what is not recorded says so.
#[test]
fn provenance_at_the_top() {
    let a = small();
    let md = report_md(&a);
    let run = md.find("## Run\n").expect(&md);
    assert!(run < md.find("## Modes").unwrap());
    let table = format!(
        "| field | value |\n| --- | --- |\n\
         | scenario | `quick<start> & co` |\n\
         | tool version | `0.1.0` |\n\
         | scenario file SHA-256 | `{}` |\n\
         | seed | 7 |\n\
         | run | 0 |\n\
         | fingerprint of `mimi` | `{}` |\n\
         | fingerprint of `mimimi` | `{}` |\n\
         | fingerprint of `pseudonyms-only` | not recorded |\n",
        "5e".repeat(32),
        "0a".repeat(32),
        "0b".repeat(32)
    );
    assert!(md[run..].contains(&table), "{md}");
    assert!(md[run..].contains(
        "| parameter | value |\n| --- | --- |\n| `channel` | `relay` |\n| `latency` | `20ms` |\n\
         | `seed` | `7` |\n"
    ));
    let html = report_html(&a);
    let h1 = html.find("<h1>").unwrap();
    let run = html.find("<h2 id=\"run\">Run</h2>").expect(&html);
    assert!(html[run..].contains(&format!("<td><code>{}</code></td>", "0b".repeat(32))));
    // The table of contents follows the title and links every section, subsections nested.
    let nav = html.find("<nav class=\"toc\">").unwrap();
    assert!(h1 < nav && nav < run);
    let nav = &html[nav..html.find("</nav>").unwrap()];
    for (id, title) in [
        ("run", "Run"),
        ("modes", "Modes"),
        ("headline", "Headline"),
        ("mechanism-effects", "Mechanism effects"),
        ("leak-attribution", "Leak attribution"),
        ("anonymity-set-distribution", "Anonymity set distribution"),
        ("per-observer", "Per observer"),
    ] {
        assert!(
            nav.contains(&format!("<li><a href=\"#{id}\">{title}</a>")),
            "{id}: {nav}"
        );
        assert!(html.contains(&format!("<h2 id=\"{id}\">{title}</h2>")));
    }
    // Repeated subsection titles get distinct ids.
    assert!(nav
        .contains("<ul>\n<li><a href=\"#scope-foreign-other-providers-users-the-draft-s-goals\">"));
    assert!(nav.contains("href=\"#scope-foreign-other-providers-users-the-draft-s-goals-2\""));
    assert!(nav.contains(
        "<li><a href=\"#observer-alpha-example\">Observer <code>alpha.example</code></a></li>"
    ));

    // Nothing recorded: the report says so rather than leaving a blank.
    let mut a = small();
    a.provenance = Provenance::default();
    let md = report_md(&a);
    assert!(md.contains("| tool version | not recorded |"));
    assert!(md.contains("| fingerprint of `mimi` | not recorded |"));
    assert!(md.contains("The scenario parameters are not recorded in this run directory."));
}

/// A curve point of `adversary` at `threshold` for mimimi: recall and precision as
/// (numerator, denominator), identification none of 4.
fn point(
    observer: &str,
    threshold: u64,
    operating: bool,
    recall: (f64, f64),
    precision: (f64, f64),
) -> CurvePoint {
    CurvePoint {
        mode: "mimimi".to_owned(),
        observer: observer.to_owned(),
        adversary: "fingerprint".to_owned(),
        parameter: "fingerprint_max_class".to_owned(),
        threshold,
        operating,
        cross_room_recall: recall,
        cross_room_precision: precision,
        identification: (0.0, 4.0),
        connection_room_identification: (0.0, 0.0),
    }
}

/// The thresholds table pools the providers alone (alpha 1/3 and beta 0/2 of pairs: 1/5),
/// leaves out `all`, marks the operating point, and writes n/a for modes without points;
/// curves.csv has one row per metric, with the value empty over nothing.
#[test]
fn adversary_thresholds_pool_the_providers() {
    let mut a = small();
    a.curves = vec![
        point("alpha.example", 2, true, (1.0, 3.0), (1.0, 1.0)),
        point("beta.example", 2, true, (0.0, 2.0), (0.0, 0.0)),
        point(ALL_PROVIDERS, 2, true, (9.0, 9.0), (9.0, 9.0)),
        point("alpha.example", 3, false, (2.0, 3.0), (2.0, 3.0)),
        point("beta.example", 3, false, (1.0, 2.0), (1.0, 1.0)),
    ];
    let md = report_md(&a);
    let section = &md[md.find("## Adversary thresholds").expect(&md)..];
    assert!(section.contains("### Adversary `fingerprint`, threshold `fingerprint_max_class`"));
    let row2 = section
        .lines()
        .find(|l| l.starts_with("| 2 (operating point) |"))
        .expect(section);
    // mimi and pseudonyms-only have no points: n/a; mimimi pools alpha and beta.
    assert!(
        row2.contains("| 0.2 (1/5) | 1 (1/1) | 0 (0/8) | n/a (0/0) |"),
        "{row2}"
    );
    let row3 = section
        .lines()
        .find(|l| l.starts_with("| 3 |"))
        .expect(section);
    assert!(
        row3.contains("| 0.6 (3/5) | 0.75 (3/4) | 0 (0/8) | n/a (0/0) |"),
        "{row3}"
    );
    let csv = String::from_utf8(curves_csv(&a)).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "scenario,seed,run,mode,observer,adversary,parameter,threshold,operating,metric,\
             value,numerator,denominator"
        )
    );
    assert_eq!(csv.lines().count(), 1 + 5 * 4);
    // The HTML report draws the curve: one dot per threshold that links something (2 and 3,
    // pooled as above), the operating point larger.
    let html = report_html(&a);
    let at = html
        .find("foreign cross-room precision against recall")
        .expect("the curve's caption");
    let svg = &html[at..];
    let svg = &svg[svg.find("<svg").unwrap()..svg.find("</svg>").unwrap()];
    assert_eq!(svg.matches("<circle").count(), 2, "{svg}");
    assert_eq!(svg.matches(r#"r="7""#).count(), 1, "{svg}");
    assert!(csv.contains(
        ",mimimi,beta.example,fingerprint,fingerprint_max_class,2,1,cross_room_precision,,0,0\n"
    ));
    assert!(csv.contains(
        ",mimimi,alpha.example,fingerprint,fingerprint_max_class,3,0,cross_room_recall,0.666667,2,3\n"
    ));
}

/// The trade-off table: per mode, each adversary's foreign recall and identification pooled
/// over the providers alone (alpha and beta, not `all`), and the costs the run records.
/// By hand from `small()`'s combined rows: mimi recall (3+1)/(3+1), identification
/// (6+4)/(6+4); mimimi 0/4 and (2+0)/(6+4); pseudonyms-only (1+1)/4 and (3+1)/10. The
/// identifier adversary has no rows here: n/a. Only mls_operations and bytes_sent are
/// recorded, so only they are columns; a mode without them shows –.
#[test]
fn tradeoffs_pool_providers_and_show_recorded_costs() {
    let mut a = small();
    assert!(
        !report_md(&a).contains("## Trade-offs"),
        "no adversaries named"
    );
    a.adversaries = vec!["identifier".to_owned(), "combined".to_owned()];
    a.stats = vec![
        (
            "mimi".to_owned(),
            [
                ("mls_operations".to_owned(), 100.0),
                ("bytes_sent".to_owned(), 5000.0),
            ]
            .into(),
        ),
        (
            "mimimi".to_owned(),
            [("mls_operations".to_owned(), 300.0)].into(),
        ),
    ];
    let md = report_md(&a);
    let section = &md[md.find("## Trade-offs").expect(&md)..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    assert!(
        section.contains("| cost MLS operations | cost bytes |"),
        "{section}"
    );
    assert!(!section.contains("padding bytes"), "{section}");
    let line = |mode: &str| {
        section
            .lines()
            .find(|l| l.starts_with(&format!("| `{mode}` |")))
            .unwrap_or_else(|| panic!("no row {mode}: {section}"))
            .to_owned()
    };
    assert_eq!(
        line("mimi"),
        "| `mimi` | n/a (0/0) | n/a (0/0) | 1 (4/4) | 1 (10/10) | 100 | 5000 |"
    );
    assert_eq!(
        line("mimimi"),
        "| `mimimi` | n/a (0/0) | n/a (0/0) | 0 (0/4) | 0.2 (2/10) | 300 | – |"
    );
    assert_eq!(
        line("pseudonyms-only"),
        "| `pseudonyms-only` | n/a (0/0) | n/a (0/0) | 0.5 (2/4) | 0.4 (4/10) | – | – |"
    );
}

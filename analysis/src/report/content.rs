//! What the reports say, as a [`Block`] list both renderers share.

use std::collections::BTreeMap;

use super::doc::{code, dim, text, Block, Cell, Chart, Figure, Inline, Row, Table, Tone};
use super::num::{fmt_delta, fmt_num, is_empty, kind, value_parts, NA};
use crate::adversary::IDENTIFIER;
use crate::model::{Analysis, CurvePoint, MetricKind, MetricRow, Scope, ALL_PROVIDERS, METRICS};

/// The MIMIMI mechanisms of the draft, in the order the reports list them: `mimimi` is all of
/// them on ("all 7").
pub(crate) const MECHANISMS: &[&str] = &[
    "pseudonymous_credentials",
    "fresh_signature_keys",
    "encrypted_queue_ids",
    "anonymous_key_packages",
    "encrypted_connection_requests",
    "anonymous_channel",
    "last_resort_policy",
];

/// The countermeasures against traffic analysis beyond the draft, off in `mimi` and `mimimi`;
/// a mode that switches one on lists it after the mechanisms, never among them.
pub(crate) const COUNTERMEASURES: &[&str] = &["jitter", "padding", "placeholder_leaves"];

/// The baseline mode's name.
const BASELINE: &str = "mimi";

/// The scopes of the headline, the mechanism effects and the leak attribution, one table each,
/// in this order: the draft's goals are about other providers' users, and what a provider
/// learns about its own users is shown beside them.
pub(crate) const TABLE_SCOPES: [Scope; 2] = [Scope::Foreign, Scope::Own];

/// The headline metrics: (metric, column label).
pub(crate) const HEADLINE: &[(&str, &str)] = &[
    ("identity_disclosure", "disclosure"),
    ("identification", "identification"),
    ("cross_room_recall", "recall"),
];

/// The charts of the headline section, foreign beside own: (metric, scope).
pub(crate) const HEADLINE_CHARTS: &[(&str, Scope)] = &[
    ("identity_disclosure", Scope::Foreign),
    ("identification", Scope::Foreign),
    ("cross_room_recall", Scope::Foreign),
    ("cross_room_recall", Scope::Own),
    ("message_attribution", Scope::Foreign),
    ("message_attribution", Scope::Own),
];

/// Key metrics of the mechanism effects: (metric, column label, lower is better).
const EFFECTS: &[(&str, &str, bool)] = &[
    ("identity_disclosure", "identity disclosure", true),
    ("identification", "identification", true),
    ("cross_room_recall", "cross-room recall", true),
    ("anonymity_set_median", "anonymity set median", false),
    ("message_attribution", "message attribution", true),
];

/// What the numbers hold against, said next to them.
pub(crate) const ADVERSARY: &str = "What these numbers hold against: unless a table says \
     otherwise, every number is that of the strongest adversary the tool builds, combined. It \
     links identical identifier values (the identifier adversary) and adds the links of the \
     fingerprint adversary (a user's rooms whose domain and device count are rare among what \
     the observer saw), of the timing adversary (event chains within a time window, and \
     pseudonyms always active together) and of the size adversary (a user's rooms whose \
     messages have the same rare length). The headline shows the identifier-only numbers \
     beside it. A 0 says that none of these names or links a user, not that no adversary \
     could: an observer with more background knowledge, or a statistical attack over a longer \
     workload, may.";

/// A scope's heading in the reports.
fn scope_title(scope: Scope) -> Vec<Inline> {
    match scope {
        Scope::Foreign => vec![
            text("Scope "),
            code("foreign"),
            text(": other providers' users (the draft's goals)"),
        ],
        Scope::Own => vec![
            text("Scope "),
            code("own"),
            text(": the observer's own users"),
        ],
        Scope::All => vec![text("Scope "), code("all"), text(": every user")],
    }
}

/// Metric rows by (mode, observer, scope, metric); the first row of a key wins.
pub(crate) struct Index<'a> {
    rows: BTreeMap<(&'a str, &'a str, Scope, &'a str), &'a MetricRow>,
}

impl<'a> Index<'a> {
    /// The rows of the strongest adversary (every row of an analysis that names none).
    pub fn new(a: &'a Analysis) -> Index<'a> {
        Index::of(a, a.strongest())
    }

    /// The rows of one adversary (`None`: every row).
    pub fn of(a: &'a Analysis, adversary: Option<&str>) -> Index<'a> {
        let mut rows = BTreeMap::new();
        for m in a
            .metrics
            .iter()
            .filter(|m| adversary.is_none_or(|name| m.adversary == name))
        {
            rows.entry((
                m.mode.as_str(),
                m.observer.as_str(),
                m.scope,
                m.metric.as_str(),
            ))
            .or_insert(m);
        }
        Index { rows }
    }

    pub fn get(
        &self,
        mode: &str,
        observer: &str,
        scope: Scope,
        metric: &str,
    ) -> Option<&'a MetricRow> {
        self.rows.get(&(mode, observer, scope, metric)).copied()
    }
}

/// The meaning of a metric of [`METRICS`], empty for others.
pub(crate) fn meaning(metric: &str) -> &'static str {
    METRICS
        .iter()
        .find(|(m, _)| *m == metric)
        .map_or("", |(_, meaning)| meaning)
}

/// Every metric in the analysis: [`METRICS`] first, in order, then others in order of appearance.
fn metric_names(a: &Analysis) -> Vec<&str> {
    let mut names: Vec<&str> = METRICS.iter().map(|(m, _)| *m).collect();
    for m in &a.metrics {
        if !names.contains(&m.metric.as_str()) {
            names.push(&m.metric);
        }
    }
    names
}

/// The mode the others are compared with: `mimi`, else the first mode without mechanisms.
fn baseline(a: &Analysis) -> Option<&str> {
    a.modes
        .iter()
        .find(|(m, _)| m == BASELINE)
        .or_else(|| a.modes.iter().find(|(_, mech)| mech.is_empty()))
        .map(|(m, _)| m.as_str())
}

pub(crate) fn build(a: &Analysis) -> Vec<Block> {
    let ix = Index::new(a);
    let mut out = vec![Block::Heading(
        1,
        vec![text(format!(
            "Linkability report: {} (seed {}, run {})",
            a.scenario, a.seed, a.run
        ))],
    )];
    out.push(Block::Para(vec![
        text(
            "Each number says what one observer could link from the observations it received, \
         scored against the ground truth: a provider alone (its hub and provider roles \
         together), a named coalition of providers pooling their observations, or ",
        ),
        code(ALL_PROVIDERS),
        text(", every provider together. Scope "),
        code("own"),
        text(" counts the observer's own users, "),
        code("foreign"),
        text(" the users of other providers, "),
        code("all"),
        text(
            " both; every table is of one scope, named above it. Ratios read value \
         (numerator/denominator); n/a (0/0) marks a number taken over nothing, which is not \
         measured and never reads as 0. The draft's goals are foreign identity disclosure 0 and \
         foreign cross-room recall 0 for every observer; what a provider still learns about its \
         own users is the price of the design, shown beside them rather than hidden.",
        ),
    ]));
    run_section(a, &mut out);
    modes_section(a, &mut out);
    headline_section(a, &mut out);
    tradeoff_section(a, &mut out);
    curves_section(a, &mut out);
    activity_section(a, &mut out);
    effects_section(a, &ix, &mut out);
    attribution_section(a, &mut out);
    anonymity_section(a, &mut out);
    observers_section(a, &ix, &mut out);
    out
}

/// `name`, or nothing for an empty list, joined by `, `.
fn code_list<'s>(names: impl IntoIterator<Item = &'s str>) -> Vec<Inline> {
    let mut out = Vec::new();
    for (i, n) in names.into_iter().enumerate() {
        if i > 0 {
            out.push(text(", "));
        }
        out.push(code(n));
    }
    out
}

/// The known mechanisms a mode leaves off.
fn mechanisms_off(on: &[String]) -> Vec<&'static str> {
    MECHANISMS
        .iter()
        .copied()
        .filter(|m| !on.iter().any(|o| o == m))
        .collect()
}

/// A short description of the mechanisms a mode switches on: `none`, `all 7`, `all but x`, or
/// the list; then ` + ` and the countermeasures it switches on, if any.
fn describe_on(on: &[String]) -> Vec<Inline> {
    let (counter, on): (Vec<String>, Vec<String>) = on
        .iter()
        .cloned()
        .partition(|m| COUNTERMEASURES.contains(&m.as_str()));
    let mut out = if on.is_empty() && !counter.is_empty() {
        vec![]
    } else {
        describe_mechanisms_on(&on)
    };
    if !counter.is_empty() {
        if !out.is_empty() {
            out.push(text(" + "));
        }
        out.extend(code_list(counter.iter().map(String::as_str)));
    }
    out
}

/// [`describe_on`] of the draft's mechanisms alone.
fn describe_mechanisms_on(on: &[String]) -> Vec<Inline> {
    let off = mechanisms_off(on);
    let all_known = on.iter().all(|m| MECHANISMS.contains(&m.as_str()));
    if on.is_empty() {
        vec![text("none")]
    } else if all_known && off.is_empty() {
        vec![text(format!("all {}", MECHANISMS.len()))]
    } else if all_known && off.len() < on.len() {
        let mut v = vec![text("all but ")];
        v.extend(code_list(off));
        v
    } else {
        code_list(on.iter().map(String::as_str))
    }
}

/// Where the numbers come from: tool version, scenario file hash, seed, run, each mode's
/// fingerprint and the scenario parameters, as `summary.json` records them.
fn run_section(a: &Analysis, out: &mut Vec<Block>) {
    out.push(Block::Heading(2, vec![text("Run")]));
    out.push(Block::Para(vec![
        text("What produced these numbers, as "),
        code("summary.json"),
        text(
            " records it: the same scenario file, tool version, seed and run give the same \
             fingerprints (SHA-256 of each mode's observation log) and the same report.",
        ),
    ]));
    let p = &a.provenance;
    let or_not = |v: Option<&str>| match v {
        Some(v) => vec![code(v)],
        None => vec![text("not recorded")],
    };
    let mut table = Table {
        header: vec![
            Cell::text(vec![text("field")]),
            Cell::text(vec![text("value")]),
        ],
        ..Table::default()
    };
    let mut field = |name: Vec<Inline>, value: Vec<Inline>| {
        table.rows.push(Row {
            cells: vec![Cell::text(name), Cell::text(value)],
            group_start: false,
        });
    };
    field(vec![text("scenario")], vec![code(a.scenario.as_str())]);
    field(
        vec![text("tool version")],
        or_not(p.tool_version.as_deref()),
    );
    field(
        vec![text("scenario file SHA-256")],
        or_not(p.scenario_sha256.as_deref()),
    );
    field(vec![text("seed")], vec![text(a.seed.to_string())]);
    field(vec![text("run")], vec![text(a.run.to_string())]);
    for (mode, _) in &a.modes {
        let fingerprint = p
            .fingerprints
            .iter()
            .find(|(m, _)| m == mode)
            .map(|(_, f)| f.as_str());
        field(
            vec![text("fingerprint of "), code(mode.as_str())],
            or_not(fingerprint),
        );
    }
    out.push(Block::Table(table));
    match &p.parameters {
        Some(params) if !params.is_empty() => {
            out.push(Block::Para(vec![text(
                "The effective scenario parameters:",
            )]));
            let mut table = Table {
                header: vec![
                    Cell::text(vec![text("parameter")]),
                    Cell::text(vec![text("value")]),
                ],
                ..Table::default()
            };
            for (name, value) in params {
                table.rows.push(Row {
                    cells: vec![
                        Cell::text(vec![code(name.as_str())]),
                        Cell::text(vec![code(value.as_str())]),
                    ],
                    group_start: false,
                });
            }
            out.push(Block::Table(table));
        }
        Some(_) => out.push(Block::Para(vec![text(
            "The run records no scenario parameters.",
        )])),
        None => out.push(Block::Para(vec![text(
            "The scenario parameters are not recorded in this run directory.",
        )])),
    }
}

fn modes_section(a: &Analysis, out: &mut Vec<Block>) {
    out.push(Block::Heading(2, vec![text("Modes")]));
    let mut para = vec![text(
        "Modes in run order with the MIMIMI mechanisms each switches on. ",
    )];
    match baseline(a) {
        Some(b) => {
            para.push(code(b));
            para.push(text(
                " is the baseline the mechanism effects compare every other mode with.",
            ));
        }
        None => para.push(text(
            "No mode is a baseline (named mimi, or without mechanisms).",
        )),
    }
    out.push(Block::Para(para));
    let mut table = Table {
        header: vec![
            Cell::text(vec![text("mode")]),
            Cell::text(vec![text("mechanisms on")]),
            Cell::text(vec![text("mechanisms off")]),
        ],
        ..Table::default()
    };
    for (mode, on) in &a.modes {
        let off = mechanisms_off(on);
        let on_cell = if on.is_empty() {
            vec![text("none")]
        } else {
            code_list(on.iter().map(String::as_str))
        };
        let off_cell = if off.is_empty() {
            vec![text("none")]
        } else {
            code_list(off)
        };
        table.rows.push(Row {
            cells: vec![
                Cell::text(vec![code(mode.as_str())]),
                Cell::text(on_cell),
                Cell::text(off_cell),
            ],
            group_start: false,
        });
    }
    out.push(Block::Table(table));
}

/// A metric's value cell: `value (num/den)`, `–` when missing.
fn value_cell(row: Option<&MetricRow>) -> Cell {
    match row {
        None => Cell::num(vec![text("–")]),
        Some(r) => {
            let (v, extra) = value_parts(r);
            let mut content = vec![text(v)];
            if let Some(e) = extra {
                content.push(dim(format!(" ({e})")));
            }
            Cell::num(content)
        }
    }
}

fn headline_section(a: &Analysis, out: &mut Vec<Block>) {
    out.push(Block::Heading(2, vec![text("Headline")]));
    out.push(Block::Para(vec![
        text("Per observer and mode, one table per scope: disclosure is "),
        code("identity_disclosure"),
        text(" (the share of memberships whose member the observer can name); identification is "),
        code("identification"),
        text(
            " (the share it names or narrows to an anonymity set of one user, as the pseudonym \
             of a provider with one user is); recall is ",
        ),
        code("cross_room_recall"),
        text(
            " (the share of a user's pairs of rooms it links to one person). The draft's goals \
             set foreign disclosure and recall to 0; n/a (0/0) means the observer saw no such \
             membership or pair: nothing was measured.",
        ),
    ]));
    out.push(Block::Para(vec![text(ADVERSARY)]));
    let adversaries: Vec<Option<&str>> = match a.strongest() {
        Some(strongest) if strongest != IDENTIFIER => vec![Some(strongest), Some(IDENTIFIER)],
        other => vec![other],
    };
    for scope in TABLE_SCOPES {
        for adversary in &adversaries {
            let ix = &Index::of(a, *adversary);
            let mut title = scope_title(scope);
            if let Some(name) = adversary {
                title.push(text(", adversary "));
                title.push(code(*name));
            }
            out.push(Block::Heading(3, title));
            let mut table = Table {
                compact: true,
                ..Table::default()
            };
            table.groups.push((Vec::new(), 1));
            table.header.push(Cell::text(vec![text("observer")]));
            for (mode, _) in &a.modes {
                table
                    .groups
                    .push((vec![code(mode.as_str())], HEADLINE.len()));
                for (_, label) in HEADLINE {
                    table.header.push(Cell::num(vec![text(*label)]));
                }
            }
            for obs in &a.observers {
                let mut cells = vec![Cell::text(vec![code(obs.as_str())])];
                for (mode, _) in &a.modes {
                    for (metric, _) in HEADLINE {
                        let row = ix.get(mode, obs, scope, metric);
                        let tone = match row.and_then(|r| r.value) {
                            Some(v) if scope == Scope::Foreign => {
                                if v == 0.0 {
                                    Tone::Good
                                } else {
                                    Tone::Bad
                                }
                            }
                            _ => Tone::Plain,
                        };
                        cells.push(value_cell(row).tone(tone));
                    }
                }
                table.rows.push(Row {
                    cells,
                    group_start: false,
                });
            }
            out.push(Block::Table(table));
        }
    }
    let figures = HEADLINE_CHARTS
        .iter()
        .map(|(metric, scope)| Figure {
            chart: Chart::Bars {
                metric: (*metric).to_owned(),
                scope: *scope,
            },
            caption: vec![
                code(*metric),
                text(format!(", scope {}: {}", scope.as_str(), meaning(metric))),
            ],
        })
        .collect();
    out.push(Block::HtmlOnly(vec![
        Block::Para(vec![text(
            "The charts show the same per observer, one bar per mode, foreign beside own, with \
             message attribution (the share of application messages whose sender the observer \
             names) in both scopes; n/a marks an observer with nothing to measure (0/0).",
        )]),
        Block::Figures {
            wide: false,
            figures,
        },
    ]));
}

/// `base → value (change)` for the mechanism effects.
fn effect_cell(base: Option<&MetricRow>, row: Option<&MetricRow>, lower_is_better: bool) -> Cell {
    let (Some(b), Some(r)) = (base, row) else {
        return Cell::num(vec![text("–")]);
    };
    let (Some(bv), Some(rv)) = (b.value, r.value) else {
        // Nothing to compare: a change from or to n/a is no change for better or worse.
        if is_empty(b) && is_empty(r) {
            return Cell::num(vec![text(NA)]);
        }
        let show = |v: Option<f64>| v.map_or_else(|| NA.to_owned(), fmt_num);
        return Cell::num(vec![text(format!("{} → {}", show(b.value), show(r.value)))]);
    };
    let d = rv - bv;
    let tone = if fmt_num(d) == "0" {
        Tone::Plain
    } else if (d < 0.0) == lower_is_better {
        Tone::Good
    } else {
        Tone::Bad
    };
    Cell::num(vec![
        text(format!("{} → {}", fmt_num(bv), fmt_num(rv))),
        dim(format!(" ({})", fmt_delta(d))),
    ])
    .tone(tone)
}

fn effects_section(a: &Analysis, ix: &Index, out: &mut Vec<Block>) {
    out.push(Block::Heading(2, vec![text("Mechanism effects")]));
    let Some(base) = baseline(a) else {
        out.push(Block::Para(vec![text(
            "No baseline mode (mimi, or a mode without mechanisms) in this run: nothing to \
             compare with.",
        )]));
        return;
    };
    let others: Vec<&(String, Vec<String>)> = a.modes.iter().filter(|(m, _)| m != base).collect();
    if others.is_empty() {
        out.push(Block::Para(vec![
            text("Only the baseline "),
            code(base),
            text(" ran: nothing to compare."),
        ]));
        return;
    }
    out.push(Block::Para(vec![
        text("Each mode against the baseline "),
        code(base),
        text(
            ": the mechanisms it switches on, and how key metrics move for each observer \
             (baseline → mode, change), one table per scope. Lower disclosure, identification, \
             recall and attribution and a larger anonymity set are better.",
        ),
    ]));
    // `all` first: it bounds what any set of providers can link.
    let mut observers: Vec<&str> = a
        .observers
        .iter()
        .filter(|o| *o == ALL_PROVIDERS)
        .map(String::as_str)
        .collect();
    observers.extend(
        a.observers
            .iter()
            .filter(|o| *o != ALL_PROVIDERS)
            .map(String::as_str),
    );
    for scope in TABLE_SCOPES {
        out.push(Block::Heading(3, scope_title(scope)));
        let mut table = Table {
            header: vec![
                Cell::text(vec![text("mode")]),
                Cell::text(vec![text("mechanisms on")]),
                Cell::text(vec![text("observer")]),
            ],
            compact: true,
            ..Table::default()
        };
        for (_, label, _) in EFFECTS {
            table.header.push(Cell::num(vec![text(*label)]));
        }
        for (mode, on) in &others {
            for (i, obs) in observers.iter().enumerate() {
                let mut cells = if i == 0 {
                    vec![
                        Cell::text(vec![code(mode.as_str())]),
                        Cell::text(describe_on(on)),
                    ]
                } else {
                    vec![Cell::empty(), Cell::empty()]
                };
                cells.push(Cell::text(vec![code(*obs)]));
                for (metric, _, lower) in EFFECTS {
                    cells.push(effect_cell(
                        ix.get(base, obs, scope, metric),
                        ix.get(mode, obs, scope, metric),
                        *lower,
                    ));
                }
                table.rows.push(Row {
                    cells,
                    group_start: i == 0,
                });
            }
        }
        out.push(Block::Table(table));
    }
}

fn attribution_section(a: &Analysis, out: &mut Vec<Block>) {
    out.push(Block::Heading(2, vec![text("Leak attribution")]));
    out.push(Block::Para(vec![text(
        "Which flow carried the identifiers behind the links: memberships disclosed counts the \
         memberships whose identity disclosure used an item or link from the flow, room pairs \
         linked the cross-room membership pairs whose link used one. A flow listed here is why \
         the observer's disclosure or cross-room recall in that mode is not zero. One table \
         per scope: foreign for other providers' users, own for the observer's own users (how \
         a provider names its own users). One link can use several flows, so the rows of an \
         observer need not add up to its totals; rows with both counts 0 are left out.",
    )]));
    for scope in TABLE_SCOPES {
        out.push(Block::Heading(3, scope_title(scope)));
        attribution_table(a, scope, out);
    }
}

/// The leak attribution of one scope: a table, and the modes without any row.
fn attribution_table(a: &Analysis, scope: Scope, out: &mut Vec<Block>) {
    let pos = |list: &[String], x: &str| list.iter().position(|m| m == x).unwrap_or(list.len());
    let mode_names: Vec<String> = a.modes.iter().map(|(m, _)| m.clone()).collect();
    let mut rows: Vec<(usize, usize, usize)> = a
        .attribution
        .iter()
        .enumerate()
        .filter(|(_, r)| r.scope == scope)
        .filter(|(_, r)| r.memberships_disclosed > 0 || r.room_pairs_linked > 0)
        .map(|(i, r)| (pos(&mode_names, &r.mode), pos(&a.observers, &r.observer), i))
        .collect();
    rows.sort();
    if rows.is_empty() {
        out.push(Block::Para(vec![text(
            "No flow disclosed a membership or linked a room pair in any mode.",
        )]));
        return;
    }
    let silent: Vec<&str> = a
        .modes
        .iter()
        .map(|(m, _)| m.as_str())
        .filter(|m| !rows.iter().any(|&(_, _, i)| a.attribution[i].mode == *m))
        .collect();
    let mut table = Table {
        header: vec![
            Cell::text(vec![text("mode")]),
            Cell::text(vec![text("observer")]),
            Cell::text(vec![text("flow")]),
            Cell::num(vec![text("memberships disclosed")]),
            Cell::num(vec![text("room pairs linked")]),
        ],
        ..Table::default()
    };
    let mut last: Option<(&str, &str)> = None;
    for &(_, _, i) in &rows {
        let r = &a.attribution[i];
        let new_mode = last.is_none_or(|(m, _)| m != r.mode);
        let new_obs = new_mode || last.is_none_or(|(_, o)| o != r.observer);
        last = Some((&r.mode, &r.observer));
        table.rows.push(Row {
            cells: vec![
                if new_mode {
                    Cell::text(vec![code(r.mode.as_str())])
                } else {
                    Cell::empty()
                },
                if new_obs {
                    Cell::text(vec![code(r.observer.as_str())])
                } else {
                    Cell::empty()
                },
                Cell::text(vec![code(r.flow.as_str())]),
                Cell::num(vec![text(r.memberships_disclosed.to_string())]),
                Cell::num(vec![text(r.room_pairs_linked.to_string())]),
            ],
            group_start: new_mode,
        });
    }
    out.push(Block::Table(table));
    if !silent.is_empty() {
        let mut para = vec![text(
            "No flow disclosed a membership or linked a room pair in: ",
        )];
        para.extend(code_list(silent));
        para.push(text("."));
        out.push(Block::Para(para));
    }
}

/// The scope of an observer's anonymity chart: `foreign` when it saw foreign memberships, else
/// `all`.
fn anonymity_scope(a: &Analysis, observer: &str) -> Scope {
    let foreign = a
        .anonymity
        .iter()
        .any(|s| s.observer == observer && s.scope == Scope::Foreign && !s.sizes.is_empty());
    if foreign {
        Scope::Foreign
    } else {
        Scope::All
    }
}

fn anonymity_section(a: &Analysis, out: &mut Vec<Block>) {
    let mut blocks = vec![Block::Heading(2, vec![text("Anonymity set distribution")])];
    let figures: Vec<Figure> = a
        .observers
        .iter()
        .filter(|o| a.anonymity.iter().any(|s| s.observer == **o))
        .map(|o| {
            let scope = anonymity_scope(a, o);
            Figure {
                chart: Chart::AnonymityCdf {
                    observer: o.clone(),
                    scope,
                },
                caption: vec![
                    text("Observer "),
                    code(o.as_str()),
                    text(format!(", scope {}", scope.as_str())),
                ],
            }
        })
        .collect();
    if figures.is_empty() {
        blocks.push(Block::Para(vec![text(
            "The analysis has no anonymity set sizes.",
        )]));
    } else {
        blocks.push(Block::Para(vec![
            text(
                "For each observer, the share of memberships whose anonymity set (the real users \
                 the observer cannot rule out) has at most x users, one line per mode, n \
                 memberships each. A line at 1 from x = 1 on means every membership is named. \
                 Scope ",
            ),
            code("foreign"),
            text(" where the observer saw foreign memberships, else "),
            code("all"),
            text(". Lines of modes that coincide lie on top of each other, earlier modes wider."),
        ]));
        blocks.push(Block::Figures {
            wide: false,
            figures,
        });
    }
    out.push(Block::HtmlOnly(blocks));
}

fn observers_section(a: &Analysis, ix: &Index, out: &mut Vec<Block>) {
    out.push(Block::Heading(2, vec![text("Per observer")]));
    out.push(Block::Para(vec![
        text("Every metric per observer and mode, for scope "),
        code("foreign"),
        text(" (other providers' users), "),
        code("own"),
        text(" (the observer's own users) and "),
        code("all"),
        text(
            " (every user the observer saw). Ratios read value (numerator/denominator), counts \
             value (of what they were counted among); order statistics and means stand alone. \
             n/a marks a number taken over nothing (0/0, or n=0 samples): not measured, which \
             is not 0; – marks one the analysis did not produce.",
        ),
    ]));
    let metrics = metric_names(a);
    for obs in &a.observers {
        out.push(Block::Heading(
            3,
            vec![text("Observer "), code(obs.as_str())],
        ));
        // Counts are 0 rather than n/a over nothing: they do not show that anything was seen.
        let has_foreign = a.metrics.iter().any(|m| {
            a.strongest().is_none_or(|name| m.adversary == name)
                && m.observer == *obs
                && m.scope == Scope::Foreign
                && !is_empty(m)
                && kind(m) != MetricKind::Count
        });
        let scopes: &[Scope] = if has_foreign {
            &[Scope::Foreign, Scope::Own, Scope::All]
        } else {
            out.push(Block::Para(vec![text(
                "This observer saw no memberships of other providers' users: scope all only \
                 (the same as own).",
            )]));
            &[Scope::All]
        };
        let mut table = Table::default();
        table.header.push(Cell::text(vec![text("metric")]));
        table.header.push(Cell::text(vec![text("scope")]));
        for (mode, _) in &a.modes {
            table.header.push(Cell::num(vec![code(mode.as_str())]));
        }
        table.header.push(Cell::text(vec![text("meaning")]));
        for metric in &metrics {
            let mut first = true;
            for scope in scopes {
                let rows: Vec<Option<&MetricRow>> = a
                    .modes
                    .iter()
                    .map(|(mode, _)| ix.get(mode, obs, *scope, metric))
                    .collect();
                if rows.iter().all(Option::is_none) {
                    continue;
                }
                let mut cells = if first {
                    vec![Cell::text(vec![code(*metric)])]
                } else {
                    vec![Cell::empty()]
                };
                cells.push(Cell::text(vec![text(scope.as_str())]));
                cells.extend(rows.into_iter().map(value_cell));
                cells.push(if first {
                    Cell::text(vec![text(meaning(metric))])
                } else {
                    Cell::empty()
                });
                table.rows.push(Row {
                    cells,
                    group_start: first,
                });
                first = false;
            }
        }
        if table.rows.is_empty() {
            out.push(Block::Para(vec![text("No metrics for this observer.")]));
        } else {
            out.push(Block::Table(table));
        }
    }
}

/// The operating points of the adversaries with a threshold, and what other thresholds give:
/// foreign cross-room recall and precision and the identification of room and connection-room
/// memberships, pooled over the providers alone (numerators and denominators summed), per
/// mode.
fn curves_section(a: &Analysis, out: &mut Vec<Block>) {
    if a.curves.is_empty() {
        return;
    }
    out.push(Block::Heading(2, vec![text("Adversary thresholds")]));
    out.push(Block::Para(vec![
        text(
            "The fingerprint and size adversaries link a fingerprint or a message-length \
             signature seen in at most a number of (room, user) entries; the timing adversary \
             links event chains within a window. Each row \
             is one threshold, the run's own (its operating point, from the scenario's ",
        ),
        code("[adversary]"),
        text(
            " table) marked; the numbers are foreign-scope and pooled over the providers alone \
             (numerators and denominators summed). A higher threshold links more pairs (recall) \
             and more wrongly (precision): every point is in ",
        ),
        code("curves.csv"),
        text(", per observer."),
    ]));
    let providers = providers_alone(a);
    let mut adversaries: Vec<(&str, &str)> = Vec::new();
    for p in &a.curves {
        if !adversaries.iter().any(|(n, _)| *n == p.adversary) {
            adversaries.push((&p.adversary, &p.parameter));
        }
    }
    for (adversary, parameter) in adversaries {
        out.push(Block::Heading(
            3,
            vec![
                text("Adversary "),
                code(adversary),
                text(", threshold "),
                code(parameter),
            ],
        ));
        let mut table = Table {
            compact: true,
            ..Table::default()
        };
        table.groups.push((Vec::new(), 1));
        table.header.push(Cell::text(vec![text("threshold")]));
        for (mode, _) in &a.modes {
            table.groups.push((vec![code(mode.as_str())], 4));
            for label in [
                "recall",
                "precision",
                "identification",
                "conn.-room identification",
            ] {
                table.header.push(Cell::num(vec![text(label)]));
            }
        }
        let mut thresholds: Vec<(u64, bool)> = Vec::new();
        for p in a.curves.iter().filter(|p| p.adversary == adversary) {
            if !thresholds.iter().any(|(t, _)| *t == p.threshold) {
                thresholds.push((p.threshold, p.operating));
            }
        }
        thresholds.sort_unstable();
        for (threshold, operating) in thresholds {
            let shown = if parameter.ends_with("_us") {
                format!("{} ms", fmt_num(threshold as f64 / 1000.0))
            } else {
                threshold.to_string()
            };
            let mut label = vec![text(shown)];
            if operating {
                label.push(dim(" (operating point)".to_owned()));
            }
            let mut cells = vec![Cell::text(label)];
            for (mode, _) in &a.modes {
                let sum = |field: fn(&CurvePoint) -> (f64, f64)| {
                    pooled_curve(a, &providers, adversary, mode, threshold, field)
                };
                for (n, d) in [
                    sum(|p| p.cross_room_recall),
                    sum(|p| p.cross_room_precision),
                    sum(|p| p.identification),
                    sum(|p| p.connection_room_identification),
                ] {
                    cells.push(pooled_cell(n, d));
                }
            }
            table.rows.push(Row {
                cells,
                group_start: false,
            });
        }
        out.push(Block::Table(table));
        out.push(Block::HtmlOnly(vec![Block::Figures {
            wide: false,
            figures: vec![Figure {
                chart: Chart::PrCurve {
                    adversary: adversary.to_owned(),
                },
                caption: vec![
                    text("Adversary "),
                    code(adversary),
                    text(
                        ": foreign cross-room precision against recall at each threshold, pooled \
                         over the providers alone; the larger dot is the operating point, and a \
                         threshold that links nothing has no point.",
                    ),
                ],
            }],
        }]));
    }
}

/// The activity attack's links: which rooms' pseudonyms, after how many messages, right or
/// wrong by ground truth.
fn activity_section(a: &Analysis, out: &mut Vec<Block>) {
    out.push(Block::Heading(2, vec![text("Activity co-occurrence")]));
    out.push(Block::Para(vec![
        text(
            "The timing adversary's statistical disclosure attack: two user pseudonyms of \
             different rooms that are active in the same windows (the timing window) at least ",
        ),
        text(crate::timing::DEFAULT_MIN_COOCCURRENCE.to_string()),
        text(
            " times and never one without the other are linked. Each row is a linked pair, with \
             the messages the two sent until the link (Martiny et al., NDSS 2021, link Signal \
             sealed-sender conversations in about 5) and whether ground truth agrees.",
        ),
    ]));
    if a.activity.is_empty() {
        out.push(Block::Para(vec![text(
            "No pair was linked: no observer saw two pseudonyms of different rooms active \
             together often enough (a workload without users active in two rooms in the same \
             sessions has nothing to find).",
        )]));
        return;
    }
    let mut table = Table::default();
    for label in [
        "mode",
        "observer",
        "rooms",
        "messages to link",
        "windows",
        "right",
    ] {
        table.header.push(Cell::text(vec![text(label)]));
    }
    for r in &a.activity {
        table.rows.push(Row {
            cells: vec![
                Cell::text(vec![code(r.mode.as_str())]),
                Cell::text(vec![code(r.observer.as_str())]),
                Cell::text(vec![
                    code(r.room_a.as_str()),
                    text(" and "),
                    code(r.room_b.as_str()),
                ]),
                Cell::num(vec![text(r.messages_to_link.to_string())]),
                Cell::num(vec![text(r.windows_to_link.to_string())]),
                Cell::text(vec![text(if r.correct { "yes" } else { "no (two users)" })])
                    .tone(if r.correct { Tone::Bad } else { Tone::Plain }),
            ],
            group_start: false,
        });
    }
    out.push(Block::Table(table));
}

/// Costs the trade-off table shows when the run records them: (stat key, column label, scale
/// divisor, unit).
const COSTS: &[(&str, &str, f64, &str)] = &[
    ("mls_operations", "MLS operations", 1.0, ""),
    ("bytes_sent", "bytes", 1.0, ""),
    ("padding_bytes", "padding bytes", 1.0, ""),
    ("jitter_delay_us_max", "added delay, max", 1000.0, " ms"),
    ("jitter_delay_us_total", "added delay, total", 1000.0, " ms"),
    ("placeholder_clients", "placeholder clients", 1.0, ""),
];

/// What each mode buys against each adversary (foreign recall and identification, pooled over
/// the providers alone) and what it costs (the run's counters).
fn tradeoff_section(a: &Analysis, out: &mut Vec<Block>) {
    if a.modes.len() < 2 || a.adversaries.is_empty() {
        return;
    }
    out.push(Block::Heading(2, vec![text("Trade-offs")]));
    out.push(Block::Para(vec![text(
        "Per mode, what each adversary still finds about other providers' users (foreign \
         cross-room recall and identification, numerators and denominators summed over the \
         providers alone), and what the mode costs, from the run's counters (a cost the run does \
         not record is left out).",
    )]));
    let providers = providers_alone(a);
    let costs: Vec<&(&str, &str, f64, &str)> = COSTS
        .iter()
        .filter(|(key, ..)| a.stats.iter().any(|(_, s)| s.contains_key(*key)))
        .collect();
    let mut table = Table {
        compact: true,
        ..Table::default()
    };
    table.groups.push((Vec::new(), 1));
    table.header.push(Cell::text(vec![text("mode")]));
    for adversary in &a.adversaries {
        table.groups.push((vec![code(adversary.as_str())], 2));
        table.header.push(Cell::num(vec![text("recall")]));
        table.header.push(Cell::num(vec![text("identification")]));
    }
    if !costs.is_empty() {
        table.groups.push((vec![text("cost")], costs.len()));
        for (_, label, ..) in &costs {
            table.header.push(Cell::num(vec![text(*label)]));
        }
    }
    for (mode, _) in &a.modes {
        let mut cells = vec![Cell::text(vec![code(mode.as_str())])];
        for adversary in &a.adversaries {
            for metric in ["cross_room_recall", "identification"] {
                let (n, d) = a
                    .metrics
                    .iter()
                    .filter(|m| {
                        m.mode == *mode
                            && m.adversary == *adversary
                            && m.scope == Scope::Foreign
                            && m.metric == metric
                            && providers.contains(&m.observer.as_str())
                    })
                    .fold((0.0, 0.0), |(n, d), m| {
                        (n + m.numerator.unwrap_or(0.0), d + m.denominator)
                    });
                cells.push(pooled_cell(n, d));
            }
        }
        let stats = a.stats.iter().find(|(m, _)| m == mode).map(|(_, s)| s);
        for (key, _, scale, unit) in &costs {
            let v = stats.and_then(|s| s.get(*key)).map_or_else(
                || "–".to_owned(),
                |v| format!("{}{unit}", fmt_num(v / scale)),
            );
            cells.push(Cell::num(vec![text(v)]));
        }
        table.rows.push(Row {
            cells,
            group_start: false,
        });
    }
    out.push(Block::Table(table));
}

/// One field of an adversary's curve points at one threshold and mode, numerators and
/// denominators summed over `providers`.
pub(crate) fn pooled_curve(
    a: &Analysis,
    providers: &[&str],
    adversary: &str,
    mode: &str,
    threshold: u64,
    field: fn(&CurvePoint) -> (f64, f64),
) -> (f64, f64) {
    a.curves
        .iter()
        .filter(|p| {
            p.adversary == adversary
                && p.threshold == threshold
                && p.mode == mode
                && providers.contains(&p.observer.as_str())
        })
        .map(field)
        .fold((0.0, 0.0), |(n, d), (a, b)| (n + a, d + b))
}

/// The observers that are one provider alone (neither a coalition nor `all`).
pub(crate) fn providers_alone(a: &Analysis) -> Vec<&str> {
    a.observers
        .iter()
        .map(String::as_str)
        .filter(|o| *o != ALL_PROVIDERS && !a.is_coalition(o))
        .collect()
}

/// A ratio pooled over observers: `value (numerator/denominator)`, n/a over nothing.
fn pooled_cell(n: f64, d: f64) -> Cell {
    let v = if d == 0.0 {
        NA.to_owned()
    } else {
        fmt_num(n / d)
    };
    Cell::num(vec![
        text(v),
        dim(format!(" ({}/{})", fmt_num(n), fmt_num(d))),
    ])
}

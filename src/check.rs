//! `mimimi-sim check`: runs scenarios and holds their metrics to the `[[expect]]` bounds they
//! carry, so that a change that leaks more metadata fails a build.

use std::path::{Path, PathBuf};

use mimimi_analysis::model::Analysis;

use crate::output::{self, OutputError};
use crate::scenario::{self, ExpectObserver, Expectation, Override, Scenario, ScenarioError};
use crate::world::RunError;

/// Why `check` could not evaluate (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// A scenario file is invalid.
    #[error("{0}")]
    Scenario(#[from] ScenarioError),
    /// A path holds nothing to check.
    #[error("{}: error: {}", .0.display(), .1)]
    Path(PathBuf, String),
    /// A run failed (the error names file, action, time, mode and seed).
    #[error("{0}")]
    Run(#[from] Box<RunError>),
    /// Results could not be written or analysed.
    #[error("{0}")]
    Output(#[from] OutputError),
    /// `--seeds` is malformed.
    #[error("--seeds {0}: use one seed (7) or an inclusive range (1..5)")]
    Seeds(String),
}

/// One evaluated bound: an expectation, for one seed and one observer.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The scenario's name.
    pub scenario: String,
    /// The scenario file.
    pub file: String,
    pub seed: u64,
    /// `FILE:LINE` of the `[[expect]]` table and what it says.
    pub expectation: String,
    /// The observer the value is for.
    pub observer: String,
    /// The measured value (None: nothing measured, see `empty`).
    pub value: Option<f64>,
    /// The metric was computed but taken over nothing (n/a); false when it is missing.
    pub empty: bool,
    pub passed: bool,
    /// The expectation's `why`, if any.
    pub why: Option<String>,
}

/// Parses `--seeds`: `7` or `1..5` (inclusive).
pub fn parse_seeds(s: &str) -> Result<Vec<u64>, CheckError> {
    let bad = || CheckError::Seeds(s.to_string());
    match s.split_once("..") {
        Some((a, b)) => {
            let (a, b): (u64, u64) = (
                a.trim().parse().map_err(|_| bad())?,
                b.trim().parse().map_err(|_| bad())?,
            );
            if a > b || b - a >= 10_000 {
                return Err(bad());
            }
            Ok((a..=b).collect())
        }
        None => Ok(vec![s.trim().parse().map_err(|_| bad())?]),
    }
}

/// The scenarios `check` runs, and the files it skips.
pub struct Plan {
    /// Scenarios with `[[expect]]` tables, in the order named (a directory's files sorted).
    pub scenarios: Vec<Scenario>,
    /// Files of named directories that have no `[[expect]]` table, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Loads the scenarios named: files as given, directories' `*.toml` files (not recursive).
/// A file named on its own must have `[[expect]]` tables (a check that checks nothing must
/// not pass); a directory's files without them are skipped, but a directory must hold at
/// least one with them.
pub fn plan(paths: &[PathBuf], overrides: &[Override]) -> Result<Plan, CheckError> {
    let mut plan = Plan {
        scenarios: vec![],
        skipped: vec![],
    };
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| CheckError::Path(p.clone(), format!("cannot read: {e}")))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && f.extension().is_some_and(|x| x == "toml"))
                .collect();
            found.sort();
            let before = plan.scenarios.len();
            for f in found {
                let s = scenario::load_with(&f, overrides)?;
                if s.expectations.is_empty() {
                    plan.skipped
                        .push((f, "no [[expect]] tables, nothing to check".into()));
                } else {
                    plan.scenarios.push(s);
                }
            }
            if plan.scenarios.len() == before {
                return Err(CheckError::Path(
                    p.clone(),
                    "no *.toml scenario file here has [[expect]] tables: nothing to check".into(),
                ));
            }
        } else {
            let s = scenario::load_with(p, overrides)?;
            if s.expectations.is_empty() {
                return Err(CheckError::Path(
                    p.clone(),
                    "the scenario has no [[expect]] tables: check would hold it to nothing; \
                     add [[expect]] bounds, or use `run`"
                        .into(),
                ));
            }
            plan.scenarios.push(s);
        }
    }
    Ok(plan)
}

/// Runs every mode of `s` with `seed` (as many at once as there are cores) and analyses the
/// results from the files a run writes.
pub fn analyse(s: &Scenario, seed: u64) -> Result<Analysis, CheckError> {
    analyse_with(
        s,
        seed,
        crate::world::default_jobs(),
        crate::world::Decrypt::All,
    )
}

/// [`analyse`] with `jobs` modes at once and the recipients decrypting `decrypt`.
pub fn analyse_with(
    s: &Scenario,
    seed: u64,
    jobs: usize,
    decrypt: crate::world::Decrypt,
) -> Result<Analysis, CheckError> {
    let scratch = output::ScratchDir::new()?;
    let options = crate::world::RunOptions {
        jobs,
        decrypt,
        log_to: Some((scratch.path().to_path_buf(), crate::observe::Format::Csv)),
    };
    let outputs = crate::world::run_modes(s, seed, 0, &options, |_, _| {})?;
    let results = output::mode_results(s, outputs);
    output::write_files(scratch.path(), &output::run_files(s, seed, 0, &results))?;
    drop(results);
    Ok(output::write_reports(scratch.path())?)
}

/// The observers an expectation is about.
fn observers(e: &Expectation, s: &Scenario) -> Vec<String> {
    match &e.observer {
        ExpectObserver::EveryProvider => s.providers.iter().map(|p| p.domain.clone()).collect(),
        ExpectObserver::Named(o) => vec![o.clone()],
    }
}

/// Evaluates every expectation of `s` on `analysis`.
pub fn evaluate(s: &Scenario, seed: u64, analysis: &Analysis) -> Vec<Outcome> {
    let mut out = vec![];
    for e in &s.expectations {
        let observer_name = match &e.observer {
            ExpectObserver::EveryProvider => "every-provider".to_string(),
            ExpectObserver::Named(o) => o.clone(),
        };
        // The adversary is named when it is not the default, the strongest.
        let adversary = if e.adversary == mimimi_analysis::adversary::COMBINED {
            String::new()
        } else {
            format!(" adversary {}", e.adversary)
        };
        let expectation = format!(
            "{}:{} {} {} {} {} {}{}",
            s.file,
            e.pos.line,
            e.mode,
            observer_name,
            e.scope,
            e.metric,
            e.bounds(),
            adversary
        );
        for observer in observers(e, s) {
            let row = analysis.metrics.iter().find(|m| {
                m.mode == e.mode
                    && m.adversary == e.adversary
                    && m.observer == observer
                    && m.scope.as_str() == e.scope
                    && m.metric == e.metric
            });
            let value = row.and_then(|m| m.value);
            let empty = row.is_some_and(|m| m.is_empty());
            // A bound on nothing measured fails unless the expectation says `when_empty =
            // "pass"`: n/a is not 0. A metric the analysis did not produce always fails.
            let passed = row.is_some() && e.passes(value);
            out.push(Outcome {
                scenario: s.name.clone(),
                file: s.file.clone(),
                seed,
                expectation: expectation.clone(),
                observer,
                value,
                empty,
                passed,
                why: e.why.clone(),
            });
        }
    }
    out
}

/// Runs and evaluates every scenario for every seed (each scenario's own seed when `seeds` is
/// None). A scenario run with another seed is read again with the seed set, so that a
/// `[population]` generates the world of that seed.
pub fn check(
    scenarios: &[Scenario],
    seeds: Option<&[u64]>,
    overrides: &[Override],
) -> Result<Vec<Outcome>, CheckError> {
    let mut outcomes = vec![];
    for s in scenarios {
        let own = [s.seed];
        for &seed in seeds.unwrap_or(&own) {
            let reseeded;
            let s = if seed == s.seed {
                s
            } else {
                let mut with_seed = overrides.to_vec();
                with_seed.push(Override::new("seed", &seed.to_string()));
                reseeded = scenario::load_with(Path::new(&s.file), &with_seed)?;
                &reseeded
            };
            let analysis = analyse(s, seed)?;
            outcomes.extend(evaluate(s, seed, &analysis));
        }
    }
    Ok(outcomes)
}

/// What an outcome measured: the value, `n/a (nothing measured)` for a metric taken over
/// nothing, or `missing` for a metric the analysis did not produce.
pub fn measured(o: &Outcome) -> String {
    match o.value {
        Some(v) => mimimi_analysis::report::fmt_num(v),
        None if o.empty => "n/a (nothing measured)".to_string(),
        None => "missing".to_string(),
    }
}

/// The outcome table, one line per evaluated bound.
pub fn table(outcomes: &[Outcome]) -> String {
    let mut rows = vec![[
        "scenario".to_string(),
        "seed".to_string(),
        "expectation".to_string(),
        "observer".to_string(),
        "measured".to_string(),
        "result".to_string(),
    ]];
    for o in outcomes {
        rows.push([
            o.scenario.clone(),
            o.seed.to_string(),
            o.expectation.clone(),
            o.observer.clone(),
            measured(o),
            if o.passed { "PASS" } else { "FAIL" }.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut s = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        s.push_str(line.join("  ").trim_end());
        s.push('\n');
    }
    s
}

/// A JUnit test case: its name and the outcomes (one per observer) it stands for.
type Case<'a> = (String, Vec<&'a Outcome>);

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML: a test suite per scenario, a test case per expectation and seed (failing when
/// the bound fails for any of its observers).
pub fn junit(outcomes: &[Outcome]) -> String {
    let mut suites: Vec<(&str, Vec<Case>)> = vec![];
    for o in outcomes {
        if suites.last().is_none_or(|(f, _)| *f != o.file) {
            suites.push((&o.file, vec![]));
        }
        let cases = &mut suites.last_mut().expect("pushed").1;
        let name = format!("{} [seed {}]", o.expectation, o.seed);
        if cases.last().is_none_or(|(n, _)| *n != name) {
            cases.push((name, vec![]));
        }
        cases.last_mut().expect("pushed").1.push(o);
    }
    let total: usize = suites.iter().map(|(_, c)| c.len()).sum();
    let failed = |c: &[&Outcome]| c.iter().any(|o| !o.passed);
    let total_failures: usize = suites
        .iter()
        .map(|(_, cs)| cs.iter().filter(|(_, c)| failed(c)).count())
        .sum();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuites name=\"mimimi-sim check\" tests=\"{total}\" failures=\"{total_failures}\">\n"
    ));
    for (file, cases) in &suites {
        let failures = cases.iter().filter(|(_, c)| failed(c)).count();
        x.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\">\n",
            xml_escape(file),
            cases.len()
        ));
        for (name, c) in cases {
            x.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\"",
                xml_escape(&c[0].scenario),
                xml_escape(name)
            ));
            if failed(c) {
                let detail: Vec<String> = c
                    .iter()
                    .filter(|o| !o.passed)
                    .map(|o| format!("{} measured {}", o.observer, measured(o)))
                    .collect();
                let why = c[0].why.as_deref().unwrap_or("");
                x.push_str(&format!(
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                    xml_escape(&detail.join("; ")),
                    xml_escape(why)
                ));
            } else {
                x.push_str("/>\n");
            }
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

/// Writes the JUnit file into its prepared place.
pub fn write_junit(file: output::PreparedFile, outcomes: &[Outcome]) -> Result<(), CheckError> {
    Ok(file.commit(junit(outcomes).as_bytes())?)
}

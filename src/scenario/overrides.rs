//! `--set KEY=VALUE`: scenario keys and population parameters given on the command line.
//!
//! An override is applied to the scenario text before it is parsed: the value replaces the
//! key's value where the file writes it, or the key is inserted (at the top of the file for a
//! top-level key, under its table's header, or in a new table at the end). The text that comes
//! out is parsed and validated like any file, and a [`SourceMap`] turns every position back
//! into one of the file (whose lines keep their numbers) or of the `--set` argument, so a bad
//! value on the command line gets the same positioned error as a bad value in the file.

use std::ops::Range;

use serde::Serialize;
use toml::de::{DeTable, DeValue};

use super::error::{line_starts, pos_in, ScenarioError, Source};
use super::Pos;

/// The top-level keys `--set` takes (the scalar and list keys of a scenario).
pub const ROOT_KEYS: &[&str] = &[
    "name",
    "seed",
    "latency",
    "key_packages",
    "modes",
    "channel",
    "relay",
    "key_package_sets",
    "last_resort_reupload",
    "jitter",
    "jitter_max",
    "padding_buckets",
    "leaves_per_user",
];

/// The tables whose keys `--set` takes, as `TABLE.KEY`.
pub const TABLES: &[&str] = &["population", "adversary"];

/// The repeated tables, which `--set` cannot address.
const REPEATED: &[&str] = &[
    "provider",
    "user",
    "action",
    "ablation",
    "coalition",
    "expect",
];

/// One `--set KEY=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Override {
    /// The argument as given, `KEY=VALUE`.
    pub arg: String,
    /// `KEY` (`seed`, `population.users`, `adversary.directory`).
    pub key: String,
    /// The value as TOML text: as given, or quoted when given as a bare word (`direct`,
    /// `50ms`), so that strings need no quotes on the command line.
    pub value: String,
}

impl Override {
    /// Parses `KEY=VALUE`.
    pub fn parse(arg: &str) -> Result<Override, ScenarioError> {
        let (key, value) = split_arg(arg)?;
        let value = toml_value(arg, value, key.len() + 1)?;
        Ok(Override {
            arg: arg.to_string(),
            key: key.to_string(),
            value,
        })
    }

    /// An override of `key` with a TOML value already in TOML form (`seed`, `7`).
    pub fn new(key: &str, value: &str) -> Override {
        Override {
            arg: format!("{key}={value}"),
            key: key.to_string(),
            value: value.to_string(),
        }
    }

    /// The key's table and name: (`None`, `seed`) or (`Some("population")`, `users`).
    fn path(&self) -> (Option<&str>, &str) {
        match self.key.split_once('.') {
            Some((table, name)) => (Some(table), name),
            None => (None, &self.key),
        }
    }
}

/// Parses a sweep's `KEY=V1,V2,...` into one override per value, in order. Commas inside
/// brackets, braces or quotes do not split (`padding_buckets=[256,1024],[4096]` is two values).
pub fn parse_values(arg: &str) -> Result<Vec<Override>, ScenarioError> {
    let (key, values) = split_arg(arg)?;
    let mut out = vec![];
    for (start, value) in split_top_level(values) {
        // The 0-based column before the value; its first character is at `column + 1`.
        let column = key.len() + 1 + start;
        if value.trim().is_empty() {
            return Err(arg_error(
                arg,
                column + 1,
                format!("empty value in the list of `{key}`"),
                Some(format!(
                    "give one or more values separated by commas, e.g. --set {key}=1,2,4"
                )),
            ));
        }
        let toml = toml_value(arg, value, column)?;
        out.push(Override {
            arg: format!("{key}={}", value.trim()),
            key: key.to_string(),
            value: toml,
        });
    }
    Ok(out)
}

/// Splits `KEY=VALUE` and checks the key.
fn split_arg(arg: &str) -> Result<(&str, &str), ScenarioError> {
    let Some((key, value)) = arg.split_once('=') else {
        return Err(arg_error(
            arg,
            1,
            "expected KEY=VALUE".into(),
            Some("e.g. --set key_package_sets=8 or --set population.users=200".into()),
        ));
    };
    let key_error = |message: String, hint: String| Err(arg_error(arg, 1, message, Some(hint)));
    let known = || {
        format!(
            "keys: {}, and {}",
            ROOT_KEYS.join(", "),
            TABLES
                .iter()
                .map(|t| format!("{t}.KEY"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let parts: Vec<&str> = key.split('.').collect();
    let bare = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if !parts.iter().all(|p| bare(p)) {
        return key_error(format!("invalid key `{key}`"), known());
    }
    match parts.as_slice() {
        [root] if ROOT_KEYS.contains(root) => {}
        [root] if TABLES.contains(root) => {
            return key_error(
                format!("`{root}` is a table"),
                format!("set one of its keys, e.g. --set {root}.KEY=VALUE"),
            )
        }
        [root] if REPEATED.contains(root) => {
            return key_error(
                format!("`{root}` is a repeated table ([[{root}]]), which --set cannot change"),
                "edit the scenario file, or generate the users and actions with a \
                 [population] table and set its keys"
                    .into(),
            )
        }
        [table, _] if TABLES.contains(table) => {}
        _ => return key_error(format!("unknown key `{key}`"), known()),
    }
    if value.trim().is_empty() {
        return Err(arg_error(
            arg,
            key.len() + 2,
            format!("no value for `{key}`"),
            Some(format!("e.g. --set {key}=VALUE")),
        ));
    }
    Ok((key, value))
}

/// `text` as a TOML value: as it is when it parses, quoted when it is a bare word.
fn toml_value(arg: &str, text: &str, column: usize) -> Result<String, ScenarioError> {
    let t = text.trim();
    match DeValue::parse(t) {
        Ok(_) => Ok(t.to_string()),
        Err(_) if is_bare_word(t) => Ok(toml::Value::String(t.to_string()).to_string()),
        Err(e) => {
            let at = e.span().map_or(0, |s| s.start);
            Err(arg_error(
                arg,
                column + 1 + (text.len() - text.trim_start().len()) + at,
                format!("invalid value: {}", e.message().trim()),
                Some(
                    "write a number, true or false, a word, a quoted string or an array in \
                     brackets, as in the scenario file"
                        .into(),
                ),
            ))
        }
    }
}

/// A word that can stand for a string without quotes: letters, digits and `_.:+-/@`.
fn is_bare_word(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || "_.:+-/@".contains(c))
}

/// Splits at commas outside brackets, braces and quotes; `(byte offset, piece)`.
fn split_top_level(s: &str) -> Vec<(usize, &str)> {
    let mut out = vec![];
    let (mut depth, mut quote, mut start) = (0i32, None::<char>, 0);
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q == '"' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '[' | '{' => depth += 1,
            ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push((start, &s[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push((start, &s[start..]));
    out
}

/// An error in a `--set` argument, at a 1-based character column of it.
fn arg_error(arg: &str, column: usize, message: String, hint: Option<String>) -> ScenarioError {
    ScenarioError::Invalid {
        file: format!("--set {arg}"),
        line: 1,
        column: column.min(arg.chars().count() + 1).max(1),
        message: super::error::shorten(&message),
        hint,
    }
}

/// Where a stretch of the parsed text comes from.
#[derive(Debug, Clone, Copy)]
enum Origin {
    /// The file, from this byte offset on.
    File(usize),
    /// `KEY = ` written for the override with this index.
    SetKey(usize),
    /// The value written for the override with this index.
    SetValue(usize),
    /// Tables generated by the `[population]` table.
    Generated,
}

/// Maps byte offsets of the text that is parsed (the file with overrides applied, and the
/// population's tables appended) back to the file and the `--set` arguments.
#[derive(Debug)]
pub(crate) struct SourceMap {
    original: String,
    original_lines: Vec<usize>,
    /// `(start in the parsed text, origin)`, by start.
    segments: Vec<(usize, Origin)>,
    overrides: Vec<Override>,
}

/// Where an offset of the parsed text points.
pub(crate) enum Located {
    /// A position in the file.
    File(Pos),
    /// A `--set` argument and a column of it.
    Set(String, usize),
    /// Generated text: the offset is a position of the expanded scenario itself.
    Generated,
}

impl SourceMap {
    /// Where `offset` (of the parsed text) points.
    pub fn locate(&self, offset: usize) -> Located {
        let i = self.segments.partition_point(|(s, _)| *s <= offset);
        let (start, origin) = self.segments[i.saturating_sub(1)];
        match origin {
            Origin::File(at) => Located::File(pos_in(
                &self.original,
                &self.original_lines,
                at + (offset - start),
            )),
            Origin::SetKey(k) => Located::Set(self.overrides[k].arg.clone(), 1),
            Origin::SetValue(k) => {
                let o = &self.overrides[k];
                let column = o.key.len() + 2 + (offset - start);
                Located::Set(o.arg.clone(), column.min(o.arg.chars().count()))
            }
            Origin::Generated => Located::Generated,
        }
    }

    /// The map of a text that is the file itself (before a population is appended).
    pub fn identity(src: &str) -> SourceMap {
        SourceMap {
            original: src.to_string(),
            original_lines: line_starts(src),
            segments: vec![(0, Origin::File(0))],
            overrides: vec![],
        }
    }

    /// Records that everything from `start` on (of the parsed text) is generated.
    pub fn push_generated(&mut self, start: usize) {
        self.segments.push((start, Origin::Generated));
    }
}

/// One change to the file: replace `range` (empty to insert) with pieces of text.
struct Edit {
    range: Range<usize>,
    /// `(text, origin)`: origin `None` is text of the file's own kind (a new table header).
    pieces: Vec<(String, Origin)>,
}

/// The file's text with `overrides` applied (a later override of the same key wins), and the
/// map back. The file must be valid TOML: its syntax errors are reported as they are.
pub(crate) fn apply(
    src: &str,
    file: &str,
    overrides: &[Override],
) -> Result<(String, SourceMap), ScenarioError> {
    let source = Source::new(src, file);
    let table = DeTable::parse(src).map_err(|e| source.toml_error(&e))?;
    let table = table.get_ref();
    // The last override of each key.
    let mut last: Vec<usize> = vec![];
    for (i, o) in overrides.iter().enumerate() {
        last.retain(|&j| overrides[j].key != o.key);
        last.push(i);
    }
    last.sort_unstable();
    let mut edits: Vec<Edit> = vec![];
    // Keys of tables the file does not have, appended at its end under one header each.
    let mut new_tables: Vec<(&str, Vec<usize>)> = vec![];
    let assignment = |k: usize, name: &str| {
        vec![
            (format!("{name} = "), Origin::SetKey(k)),
            (format!("{}\n", overrides[k].value), Origin::SetValue(k)),
        ]
    };
    for &k in &last {
        let o = &overrides[k];
        let (table_name, name) = o.path();
        let scope =
            match table_name {
                None => Some(table),
                Some(t) => match table.get(t) {
                    None if t == "population" => return Err(arg_error(
                        &o.arg,
                        1,
                        format!(
                            "{file} has no [population] table: --set {} would add a generated \
                             world to the scenario",
                            o.key
                        ),
                        Some(
                            "set population keys on scenarios that generate their world, or add \
                             a [population] table to the file"
                                .into(),
                        ),
                    )),
                    None => {
                        match new_tables.iter_mut().find(|(n, _)| *n == t) {
                            Some((_, keys)) => keys.push(k),
                            None => new_tables.push((t, vec![k])),
                        }
                        None
                    }
                    Some(value) => {
                        let header = value.span();
                        let (DeValue::Table(inner), true) =
                            (value.get_ref(), src[header.clone()].starts_with('['))
                        else {
                            return Err(source.error(
                                header,
                                format!(
                                    "--set {} cannot change `{t}`, which is not written as a \
                                 [{t}] table here",
                                    o.arg
                                ),
                                Some(format!("write it as a table with the header [{t}]")),
                            ));
                        };
                        match inner.get(name) {
                            Some(_) => Some(inner),
                            None => {
                                // Inserted on the line after the header.
                                let at = src[header.end..]
                                    .find('\n')
                                    .map_or(src.len(), |i| header.end + i + 1);
                                let mut pieces = assignment(k, name);
                                if at == src.len() && !src.ends_with('\n') {
                                    pieces.insert(0, ("\n".into(), Origin::SetKey(k)));
                                }
                                edits.push(Edit {
                                    range: at..at,
                                    pieces,
                                });
                                None
                            }
                        }
                    }
                },
            };
        let Some(scope) = scope else { continue };
        match scope.get(name) {
            Some(value) => edits.push(Edit {
                range: value.span(),
                pieces: vec![(o.value.clone(), Origin::SetValue(k))],
            }),
            None => edits.push(Edit {
                range: 0..0,
                pieces: assignment(k, name),
            }),
        }
    }
    for (t, keys) in new_tables {
        let mut pieces = vec![(
            format!(
                "{}\n[{t}]\n",
                if src.is_empty() || src.ends_with('\n') {
                    ""
                } else {
                    "\n"
                }
            ),
            Origin::SetKey(keys[0]),
        )];
        for k in keys {
            pieces.extend(assignment(k, overrides[k].path().1));
        }
        edits.push(Edit {
            range: src.len()..src.len(),
            pieces,
        });
    }
    // Stable: insertions at the same place keep the order of the overrides.
    edits.sort_by_key(|e| e.range.start);
    let mut text = String::with_capacity(src.len() + 64);
    let mut segments = vec![];
    let mut at = 0;
    for e in edits {
        if e.range.start > at {
            segments.push((text.len(), Origin::File(at)));
            text.push_str(&src[at..e.range.start]);
        }
        for (piece, origin) in e.pieces {
            segments.push((text.len(), origin));
            text.push_str(&piece);
        }
        at = at.max(e.range.end);
    }
    segments.push((text.len(), Origin::File(at)));
    text.push_str(&src[at..]);
    Ok((
        text,
        SourceMap {
            original: src.to_string(),
            original_lines: line_starts(src),
            segments,
            overrides: overrides.to_vec(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(args: &[&str]) -> Vec<Override> {
        args.iter().map(|a| Override::parse(a).unwrap()).collect()
    }

    #[test]
    fn replaces_inserts_and_appends() {
        let src = "name = \"x\"\nseed = 3\n\n[adversary]\ndirectory = false\n";
        let (text, _) = apply(
            src,
            "f.toml",
            &set(&[
                "seed=9",
                "channel=direct",
                "adversary.directory=true",
                "adversary.timing_window=1s",
                "seed=10",
            ]),
        )
        .unwrap();
        assert_eq!(
            text,
            "channel = \"direct\"\nname = \"x\"\nseed = 10\n\n[adversary]\n\
             timing_window = \"1s\"\ndirectory = true\n"
        );
    }

    #[test]
    fn population_keys_need_a_population() {
        let e = apply("seed = 1\n", "f.toml", &set(&["population.users=20"])).unwrap_err();
        assert_eq!(
            e.to_string().lines().next().unwrap(),
            "--set population.users=20:1:1: error: f.toml has no [population] table: --set \
             population.users would add a generated world to the scenario"
        );
    }

    #[test]
    fn bad_arguments_are_positioned() {
        let e = Override::parse("population.users").unwrap_err();
        assert_eq!(
            e.to_string().lines().next().unwrap(),
            "--set population.users:1:1: error: expected KEY=VALUE"
        );
        let e = Override::parse("user=3").unwrap_err();
        assert!(e.to_string().contains("repeated table"), "{e}");
        let e = Override::parse("sed=3").unwrap_err();
        assert!(e.to_string().contains("unknown key `sed`"), "{e}");
        let e = Override::parse("seed=[1,").unwrap_err();
        assert!(e.to_string().starts_with("--set seed=[1,:1:"), "{e}");
        let e = parse_values("key_package_sets=1,,4").unwrap_err();
        assert_eq!(
            e.pos(),
            Some(Pos {
                line: 1,
                column: 20
            })
        );
        assert!(e.to_string().contains("empty value"), "{e}");
    }

    #[test]
    fn lists_split_at_top_level_commas() {
        let v = parse_values("padding_buckets=[256,1024],[4096]").unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].value, "[256,1024]");
        assert_eq!(v[1].arg, "padding_buckets=[4096]");
        let v = parse_values("channel=relay,direct,none").unwrap();
        assert_eq!(
            v.iter().map(|o| o.value.as_str()).collect::<Vec<_>>(),
            ["\"relay\"", "\"direct\"", "\"none\""]
        );
    }
}

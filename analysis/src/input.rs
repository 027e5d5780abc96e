//! Reading a run directory of mimimi-sim into [`RunData`].
//!
//! A run directory holds `summary.json` and, for every mode, a directory `<mode>/` with
//! `observations.csv`, `truth.csv`, `memberships.csv`, `connections.csv` and `messages.csv`.
//! Every error names the file (relative to the run directory) and, for CSV rows, the line.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use crate::model::{Coalition, Item, Membership, Message, ModeData, Observation, RunData, Truth};

/// Why a run directory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// A file is missing or unreadable.
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// `summary.json` is not valid JSON of the expected shape.
    #[error("{file}: {source}")]
    Json {
        file: String,
        #[source]
        source: serde_json::Error,
    },
    /// A CSV row (or the header) is malformed.
    #[error("{file} line {line}: {message}")]
    Row {
        file: String,
        line: u64,
        message: String,
    },
    /// A Parquet file is malformed: as a whole (`row` 0) or in one row (counted from 1).
    #[error("{file}{}: {message}", if *.row == 0 { String::new() } else { format!(" row {}", .row) })]
    Parquet {
        file: String,
        row: u64,
        message: String,
    },
    /// The run directory is inconsistent (for example a mode listed without its data).
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

/// The column lists of the run directory's CSV files.
pub const OBSERVATIONS_HEADER: &[&str] = &[
    "seq", "time_us", "observer", "flow", "peer", "room", "size", "subject", "kind", "value",
];
pub const TRUTH_HEADER: &[&str] = &["kind", "value", "user", "client"];
pub const MEMBERSHIPS_HEADER: &[&str] = &[
    "room",
    "purpose",
    "user",
    "client",
    "from_us",
    "to_us",
    "last_resort",
];
/// Columns of `memberships.csv` that older run directories lack: read as empty there.
pub const MEMBERSHIPS_OPTIONAL: &[&str] = &["key_package_set"];
pub const CONNECTIONS_HEADER: &[&str] = &["requester", "target"];
pub const MESSAGES_HEADER: &[&str] = &["message", "room", "user", "client", "time_us"];

#[derive(Deserialize)]
struct Summary {
    scenario: String,
    seed: u64,
    run: u64,
    providers: Vec<String>,
    #[serde(default)]
    coalitions: Vec<Coalition>,
    mode_order: Vec<String>,
    modes: BTreeMap<String, ModeSummary>,
    #[serde(default)]
    tool_version: Option<String>,
    #[serde(default)]
    scenario_sha256: Option<String>,
    #[serde(default)]
    parameters: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    adversary: crate::adversary::AdversaryOptions,
}

#[derive(Deserialize)]
struct ModeSummary {
    #[serde(default)]
    mechanisms: Vec<String>,
    #[serde(default)]
    fingerprint: Option<String>,
    /// The run's counters; numbers only are kept.
    #[serde(default)]
    stats: BTreeMap<String, serde_json::Value>,
}

/// Reads a whole run directory.
pub fn load(dir: &Path) -> Result<RunData, AnalysisError> {
    let mut run = load_header(dir)?;
    for i in 0..run.modes.len() {
        let mode = std::mem::take(&mut run.modes[i]);
        run.modes[i] = load_mode_data(dir, &run.providers, mode)?;
    }
    Ok(run)
}

/// Reads and checks `summary.json` of a run directory: every mode is listed with its
/// mechanisms, fingerprint and counters, and without its data (see [`load_mode_data`]), so that
/// a caller can hold one mode's logs in memory at a time.
pub fn load_header(dir: &Path) -> Result<RunData, AnalysisError> {
    let summary_file = "summary.json";
    let text = read_to_string(dir, summary_file)?;
    let summary: Summary = serde_json::from_str(&text).map_err(|source| AnalysisError::Json {
        file: summary_file.to_string(),
        source,
    })?;
    check_summary(&summary)?;
    let mut modes = Vec::with_capacity(summary.mode_order.len());
    for mode in &summary.mode_order {
        let Some(mode_summary) = summary.modes.get(mode) else {
            return Err(AnalysisError::Invalid {
                file: summary_file.to_string(),
                message: format!("mode_order names mode `{mode}` that `modes` does not list"),
            });
        };
        modes.push(ModeData {
            mode: mode.clone(),
            mechanisms: mode_summary.mechanisms.clone(),
            fingerprint: mode_summary.fingerprint.clone(),
            stats: mode_summary
                .stats
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                .collect(),
            ..ModeData::default()
        });
    }
    if let Some(extra) = summary
        .modes
        .keys()
        .find(|m| !summary.mode_order.contains(m))
    {
        return Err(AnalysisError::Invalid {
            file: summary_file.to_string(),
            message: format!("mode `{extra}` is missing from mode_order"),
        });
    }
    Ok(RunData {
        scenario: summary.scenario,
        seed: summary.seed,
        run: summary.run,
        providers: summary.providers,
        coalitions: summary.coalitions,
        modes,
        tool_version: summary.tool_version,
        scenario_sha256: summary.scenario_sha256,
        parameters: summary.parameters,
        adversary: summary.adversary,
    })
}

/// Reads the logs of one mode listed by [`load_header`] into it; every observation must be by
/// one of `providers`.
pub fn load_mode_data(
    dir: &Path,
    providers: &[String],
    header: ModeData,
) -> Result<ModeData, AnalysisError> {
    let data = load_mode(dir, &header.mode, header.mechanisms)?;
    if let Some(o) = data
        .observations
        .iter()
        .find(|o| !providers.contains(&o.observer))
    {
        let file = if dir.join(&data.mode).join("observations.parquet").exists() {
            "observations.parquet"
        } else {
            "observations.csv"
        };
        return Err(AnalysisError::Invalid {
            file: format!("{}/{file}", data.mode),
            message: format!(
                "observation seq {} is by `{}`, which is not a provider of summary.json",
                o.seq, o.observer
            ),
        });
    }
    Ok(ModeData {
        fingerprint: header.fingerprint,
        stats: header.stats,
        ..data
    })
}

/// Whether `name` can name a directory inside the run directory: 1 to 100 letters, digits,
/// '_', '.' and '-', not starting with '.' (so never `..`, a path or a hidden file).
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The summary's lists must make sense before any file they name is read: modes are plain
/// names listed once, providers are listed once, and every coalition is named once, is not a
/// provider or `all`, and has at least two of the listed providers, each once.
fn check_summary(s: &Summary) -> Result<(), AnalysisError> {
    let invalid = |message: String| AnalysisError::Invalid {
        file: "summary.json".to_string(),
        message,
    };
    let mut seen = std::collections::BTreeSet::new();
    for mode in &s.mode_order {
        if !plain_name(mode) {
            return Err(invalid(format!(
                "mode `{mode}` is not a plain directory name (letters, digits, '_', '.', '-')"
            )));
        }
        if !seen.insert(mode) {
            return Err(invalid(format!(
                "mode `{mode}` is listed twice in mode_order"
            )));
        }
    }
    let hex = |v: &str, len: usize| v.len() == len && v.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(h) = s.scenario_sha256.as_deref().filter(|h| !hex(h, 64)) {
        return Err(invalid(format!(
            "scenario_sha256 `{h}` is not a SHA-256 in hex (64 hex digits)"
        )));
    }
    for (mode, m) in &s.modes {
        if let Some(f) = m.fingerprint.as_deref().filter(|f| !hex(f, 64)) {
            return Err(invalid(format!(
                "the fingerprint `{f}` of mode `{mode}` is not a SHA-256 in hex (64 hex digits)"
            )));
        }
    }
    let mut providers = std::collections::BTreeSet::new();
    for p in &s.providers {
        if !providers.insert(p) {
            return Err(invalid(format!("provider `{p}` is listed twice")));
        }
    }
    let mut names = std::collections::BTreeSet::new();
    for c in &s.coalitions {
        if c.name == crate::model::ALL_PROVIDERS || providers.contains(&c.name) {
            return Err(invalid(format!(
                "coalition `{}` has the name of a built-in observer",
                c.name
            )));
        }
        if !names.insert(&c.name) {
            return Err(invalid(format!("coalition `{}` is listed twice", c.name)));
        }
        let mut members = std::collections::BTreeSet::new();
        for m in &c.members {
            if !providers.contains(m) {
                return Err(invalid(format!(
                    "coalition `{}` names `{m}`, which is not a listed provider",
                    c.name
                )));
            }
            if !members.insert(m) {
                return Err(invalid(format!("coalition `{}` lists `{m}` twice", c.name)));
            }
        }
        if members.len() < 2 {
            return Err(invalid(format!(
                "coalition `{}` has fewer than two providers",
                c.name
            )));
        }
    }
    Ok(())
}

/// Reads the five CSV files of one mode from `<dir>/<mode>/`.
pub fn load_mode(
    dir: &Path,
    mode: &str,
    mechanisms: Vec<String>,
) -> Result<ModeData, AnalysisError> {
    let open = |name: &str| -> Result<(String, File), AnalysisError> {
        let file = format!("{mode}/{name}");
        let handle = File::open(dir.join(mode).join(name)).map_err(|source| AnalysisError::Io {
            file: file.clone(),
            source,
        })?;
        Ok((file, handle))
    };
    let parquet = dir.join(mode).join("observations.parquet");
    let observations = if parquet.exists() {
        if dir.join(mode).join("observations.csv").exists() {
            return Err(AnalysisError::Invalid {
                file: format!("{mode}/observations.parquet"),
                message: "observations.csv is there too: a run writes one of them; remove the \
                          other"
                    .into(),
            });
        }
        let (file, r) = open("observations.parquet")?;
        parse_observations_parquet(&file, r)?
    } else {
        let (file, r) = open("observations.csv")?;
        parse_observations(&file, r)?
    };
    let (file, r) = open("truth.csv")?;
    let truth = parse_truth(&file, r)?;
    let (file, r) = open("memberships.csv")?;
    let memberships = parse_memberships(&file, r)?;
    let (file, r) = open("connections.csv")?;
    let connections = parse_connections(&file, r)?;
    let (file, r) = open("messages.csv")?;
    let messages = parse_messages(&file, r)?;
    Ok(ModeData {
        mode: mode.to_string(),
        mechanisms,
        fingerprint: None,
        stats: BTreeMap::new(),
        observations,
        truth,
        memberships,
        connections,
        messages,
    })
}

fn read_to_string(dir: &Path, name: &str) -> Result<String, AnalysisError> {
    std::fs::read_to_string(dir.join(name)).map_err(|source| AnalysisError::Io {
        file: name.to_string(),
        source,
    })
}

/// A CSV file being read row by row, with the columns looked up by header name.
struct Rows<R: Read> {
    file: String,
    reader: csv::Reader<R>,
    /// Column index of every expected column, then of every optional one (`None`: absent).
    columns: Vec<Option<usize>>,
    record: csv::StringRecord,
    line: u64,
}

impl<R: Read> Rows<R> {
    fn new(file: &str, input: R, expected: &[&str]) -> Result<Self, AnalysisError> {
        Rows::with_optional(file, input, expected, &[])
    }

    /// Like [`Rows::new`], with `optional` columns after the expected ones: the header may
    /// lack them, and then they read as empty.
    fn with_optional(
        file: &str,
        input: R,
        expected: &[&str],
        optional: &[&str],
    ) -> Result<Self, AnalysisError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(input);
        let header = reader.headers().map_err(|e| csv_error(file, 1, e))?.clone();
        let mut columns = Vec::with_capacity(expected.len() + optional.len());
        for name in expected {
            match header.iter().position(|h| h == *name) {
                Some(i) => columns.push(Some(i)),
                None => {
                    return Err(AnalysisError::Row {
                        file: file.to_string(),
                        line: 1,
                        message: format!("missing column `{name}` in header"),
                    })
                }
            }
        }
        for name in optional {
            columns.push(header.iter().position(|h| h == *name));
        }
        Ok(Rows {
            file: file.to_string(),
            reader,
            columns,
            record: csv::StringRecord::new(),
            line: 1,
        })
    }

    /// Advances to the next row; false at the end of the file.
    fn next(&mut self) -> Result<bool, AnalysisError> {
        let more = self
            .reader
            .read_record(&mut self.record)
            .map_err(|e| csv_error(&self.file, self.line + 1, e))?;
        if more {
            self.line = self
                .record
                .position()
                .map(|p| p.line())
                .unwrap_or(self.line + 1);
        }
        Ok(more)
    }

    /// The current row's value of the `i`-th column (expected, then optional; empty when an
    /// optional column is absent).
    fn get(&self, i: usize) -> &str {
        self.columns[i]
            .and_then(|c| self.record.get(c))
            .unwrap_or("")
    }

    fn error(&self, message: String) -> AnalysisError {
        AnalysisError::Row {
            file: self.file.clone(),
            line: self.line,
            message,
        }
    }

    fn text(&self, i: usize, name: &str) -> Result<String, AnalysisError> {
        let v = self.get(i);
        if v.is_empty() {
            return Err(self.error(format!("empty `{name}`")));
        }
        Ok(v.to_string())
    }

    fn number<T: std::str::FromStr>(&self, i: usize, name: &str) -> Result<T, AnalysisError> {
        let v = self.get(i);
        v.parse()
            .map_err(|_| self.error(format!("`{name}` is not a number: `{v}`")))
    }

    fn optional_number<T: std::str::FromStr>(
        &self,
        i: usize,
        name: &str,
    ) -> Result<Option<T>, AnalysisError> {
        if self.get(i).is_empty() {
            Ok(None)
        } else {
            self.number(i, name).map(Some)
        }
    }
}

fn csv_error(file: &str, fallback_line: u64, e: csv::Error) -> AnalysisError {
    let line = e.position().map(|p| p.line()).unwrap_or(fallback_line);
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("expected {expected_len} fields, found {len}"),
        _ => e.to_string(),
    };
    AnalysisError::Row {
        file: file.to_string(),
        line,
        message,
    }
}

/// One row of the observation log, in either format.
struct ObservationRow {
    seq: u64,
    time_us: u64,
    observer: String,
    flow: String,
    peer: String,
    room: Option<String>,
    size: u64,
    item: Option<Item>,
}

/// Puts observations together from their rows: the rows of one `seq` are consecutive and agree
/// on everything but the item; an observation without items is one row without an item.
#[derive(Default)]
struct Assembler {
    out: Vec<Observation>,
    seen: std::collections::BTreeSet<u64>,
}

impl Assembler {
    /// Adds a row; the error message says what is wrong with it.
    fn add(&mut self, row: ObservationRow) -> Result<(), String> {
        let seq = row.seq;
        match self.out.last_mut() {
            Some(last) if last.seq == seq => {
                if last.time_us != row.time_us
                    || last.observer != row.observer
                    || last.flow != row.flow
                    || last.peer != row.peer
                    || last.room != row.room
                    || last.size != row.size
                {
                    return Err(format!(
                        "row of seq {seq} differs from the earlier rows of that seq"
                    ));
                }
                match row.item {
                    Some(item) => last.items.push(item),
                    None => return Err(format!("empty item row in seq {seq}, which has items")),
                }
            }
            _ => {
                if !self.seen.insert(seq) {
                    return Err(format!("rows of seq {seq} are not consecutive"));
                }
                self.out.push(Observation {
                    seq,
                    time_us: row.time_us,
                    observer: row.observer,
                    flow: row.flow,
                    peer: row.peer,
                    room: row.room,
                    size: row.size,
                    items: row.item.into_iter().collect(),
                });
            }
        }
        Ok(())
    }
}

/// Parses `observations.csv`: one row per item, the rows of one `seq` consecutive; an
/// observation without items is one row with empty `subject`, `kind` and `value`.
pub fn parse_observations<R: Read>(
    file: &str,
    input: R,
) -> Result<Vec<Observation>, AnalysisError> {
    let mut rows = Rows::new(file, input, OBSERVATIONS_HEADER)?;
    let mut assembler = Assembler::default();
    while rows.next()? {
        let (subject, kind, value) = (rows.get(7), rows.get(8), rows.get(9));
        let item = if subject.is_empty() && kind.is_empty() && value.is_empty() {
            None
        } else {
            if kind.is_empty() || value.is_empty() {
                return Err(rows.error("an item needs `subject`, `kind` and `value`".into()));
            }
            Some(Item {
                subject: rows.number(7, "subject")?,
                kind: kind.to_string(),
                value: value.to_string(),
            })
        };
        let row = ObservationRow {
            seq: rows.number(0, "seq")?,
            time_us: rows.number(1, "time_us")?,
            observer: rows.text(2, "observer")?,
            flow: rows.text(3, "flow")?,
            peer: rows.get(4).to_string(),
            room: Some(rows.get(5).to_string()).filter(|r| !r.is_empty()),
            size: rows.number(6, "size")?,
            item,
        };
        assembler.add(row).map_err(|m| rows.error(m))?;
    }
    Ok(assembler.out)
}

/// Parses `observations.parquet`: the table of `observations.csv` with typed columns, null
/// where the CSV has an empty field. Errors name the row (counted from 1).
pub fn parse_observations_parquet(
    file: &str,
    input: File,
) -> Result<Vec<Observation>, AnalysisError> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    let fail = |row: u64, message: String| AnalysisError::Parquet {
        file: file.to_string(),
        row,
        message,
    };
    let reader = SerializedFileReader::new(input)
        .map_err(|e| fail(0, format!("not a readable Parquet file: {e}")))?;
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let names: Vec<&str> = schema.columns().iter().map(|c| c.name()).collect();
    let mut columns = [0usize; 10];
    for (slot, name) in columns.iter_mut().zip(OBSERVATIONS_HEADER) {
        *slot = names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| fail(0, format!("missing column `{name}`")))?;
    }
    let rows = reader
        .get_row_iter(None)
        .map_err(|e| fail(0, e.to_string()))?;
    let mut assembler = Assembler::default();
    for (n, row) in (1u64..).zip(rows) {
        let row = row.map_err(|e| fail(n, e.to_string()))?;
        let fields: Vec<&Field> = row.get_column_iter().map(|(_, f)| f).collect();
        let field = |i: usize| fields[columns[i]];
        let number = |i: usize| -> Result<u64, AnalysisError> {
            match field(i) {
                Field::ULong(v) => Ok(*v),
                Field::Long(v) => u64::try_from(*v)
                    .map_err(|_| fail(n, format!("`{}` is negative: {v}", OBSERVATIONS_HEADER[i]))),
                Field::UInt(v) => Ok(u64::from(*v)),
                Field::Int(v) => u64::try_from(*v)
                    .map_err(|_| fail(n, format!("`{}` is negative: {v}", OBSERVATIONS_HEADER[i]))),
                other => Err(fail(
                    n,
                    format!("`{}` is not a number: {other}", OBSERVATIONS_HEADER[i]),
                )),
            }
        };
        let text = |i: usize| -> Result<Option<String>, AnalysisError> {
            match field(i) {
                Field::Str(v) if !v.is_empty() => Ok(Some(v.clone())),
                Field::Null => Ok(None),
                other => Err(fail(
                    n,
                    format!(
                        "`{}` is not a non-empty string: {other}",
                        OBSERVATIONS_HEADER[i]
                    ),
                )),
            }
        };
        let required = |i: usize| -> Result<String, AnalysisError> {
            text(i)?.ok_or_else(|| fail(n, format!("empty `{}`", OBSERVATIONS_HEADER[i])))
        };
        let item = match (field(7), text(8)?, text(9)?) {
            (Field::Null, None, None) => None,
            (Field::Null, _, _) | (_, None, _) | (_, _, None) => {
                return Err(fail(
                    n,
                    "an item needs `subject`, `kind` and `value`".into(),
                ))
            }
            (_, Some(kind), Some(value)) => Some(Item {
                subject: u32::try_from(number(7)?)
                    .map_err(|_| fail(n, "`subject` is out of range".into()))?,
                kind,
                value,
            }),
        };
        let row = ObservationRow {
            seq: number(0)?,
            time_us: number(1)?,
            observer: required(2)?,
            flow: required(3)?,
            peer: text(4)?.unwrap_or_default(),
            room: text(5)?,
            size: number(6)?,
            item,
        };
        assembler.add(row).map_err(|m| fail(n, m))?;
    }
    Ok(assembler.out)
}

/// Parses `truth.csv`.
pub fn parse_truth<R: Read>(file: &str, input: R) -> Result<Vec<Truth>, AnalysisError> {
    let mut rows = Rows::new(file, input, TRUTH_HEADER)?;
    let mut out = Vec::new();
    while rows.next()? {
        out.push(Truth {
            kind: rows.text(0, "kind")?,
            value: rows.text(1, "value")?,
            user: rows.text(2, "user")?,
            client: rows.get(3).to_string(),
        });
    }
    Ok(out)
}

/// Parses `memberships.csv`; a file without the `key_package_set` column (an older run
/// directory) reads as if every client had entered without a known set.
pub fn parse_memberships<R: Read>(file: &str, input: R) -> Result<Vec<Membership>, AnalysisError> {
    let mut rows = Rows::with_optional(file, input, MEMBERSHIPS_HEADER, MEMBERSHIPS_OPTIONAL)?;
    let mut out = Vec::new();
    while rows.next()? {
        let key_package_set = match rows.get(7) {
            "" => None,
            id if id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Some(id.to_string())
            }
            other => {
                return Err(rows.error(format!(
                    "`key_package_set` must be empty or 16 hex digits, not `{other}`"
                )))
            }
        };
        let purpose = rows.text(1, "purpose")?;
        if purpose != "room" && purpose != "connection" {
            return Err(rows.error(format!(
                "`purpose` must be `room` or `connection`, not `{purpose}`"
            )));
        }
        let last_resort = match rows.get(6) {
            "1" | "true" => true,
            "0" | "false" => false,
            other => return Err(rows.error(format!("`last_resort` must be 0 or 1, not `{other}`"))),
        };
        let from_us: u64 = rows.number(4, "from_us")?;
        let to_us: Option<u64> = rows.optional_number(5, "to_us")?;
        if let Some(to) = to_us.filter(|&to| to < from_us) {
            return Err(rows.error(format!(
                "the membership ends (to_us {to}) before it starts (from_us {from_us})"
            )));
        }
        out.push(Membership {
            room: rows.text(0, "room")?,
            purpose,
            user: rows.text(2, "user")?,
            client: rows.get(3).to_string(),
            from_us,
            to_us,
            last_resort,
            key_package_set,
        });
    }
    Ok(out)
}

/// Parses `connections.csv` into (requester, target) pairs.
pub fn parse_connections<R: Read>(
    file: &str,
    input: R,
) -> Result<Vec<(String, String)>, AnalysisError> {
    let mut rows = Rows::new(file, input, CONNECTIONS_HEADER)?;
    let mut out = Vec::new();
    while rows.next()? {
        out.push((rows.text(0, "requester")?, rows.text(1, "target")?));
    }
    Ok(out)
}

/// Parses `messages.csv`.
pub fn parse_messages<R: Read>(file: &str, input: R) -> Result<Vec<Message>, AnalysisError> {
    let mut rows = Rows::new(file, input, MESSAGES_HEADER)?;
    let mut out = Vec::new();
    while rows.next()? {
        out.push(Message {
            message: rows.text(0, "message")?,
            room: rows.text(1, "room")?,
            user: rows.text(2, "user")?,
            client: rows.get(3).to_string(),
            time_us: rows.number(4, "time_us")?,
        });
    }
    Ok(out)
}

//! Errors with a source position, rendered as `FILE:LINE:COLUMN: error: MESSAGE`.

use std::ops::Range;

use super::overrides::{Located, SourceMap};
use super::Pos;

/// Why a scenario file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read (the OS error is part of the message, not a separate
    /// source, so that it is printed once).
    #[error("{file}: error: cannot read the file: {error}")]
    Io { file: String, error: std::io::Error },
    /// The file is not valid TOML, does not match the schema, or describes an impossible
    /// scenario. `line` and `column` are 1-based; the column counts characters.
    #[error("{file}:{line}:{column}: error: {message}{}", render_hint(.hint))]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        message: String,
        hint: Option<String>,
    },
}

fn render_hint(hint: &Option<String>) -> String {
    match hint {
        Some(hint) => format!("\n  hint: {hint}"),
        None => String::new(),
    }
}

impl ScenarioError {
    /// The position the error points at, if it has one.
    pub fn pos(&self) -> Option<Pos> {
        match self {
            ScenarioError::Io { .. } => None,
            ScenarioError::Invalid { line, column, .. } => Some(Pos {
                line: *line,
                column: *column,
            }),
        }
    }

    /// The message without file, position or hint.
    pub fn message(&self) -> String {
        match self {
            ScenarioError::Io { error, .. } => format!("cannot read the file: {error}"),
            ScenarioError::Invalid { message, .. } => message.clone(),
        }
    }

    /// The hint, if there is one.
    pub fn hint(&self) -> Option<&str> {
        match self {
            ScenarioError::Io { .. } => None,
            ScenarioError::Invalid { hint, .. } => hint.as_deref(),
        }
    }
}

/// Byte offset of the start of every line of `src`.
pub(crate) fn line_starts(src: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(src.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// The 1-based line and character column of a byte offset of `src`, whose line starts are
/// `lines`.
pub(crate) fn pos_in(src: &str, lines: &[usize], offset: usize) -> Pos {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let line = lines.partition_point(|&s| s <= offset);
    let line_start = lines[line - 1];
    Pos {
        line,
        column: src[line_start..offset].chars().count() + 1,
    }
}

/// The source text and file name, for turning byte spans into positioned errors.
pub(crate) struct Source<'a> {
    pub src: &'a str,
    pub file: &'a str,
    /// Byte offset of the start of every line, for positions in logarithmic time (a scenario
    /// asks for one per user and action).
    line_starts: Vec<usize>,
    /// When `src` is the file with `--set` overrides applied or a population appended: the
    /// way back to the file and the arguments.
    map: Option<&'a SourceMap>,
}

impl<'a> Source<'a> {
    pub fn new(src: &'a str, file: &'a str) -> Self {
        Source {
            src,
            file,
            line_starts: line_starts(src),
            map: None,
        }
    }

    /// A source whose positions `map` takes back to the file and the `--set` arguments.
    pub fn mapped(src: &'a str, file: &'a str, map: &'a SourceMap) -> Self {
        Source {
            map: Some(map),
            ..Source::new(src, file)
        }
    }

    /// The 1-based line and character column of a byte offset: in the file, or, for text the
    /// population generated, in the expanded scenario (as `mimimi-sim generate` writes it).
    pub fn pos(&self, offset: usize) -> Pos {
        match self.map.map(|m| m.locate(offset)) {
            Some(Located::File(pos)) => pos,
            _ => pos_in(self.src, &self.line_starts, offset),
        }
    }

    /// An error at the start of `span`.
    pub fn error(
        &self,
        span: Range<usize>,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> ScenarioError {
        let (file, pos) = match self.map.map(|m| m.locate(span.start)) {
            None => (self.file.to_string(), self.pos(span.start)),
            Some(Located::File(pos)) => (self.file.to_string(), pos),
            Some(Located::Set(arg, column)) => (format!("--set {arg}"), Pos { line: 1, column }),
            Some(Located::Generated) => (
                format!("{} (as expanded from [population])", self.file),
                pos_in(self.src, &self.line_starts, span.start),
            ),
        };
        ScenarioError::Invalid {
            file,
            line: pos.line,
            column: pos.column,
            message: shorten(&message.into()),
            hint: hint.map(|h| shorten(&h)),
        }
    }

    /// Converts a TOML syntax or schema error, turning serde's wording into message and hint.
    pub fn toml_error(&self, err: &toml::de::Error) -> ScenarioError {
        let span = err.span().unwrap_or(0..0);
        let raw = err.message().trim();
        let (message, hint) = if let Some(rest) = raw.strip_prefix("unknown field ") {
            match rest.split_once(", expected ") {
                Some((key, expected)) => {
                    let accepted: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
                    let hint = if accepted.is_empty() {
                        format!("expected {expected}")
                    } else {
                        format!("accepted keys here: {}", accepted.join(", "))
                    };
                    (format!("unknown key {key}"), Some(hint))
                }
                None => (format!("unknown key {rest}"), None),
            }
        } else if let Some(key) = raw.strip_prefix("missing field ") {
            (
                format!("missing key {key}"),
                Some(format!(
                    "add `{} = ...` to this table",
                    key.trim_matches('`')
                )),
            )
        } else {
            // Numbers are read as i64; say what the file author needs to know.
            let message = raw.replace("expected i64", "expected an integer");
            let hint = type_hint(&message);
            (message, hint)
        };
        self.error(span, message, hint)
    }
}

/// A hint for serde's "invalid type: ..., expected ..." messages, by the expected type.
fn type_hint(message: &str) -> Option<String> {
    let (_, expected) = message
        .strip_prefix("invalid type: ")?
        .rsplit_once(", expected ")?;
    let hint = match expected {
        "an integer" => "write a whole number without quotes, e.g. 4",
        "a boolean" => "write true or false, without quotes",
        "a string" => "put the value in double quotes, e.g. \"alice\"",
        "a sequence" => {
            "write an array in square brackets, e.g. [\"a\", \"b\"]; a table that repeats takes \
             double brackets, e.g. [[user]]"
        }
        _ => return None,
    };
    Some(hint.to_string())
}

/// Longest word of a message shown whole; longer ones (a value pasted by mistake, a key of
/// 500 KB) are cut, and so is a message that is long as a whole.
const MAX_WORD: usize = 64;
const MAX_MESSAGE: usize = 600;

/// `message` with every overlong word cut to its first characters and its length in bytes.
pub(crate) fn shorten(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_MESSAGE + 64));
    for (i, word) in message.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if word.chars().count() > MAX_WORD {
            let head: String = word.chars().take(MAX_WORD / 2).collect();
            out.push_str(&format!("{head}... ({} bytes)", word.len()));
        } else {
            out.push_str(word);
        }
        if out.len() > MAX_MESSAGE {
            out.push_str(" ...");
            break;
        }
    }
    out
}

/// The error for bytes that are not UTF-8: at the line and column where the first invalid
/// byte is, with its offset.
pub(crate) fn utf8_error(file: &str, bytes: &[u8], e: std::str::Utf8Error) -> ScenarioError {
    let valid = std::str::from_utf8(&bytes[..e.valid_up_to()]).expect("valid up to here");
    let source = Source::new(valid, file);
    let pos = source.pos(valid.len());
    ScenarioError::Invalid {
        file: file.to_string(),
        line: pos.line,
        column: pos.column,
        message: format!(
            "the file is not valid UTF-8: byte 0x{:02x} at byte offset {}",
            bytes[e.valid_up_to()],
            e.valid_up_to()
        ),
        hint: Some("save the scenario as UTF-8 text".into()),
    }
}

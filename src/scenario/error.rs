//! Errors with a source position, rendered as `FILE:LINE:COLUMN: error: MESSAGE`.

use std::ops::Range;

use super::Pos;

/// Why a scenario file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
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
            ScenarioError::Io { source, .. } => format!("cannot read: {source}"),
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

/// The source text and file name, for turning byte spans into positioned errors.
pub(crate) struct Source<'a> {
    pub src: &'a str,
    pub file: &'a str,
}

impl Source<'_> {
    /// The 1-based line and character column of a byte offset.
    pub fn pos(&self, offset: usize) -> Pos {
        let mut offset = offset.min(self.src.len());
        while !self.src.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.src[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Pos {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }

    /// An error at the start of `span`.
    pub fn error(
        &self,
        span: Range<usize>,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> ScenarioError {
        let pos = self.pos(span.start);
        ScenarioError::Invalid {
            file: self.file.to_string(),
            line: pos.line,
            column: pos.column,
            message: message.into(),
            hint,
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

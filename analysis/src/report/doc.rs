//! A small document model: what `report.md` and `report.html` say, before either syntax. The
//! sweep report ([`crate::sweep`]) is written in it too.

use crate::model::Scope;

/// A run of text. Renderers escape every variant.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Inline {
    /// Plain text.
    Text(String),
    /// A name: mode, observer, metric, mechanism, flow.
    Code(String),
    /// Secondary text, such as the `(numerator/denominator)` of a ratio.
    Dim(String),
}

pub(crate) fn text(s: impl Into<String>) -> Inline {
    Inline::Text(s.into())
}

pub(crate) fn code(s: impl Into<String>) -> Inline {
    Inline::Code(s.into())
}

pub(crate) fn dim(s: impl Into<String>) -> Inline {
    Inline::Dim(s.into())
}

/// How a cell reads against the draft's goals or the baseline (HTML colours it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tone {
    Plain,
    /// A goal met, or a change for the better.
    Good,
    /// A goal missed, or a change for the worse.
    Bad,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Cell {
    pub content: Vec<Inline>,
    /// A number: right-aligned.
    pub num: bool,
    pub tone: Tone,
}

impl Cell {
    pub fn text(content: Vec<Inline>) -> Cell {
        Cell {
            content,
            num: false,
            tone: Tone::Plain,
        }
    }

    pub fn num(content: Vec<Inline>) -> Cell {
        Cell {
            content,
            num: true,
            tone: Tone::Plain,
        }
    }

    pub fn empty() -> Cell {
        Cell::text(Vec::new())
    }

    pub fn tone(mut self, tone: Tone) -> Cell {
        self.tone = tone;
        self
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Row {
    pub cells: Vec<Cell>,
    /// The first row of a group of rows (HTML draws a rule above it).
    pub group_start: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Table {
    /// Column groups above the header, as (label, number of columns); empty for none. The spans
    /// add up to the number of columns.
    pub groups: Vec<(Vec<Inline>, usize)>,
    pub header: Vec<Cell>,
    pub rows: Vec<Row>,
    /// Many narrow columns: HTML puts the `(numerator/denominator)` under the value.
    pub compact: bool,
}

/// A chart the HTML report draws.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Chart {
    /// One metric per observer, one bar per mode.
    Bars { metric: String, scope: Scope },
    /// Distribution of anonymity set sizes of one observer and scope, one line per mode.
    AnonymityCdf { observer: String, scope: Scope },
    /// Precision against recall of an adversary over its thresholds, pooled over the
    /// providers alone, one line per mode.
    PrCurve { adversary: String },
    /// An SVG chart drawn beforehand, as the page embeds it; None when it could not be drawn.
    Svg(Option<String>),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Figure {
    pub chart: Chart,
    pub caption: Vec<Inline>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Block {
    Heading(u8, Vec<Inline>),
    Para(Vec<Inline>),
    Table(Table),
    /// Figures side by side (`wide`: one per line).
    Figures {
        wide: bool,
        figures: Vec<Figure>,
    },
    /// Content of the HTML report only.
    HtmlOnly(Vec<Block>),
    /// Content of the Markdown report only.
    MarkdownOnly(Vec<Block>),
}

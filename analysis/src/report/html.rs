//! The document as one self-contained HTML page: inline CSS, inline SVG charts, no scripts and
//! no network resources. The run report and the sweep report ([`crate::sweep`]) share the page.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::charts;
use super::doc::{Block, Cell, Chart, Figure, Inline, Table, Tone};
use crate::model::Analysis;

const STYLE: &str = "\
:root { color-scheme: light; }
body { margin: 0; background: #f6f7f9; color: #1d2430;
  font: 15px/1.5 system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 1.6em; margin: 0.2em 0 0.6em; }
h2 { font-size: 1.3em; margin: 1.8em 0 0.5em; padding-bottom: 0.2em; border-bottom: 1px solid #d5d9e0; }
h3 { font-size: 1.1em; margin: 1.4em 0 0.4em; }
p { max-width: 80ch; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace;
  font-size: 0.9em; background: #eef0f4; padding: 0 0.25em; border-radius: 3px; white-space: nowrap; }
.scroll { overflow-x: auto; margin: 0.6em 0 1em; }
table { border-collapse: collapse; font-size: 0.92em; }
th, td { border: 1px solid #c9ced8; padding: 0.25em 0.55em; vertical-align: top; }
th { background: #eef0f4; text-align: left; font-weight: 600; }
th.num { text-align: right; }
th.group { text-align: center; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.group-start td { border-top: 2px solid #8a93a3; }
.frac { color: #667085; }
table.compact .frac { display: block; font-size: 0.9em; }
table.compact th, table.compact td { padding: 0.2em 0.45em; }
td.good { background: #e6f4ea; }
td.bad { background: #fdecea; }
figure { margin: 0.8em 0 1.4em; }
figure svg { display: block; width: 100%; height: auto; border: 1px solid #e1e4ea; }
figcaption { font-size: 0.95em; font-weight: 600; margin-bottom: 0.3em; }
.figures.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 0 20px; }
nav.toc { margin: 0 0 1.2em; padding: 0.4em 1em; background: #f6f7f9; border: 1px solid #e1e4ea; }
nav.toc .toc-title { font-weight: 600; margin: 0.3em 0; }
nav.toc ul { margin: 0.2em 0; padding-left: 1.3em; }
nav.toc a { color: #1d4f91; text-decoration: none; }
nav.toc a:hover { text-decoration: underline; }
";

/// The run report: a table of contents after the title, an id on every heading of levels 2 and
/// 3, charts drawn from `a`.
pub(crate) fn render(a: &Analysis, blocks: &[Block]) -> String {
    page(blocks, Some(a), true)
}

/// A page of blocks whose charts are drawn already ([`Chart::Svg`]), without a table of
/// contents or heading ids (the sweep report).
pub(crate) fn render_drawn(blocks: &[Block]) -> String {
    page(blocks, None, false)
}

/// The page: doctype, head (the first level-1 heading as title, [`STYLE`]) and the blocks in
/// `<main>`. Charts other than [`Chart::Svg`] are drawn from `a` (not drawn without one);
/// `contents`: a table of contents and heading ids.
fn page(blocks: &[Block], a: Option<&Analysis>, contents: bool) -> String {
    let title = blocks
        .iter()
        .find_map(|b| match b {
            Block::Heading(1, content) => Some(plain(content)),
            _ => None,
        })
        .unwrap_or_else(|| "Linkability report".to_owned());
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(out, "<title>{}</title>", escape(&title));
    let _ = writeln!(out, "<style>\n{STYLE}</style>");
    out.push_str("</head>\n<body>\n<main>\n");
    let headings = if contents {
        headings(blocks)
    } else {
        Vec::new()
    };
    let mut r = Renderer {
        out: &mut out,
        a,
        contents,
        headings: &headings,
        next: 0,
    };
    for b in blocks {
        r.block(b);
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

/// A heading of level 2 or 3, with the id it gets in the page.
struct Heading {
    level: u8,
    id: String,
    content: Vec<Inline>,
}

/// The headings of levels 2 and 3 in document order, each with a unique id made from its text.
fn headings(blocks: &[Block]) -> Vec<Heading> {
    fn walk(blocks: &[Block], out: &mut Vec<Heading>, used: &mut BTreeSet<String>) {
        for b in blocks {
            match b {
                Block::Heading(level @ 2..=3, content) => {
                    let base = slug(&plain(content));
                    let mut id = base.clone();
                    let mut n = 2;
                    while !used.insert(id.clone()) {
                        id = format!("{base}-{n}");
                        n += 1;
                    }
                    out.push(Heading {
                        level: *level,
                        id,
                        content: content.clone(),
                    });
                }
                Block::HtmlOnly(inner) => walk(inner, out, used),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(blocks, &mut out, &mut BTreeSet::new());
    out
}

/// An id from a heading's text: lowercase ASCII letters and digits, runs of anything else as
/// one `-`.
fn slug(text: &str) -> String {
    let mut s = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.is_empty() && !s.ends_with('-') {
            s.push('-');
        }
    }
    let trimmed = s.trim_end_matches('-').len();
    s.truncate(trimmed);
    if s.is_empty() {
        s.push_str("section");
    }
    s
}

/// The table of contents: every section (level 2) with its subsections (level 3), linked.
fn toc(out: &mut String, headings: &[Heading]) {
    if headings.is_empty() {
        return;
    }
    out.push_str("<nav class=\"toc\">\n<p class=\"toc-title\">Contents</p>\n<ul>\n");
    let mut open_sub = false;
    for (i, h) in headings.iter().enumerate() {
        let link = format!("<a href=\"#{}\">{}</a>", h.id, inlines(&h.content));
        if h.level == 3 && i > 0 {
            if !open_sub {
                out.push_str("\n<ul>\n");
                open_sub = true;
            }
            let _ = writeln!(out, "<li>{link}</li>");
            continue;
        }
        if open_sub {
            out.push_str("</ul>\n");
            open_sub = false;
        }
        if i > 0 {
            out.push_str("</li>\n");
        }
        let _ = write!(out, "<li>{link}");
    }
    if open_sub {
        out.push_str("</ul>\n");
    }
    out.push_str("</li>\n</ul>\n</nav>\n");
}

/// Writes blocks, giving headings their ids in document order.
struct Renderer<'r> {
    out: &'r mut String,
    a: Option<&'r Analysis>,
    /// A table of contents after the title and ids on the headings of `headings`.
    contents: bool,
    headings: &'r [Heading],
    /// The next heading of `headings` to write.
    next: usize,
}

impl Renderer<'_> {
    fn block(&mut self, b: &Block) {
        let out = &mut *self.out;
        match b {
            Block::Heading(1, content) => {
                let _ = writeln!(out, "<h1>{}</h1>", inlines(content));
                // The table of contents follows the title.
                if self.contents {
                    toc(out, self.headings);
                }
            }
            Block::Heading(level @ 2..=3, content) if self.contents => {
                let id = &self.headings[self.next].id;
                self.next += 1;
                let _ = writeln!(out, "<h{level} id=\"{id}\">{}</h{level}>", inlines(content));
            }
            Block::Heading(level, content) => {
                let level = (*level).clamp(1, 6);
                let _ = writeln!(out, "<h{level}>{}</h{level}>", inlines(content));
            }
            Block::Para(content) => {
                let _ = writeln!(out, "<p>{}</p>", inlines(content));
            }
            Block::Table(t) => table(out, t),
            Block::Figures { wide, figures } => {
                let class = if *wide {
                    "figures wide"
                } else {
                    "figures grid"
                };
                let _ = writeln!(out, "<div class=\"{class}\">");
                for f in figures {
                    figure(out, self.a, f, *wide);
                }
                out.push_str("</div>\n");
            }
            Block::HtmlOnly(blocks) => {
                for b in blocks {
                    self.block(b);
                }
            }
            Block::MarkdownOnly(_) => {}
        }
    }
}

fn figure(out: &mut String, a: Option<&Analysis>, f: &Figure, wide: bool) {
    let svg = match (&f.chart, a) {
        (Chart::Svg(svg), _) => svg.clone(),
        (Chart::Bars { metric, scope }, Some(a)) => charts::bars(a, metric, *scope, wide),
        (Chart::AnonymityCdf { observer, scope }, Some(a)) => {
            charts::anonymity_cdf(a, observer, *scope)
        }
        (Chart::PrCurve { adversary }, Some(a)) => charts::pr_curve(a, adversary),
        // A chart of an analysis on a page without one.
        (_, None) => None,
    };
    out.push_str("<figure>\n");
    let _ = writeln!(out, "<figcaption>{}</figcaption>", inlines(&f.caption));
    match svg {
        Some(svg) => {
            // The label for screen readers, then the chart as it is.
            let label = escape(&plain(&f.caption));
            let svg = svg.replacen(
                "<svg ",
                &format!("<svg role=\"img\" aria-label=\"{label}\" "),
                1,
            );
            out.push_str(&svg);
        }
        None => out.push_str("<p>(this chart could not be drawn)</p>\n"),
    }
    out.push_str("</figure>\n");
}

fn table(out: &mut String, t: &Table) {
    out.push_str(if t.compact {
        "<div class=\"scroll\"><table class=\"compact\">\n<thead>\n"
    } else {
        "<div class=\"scroll\"><table>\n<thead>\n"
    });
    if !t.groups.is_empty() {
        out.push_str("<tr>");
        for (label, span) in &t.groups {
            if *span == 1 {
                let _ = write!(out, "<th class=\"group\">{}</th>", inlines(label));
            } else {
                let _ = write!(
                    out,
                    "<th class=\"group\" colspan=\"{span}\">{}</th>",
                    inlines(label)
                );
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("<tr>");
    for c in &t.header {
        cell(out, "th", c);
    }
    out.push_str("</tr>\n</thead>\n<tbody>\n");
    for r in &t.rows {
        out.push_str(if r.group_start {
            "<tr class=\"group-start\">"
        } else {
            "<tr>"
        });
        for c in &r.cells {
            cell(out, "td", c);
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table></div>\n");
}

fn cell(out: &mut String, tag: &str, c: &Cell) {
    let mut classes = Vec::new();
    if c.num {
        classes.push("num");
    }
    match c.tone {
        Tone::Plain => {}
        Tone::Good => classes.push("good"),
        Tone::Bad => classes.push("bad"),
    }
    if classes.is_empty() {
        let _ = write!(out, "<{tag}>{}</{tag}>", inlines(&c.content));
    } else {
        let _ = write!(
            out,
            "<{tag} class=\"{}\">{}</{tag}>",
            classes.join(" "),
            inlines(&c.content)
        );
    }
}

fn inlines(content: &[Inline]) -> String {
    let mut s = String::new();
    for i in content {
        match i {
            Inline::Text(t) => s.push_str(&escape(t)),
            Inline::Code(c) => {
                let _ = write!(s, "<code>{}</code>", escape(c));
            }
            Inline::Dim(t) => {
                let _ = write!(s, "<span class=\"frac\">{}</span>", escape(t));
            }
        }
    }
    s
}

/// The text of inlines without markup (not escaped).
fn plain(content: &[Inline]) -> String {
    content
        .iter()
        .map(|i| match i {
            Inline::Text(t) | Inline::Code(t) | Inline::Dim(t) => t.as_str(),
        })
        .collect()
}

/// Text for HTML content and attribute values.
pub(crate) fn escape(t: &str) -> String {
    let mut s = String::with_capacity(t.len());
    for c in t.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&#39;"),
            c => s.push(c),
        }
    }
    s
}

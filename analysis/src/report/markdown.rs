//! The document as GitHub-flavoured Markdown.

use super::doc::{Block, Inline, Table};

pub(crate) fn render(blocks: &[Block]) -> String {
    let mut out = String::new();
    for b in blocks {
        block(&mut out, b);
    }
    // One newline at the end, however the last block ended.
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out.push('\n');
    out
}

fn block(out: &mut String, b: &Block) {
    match b {
        Block::Heading(level, content) => {
            out.push_str(&"#".repeat(usize::from(*level)));
            out.push(' ');
            out.push_str(&inlines(content, false));
            out.push_str("\n\n");
        }
        Block::Para(content) => {
            out.push_str(&inlines(content, false));
            out.push_str("\n\n");
        }
        Block::Table(t) => {
            table(out, t);
            out.push('\n');
        }
        // Charts and what only explains them belong to the HTML report.
        Block::Figures { .. } | Block::HtmlOnly(_) => {}
        Block::MarkdownOnly(blocks) => {
            for b in blocks {
                block(out, b);
            }
        }
    }
}

fn table(out: &mut String, t: &Table) {
    // Markdown has one header row: a column group's label goes in front of each of its columns.
    let mut labels: Vec<String> = t.header.iter().map(|c| inlines(&c.content, true)).collect();
    let mut col = 0;
    for (label, span) in &t.groups {
        let label = inlines(label, true);
        for l in labels.iter_mut().skip(col).take(*span) {
            if !label.is_empty() {
                *l = format!("{label} {l}");
            }
        }
        col += span;
    }
    line(out, labels.iter().map(String::as_str));
    line(
        out,
        t.header.iter().map(|c| if c.num { "---:" } else { "---" }),
    );
    for r in &t.rows {
        let cells: Vec<String> = r.cells.iter().map(|c| inlines(&c.content, true)).collect();
        line(out, cells.iter().map(String::as_str));
    }
}

fn line<'s>(out: &mut String, cells: impl Iterator<Item = &'s str>) {
    out.push('|');
    for c in cells {
        out.push(' ');
        out.push_str(c);
        out.push_str(" |");
    }
    out.push('\n');
}

fn inlines(content: &[Inline], in_table: bool) -> String {
    let mut s = String::new();
    for i in content {
        match i {
            Inline::Text(t) | Inline::Dim(t) => s.push_str(&escape(t)),
            Inline::Code(c) => s.push_str(&code_span(c, in_table)),
        }
    }
    s
}

/// Text with Markdown's and HTML's special characters escaped, on one line.
fn escape(t: &str) -> String {
    let mut s = String::with_capacity(t.len());
    for c in t.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '&' => {
                s.push('\\');
                s.push(c);
            }
            '\n' | '\r' | '\t' => s.push(' '),
            c => s.push(c),
        }
    }
    s
}

/// A name as a code span; as escaped text when it cannot be one.
fn code_span(c: &str, in_table: bool) -> String {
    if c.is_empty() || c.contains(['`', '\n', '\r']) || c.starts_with(' ') || c.ends_with(' ') {
        return escape(c);
    }
    let inner = if in_table {
        c.replace('|', "\\|")
    } else {
        c.to_owned()
    };
    format!("`{inner}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(escape("a<b>|c_d\n"), "a\\<b\\>\\|c\\_d ");
        assert_eq!(code_span("a|b", true), "`a\\|b`");
        assert_eq!(code_span("a|b", false), "`a|b`");
        assert_eq!(code_span("a`b", false), "a\\`b");
    }
}

//! The report's Markdown as HTML for `index.html`: parsed by pulldown-cmark
//! (CommonMark with pipe tables), its tables given the page's markup
//! (alignment classes, row headers, the spread of a `mean ± spread` cell on
//! its own line), headings shifted under the page's own, and any raw HTML in
//! the text shown as text.

use pulldown_cmark::{Alignment, CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// Escapes text for HTML (text and double-quoted attribute values).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    // writing into a String cannot fail
    let _ = pulldown_cmark_escape::escape_html(&mut out, s);
    out
}

/// The Markdown the report writes, as HTML (headings shifted down by `shift`).
pub fn markdown_to_html(md: &str, shift: usize) -> String {
    let mut events = Vec::new();
    let mut table = TableState::default();
    for event in Parser::new_ext(md, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                events.push(Event::Start(Tag::Heading {
                    level: shifted(level, shift),
                    id: None,
                    classes: Vec::new(),
                    attrs: Vec::new(),
                }));
            }
            Event::End(TagEnd::Heading(level)) => {
                events.push(Event::End(TagEnd::Heading(shifted(level, shift))));
            }
            // the report's text is never markup: a `<tag>` in it is shown
            Event::Html(raw) | Event::InlineHtml(raw) => table.push(&mut events, Event::Text(raw)),
            event => table.event(&mut events, event),
        }
    }
    let mut out = String::new();
    pulldown_cmark::html::push_html(&mut out, events.into_iter());
    out
}

/// A heading level `shift` deeper, at most `<h6>`.
fn shifted(level: HeadingLevel, shift: usize) -> HeadingLevel {
    HeadingLevel::try_from((level as usize + shift).min(6)).unwrap_or(HeadingLevel::H6)
}

/// Writes tables as this page shows them: in a scrolling box; each cell with
/// class `num` (right-aligned columns) or `text`; the first cell of a body
/// row a row header; a body cell's events gathered to split off its spread.
#[derive(Default)]
struct TableState {
    align: Vec<Alignment>,
    head: bool,
    column: usize,
    /// The events of the body cell being read.
    cell: Option<Vec<Event<'static>>>,
}

impl TableState {
    /// Passes `event` on, or keeps it with the body cell being read.
    fn push(&mut self, out: &mut Vec<Event<'static>>, event: Event<'_>) {
        match &mut self.cell {
            Some(cell) => cell.push(event.into_static()),
            None => out.push(event.into_static()),
        }
    }

    fn event(&mut self, out: &mut Vec<Event<'static>>, event: Event<'_>) {
        let html = |s: String| Event::Html(CowStr::from(s));
        match event {
            Event::Start(Tag::Table(align)) => {
                self.align = align;
                out.push(html("<div class=\"scroll\"><table>\n".into()));
            }
            Event::End(TagEnd::Table) => out.push(html("</tbody></table></div>\n".into())),
            Event::Start(Tag::TableHead) => {
                self.head = true;
                self.column = 0;
                out.push(html("<thead><tr>".into()));
            }
            Event::End(TagEnd::TableHead) => {
                self.head = false;
                out.push(html("</tr></thead>\n<tbody>\n".into()));
            }
            Event::Start(Tag::TableRow) => {
                self.column = 0;
                out.push(html("<tr>".into()));
            }
            Event::End(TagEnd::TableRow) => out.push(html("</tr>\n".into())),
            Event::Start(Tag::TableCell) => {
                let (tag, class) = self.cell_tag();
                out.push(html(format!("<{tag} class=\"{class}\">")));
                if tag == "td" {
                    self.cell = Some(Vec::new());
                }
            }
            Event::End(TagEnd::TableCell) => {
                let (tag, _) = self.cell_tag();
                if let Some(cell) = self.cell.take() {
                    out.extend(split_spread(cell));
                }
                out.push(html(format!("</{tag}>")));
                self.column += 1;
            }
            event => self.push(out, event),
        }
    }

    /// The tag and class of the current cell.
    fn cell_tag(&self) -> (&'static str, &'static str) {
        let tag = if self.head || self.column == 0 {
            "th"
        } else {
            "td"
        };
        let class = match self.align.get(self.column) {
            Some(Alignment::Right | Alignment::Center) => "num",
            _ => "text",
        };
        (tag, class)
    }
}

/// A `mean ± spread` cell puts its spread on a second, smaller line, so that a
/// table of ten classes fits a laptop screen and a page: the text from ` ± `
/// on goes into `<span class="spread">`, outside any bold or code around the
/// pair (the mean keeps it).
fn split_spread(cell: Vec<Event<'static>>) -> Vec<Event<'static>> {
    // adjacent text events as one (the parser splits text at escapes)
    let mut merged: Vec<Event<'static>> = Vec::with_capacity(cell.len());
    for event in cell {
        if let (Some(Event::Text(prev)), Event::Text(next)) = (merged.last_mut(), &event) {
            *prev = CowStr::from(format!("{prev}{next}"));
            continue;
        }
        merged.push(event);
    }
    let Some(at) = merged
        .iter()
        .position(|e| matches!(e, Event::Text(t) if t.contains(" ± ")))
    else {
        return merged;
    };
    let mut rest = merged.split_off(at);
    let Event::Text(text) = rest.remove(0) else {
        return merged;
    };
    let (mean, spread) = text.split_once(" ± ").unwrap_or((&*text, ""));
    // the tags open around the split, innermost last
    let mut open = Vec::new();
    for event in &merged {
        match event {
            Event::Start(tag) => open.push(tag.to_end()),
            Event::End(_) => {
                open.pop();
            }
            _ => {}
        }
    }
    let mut out = merged;
    if !mean.is_empty() {
        out.push(Event::Text(CowStr::from(mean.to_string())));
    }
    out.extend(open.iter().rev().map(|end| Event::End(*end)));
    out.push(Event::Html(CowStr::from("<span class=\"spread\">")));
    out.push(Event::Text(CowStr::from(format!(" ± {spread}"))));
    // what follows, less the ends of the tags closed above
    let mut depth = 0usize;
    for event in rest {
        match event {
            Event::Start(_) => depth += 1,
            Event::End(_) if depth == 0 => continue,
            Event::End(_) => depth -= 1,
            _ => {}
        }
        out.push(event);
    }
    out.push(Event::Html(CowStr::from("</span>")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_tables_become_html_tables() {
        let md = "## t: AUROC\n\nSome `code` and **bold**.\n\n| Method | a\\|b | Mean |\n|:--|--:|--:|\n\
                  | kde | **0.900 ± 0.100** | — |\n\n> a <quote>\n\n- one\n- two\n";
        let html = markdown_to_html(md, 0);
        assert!(html.contains("<h2>t: AUROC</h2>"), "{html}");
        assert!(html.contains("<p>Some <code>code</code> and <strong>bold</strong>.</p>"));
        assert!(html.contains("<th class=\"num\">a|b</th>"), "{html}");
        assert!(html.contains(
            "<tr><th class=\"text\">kde</th><td class=\"num\"><strong>0.900</strong>\
             <span class=\"spread\"> ± 0.100</span></td><td class=\"num\">—</td></tr>"
        ));
        assert!(html.contains("<blockquote>\n<p>a &lt;quote&gt;</p>\n</blockquote>"));
        assert!(html.contains("<li>one</li>\n<li>two</li>"));
        assert!(markdown_to_html("# a\n\n### b", 1).contains("<h2>a</h2>\n<h4>b</h4>"));
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn a_cell_puts_its_spread_on_a_line_of_its_own() {
        let md = "| M | a | b | c |\n|:--|--:|--:|:--|\n\
                  | m | **0.943 ± 0.381**† | 0.798 ± 0.275† | `x ± y` <b>z</b> |\n";
        let html = markdown_to_html(md, 0);
        // bold stays on the mean; the mark of a partial cell follows the spread
        assert!(
            html.contains(
                "<td class=\"num\"><strong>0.943</strong><span class=\"spread\"> ± 0.381†</span></td>"
            ),
            "{html}"
        );
        assert!(
            html.contains("<td class=\"num\">0.798<span class=\"spread\"> ± 0.275†</span></td>")
        );
        // code is not split; raw HTML in a cell is text
        assert!(
            html.contains("<td class=\"text\"><code>x ± y</code> &lt;b&gt;z&lt;/b&gt;</td>"),
            "{html}"
        );
    }
}

//! Ticket descriptions are markdown, rendered on the server and sanitized, so every client
//! (the web page included) can show them safely. The same pair crates.io uses for READMEs.
//!
//! Rendering happens once, when a description is written, and the HTML is stored: reading a
//! ticket renders nothing. The sanitizer's cost grows with the square of the nesting depth (60,000
//! nested `>` took 20 s), so the depth is capped while parsing, before anything is sanitized.
//! Images are shown as their alt text: an image URL would make every viewer's browser fetch it
//! (a ticket's own file, say, counting a download per page view).

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd, html};

/// Deepest nesting of markdown elements (block quotes, lists, emphasis, links...) accepted.
/// Real descriptions stay under 10.
pub const MAX_DEPTH: usize = 32;

/// The description nests deeper than [`MAX_DEPTH`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "nests markdown elements (block quotes, lists, emphasis) more than {MAX_DEPTH} levels deep"
)]
pub struct TooDeep;

/// Markdown to sanitized HTML: no scripts, no event handlers, no `javascript:` links, no
/// images (their alt text instead).
pub fn render(markdown: &str) -> Result<String, TooDeep> {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut events = Vec::new();
    let mut depth = 0usize;
    // Inside an image (images may nest in alt text): only its text is kept.
    let mut in_image = 0usize;
    for event in Parser::new_ext(markdown, options) {
        match &event {
            Event::Start(_) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(TooDeep);
                }
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
        match event {
            Event::Start(Tag::Image { .. }) => in_image += 1,
            Event::End(TagEnd::Image) => in_image = in_image.saturating_sub(1),
            Event::Text(text) | Event::Code(text) if in_image > 0 => events.push(Event::Text(text)),
            _ if in_image > 0 => {}
            other => events.push(other),
        }
    }
    let mut unsafe_html = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut unsafe_html, events.into_iter());
    Ok(ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer nofollow"))
        .rm_tags(["img"])
        .clean(&unsafe_html)
        .to_string())
}

/// For descriptions stored before the depth cap: rendered when within it, else shown as
/// escaped text in one paragraph.
pub fn render_or_escape(markdown: &str) -> String {
    render(markdown).unwrap_or_else(|TooDeep| {
        let escaped = markdown
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        format!("<p>{escaped}</p>")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_markdown_and_strips_anything_active() {
        let html = render(
            "Found with **IMP** at [OpenLTH](https://github.com/facebookresearch/open_lth).",
        )
        .unwrap();
        assert!(html.contains("<strong>IMP</strong>"), "{html}");
        assert!(
            html.contains(r#"rel="noopener noreferrer nofollow""#),
            "{html}"
        );
        let evil = render(
            "<script>alert(1)</script><img src=x onerror=alert(1)>\n\n[x](javascript:alert(1))",
        )
        .unwrap();
        assert!(
            !evil.contains("<script") && !evil.contains("onerror"),
            "{evil}"
        );
        assert!(!evil.contains("href=\"javascript:"), "{evil}");
        let table = render("| a | b |\n|---|---|\n| 1 | 2 |").unwrap();
        assert!(table.contains("<table>"), "{table}");
    }

    #[test]
    fn images_become_their_alt_text() {
        let html =
            render("See ![the *mask* plot](/api/v1/tickets/x/file) and <img src=\"/a\">.").unwrap();
        assert!(
            !html.contains("<img") && !html.contains("/api/v1"),
            "{html}"
        );
        assert!(html.contains("See the mask plot and"), "{html}");
        // A linked image keeps its link, with the alt text as the link's text.
        let linked = render("[![alt](/i.png)](https://example.org)").unwrap();
        assert!(
            linked.contains(">alt</a>") && !linked.contains("<img"),
            "{linked}"
        );
    }

    #[test]
    fn nesting_is_capped_before_sanitizing() {
        let started = std::time::Instant::now();
        assert_eq!(render(&">".repeat(60_000)), Err(TooDeep));
        assert_eq!(render(&"> ".repeat(MAX_DEPTH + 1)), Err(TooDeep));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        // Block quote, list and emphasis several deep: fine.
        let ok = render("> - a\n>   - *b **c***\n>     > [d](https://x.org)").unwrap();
        assert!(ok.contains("<em>b <strong>c</strong></em>"), "{ok}");
        let legacy = render_or_escape(&">".repeat(100));
        assert!(legacy.starts_with("<p>&gt;&gt;"), "{legacy}");
    }
}

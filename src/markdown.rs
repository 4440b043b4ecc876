//! Ticket descriptions are markdown, rendered on the server and sanitized, so every client
//! (the web page included) can show them safely. The same pair crates.io uses for READMEs.

use pulldown_cmark::{Options, Parser, html};

/// Markdown to sanitized HTML: no scripts, no event handlers, no `javascript:` links.
pub fn render(markdown: &str) -> String {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut unsafe_html = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut unsafe_html, Parser::new_ext(markdown, options));
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(&unsafe_html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_markdown_and_strips_anything_active() {
        let html = render(
            "Found with **IMP** at [OpenLTH](https://github.com/facebookresearch/open_lth).",
        );
        assert!(html.contains("<strong>IMP</strong>"), "{html}");
        assert!(
            html.contains(r#"rel="noopener noreferrer nofollow""#),
            "{html}"
        );
        let evil = render(
            "<script>alert(1)</script><img src=x onerror=alert(1)>\n\n[x](javascript:alert(1))",
        );
        assert!(
            !evil.contains("<script") && !evil.contains("onerror"),
            "{evil}"
        );
        assert!(!evil.contains("href=\"javascript:"), "{evil}");
        let table = render("| a | b |\n|---|---|\n| 1 | 2 |");
        assert!(table.contains("<table>"), "{table}");
    }
}

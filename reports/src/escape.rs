//! Escaping text for HTML and XML: every string that comes from results.json (ids,
//! names, reasons, the command line) goes through [`text`] or [`attr`] before it
//! lands in a page, so nothing in a result can inject markup.

/// Escapes text for an HTML or XML element's content or a quoted attribute value:
/// `&`, `<`, `>`, `"` and `'`. Control characters other than tab, newline and carriage
/// return (not allowed in XML 1.0) become U+FFFD.
pub fn text(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The same escaping, named for use in attribute values.
pub fn attr(input: &str) -> String {
    text(input)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn markup_is_neutralised() {
        assert_eq!(
            text(r#"<script>alert("x&y")</script>'"#),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;&#39;"
        );
        assert_eq!(text("a\u{0}b\nc"), "a\u{FFFD}b\nc");
    }

    proptest! {
        #[test]
        fn escaped_text_has_no_markup_characters(s in any::<String>()) {
            let e = text(&s);
            prop_assert!(!e.contains('<') && !e.contains('>') && !e.contains('"') && !e.contains('\''));
            // every ampersand starts one of the entities written here
            for (i, _) in e.match_indices('&') {
                let rest = &e[i..];
                prop_assert!(["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"].iter().any(|x| rest.starts_with(x)), "{}", rest);
            }
        }

        #[test]
        fn unescaping_gives_the_input_back(s in "[^\\p{Cc}]*") {
            let back = text(&s)
                .replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"")
                .replace("&#39;", "'").replace("&amp;", "&");
            prop_assert_eq!(back, s);
        }
    }
}

//! Stage 2, split: an article's body into paragraphs, each marked as content or page
//! furniture (heading, caption, byline, boilerplate). Furniture keeps its row in the output
//! but is labeled neutral without scoring and stays out of the article's stance metrics.

use serde::Serialize;

use crate::input::Body;

/// What a paragraph is on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Running text: scored.
    Content,
    /// A subhead or dateline: short, no sentence punctuation.
    Heading,
    /// A photo caption, credit or image placeholder.
    Caption,
    /// A byline or reporting credit.
    Byline,
    /// Page furniture: comment widgets, share buttons, ads, copyright, read-more links.
    Boilerplate,
}

impl Kind {
    /// The name used in CSV output.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Content => "content",
            Kind::Heading => "heading",
            Kind::Caption => "caption",
            Kind::Byline => "byline",
            Kind::Boilerplate => "boilerplate",
        }
    }
}

/// One paragraph of an article.
#[derive(Debug, Clone, PartialEq)]
pub struct Paragraph {
    /// 0-based position in the article.
    pub index: usize,
    /// The text, whitespace-trimmed.
    pub text: String,
    /// What it is on the page.
    pub kind: Kind,
    /// Word count (whitespace-separated).
    pub words: usize,
}

/// The most bytes of text one paragraph may hold (1 MiB, about 200,000 words). A longer one is
/// almost certainly a whole page that lost its line breaks; encoding it would take minutes and
/// gigabytes, so an article that has one is a bad record instead.
pub const MAX_PARAGRAPH_BYTES: usize = 1 << 20;

/// Splits a body into paragraphs. Given paragraphs are kept one for one (even empty ones, so
/// indexes match the input); free text splits on blank lines, or on every line when it has
/// no blank line (as scraped pages often come).
pub fn paragraphs(body: &Body) -> Vec<Paragraph> {
    into_paragraphs(body.clone()).collect()
}

/// [`paragraphs`], one at a time, consuming the body: an article of a million paragraphs is
/// never held twice, and never as a million [`Paragraph`]s at once.
pub fn into_paragraphs(body: Body) -> Box<dyn Iterator<Item = Paragraph>> {
    let texts: Box<dyn Iterator<Item = String>> = match body {
        Body::Paragraphs(list) => {
            Box::new(list.into_iter().map(|p| p.split_whitespace().collect::<Vec<_>>().join(" ")))
        }
        Body::Text(text) => Box::new(TextParagraphs::new(text)),
    };
    Box::new(texts.enumerate().map(|(index, text)| Paragraph {
        index,
        kind: classify(&text),
        words: text.split_whitespace().count(),
        text,
    }))
}

/// Splits free text into paragraphs: blocks between blank lines, or single lines when the
/// text has no blank line.
pub fn split_text(text: &str) -> Vec<String> {
    TextParagraphs::new(text).collect()
}

/// The length in bytes of a body's longest paragraph, without building any paragraph.
pub fn longest_paragraph(body: &Body) -> usize {
    let normalised = |p: &str| {
        let (words, bytes) = p.split_whitespace().fold((0usize, 0usize), |(n, b), w| (n + 1, b + w.len()));
        bytes + words.saturating_sub(1)
    };
    match body {
        Body::Paragraphs(list) => list.iter().map(|p| normalised(p)).max().unwrap_or(0),
        Body::Text(text) if text.len() <= MAX_PARAGRAPH_BYTES => text.len(),
        Body::Text(text) => {
            let blocks = has_blank_line(text);
            let (mut longest, mut current) = (0, 0);
            for line in text.lines().map(str::trim) {
                if line.is_empty() || !blocks {
                    longest = longest.max(current);
                    current = 0;
                }
                if !line.is_empty() {
                    current += line.len() + usize::from(current > 0);
                }
            }
            longest.max(current)
        }
    }
}

/// Whether free text has a blank line after its first non-blank one (then paragraphs are
/// blocks between blank lines, else single lines).
fn has_blank_line(text: &str) -> bool {
    text.lines().skip_while(|l| l.trim().is_empty()).any(|l| l.trim().is_empty())
}

/// Paragraphs of free text, one at a time: blocks between blank lines, or single lines when the
/// text has no blank line.
struct TextParagraphs<T> {
    text: T,
    at: usize,
    blocks: bool,
}

impl<T: AsRef<str>> TextParagraphs<T> {
    fn new(text: T) -> TextParagraphs<T> {
        let blocks = has_blank_line(text.as_ref());
        TextParagraphs { text, at: 0, blocks }
    }
}

impl<T: AsRef<str>> Iterator for TextParagraphs<T> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let mut paragraph: Option<String> = None;
        loop {
            let rest = &self.text.as_ref()[self.at..];
            if rest.is_empty() {
                return paragraph;
            }
            let (line, advance) = rest.find('\n').map_or((rest, rest.len()), |i| (&rest[..i], i + 1));
            let line = line.trim();
            match (&mut paragraph, line.is_empty()) {
                (Some(_), true) => return paragraph,
                (None, true) => {}
                (Some(p), false) => {
                    p.push(' ');
                    p.push_str(line);
                }
                (None, false) => paragraph = Some(line.to_string()),
            }
            self.at += advance;
            if !self.blocks && paragraph.is_some() {
                return paragraph;
            }
        }
    }
}

const BOILERPLATE_EXACT: &[&str] = &[
    "comments",
    "comment",
    "post a comment",
    "leave a comment",
    "add a comment",
    "share",
    "share this",
    "share this article",
    "share this story",
    "advertisement",
    "sponsored",
    "related",
    "related articles",
    "related stories",
    "read more",
    "more on this story",
    "most read",
    "recommended",
    "subscribe",
    "sign up",
    "follow us",
    "print",
    "email",
    "listen to this article",
    "skip advertisement",
];

const BOILERPLATE_PREFIX: &[&str] = &[
    "read more:",
    "read also:",
    "related:",
    "see also:",
    "sign up for",
    "sign up to",
    "subscribe to",
    "subscribe for",
    "copyright",
    "©",
    "(c) ",
    "all rights reserved",
    "this story has been updated",
    "this article has been updated",
    "this story was updated",
    "editor's note",
    "editor’s note",
    "correction:",
    "click here",
    "follow us on",
    "download our app",
    "get our newsletter",
];

const CAPTION_MARKERS: &[&str] = &[
    "[photo",
    "(photo",
    "photo:",
    "photograph:",
    "photo credit",
    "image:",
    "picture:",
    "credit:",
    "getty images",
    "ap photo",
    "/afp",
    "/reuters",
    "/pool",
    "pool/",
    "[video",
    "(video)",
    "[image",
];

/// Tells content from page furniture with rules that look at the paragraph alone.
pub fn classify(text: &str) -> Kind {
    let t = text.trim();
    let lower = t.to_lowercase();
    if t.starts_with("![") {
        return Kind::Caption;
    }
    let bare = lower.trim_end_matches([':', '.', '!', ' ', '|', '»', '›', '>']).trim();
    if !t.chars().any(char::is_alphabetic)
        || BOILERPLATE_EXACT.contains(&bare)
        || BOILERPLATE_PREFIX.iter().any(|p| lower.starts_with(p))
    {
        return Kind::Boilerplate;
    }
    if t.ends_with('|') || CAPTION_MARKERS.iter().any(|m| lower.contains(m)) {
        return Kind::Caption;
    }
    let words = t.split_whitespace().count();
    let bylines = ["reporting by", "writing by", "editing by", "additional reporting", "compiled by"];
    if (t.starts_with("By ") && words <= 12 && !t.ends_with('.')) || bylines.iter().any(|b| lower.starts_with(b)) {
        return Kind::Byline;
    }
    let sentence_end = ['.', '!', '"', '”', '\'', '’', '…', ')', ';', ','];
    if words <= 8 && !t.ends_with(sentence_end) && !(t.ends_with('?') && words > 6) {
        return Kind::Heading;
    }
    Kind::Content
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_table() {
        let cases: &[(&str, Kind)] = &[
            ("Comments", Kind::Boilerplate),
            ("Post a Comment", Kind::Boilerplate),
            ("Share this article:", Kind::Boilerplate),
            ("Read more: Why the grain deal collapsed", Kind::Boilerplate),
            ("© 2025 Northbridge Wire. All rights reserved.", Kind::Boilerplate),
            ("---", Kind::Boilerplate),
            ("![]() |", Kind::Caption),
            (
                "Russian President Vladimir Putin, right, welcomes US special envoy Steve Witkoff, left, ahead of their \
                 meeting in Moscow. [Photo: Kristina Kormilitsyna/Pool/AFP] |",
                Kind::Caption,
            ),
            ("Delegations meet in Istanbul. (Photo: J. Doe/Wire)", Kind::Caption),
            ("By Anna Reyes, Northbridge Wire", Kind::Byline),
            ("Reporting by Olena Koval; editing by Mark Hill.", Kind::Byline),
            ("What is on the table", Kind::Heading),
            ("A fragile truce", Kind::Heading),
            ("Talks collapsed.", Kind::Content),
            ("Kyiv has previously insisted on restoring its territorial integrity as a non-negotiable starting point.", Kind::Content),
            ("By Tuesday, both delegations had left Geneva without agreeing on a date for the next round.", Kind::Content),
        ];
        for &(text, want) in cases {
            assert_eq!(classify(text), want, "{text:?}");
        }
    }

    #[test]
    fn splits_on_blank_lines_or_else_on_lines() {
        assert_eq!(split_text("a\nb\n\nc\n"), vec!["a b", "c"]);
        assert_eq!(split_text("\n\na\nb\n"), vec!["a", "b"]);
        assert_eq!(split_text("a\n  \n\n b \n"), vec!["a", "b"]);
    }

    #[test]
    fn lazy_split_matches_the_rule_and_longest_paragraph_measures_it() {
        let cases = [
            "a\nb\n\nc\n",
            "\n\na\nb\n",
            "a\n  \n\n b \n",
            "one\r\ntwo\r\n\r\nthree four\r\n",
            "  lead\n\n\n\n  x  y  \n z\n\n",
            "",
            "\n\n",
            "single",
        ];
        for text in cases {
            let lines: Vec<&str> = text.lines().collect();
            let join = |block: &[&str]| block.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
            let want: Vec<String> = if has_blank_line(text) {
                lines.split(|l| l.trim().is_empty()).filter(|b| !b.is_empty()).map(join).collect()
            } else {
                lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty()).map(String::from).collect()
            };
            assert_eq!(split_text(text), want, "{text:?}");
            let longest = want.iter().map(String::len).max().unwrap_or(0);
            let big = format!("{text}\n\n{}", "w ".repeat(MAX_PARAGRAPH_BYTES));
            assert!(longest_paragraph(&Body::Text(text.into())) >= longest, "{text:?}");
            let big_longest = split_text(&big).iter().map(String::len).max().unwrap_or(0);
            assert_eq!(longest_paragraph(&Body::Text(big.clone())), big_longest, "{text:?}");
        }
        let list = Body::Paragraphs(vec!["  a   b ".into(), "ccc".into()]);
        assert_eq!(longest_paragraph(&list), 3);
    }

    #[test]
    fn given_paragraphs_keep_their_indexes() {
        let body = Body::Paragraphs(vec!["One two.".into(), "".into(), "Three.".into()]);
        let got = paragraphs(&body);
        assert_eq!(got.len(), 3);
        assert_eq!((got[2].index, got[2].words, got[1].kind), (2, 1, Kind::Boilerplate));
    }
}

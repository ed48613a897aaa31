//! Plain-text articles: one per file, first non-empty line is the title.

use std::io::Read;
use std::path::Path;

use super::{utf8, Article, Body};
use crate::error::{Error, Location, Result};

/// Reads one article from a text file. The id is the file stem and the first non-empty line
/// the title; the rest is the body (split later into paragraphs).
pub fn parse_text<R: Read>(reader: R, path: &Path) -> Result<Article> {
    let mut bytes = Vec::new();
    let cap = super::MAX_RECORD_BYTES;
    reader.take(cap + 1).read_to_end(&mut bytes).map_err(|e| super::stream::unreadable(path, &e))?;
    let whole = Location::file(path);
    if bytes.len() as u64 > cap {
        return Err(Error::record(whole, super::too_large("the file")));
    }
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = valid.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
            utf8(e.into_bytes(), &Location::line(path, line))?
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut lines = text.lines().enumerate().skip_while(|(_, l)| l.trim().is_empty());
    let Some((title_line, title)) = lines.next() else {
        return Err(Error::record(whole, "file is empty; an article needs a title line and text"));
    };
    let body: String = lines.map(|(_, l)| l).collect::<Vec<_>>().join("\n");
    if body.trim().is_empty() {
        return Err(Error::record(
            Location::line(path, title_line as u64 + 1),
            "article has a title but no text below it",
        ));
    }
    let id = path.file_stem().and_then(|s| s.to_str()).unwrap_or("-").to_string();
    Ok(Article {
        id,
        title: Some(title.trim().to_string()),
        outlet: None,
        date: None,
        url: None,
        body: Body::Text(body),
        at: Location::line(path, title_line as u64 + 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_is_first_non_empty_line() {
        let a = parse_text(&b"\n\nTalks resume\nFirst para.\nSecond para.\n"[..], Path::new("x/abc.txt")).unwrap();
        assert_eq!(a.id, "abc");
        assert_eq!(a.title.as_deref(), Some("Talks resume"));
        assert_eq!(a.body, Body::Text("First para.\nSecond para.".into()));
        assert_eq!(a.at.line, 3);
    }

    #[test]
    fn bad_files_name_the_line() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "a.txt: file is empty"),
            (b"  \n\n", "a.txt: file is empty"),
            (b"Title only\n\n", "a.txt:1: article has a title"),
            (b"Title\nok line\nbad \xff byte\n", "a.txt:3: invalid UTF-8"),
        ];
        for (bytes, want) in cases {
            let err = parse_text(*bytes, Path::new("a.txt")).unwrap_err().to_string();
            assert!(err.starts_with(want), "{err:?} should start with {want:?}");
        }
    }
}

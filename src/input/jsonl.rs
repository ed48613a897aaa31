//! JSON Lines articles: one object per line with `id` and `text` or `paragraphs`.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{non_empty, utf8, Article, Body};
use crate::error::{Error, Location, Result};

#[derive(Deserialize)]
struct Record {
    id: Option<serde_json::Value>,
    text: Option<String>,
    paragraphs: Option<Vec<String>>,
    title: Option<String>,
    outlet: Option<String>,
    date: Option<String>,
    url: Option<String>,
}

/// Iterator over the articles of a JSONL input, one `Result` per non-blank line.
pub struct JsonlArticles<R> {
    reader: R,
    path: PathBuf,
    line: u64,
    seen_any: bool,
    failed: bool,
}

impl<R: BufRead> JsonlArticles<R> {
    /// Reads articles from `reader`; `path` names it in messages.
    pub fn new(reader: R, path: &Path) -> JsonlArticles<R> {
        JsonlArticles { reader, path: path.to_path_buf(), line: 0, seen_any: false, failed: false }
    }

    fn parse(&self, text: &str) -> Result<Article> {
        let at = Location::line(&self.path, self.line);
        let types =
            "\"text\", \"title\", \"outlet\", \"date\" and \"url\" are strings and \"paragraphs\" is a list of strings";
        let record: Record = super::json_record(text, &at, types)?;
        let id = match record.id {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            Some(serde_json::Value::Number(n)) => {
                return Err(Error::record(
                    at,
                    format!("\"id\" is the number {n}; ids must be strings, so write it in quotes: \"id\": \"{n}\""),
                ))
            }
            _ => return Err(Error::record(at, "missing field \"id\" (a non-empty string)")),
        };
        let body = match (record.paragraphs, record.text) {
            (Some(paragraphs), _) => {
                if paragraphs.iter().all(|p| p.trim().is_empty()) {
                    return Err(Error::record(at, format!("article \"{id}\" has no non-empty paragraphs")));
                }
                Body::Paragraphs(paragraphs)
            }
            (None, Some(text)) if !text.trim().is_empty() => Body::Text(text),
            (None, Some(_)) => return Err(Error::record(at, format!("article \"{id}\" has empty \"text\""))),
            (None, None) => {
                return Err(Error::record(at, format!("article \"{id}\": missing field \"text\" (or \"paragraphs\")")))
            }
        };
        Ok(Article {
            id,
            title: non_empty(record.title),
            outlet: non_empty(record.outlet),
            date: non_empty(record.date),
            url: non_empty(record.url),
            body,
            at,
        })
    }
}

impl<R: BufRead> Iterator for JsonlArticles<R> {
    type Item = Result<Article>;

    fn next(&mut self) -> Option<Result<Article>> {
        if self.failed {
            return None;
        }
        loop {
            let mut bytes = Vec::new();
            let cap = super::MAX_RECORD_BYTES as usize;
            match super::read_line_capped(&mut self.reader, &mut bytes, cap) {
                Ok((_, true)) => {
                    self.line += 1;
                    self.seen_any = true;
                    let at = Location::line(&self.path, self.line);
                    return Some(Err(Error::record(at, super::too_large("the line"))));
                }
                Ok((0, _)) => {
                    if self.seen_any {
                        return None;
                    }
                    self.seen_any = true;
                    let at = Location::file(&self.path);
                    return Some(Err(Error::record(at, "file is empty; expected one JSON article per line")));
                }
                Ok(_) => self.line += 1,
                Err(e) => {
                    // A read error repeats; the rest of the file is lost with it.
                    self.seen_any = true;
                    self.failed = true;
                    return Some(Err(super::stream::unreadable(&self.path, &e)));
                }
            }
            let at = Location::line(&self.path, self.line);
            let text = match utf8(bytes, &at) {
                Ok(text) => text,
                Err(e) => {
                    self.seen_any = true;
                    return Some(Err(e));
                }
            };
            let text = text.trim_start_matches('\u{feff}').trim();
            if text.is_empty() {
                continue;
            }
            self.seen_any = true;
            return Some(self.parse(text));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &[u8]) -> Vec<Result<Article>> {
        JsonlArticles::new(input, Path::new("in.jsonl")).collect()
    }

    #[test]
    fn reads_text_and_paragraphs() {
        let got =
            read(b"{\"id\":\"a\",\"text\":\"x\"}\n\n{\"id\":\"7\",\"paragraphs\":[\"p\",\"q\"],\"outlet\":\" O \"}\n");
        let a = got[0].as_ref().unwrap();
        let b = got[1].as_ref().unwrap();
        assert_eq!((a.id.as_str(), a.at.line), ("a", 1));
        assert_eq!((b.id.as_str(), b.at.line, b.outlet.as_deref()), ("7", 3, Some("O")));
        assert_eq!(b.body, Body::Paragraphs(vec!["p".into(), "q".into()]));
    }

    #[test]
    fn bad_lines_are_reported_and_reading_goes_on() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "in.jsonl: file is empty"),
            (b"not json\n", "in.jsonl:1: not a JSON object"),
            (b"{\"text\":\"x\"}\n", "in.jsonl:1: missing field \"id\""),
            (b"{\"id\":1e2,\"text\":\"x\"}\n", "in.jsonl:1: \"id\" is the number 100.0; ids must be strings"),
            (b"{\"id\":\"a\"}\n", "in.jsonl:1: article \"a\": missing field \"text\""),
            (b"{\"id\":\"a\",\"text\":\"  \"}\n", "in.jsonl:1: article \"a\" has empty"),
            (b"{\"id\":\"a\",\"paragraphs\":[]}\n", "in.jsonl:1: article \"a\" has no non-empty"),
            (
                b"{\"id\":\"a\",\"paragraphs\":[\"p\", 5]}\n",
                "in.jsonl:1: a field has the wrong type (invalid type: integer `5`",
            ),
            (b"[1, 2]\n", "in.jsonl:1: not a JSON object"),
            (b"{\"id\":\"a\",\"text\":\"\xff\"}\n", "in.jsonl:1: invalid UTF-8"),
        ];
        for (input, want) in cases {
            let got = read(input);
            let err = got[0].as_ref().unwrap_err().to_string();
            assert!(err.starts_with(want), "{err:?} should start with {want:?}");
        }
        let got = read(b"oops\n{\"id\":\"b\",\"text\":\"fine\"}\n");
        assert!(got[0].is_err() && got[1].is_ok());
    }
}

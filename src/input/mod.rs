//! Stage 1, read: articles from .txt, .jsonl and .csv files, one record at a time.
//!
//! Every reader takes any `Read`, so it tests on byte slices, and reports bad records as
//! [`Error::Record`] with the file and line, so a lenient run can skip them and go on.

pub mod cases;
mod csv_articles;
mod jsonl;
pub mod labels;
mod quotes;
mod stream;
mod text;

pub use csv_articles::CsvArticles;
pub use jsonl::JsonlArticles;
pub use quotes::MAX_RECORD_BYTES;
pub use stream::{discover, total_bytes, ArticleStream, Discovery, Source};
pub use text::parse_text;

use std::io::BufRead;
use std::path::Path;

use crate::error::{Error, Location, Result};

/// An article's body as the input gave it.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Free text, split into paragraphs by [`crate::segment`].
    Text(String),
    /// Paragraphs given one by one; each element is exactly one paragraph.
    Paragraphs(Vec<String>),
}

/// One article and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Article {
    /// The article's id, unique within a run.
    pub id: String,
    /// Headline, when known.
    pub title: Option<String>,
    /// Outlet, when known.
    pub outlet: Option<String>,
    /// Publication date as given (ISO 8601 recommended).
    pub date: Option<String>,
    /// Link to the original.
    pub url: Option<String>,
    /// The text.
    pub body: Body,
    /// Where the article starts in its input.
    pub at: Location,
}

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One article per file.
    Text,
    /// One article per line.
    Jsonl,
    /// One article per record, with a header.
    Csv,
}

impl Format {
    /// The format a file name implies, if any.
    pub fn from_path(path: &Path) -> Option<Format> {
        Format::named(path.extension()?.to_str()?)
    }

    /// The format an extension or a `--format` value names, if any.
    fn named(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "txt" | "text" => Some(Format::Text),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    /// Parses a `--format` value.
    fn from_str(name: &str) -> std::result::Result<Format, String> {
        Format::named(name).ok_or_else(|| format!("unknown format {name:?}; use txt, jsonl or csv"))
    }
}

/// Calls `each` with the 1-based location and the trimmed text of every non-blank line of
/// `reader`, decoded as UTF-8, each line at most `cap` bytes (a longer one is a bad record at its
/// line, never held whole). The one line reader of the JSON Lines formats that are read whole
/// (labeled samples, behaviour cases).
pub(crate) fn each_line<R: BufRead>(
    mut reader: R,
    path: &Path,
    cap: usize,
    mut each: impl FnMut(Location, &str) -> Result<()>,
) -> Result<()> {
    let mut line = 0u64;
    loop {
        let mut bytes = Vec::new();
        let (n, over) = read_line_capped(&mut reader, &mut bytes, cap).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        let at = Location::line(path, line);
        if over {
            return Err(Error::record(at, too_large("the line")));
        }
        let text = utf8(bytes, &at)?;
        if !text.trim().is_empty() {
            each(at, text.trim())?;
        }
    }
}

/// A CSV header cell as every reader compares it: trimmed, without a byte-order mark, lower case.
pub(crate) fn header_name(cell: &str) -> String {
    cell.trim().trim_start_matches('\u{feff}').to_ascii_lowercase()
}

/// Parses one JSON Lines record at `at`. A line that is not an object is "not a JSON object";
/// an object with a field of the wrong type says so, with `types`, what each field takes
/// (e.g. `"text" and "label" are strings`).
pub(crate) fn json_record<T: serde::de::DeserializeOwned>(text: &str, at: &Location, types: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| {
        let object = text.trim_start().starts_with('{');
        let message = match e.classify() {
            serde_json::error::Category::Data if object => format!("a field has the wrong type ({e}); {types}"),
            _ => format!("not a JSON object ({e}); each line must be one object"),
        };
        Error::record(at.clone(), message)
    })
}

/// Decodes one line (or file) as UTF-8, naming the place of the first invalid byte.
pub(crate) fn utf8(bytes: Vec<u8>, at: &Location) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        Error::record(
            at.clone(),
            format!("invalid UTF-8 at byte {offset}; re-save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"),
        )
    })
}

/// Reads one line (through its `\n`) into `buf`, keeping at most `cap` bytes. Returns the bytes
/// read and whether the line was longer than `cap`; the rest of a longer line is read and
/// dropped as it comes, never held.
pub(crate) fn read_line_capped<R: BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<(usize, bool)> {
    let (mut total, mut over) = (0, false);
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok((total, over));
        }
        let end = available.iter().position(|&b| b == b'\n').map(|i| i + 1);
        let chunk = &available[..end.unwrap_or(available.len())];
        if !over && buf.len() + chunk.len() > cap {
            over = true;
            *buf = Vec::new();
        } else if !over {
            buf.extend_from_slice(chunk);
        }
        let n = chunk.len();
        reader.consume(n);
        total += n;
        if end.is_some() {
            return Ok((total, over));
        }
    }
}

/// The message for a line or file over [`MAX_RECORD_BYTES`].
pub(crate) fn too_large(what: &str) -> String {
    format!(
        "{what} is larger than {} MiB, the most one article may take; split the article into several records",
        MAX_RECORD_BYTES >> 20
    )
}

/// Trims a field and drops it when empty.
pub(crate) fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_passed_over_without_being_held() {
        let input = b"short\n0123456789abcdef\nlast";
        let mut reader = std::io::BufReader::with_capacity(4, &input[..]);
        let mut got = Vec::new();
        loop {
            let mut buf = Vec::new();
            let (n, over) = read_line_capped(&mut reader, &mut buf, 8).unwrap();
            if n == 0 {
                break;
            }
            got.push((String::from_utf8(buf).unwrap(), n, over));
        }
        let want = [("short\n", 6, false), ("", 17, true), ("last", 4, false)];
        assert_eq!(got, want.map(|(s, n, o)| (s.to_string(), n, o)));
    }

    #[test]
    fn formats_come_from_extensions_and_readmes_are_not_articles() {
        let cases: &[(&str, Option<Format>)] = &[
            ("a/b.txt", Some(Format::Text)),
            ("x.JSONL", Some(Format::Jsonl)),
            ("x.ndjson", Some(Format::Jsonl)),
            ("x.csv", Some(Format::Csv)),
            ("data/demo/README.md", None),
            ("noext", None),
        ];
        for &(path, want) in cases {
            assert_eq!(Format::from_path(Path::new(path)), want, "{path}");
        }
    }
}

//! CSV articles: a header with `id` and `text`, optionally `title`, `outlet`, `date`, `url`.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{non_empty, utf8, Article, Body};
use crate::error::{Error, Location, Result};

struct Columns {
    id: usize,
    text: usize,
    title: Option<usize>,
    outlet: Option<usize>,
    date: Option<usize>,
    url: Option<usize>,
}

/// Iterator over the articles of a CSV input, one `Result` per record.
pub struct CsvArticles<R> {
    reader: csv::Reader<R>,
    path: PathBuf,
    columns: Option<Columns>,
    failed: bool,
}

impl<R: Read> CsvArticles<R> {
    /// Reads articles from `reader`; `path` names it in messages.
    pub fn new(reader: R, path: &Path) -> CsvArticles<R> {
        let reader = csv::ReaderBuilder::new().flexible(false).from_reader(reader);
        CsvArticles { reader, path: path.to_path_buf(), columns: None, failed: false }
    }

    fn columns(&mut self) -> Result<Columns> {
        let at = Location::line(&self.path, 1);
        let headers = self.reader.byte_headers().map_err(|e| Error::record(at.clone(), e.to_string()))?.clone();
        if headers.is_empty() {
            return Err(Error::record(Location::file(&self.path), "file is empty; expected a header with id,text"));
        }
        let names: Vec<String> = headers
            .iter()
            .map(|h| String::from_utf8_lossy(h).trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
            .collect();
        let find = |name: &str| names.iter().position(|n| n == name);
        let (Some(id), Some(text)) = (find("id"), find("text")) else {
            return Err(Error::record(
                at,
                format!("header must have columns \"id\" and \"text\" (found: {})", names.join(",")),
            ));
        };
        Ok(Columns { id, text, title: find("title"), outlet: find("outlet"), date: find("date"), url: find("url") })
    }

    fn parse(&self, record: &csv::ByteRecord, columns: &Columns) -> Result<Article> {
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let at = Location::line(&self.path, line);
        let field = |i: usize| -> Result<String> { utf8(record.get(i).unwrap_or_default().to_vec(), &at) };
        let optional = |i: Option<usize>| -> Result<Option<String>> { i.map(field).transpose().map(non_empty) };
        let id = field(columns.id)?.trim().to_string();
        if id.is_empty() {
            return Err(Error::record(at, "empty \"id\""));
        }
        let text = field(columns.text)?;
        if text.trim().is_empty() {
            return Err(Error::record(at, format!("article \"{id}\" has empty \"text\"")));
        }
        Ok(Article {
            id,
            title: optional(columns.title)?,
            outlet: optional(columns.outlet)?,
            date: optional(columns.date)?,
            url: optional(columns.url)?,
            body: Body::Text(text),
            at,
        })
    }
}

impl<R: Read> Iterator for CsvArticles<R> {
    type Item = Result<Article>;

    fn next(&mut self) -> Option<Result<Article>> {
        if self.failed {
            return None;
        }
        if self.columns.is_none() {
            match self.columns() {
                Ok(columns) => self.columns = Some(columns),
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        let mut record = csv::ByteRecord::new();
        match self.reader.read_byte_record(&mut record) {
            Ok(false) => None,
            Ok(true) => self.columns.as_ref().map(|c| self.parse(&record, c)),
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                // A malformed record may leave the parser out of step; stop this file.
                self.failed = !matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. });
                Some(Err(Error::record(Location::line(&self.path, line), format!("malformed CSV record ({e})"))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &[u8]) -> Vec<Result<Article>> {
        CsvArticles::new(input, Path::new("in.csv")).collect()
    }

    #[test]
    fn reads_required_and_optional_columns() {
        let got = read(b"id,outlet,text\na,Wire,\"Para one.\n\nPara two.\"\nb,,x\n");
        let a = got[0].as_ref().unwrap();
        assert_eq!((a.id.as_str(), a.outlet.as_deref(), a.at.line), ("a", Some("Wire"), 2));
        assert_eq!(got[1].as_ref().unwrap().outlet, None);
        assert_eq!(got[1].as_ref().unwrap().at.line, 5);
    }

    #[test]
    fn bad_records_name_the_line() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "in.csv: file is empty"),
            (b"id,body\na,x\n", "in.csv:1: header must have columns"),
            (b"id,text\n,x\n", "in.csv:2: empty \"id\""),
            (b"id,text\na, \n", "in.csv:2: article \"a\" has empty"),
            (b"id,text\na,\xff\n", "in.csv:2: invalid UTF-8"),
            (b"id,text\na,x,extra\n", "in.csv:2: malformed CSV record"),
        ];
        for (input, want) in cases {
            let got = read(input);
            let err = got[0].as_ref().unwrap_err().to_string();
            assert!(err.starts_with(want), "{err:?} should start with {want:?}");
        }
    }
}

//! CSV articles: a header with `id` and `text`, optionally `title`, `outlet`, `date`, `url`.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::quotes::{QuoteCheck, MAX_RECORD_BYTES};
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
    reader: csv::Reader<QuoteCheck<R>>,
    path: PathBuf,
    columns: Option<Columns>,
    failed: bool,
    /// Records read (good or bad), to tell a header-only file.
    records: u64,
    /// Line ends the parser never saw (inside cut records), added to its line numbers.
    line_shift: u64,
}

impl<R: Read> CsvArticles<R> {
    /// Reads articles from `reader`; `path` names it in messages.
    pub fn new(reader: R, path: &Path) -> CsvArticles<R> {
        let reader = csv::ReaderBuilder::new().flexible(false).from_reader(QuoteCheck::new(reader, MAX_RECORD_BYTES));
        CsvArticles { reader, path: path.to_path_buf(), columns: None, failed: false, records: 0, line_shift: 0 }
    }

    fn columns(&mut self) -> Result<Columns> {
        let at = Location::line(&self.path, 1);
        let headers = self.reader.byte_headers().map_err(|e| Error::record(at.clone(), e.to_string()))?.clone();
        if let Some(problem) = QuoteCheck::of_last_record(&mut self.reader).into_iter().next() {
            return Err(Error::record(at, problem.message));
        }
        if headers.is_empty() {
            return Err(Error::record(Location::file(&self.path), "file is empty; expected a header with id,text"));
        }
        let names: Vec<String> = headers.iter().map(|h| super::header_name(&String::from_utf8_lossy(h))).collect();
        let find = |name: &str| names.iter().position(|n| n == name);
        let (Some(id), Some(text)) = (find("id"), find("text")) else {
            return Err(Error::record(
                at,
                format!("header must have columns \"id\" and \"text\" (found: {})", names.join(",")),
            ));
        };
        Ok(Columns { id, text, title: find("title"), outlet: find("outlet"), date: find("date"), url: find("url") })
    }

    /// The place of a record the parser says starts on `line`, and what was found under the
    /// parser in it.
    fn locate(&mut self, line: u64) -> (Location, Option<String>) {
        let at = Location::line(&self.path, line + self.line_shift);
        let problems = QuoteCheck::of_last_record(&mut self.reader);
        self.line_shift += problems.iter().map(|p| p.lines_dropped).sum::<u64>();
        (at, problems.into_iter().next().map(|p| p.message))
    }

    fn parse(&self, record: &csv::ByteRecord, columns: &Columns, at: Location) -> Result<Article> {
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
        let read = self.reader.read_byte_record(&mut record);
        self.records += 1;
        match read {
            Ok(false) if self.records == 1 => {
                self.failed = true;
                let at = Location::file(&self.path);
                Some(Err(Error::record(at, "has a header but no articles; add records below it or leave the file out")))
            }
            Ok(false) => None,
            Ok(true) => {
                let (at, problem) = self.locate(record.position().map_or(0, |p| p.line()));
                if let Some(message) = problem {
                    return Some(Err(Error::record(at, message)));
                }
                self.columns.as_ref().map(|c| self.parse(&record, c, at))
            }
            Err(e) => {
                let (at, problem) = self.locate(e.position().map_or(0, |p| p.line()));
                // A malformed record may leave the parser out of step; stop this file.
                self.failed = !matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. });
                Some(Err(Error::record(at, problem.unwrap_or_else(|| format!("malformed CSV record ({e})")))))
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
    fn an_unclosed_quote_is_one_bad_record_and_reading_goes_on() {
        let got = read(b"id,text\nu1,\"never closed.\nu2,\"Second.\"\nu3,\"Third.\"\n");
        assert_eq!(got.len(), 2, "{got:?}");
        let err = got[0].as_ref().unwrap_err().to_string();
        assert!(err.starts_with("in.csv:2: malformed CSV record: the quoted field that opens on line 2"), "{err}");
        let u3 = got[1].as_ref().unwrap();
        assert_eq!((u3.id.as_str(), u3.at.line), ("u3", 4));
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
            (b"id,text\n", "in.csv: has a header but no articles"),
            (b"id,text\nu1,\"open\nu2,\"Second.\"\n", "in.csv:2: malformed CSV record: the quoted field"),
        ];
        for (input, want) in cases {
            let got = read(input);
            let err = got[0].as_ref().unwrap_err().to_string();
            assert!(err.starts_with(want), "{err:?} should start with {want:?}");
        }
    }
}

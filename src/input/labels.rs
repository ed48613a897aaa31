//! Labeled paragraphs for `train` and `eval`: JSONL `{"id","article_id","text","label"}` or CSV
//! with `text,label` columns (plus `id`, `article_id` if present).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::Deserialize;

use super::quotes::{QuoteCheck, MAX_RECORD_BYTES};
use super::Format;
use crate::error::{Error, Location, Result};

/// One labeled paragraph.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Sample id (file:line when the input has none).
    pub id: String,
    /// Article the paragraph belongs to (empty when unknown).
    pub article_id: String,
    /// The paragraph.
    pub text: String,
    /// Its label, as written.
    pub label: String,
    /// Where it was read.
    pub at: Location,
}

#[derive(Deserialize)]
struct Record {
    id: Option<String>,
    article_id: Option<String>,
    text: Option<String>,
    label: Option<String>,
}

/// Reads samples from several files, checking every label is one of `known` (a head's labels).
pub fn load_samples(paths: &[std::path::PathBuf], known: &[String]) -> Result<Vec<Sample>> {
    let mut all = Vec::new();
    for path in paths {
        for sample in read_samples(path)? {
            if !known.contains(&sample.label) {
                return Err(Error::record(
                    sample.at.clone(),
                    format!("label {:?} is not one of {}", sample.label, known.join(", ")),
                ));
            }
            all.push(sample);
        }
    }
    Ok(all)
}

/// Reads labeled samples from a .jsonl or .csv file; any bad record is an error.
pub fn read_samples(path: &Path) -> Result<Vec<Sample>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let samples = match Format::from_path(path) {
        Some(Format::Jsonl) => parse_jsonl(BufReader::new(file), path)?,
        Some(Format::Csv) => parse_csv(file, path)?,
        _ => return Err(Error::Usage(format!("{}: labeled samples must be .jsonl or .csv", path.display()))),
    };
    if samples.is_empty() {
        return Err(Error::record(Location::file(path), "no labeled samples in file"));
    }
    Ok(samples)
}

fn sample(record: Record, at: Location) -> Result<Sample> {
    let text = record.text.filter(|t| !t.trim().is_empty());
    let label = record.label.map(|l| l.trim().to_ascii_lowercase()).filter(|l| !l.is_empty());
    let (Some(text), Some(label)) = (text, label) else {
        return Err(Error::record(at, "a labeled sample needs non-empty \"text\" and \"label\""));
    };
    if text.len() > crate::segment::MAX_PARAGRAPH_BYTES {
        return Err(Error::record(at, paragraph_too_long(text.len())));
    }
    Ok(Sample {
        id: record.id.unwrap_or_else(|| at.to_string()),
        article_id: record.article_id.unwrap_or_default(),
        text,
        label,
        at,
    })
}

/// The message for a paragraph over [`crate::segment::MAX_PARAGRAPH_BYTES`].
pub(crate) fn paragraph_too_long(bytes: usize) -> String {
    format!(
        "a paragraph of {:.1} MB is longer than the {} MiB one paragraph may hold; split it at its paragraph breaks \
         (blank lines), or shorten it",
        bytes as f64 / 1e6,
        crate::segment::MAX_PARAGRAPH_BYTES >> 20
    )
}

/// Parses labeled JSONL.
pub fn parse_jsonl<R: BufRead>(reader: R, path: &Path) -> Result<Vec<Sample>> {
    let mut out = Vec::new();
    super::each_line(reader, path, MAX_RECORD_BYTES as usize, |at, text| {
        let record: Record =
            super::json_record(text, &at, "\"id\", \"article_id\", \"text\" and \"label\" are strings")?;
        out.push(sample(record, at)?);
        Ok(())
    })?;
    Ok(out)
}

/// Parses labeled CSV with a header naming at least `text` and `label`.
pub fn parse_csv<R: Read>(reader: R, path: &Path) -> Result<Vec<Sample>> {
    let mut reader = csv::Reader::from_reader(QuoteCheck::new(reader, MAX_RECORD_BYTES));
    let headers = reader.headers().map_err(|e| Error::record(Location::line(path, 1), e.to_string()))?.clone();
    if let Some(problem) = QuoteCheck::of_last_record(&mut reader).into_iter().next() {
        return Err(Error::record(Location::line(path, 1), problem.message));
    }
    let find = |name: &str| headers.iter().position(|h| super::header_name(h) == name);
    let (Some(text), Some(label)) = (find("text"), find("label")) else {
        return Err(Error::record(Location::line(path, 1), "header must have columns \"text\" and \"label\""));
    };
    let (id, article) = (find("id"), find("article_id"));
    let mut out = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let read = reader.read_record(&mut record);
        let problem = QuoteCheck::of_last_record(&mut reader).into_iter().next();
        let line = |e: &csv::Error| e.position().map_or(0, |p| p.line());
        match (read, problem) {
            (Ok(false), _) => return Ok(out),
            (Ok(true), None) => {}
            (Ok(true), Some(problem)) => {
                let at = Location::line(path, record.position().map_or(0, |p| p.line()));
                return Err(Error::record(at, problem.message));
            }
            (Err(e), problem) => {
                let message = problem.map_or_else(|| format!("malformed CSV record ({e})"), |p| p.message);
                return Err(Error::record(Location::line(path, line(&e)), message));
            }
        }
        let at = Location::line(path, record.position().map(|p| p.line()).unwrap_or(0));
        let get = |i: Option<usize>| i.and_then(|i| record.get(i)).map(String::from);
        let fields = Record { id: get(id), article_id: get(article), text: get(Some(text)), label: get(Some(label)) };
        out.push(sample(fields, at)?);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_read_the_same_sample() {
        let j = parse_jsonl(
            &b"{\"id\":\"x\",\"article_id\":\"a\",\"text\":\"T\",\"label\":\"Neutral\"}\n"[..],
            Path::new("l.jsonl"),
        );
        let c = parse_csv(&b"id,article_id,text,label\nx,a,T,neutral\n"[..], Path::new("l.csv"));
        let (j, c) = (j.unwrap(), c.unwrap());
        assert_eq!((j[0].label.as_str(), c[0].label.as_str()), ("neutral", "neutral"));
        assert_eq!((j[0].text.as_str(), c[0].article_id.as_str()), ("T", "a"));
    }

    #[test]
    fn missing_label_names_the_line() {
        let err = parse_jsonl(&b"\n{\"text\":\"T\"}\n"[..], Path::new("l.jsonl")).unwrap_err();
        assert!(err.to_string().starts_with("l.jsonl:2: a labeled sample needs"), "{err}");
        let err = parse_csv(&b"text\nT\n"[..], Path::new("l.csv")).unwrap_err();
        assert!(err.to_string().starts_with("l.csv:1: header must have"), "{err}");
    }

    #[test]
    fn a_field_of_the_wrong_type_is_named_as_such() {
        let err = parse_jsonl(&b"{\"text\":\"T\",\"label\":1}\n"[..], Path::new("l.jsonl")).unwrap_err();
        assert!(
            err.to_string().starts_with("l.jsonl:1: a field has the wrong type (invalid type: integer `1`"),
            "{err}"
        );
        assert!(err.to_string().ends_with("\"text\" and \"label\" are strings"), "{err}");
        let err = parse_jsonl(&b"T,neutral\n"[..], Path::new("l.jsonl")).unwrap_err();
        assert!(err.to_string().starts_with("l.jsonl:1: not a JSON object"), "{err}");
    }
}
